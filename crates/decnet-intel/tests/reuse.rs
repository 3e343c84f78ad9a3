//! Credential reuse kept per secret: summaries equal a recount, groups and
//! notifications carry exact counts and bounded samples.

use std::sync::Arc;

use decnet_core::{Credential, Event, EventType, SecretKind};
use decnet_intel::{ChannelNotifier, IngestOptions, Ingester, Notification};
use decnet_store::{PageRequest, REUSE_SAMPLE};
use tokio::sync::mpsc;

use crate::ingest::{drain, each_backend, rewind, write};

const SPRAY: &str = "Spring2026!";
const SPRAYED_USERS: usize = 60;

fn login(decky: &str, ip: &str, user: &str, pass: &str) -> Event {
    let mut e = Event::now(
        decky,
        "ssh",
        EventType::LoginAttempt,
        format!("{ip}:5000").parse().unwrap(),
        "127.42.0.10:22".parse().unwrap(),
    );
    e.credential = Some(Credential::new(user, pass.as_bytes(), SecretKind::Password));
    e
}

/// A brute force (one username, every password new), a spray (one
/// password, a new username each time over five deckies) and a few common
/// passwords tried everywhere, interleaved as they arrive.
fn attack_mix() -> Vec<Event> {
    let mut out = Vec::new();
    for i in 0..300 {
        out.push(login(
            "web",
            &format!("10.7.0.{}", i % 3 + 1),
            "admin",
            &format!("bf-{i}"),
        ));
        if i % 5 == 0 {
            let u = i / 5;
            out.push(login(
                &format!("d{}", u % 5),
                &format!("10.7.1.{}", u % 4 + 1),
                &format!("user{u:03}"),
                SPRAY,
            ));
        }
        if i % 25 == 0 {
            let pass = ["123456", "toor"][i / 25 % 2];
            out.push(login(&format!("d{}", i % 7), "10.7.2.1", "root", pass));
        }
    }
    out
}

fn reuse_notes(rx: &mut mpsc::Receiver<Notification>) -> Vec<serde_json::Value> {
    let mut v = Vec::new();
    while let Ok(n) = rx.try_recv() {
        if n.topic == "credential.reuse.detected" {
            v.push(n.payload);
        }
    }
    v
}

/// Ingests the mix in small batches, then replays the whole journal: the
/// maintained summaries equal a recount from the credentials both times,
/// the spray's group holds exact counts and only the first 20 of each list,
/// and the replay announces nothing.
#[tokio::test]
async fn reuse_summaries_equal_a_recount_after_brute_force_spray_and_replay() {
    each_backend(|store, dir| async move {
        let journal = dir.path().join("journal");
        let events = attack_mix();
        write(&journal, &events, None);
        let (tx, mut rx) = mpsc::channel(100_000);
        let opts = IngestOptions {
            batch_max: 37,
            ..Default::default()
        };
        let mut ing = Ingester::new(
            store.clone(),
            &journal,
            Arc::new(ChannelNotifier(tx.clone())),
        )
        .with_options(opts);
        assert_eq!(drain(&mut ing).await, events.len());
        let kept = store.secret_rows().await.unwrap();
        assert_eq!(kept, store.recounted_secret_rows().await.unwrap());
        assert_eq!(
            kept.len(),
            300 + 1 + 2,
            "every brute-force password, the spray, two common"
        );

        let groups = store
            .credential_reuse(&PageRequest::first(50))
            .await
            .unwrap();
        assert_eq!(
            groups.items.len(),
            3,
            "the spray and the two common passwords"
        );
        let spray = &groups.items[0];
        assert_eq!(spray.secret_printable.as_deref(), Some(SPRAY));
        assert_eq!(
            (
                spray.count,
                spray.principal_count,
                spray.decky_count,
                spray.attacker_count
            ),
            (SPRAYED_USERS as u64, SPRAYED_USERS as u64, 5, 4)
        );
        let first: Vec<String> = (0..REUSE_SAMPLE).map(|u| format!("user{u:03}")).collect();
        assert_eq!(spray.principals, first, "the first 20 by name");
        assert_eq!(spray.deckies, ["d0", "d1", "d2", "d3", "d4"]);
        assert_eq!(spray.attacker_uuids.len(), 4);
        assert!(spray.attacker_uuids.windows(2).all(|w| w[0] < w[1]));

        // One note per batch in which the spray gained a username, once it
        // was a reuse; each with exact counts, growing, and bounded lists.
        let notes = reuse_notes(&mut rx);
        let sprayed: Vec<_> = notes
            .iter()
            .filter(|n| n["secret_sha256"] == spray.secret_sha256)
            .collect();
        assert!(sprayed.len() > 1, "{} spray notes", sprayed.len());
        let counts: Vec<u64> = sprayed
            .iter()
            .map(|n| n["principal_count"].as_u64().unwrap())
            .collect();
        assert!(counts.windows(2).all(|w| w[0] < w[1]), "{counts:?}");
        assert_eq!(counts.last(), Some(&(SPRAYED_USERS as u64)));
        assert!(counts[0] >= 2, "announced only once a reuse: {counts:?}");
        assert!(sprayed
            .iter()
            .all(|n| n["principals"].as_array().unwrap().len() <= REUSE_SAMPLE));
        assert!(
            notes
                .iter()
                .all(|n| n["principal_count"].as_u64() >= Some(2)
                    || n["decky_count"].as_u64() >= Some(2)),
            "no brute-force password (each tried once) is announced"
        );

        // Replay everything: nothing is counted twice, nothing is announced.
        rewind(&store).await;
        let mut again = Ingester::new(store.clone(), &journal, Arc::new(ChannelNotifier(tx)))
            .with_options(opts);
        assert_eq!(drain(&mut again).await, 0);
        assert_eq!(store.secret_rows().await.unwrap(), kept);
        assert!(reuse_notes(&mut rx).is_empty());

        // A rebuild from the credentials agrees with what ingest kept.
        store.rebuild_counters().await.unwrap();
        assert_eq!(store.secret_rows().await.unwrap(), kept);
        let again = store
            .credential_reuse(&PageRequest::first(50))
            .await
            .unwrap();
        assert_eq!(again.items, groups.items);
    })
    .await;
}

/// The list pages through every reused secret once, in ranked order, and a
/// group's summary moves with new captures.
#[tokio::test]
async fn the_reuse_list_pages_by_cursor_in_rank_order() {
    each_backend(|store, dir| async move {
        let journal = dir.path().join("journal");
        let mut events = Vec::new();
        // Secret k tried on k+2 deckies: ranks by count, ties by key.
        for k in 0..7usize {
            for d in 0..(k % 4 + 2) {
                events.push(login(
                    &format!("d{d}"),
                    "10.8.0.1",
                    "root",
                    &format!("pw{k}"),
                ));
            }
        }
        write(&journal, &events, None);
        let (tx, _rx) = mpsc::channel(100_000);
        let mut ing = Ingester::new(store.clone(), &journal, Arc::new(ChannelNotifier(tx)));
        drain(&mut ing).await;
        let all = store
            .credential_reuse(&PageRequest::first(50))
            .await
            .unwrap()
            .items;
        assert_eq!(all.len(), 7);
        assert!(all
            .windows(2)
            .all(|w| (w[0].count, &w[0].secret_sha256) > (w[1].count, &w[1].secret_sha256)));
        let mut walked = Vec::new();
        let mut cursor = None;
        loop {
            let page = store
                .credential_reuse(&PageRequest::after(2, cursor))
                .await
                .unwrap();
            walked.extend(page.items);
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(walked, all);
    })
    .await;
}
