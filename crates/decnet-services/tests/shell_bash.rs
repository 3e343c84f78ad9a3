//! The decky's shell side by side with real `/bin/bash` over the same persona files.
//!
//! As root, each command line runs in a private mount and UTS namespace
//! (`unshare --mount --uts --fork`): a temp root holds the persona's files
//! (materialised from the decky's own shell), the host's `/usr` is bound
//! read-only over its `/usr`, the hostname is the persona's, and `bash -c LINE`
//! runs chrooted there. Its stdout+stderr and exit status must equal what the
//! decky's shell answers to the same exec request. Nothing outside the
//! namespace changes. Lines whose real output depends on the host (ps, date,
//! uptime, free, df, uname -a) are compared by shape in a second test.

use decnet_testkit::is_root;
use std::path::Path;
use std::process::Command;

use decnet_core::persona::distro;
use decnet_services::shell::{Persona, Shell};

/// Files the command lines read, copied from the persona into the temp root.
const FILES: &[&str] = &[
    "/etc/passwd",
    "/etc/group",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/issue",
    "/etc/shells",
    "/etc/crontab",
    "/etc/resolv.conf",
    "/etc/debian_version",
    "/etc/fstab",
    "/etc/shadow",
    "/etc/ssh/sshd_config",
    "/proc/cpuinfo",
    "/proc/version",
    "/root/.bashrc",
    "/root/.profile",
    "/root/.bash_history",
    "/home/admin/.bashrc",
    "/home/admin/.profile",
    "/home/admin/.bash_history",
    "/home/admin/.bash_logout",
    "/proc/meminfo",
    "/var/www/html/index.html",
];

/// What bots and intruders run first, compared byte for byte (output and status).
const LINES: &[&str] = &[
    "echo hello",
    "echo \"a  b\"   c",
    "echo 'single $HOME'",
    "echo \"double $HOME\"",
    "echo a\\ b",
    "echo -n x; echo y",
    "echo -e 'a\\tb\\nc'",
    "echo $((1+2*3))",
    "echo $(( (5+3) / 2 ))",
    "echo $((7 % 3)) $((2**8))",
    "x=5; echo $((x*2))",
    "echo $(echo nested $(echo deep))",
    "echo `echo backtick`",
    "A=1; B=$A$A; echo $B",
    "export FOO=bar; echo $FOO",
    "echo ${UNSET:-default}",
    "X=hello; echo ${#X}",
    "X=/usr/bin/ls; echo ${X##*/} ${X%/*}",
    "X=abcabc; echo ${X/b/B} ${X//b/B}",
    "false; echo $?",
    "true && echo yes || echo no",
    "false && echo yes || echo no",
    "ls /nonexistent",
    "ls /nonexistent 2>/dev/null; echo $?",
    "cat /nonexistent 2>&1 | wc -l",
    "foo",
    "foo 2>/dev/null; echo $?",
    "/bin/nonexistent",
    "cd /nonexistent",
    "echo a ;;",
    "if true; then",
    "echo 'unterminated",
    ")",
    "fi",
    "for i in 1 2 3; do echo $i; done",
    "for f in a b; do echo \"item $f\"; done | wc -l",
    "i=0; while [ $i -lt 3 ]; do echo $i; i=$((i+1)); done",
    "if [ -d /tmp ]; then echo dir; fi",
    "if [ -f /etc/passwd ]; then echo file; else echo none; fi",
    "[ -e /nope ] || echo missing",
    "test 1 -eq 1 && echo eq",
    "case linux in lin*) echo match;; *) echo no;; esac",
    "f() { echo in f $1; }; f arg",
    "{ echo a; echo b; } | wc -l",
    "(cd /tmp && pwd); pwd",
    "cat <<< \"here string\"",
    "cat <<EOF\nline1 $HOME\nline2\nEOF",
    "cat <<'EOF'\nliteral $HOME\nEOF",
    "read a b <<< \"x y\"; echo $b $a",
    "echo abc | tr a-z A-Z",
    "echo hello | rev",
    "echo 'a:b:c' | cut -d: -f2",
    "printf '%s-%d\\n' x 5",
    "printf '%05d|%-4s|\\n' 42 ab",
    "printf 'a\\x41\\n'",
    "seq 3",
    "seq 2 2 8 | tail -1",
    "echo -e '3\\n1\\n2' | sort",
    "echo -e '3\\n1\\n2' | sort -r | head -1",
    "echo -e 'b\\na\\nb' | sort | uniq -c",
    "echo -e '10\\n9\\n100' | sort -n",
    "echo hello world | awk '{print $2}'",
    "echo a:b:c | awk -F: '{print $3}'",
    "echo -e '1\\n2\\n3' | awk '{s+=$1} END {print s}'",
    "echo hello | sed 's/l/L/g'",
    "echo -e 'a\\nb\\nc' | sed -n '2p'",
    "echo -e 'a\\nb\\nc' | sed '2d'",
    "echo hello | base64",
    "echo aGVsbG8K | base64 -d",
    "echo -n abc | md5sum",
    "echo -n abc | sha256sum",
    "echo -n abc | wc -c",
    "echo one two three | wc -w",
    "cat /proc/cpuinfo | grep name | wc -l",
    "grep -c processor /proc/cpuinfo",
    "grep 'model name' /proc/cpuinfo | head -1",
    "cat /proc/cpuinfo | grep \"model name\" | uniq",
    "head -1 /etc/passwd",
    "tail -1 /etc/passwd",
    "grep root /etc/passwd",
    "grep -v nologin /etc/passwd",
    "cut -d: -f1 /etc/passwd | head -5",
    "awk -F: '$3 >= 1000 {print $1}' /etc/passwd",
    "wc -l /etc/passwd",
    "wc -l < /etc/passwd",
    "cat /etc/passwd | wc -l",
    "grep -c . /etc/group",
    "grep ^ID= /etc/os-release",
    "cat /etc/os-release | grep PRETTY_NAME",
    "cat /etc/hostname",
    "cat /etc/debian_version",
    "cut -d' ' -f1-3 /proc/version",
    "id",
    "id -u",
    "id -un",
    "whoami",
    "echo $HOME $USER",
    "pwd",
    "cd /tmp && pwd",
    "cd /tmp; cd; pwd",
    "echo hi > /tmp/t; cat /tmp/t",
    "echo a >> /tmp/t; echo b >> /tmp/t; cat /tmp/t",
    "echo hi > /tmp/t; wc -c < /tmp/t",
    "mkdir -p /tmp/a/b && ls /tmp/a",
    "touch /tmp/f && ls /tmp",
    "touch /tmp/f; rm /tmp/f; ls /tmp/f",
    "mkdir /tmp/d; rmdir /tmp/d; echo $?",
    "echo x > /tmp/f; cp /tmp/f /tmp/g; cat /tmp/g",
    "echo x > /tmp/f; mv /tmp/f /tmp/h; ls /tmp",
    "echo x > /tmp/f; chmod 755 /tmp/f; stat -c %a /tmp/f",
    "echo x > /tmp/f; chmod +x /tmp/f; ls -l /tmp/f | cut -c1-10",
    "stat -c '%a %U %G' /tmp /root /etc /etc/passwd",
    "ls -ld /tmp | cut -c1-10",
    "rm /tmp/nope",
    "mkdir /tmp",
    "which ls",
    "which nonexistentcmd; echo $?",
    "command -v bash",
    "type cd",
    "sh -c 'echo from sh'",
    "bash -c 'echo $((6*7))'",
    "sh -c 'foo'",
    "echo x | xargs echo y",
    "echo 'a b' | while read x y; do echo $y; done",
    "ls /",
    "ls /etc/ssh",
    "basename /usr/bin/ls",
    "dirname /usr/bin/ls",
    "hostname",
    "echo $((10/0))",
    "echo ${#HOME}",
    "grep bash /etc/shells",
    "tr -d '\\n' < /etc/hostname; echo",
    "uname",
    "uname -s -m",
    "echo $(( 0x10 ))",
    "touch /tmp/a.sh; ls /tmp/*.sh",
    "echo /etc/host*",
    "echo /nope*",
    "X=\"a b\"; for w in $X; do echo $w; done",
    "X=\"a b\"; for w in \"$X\"; do echo $w; done",
    "set -- a b c; echo $# $2",
    "exit 3",
    "echo x | grep -q x && echo found",
    "echo abc | grep -o b",
    "echo ABC | grep -i abc",
    "echo hello | head -c 3; echo",
    "echo a b c | cut -d' ' -f2-",
    "echo -e 'x\\ny' | tac",
    "echo -e 'x\\ny' | nl",
    "printf '%s\\n' a b c | tail -n 2",
    "echo $(( 3 > 2 ))",
    "v=$(cat /etc/hostname); echo \"[$v]\"",
    "cat /etc/shells | sort | head -2",
    "grep -E 'root|admin' /etc/passwd | cut -d: -f1",
    "awk 'NR==2' /etc/passwd",
    "sed -n '1p' /etc/passwd",
    "ls /root",
    "ls -a /home/admin",
    "cat /proc/cpuinfo | grep name | head -n 1 | awk '{print $4,$5,$6,$7,$8,$9;}'",
    "grep -c ^processor /proc/cpuinfo",
    "cd ~ && rm -rf .ssh && mkdir .ssh && echo \"ssh-rsa AAAAB3Nza x@y\" >> .ssh/authorized_keys && chmod -R go= ~/.ssh && stat -c '%a %n' .ssh .ssh/authorized_keys",
    "echo -e \"\\x61\\x62\"",
    "echo \"root:pass\" | base64",
    "cat /etc/issue",
    "echo $SHELL; echo $PATH",
    "export HISTFILE=/dev/null; unset HISTFILE; history -c; echo cleared",
    "head -n 1 /etc/issue",
    "cat /etc/passwd | grep -v nologin | grep -v false | cut -d: -f1",
    "id admin",
    "groups",
    "echo test > /dev/null && echo ok",
    "printf \"%s\" \"$(echo 1)\"; echo",
    "for i in $(seq 1 3); do echo -n $i; done; echo",
    "[ \"$(id -u)\" = \"0\" ] && echo root",
    "cat /etc/os-release | head -2",
    "wc -c /etc/hostname",
    "ls /home",
    "x=$(echo \"a b c\" | wc -w); echo $x",
    "echo \"${HOME}/x\"",
    "cd /tmp; echo > a; echo > b; ls; rm a b; ls",
    "mkdir /tmp/x && cd /tmp/x && pwd && cd .. && pwd",
    "echo -e '#!/bin/sh\\necho dropped' > /tmp/d.sh; chmod +x /tmp/d.sh; /tmp/d.sh",
    "echo 'echo viash' > /tmp/s; sh /tmp/s",
    "cat /tmp/none 2>/dev/null || echo nofile",
    "ls -d /etc /tmp",
    "true | false; echo $?",
    "! false; echo $?",
    "echo a | cat - ; echo b",
    "sleep 0; echo slept",
    "echo $(( 5 > 3 && 2 > 1 ))",
    "A=1 sh -c 'echo $A'",
    "/tmp/nothing.sh",
    "echo hi > /tmp/noexec; /tmp/noexec",
    "cat /etc/shadow | head -1 | cut -d: -f1",
    "ls -la /tmp | head -1",
    "echo $((2#1010)) $((8#17))",
    "echo {a,b}",
    "echo ~root",
    "printf 'a\\\\b\\n' | { read x; echo \"$x\"; }",
    "printf 'a\\\\b\\n' | { read -r x; echo \"$x\"; }",
    "while read -r l; do echo \"<$l>\"; done < /etc/hostname",
];

fn have(bin: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {bin} >/dev/null"))
        .status()
        .is_ok_and(|s| s.success())
}

fn persona() -> Persona {
    Persona::new(
        distro("debian").unwrap(),
        "web-prod-03",
        "10.0.0.5".parse().unwrap(),
        vec!["root".into(), "admin".into()],
    )
}

/// Copies the persona's directories (with modes and owners) and [`FILES`] into `root`.
fn materialise(root: &Path) {
    let mut sh = Shell::new(persona(), "root");
    let (dirs, _, _) = sh.exec("find / -type d");
    for d in String::from_utf8_lossy(&dirs).lines() {
        if d.starts_with("/usr") || d == "/" {
            continue;
        }
        let (meta, _, _) = sh.exec(&format!("stat -c '%a %u %g' {d}"));
        let meta = String::from_utf8_lossy(&meta).into_owned();
        let f: Vec<&str> = meta.split_whitespace().collect();
        let path = root.join(d.trim_start_matches('/'));
        std::fs::create_dir_all(&path).unwrap();
        run(&format!(
            "chmod {} '{}' && chown {}:{} '{}'",
            f[0],
            path.display(),
            f[1],
            f[2],
            path.display()
        ));
    }
    for (link, target) in [
        ("bin", "usr/bin"),
        ("sbin", "usr/sbin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
        ("etc/os-release", "../usr/lib/os-release"),
    ] {
        std::os::unix::fs::symlink(target, root.join(link)).unwrap();
    }
    std::fs::create_dir_all(root.join("usr")).unwrap();
    std::fs::create_dir_all(root.join("etc/alternatives")).unwrap();
    std::fs::write(root.join("dev/null"), b"").unwrap();
    for f in FILES {
        let (data, _, st) = sh.exec(&format!("cat {f}"));
        assert_eq!(st, 0, "{f} is in the persona");
        let path = root.join(f.trim_start_matches('/'));
        std::fs::write(&path, &data).unwrap();
        let (meta, _, _) = sh.exec(&format!("stat -c '%a %u %g' {f}"));
        let meta = String::from_utf8_lossy(&meta).into_owned();
        let m: Vec<&str> = meta.split_whitespace().collect();
        run(&format!(
            "chmod {} '{}' && chown {}:{} '{}'",
            m[0],
            path.display(),
            m[1],
            m[2],
            path.display()
        ));
    }
}

fn run(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().unwrap();
    assert!(st.success(), "{cmd}");
}

/// Real bash's stdout+stderr and status for `line`, chrooted into `root`.
fn real_bash(root: &Path, line: &str) -> (Vec<u8>, i32) {
    let script = r#"
        set -e
        R="$1"
        mount --bind /usr "$R/usr"
        mount -o remount,bind,ro "$R/usr"
        mount --bind /dev/null "$R/dev/null"
        # Debian's awk and which are alternatives symlinks into /etc/alternatives.
        if [ -d /etc/alternatives ]; then mount --bind /etc/alternatives "$R/etc/alternatives"; fi
        hostname web-prod-03
        set +e
        chroot "$R" /usr/bin/env -i -C /root HOME=/root USER=root LOGNAME=root SHELL=/bin/bash \
            PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 TERM=xterm-256color \
            /bin/sh -c 'exec bash -c "$1" 2>&1' sh "$2"
    "#;
    let out = Command::new("unshare")
        .args(["--mount", "--uts", "--fork", "sh", "-c", script, "sh"])
        .arg(root)
        .arg(line)
        .output()
        .unwrap();
    assert!(
        out.stderr.is_empty(),
        "harness: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (out.stdout, out.status.code().unwrap_or(-1))
}

fn clean_tmp(root: &Path) {
    let tmp = root.join("tmp");
    for e in std::fs::read_dir(&tmp).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            std::fs::remove_dir_all(&p).unwrap();
        } else {
            std::fs::remove_file(&p).unwrap();
        }
    }
}

fn skip_reason() -> Option<&'static str> {
    if !is_root() {
        return Some("not root: the side-by-side bash test needs mount namespaces and chroot");
    }
    if !have("unshare") || !have("chroot") || !Path::new("/bin/bash").exists() {
        return Some("unshare, chroot or /bin/bash missing");
    }
    None
}

#[test]
fn the_decky_shell_answers_as_real_bash_does() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    materialise(&root);
    assert!(LINES.len() >= 100, "{} lines", LINES.len());
    let mut diffs = Vec::new();
    let mut skipped = Vec::new();
    for line in LINES {
        // A program this host lacks (a container's Debian may miss awk or which) cannot be compared.
        if let Some(p) = ["awk", "which"]
            .into_iter()
            .find(|p| line.contains(p) && !have(p))
        {
            skipped.push(format!("{line:?} (host has no {p})"));
            continue;
        }
        clean_tmp(&root);
        let (want, want_status) = real_bash(&root, line);
        let mut sh = Shell::new(persona(), "root");
        let (got, _, got_status) = sh.exec(line);
        let got_status = i32::try_from(got_status).unwrap();
        if got != want || got_status != want_status {
            diffs.push(format!(
                "--- {line:?}\n bash ({want_status}): {:?}\n decky ({got_status}): {:?}",
                String::from_utf8_lossy(&want),
                String::from_utf8_lossy(&got)
            ));
        }
    }
    if !skipped.is_empty() {
        eprintln!("not compared on this host:\n{}", skipped.join("\n"));
    }
    assert!(
        LINES.len() - skipped.len() >= 100,
        "only {} lines compared",
        LINES.len() - skipped.len()
    );
    assert!(
        diffs.is_empty(),
        "{} of {} lines differ:\n{}",
        diffs.len(),
        LINES.len(),
        diffs.join("\n")
    );
}

/// Lines whose real output depends on the host: the first (header) line must match and
/// the rest must have the same shape.
#[test]
fn host_dependent_output_has_the_real_shape() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    materialise(&root);
    // The header lines, words compared (column widths follow the host's data and pid_max).
    for line in ["free -m", "df -h", "ps aux", "ps -ef"] {
        let want = Command::new("sh")
            .arg("-c")
            .arg(format!("{line} | head -1"))
            .output()
            .unwrap()
            .stdout;
        let mut sh = Shell::new(persona(), "root");
        let (got, _, _) = sh.exec(&format!("{line} | head -1"));
        let words = |b: &[u8]| {
            String::from_utf8_lossy(b)
                .split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(words(&got), words(&want), "{line}");
    }
    let mut sh = Shell::new(persona(), "root");
    let (up, _, _) = sh.exec("uptime");
    let up = String::from_utf8_lossy(&up).into_owned();
    assert!(
        up.starts_with(' ')
            && up.contains(" up 41 days, ")
            && up.contains(",  1 user,  load average: "),
        "{up}"
    );
    let (d, _, _) = sh.exec("date");
    assert!(String::from_utf8_lossy(&d)
        .trim_end()
        .ends_with(&chrono::Utc::now().format(" UTC %Y").to_string()));
    let (u, _, _) = sh.exec("uname -a");
    let (want, _) = real_bash(&root, "uname -a");
    assert_eq!(
        String::from_utf8_lossy(&u)
            .split(' ')
            .rev()
            .take(2)
            .collect::<Vec<_>>(),
        String::from_utf8_lossy(&want)
            .split(' ')
            .rev()
            .take(2)
            .collect::<Vec<_>>(),
        "Debian's uname -a ends the same way"
    );
}
