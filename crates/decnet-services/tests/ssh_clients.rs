//! The SSH emulator against the client libraries bots are built on: paramiko
//! (which sends `SERVICE_REQUEST ssh-userauth` again before every attempt),
//! asyncssh (several passwords on one connection), libssh (`ssh-python`) and Go's
//! golang.org/x/crypto/ssh (built against Debian's packaged source).
//! Every attempt must be answered, as OpenSSH answers it, and captured. Each
//! script gives up after 20 s of silence, so an unanswered attempt fails the
//! test instead of hanging it.
//!
//! Skipped with a message when a client is missing (apt: python3-paramiko,
//! python3-asyncssh, golang-go, golang-golang-x-crypto-dev; pip: ssh-python), and
//! failed instead under CI, whose .ci/run installs them.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use decnet_core::event::SecretKind;
use decnet_core::{Event, EventType};
use serde_json::Value;
use tokio::process::Command;

use crate::harness::{decky, serve, svc, unique_ip, Served};

const FAST: &[(&str, &str)] = &[("auth_delay_ms", "5")];

async fn start(dir: &Path, name: &str) -> Served {
    let d = decky(name, &unique_ip(), dir, vec![svc("ssh", FAST)]);
    serve(d, "ssh").await
}

/// The first Python that can import `module`: the one on PATH (pip), else Debian's
/// (`apt-get install python3-paramiko python3-asyncssh`). None, with the reason
/// printed, when there is none; under CI that fails the test, since .ci/run installs them.
async fn python_with(module: &str) -> Option<&'static str> {
    for python in ["python3", "/usr/bin/python3"] {
        let ok = Command::new(python)
            .args(["-c", &format!("import {module}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await
            .is_ok_and(|s| s.success());
        if ok {
            return Some(python);
        }
    }
    let package = match module {
        "ssh" => "ssh-python",
        m => m,
    };
    assert!(
        std::env::var_os("CI").is_none(),
        "no python3 can import {module}, but .ci/run should have installed {package}"
    );
    eprintln!("SKIPPED: no python3 with the {module} module (pip install {package})");
    None
}

/// Runs a client script against `s` and returns the JSON it prints last.
async fn run_script(python: &str, s: &Served, script: &str) -> Value {
    let mut c = Command::new(python);
    c.arg("-c")
        .arg(script)
        .arg(s.addr.ip().to_string())
        .arg(s.addr.port().to_string())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(90), c.output())
        .await
        .expect("client script finished in time")
        .expect("python3 ran");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "script failed: {stdout}\n{stderr}");
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}\n{stderr}"))
}

/// The login events of the connection, in order, until `n` have arrived.
async fn logins(s: &mut Served, n: usize) -> Vec<Event> {
    let mut out = Vec::new();
    while out.len() < n {
        let e = s
            .wait_for(Duration::from_secs(20), |e| {
                matches!(
                    e.event_type,
                    EventType::LoginAttempt | EventType::LoginSuccess
                )
            })
            .await
            .unwrap_or_else(|| panic!("only {} of {n} login events: {out:?}", out.len()));
        out.push(e);
    }
    out
}

/// (method, principal, password) of a login event.
fn attempt(e: &Event) -> (String, String, Option<String>) {
    let method = e.fields["method"].as_str().unwrap().to_owned();
    match &e.credential {
        Some(c) => (method, c.principal.clone(), c.secret_printable.clone()),
        None => (method, e.fields["user"].as_str().unwrap().to_owned(), None),
    }
}

fn owned(v: &[(&str, &str, Option<&str>)]) -> Vec<(String, String, Option<String>)> {
    v.iter()
        .map(|(m, u, p)| (m.to_string(), u.to_string(), p.map(str::to_owned)))
        .collect()
}

const PARAMIKO_NONE_THEN_PASSWORDS: &str = r#"
import json, socket, sys
import paramiko
sock = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
t = paramiko.Transport(sock)
t.banner_timeout = 20
t.auth_timeout = 20
t.start_client(timeout=20)
out = []
try:
    t.auth_none("alice")
    out.append("accepted")
except paramiko.BadAuthenticationType as e:
    out.append(",".join(e.allowed_types))
for pw in ["pw-one", "pw two", "pw-three"]:
    try:
        t.auth_password("alice", pw)
        out.append("accepted")
    except paramiko.BadAuthenticationType as e:
        out.append("bad type " + ",".join(e.allowed_types))
    except paramiko.AuthenticationException as e:
        # "Authentication timeout." is the hang this test exists for.
        out.append(str(e))
t.close()
print(json.dumps(out))
"#;

#[tokio::test]
async fn paramiko_none_then_three_passwords_on_one_connection_are_all_answered_and_captured() {
    let Some(python) = python_with("paramiko").await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "ssh-paramiko-none").await;
    let answers = run_script(python, &s, PARAMIKO_NONE_THEN_PASSWORDS).await;
    // Each SERVICE_REQUEST got its SERVICE_ACCEPT and each attempt its USERAUTH_FAILURE
    // listing OpenSSH's methods; a timeout would read "Authentication timeout.".
    assert_eq!(
        answers,
        serde_json::json!([
            "publickey,password",
            "Authentication failed.",
            "Authentication failed.",
            "Authentication failed."
        ])
    );
    let events = logins(&mut s, 4).await;
    let got: Vec<_> = events.iter().map(attempt).collect();
    assert_eq!(
        got,
        owned(&[
            ("none", "alice", None),
            ("password", "alice", Some("pw-one")),
            ("password", "alice", Some("pw two")),
            ("password", "alice", Some("pw-three")),
        ])
    );
    assert!(events
        .iter()
        .all(|e| e.event_type == EventType::LoginAttempt));
    // One connection: one session id on every attempt.
    assert!(events.iter().all(|e| e.session_id == events[0].session_id));
    assert!(events[0].fields["client_version"]
        .as_str()
        .unwrap()
        .contains("paramiko"));
}

const PARAMIKO_KEY_THEN_PASSWORDS: &str = r#"
import json, socket, sys
import paramiko
sock = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
t = paramiko.Transport(sock)
t.banner_timeout = 20
t.auth_timeout = 20
t.start_client(timeout=20)
out = []
key = paramiko.RSAKey.generate(2048)
try:
    t.auth_publickey("root", key)
    out.append("accepted")
except paramiko.AuthenticationException as e:
    out.append(str(e))
try:
    t.auth_password("root", "wrong")
    out.append("accepted")
except paramiko.AuthenticationException as e:
    out.append(str(e))
t.auth_password("root", "root")
out.append("accepted" if t.is_authenticated() else "not authenticated")
ch = t.open_session(timeout=20)
ch.settimeout(20)
ch.exec_command("whoami")
data = b""
while True:
    chunk = ch.recv(4096)
    if not chunk:
        break
    data += chunk
out.append(data.decode().strip())
out.append(key.get_base64())
t.close()
print(json.dumps(out))
"#;

#[tokio::test]
async fn paramiko_publickey_then_passwords_reaches_the_shell_and_every_attempt_is_captured() {
    let Some(python) = python_with("paramiko").await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "ssh-paramiko-key").await;
    let answers = run_script(python, &s, PARAMIKO_KEY_THEN_PASSWORDS).await;
    let answers = answers.as_array().unwrap();
    assert_eq!(
        answers[..4],
        [
            "Authentication failed.",
            "Authentication failed.",
            "accepted",
            "root"
        ]
    );
    let events = logins(&mut s, 3).await;
    let key = &events[0];
    assert_eq!(key.event_type, EventType::LoginAttempt);
    assert_eq!(key.fields["method"], "publickey");
    let cred = key.credential.as_ref().unwrap();
    assert_eq!(cred.principal, "root");
    assert_eq!(cred.secret_kind, SecretKind::SshPubkey);
    let offered = answers[4].as_str().unwrap();
    assert!(
        cred.secret_printable.as_deref().unwrap().contains(offered),
        "the captured key is the one paramiko offered"
    );
    assert_eq!(
        events[1..].iter().map(attempt).collect::<Vec<_>>(),
        owned(&[
            ("password", "root", Some("wrong")),
            ("password", "root", Some("root")),
        ])
    );
    assert_eq!(events[1].event_type, EventType::LoginAttempt);
    assert_eq!(events[2].event_type, EventType::LoginSuccess);
}

const ASYNCSSH_PASSWORD_LIST: &str = r#"
import asyncio, json, sys
import asyncssh

class Client(asyncssh.SSHClient):
    def __init__(self):
        self.left = ["123456", "password", "qwerty", "letmein", "admin123"]
        self.tried = []

    def password_auth_requested(self):
        if not self.left:
            return None
        self.tried.append(self.left.pop(0))
        return self.tried[-1]

async def main():
    client = Client()
    try:
        conn = await asyncssh.connect(
            sys.argv[1], port=int(sys.argv[2]), username="admin", known_hosts=None,
            client_factory=lambda: client, client_keys=None, agent_path=None,
            preferred_auth="password", login_timeout=20)
        conn.close()
        return ["accepted", client.tried]
    except asyncssh.PermissionDenied:
        return ["denied", client.tried]

print(json.dumps(asyncio.run(main())))
"#;

#[tokio::test]
async fn asyncssh_trying_a_password_list_on_one_connection_gets_every_attempt_captured() {
    let Some(python) = python_with("asyncssh").await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "ssh-asyncssh").await;
    let answer = run_script(python, &s, ASYNCSSH_PASSWORD_LIST).await;
    let list = ["123456", "password", "qwerty", "letmein", "admin123"];
    // Denied after the whole list (not a login timeout): every attempt was answered.
    assert_eq!(answer, serde_json::json!(["denied", list]));
    // asyncssh asks with `none` first; that is captured too.
    let events = logins(&mut s, list.len() + 1).await;
    assert_eq!(attempt(&events[0]), owned(&[("none", "admin", None)])[0]);
    let passwords: Vec<_> = events[1..]
        .iter()
        .map(attempt)
        .map(|(m, u, p)| {
            assert_eq!(m, "password");
            (u, p.unwrap())
        })
        .collect();
    assert_eq!(
        passwords,
        list.iter()
            .map(|p| ("admin".to_owned(), p.to_string()))
            .collect::<Vec<_>>()
    );
    assert!(events.iter().all(|e| e.session_id == events[0].session_id));
}

const LIBSSH_PASSWORDS: &str = r#"
import json, socket, sys
from ssh.session import Session
from ssh import options
from ssh.exceptions import AuthenticationDenied

sock = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
s = Session()
s.options_set(options.HOST, sys.argv[1])
s.options_set(options.USER, "oracle")
s.options_set_int_val(options.TIMEOUT, 20)
s.set_socket(sock)
s.connect()
out = []
try:
    s.userauth_none()
    out.append("accepted")
except AuthenticationDenied:
    out.append("denied")
for pw in ["oracle", "oracle123", "changeme"]:
    try:
        s.userauth_password("oracle", pw)
        out.append("accepted")
    except AuthenticationDenied:
        out.append("denied")
print(json.dumps(out))
"#;

#[tokio::test]
async fn libssh_passwords_on_one_connection_are_all_answered_and_captured() {
    let Some(python) = python_with("ssh").await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "ssh-libssh").await;
    let answer = run_script(python, &s, LIBSSH_PASSWORDS).await;
    assert_eq!(
        answer,
        serde_json::json!(["denied", "denied", "denied", "denied"])
    );
    let events = logins(&mut s, 4).await;
    let got: Vec<_> = events.iter().map(attempt).collect();
    assert_eq!(
        got,
        owned(&[
            ("none", "oracle", None),
            ("password", "oracle", Some("oracle")),
            ("password", "oracle", Some("oracle123")),
            ("password", "oracle", Some("changeme")),
        ])
    );
}

/// Go's golang.org/x/crypto/ssh client (as in many Go scanners and bots): `none` first,
/// then a retried password callback on the same connection.
const GO_PASSWORDS: &str = r#"
package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/crypto/ssh"
)

func main() {
	left := []string{"hunter2", "changeme", "root"}
	tried := []string{}
	cb := func() (string, error) {
		p := left[0]
		left = left[1:]
		tried = append(tried, p)
		return p, nil
	}
	cfg := &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.RetryableAuthMethod(ssh.PasswordCallback(cb), 3)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         20 * time.Second,
	}
	addr := net.JoinHostPort(os.Args[1], os.Args[2])
	outcome := "accepted"
	c, err := ssh.Dial("tcp", addr, cfg)
	if err != nil {
		outcome = "error: " + err.Error()
	} else {
		c.Close()
	}
	out, _ := json.Marshal([]interface{}{outcome, tried})
	fmt.Println(string(out))
}
"#;

/// Builds the Go client against Debian's packaged x/crypto (no module proxy needed);
/// None, with the reason printed, when Go or the package is missing (fails under CI).
async fn go_client(dir: &Path) -> Option<std::path::PathBuf> {
    let gopath = Path::new("/usr/share/gocode");
    let found = decnet_testkit::have("go") && gopath.join("src/golang.org/x/crypto/ssh").is_dir();
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "go or golang-golang-x-crypto-dev is missing, but .ci/run should have installed them"
        );
        eprintln!("SKIPPED: no Go toolchain with golang.org/x/crypto (apt-get install golang-go golang-golang-x-crypto-dev)");
        return None;
    }
    let src = dir.join("main.go");
    std::fs::write(&src, GO_PASSWORDS).unwrap();
    let bin = dir.join("goclient");
    let out = tokio::time::timeout(
        Duration::from_secs(300),
        Command::new("go")
            .arg("build")
            .arg("-o")
            .arg(&bin)
            .arg(&src)
            .env("GO111MODULE", "off")
            .env("GOPATH", gopath)
            .env("GOCACHE", dir.join("gocache"))
            .env("GOFLAGS", "")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("go build finished in time")
    .expect("go ran");
    assert!(
        out.status.success(),
        "go build failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(bin)
}

#[tokio::test]
async fn go_x_crypto_ssh_retrying_passwords_on_one_connection_gets_every_attempt_answered_and_captured(
) {
    let tmp = tempfile::tempdir().unwrap();
    let Some(client) = go_client(tmp.path()).await else {
        return;
    };
    let mut s = start(tmp.path(), "ssh-go").await;
    let out = tokio::time::timeout(
        Duration::from_secs(60),
        Command::new(&client)
            .arg(s.addr.ip().to_string())
            .arg(s.addr.port().to_string())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the Go client finished in time")
    .expect("the Go client ran");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let answer: Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    // Two refusals answered, the third password (the persona's root:root) let in.
    assert_eq!(
        answer,
        serde_json::json!(["accepted", ["hunter2", "changeme", "root"]])
    );
    let events = logins(&mut s, 4).await;
    assert_eq!(
        events.iter().map(attempt).collect::<Vec<_>>(),
        owned(&[
            ("none", "root", None),
            ("password", "root", Some("hunter2")),
            ("password", "root", Some("changeme")),
            ("password", "root", Some("root")),
        ])
    );
    assert_eq!(events[3].event_type, EventType::LoginSuccess);
    assert!(events.iter().all(|e| e.session_id == events[0].session_id));
}
