//! Cursor pagination through the API neither skips nor repeats a row, on
//! SQLite and (when `DECNET_TEST_DATABASE_URL` is set) PostgreSQL.

use std::collections::BTreeSet;

use decnet_core::EventType;
use decnet_store::testing::{postgres_url, PgSchema};
use decnet_store::Store;

use crate::support::*;

async fn walk(api: &Api, token: &str, base: &str, limit: u32, key: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    let sep = if base.contains('?') { '&' } else { '?' };
    loop {
        let uri = match &cursor {
            Some(c) => format!("{base}{sep}limit={limit}&cursor={c}"),
            None => format!("{base}{sep}limit={limit}"),
        };
        let r = api.get(&uri, token).await;
        assert_eq!(r.status, axum::http::StatusCode::OK, "{uri}: {:?}", r.body);
        let items = r.body["items"].as_array().unwrap();
        assert!(items.len() <= limit as usize);
        out.extend(items.iter().map(|i| i[key].as_str().unwrap().to_owned()));
        match r.body["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(items.len(), limit as usize, "a short page must be the last");
                cursor = Some(c.to_owned());
            }
            None => break,
        }
    }
    out
}

async fn pages_cover_every_row(api: Api) {
    let token = api.viewer("pager").await;
    // 130 events (2.6 pages of 50), many sharing a timestamp so the id
    // tie-break matters, across 7 source IPs.
    let events: Vec<_> = (0..130)
        .map(|i| {
            ev(
                i / 3,
                if i % 2 == 0 { "web1" } else { "db1" },
                "ssh",
                EventType::Connect,
                &format!("203.0.113.{}", i % 7),
            )
        })
        .collect();
    put(&api.store, &events).await;
    let expected: BTreeSet<String> = events.iter().map(|e| e.id.to_string()).collect();

    let got = walk(&api, &token, "/api/v1/logs", 50, "id").await;
    assert_eq!(got.len(), 130, "no row repeated or skipped");
    assert_eq!(got.iter().cloned().collect::<BTreeSet<_>>(), expected);
    // Newest first, strictly, by (ts, id).
    let full = api.get("/api/v1/logs?limit=500", &token).await.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert_eq!(got, full, "pages concatenate to the unpaginated order");

    // A filtered walk stays within its filter.
    let web = walk(&api, &token, "/api/v1/logs?decky=web1", 20, "id").await;
    assert_eq!(web.len(), 65);
    assert_eq!(web.iter().collect::<BTreeSet<_>>().len(), 65);

    // Attackers sorted by a key with ties (event counts 19 and 18).
    for sort in ["last_seen", "first_seen", "event_count"] {
        let a = walk(
            &api,
            &token,
            &format!("/api/v1/attackers?sort={sort}"),
            2,
            "uuid",
        )
        .await;
        assert_eq!(a.len(), 7, "{sort}");
        assert_eq!(a.iter().collect::<BTreeSet<_>>().len(), 7, "{sort}");
    }
}

#[tokio::test]
async fn cursor_pagination_neither_skips_nor_repeats() {
    pages_cover_every_row(Api::new().await).await;
    if let Some(base) = postgres_url() {
        let schema = PgSchema::create(&base).await.unwrap();
        let store = Store::connect(&schema.url()).await.unwrap();
        pages_cover_every_row(Api::with_store(store.clone(), tempfile::tempdir().unwrap()).await)
            .await;
        store.close().await;
        schema.drop_schema().await.unwrap();
    }
}
