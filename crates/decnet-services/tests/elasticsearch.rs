//! The Elasticsearch node against curl, raw sockets and nmap.

use std::time::Duration;

use decnet_core::{Event, EventType, SecretKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

use crate::harness::{
    decky, decky_in_world, have, login_of, output, person, serve, svc, unique_ip, Served,
};

async fn start(name: &str, dir: &std::path::Path, persona: &[(&str, &str)]) -> Served {
    serve(
        decky_in_world(name, &unique_ip(), dir, vec![svc("elasticsearch", persona)]),
        "elasticsearch",
    )
    .await
}

/// `curl -s -i <args> http://addr<path>`: (status line and headers, body).
async fn curl(s: &Served, path: &str, args: &[&str]) -> (String, String) {
    let mut c = Command::new("curl");
    c.args(["-s", "-i", "--max-time", "20"])
        .args(args)
        .arg(format!("http://{}{path}", s.addr));
    let out = output(c).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    match text.split_once("\r\n\r\n") {
        Some((h, b)) => (h.to_owned(), b.to_owned()),
        None => (text, String::new()),
    }
}

/// The next `http_request` event for `path`.
async fn request_event(s: &mut Served, method: &str, path: &str) -> Event {
    let (m, p) = (method.to_owned(), path.to_owned());
    s.wait_for(Duration::from_secs(20), move |e| {
        e.event_type == EventType::HttpRequest
            && e.fields["method"] == m.as_str()
            && e.fields["path"] == p.as_str()
    })
    .await
    .unwrap_or_else(|| panic!("no http_request event for {method} {path}"))
}

#[tokio::test]
async fn curl_with_basic_auth_is_captured_and_the_root_reads_as_es() {
    if !have("curl") {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start("es-curl", tmp.path(), &[("cluster_name", "prod-logs")]).await;
    let (head, body) = curl(&s, "/", &["-u", "elastic:changeme"]).await;
    assert_eq!(
        head.lines().collect::<Vec<_>>(),
        vec![
            "HTTP/1.1 200 OK",
            "content-type: application/json; charset=UTF-8",
            &format!("content-length: {}", body.len())
        ],
        "7.10 answers with Netty's two lower-case headers only"
    );
    assert!(
        body.contains("\n  \"cluster_name\" : \"prod-logs\",\n"),
        "{body}"
    );
    assert!(body.contains("\"number\" : \"7.10.2\""), "{body}");
    let e = request_event(&mut s, "GET", "/").await;
    assert_eq!(
        login_of(&e),
        (
            "elastic".into(),
            b"changeme".to_vec(),
            SecretKind::HttpBasic
        )
    );
    assert_eq!(e.fields["es_action"], "info");
    assert_eq!(e.fields["login_ok"], false);
}

#[tokio::test]
async fn version_8_refuses_a_wrong_login_and_lets_the_bait_worlds_in() {
    if !have("curl") {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // People have accounts on the deckies they log in to; ssh makes this one of them.
    let services = vec![
        svc("elasticsearch", &[("es_version", "8.11.3")]),
        svc("ssh", &[]),
    ];
    let mut s = serve(
        decky_in_world("es-secure", &unique_ip(), tmp.path(), services),
        "elasticsearch",
    )
    .await;
    let (head, body) = curl(&s, "/_cat/indices?v", &["-u", "elastic:wrong"]).await;
    assert!(head.starts_with("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"security\" charset=\"UTF-8\"\r\nWWW-Authenticate: ApiKey\r\ncontent-type"), "{head}");
    assert!(
        body.contains("unable to authenticate user [elastic] for REST request [/_cat/indices]"),
        "{body}"
    );
    let e = request_event(&mut s, "GET", "/_cat/indices").await;
    assert_eq!(login_of(&e).1, b"wrong".to_vec());

    let (user, password) = person(&s);
    let (head, body) = curl(
        &s,
        "/_cat/indices?v",
        &["-u", &format!("{user}:{password}")],
    )
    .await;
    assert!(
        head.starts_with("HTTP/1.1 200 OK\r\nX-elastic-product: Elasticsearch\r\n"),
        "{head}"
    );
    assert!(body.starts_with("health status index"), "{body}");
    assert!(body.contains(" users "), "{body}");
    let e = request_event(&mut s, "GET", "/_cat/indices").await;
    assert_eq!(e.fields["login_ok"], true);
    assert_eq!(
        login_of(&e),
        (user, password.into_bytes(), SecretKind::HttpBasic)
    );
}

#[tokio::test]
async fn a_ransom_run_is_recorded_step_by_step_and_sees_its_own_note() {
    if !have("curl") {
        eprintln!("skipped: curl is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start("es-ransom", tmp.path(), &[]).await;
    let (_, body) = curl(&s, "/users/_search?size=3", &[]).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let people = &s.decky.bait.people;
    let first = v["hits"]["hits"][0]["_source"]["username"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        people.iter().any(|p| p.username == first),
        "search returns the bait world's people"
    );
    assert_eq!(
        request_event(&mut s, "GET", "/users/_search").await.fields["es_action"],
        "search"
    );

    let (head, _) = curl(&s, "/users", &["-X", "DELETE"]).await;
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    let e = request_event(&mut s, "DELETE", "/users").await;
    assert_eq!(
        (
            e.fields["es_action"].as_str(),
            e.fields["es_write"].as_bool()
        ),
        (Some("delete_index"), Some(true))
    );

    let note = r#"{"message":"All your data is backed up. Send 0.01 BTC to bc1qexample"}"#;
    let (head, _) = curl(
        &s,
        "/read_me/_doc/1",
        &[
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/json",
            "-d",
            note,
        ],
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 201 Created"), "{head}");
    let e = request_event(&mut s, "PUT", "/read_me/_doc/1").await;
    assert_eq!(e.fields["body"], note, "the write's body is kept as sent");
    let (_, cat) = curl(&s, "/_cat/indices", &[]).await;
    assert!(cat.contains(" read_me "), "{cat}");
    assert!(!cat.contains(" users "), "{cat}");
}

#[tokio::test]
#[allow(clippy::disallowed_methods)] // read to the close, capped by `take`
async fn http_1_0_is_answered_in_kind_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let s = serve(
        decky(
            "es-raw",
            &unique_ip(),
            tmp.path(),
            vec![svc("elasticsearch", &[])],
        ),
        "elasticsearch",
    )
    .await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut got = Vec::new();
    tokio::time::timeout(
        Duration::from_secs(10),
        (&mut c).take(1 << 20).read_to_end(&mut got),
    )
    .await
    .unwrap()
    .unwrap();
    let text = String::from_utf8(got).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert_eq!(head, format!("HTTP/1.0 200 OK\r\ncontent-type: application/json; charset=UTF-8\r\ncontent-length: {}", body.len()));
    assert!(
        body.ends_with("\"tagline\" : \"You Know, for Search\"\n}\n"),
        "{body}"
    );
}

#[tokio::test]
async fn nmap_names_elasticsearch_with_its_version() {
    if !have("nmap") {
        eprintln!("skipped: nmap is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let s = start("es-nmap", tmp.path(), &[("node_name", "search-01")]).await;
    let mut c = Command::new("nmap");
    c.args(["-sV", "-Pn", "-n", "-p"])
        .arg(s.addr.port().to_string())
        .arg(s.addr.ip().to_string());
    let out = output(c).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "Elasticsearch REST API 7.10.2 (name: search-01; cluster: elasticsearch; Lucene 8.7.0)"
        ),
        "nmap said:\n{text}"
    );
}
