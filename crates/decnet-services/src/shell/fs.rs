//! The persona's fake filesystem: a small, read-only tree of the files intruders
//! look at first, built from the decky's persona.

use std::collections::BTreeMap;

use super::Persona;

/// A node of the fake tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A directory.
    Dir,
    /// A regular file and its contents.
    File(String),
}

/// The fake filesystem, keyed by absolute normalised path.
#[derive(Debug, Clone)]
pub struct Fs {
    nodes: BTreeMap<String, Node>,
}

impl Fs {
    /// The tree a persona shows.
    pub fn for_persona(p: &Persona) -> Fs {
        let mut fs = Fs {
            nodes: BTreeMap::new(),
        };
        for d in [
            "/",
            "/bin",
            "/boot",
            "/dev",
            "/etc",
            "/etc/ssh",
            "/home",
            "/lib",
            "/media",
            "/mnt",
            "/opt",
            "/proc",
            "/root",
            "/root/.ssh",
            "/run",
            "/sbin",
            "/srv",
            "/sys",
            "/tmp",
            "/usr",
            "/usr/bin",
            "/usr/local",
            "/usr/sbin",
            "/var",
            "/var/log",
            "/var/tmp",
            "/var/www",
            "/var/www/html",
        ] {
            fs.nodes.insert(d.to_owned(), Node::Dir);
        }
        let d = p.distro;
        let mut passwd = String::from(
            "root:x:0:0:root:/root:/bin/bash\n\
             daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
             bin:x:2:2:bin:/bin:/usr/sbin/nologin\n\
             sys:x:3:3:sys:/dev:/usr/sbin/nologin\n\
             sync:x:4:65534:sync:/bin:/bin/sync\n\
             www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\n\
             nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n\
             sshd:x:110:65534::/run/sshd:/usr/sbin/nologin\n",
        );
        for (i, u) in p.users.iter().filter(|u| u.as_str() != "root").enumerate() {
            let uid = 1000 + i;
            passwd.push_str(&format!("{u}:x:{uid}:{uid}:{u}:/home/{u}:/bin/bash\n"));
            fs.nodes.insert(format!("/home/{u}"), Node::Dir);
            fs.file(
                &format!("/home/{u}/.bash_history"),
                "ls -la\nsudo apt update\nsystemctl status nginx\nexit\n",
            );
            fs.file(&format!("/home/{u}/.profile"), PROFILE);
        }
        fs.file("/etc/passwd", &passwd);
        fs.file("/etc/hostname", &format!("{}\n", p.hostname));
        fs.file(
            "/etc/hosts",
            &format!(
                "127.0.0.1 localhost\n127.0.1.1 {}\n\n::1     ip6-localhost ip6-loopback\n",
                p.hostname
            ),
        );
        fs.file("/etc/os-release", &d.os_release());
        fs.file("/etc/issue", d.issue);
        fs.file("/etc/shells", "/bin/sh\n/bin/bash\n/usr/bin/bash\n");
        fs.file(
            "/etc/resolv.conf",
            "nameserver 127.0.0.53\noptions edns0 trust-ad\n",
        );
        fs.file(
            "/etc/shadow",
            "", // present but unreadable: `cat` says permission denied for non-root
        );
        fs.file("/proc/version", &p.proc_version());
        fs.file("/proc/cpuinfo", &cpuinfo(p.cpus));
        fs.file(
            "/proc/meminfo",
            &format!(
                "MemTotal:       {} kB\nMemFree:         {} kB\nMemAvailable:    {} kB\n",
                p.mem_kb,
                p.mem_kb / 3,
                p.mem_kb / 2
            ),
        );
        fs.file(
            "/root/.bash_history",
            "apt update && apt upgrade -y\nsystemctl restart nginx\nvim /etc/nginx/sites-available/default\ncd /var/www/html\nls -la\nmysql -u root -p\nexit\n",
        );
        fs.file("/root/.bashrc", BASHRC);
        fs.file("/root/.profile", PROFILE);
        fs.file("/root/.ssh/authorized_keys", "");
        fs.file(
            "/var/www/html/index.html",
            "<html><body><h1>It works!</h1></body></html>\n",
        );
        fs.file("/var/log/auth.log", "");
        fs.file("/etc/ssh/sshd_config", "Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin yes\nPasswordAuthentication yes\nUsePAM yes\nX11Forwarding yes\nPrintMotd no\nAcceptEnv LANG LC_*\nSubsystem sftp /usr/lib/openssh/sftp-server\n");
        for b in [
            "bash", "sh", "ls", "cat", "echo", "ps", "uname", "id", "whoami", "hostname", "pwd",
            "df", "free", "uptime", "w", "which", "nproc", "wget", "curl", "ip", "sudo", "grep",
            "awk", "sed", "chmod", "rm", "mkdir", "cp", "mv", "tar", "python3", "perl",
        ] {
            fs.file(&format!("/usr/bin/{b}"), "");
        }
        fs.file("/usr/sbin/ifconfig", "");
        fs
    }

    fn file(&mut self, path: &str, contents: &str) {
        self.nodes
            .insert(path.to_owned(), Node::File(contents.to_owned()));
    }

    /// The node at an absolute path.
    pub fn get(&self, path: &str) -> Option<&Node> {
        self.nodes.get(path)
    }

    /// Whether a path is a directory.
    pub fn is_dir(&self, path: &str) -> bool {
        matches!(self.get(path), Some(Node::Dir))
    }

    /// The names directly under a directory, sorted.
    pub fn children(&self, dir: &str) -> Vec<(String, &Node)> {
        let prefix = if dir == "/" {
            "/".to_owned()
        } else {
            format!("{dir}/")
        };
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter_map(|(k, v)| {
                let rest = k.get(prefix.len()..)?;
                (!rest.is_empty() && !rest.contains('/')).then(|| (rest.to_owned(), v))
            })
            .collect()
    }
}

/// Resolves `arg` against `cwd` and `home` into a normalised absolute path.
pub fn resolve(cwd: &str, home: &str, arg: &str) -> String {
    let joined = if arg == "~" {
        home.to_owned()
    } else if let Some(rest) = arg.strip_prefix("~/") {
        format!("{home}/{rest}")
    } else if arg.starts_with('/') {
        arg.to_owned()
    } else {
        format!("{cwd}/{arg}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for seg in joined.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

fn cpuinfo(cpus: u32) -> String {
    let mut s = String::new();
    for i in 0..cpus {
        s.push_str(&format!(
            "processor\t: {i}\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\nmodel name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz\nstepping\t: 7\ncpu MHz\t\t: 2095.078\ncache size\t: 28160 KB\nphysical id\t: 0\nsiblings\t: {cpus}\ncore id\t\t: {i}\ncpu cores\t: {cpus}\nflags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology cpuid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm abm 3dnowprefetch avx2 smep bmi2 erms invpcid avx512f avx512dq rdseed adx smap clflushopt clwb avx512cd avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves arat avx512_vnni md_clear arch_capabilities\nbogomips\t: 4190.15\n\n"
        ));
    }
    s
}

const BASHRC: &str = "# ~/.bashrc: executed by bash(1) for non-login shells.\n[ -z \"$PS1\" ] && return\nHISTCONTROL=ignoredups:ignorespace\nshopt -s histappend\nHISTSIZE=1000\nHISTFILESIZE=2000\nalias ll='ls -alF'\nalias la='ls -A'\n";
const PROFILE: &str = "# ~/.profile: executed by the command interpreter for login shells.\nif [ -n \"$BASH_VERSION\" ]; then\n    if [ -f \"$HOME/.bashrc\" ]; then\n\t. \"$HOME/.bashrc\"\n    fi\nfi\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_like_a_shell() {
        assert_eq!(resolve("/root", "/root", ".."), "/");
        assert_eq!(resolve("/", "/root", "../../etc/./passwd"), "/etc/passwd");
        assert_eq!(resolve("/tmp", "/root", "~"), "/root");
        assert_eq!(resolve("/tmp", "/root", "~/.ssh"), "/root/.ssh");
        assert_eq!(resolve("/var", "/root", "log"), "/var/log");
    }
}
