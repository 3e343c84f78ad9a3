//! `ifconfig`, `ip`, and the download tools (`wget`, `curl`, `tftp`, `ftpget`),
//! whose URLs are captured and never fetched.

use chrono::Utc;

use super::Outcome;
use crate::shell::{ShellEvent, State};

fn network(ip: std::net::IpAddr, prefix: u8) -> String {
    match ip {
        std::net::IpAddr::V4(v) => {
            let m: u32 = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix.min(32)))
            };
            std::net::Ipv4Addr::from(u32::from(v) & m).to_string()
        }
        std::net::IpAddr::V6(v) => v.to_string(),
    }
}

/// A network verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Net {
    /// `ifconfig`.
    Ifconfig,
    /// `ip a` / `ip addr` / `ip r`.
    Ip,
    /// `wget URL`.
    Wget,
    /// `curl URL`.
    Curl,
    /// `tftp -g -r FILE HOST`.
    Tftp,
    /// `ftpget HOST LOCAL REMOTE`.
    Ftpget,
}

/// Options of wget/curl that take a value, so the value is not read as the URL.
const VALUE_OPTS: [&str; 16] = [
    "-O",
    "-o",
    "-P",
    "-U",
    "-H",
    "-A",
    "-e",
    "-T",
    "-t",
    "--output",
    "--output-document",
    "--user-agent",
    "--header",
    "-X",
    "-d",
    "--data",
];

impl Net {
    /// The verb of a command name.
    pub fn parse(name: &str) -> Option<Net> {
        Some(match name {
            "ifconfig" => Net::Ifconfig,
            "ip" => Net::Ip,
            "wget" => Net::Wget,
            "curl" => Net::Curl,
            "tftp" => Net::Tftp,
            "ftpget" => Net::Ftpget,
            _ => return None,
        })
    }

    fn tool(self) -> &'static str {
        match self {
            Net::Ifconfig => "ifconfig",
            Net::Ip => "ip",
            Net::Wget => "wget",
            Net::Curl => "curl",
            Net::Tftp => "tftp",
            Net::Ftpget => "ftpget",
        }
    }
}

/// Runs a network tool; `None` when `name` is not one.
pub fn run(name: &str, st: &mut State, args: &[String], stdin: &[u8]) -> Option<Outcome> {
    let _ = stdin;
    let tool = Net::parse(name)?;
    Some(match tool {
        Net::Ifconfig => Outcome::ok(ifconfig(st)),
        Net::Ip => ip(st, args),
        Net::Wget | Net::Curl | Net::Tftp | Net::Ftpget => {
            let Some(url) = url_of(tool, args) else {
                return Some(Outcome::fail_err(usage(tool), 1));
            };
            let status = match tool {
                Net::Wget => 4,
                Net::Curl
                    if url.starts_with("https")
                        || host_port(&url).0.parse::<std::net::IpAddr>().is_err() =>
                {
                    6
                }
                Net::Curl => 28,
                _ => 1,
            };
            // curl -s prints nothing; wget -q neither.
            let quiet = args.iter().any(|a| {
                a == "-q"
                    || a == "-s"
                    || a == "-fsSL"
                    || a == "-sSL"
                    || (a.starts_with('-')
                        && !a.starts_with("--")
                        && a.contains('s')
                        && tool == Net::Curl
                        && !a.contains('S'))
            });
            let mut o = Outcome::fail_err(
                if quiet {
                    String::new()
                } else {
                    refusal(tool, &url)
                },
                status,
            );
            o.events.push(ShellEvent::Download {
                url,
                tool: tool.tool().to_owned(),
                command: format!("{name} {}", args.join(" ")),
            });
            o
        }
    })
}

/// A Download event for a tool that is not installed but was pointed at a URL.
pub fn missing_tool_download(name: &str, args: &[String]) -> Option<ShellEvent> {
    let tool = Net::parse(name)?;
    let url = url_of(tool, args)?;
    Some(ShellEvent::Download {
        url,
        tool: tool.tool().to_owned(),
        command: format!("{name} {}", args.join(" ")),
    })
}

/// The URL a download command names.
pub fn url_of(tool: Net, args: &[String]) -> Option<String> {
    match tool {
        Net::Wget | Net::Curl => {
            if let Some(u) = args.iter().find(|a| a.contains("://")) {
                return Some(u.clone());
            }
            let mut skip = false;
            for a in args {
                if skip {
                    skip = false;
                    continue;
                }
                if VALUE_OPTS.contains(&a.as_str()) {
                    skip = true;
                    continue;
                }
                if a.starts_with('-') {
                    continue;
                }
                return Some(format!("http://{a}"));
            }
            None
        }
        Net::Tftp => {
            let mut file = None;
            let mut host = None;
            let mut it = args.iter();
            while let Some(a) = it.next() {
                match a.as_str() {
                    "-r" | "-l" => {
                        let v = it.next();
                        if a == "-r" || file.is_none() {
                            file = v.cloned();
                        }
                    }
                    s if s.starts_with('-') => {}
                    s => host = Some(s.to_owned()),
                }
            }
            Some(format!("tftp://{}/{}", host?, file.unwrap_or_default()))
        }
        Net::Ftpget => {
            let pos: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
            let host = pos.first()?;
            let remote = pos.get(2).or(pos.get(1)).map_or("", |s| s.as_str());
            Some(format!("ftp://{host}/{remote}"))
        }
        Net::Ifconfig | Net::Ip => None,
    }
}

fn host_port(url: &str) -> (String, u16) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let hostport = rest.split(['/', '?', '#']).next().unwrap_or("");
    let hostport = hostport.rsplit('@').next().unwrap_or(hostport);
    let default = match scheme {
        "https" => 443,
        "ftp" => 21,
        "tftp" => 69,
        _ => 80,
    };
    match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), p.parse().unwrap_or(default)),
        None => (hostport.to_owned(), default),
    }
}

fn refusal(tool: Net, url: &str) -> String {
    let (host, port) = host_port(url);
    let is_ip = host.parse::<std::net::IpAddr>().is_ok();
    match tool {
        Net::Wget => {
            let ts = Utc::now().format("--%Y-%m-%d %H:%M:%S--");
            if is_ip {
                format!("{ts}  {url}\nConnecting to {host}:{port}... failed: Connection timed out.\nRetrying.\n\n")
            } else {
                format!("{ts}  {url}\nResolving {host} ({host})... failed: Temporary failure in name resolution.\nwget: unable to resolve host address '{host}'\n")
            }
        }
        Net::Curl => {
            if is_ip {
                format!("curl: (28) Failed to connect to {host} port {port} after 130812 ms: Connection timed out\n")
            } else {
                format!("curl: (6) Could not resolve host: {host}\n")
            }
        }
        Net::Tftp => "Transfer timed out.\n\n".to_owned(),
        Net::Ftpget => {
            format!("ftpget: can't connect to remote host ({host}): Connection timed out\n")
        }
        Net::Ifconfig | Net::Ip => String::new(),
    }
}

fn usage(tool: Net) -> String {
    match tool {
        Net::Wget => "wget: missing URL\nUsage: wget [OPTION]... [URL]...\n\nTry `wget --help' for more options.\n".to_owned(),
        Net::Curl => "curl: try 'curl --help' or 'curl --manual' for more information\n".to_owned(),
        Net::Tftp => "usage: tftp [-4][-6][-v][-V][-l][-m mode][-R port:port] [host [port]] [-c command]\n".to_owned(),
        Net::Ftpget => "BusyBox v1.36.1 multi-call binary.\n\nUsage: ftpget [OPTIONS] HOST [LOCAL_FILE] REMOTE_FILE\n".to_owned(),
        Net::Ifconfig | Net::Ip => String::new(),
    }
}

fn mac(st: &State) -> String {
    st.persona
        .mac
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn netmask(prefix: u8) -> String {
    let m: u32 = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    };
    std::net::Ipv4Addr::from(m).to_string()
}

fn broadcast(st: &State) -> String {
    match st.persona.ip {
        std::net::IpAddr::V4(v) => {
            let host = if st.persona.prefix >= 32 {
                0
            } else {
                u32::MAX >> u32::from(st.persona.prefix)
            };
            std::net::Ipv4Addr::from(u32::from(v) | host).to_string()
        }
        std::net::IpAddr::V6(_) => "::".to_owned(),
    }
}

fn ifconfig(st: &State) -> String {
    let ip = st.persona.ip;
    let mask = netmask(st.persona.prefix);
    let brd = broadcast(st);
    format!(
        "eth0: flags=4163<UP,BROADCAST,RUNNING,MULTICAST>  mtu 1500\n        inet {ip}  netmask {mask}  broadcast {brd}\n        ether {}  txqueuelen 1000  (Ethernet)\n        RX packets 2841193  bytes 1893012445 (1.8 GB)\n        RX errors 0  dropped 0  overruns 0  frame 0\n        TX packets 1630452  bytes 402115873 (402.1 MB)\n        TX errors 0  dropped 0 overruns 0  carrier 0  collisions 0\n\nlo: flags=73<UP,LOOPBACK,RUNNING>  mtu 65536\n        inet 127.0.0.1  netmask 255.0.0.0\n        inet6 ::1  prefixlen 128  scopeid 0x10<host>\n        loop  txqueuelen 1000  (Local Loopback)\n        RX packets 5120  bytes 421337 (421.3 KB)\n        RX errors 0  dropped 0  overruns 0  frame 0\n        TX packets 5120  bytes 421337 (421.3 KB)\n        TX errors 0  dropped 0 overruns 0  carrier 0  collisions 0\n\n",
        mac(st)
    )
}

fn ip(st: &State, args: &[String]) -> Outcome {
    let ip = st.persona.ip;
    let prefix = st.persona.prefix;
    let brd = broadcast(st);
    let gw = crate::shell::tree::gateway(&st.persona);
    let args: Vec<String> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .cloned()
        .collect();
    let args = args.as_slice();
    match args.first().map(String::as_str) {
        Some("a" | "addr" | "address") => Outcome::ok(format!(
            "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN group default qlen 1000\n    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n    inet 127.0.0.1/8 scope host lo\n       valid_lft forever preferred_lft forever\n    inet6 ::1/128 scope host \n       valid_lft forever preferred_lft forever\n2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP group default qlen 1000\n    link/ether {} brd ff:ff:ff:ff:ff:ff\n    inet {ip}/{prefix} brd {brd} scope global eth0\n       valid_lft forever preferred_lft forever\n",
            mac(st)
        )),
        Some("r" | "route") => Outcome::ok(format!(
            "default via {gw} dev eth0 onlink \n{net}/{prefix} dev eth0 proto kernel scope link src {ip} \n", net = network(ip, prefix)
        )),
        Some("link" | "l") => Outcome::ok(format!(
            "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000\n    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00\n2: eth0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc fq_codel state UP mode DEFAULT group default qlen 1000\n    link/ether {} brd ff:ff:ff:ff:ff:ff\n",
            mac(st)
        )),
        _ => Outcome::fail_err(
            "Usage: ip [ OPTIONS ] OBJECT { COMMAND | help }\n       ip [ -force ] -batch filename\nwhere  OBJECT := { address | link | route | rule | neigh | ... }\n",
            255,
        ),
    }
}
