//! Contract of every read route: auth required, filters, 422s naming the field.

use std::io::Write as _;

use axum::http::{Method, StatusCode};
use decnet_core::journal_pos::JournalPos;
use decnet_core::EventType;
use decnet_store::{ArtifactRecord, CredentialRecord, SessionRecord};
use serde_json::json;
use uuid::Uuid;

use crate::support::*;

/// Every route with its method; `{uuid}`-style segments filled with a random UUID.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/api/v1/auth/change-password"),
    ("GET", "/api/v1/auth/me"),
    ("GET", "/api/v1/users"),
    ("POST", "/api/v1/users"),
    ("GET", "/api/v1/users/{uuid}"),
    ("DELETE", "/api/v1/users/{uuid}"),
    ("PUT", "/api/v1/users/{uuid}/role"),
    ("PUT", "/api/v1/users/{uuid}/password"),
    ("GET", "/api/v1/deckies"),
    ("GET", "/api/v1/deckies/{name}"),
    ("GET", "/api/v1/logs"),
    ("GET", "/api/v1/logs/histogram"),
    ("GET", "/api/v1/attackers"),
    ("GET", "/api/v1/attackers/{uuid}"),
    ("GET", "/api/v1/attackers/{uuid}/events"),
    ("GET", "/api/v1/attackers/{uuid}/credentials"),
    ("GET", "/api/v1/attackers/{uuid}/sessions"),
    ("GET", "/api/v1/attackers/{uuid}/artifacts"),
    ("GET", "/api/v1/sessions/{sid}/transcript"),
    ("GET", "/api/v1/credentials"),
    ("GET", "/api/v1/credentials/reuse"),
    ("GET", "/api/v1/stats"),
    ("GET", "/api/v1/stream"),
];

fn fill(path: &str) -> String {
    let u = Uuid::new_v4().to_string();
    path.replace("{uuid}", &u)
        .replace("{sid}", &u)
        .replace("{name}", "web1")
}

#[tokio::test]
async fn every_protected_route_needs_a_token() {
    let api = Api::new().await;
    for (m, p) in ROUTES {
        let body = (*m != "GET" && *m != "DELETE").then(|| json!({}));
        let r = api
            .call(req(m.parse().unwrap(), &fill(p), None, body.clone()))
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{m} {p}");
        assert_eq!(r.code(), "unauthorized", "{m} {p}");
        let r = api
            .call(req(m.parse().unwrap(), &fill(p), Some("not.a.token"), body))
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{m} {p}");
    }
    // Public: login, health, the OpenAPI document.
    let r = api
        .call(req(Method::GET, "/api/v1/health", None, None))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = api
        .call(req(Method::GET, "/api/v1/openapi.json", None, None))
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

/// What `seed` stored.
pub struct Seeded {
    pub attacker: Uuid,
    pub other: Uuid,
    pub sid: Uuid,
}

/// A small capture: two attackers, logins with a reused password, a session
/// with a transcript, an artifact.
pub async fn seed(api: &Api) -> Seeded {
    let store = &api.store;
    let sid = Uuid::new_v4();
    // The recorder's own tag for the transcript, linked by the ingester.
    let rec = Uuid::new_v4();
    let mut cmd = ev(30, "web1", "ssh", EventType::Command, "203.0.113.5");
    cmd.session_id = Some(sid);
    cmd.fields
        .insert("command".into(), json!("uname -a; cat /etc/passwd"));
    let events = vec![
        ev(0, "web1", "ssh", EventType::Connect, "203.0.113.5"),
        login_ev(10, "web1", "203.0.113.5", "root", "hunter2"),
        login_ev(20, "db1", "203.0.113.5", "root", "hunter2"),
        cmd,
        ev(40, "db1", "mysql", EventType::Connect, "198.51.100.7"),
        login_ev(50, "db1", "198.51.100.7", "sa", "hunter2"),
    ];
    let owners = put(store, &events).await;
    // Derived rows the ingester would write.
    let from = store.ingest_offset("test").await.unwrap();
    let to = JournalPos {
        segment: 1,
        offset: from.map_or(0, |o| o.offset) + 1,
    };
    let mut tx = store.begin_ingest("test", from, to).await.unwrap();
    for (e, owner) in events.iter().zip(&owners) {
        if let Some(c) = &e.credential {
            tx.insert_credential(&CredentialRecord {
                event_id: e.id,
                ts: e.ts,
                attacker_uuid: *owner,
                src_ip: e.src_ip.to_string(),
                decky: e.decky.clone(),
                service: e.service.clone(),
                session_id: e.session_id,
                principal: c.principal.clone(),
                secret_printable: c.secret_printable.clone(),
                secret_b64: c.secret_b64.clone(),
                secret_kind: c.secret_kind.as_str().into(),
                realm: None,
                secret_sha256: "f52fbd32b2b3b86ff88ef6c490628285f482af15ddcb29541f94bcf526a3f6c7"
                    .into(),
                outcome: "failure".into(),
            })
            .await
            .unwrap();
        }
    }
    tx.save_session(&SessionRecord {
        sid,
        attacker_uuid: owners[0],
        decky: "web1".into(),
        service: "ssh".into(),
        src_ip: "203.0.113.5".into(),
        src_port: 40000,
        started_at: at(25),
        ended_at: Some(at(45)),
        event_count: 1,
        command_count: 1,
        recording_sid: Some(rec),
        recording_shard: Some("ignored/by/the/api.jsonl".into()),
        recording_bytes: Some(20),
        recording_duration_s: Some(20.0),
        recording_truncated: Some(false),
    })
    .await
    .unwrap();
    tx.insert_artifact(&ArtifactRecord {
        event_id: events[3].id,
        ts: at(30),
        kind: "download".into(),
        name: "http://evil.example/x.sh".into(),
        sha256: None,
        size: None,
        decky: "web1".into(),
        service: "ssh".into(),
        attacker_uuid: owners[0],
        session_id: Some(sid),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    // The counters the ingester would have added for these hand-written rows.
    store.rebuild_counters().await.unwrap();
    // The recorder's shard for that session's day, with another session interleaved.
    let dir = api.data.join("artifacts/web1/ssh/transcripts");
    std::fs::create_dir_all(&dir).unwrap();
    let day = at(25).format("%Y-%m-%d");
    let mut f = std::fs::File::create(dir.join(format!("sessions-{day}.jsonl"))).unwrap();
    let other = Uuid::new_v4();
    for l in [
        json!({"sid": rec, "hdr": {"version": 2, "width": 80, "height": 24, "timestamp": 1_700_000_025, "env": {"SHELL": "/bin/bash", "TERM": "xterm"}}}),
        json!({"sid": other, "t": 0.1, "ch": "o", "d": "not ours"}),
        json!({"sid": sid, "t": 0.2, "ch": "o", "d": "the connection id is not the tag"}),
        json!({"sid": rec, "t": 0.5, "ch": "i", "d": "uname -a\r"}),
        json!({"sid": rec, "t": 0.6, "ch": "o", "d": "Linux web-01\r\n"}),
    ] {
        writeln!(f, "{l}").unwrap();
    }
    Seeded {
        attacker: owners[0],
        other: owners[4],
        sid,
    }
}

async fn items(api: &Api, uri: &str, token: &str) -> Vec<serde_json::Value> {
    let r = api.get(uri, token).await;
    assert_eq!(r.status, StatusCode::OK, "{uri}: {:?}", r.body);
    assert!(r.body.get("next_cursor").is_some(), "{uri}");
    r.body["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn deckies_list_and_detail() {
    let api = Api::new().await;
    let t = api.viewer("v").await;
    let list = items(&api, "/api/v1/deckies", &t).await;
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["name"], "db1");
    let r = api.get("/api/v1/deckies/web1", &t).await;
    assert_eq!(r.body["ip"], "127.42.0.10");
    assert_eq!(r.body["os_family"], "linux");
    assert_eq!(
        r.body["services"][0],
        json!({"name": "ssh", "port": 22, "transport": "tcp"})
    );
    assert_eq!(
        api.get("/api/v1/deckies/nope", &t).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn logs_filter_and_keep_the_event_shape() {
    let api = Api::new().await;
    let t = api.viewer("v").await;
    let s = seed(&api).await;
    let all = items(&api, "/api/v1/logs", &t).await;
    assert_eq!(all.len(), 6);
    assert_eq!(all[0]["decky"], "db1", "newest first");
    let e = &all[0];
    for k in [
        "id",
        "ts",
        "decky",
        "service",
        "event_type",
        "src_ip",
        "src_port",
        "dst_ip",
        "dst_port",
        "fields",
        "attacker_uuid",
    ] {
        assert!(e.get(k).is_some(), "missing {k} in {e}");
    }
    assert_eq!(e["credential"]["principal"], "sa");
    assert_eq!(e["attacker_uuid"], s.other.to_string());
    let n = |q: &str| {
        let api = &api;
        let t = t.clone();
        let q = q.to_owned();
        async move { items(api, &format!("/api/v1/logs?{q}"), &t).await.len() }
    };
    assert_eq!(n("decky=web1").await, 3);
    assert_eq!(n("service=mysql").await, 1);
    assert_eq!(n("event_type=login_attempt").await, 3);
    assert_eq!(n("attacker_ip=198.51.100.7").await, 2);
    assert_eq!(n("search=ETC%2FPASSWD").await, 1);
    assert_eq!(n(&format!("session_id={}", s.sid)).await, 1);
    assert_eq!(n("start=2023-11-14T22:13:50Z").await, 3);
    assert_eq!(
        n("start=2023-11-14T22:13:40Z&end=2023-11-14T22:14:00Z").await,
        2
    );
    assert_eq!(n("decky=web1&event_type=command").await, 1);
}

#[tokio::test]
async fn bad_query_parameters_are_422_naming_the_field() {
    let api = Api::new().await;
    let t = api.viewer("v").await;
    let long = "x".repeat(513);
    let cases: &[(&str, &str)] = &[
        ("/api/v1/logs?limit=0", "limit"),
        ("/api/v1/logs?limit=501", "limit"),
        ("/api/v1/logs?limit=abc", "limit"),
        ("/api/v1/logs?limit=-1", "limit"),
        ("/api/v1/logs?cursor=%21%21%21", "cursor"),
        ("/api/v1/logs?start=yesterday", "start"),
        ("/api/v1/logs?end=2024-13-01T00:00:00Z", "end"),
        (
            "/api/v1/logs?start=2024-02-01T00:00:00Z&end=2024-01-01T00:00:00Z",
            "start",
        ),
        ("/api/v1/logs?event_type=bogus", "event_type"),
        ("/api/v1/logs?attacker_ip=not-an-ip", "attacker_ip"),
        ("/api/v1/logs?session_id=nope", "session_id"),
        ("/api/v1/logs/histogram?bucket=0", "bucket"),
        ("/api/v1/logs/histogram?bucket=86401", "bucket"),
        (
            "/api/v1/logs/histogram?bucket=1&start=2024-01-01T00:00:00Z&end=2024-01-02T00:00:00Z",
            "bucket",
        ),
        ("/api/v1/logs/histogram?bucket=x", "bucket"),
        ("/api/v1/attackers?sort=bogus", "sort"),
        ("/api/v1/attackers?limit=1000", "limit"),
        ("/api/v1/attackers?ip=999.1.1.1", "ip"),
        ("/api/v1/attackers/not-a-uuid", "uuid"),
        ("/api/v1/attackers/not-a-uuid/events", "uuid"),
        (
            "/api/v1/attackers/00000000-0000-0000-0000-000000000000/events?limit=0",
            "limit",
        ),
        ("/api/v1/sessions/xyz/transcript", "sid"),
        ("/api/v1/credentials?attacker_uuid=1", "attacker_uuid"),
        ("/api/v1/credentials?limit=0", "limit"),
        ("/api/v1/credentials/reuse?limit=501", "limit"),
        ("/api/v1/credentials/reuse?cursor=abc", "cursor"),
        ("/api/v1/stats?top=0", "top"),
        ("/api/v1/stats?top=101", "top"),
    ];
    for (uri, field) in cases {
        let r = api.get(uri, &t).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{uri}: {:?}",
            r.body
        );
        assert_eq!(r.code(), "validation_error", "{uri}");
        assert_eq!(r.field(), *field, "{uri}: {:?}", r.body);
        assert!(r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"));
    }
    let r = api.get(&format!("/api/v1/logs?search={long}"), &t).await;
    assert_eq!(
        (r.status, r.field()),
        (StatusCode::UNPROCESSABLE_ENTITY, "search")
    );
    let ok = "y".repeat(512);
    assert_eq!(
        api.get(&format!("/api/v1/logs?search={ok}"), &t)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn histogram_counts_every_bucket() {
    let api = Api::new().await;
    let t = api.viewer("v").await;
    seed(&api).await;
    let r = api
        .get(
            "/api/v1/logs/histogram?bucket=30&start=2023-11-14T22:13:20Z&end=2023-11-14T22:15:20Z",
            &t,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let counts: Vec<u64> = r.body["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, vec![3, 3, 0, 0]);
    assert_eq!(r.body["bucket"], 30);
    let r = api
        .get(
            "/api/v1/logs/histogram?bucket=60&decky=db1&start=2023-11-14T22:13:20Z&end=2023-11-14T22:14:20Z",
            &t,
        )
        .await;
    assert_eq!(r.body["buckets"][0]["count"], 3);
    // Defaults: the last 24 h in minutes.
    let r = api.get("/api/v1/logs/histogram", &t).await;
    assert_eq!(r.body["buckets"].as_array().unwrap().len(), 1440);
}

#[tokio::test]
async fn attackers_and_their_activity() {
    let api = Api::new().await;
    let t = api.viewer("v").await;
    let s = seed(&api).await;
    let list = items(&api, "/api/v1/attackers", &t).await;
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["uuid"], s.other.to_string(), "most recent first");
    let by_count = items(&api, "/api/v1/attackers?sort=event_count", &t).await;
    assert_eq!(by_count[0]["uuid"], s.attacker.to_string());
    assert_eq!(by_count[0]["event_count"], 4);
    assert_eq!(
        items(&api, "/api/v1/attackers?ip=198.51.100.7", &t)
            .await
            .len(),
        1
    );
    assert_eq!(
        items(&api, "/api/v1/attackers?service=mysql", &t)
            .await
            .len(),
        1
    );
    assert_eq!(
        items(&api, "/api/v1/attackers?decky=web1", &t).await.len(),
        1
    );

    let a = s.attacker;
    let r = api.get(&format!("/api/v1/attackers/{a}"), &t).await;
    assert_eq!(r.body["ip"], "203.0.113.5");
    assert_eq!(
        items(&api, &format!("/api/v1/attackers/{a}/events"), &t)
            .await
            .len(),
        4
    );
    let creds = items(&api, &format!("/api/v1/attackers/{a}/credentials"), &t).await;
    assert_eq!(creds.len(), 2);
    assert_eq!(creds[0]["secret_printable"], "hunter2");
    let sessions = items(&api, &format!("/api/v1/attackers/{a}/sessions"), &t).await;
    assert_eq!(sessions[0]["sid"], s.sid.to_string());
    assert_eq!(sessions[0]["recorded"], true);
    assert!(
        sessions[0].get("recording_shard").is_none(),
        "server paths stay private"
    );
    let arts = items(&api, &format!("/api/v1/attackers/{a}/artifacts"), &t).await;
    assert_eq!(arts[0]["name"], "http://evil.example/x.sh");
    let unknown = Uuid::new_v4();
    for sub in ["", "/events", "/credentials", "/sessions", "/artifacts"] {
        let r = api
            .get(&format!("/api/v1/attackers/{unknown}{sub}"), &t)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{sub}");
    }
}

#[tokio::test]
async fn credentials_list_filters_and_reuse() {
    let api = Api::new().await;
    let t = api.viewer("v").await;
    let s = seed(&api).await;
    assert_eq!(items(&api, "/api/v1/credentials", &t).await.len(), 3);
    assert_eq!(
        items(&api, "/api/v1/credentials?principal=sa", &t)
            .await
            .len(),
        1
    );
    assert_eq!(
        items(&api, "/api/v1/credentials?decky=db1", &t).await.len(),
        2
    );
    assert_eq!(
        items(&api, "/api/v1/credentials?secret_kind=ntlmssp_v2", &t)
            .await
            .len(),
        0
    );
    let mine = items(
        &api,
        &format!("/api/v1/credentials?attacker_uuid={}", s.attacker),
        &t,
    )
    .await;
    assert_eq!(mine.len(), 2);
    let reuse = items(&api, "/api/v1/credentials/reuse", &t).await;
    assert_eq!(reuse.len(), 1);
    assert_eq!(reuse[0]["count"], 3);
    assert_eq!(reuse[0]["deckies"], json!(["db1", "web1"]));
    assert_eq!(reuse[0]["principals"], json!(["root", "sa"]));
}

#[tokio::test]
async fn stats_total_and_rank() {
    let api = Api::new().await;
    let t = api.viewer("v").await;
    seed(&api).await;
    let r = api.get("/api/v1/stats?top=1", &t).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["events"], 6);
    assert_eq!(r.body["attackers"], 2);
    assert_eq!(r.body["credentials"], 3);
    assert_eq!(r.body["sessions"], 1);
    assert_eq!(r.body["deckies"], 2);
    assert_eq!(
        r.body["top_src_ips"],
        json!([{"value": "203.0.113.5", "count": 4}])
    );
    assert_eq!(
        r.body["top_passwords"],
        json!([{"value": "hunter2", "count": 3}])
    );
}

#[tokio::test]
async fn a_session_transcript_is_its_header_and_events_only() {
    let api = Api::new().await;
    let t = api.viewer("v").await;
    let s = seed(&api).await;
    let r = api
        .get(&format!("/api/v1/sessions/{}/transcript", s.sid), &t)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.body["header"]["width"], 80);
    assert_eq!(
        r.body["events"],
        json!([[0.5, "i", "uname -a\r"], [0.6, "o", "Linux web-01\r\n"]])
    );
    assert_eq!(r.body["truncated"], false);
    let r = api
        .get(
            &format!("/api/v1/sessions/{}/transcript", Uuid::new_v4()),
            &t,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn health_is_public_and_reports_database_bus_and_workers() {
    let api = Api::new().await;
    let r = api
        .call(req(Method::GET, "/api/v1/health", None, None))
        .await;
    assert_eq!(r.body["status"], "ok");
    assert_eq!(r.body["database"], "ok");
    assert_eq!(r.body["bus"], "disabled");
    assert_eq!(r.body["journal"], "ok");
    assert_eq!(r.body["workers"], json!([]));

    let bus = decnet_bus::FakeBus::new();
    let state = api.state.clone().with_bus(std::sync::Arc::new(bus.clone()));
    bus.inject(
        "system.ingester.health",
        "health",
        json!({"worker": "ingester"}),
    );
    // The registry's task records the heartbeat asynchronously.
    let mut r = None;
    for _ in 0..200 {
        let resp = send(
            decnet_api::router(state.clone()),
            req(Method::GET, "/api/v1/health", None, None),
        )
        .await;
        if resp.body["workers"]
            .as_array()
            .is_some_and(|w| !w.is_empty())
        {
            r = Some(resp);
            break;
        }
        tokio::task::yield_now().await;
    }
    let r = r.expect("heartbeat recorded");
    assert_eq!(r.body["bus"], "enabled");
    assert_eq!(r.body["workers"][0]["worker"], "ingester");
    assert_eq!(r.body["workers"][0]["status"], "ok");
}

#[tokio::test]
async fn health_is_503_naming_the_journal_reason_while_it_cannot_record() {
    let api = Api::new().await;
    let journal = decnet_core::health::Condition::new();
    let state = api.state.clone().with_journal(journal.clone());
    let health = || {
        send(
            decnet_api::router(state.clone()),
            req(Method::GET, "/api/v1/health", None, None),
        )
    };
    let r = health().await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["journal"], "ok");

    journal.set_degraded("journal: no space left on device (/data/journal)");
    let r = health().await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.body["status"], "degraded");
    assert_eq!(
        r.body["journal"],
        "journal: no space left on device (/data/journal)"
    );
    assert_eq!(r.body["database"], "ok");

    journal.clear();
    let r = health().await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "ok");
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let api = Api::new().await;
    let r = api
        .call(req(Method::GET, "/api/v1/openapi.json", None, None))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = &r.body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut all: Vec<(&str, &str)> = ROUTES.to_vec();
    all.extend([
        ("POST", "/api/v1/auth/login"),
        ("GET", "/api/v1/health"),
        ("GET", "/api/v1/openapi.json"),
    ]);
    for (m, p) in all {
        let op = &doc["paths"][p][m.to_lowercase()];
        assert!(op.is_object(), "{m} {p} missing from the document");
        assert!(op["responses"].is_object(), "{m} {p}");
    }
    let logs = &doc["paths"]["/api/v1/logs"]["get"];
    let params: Vec<&str> = logs["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in [
        "decky",
        "service",
        "event_type",
        "attacker_ip",
        "search",
        "start",
        "end",
        "limit",
        "cursor",
    ] {
        assert!(params.contains(&p), "/logs lacks {p}: {params:?}");
    }
    assert_eq!(logs["security"], json!([{"bearer": []}]));
    assert!(doc["paths"]["/api/v1/auth/login"]["post"]
        .get("security")
        .is_none());
    for s in [
        "Event",
        "AttackerDto",
        "CredentialDto",
        "ErrorBody",
        "TokenResponse",
        "StatsDto",
        "UserDto",
        "DeckyInfo",
    ] {
        assert!(doc["components"]["schemas"][s].is_object(), "schema {s}");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn login_route_is_a_post() {
    let api = Api::new().await;
    let r = api
        .call(req(Method::GET, "/api/v1/auth/login", None, None))
        .await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.code(), "method_not_allowed");
}
