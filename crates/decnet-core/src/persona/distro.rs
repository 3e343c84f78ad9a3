//! Linux distro releases: what each one is (os-release, kernel, prompt, MOTD)
//! and the package versions it ships. Protocols format their own banners from
//! [`Distro::package`]; the helpers here format the strings several of them share.

use super::HostnameStyle;

/// A package whose version some emulated protocol shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Package {
    /// OpenSSH server (`openssh-server`, `openssh`).
    Openssh,
    /// nginx.
    Nginx,
    /// Apache HTTP Server (`apache2`, `httpd`, `apache`).
    Apache2,
    /// Postfix MTA.
    Postfix,
    /// Exim MTA (`exim4` on Debian).
    Exim,
    /// Dovecot IMAP/POP3.
    Dovecot,
    /// vsftpd.
    Vsftpd,
    /// ProFTPD.
    Proftpd,
    /// MariaDB server.
    Mariadb,
    /// Oracle MySQL server (`mysql-server`, `community-mysql`).
    Mysql,
    /// PostgreSQL server (the release's default major).
    Postgresql,
    /// Redis.
    Redis,
    /// Samba.
    Samba,
    /// BIND 9 (`bind9`, `bind`).
    Bind9,
    /// Net-SNMP agent (`snmpd`, `net-snmp`).
    Snmpd,
    /// OpenLDAP server (`slapd`, `openldap-servers`).
    Openldap,
    /// Mosquitto MQTT broker.
    Mosquitto,
    /// A telnet daemon (inetutils, netkit or busybox).
    Telnetd,
}

impl Package {
    /// Every package the model knows.
    pub const ALL: [Package; 18] = [
        Package::Openssh,
        Package::Nginx,
        Package::Apache2,
        Package::Postfix,
        Package::Exim,
        Package::Dovecot,
        Package::Vsftpd,
        Package::Proftpd,
        Package::Mariadb,
        Package::Mysql,
        Package::Postgresql,
        Package::Redis,
        Package::Samba,
        Package::Bind9,
        Package::Snmpd,
        Package::Openldap,
        Package::Mosquitto,
        Package::Telnetd,
    ];

    /// Short name (`openssh`, `apache2`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Package::Openssh => "openssh",
            Package::Nginx => "nginx",
            Package::Apache2 => "apache2",
            Package::Postfix => "postfix",
            Package::Exim => "exim",
            Package::Dovecot => "dovecot",
            Package::Vsftpd => "vsftpd",
            Package::Proftpd => "proftpd",
            Package::Mariadb => "mariadb",
            Package::Mysql => "mysql",
            Package::Postgresql => "postgresql",
            Package::Redis => "redis",
            Package::Samba => "samba",
            Package::Bind9 => "bind9",
            Package::Snmpd => "snmpd",
            Package::Openldap => "openldap",
            Package::Mosquitto => "mosquitto",
            Package::Telnetd => "telnetd",
        }
    }
}

/// One package as a release ships it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackageVersion {
    /// Upstream version (`9.2p1`, `2.4.57`, `10.11.6`).
    pub upstream: &'static str,
    /// The distro's revision without epoch (`2+deb12u3`, `5.el9`); empty for upstream builds.
    pub release: &'static str,
}

impl PackageVersion {
    /// `upstream-release`, as the package manager prints it (without epoch).
    pub fn full(&self) -> String {
        if self.release.is_empty() {
            self.upstream.to_owned()
        } else {
            format!("{}-{}", self.upstream, self.release)
        }
    }

    /// The upstream version without the OpenSSH portable suffix (`9.6p1` → `9.6`).
    pub fn without_portable(&self) -> &'static str {
        match self.upstream.rsplit_once('p') {
            Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => base,
            _ => self.upstream,
        }
    }
}

/// How a release builds its packages, which decides how vendors stamp banners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packaging {
    /// Debian and derivatives: OpenSSH announces `Vendor-revision`.
    Deb,
    /// RPM distros: OpenSSH announces the bare version.
    Rpm,
    /// Alpine apk.
    Apk,
    /// Arch pacman.
    Pacman,
}

/// Which web server a release's default site runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebServer {
    /// nginx.
    Nginx,
    /// Apache httpd.
    Apache,
}

/// The page a freshly installed web server of a release shows at `/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultPage {
    /// "Apache2 Debian Default Page" (Debian, Kali).
    DebianApache,
    /// "Apache2 Ubuntu Default Page".
    UbuntuApache,
    /// "HTTP Server Test Page powered by Rocky Linux" (httpd's welcome.conf on EL9).
    RockyTestPage,
    /// "Testing 123.." Apache HTTP Server Test Page powered by CentOS (EL7).
    CentosTestPage,
    /// "Test Page for the HTTP Server on Fedora".
    FedoraTestPage,
    /// Apache's upstream "It works!" (Alpine, Arch).
    ApacheItWorks,
    /// "Welcome to nginx!".
    Nginx,
    /// A bare 404: Alpine's nginx default server returns 404 for every path.
    NginxNotFound,
}

/// Shell prompt layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptStyle {
    /// `user@host:~$` (Debian, Ubuntu, Alpine with bash, Arch, Kali).
    Debian,
    /// `[user@host ~]$` (RHEL, CentOS, Fedora).
    Rhel,
}

/// What a release prints after an interactive SSH login, before the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Motd {
    /// `uname -snrvm` then Debian's free-software notice (`vendor` is `Debian` or `Kali`).
    DebianLicense {
        /// The name in the notice.
        vendor: &'static str,
    },
    /// Ubuntu's update-motd: welcome line, help links, ESM notice.
    Ubuntu,
    /// Cockpit's motd on EL9 when cockpit.socket is disabled.
    CockpitActivate,
    /// Cockpit's motd on Fedora Server, where cockpit.socket is enabled.
    CockpitWebConsole,
    /// Alpine's stock `/etc/motd`.
    Alpine,
    /// Nothing.
    Empty,
}

/// What the MOTD of a login mentions about the machine.
#[derive(Debug, Clone, Copy)]
pub struct MotdContext<'a> {
    /// The machine's hostname.
    pub hostname: &'a str,
    /// `uname -r`.
    pub kernel_release: &'a str,
    /// The machine's address.
    pub ip: std::net::IpAddr,
}

/// What a Linux distribution release shows an intruder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distro {
    /// Slug used in config (`debian`, `ubuntu22`, …).
    pub slug: &'static str,
    /// Human name, the os-release `PRETTY_NAME` (`Debian GNU/Linux 12 (bookworm)`).
    pub display_name: &'static str,
    /// Naming style for generated hostnames.
    pub hostname_style: HostnameStyle,
    /// `uname -r`.
    pub kernel_release: &'static str,
    /// `uname -v`.
    pub kernel_build: &'static str,
    /// The compiler part of `/proc/version`.
    pub kernel_compiler: &'static str,
    /// `/etc/os-release` `ID`.
    pub os_id: &'static str,
    /// `/etc/os-release` `VERSION_ID`.
    pub version_id: &'static str,
    /// `/etc/os-release` `VERSION`.
    pub version: &'static str,
    /// `/etc/os-release` as the release ships it.
    pub os_release_file: &'static str,
    /// `/etc/issue` as the release ships it.
    pub issue: &'static str,
    /// Shell prompt layout.
    pub prompt: PromptStyle,
    /// How its packages are built.
    pub packaging: Packaging,
    /// The name vendors stamp into banners (`Apache/2.4.57 (Rocky Linux)`); `None` for upstream-style builds.
    pub vendor_tag: Option<&'static str>,
    /// The web server its default site runs.
    pub web_server: WebServer,
    /// The page that web server shows at `/` out of the box.
    pub default_page: DefaultPage,
    /// What a login prints before the prompt.
    pub motd: Motd,
    /// Whether sshd prints `Last login: … from …` (Alpine's musl build has no lastlog).
    pub last_login: bool,
    /// `bash --version` (`5.2.15(1)-release`).
    pub bash_version: &'static str,
    /// How its `uname` prints `-p`, `-i` and `-o`.
    pub uname: UnameStyle,
    /// When a machine of this release was typically installed (Unix seconds; the point release's date).
    pub installed: i64,
    /// `python3 --version`'s number where the base install has Python 3.
    pub python3: Option<&'static str>,
    /// `perl -v`'s number where the base install has Perl.
    pub perl: Option<&'static str>,
    /// Versions of the packages it ships; a package it does not ship is absent.
    pub packages: &'static [(Package, PackageVersion)],
}

/// How a release's `uname` prints what upstream coreutils leaves "unknown".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnameStyle {
    /// Upstream coreutils (Debian, Kali, Arch): `-p`/`-i` are `unknown`, so `-a` omits them.
    Gnu,
    /// Ubuntu's and RHEL's patched coreutils: `-p` and `-i` print the machine.
    Patched,
    /// BusyBox: `-a` ends with the machine and `Linux`.
    Busybox,
}

const fn v(upstream: &'static str, release: &'static str) -> PackageVersion {
    PackageVersion { upstream, release }
}

const DEBIAN_MOTD_BODY: &str =
    "The programs included with the {V} GNU/Linux system are free software;\n\
the exact distribution terms for each program are described in the\n\
individual files in /usr/share/doc/*/copyright.\n\
\n\
{V} GNU/Linux comes with ABSOLUTELY NO WARRANTY, to the extent\n\
permitted by applicable law.\n";

const UBUNTU_MOTD_TAIL: &str = " * Documentation:  https://help.ubuntu.com\n\
 * Management:     https://landscape.canonical.com\n\
 * Support:        https://ubuntu.com/pro\n\
\n\
Expanded Security Maintenance for Applications is not enabled.\n\
\n\
0 updates can be applied immediately.\n\
\n\
Enable ESM Apps to receive additional future security updates.\n\
See https://ubuntu.com/esm or run: sudo pro status\n\
\n\
\n";

const ALPINE_MOTD: &str = "Welcome to Alpine!\n\
\n\
The Alpine Wiki contains a large amount of how-to guides and general\n\
information about administrating Alpine systems.\n\
See <https://wiki.alpinelinux.org/>.\n\
\n\
You can setup the system with the command: setup-alpine\n\
\n\
You may change this message by editing /etc/motd.\n\
\n";

impl Distro {
    /// The version of `p` this release ships, if it ships it.
    pub fn package(&self, p: Package) -> Option<&'static PackageVersion> {
        self.packages
            .iter()
            .find(|(q, _)| *q == p)
            .map(|(_, version)| version)
    }

    /// `/etc/os-release` contents.
    pub fn os_release(&self) -> String {
        self.os_release_file.to_owned()
    }

    /// `/proc/version` contents.
    pub fn proc_version(&self) -> String {
        format!(
            "Linux version {} ({}) {}\n",
            self.kernel_release, self.kernel_compiler, self.kernel_build
        )
    }

    /// The SSH identification string its OpenSSH sends (`SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3`).
    pub fn ssh_identification(&self) -> Option<String> {
        let ssh = self.package(Package::Openssh)?;
        Some(match (self.packaging, self.vendor_tag) {
            // Debian's packaging appends `SSH_EXTRAVERSION` = vendor-revision.
            (Packaging::Deb, Some(vendor)) if !ssh.release.is_empty() => {
                format!("SSH-2.0-OpenSSH_{} {vendor}-{}", ssh.upstream, ssh.release)
            }
            (Packaging::Deb, _) => format!("SSH-2.0-OpenSSH_{}", ssh.upstream),
            _ => format!("SSH-2.0-OpenSSH_{}", ssh.without_portable()),
        })
    }

    /// nginx's `Server` header (`nginx/1.22.1`), if the release ships nginx.
    pub fn nginx_server_header(&self) -> Option<String> {
        self.package(Package::Nginx)
            .map(|n| format!("nginx/{}", n.upstream))
    }

    /// Apache's `Server` header with `ServerTokens OS` (`Apache/2.4.57 (Rocky Linux)`), if shipped.
    pub fn apache_server_header(&self) -> Option<String> {
        self.package(Package::Apache2).map(|a| {
            format!(
                "Apache/{} ({})",
                a.upstream,
                self.vendor_tag.unwrap_or("Unix")
            )
        })
    }

    /// The `Server` header of the release's default web server.
    pub fn http_server_header(&self) -> String {
        let header = match self.web_server {
            WebServer::Nginx => self.nginx_server_header(),
            WebServer::Apache => self.apache_server_header(),
        };
        header.unwrap_or_else(|| match self.web_server {
            WebServer::Nginx => "nginx".to_owned(),
            WebServer::Apache => "Apache".to_owned(),
        })
    }

    /// `uname` with the given letters (`a`, `snrvmpio`), as the release's coreutils prints it.
    pub fn uname(&self, flags: &str, hostname: &str, kernel_release: &str) -> String {
        let all = flags.contains('a');
        let want = |c: char| all || flags.contains(c);
        let mut parts: Vec<&str> = Vec::new();
        let unknown = match self.uname {
            UnameStyle::Patched => "x86_64",
            UnameStyle::Gnu | UnameStyle::Busybox => "unknown",
        };
        let os = match self.uname {
            UnameStyle::Busybox => "Linux",
            _ => "GNU/Linux",
        };
        if want('s') || flags.is_empty() {
            parts.push("Linux");
        }
        if want('n') {
            parts.push(hostname);
        }
        if want('r') {
            parts.push(kernel_release);
        }
        if want('v') {
            parts.push(self.kernel_build);
        }
        if want('m') {
            parts.push("x86_64");
        }
        // `-a` leaves out what is unknown; asked for by name, it prints `unknown`.
        if (all && unknown != "unknown") || (!all && flags.contains('p')) {
            parts.push(unknown);
        }
        if (all && unknown != "unknown") || (!all && flags.contains('i')) {
            parts.push(unknown);
        }
        if want('o') {
            parts.push(os);
        }
        parts.join(" ")
    }

    /// What a login prints before `Last login:` and the prompt, `\n` line ends.
    pub fn motd(&self, ctx: &MotdContext<'_>) -> String {
        match self.motd {
            Motd::DebianLicense { vendor } => format!(
                "Linux {} {} {} x86_64\n\n{}",
                ctx.hostname,
                ctx.kernel_release,
                self.kernel_build,
                DEBIAN_MOTD_BODY.replace("{V}", vendor)
            ),
            Motd::Ubuntu => format!(
                "Welcome to {} (GNU/Linux {} x86_64)\n\n{UBUNTU_MOTD_TAIL}",
                self.display_name, ctx.kernel_release
            ),
            Motd::CockpitActivate => {
                "Activate the web console with: systemctl enable --now cockpit.socket\n\n"
                    .to_owned()
            }
            Motd::CockpitWebConsole => format!(
                "Web console: https://{}:9090/ or https://{}:9090/\n\n",
                ctx.hostname.split('.').next().unwrap_or(ctx.hostname),
                ctx.ip
            ),
            Motd::Alpine => ALPINE_MOTD.to_owned(),
            Motd::Empty => String::new(),
        }
    }
}

const DEBIAN12: &[(Package, PackageVersion)] = &[
    (Package::Openssh, v("9.2p1", "2+deb12u3")),
    (Package::Nginx, v("1.22.1", "9")),
    (Package::Apache2, v("2.4.62", "1~deb12u2")),
    (Package::Postfix, v("3.7.11", "0+deb12u1")),
    (Package::Exim, v("4.96", "15+deb12u6")),
    (Package::Dovecot, v("2.3.19.1", "2.1+deb12u1")),
    (Package::Vsftpd, v("3.0.3", "13+b2")),
    (Package::Proftpd, v("1.3.8", "4+deb12u4")),
    (Package::Mariadb, v("10.11.6", "0+deb12u1")),
    (Package::Postgresql, v("15.8", "0+deb12u1")),
    (Package::Redis, v("7.0.15", "1~deb12u1")),
    (Package::Samba, v("4.17.12", "0+deb12u1")),
    (Package::Bind9, v("9.18.28", "1~deb12u2")),
    (Package::Snmpd, v("5.9.3", "2")),
    (Package::Openldap, v("2.5.13", "5")),
    (Package::Mosquitto, v("2.0.11", "1.2+deb12u1")),
    (Package::Telnetd, v("2.4", "2+deb12u1")),
];

const UBUNTU2204: &[(Package, PackageVersion)] = &[
    (Package::Openssh, v("8.9p1", "3ubuntu0.6")),
    (Package::Nginx, v("1.18.0", "6ubuntu14.4")),
    (Package::Apache2, v("2.4.52", "1ubuntu4.7")),
    (Package::Postfix, v("3.6.4", "1ubuntu1.3")),
    (Package::Exim, v("4.95", "4ubuntu2.5")),
    (Package::Dovecot, v("2.3.16", "3ubuntu2.2")),
    (Package::Vsftpd, v("3.0.5", "0ubuntu1")),
    (Package::Proftpd, v("1.3.7c", "1build1")),
    (Package::Mariadb, v("10.6.16", "0ubuntu0.22.04.1")),
    (Package::Mysql, v("8.0.36", "0ubuntu0.22.04.1")),
    (Package::Postgresql, v("14.11", "0ubuntu0.22.04.1")),
    (Package::Redis, v("6.0.16", "1ubuntu1")),
    (Package::Samba, v("4.15.13", "0ubuntu1.6")),
    (Package::Bind9, v("9.18.18", "0ubuntu0.22.04.2")),
    (Package::Snmpd, v("5.9.1", "1ubuntu2.6")),
    (Package::Openldap, v("2.5.16", "0ubuntu0.22.04.2")),
    (Package::Mosquitto, v("2.0.11", "1ubuntu1.1")),
    (Package::Telnetd, v("0.17", "44build1")),
];

const UBUNTU2004: &[(Package, PackageVersion)] = &[
    (Package::Openssh, v("8.2p1", "4ubuntu0.9")),
    (Package::Nginx, v("1.18.0", "0ubuntu1.4")),
    (Package::Apache2, v("2.4.41", "4ubuntu3.14")),
    (Package::Postfix, v("3.4.13", "0ubuntu1.3")),
    (Package::Exim, v("4.93", "13ubuntu1.10")),
    (Package::Dovecot, v("2.3.7.2", "1ubuntu3.6")),
    (Package::Vsftpd, v("3.0.3", "12")),
    (Package::Proftpd, v("1.3.6c", "2")),
    (Package::Mariadb, v("10.3.39", "0ubuntu0.20.04.2")),
    (Package::Mysql, v("8.0.35", "0ubuntu0.20.04.1")),
    (Package::Postgresql, v("12.17", "0ubuntu0.20.04.1")),
    (Package::Redis, v("5.0.7", "2ubuntu0.1")),
    (Package::Samba, v("4.15.13", "0ubuntu0.20.04.7")),
    (Package::Bind9, v("9.18.18", "0ubuntu0.20.04.1")),
    (Package::Snmpd, v("5.8", "2ubuntu2.9")),
    (Package::Openldap, v("2.4.49", "2ubuntu1.10")),
    (Package::Mosquitto, v("1.6.9", "1")),
    (Package::Telnetd, v("0.17", "41.2build1")),
];

const ROCKY93: &[(Package, PackageVersion)] = &[
    (Package::Openssh, v("8.7p1", "34.el9")),
    (Package::Nginx, v("1.20.1", "14.el9_2.1")),
    (Package::Apache2, v("2.4.57", "5.el9")),
    (Package::Postfix, v("3.5.9", "24.el9")),
    (Package::Dovecot, v("2.3.16", "8.el9")),
    (Package::Vsftpd, v("3.0.5", "5.el9")),
    (Package::Mariadb, v("10.5.22", "1.el9_2")),
    (Package::Mysql, v("8.0.32", "1.el9_2")),
    (Package::Postgresql, v("13.11", "1.el9")),
    (Package::Redis, v("6.2.7", "1.el9")),
    (Package::Samba, v("4.18.6", "100.el9")),
    (Package::Bind9, v("9.16.23", "14.el9")),
    (Package::Snmpd, v("5.9.1", "11.el9")),
    (Package::Telnetd, v("0.17", "85.el9")),
];

const CENTOS7: &[(Package, PackageVersion)] = &[
    (Package::Openssh, v("7.4p1", "23.el7_9")),
    (Package::Apache2, v("2.4.6", "99.el7.centos.1")),
    (Package::Postfix, v("2.10.1", "9.el7")),
    (Package::Dovecot, v("2.2.36", "8.el7")),
    (Package::Vsftpd, v("3.0.2", "29.el7_9")),
    (Package::Mariadb, v("5.5.68", "1.el7")),
    (Package::Postgresql, v("9.2.24", "9.el7_9")),
    (Package::Samba, v("4.10.16", "25.el7_9")),
    (Package::Bind9, v("9.11.4", "26.P2.el7_9.16")),
    (Package::Snmpd, v("5.7.2", "49.el7_9.4")),
    (Package::Openldap, v("2.4.44", "25.el7_9")),
    (Package::Telnetd, v("0.17", "66.el7")),
];

const ALPINE319: &[(Package, PackageVersion)] = &[
    (Package::Openssh, v("9.6p1", "r0")),
    (Package::Nginx, v("1.24.0", "r15")),
    (Package::Apache2, v("2.4.58", "r1")),
    (Package::Postfix, v("3.8.6", "r0")),
    (Package::Exim, v("4.97.1", "r0")),
    (Package::Dovecot, v("2.3.21", "r0")),
    (Package::Vsftpd, v("3.0.5", "r2")),
    (Package::Proftpd, v("1.3.8b", "r0")),
    (Package::Mariadb, v("10.11.6", "r0")),
    (Package::Postgresql, v("16.2", "r0")),
    (Package::Redis, v("7.2.4", "r0")),
    (Package::Samba, v("4.18.9", "r0")),
    (Package::Bind9, v("9.18.24", "r0")),
    (Package::Snmpd, v("5.9.4", "r0")),
    (Package::Openldap, v("2.6.6", "r1")),
    (Package::Mosquitto, v("2.0.18", "r0")),
    // busybox-extras' telnetd.
    (Package::Telnetd, v("1.36.1", "r15")),
];

const FEDORA39: &[(Package, PackageVersion)] = &[
    (Package::Openssh, v("9.3p1", "9.fc39")),
    (Package::Nginx, v("1.24.0", "4.fc39")),
    (Package::Apache2, v("2.4.58", "1.fc39")),
    (Package::Postfix, v("3.8.3", "2.fc39")),
    (Package::Exim, v("4.97", "1.fc39")),
    (Package::Dovecot, v("2.3.21", "1.fc39")),
    (Package::Vsftpd, v("3.0.5", "5.fc39")),
    (Package::Proftpd, v("1.3.8a", "5.fc39")),
    (Package::Mariadb, v("10.5.23", "1.fc39")),
    (Package::Mysql, v("8.0.35", "1.fc39")),
    (Package::Postgresql, v("15.4", "1.fc39")),
    (Package::Redis, v("7.2.3", "1.fc39")),
    (Package::Samba, v("4.19.4", "1.fc39")),
    (Package::Bind9, v("9.18.21", "1.fc39")),
    (Package::Snmpd, v("5.9.3", "11.fc39")),
    (Package::Openldap, v("2.6.6", "1.fc39")),
    (Package::Mosquitto, v("2.0.18", "1.fc39")),
    (Package::Telnetd, v("0.17", "90.fc39")),
];

const KALI20241: &[(Package, PackageVersion)] = &[
    (Package::Openssh, v("9.6p1", "4")),
    (Package::Nginx, v("1.24.0", "2")),
    (Package::Apache2, v("2.4.58", "1+b1")),
    (Package::Postfix, v("3.8.5", "1")),
    (Package::Exim, v("4.97", "4")),
    (Package::Dovecot, v("2.3.21", "2")),
    (Package::Vsftpd, v("3.0.3", "13+b3")),
    (Package::Proftpd, v("1.3.8b", "1")),
    (Package::Mariadb, v("10.11.6", "2")),
    (Package::Postgresql, v("16.2", "1")),
    (Package::Redis, v("7.0.15", "1")),
    (Package::Samba, v("4.19.4", "3")),
    (Package::Bind9, v("9.19.19", "1")),
    (Package::Snmpd, v("5.9.4", "1")),
    (Package::Openldap, v("2.5.16", "2")),
    (Package::Mosquitto, v("2.0.18", "1")),
    (Package::Telnetd, v("2.5", "3")),
];

const ARCH202402: &[(Package, PackageVersion)] = &[
    (Package::Openssh, v("9.6p1", "1")),
    (Package::Nginx, v("1.24.0", "2")),
    (Package::Apache2, v("2.4.58", "1")),
    (Package::Postfix, v("3.8.5", "1")),
    (Package::Exim, v("4.97.1", "1")),
    (Package::Dovecot, v("2.3.21", "1")),
    (Package::Vsftpd, v("3.0.5", "3")),
    (Package::Mariadb, v("11.2.3", "1")),
    (Package::Postgresql, v("16.2", "1")),
    (Package::Redis, v("7.2.4", "1")),
    (Package::Samba, v("4.19.4", "1")),
    (Package::Bind9, v("9.18.24", "1")),
    (Package::Snmpd, v("5.9.4", "1")),
    (Package::Openldap, v("2.6.7", "1")),
    (Package::Mosquitto, v("2.0.18", "1")),
    // inetutils' telnetd.
    (Package::Telnetd, v("2.5", "1")),
];

/// Every distro release.
pub static DISTROS: [Distro; 9] = [
    Distro {
        slug: "debian",
        display_name: "Debian GNU/Linux 12 (bookworm)",
        hostname_style: HostnameStyle::Generic,
        kernel_release: "6.1.0-28-amd64",
        kernel_build: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)",
        kernel_compiler: "debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40",
        os_id: "debian",
        version_id: "12",
        version: "12 (bookworm)",
        os_release_file: "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\nHOME_URL=\"https://www.debian.org/\"\nSUPPORT_URL=\"https://www.debian.org/support\"\nBUG_REPORT_URL=\"https://bugs.debian.org/\"\n",
        issue: "Debian GNU/Linux 12 \\n \\l\n\n",
        prompt: PromptStyle::Debian,
        packaging: Packaging::Deb,
        vendor_tag: Some("Debian"),
        web_server: WebServer::Nginx,
        default_page: DefaultPage::Nginx,
        motd: Motd::DebianLicense { vendor: "Debian" },
        last_login: true,
        bash_version: "5.2.15(1)-release",
        uname: UnameStyle::Gnu,
        installed: 1707523200,
        python3: Some("3.11.2"),
        perl: Some("5.36.0"),
        packages: DEBIAN12,
    },
    Distro {
        slug: "ubuntu22",
        display_name: "Ubuntu 22.04.4 LTS",
        hostname_style: HostnameStyle::Generic,
        kernel_release: "5.15.0-91-generic",
        kernel_build: "#101-Ubuntu SMP Tue Nov 14 13:30:08 UTC 2023",
        kernel_compiler: "buildd@lcy02-amd64-045) (gcc (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0, GNU ld (GNU Binutils for Ubuntu) 2.38",
        os_id: "ubuntu",
        version_id: "22.04",
        version: "22.04.4 LTS (Jammy Jellyfish)",
        os_release_file: "PRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nVERSION=\"22.04.4 LTS (Jammy Jellyfish)\"\nVERSION_CODENAME=jammy\nID=ubuntu\nID_LIKE=debian\nHOME_URL=\"https://www.ubuntu.com/\"\nSUPPORT_URL=\"https://help.ubuntu.com/\"\nBUG_REPORT_URL=\"https://bugs.launchpad.net/ubuntu/\"\nPRIVACY_POLICY_URL=\"https://www.ubuntu.com/legal/terms-and-policies/privacy-policy\"\nUBUNTU_CODENAME=jammy\n",
        issue: "Ubuntu 22.04.4 LTS \\n \\l\n\n",
        prompt: PromptStyle::Debian,
        packaging: Packaging::Deb,
        vendor_tag: Some("Ubuntu"),
        web_server: WebServer::Apache,
        default_page: DefaultPage::UbuntuApache,
        motd: Motd::Ubuntu,
        last_login: true,
        bash_version: "5.1.16(1)-release",
        uname: UnameStyle::Patched,
        installed: 1708560000,
        python3: Some("3.10.12"),
        perl: Some("5.34.0"),
        packages: UBUNTU2204,
    },
    Distro {
        slug: "ubuntu20",
        display_name: "Ubuntu 20.04.6 LTS",
        hostname_style: HostnameStyle::Generic,
        kernel_release: "5.4.0-169-generic",
        kernel_build: "#187-Ubuntu SMP Thu Nov 23 14:52:28 UTC 2023",
        kernel_compiler: "buildd@lcy02-amd64-079) (gcc (Ubuntu 9.4.0-1ubuntu1~20.04.2) 9.4.0, GNU ld (GNU Binutils for Ubuntu) 2.34",
        os_id: "ubuntu",
        version_id: "20.04",
        version: "20.04.6 LTS (Focal Fossa)",
        os_release_file: "NAME=\"Ubuntu\"\nVERSION=\"20.04.6 LTS (Focal Fossa)\"\nID=ubuntu\nID_LIKE=debian\nPRETTY_NAME=\"Ubuntu 20.04.6 LTS\"\nVERSION_ID=\"20.04\"\nHOME_URL=\"https://www.ubuntu.com/\"\nSUPPORT_URL=\"https://help.ubuntu.com/\"\nBUG_REPORT_URL=\"https://bugs.launchpad.net/ubuntu/\"\nPRIVACY_POLICY_URL=\"https://www.ubuntu.com/legal/terms-and-policies/privacy-policy\"\nVERSION_CODENAME=focal\nUBUNTU_CODENAME=focal\n",
        issue: "Ubuntu 20.04.6 LTS \\n \\l\n\n",
        prompt: PromptStyle::Debian,
        packaging: Packaging::Deb,
        vendor_tag: Some("Ubuntu"),
        web_server: WebServer::Apache,
        default_page: DefaultPage::UbuntuApache,
        motd: Motd::Ubuntu,
        last_login: true,
        bash_version: "5.0.17(1)-release",
        uname: UnameStyle::Patched,
        installed: 1679529600,
        python3: Some("3.8.10"),
        perl: Some("5.30.0"),
        packages: UBUNTU2004,
    },
    Distro {
        slug: "rocky9",
        display_name: "Rocky Linux 9.3 (Blue Onyx)",
        hostname_style: HostnameStyle::Rhel,
        kernel_release: "5.14.0-362.8.1.el9_3.x86_64",
        kernel_build: "#1 SMP PREEMPT_DYNAMIC Wed Nov 8 17:36:32 UTC 2023",
        kernel_compiler: "mockbuild@iad1-prod-build001.bld.equ.rockylinux.org) (gcc (GCC) 11.4.1 20230605 (Red Hat 11.4.1-2), GNU ld version 2.35.2-42.el9",
        os_id: "rocky",
        version_id: "9.3",
        version: "9.3 (Blue Onyx)",
        os_release_file: "NAME=\"Rocky Linux\"\nVERSION=\"9.3 (Blue Onyx)\"\nID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\nPLATFORM_ID=\"platform:el9\"\nPRETTY_NAME=\"Rocky Linux 9.3 (Blue Onyx)\"\nANSI_COLOR=\"0;32\"\nLOGO=\"fedora-logo-icon\"\nCPE_NAME=\"cpe:/o:rocky:rocky:9::baseos\"\nHOME_URL=\"https://rockylinux.org/\"\nBUG_REPORT_URL=\"https://bugs.rockylinux.org/\"\nSUPPORT_END=\"2032-05-31\"\nROCKY_SUPPORT_PRODUCT=\"Rocky-Linux-9\"\nROCKY_SUPPORT_PRODUCT_VERSION=\"9.3\"\nREDHAT_SUPPORT_PRODUCT=\"Rocky Linux\"\nREDHAT_SUPPORT_PRODUCT_VERSION=\"9.3\"\n",
        issue: "\\S\nKernel \\r on an \\m\n\n",
        prompt: PromptStyle::Rhel,
        packaging: Packaging::Rpm,
        vendor_tag: Some("Rocky Linux"),
        web_server: WebServer::Apache,
        default_page: DefaultPage::RockyTestPage,
        motd: Motd::CockpitActivate,
        last_login: true,
        bash_version: "5.1.8(1)-release",
        uname: UnameStyle::Patched,
        installed: 1700438400,
        python3: Some("3.9.18"),
        perl: Some("5.32.1"),
        packages: ROCKY93,
    },
    Distro {
        slug: "centos7",
        display_name: "CentOS Linux 7 (Core)",
        hostname_style: HostnameStyle::Rhel,
        kernel_release: "3.10.0-1160.el7.x86_64",
        kernel_build: "#1 SMP Mon Oct 19 16:18:59 UTC 2020",
        kernel_compiler: "mockbuild@kbuilder.bsys.centos.org) (gcc version 4.8.5 20150623 (Red Hat 4.8.5-44) (GCC)",
        os_id: "centos",
        version_id: "7",
        version: "7 (Core)",
        os_release_file: "NAME=\"CentOS Linux\"\nVERSION=\"7 (Core)\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"7\"\nPRETTY_NAME=\"CentOS Linux 7 (Core)\"\nANSI_COLOR=\"0;31\"\nCPE_NAME=\"cpe:/o:centos:centos:7\"\nHOME_URL=\"https://www.centos.org/\"\nBUG_REPORT_URL=\"https://bugs.centos.org/\"\n\nCENTOS_MANTISBT_PROJECT=\"CentOS-7\"\nCENTOS_MANTISBT_PROJECT_VERSION=\"7\"\nREDHAT_SUPPORT_PRODUCT=\"centos\"\nREDHAT_SUPPORT_PRODUCT_VERSION=\"7\"\n\n",
        issue: "\\S\nKernel \\r on an \\m\n\n",
        prompt: PromptStyle::Rhel,
        packaging: Packaging::Rpm,
        vendor_tag: Some("CentOS"),
        web_server: WebServer::Apache,
        default_page: DefaultPage::CentosTestPage,
        motd: Motd::Empty,
        last_login: true,
        bash_version: "4.2.46(2)-release",
        uname: UnameStyle::Patched,
        installed: 1605139200,
        python3: None,
        perl: Some("5.16.3"),
        packages: CENTOS7,
    },
    Distro {
        slug: "alpine",
        display_name: "Alpine Linux v3.19",
        hostname_style: HostnameStyle::Minimal,
        kernel_release: "6.6.14-0-lts",
        kernel_build: "#1-Alpine SMP PREEMPT_DYNAMIC Fri, 26 Jan 2024 11:08:07 +0000",
        kernel_compiler: "buildozer@build-3-19-x86_64) (gcc (Alpine 13.2.1_git20231014) 13.2.1 20231014, GNU ld (GNU Binutils) 2.41",
        os_id: "alpine",
        version_id: "3.19.1",
        version: "3.19.1",
        os_release_file: "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\nPRETTY_NAME=\"Alpine Linux v3.19\"\nHOME_URL=\"https://alpinelinux.org/\"\nBUG_REPORT_URL=\"https://gitlab.alpinelinux.org/alpine/aports/-/issues\"\n",
        issue: "Welcome to Alpine Linux 3.19\nKernel \\r on an \\m (\\l)\n\n",
        prompt: PromptStyle::Debian,
        packaging: Packaging::Apk,
        vendor_tag: None,
        web_server: WebServer::Nginx,
        default_page: DefaultPage::NginxNotFound,
        motd: Motd::Alpine,
        last_login: false,
        bash_version: "5.2.21(1)-release",
        uname: UnameStyle::Busybox,
        installed: 1706313600,
        python3: None,
        perl: None,
        packages: ALPINE319,
    },
    Distro {
        slug: "fedora",
        display_name: "Fedora Linux 39 (Server Edition)",
        hostname_style: HostnameStyle::Rhel,
        kernel_release: "6.5.6-300.fc39.x86_64",
        kernel_build: "#1 SMP PREEMPT_DYNAMIC Fri Oct  6 19:57:21 UTC 2023",
        kernel_compiler: "mockbuild@c8a0a8c2b0f5493b9d2cb1c2c3fb5b0f) (gcc (GCC) 13.2.1 20230918 (Red Hat 13.2.1-3), GNU ld version 2.40-13.fc39",
        os_id: "fedora",
        version_id: "39",
        version: "39 (Server Edition)",
        os_release_file: "NAME=\"Fedora Linux\"\nVERSION=\"39 (Server Edition)\"\nID=fedora\nVERSION_ID=39\nVERSION_CODENAME=\"\"\nPLATFORM_ID=\"platform:f39\"\nPRETTY_NAME=\"Fedora Linux 39 (Server Edition)\"\nANSI_COLOR=\"0;38;2;60;110;180\"\nLOGO=fedora-logo-icon\nCPE_NAME=\"cpe:/o:fedoraproject:fedora:39\"\nHOME_URL=\"https://fedoraproject.org/\"\nDOCUMENTATION_URL=\"https://docs.fedoraproject.org/en-US/fedora/f39/system-administrators-guide/\"\nSUPPORT_URL=\"https://ask.fedoraproject.org/\"\nBUG_REPORT_URL=\"https://bugzilla.redhat.com/\"\nREDHAT_BUGZILLA_PRODUCT=\"Fedora\"\nREDHAT_BUGZILLA_PRODUCT_VERSION=39\nREDHAT_SUPPORT_PRODUCT=\"Fedora\"\nREDHAT_SUPPORT_PRODUCT_VERSION=39\nSUPPORT_END=2024-11-12\nVARIANT=\"Server Edition\"\nVARIANT_ID=server\n",
        issue: "\\S\nKernel \\r on an \\m (\\l)\n\n",
        prompt: PromptStyle::Rhel,
        packaging: Packaging::Rpm,
        vendor_tag: Some("Fedora Linux"),
        web_server: WebServer::Apache,
        default_page: DefaultPage::FedoraTestPage,
        motd: Motd::CockpitWebConsole,
        last_login: true,
        bash_version: "5.2.21(1)-release",
        uname: UnameStyle::Patched,
        installed: 1699315200,
        python3: Some("3.12.0"),
        perl: Some("5.38.0"),
        packages: FEDORA39,
    },
    Distro {
        slug: "kali",
        display_name: "Kali GNU/Linux Rolling",
        hostname_style: HostnameStyle::Rolling,
        kernel_release: "6.6.9-amd64",
        kernel_build: "#1 SMP PREEMPT_DYNAMIC Kali 6.6.9-1kali1 (2024-01-08)",
        kernel_compiler: "devel@kali.org) (x86_64-linux-gnu-gcc-13 (Debian 13.2.0-9) 13.2.0, GNU ld (GNU Binutils for Debian) 2.41.50.20231227",
        os_id: "kali",
        version_id: "2024.1",
        version: "2024.1",
        os_release_file: "PRETTY_NAME=\"Kali GNU/Linux Rolling\"\nNAME=\"Kali GNU/Linux\"\nVERSION_ID=\"2024.1\"\nVERSION=\"2024.1\"\nVERSION_CODENAME=kali-rolling\nID=kali\nID_LIKE=debian\nHOME_URL=\"https://www.kali.org/\"\nSUPPORT_URL=\"https://forums.kali.org/\"\nBUG_REPORT_URL=\"https://bugs.kali.org/\"\nANSI_COLOR=\"1;31\"\n",
        issue: "Kali GNU/Linux Rolling \\n \\l\n\n",
        prompt: PromptStyle::Debian,
        packaging: Packaging::Deb,
        // Kali builds Debian's packages: banners say Debian.
        vendor_tag: Some("Debian"),
        web_server: WebServer::Apache,
        default_page: DefaultPage::DebianApache,
        motd: Motd::DebianLicense { vendor: "Kali" },
        last_login: true,
        bash_version: "5.2.21(1)-release",
        uname: UnameStyle::Gnu,
        installed: 1708905600,
        python3: Some("3.11.8"),
        perl: Some("5.36.0"),
        packages: KALI20241,
    },
    Distro {
        slug: "arch",
        display_name: "Arch Linux",
        hostname_style: HostnameStyle::Rolling,
        kernel_release: "6.7.4-arch1-1",
        kernel_build: "#1 SMP PREEMPT_DYNAMIC Mon, 05 Feb 2024 22:07:49 +0000",
        kernel_compiler: "linux@archlinux) (gcc (GCC) 13.2.1 20230801, GNU ld (GNU Binutils) 2.42.0",
        os_id: "arch",
        version_id: "rolling",
        version: "rolling",
        os_release_file: "NAME=\"Arch Linux\"\nPRETTY_NAME=\"Arch Linux\"\nID=arch\nBUILD_ID=rolling\nANSI_COLOR=\"38;2;23;147;209\"\nHOME_URL=\"https://archlinux.org/\"\nDOCUMENTATION_URL=\"https://wiki.archlinux.org/\"\nSUPPORT_URL=\"https://bbs.archlinux.org/\"\nBUG_REPORT_URL=\"https://gitlab.archlinux.org/groups/archlinux/-/issues\"\nPRIVACY_POLICY_URL=\"https://terms.archlinux.org/docs/privacy-policy/\"\nLOGO=archlinux-logo\n",
        issue: "Arch Linux \\r (\\l)\n\n",
        prompt: PromptStyle::Debian,
        packaging: Packaging::Pacman,
        vendor_tag: None,
        web_server: WebServer::Nginx,
        default_page: DefaultPage::Nginx,
        motd: Motd::Empty,
        last_login: true,
        bash_version: "5.2.26(1)-release",
        uname: UnameStyle::Gnu,
        installed: 1706745600,
        python3: Some("3.11.7"),
        perl: Some("5.38.2"),
        packages: ARCH202402,
    },
];

/// Looks a distro up by slug.
pub fn distro(slug: &str) -> Option<&'static Distro> {
    DISTROS.iter().find(|d| d.slug == slug)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The banners the code shipped before the package model, byte for byte.
    const BANNERS: [(&str, &str, &str); 9] = [
        (
            "debian",
            "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
            "nginx/1.22.1",
        ),
        (
            "ubuntu22",
            "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6",
            "Apache/2.4.52 (Ubuntu)",
        ),
        (
            "ubuntu20",
            "SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.9",
            "Apache/2.4.41 (Ubuntu)",
        ),
        (
            "rocky9",
            "SSH-2.0-OpenSSH_8.7",
            "Apache/2.4.57 (Rocky Linux)",
        ),
        ("centos7", "SSH-2.0-OpenSSH_7.4", "Apache/2.4.6 (CentOS)"),
        ("alpine", "SSH-2.0-OpenSSH_9.6", "nginx/1.24.0"),
        (
            "fedora",
            "SSH-2.0-OpenSSH_9.3",
            "Apache/2.4.58 (Fedora Linux)",
        ),
        (
            "kali",
            "SSH-2.0-OpenSSH_9.6p1 Debian-4",
            "Apache/2.4.58 (Debian)",
        ),
        ("arch", "SSH-2.0-OpenSSH_9.6", "nginx/1.24.0"),
    ];

    #[test]
    fn banners_formatted_from_versions_match_the_shipped_strings() {
        for (slug, ssh, http) in BANNERS {
            let d = distro(slug).unwrap();
            assert_eq!(d.ssh_identification().as_deref(), Some(ssh), "{slug}");
            assert_eq!(d.http_server_header(), http, "{slug}");
        }
        assert_eq!(BANNERS.len(), DISTROS.len());
    }

    #[test]
    fn the_default_web_server_is_shipped_and_its_page_matches_it() {
        for d in &DISTROS {
            let pkg = match d.web_server {
                WebServer::Nginx => Package::Nginx,
                WebServer::Apache => Package::Apache2,
            };
            assert!(d.package(pkg).is_some(), "{} lacks {pkg:?}", d.slug);
            let nginx_page = matches!(
                d.default_page,
                DefaultPage::Nginx | DefaultPage::NginxNotFound
            );
            assert_eq!(nginx_page, d.web_server == WebServer::Nginx, "{}", d.slug);
        }
        // The regression: Rocky's Apache shows its own test page, not Debian's.
        assert_eq!(
            distro("rocky9").unwrap().default_page,
            DefaultPage::RockyTestPage
        );
    }

    #[test]
    fn packages_appear_once_and_releases_miss_what_they_do_not_ship() {
        for d in &DISTROS {
            for p in Package::ALL {
                let n = d.packages.iter().filter(|(q, _)| *q == p).count();
                assert!(n <= 1, "{} lists {p:?} {n} times", d.slug);
            }
            assert!(d.package(Package::Openssh).is_some(), "{}", d.slug);
        }
        let rocky = distro("rocky9").unwrap();
        assert_eq!(rocky.package(Package::Exim), None, "EPEL only");
        assert_eq!(distro("centos7").unwrap().package(Package::Nginx), None);
        assert_eq!(distro("debian").unwrap().package(Package::Mysql), None);
        assert_eq!(
            distro("debian")
                .unwrap()
                .package(Package::Postgresql)
                .map(|p| p.full()),
            Some("15.8-0+deb12u1".to_owned())
        );
    }

    #[test]
    fn os_release_files_agree_with_the_identity_fields() {
        for d in &DISTROS {
            let f = d.os_release();
            assert!(
                f.contains(&format!("PRETTY_NAME=\"{}\"\n", d.display_name)),
                "{}",
                d.slug
            );
            let id = f
                .lines()
                .find_map(|l| l.strip_prefix("ID="))
                .map(|v| v.trim_matches('"'));
            assert_eq!(id, Some(d.os_id), "{}", d.slug);
            assert!(f.ends_with('\n'));
        }
    }

    #[test]
    fn motds_are_the_releases_own_and_never_a_made_up_help_site() {
        let ctx = MotdContext {
            hostname: "web-prod-01",
            kernel_release: "6.1.0-28-amd64",
            ip: "10.0.0.7".parse().unwrap(),
        };
        for d in &DISTROS {
            let m = d.motd(&ctx);
            assert!(
                !m.contains(&format!("help.{}.com", d.os_id)) || d.os_id == "ubuntu",
                "{}: {m}",
                d.slug
            );
        }
        let debian = distro("debian").unwrap().motd(&ctx);
        assert!(debian.starts_with(
            "Linux web-prod-01 6.1.0-28-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22) x86_64\n\n\
             The programs included with the Debian GNU/Linux system are free software;\n"
        ), "{debian}");
        let ubuntu = distro("ubuntu22").unwrap().motd(&ctx);
        assert!(ubuntu.starts_with(
            "Welcome to Ubuntu 22.04.4 LTS (GNU/Linux 6.1.0-28-amd64 x86_64)\n\n * Documentation:  https://help.ubuntu.com\n"
        ), "{ubuntu}");
        assert_eq!(distro("centos7").unwrap().motd(&ctx), "");
        assert_eq!(distro("arch").unwrap().motd(&ctx), "");
        assert!(distro("alpine")
            .unwrap()
            .motd(&ctx)
            .starts_with("Welcome to Alpine!\n"));
        assert_eq!(
            distro("fedora").unwrap().motd(&ctx),
            "Web console: https://web-prod-01:9090/ or https://10.0.0.7:9090/\n\n"
        );
    }

    // Regression: Debian's `uname -a` ended `x86_64 x86_64 x86_64` (Ubuntu's patch).
    #[test]
    fn uname_follows_each_releases_coreutils() {
        let d = distro("debian").unwrap();
        assert_eq!(
            d.uname("a", "h", d.kernel_release),
            "Linux h 6.1.0-28-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22) x86_64 GNU/Linux"
        );
        assert_eq!(d.uname("p", "h", "r"), "unknown");
        assert_eq!(d.uname("", "h", "r"), "Linux");
        assert_eq!(d.uname("sr", "h", "r"), "Linux r");
        let u = distro("ubuntu22").unwrap();
        assert!(u
            .uname("a", "h", "r")
            .ends_with(" x86_64 x86_64 x86_64 GNU/Linux"));
        let a = distro("alpine").unwrap();
        assert!(a.uname("a", "h", "r").ends_with(" x86_64 Linux"));
    }

    #[test]
    fn portable_suffix_is_stripped_only_when_present() {
        assert_eq!(v("8.7p1", "").without_portable(), "8.7");
        assert_eq!(v("9.6", "").without_portable(), "9.6");
        assert_eq!(v("1.3.8b", "").without_portable(), "1.3.8b");
        assert_eq!(v("2.4", "").full(), "2.4");
    }
}
