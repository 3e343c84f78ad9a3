//! The bait keyspace of a decky that runs `redis`: what a company's web
//! application leaves in its cache. Login sessions of the world's people, the
//! application's cached configuration (its SMTP account, its database account,
//! the cloud keys it uploads with), cached API tokens, a mail queue and rate
//! limit counters. Built on demand from the world, so nothing is stored; the
//! credentials in it are registered honeytokens (document `key <name>`), the
//! same ones the files of other deckies carry where they name the same account.

use super::files::token;
use super::{Draw, Honeytoken, Host, Planted, World};

const DB_SERVICES: [&str; 4] = ["mysql", "postgres", "mssql", "mongodb"];
const B32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const B64ISH: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const HEX: &[u8] = b"0123456789abcdef";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A value of the bait keyspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaitValue {
    /// A string.
    Str(String),
    /// A hash (field, value) in insertion order.
    Hash(Vec<(String, String)>),
    /// A list, head first.
    List(Vec<String>),
}

/// One key of the bait keyspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaitKey {
    /// Database number (0..16).
    pub db: u8,
    /// The key.
    pub key: String,
    /// Its value.
    pub value: BaitValue,
    /// Seconds it has left to live when the keyspace is seeded, if it expires.
    pub ttl: Option<u64>,
}

fn hash(pairs: &[(&str, String)]) -> BaitValue {
    BaitValue::Hash(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

/// The keyspace of `decky` (empty when it does not run redis).
pub fn keyspace(w: &World, decky: &str) -> Vec<BaitKey> {
    match w.host(decky) {
        Some(h) if h.runs("redis") => build(w, h, None),
        _ => Vec::new(),
    }
}

/// Registers the credentials of every redis decky's keyspace.
pub(super) fn plant(w: &World, tokens: &mut Vec<Honeytoken>) {
    for h in w.hosts.iter().filter(|h| h.runs("redis")) {
        build(w, h, Some(tokens));
    }
}

fn iso(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

fn build(w: &World, h: &Host, mut tokens: Option<&mut Vec<Honeytoken>>) -> Vec<BaitKey> {
    let draw: Draw<'_> = w.draw();
    let d = &h.decky;
    let mut out = Vec::new();
    let mut key = |db: u8, key: String, value: BaitValue, ttl: Option<u64>| {
        out.push(BaitKey {
            db,
            key,
            value,
            ttl,
        });
    };
    let at = |k: &str| Planted {
        decky: h.decky.clone(),
        service: "redis".to_owned(),
        document: format!("key {k}"),
    };
    let fqdn = format!("{}.{}", h.hostname, w.domain);
    let anchor = w.anchor().max(1_600_000_000);

    // Logged-in sessions of the web application (express-session layout).
    for (i, p) in w.people.iter().take(6).enumerate() {
        let sid = draw.token(&format!("redis/{d}/sess/{i}"), 32, B64URL);
        let ttl = 600 + draw.num(&format!("redis/{d}/sess/{i}/ttl"), 80_000) as u64;
        let expires = anchor + i64::try_from(ttl).unwrap_or(0);
        let role = if p.it { "admin" } else { "user" };
        let csrf = draw.token(&format!("redis/{d}/sess/{i}/csrf"), 24, B64URL);
        key(
            0,
            format!("sess:{sid}"),
            BaitValue::Str(format!(
                "{{\"cookie\":{{\"originalMaxAge\":86400000,\"expires\":\"{}\",\"secure\":true,\"httpOnly\":true,\"path\":\"/\",\"sameSite\":\"lax\"}},\"passport\":{{\"user\":{}}},\"username\":\"{}\",\"email\":\"{}\",\"role\":\"{role}\",\"csrfSecret\":\"{csrf}\"}}",
                iso(expires),
                1001 + i,
                p.username,
                p.email
            )),
            Some(ttl),
        );
    }

    // Cached API tokens of the people who script against the application.
    for (i, p) in w.people.iter().filter(|p| p.it).take(2).enumerate() {
        let t = draw.token(&format!("redis/{d}/apitoken/{i}"), 40, HEX);
        key(
            0,
            format!("cache:apitoken:{t}"),
            BaitValue::Str(format!(
                "{{\"user\":\"{}\",\"scopes\":[\"read\",\"write\",\"admin\"],\"created\":\"{}\"}}",
                p.username,
                iso(anchor - 86_400 * (20 + i64::try_from(i).unwrap_or(0)))
            )),
            Some(3_600 + draw.num(&format!("redis/{d}/apitoken/{i}/ttl"), 40_000) as u64),
        );
    }

    // The application's configuration, cached from its settings table.
    let mail_hosts: Vec<&Host> = w
        .hosts
        .iter()
        .filter(|m| m.mail_service().is_some())
        .collect();
    if let Some(p) = w.people.iter().find(|p| p.it) {
        let k = "cache:config:smtp";
        let smtp = mail_hosts.first().map_or_else(
            || format!("smtp.{}", w.domain),
            |m| format!("{}.{}", m.hostname, w.domain),
        );
        key(
            0,
            k.to_owned(),
            hash(&[
                ("host", smtp),
                ("port", "587".to_owned()),
                ("secure", "starttls".to_owned()),
                ("user", p.email.clone()),
                ("password", p.password.clone()),
                ("from", format!("no-reply@{}", w.domain)),
            ]),
            None,
        );
        if let Some(t) = tokens.as_deref_mut() {
            token(t, &p.email, &p.password, &mail_hosts, at(k));
        }
    }
    if let Some(dbh) = w.hosts.iter().find(|x| x.runs_any(&DB_SERVICES)) {
        let engine = DB_SERVICES
            .into_iter()
            .find(|s| dbh.runs(s))
            .unwrap_or("mysql");
        let pass = draw.password(&format!("db/{}", dbh.decky));
        let port = match engine {
            "postgres" => 5432,
            "mssql" => 1433,
            "mongodb" => 27017,
            _ => 3306,
        };
        let k = "cache:config:database";
        key(
            0,
            k.to_owned(),
            hash(&[
                ("driver", engine.to_owned()),
                ("host", dbh.hostname.clone()),
                ("port", port.to_string()),
                ("database", "appdb".to_owned()),
                ("username", "app".to_owned()),
                ("password", pass.clone()),
            ]),
            None,
        );
        if let Some(t) = tokens.as_deref_mut() {
            token(t, "app", &pass, &[dbh], at(k));
        }
    }
    {
        // The same keys the file decky's /root/.aws/credentials holds.
        let id = format!("AKIA{}", draw.token("aws/id", 16, B32));
        let secret = draw.token("aws/secret", 40, B64ISH);
        let k = "cache:config:s3";
        key(
            0,
            k.to_owned(),
            hash(&[
                ("region", "us-east-1".to_owned()),
                ("bucket", format!("{}-uploads", w.domain.replace('.', "-"))),
                ("access_key_id", id.clone()),
                ("secret_access_key", secret.clone()),
            ]),
            None,
        );
        if let Some(t) = tokens {
            token(t, &id, &secret, &[], at(k));
        }
    }
    key(
        0,
        "cache:config:app".to_owned(),
        hash(&[
            ("url", format!("https://{fqdn}")),
            ("env", "production".to_owned()),
            (
                "jwt_secret",
                draw.token(&format!("redis/{d}/jwt"), 48, ALNUM),
            ),
            (
                "session_secret",
                draw.token(&format!("redis/{d}/session"), 32, ALNUM),
            ),
        ]),
        None,
    );

    // Background work and counters.
    let queue: Vec<String> = w
        .people
        .iter()
        .skip(2)
        .take(3)
        .enumerate()
        .map(|(i, p)| {
            format!(
                "{{\"id\":\"{}\",\"job\":\"send-mail\",\"to\":\"{}\",\"template\":\"password-reset\",\"attempts\":{}}}",
                draw.token(&format!("redis/{d}/job/{i}"), 16, HEX),
                p.email,
                i
            )
        })
        .collect();
    if !queue.is_empty() {
        key(0, "queue:mail".to_owned(), BaitValue::List(queue), None);
    }
    let day = chrono::DateTime::from_timestamp(anchor, 0)
        .map(|t| t.format("%Y%m%d").to_string())
        .unwrap_or_default();
    key(
        0,
        format!("stats:logins:{day}"),
        BaitValue::Str((40 + draw.num(&format!("redis/{d}/logins"), 300)).to_string()),
        None,
    );
    key(
        0,
        "app:maintenance".to_owned(),
        BaitValue::Str("0".to_owned()),
        None,
    );
    for i in 0..2 {
        let ip = format!(
            "10.{}.{}.{}",
            draw.num(&format!("redis/{d}/rl/{i}/a"), 50),
            draw.num(&format!("redis/{d}/rl/{i}/b"), 255),
            2 + draw.num(&format!("redis/{d}/rl/{i}/c"), 250)
        );
        key(
            0,
            format!("ratelimit:login:{ip}"),
            BaitValue::Str((1 + draw.num(&format!("redis/{d}/rl/{i}"), 4)).to_string()),
            Some(60 + draw.num(&format!("redis/{d}/rl/{i}/ttl"), 800) as u64),
        );
    }
    // The page cache lives in its own database.
    for path in ["/", "/login", "/api/v1/status"] {
        key(
            1,
            format!("cache:page:{path}"),
            BaitValue::Str(format!(
                "{{\"status\":200,\"etag\":\"W/\\\"{}\\\"\",\"body\":\"<!doctype html><title>{}</title>\"}}",
                draw.token(&format!("redis/{d}/page/{path}"), 12, HEX),
                w.company
            )),
            Some(30 + draw.num(&format!("redis/{d}/page/{path}/ttl"), 270) as u64),
        );
    }
    out
}
