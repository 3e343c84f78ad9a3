//! The commands bots run first after a login, over the decky's own SSH
//! service (a real client logging in with an account the persona accepts,
//! each command as an `exec` request, as `ssh host 'cmd'` sends it).

use std::sync::{Arc, Mutex};

use russh::client;
use russh::keys::{HashAlg, PublicKeyOrCertificate};
use russh::ChannelMsg;

use crate::cross::Observed;
use crate::target::{SshTarget, Target, WebServer};
use crate::{CheckResult, PROBE_TIMEOUT};

/// The persona's account logs in.
pub const LOGIN: &str = "shell.login";
/// `cat /proc/cpuinfo | grep name | wc -l` equals `nproc`.
pub const CPUINFO_NPROC: &str = "shell.cpuinfo-matches-nproc";
/// `uname -a` names the kernel and userland of the distro `/etc/os-release` names.
pub const UNAME_OS_RELEASE: &str = "shell.uname-matches-os-release";
/// `echo $((1+2))` prints 3.
pub const ARITH: &str = "shell.arithmetic";
/// `echo x > /tmp/a; cat /tmp/a` prints x.
pub const REDIRECT: &str = "shell.redirect-persists";
/// `which python3` agrees with running it.
pub const WHICH_PYTHON3: &str = "shell.which-agrees-with-exec";
/// `/tmp` is 1777 and `/root` 700.
pub const TMP_ROOT_MODES: &str = "shell.tmp-root-modes";
/// `ps aux` lists the services the decky runs, and no other web server.
pub const PS_SERVICES: &str = "shell.ps-lists-running-services";
/// `uptime` agrees with `/proc/uptime`.
pub const UPTIME_PROC: &str = "shell.uptime-matches-proc";

/// Largest output kept per command.
const MAX_OUTPUT: usize = 256 * 1024;

/// What the shell printed, for the OS-family and cross-decky checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShellSeen {
    /// `cat /etc/os-release`.
    pub os_release: String,
    /// `uname -a`.
    pub uname: String,
}

/// Records the host key the decky presents.
struct Client {
    host_key: Arc<Mutex<Option<String>>>,
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let fp = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => {
                key.fingerprint(HashAlg::Sha256).to_string()
            }
            PublicKeyOrCertificate::Certificate(c) => {
                russh::keys::PublicKey::from(c.public_key().clone())
                    .fingerprint(HashAlg::Sha256)
                    .to_string()
            }
        };
        if let Ok(mut k) = self.host_key.lock() {
            *k = Some(fp);
        }
        Ok(true)
    }
}

/// One command's stdout and exit status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Exit status, if the server sent one.
    pub status: Option<u32>,
}

/// Runs `cmd` on a new session channel.
async fn exec(h: &client::Handle<Client>, cmd: &str) -> Result<Output, String> {
    let run = async {
        let mut ch = h.channel_open_session().await.map_err(|e| e.to_string())?;
        ch.exec(true, cmd).await.map_err(|e| e.to_string())?;
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut status = None;
        while let Some(msg) = ch.wait().await {
            match msg {
                ChannelMsg::Data { data } if out.len() < MAX_OUTPUT => out.extend_from_slice(&data),
                ChannelMsg::ExtendedData { data, .. } if err.len() < MAX_OUTPUT => {
                    err.extend_from_slice(&data)
                }
                ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                ChannelMsg::Close => break,
                _ => {}
            }
        }
        Ok(Output {
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: String::from_utf8_lossy(&err).into_owned(),
            status,
        })
    };
    tokio::time::timeout(PROBE_TIMEOUT, run)
        .await
        .map_err(|_| format!("no answer to {cmd:?} within {PROBE_TIMEOUT:?}"))?
}

/// Logs in and runs the bot checks; `None` when no login was possible (the
/// checks are then reported skipped or failed).
pub async fn run(
    t: &Target,
    s: &SshTarget,
    out: &mut Vec<CheckResult>,
    obs: &mut Observed,
) -> Option<ShellSeen> {
    let ids = [
        CPUINFO_NPROC,
        UNAME_OS_RELEASE,
        ARITH,
        REDIRECT,
        WHICH_PYTHON3,
        TMP_ROOT_MODES,
        PS_SERVICES,
        UPTIME_PROC,
    ];
    let host_key = Arc::new(Mutex::new(None));
    let handle = tokio::time::timeout(
        PROBE_TIMEOUT,
        client::connect(
            Arc::new(client::Config::default()),
            s.addr,
            Client {
                host_key: host_key.clone(),
            },
        ),
    )
    .await;
    obs.ssh_host_key = host_key.lock().ok().and_then(|k| k.clone());
    let Some((user, password)) = &s.login else {
        out.push(CheckResult::skip(LOGIN, "the persona accepts no account"));
        for id in ids {
            out.push(CheckResult::skip(id, "no account to log in with"));
        }
        return None;
    };
    let mut h = match handle {
        Ok(Ok(h)) => h,
        Ok(Err(e)) => return failed(out, &ids, format!("key exchange failed: {e}")),
        Err(_) => return failed(out, &ids, "no key exchange within the timeout".into()),
    };
    match h
        .authenticate_password(user.clone(), password.clone())
        .await
    {
        Ok(r) if r.success() => out.push(CheckResult::pass(LOGIN)),
        Ok(_) => return failed(out, &ids, format!("{user}'s password refused")),
        Err(e) => return failed(out, &ids, format!("login failed: {e}")),
    }
    let x = |cmd: &'static str| {
        let h = &h;
        async move { exec(h, cmd).await }
    };
    let cpus = x("cat /proc/cpuinfo | grep name | wc -l").await;
    let nproc = x("nproc").await;
    out.push(match (&cpus, &nproc) {
        (Ok(c), Ok(n)) => {
            let c = c.stdout.trim();
            let n = n.stdout.trim();
            if c == n && n.parse::<u32>().is_ok_and(|n| n > 0) {
                CheckResult::pass(CPUINFO_NPROC)
            } else {
                CheckResult::tell(
                    CPUINFO_NPROC,
                    format!("nproc's count ({n}) from the pipeline"),
                    c,
                )
            }
        }
        (Err(e), _) | (_, Err(e)) => {
            CheckResult::tell(CPUINFO_NPROC, "both commands answered", e.clone())
        }
    });
    let uname = x("uname -a").await.unwrap_or_default();
    let os_release = x("cat /etc/os-release").await.unwrap_or_default();
    out.push(uname_check(t, &uname.stdout, &os_release.stdout));
    let arith = x("echo $((1+2))").await;
    out.push(match arith {
        Ok(o) => CheckResult::compare(ARITH, "3\n", &o.stdout),
        Err(e) => CheckResult::tell(ARITH, "3\n", e),
    });
    let redir = x("echo x > /tmp/a; cat /tmp/a").await;
    out.push(match redir {
        Ok(o) => CheckResult::compare(REDIRECT, "x\n", &o.stdout),
        Err(e) => CheckResult::tell(REDIRECT, "x\n", e),
    });
    let which = x("which python3").await.unwrap_or_default();
    let py = x("python3 --version").await.unwrap_or_default();
    out.push(which_check(t, &which, &py));
    let modes = x("ls -ld /tmp /root").await.unwrap_or_default();
    out.push(modes_check(&modes.stdout));
    let ps = x("ps aux").await.unwrap_or_default();
    out.push(ps_check(t, &ps.stdout));
    let up = x("cat /proc/uptime; uptime").await.unwrap_or_default();
    out.push(uptime_check(&up.stdout));
    obs.ps = Some(ps.stdout);
    obs.cpuinfo = x("cat /proc/cpuinfo").await.ok().map(|o| o.stdout);
    obs.etc_dates = x("ls -l /etc").await.ok().map(|o| etc_dates(&o.stdout));
    let _ = h
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
    Some(ShellSeen {
        os_release: os_release.stdout,
        uname: uname.stdout,
    })
}

/// Every shell check a tell, with the reason the session did not happen.
fn failed(out: &mut Vec<CheckResult>, ids: &[&'static str], why: String) -> Option<ShellSeen> {
    out.push(CheckResult::tell(
        LOGIN,
        "the persona's account logs in",
        why.clone(),
    ));
    for id in ids {
        out.push(CheckResult::tell(id, "a shell session", why.clone()));
    }
    None
}

/// The `KEY=value` of an os-release text, unquoted.
pub fn os_release_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let v = l.strip_prefix(key)?.strip_prefix('=')?;
        Some(v.trim_matches('"').to_owned())
    })
}

/// What the kernel build of each distro family looks like in `uname -a`, and
/// how its coreutils end the line.
fn kernel_marks(os_id: &str, version_id: &str) -> Option<(Vec<String>, &'static str)> {
    let major = version_id.split('.').next().unwrap_or(version_id);
    Some(match os_id {
        "debian" => (
            vec!["-amd64 ".into(), " Debian ".into()],
            " x86_64 GNU/Linux",
        ),
        "kali" => (vec!["-amd64 ".into(), " Kali ".into()], " x86_64 GNU/Linux"),
        "ubuntu" => (
            vec!["-generic ".into(), "-Ubuntu ".into()],
            " x86_64 x86_64 x86_64 GNU/Linux",
        ),
        "rocky" | "centos" | "rhel" | "almalinux" => (
            vec![format!(".el{major}")],
            " x86_64 x86_64 x86_64 GNU/Linux",
        ),
        "fedora" => (
            vec![format!(".fc{major}.")],
            " x86_64 x86_64 x86_64 GNU/Linux",
        ),
        "arch" => (vec!["-arch".into()], " x86_64 GNU/Linux"),
        "alpine" => (vec!["-lts ".into()], " x86_64 Linux"),
        _ => return None,
    })
}

fn uname_check(t: &Target, uname: &str, os_release: &str) -> CheckResult {
    let uname = uname.trim_end();
    let id = os_release_value(os_release, "ID").unwrap_or_default();
    let version_id = os_release_value(os_release, "VERSION_ID").unwrap_or_default();
    if id != t.distro.os_id {
        return CheckResult::tell(
            UNAME_OS_RELEASE,
            format!("/etc/os-release ID={}", t.distro.os_id),
            format!("ID={id}"),
        );
    }
    let Some((marks, tail)) = kernel_marks(&id, &version_id) else {
        return CheckResult::skip(UNAME_OS_RELEASE, format!("no kernel naming known for {id}"));
    };
    let ok = uname.starts_with("Linux ")
        && marks.iter().all(|m| uname.contains(m.as_str()))
        && uname.ends_with(tail);
    if ok {
        CheckResult::pass(UNAME_OS_RELEASE)
    } else {
        CheckResult::tell(
            UNAME_OS_RELEASE,
            format!(
                "Linux … containing {} and ending {tail:?}, as on {id} {version_id}",
                marks.join(" and ")
            ),
            uname,
        )
    }
}

fn which_check(t: &Target, which: &Output, py: &Output) -> CheckResult {
    let found = which.status == Some(0) && which.stdout.trim_end().ends_with("/python3");
    let runs =
        py.status == Some(0) && format!("{}{}", py.stdout, py.stderr).starts_with("Python 3.");
    let persona_has = t.distro.python3.is_some();
    let seen = format!(
        "which: {:?} (exit {:?}); python3 --version: {:?} (exit {:?})",
        which.stdout.trim_end(),
        which.status,
        format!("{}{}", py.stdout, py.stderr).trim_end(),
        py.status
    );
    let agrees = if persona_has {
        found && runs
    } else {
        which.status == Some(1) && which.stdout.is_empty() && py.status == Some(127)
    };
    if agrees {
        CheckResult::pass(WHICH_PYTHON3)
    } else if persona_has {
        CheckResult::tell(
            WHICH_PYTHON3,
            "which prints /usr/bin/python3 and python3 --version prints Python 3.x",
            seen,
        )
    } else {
        CheckResult::tell(
            WHICH_PYTHON3,
            "which finds nothing (exit 1) and python3 is not found (exit 127)",
            seen,
        )
    }
}

fn modes_check(ls: &str) -> CheckResult {
    let mode_of = |path: &str| {
        ls.lines()
            .find(|l| l.split_whitespace().last() == Some(path))
            .and_then(|l| l.split_whitespace().next())
            .map(str::to_owned)
    };
    let tmp = mode_of("/tmp");
    let root = mode_of("/root");
    let want = "/tmp drwxrwxrwt, /root drwx------";
    let seen = format!(
        "/tmp {}, /root {}",
        tmp.as_deref().unwrap_or("missing"),
        root.as_deref().unwrap_or("missing")
    );
    CheckResult::compare(TMP_ROOT_MODES, want, &seen)
}

/// The process names each web server shows in `ps aux` on this distro family.
fn web_process(kind: WebServer, rpm: bool) -> &'static str {
    match kind {
        WebServer::Nginx => "nginx: master process",
        WebServer::Apache if rpm => "/usr/sbin/httpd",
        WebServer::Apache => "/usr/sbin/apache2",
        WebServer::Other => "",
    }
}

fn ps_check(t: &Target, ps: &str) -> CheckResult {
    let rpm = matches!(t.distro.packaging, decnet_core::persona::Packaging::Rpm);
    let mut want = vec!["sshd".to_owned()];
    let mut not = Vec::new();
    let runs = t.web_server();
    for kind in [WebServer::Nginx, WebServer::Apache] {
        let name = web_process(kind, rpm);
        if runs == Some(kind) {
            want.push(name.to_owned());
        } else {
            not.push(name.to_owned());
            // Neither spelling of Apache may appear on a box that runs none.
            if kind == WebServer::Apache {
                not.push(web_process(kind, !rpm).to_owned());
            }
        }
    }
    let missing: Vec<&String> = want.iter().filter(|w| !ps.contains(w.as_str())).collect();
    let extra: Vec<&String> = not.iter().filter(|n| ps.contains(n.as_str())).collect();
    if missing.is_empty() && extra.is_empty() && ps.starts_with("USER ") {
        CheckResult::pass(PS_SERVICES)
    } else {
        CheckResult::tell(
            PS_SERVICES,
            format!(
                "ps aux with {} and without {}",
                want.join(", "),
                not.join(", ")
            ),
            format!(
                "missing {missing:?}, extra {extra:?}, header {:?}",
                ps.lines().next().unwrap_or("")
            ),
        )
    }
}

/// Minutes of uptime `uptime` prints (`up 3 days, 4:05,` / `up 17 min,` / `up 2:01,`).
pub fn uptime_minutes(line: &str) -> Option<u64> {
    let rest = line.split_once(" up ")?.1;
    let mut total = 0u64;
    for part in rest.split(',').take(3) {
        let p = part.trim();
        if let Some(d) = p.strip_suffix(" days").or_else(|| p.strip_suffix(" day")) {
            total += d.trim().parse::<u64>().ok()? * 1440;
        } else if let Some(m) = p.strip_suffix(" min") {
            total += m.trim().parse::<u64>().ok()?;
            break;
        } else if let Some((h, m)) = p.split_once(':') {
            total += h.trim().parse::<u64>().ok()? * 60 + m.trim().parse::<u64>().ok()?;
            break;
        } else {
            break;
        }
    }
    Some(total)
}

fn uptime_check(out: &str) -> CheckResult {
    let mut lines = out.lines();
    let proc_secs: Option<f64> = lines
        .next()
        .and_then(|l| l.split_whitespace().next())
        .and_then(|s| s.parse().ok());
    let up = lines.next().and_then(uptime_minutes);
    match (proc_secs, up) {
        (Some(s), Some(m)) if (s / 60.0 - m as f64).abs() <= 2.0 => CheckResult::pass(UPTIME_PROC),
        _ => CheckResult::tell(
            UPTIME_PROC,
            "uptime's up-time within 2 minutes of /proc/uptime",
            out.trim_end(),
        ),
    }
}

/// The date columns of `ls -l` (month, day, time or year), one per file.
pub fn etc_dates(ls: &str) -> Vec<String> {
    ls.lines()
        .filter(|l| !l.starts_with("total"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some(format!("{} {} {}", f.get(5)?, f.get(6)?, f.get(7)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_lines_become_minutes() {
        assert_eq!(
            uptime_minutes(" 10:01:02 up 3 days,  4:05,  1 user,  load average: 0.00, 0.01, 0.05"),
            Some(3 * 1440 + 245)
        );
        assert_eq!(
            uptime_minutes(" 10:01:02 up 17 min,  1 user,  load average: 0.00"),
            Some(17)
        );
        assert_eq!(
            uptime_minutes(" 10:01:02 up 1 day, 12 min,  2 users"),
            Some(1452)
        );
        assert_eq!(uptime_minutes("garbage"), None);
        assert_eq!(uptime_check("273600.12 500000.00\n 10:01:02 up 3 days,  4:00,  1 user,  load average: 0.00, 0.01, 0.05\n").status, crate::Status::Pass);
        assert_eq!(
            uptime_check("73600.12 5.00\n 10:01:02 up 3 days,  4:00,  1 user\n").status,
            crate::Status::Tell
        );
    }

    #[test]
    fn modes_are_read_from_ls_ld() {
        let real = "drwxrwxrwt 10 root root 4096 Dec  2 00:50 /tmp\ndrwx------  5 root root 4096 Nov 30 11:02 /root\n";
        assert_eq!(modes_check(real).status, crate::Status::Pass);
        let bad = "drwxr-xr-x 10 root root 4096 Dec  2 00:50 /tmp\ndrwx------  5 root root 4096 Nov 30 11:02 /root\n";
        assert_eq!(modes_check(bad).status, crate::Status::Tell);
    }

    #[test]
    fn os_release_values_are_unquoted() {
        let t = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\nID=debian\n";
        assert_eq!(os_release_value(t, "ID").as_deref(), Some("debian"));
        assert_eq!(os_release_value(t, "VERSION_ID").as_deref(), Some("12"));
        assert_eq!(os_release_value(t, "ID_LIKE"), None);
    }

    #[test]
    fn etc_dates_take_the_three_date_columns() {
        let ls = "total 8\n-rw-r--r-- 1 root root 2981 Feb 10  2024 adduser.conf\ndrwxr-xr-x 2 root root 4096 Mar  3 10:12 alternatives\n";
        assert_eq!(etc_dates(ls), ["Feb 10 2024", "Mar 3 10:12"]);
    }
}
