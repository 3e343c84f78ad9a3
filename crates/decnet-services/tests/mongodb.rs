//! The MongoDB emulator against PyMongo (Debian's python3-pymongo), nmap and
//! raw sockets replaying what scanners send. Every captured SCRAM proof is
//! recomputed from the password the client was given.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use decnet_core::bait::World;
use decnet_core::{Event, EventType, SecretKind};
use decnet_services::mongodb::bson::{self, Document, Value};
use decnet_services::mongodb::scram::{self, Mechanism};
use decnet_services::mongodb::wire;
use decnet_services::DeckyRuntime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

use crate::harness::{decky, have, login_of, output, serve, svc, unique_ip, Served};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A decky running mongodb in a world where a web decky plants the `app`
/// database account (`mongosh mongodb://app:…@…/appdb` in root's history).
fn fleet(dir: &Path, name: &str, persona: &[(&str, &str)]) -> Arc<DeckyRuntime> {
    let base = decky(name, &unique_ip(), dir, vec![svc("mongodb", persona)]);
    let mut d = Arc::try_unwrap(base).expect("a fresh runtime has one owner");
    let web = decky(
        &format!("{name}-web"),
        &unique_ip(),
        dir,
        vec![svc("ssh", &[])],
    );
    d.bait = Arc::new(World::derive(
        b"test-installation",
        &[d.config.clone(), web.config.clone()],
        1_760_000_000,
    ));
    Arc::new(d)
}

/// The planted `app` account's password.
fn app_password(s: &Served) -> String {
    let t = s
        .decky
        .bait
        .tokens()
        .iter()
        .find(|t| t.principal == "app")
        .expect("the world plants the app account");
    assert!(t.valid_on.contains(&s.decky.config.name));
    t.secret.clone()
}

/// The python3 that imports pymongo (Debian's python3-pymongo lives in /usr/bin's).
/// In CI (`CI` set) its absence is a failure, as `.ci/run` installs it.
fn pymongo_python() -> Option<&'static str> {
    let found = ["/usr/bin/python3", "python3"].into_iter().find(|p| {
        std::process::Command::new(p)
            .args(["-c", "import pymongo"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    assert!(
        found.is_some() || std::env::var_os("CI").is_none(),
        "python3-pymongo is not installed, but .ci/run should have installed it"
    );
    found
}

async fn py(py: &str, script: &str, args: &[&str]) -> std::process::Output {
    let mut c = Command::new(py);
    c.arg("-c").arg(script).args(args);
    output(c).await
}

fn field<'e>(e: &'e Event, k: &str) -> &'e str {
    e.fields
        .get(k)
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("no {k} in {:?}", e.fields))
}

/// Logs in with pymongo: prints `OK` and the script's output, or the server's error and code.
const LOGIN: &str = r#"
import sys, json, pymongo
host, port, user, pw, mech, src = sys.argv[1:7]
c = pymongo.MongoClient(host, int(port), username=user, password=pw, authSource=src,
                        authMechanism=mech, serverSelectionTimeoutMS=8000, appname="inventory-sync")
try:
    names = c.list_database_names()
    db = c[src]
    docs = list(db.users.find({}, {"username": 1, "email": 1}).limit(2))
    n = db.users.count_documents({})
    print("OK")
    print(json.dumps({"names": names, "docs": [{"username": d["username"], "email": d["email"]} for d in docs], "n": n}))
except pymongo.errors.OperationFailure as e:
    print("ERR", e.code, e.details.get("errmsg"), e.details.get("codeName"))
"#;

#[tokio::test]
async fn pymongo_wrong_passwords_over_both_scram_mechanisms_are_refused_and_their_proofs_recompute()
{
    let Some(python) = pymongo_python() else {
        eprintln!("skipped: python3-pymongo is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(fleet(dir.path(), "mongo-wrong", &[]), "mongodb").await;
    let (host, port) = (s.addr.ip().to_string(), s.addr.port().to_string());
    for (mech, kind) in [
        (Mechanism::Sha1, SecretKind::ScramSha1),
        (Mechanism::Sha256, SecretKind::ScramSha256),
    ] {
        let out = py(
            python,
            LOGIN,
            &[&host, &port, "admin", "Wr0ng!pass", mech.name(), "admin"],
        )
        .await;
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "ERR 18 Authentication failed. AuthenticationFailed",
            "pymongo: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let e = s
            .wait_for(Duration::from_secs(20), |e| {
                e.event_type == EventType::LoginAttempt
            })
            .await
            .expect("login_attempt");
        let (user, proof, got_kind) = login_of(&e);
        assert_eq!((user.as_str(), got_kind), ("admin", kind));
        assert_eq!(field(&e, "mechanism"), mech.name());
        assert_eq!(field(&e, "auth_db"), "admin");
        assert_eq!(field(&e, "client_name"), "PyMongo");
        assert_eq!(field(&e, "program_name"), "inventory-sync");
        assert_eq!(field(&e, "client_os"), "Linux");
        // The proof, rebuilt from nothing but the password and what the event holds.
        let salt = B64.decode(field(&e, "salt")).unwrap();
        assert_eq!(salt.len(), mech.salt_len());
        let iterations = e.fields["iterations"].as_u64().unwrap() as u32;
        assert_eq!(iterations, mech.iterations());
        let (cn, sn) = (field(&e, "client_nonce"), field(&e, "server_nonce"));
        assert_eq!(B64.decode(sn).unwrap().len(), scram::SERVER_NONCE_LEN);
        let auth_message = format!(
            "n=admin,r={cn},r={cn}{sn},s={},i={iterations},c=biws,r={cn}{sn}",
            field(&e, "salt")
        );
        assert_eq!(field(&e, "auth_message"), auth_message);
        let (want, _) = scram::proof_and_signature(
            mech,
            "admin",
            b"Wr0ng!pass",
            &salt,
            iterations,
            auth_message.as_bytes(),
        );
        assert_eq!(
            proof, want,
            "the capture is the proof of the password given"
        );
        assert_eq!(B64.decode(field(&e, "client_proof")).unwrap(), want);
        assert_eq!(
            e.credential.as_ref().unwrap().realm.as_deref(),
            Some("admin")
        );
    }
}

#[tokio::test]
async fn the_planted_app_account_logs_in_and_lists_and_finds_bait_as_query_events() {
    let Some(python) = pymongo_python() else {
        eprintln!("skipped: python3-pymongo is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(fleet(dir.path(), "mongo-app", &[]), "mongodb").await;
    let pw = app_password(&s);
    let (host, port) = (s.addr.ip().to_string(), s.addr.port().to_string());
    let people = s.decky.bait.people.clone();
    for mech in [Mechanism::Sha256, Mechanism::Sha1] {
        let out = py(
            python,
            LOGIN,
            &[&host, &port, "app", &pw, mech.name(), "appdb"],
        )
        .await;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("OK"),
            "pymongo (which checks the server signature): {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        assert_eq!(
            got["names"],
            serde_json::json!(["admin", "appdb", "config", "local"])
        );
        assert_eq!(got["n"], people.len());
        assert_eq!(got["docs"][0]["username"], people[0].username.as_str());
        assert_eq!(got["docs"][1]["email"], people[1].email.as_str());
        let ok = s
            .wait_type(EventType::LoginSuccess)
            .await
            .expect("login_success");
        let (user, _, kind) = login_of(&ok);
        assert_eq!((user.as_str(), kind), ("app", mech.kind()));
        assert_eq!(ok.fields["honeytoken"]["principal"], "app");
        let list = s
            .wait_for(Duration::from_secs(20), |e| {
                e.event_type == EventType::Query && e.fields["cmd"] == "listDatabases"
            })
            .await
            .expect("listDatabases is a query event");
        assert_eq!(list.fields["result"], "ok");
        assert_eq!(list.fields["rows"], 4);
        assert_eq!(list.fields["user"], "app");
        let find = s
            .wait_for(Duration::from_secs(20), |e| {
                e.event_type == EventType::Query && e.fields["cmd"] == "find"
            })
            .await
            .expect("find is a query event");
        assert_eq!(find.fields["ns"], "appdb.users");
        assert_eq!(find.fields["rows"], 2);
        assert!(
            field(&find, "query").starts_with("{ find: \"users\", filter: {}"),
            "{}",
            field(&find, "query")
        );
    }
}

#[tokio::test]
async fn data_commands_before_a_login_get_mongods_unauthorized_error() {
    let Some(python) = pymongo_python() else {
        eprintln!("skipped: python3-pymongo is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(fleet(dir.path(), "mongo-noauth", &[]), "mongodb").await;
    let script = r#"
import sys, pymongo
c = pymongo.MongoClient(sys.argv[1], int(sys.argv[2]), serverSelectionTimeoutMS=8000)
print(c.server_info()["version"])
for f in (lambda: c.list_database_names(), lambda: c.appdb.users.find_one(), lambda: c.admin.command("frobnicate")):
    try:
        f()
    except pymongo.errors.OperationFailure as e:
        print(e.code, e.details["errmsg"], e.details["codeName"])
"#;
    let out = py(
        python,
        script,
        &[&s.addr.ip().to_string(), &s.addr.port().to_string()],
    )
    .await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "7.0.14\n13 Command listDatabases requires authentication Unauthorized\n13 Command find requires authentication Unauthorized\n59 no such command: 'frobnicate' CommandNotFound\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let q = s
        .wait_for(Duration::from_secs(20), |e| {
            e.event_type == EventType::Query && e.fields["cmd"] == "find"
        })
        .await
        .expect("the refused find is still a query event");
    assert_eq!(q.fields["error_code"], 13);
    assert_eq!(q.fields["ns"], "appdb.users");
}

/// Serves `decky`'s mongodb on `port` of its own address (nmap sends its
/// MongoDB probe first where it expects MongoDB, on 27017).
async fn serve_on(
    decky: Arc<DeckyRuntime>,
    port: u16,
) -> (
    SocketAddr,
    tokio::task::JoinHandle<()>,
    tokio::sync::mpsc::Receiver<Event>,
) {
    use decnet_core::catalog::ServiceCatalog as _;
    let registry = decnet_services::Registry::builtin();
    let svc = registry.get("mongodb").unwrap();
    let info = svc.info().listener("mongodb").unwrap();
    let instance = svc
        .instance(decky.clone(), &decky.config.services[0])
        .unwrap();
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(decky.config.ip, port))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(10_000);
    let emitter = decnet_services::Emitter::new(tx);
    let task = tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            let ctx = decnet_services::ConnCtx {
                decky: decky.clone(),
                service: "mongodb",
                listener: info,
                peer,
                local: addr,
                session_id: uuid::Uuid::now_v7(),
                accepted: tokio::time::Instant::now(),
                emitter: emitter.clone(),
                abort: Default::default(),
                pre_auth: Default::default(),
                slots: Default::default(),
            };
            let conn = decnet_services::Conn::new(Box::new(stream), peer, addr, &decky.limits);
            let inst = instance.clone();
            tokio::spawn(async move {
                let _ = inst.serve(conn, ctx).await;
            });
        }
    });
    let _ = registry.services();
    (addr, task, rx)
}

#[tokio::test]
async fn nmap_version_detection_names_mongodb() {
    if !have("nmap") {
        eprintln!("skipped: nmap is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = decky(
        "mongo-nmap",
        &unique_ip(),
        tmp.path(),
        vec![svc("mongodb", &[])],
    );
    let (addr, task, mut events) = serve_on(d, 27017).await;
    let mut c = Command::new("nmap");
    c.args(["-sV", "-Pn", "-n", "-p", "27017"])
        .arg(addr.ip().to_string());
    let out = output(c).await;
    task.abort();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.starts_with("27017/tcp"))
        .unwrap_or_else(|| panic!("nmap said:\n{text}"));
    assert!(line.contains("open  mongodb"), "nmap said:\n{text}");
    assert!(line.contains("MongoDB"), "nmap said:\n{text}");
    let mut saw_probe = false;
    while let Ok(e) = events.try_recv() {
        saw_probe |= e.fields.get("cmd").and_then(|c| c.as_str()) == Some("serverStatus")
            && e.fields["error_code"] == 352;
    }
    assert!(
        saw_probe,
        "nmap's OP_QUERY serverStatus probe got 7.0's UnsupportedOpQueryCommand, captured"
    );
}

async fn start(name: &str, persona: &[(&str, &str)]) -> (Served, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(fleet(dir.path(), name, persona), "mongodb").await;
    (s, dir)
}

/// Everything the server sends until it closes (15 s at most).
async fn read_to_close(c: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(15), c.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return out,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => panic!("the server did not close the connection"),
        }
    }
}

/// One reply message.
async fn read_reply(c: &mut TcpStream) -> Vec<u8> {
    let mut h = [0u8; 16];
    tokio::time::timeout(Duration::from_secs(15), c.read_exact(&mut h))
        .await
        .unwrap()
        .unwrap();
    let len = i32::from_le_bytes(h[..4].try_into().unwrap()) as usize;
    let mut rest = vec![0u8; len - 16];
    c.read_exact(&mut rest).await.unwrap();
    [h.to_vec(), rest].concat()
}

/// An isMaster as old scanners and drivers send it: OP_QUERY on admin.$cmd, numberToReturn -1.
const ISMASTER_OP_QUERY: &[u8] =
    b"\x3a\x00\x00\x00\x2a\x00\x00\x00\x00\x00\x00\x00\xd4\x07\x00\x00\
\x00\x00\x00\x00admin.$cmd\x00\x00\x00\x00\x00\xff\xff\xff\xff\
\x13\x00\x00\x00\x10isMaster\x00\x01\x00\x00\x00\x00";

#[tokio::test]
async fn an_op_query_ismaster_gets_an_op_reply_with_the_handshake() {
    let (mut s, _dir) = start("mongo-ismaster", &[]).await;
    assert_eq!(
        ISMASTER_OP_QUERY,
        wire::op_query_request(42, "admin.$cmd", &Document::new().with("isMaster", 1i32))
    );
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(ISMASTER_OP_QUERY).await.unwrap();
    let r = read_reply(&mut c).await;
    // responseTo 42, OP_REPLY, AwaitCapable, no cursor, one document.
    assert_eq!(&r[8..12], b"\x2a\x00\x00\x00");
    assert_eq!(&r[12..16], b"\x01\x00\x00\x00");
    assert_eq!(
        &r[16..36],
        b"\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00"
    );
    // The document opens as mongod's legacy hello does.
    assert_eq!(
        &r[40..83],
        b"\x08ismaster\x00\x01\x03topologyVersion\x00\x2d\x00\x00\x00\x07processId\x00"
    );
    let doc = bson::read_exact(&r[36..]).unwrap();
    assert_eq!(doc.get("maxWireVersion"), Some(&Value::Int32(21)));
    assert_eq!(doc.get("ok"), Some(&Value::Double(1.0)));
    let e = s.wait_type(EventType::Command).await.unwrap();
    assert_eq!(e.fields["op"], "op_query");
    assert_eq!(field(&e, "command"), "{ isMaster: 1 }");
}

#[tokio::test]
async fn a_replica_set_primary_reports_its_set() {
    let (s, _dir) = start("mongo-rs", &[("repl_set", "rs0")]).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let hello = Document::new().with("hello", 1i32).with("$db", "admin");
    c.write_all(&wire::op_msg_request(5, 0, &hello))
        .await
        .unwrap();
    let r = read_reply(&mut c).await;
    let (_, req) = wire::parse(&r).unwrap();
    let wire::Request::Msg(m) = req else {
        panic!("an OP_MSG reply")
    };
    let me = format!("mongo-rs-host:{}", s.addr.port());
    assert_eq!(m.body.str("setName"), Some("rs0"));
    assert_eq!(m.body.str("primary"), Some(me.as_str()));
    assert_eq!(
        m.body.get("hosts"),
        Some(&Value::Array(vec![me.clone().into()]))
    );
    assert_eq!(m.body.get("isWritablePrimary"), Some(&Value::Bool(true)));
    assert!(m.body.get("$clusterTime").is_some());
}

#[tokio::test]
async fn an_unknown_command_gets_mongods_exact_error_document() {
    let (_s, _dir) = start("mongo-unknown", &[]).await;
    let mut c = TcpStream::connect(_s.addr).await.unwrap();
    let cmd = Document::new().with("x", 1i32).with("$db", "admin");
    c.write_all(&wire::op_msg_request(9, wire::FLAG_CHECKSUM, &cmd))
        .await
        .unwrap();
    let r = read_reply(&mut c).await;
    assert_eq!(&r[8..16], b"\x09\x00\x00\x00\xdd\x07\x00\x00");
    assert_eq!(&r[16..21], b"\x00\x00\x00\x00\x00");
    assert_eq!(
        &r[21..],
        b"\x5a\x00\x00\x00\x01ok\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02errmsg\x00\x15\x00\x00\x00no such command: 'x'\x00\x10code\x00\x3b\x00\x00\x00\x02codeName\x00\x10\x00\x00\x00CommandNotFound\x00\x00"
    );
}

#[tokio::test]
async fn nmaps_op_query_server_status_probe_gets_the_unsupported_op_query_error() {
    let (_s, _dir) = start("mongo-probe", &[]).await;
    let mut c = TcpStream::connect(_s.addr).await.unwrap();
    c.write_all(b"\x41\0\0\0\x3a\x30\0\0\xff\xff\xff\xff\xd4\x07\0\0\0\0\0\0test.$cmd\0\0\0\0\0\xff\xff\xff\xff\x1b\0\0\0\x01serverStatus\0\0\0\0\0\0\0\xf0\x3f\0")
        .await
        .unwrap();
    let r = read_reply(&mut c).await;
    assert_eq!(&r[8..16], b"\x3a\x30\x00\x00\x01\x00\x00\x00");
    let doc = bson::read_exact(&r[36..]).unwrap();
    assert_eq!(doc.get("code"), Some(&Value::Int32(352)));
    assert_eq!(doc.str("errmsg"), Some("Unsupported OP_QUERY command: serverStatus. The client driver may require an upgrade. For more details see https://dochub.mongodb.org/core/legacy-opcode-removal"));
}

#[tokio::test]
async fn a_truncated_header_is_a_protocol_error_and_the_connection_closes() {
    let (mut s, _dir) = start("mongo-trunc", &[]).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(b"\x3b\x00\x00\x00\x2a\x00\x00\x00\x00\x00")
        .await
        .unwrap();
    c.shutdown().await.unwrap();
    assert_eq!(read_to_close(&mut c).await, b"");
    let e = s.wait_type(EventType::ProtocolError).await.unwrap();
    assert!(
        field(&e, "reason").starts_with("truncated message"),
        "{:?}",
        e.fields
    );
}

#[tokio::test]
async fn a_huge_declared_length_closes_the_connection_unanswered() {
    let (mut s, _dir) = start("mongo-huge", &[]).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(b"\xff\xff\xff\x7f\x01\x00\x00\x00\x00\x00\x00\x00\xdd\x07\x00\x00")
        .await
        .unwrap();
    assert_eq!(read_to_close(&mut c).await, b"");
    let e = s.wait_type(EventType::ProtocolError).await.unwrap();
    assert_eq!(
        field(&e, "reason"),
        "message length 2147483647 is invalid (min 16, max 48000000)"
    );
}

#[tokio::test]
async fn malformed_bson_is_a_protocol_error_and_the_connection_closes() {
    let (mut s, _dir) = start("mongo-badbson", &[]).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    // An OP_MSG whose body document claims more bytes than the message holds.
    c.write_all(b"\x1a\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\xdd\x07\x00\x00\x00\x00\x00\x00\x00\xff\x00\x00\x00\x00")
        .await
        .unwrap();
    assert_eq!(read_to_close(&mut c).await, b"");
    let e = s.wait_type(EventType::ProtocolError).await.unwrap();
    assert_eq!(field(&e, "reason"), "bad message: bad BSON: BSON truncated");
}

#[tokio::test]
async fn a_browser_on_the_driver_port_gets_mongods_http_notice() {
    let (mut s, _dir) = start("mongo-http", &[]).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    assert_eq!(read_to_close(&mut c).await, wire::HTTP_RESPONSE);
    let e = s.wait_type(EventType::ProtocolError).await.unwrap();
    assert_eq!(field(&e, "reason"), "http_on_driver_port");
}

/// Sends one OP_MSG command and returns the reply body.
async fn command(c: &mut TcpStream, body: Document) -> Document {
    c.write_all(&wire::op_msg_request(77, 0, &body))
        .await
        .unwrap();
    let r = read_reply(c).await;
    let (h, req) = wire::parse(&r).unwrap();
    assert_eq!(h.response_to, 77);
    let wire::Request::Msg(m) = req else {
        panic!("an OP_MSG reply")
    };
    m.body
}

#[tokio::test]
async fn speculative_authentication_inside_hello_logs_the_planted_account_in() {
    let (mut s, _dir) = start("mongo-spec", &[]).await;
    let pw = app_password(&s);
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let cnonce = "rOprNGfwEbeRWgbNEkqO";
    let bare = format!("n=app,r={cnonce}");
    let spec = Document::new()
        .with("saslStart", 1i32)
        .with("mechanism", "SCRAM-SHA-256")
        .with(
            "payload",
            Value::Binary(0, format!("n,,{bare}").into_bytes()),
        )
        .with("db", "appdb");
    let hello = command(
        &mut c,
        Document::new()
            .with("hello", 1i32)
            .with("speculativeAuthenticate", spec)
            .with("$db", "admin"),
    )
    .await;
    let sa = hello
        .get("speculativeAuthenticate")
        .and_then(Value::as_doc)
        .expect("the reply carries the server's first SCRAM message");
    assert_eq!(sa.get("conversationId"), Some(&Value::Int32(1)));
    assert_eq!(sa.get("done"), Some(&Value::Bool(false)));
    let server_first =
        String::from_utf8(sa.get("payload").unwrap().as_binary().unwrap().to_vec()).unwrap();
    let attr = |k: &str| {
        server_first
            .split(',')
            .find_map(|a| a.strip_prefix(k))
            .unwrap()
            .to_owned()
    };
    let (nonce, salt, iters) = (attr("r="), B64.decode(attr("s=")).unwrap(), attr("i="));
    assert!(nonce.starts_with(cnonce));
    assert_eq!((salt.len(), iters.as_str()), (28, "15000"));
    let without_proof = format!("c=biws,r={nonce}");
    let am = format!("{bare},{server_first},{without_proof}");
    let (proof, sig) = scram::proof_and_signature(
        Mechanism::Sha256,
        "app",
        pw.as_bytes(),
        &salt,
        15_000,
        am.as_bytes(),
    );
    let fin = command(
        &mut c,
        Document::new()
            .with("saslContinue", 1i32)
            .with("conversationId", 1i32)
            .with(
                "payload",
                Value::Binary(
                    0,
                    format!("{without_proof},p={}", B64.encode(proof)).into_bytes(),
                ),
            )
            .with("$db", "appdb"),
    )
    .await;
    assert_eq!(fin.get("done"), Some(&Value::Bool(true)));
    assert_eq!(
        fin.get("payload").unwrap().as_binary().unwrap(),
        format!("v={}", B64.encode(sig)).as_bytes()
    );
    let names = command(
        &mut c,
        Document::new()
            .with("listDatabases", 1i32)
            .with("nameOnly", true)
            .with("$db", "admin"),
    )
    .await;
    assert_eq!(names.get("ok"), Some(&Value::Double(1.0)));
    let ok = s.wait_type(EventType::LoginSuccess).await.unwrap();
    assert_eq!(ok.fields["speculative"], true);
    assert_eq!(ok.fields["auth_message"], am.as_str());
}

#[tokio::test]
async fn an_awaitable_hello_waits_as_a_monitor_expects() {
    let (_s, _dir) = start("mongo-await", &[]).await;
    let mut c = TcpStream::connect(_s.addr).await.unwrap();
    let first = command(
        &mut c,
        Document::new().with("hello", 1i32).with("$db", "admin"),
    )
    .await;
    let tv = first.get("topologyVersion").unwrap().clone();
    let started = std::time::Instant::now();
    let again = command(
        &mut c,
        Document::new()
            .with("hello", 1i32)
            .with("topologyVersion", tv.clone())
            .with("maxAwaitTimeMS", 400i64)
            .with("$db", "admin"),
    )
    .await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(again.get("topologyVersion"), Some(&tv));
}

#[tokio::test]
async fn a_configured_account_gets_server_status_build_info_and_whatsmyuri_of_this_decky() {
    let Some(python) = pymongo_python() else {
        eprintln!("skipped: python3-pymongo is not installed");
        return;
    };
    let (s, _dir) = start(
        "mongo-admin",
        &[("mongo_version", "6.0.19"), ("users", "dba:Adm1n-2024")],
    )
    .await;
    let script = r#"
import sys, json, pymongo
c = pymongo.MongoClient(sys.argv[1], int(sys.argv[2]), username="dba", password=sys.argv[3],
                        serverSelectionTimeoutMS=8000)
st = c.admin.command("serverStatus")
bi = c.admin.command("buildInfo")
me = c.admin.command("whatsmyuri")
opts = c.admin.command("getCmdLineOpts")
log = c.admin.command("getLog", "startupWarnings")
print(json.dumps({"host": st["host"], "process": st["process"], "uptime": st["uptime"],
                  "version": bi["version"], "va": bi["versionArray"], "you": me["you"],
                  "auth": opts["parsed"]["security"]["authorization"], "log": len(log["log"])}))
"#;
    let out = py(
        python,
        script,
        &[
            &s.addr.ip().to_string(),
            &s.addr.port().to_string(),
            "Adm1n-2024",
        ],
    )
    .await;
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "pymongo: {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert_eq!(got["host"], "mongo-admin-host");
    assert_eq!(got["process"], "mongod");
    assert!(got["uptime"].as_f64().unwrap() > 6.0 * 3600.0);
    assert_eq!(got["version"], "6.0.19");
    assert_eq!(got["va"], serde_json::json!([6, 0, 19, 0]));
    // The client's own address, as mysql's `user()` shows it.
    assert!(got["you"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert_eq!(got["auth"], "enabled");
    assert_eq!(got["log"], 1);
}

#[tokio::test]
async fn a_plain_login_is_refused_as_community_mongod_refuses_it_and_its_password_captured() {
    let (mut s, _dir) = start("mongo-plain", &[]).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let r = command(
        &mut c,
        Document::new()
            .with("saslStart", 1i32)
            .with("mechanism", "PLAIN")
            .with("payload", Value::Binary(0, b"\0backup\0S3cret!".to_vec()))
            .with("$db", "$external"),
    )
    .await;
    assert_eq!(
        r.str("errmsg"),
        Some("Received authentication for mechanism PLAIN which is not enabled")
    );
    assert_eq!(r.get("code"), Some(&Value::Int32(334)));
    let e = s.wait_type(EventType::LoginAttempt).await.unwrap();
    let (user, secret, kind) = login_of(&e);
    assert_eq!(
        (user.as_str(), secret.as_slice(), kind),
        ("backup", &b"S3cret!"[..], SecretKind::Password)
    );
    assert_eq!(e.fields["mechanism"], "PLAIN");
}
