use base64::Engine as _;

use super::*;
use crate::config::model::ServiceConfig;
use crate::persona::{distro, OsFamily};

fn decky(name: &str, ip: &str, services: &[&str]) -> DeckyConfig {
    DeckyConfig {
        name: name.into(),
        ip: ip.parse().unwrap(),
        hostname: format!("{name}-host"),
        os_family: OsFamily::Linux,
        distro: distro("debian").unwrap(),
        windows: None,
        archetype: None,
        services: services
            .iter()
            .map(|s| ServiceConfig {
                name: (*s).into(),
                listeners: Vec::new(),
                persona: Default::default(),
            })
            .collect(),
    }
}

fn fleet() -> Vec<DeckyConfig> {
    vec![
        decky("mail", "127.42.0.20", &["smtp", "imap", "pop3"]),
        decky("files", "127.42.0.21", &["ftp", "ssh"]),
        decky("web", "127.42.0.22", &["http", "ssh"]),
        decky("db", "127.42.0.23", &["mysql"]),
    ]
}

const ANCHOR: i64 = 1_790_000_000;

#[test]
fn the_same_key_gives_the_same_world_and_another_key_another() {
    let a = World::derive(b"key-one", &fleet(), ANCHOR);
    let b = World::derive(b"key-one", &fleet(), ANCHOR);
    let c = World::derive(b"key-two", &fleet(), ANCHOR);
    assert_eq!(a.people, b.people);
    assert_eq!(a.tokens, b.tokens);
    assert_eq!(a.mailbox("mail", "admin"), b.mailbox("mail", "admin"));
    assert_ne!(
        a.people.iter().map(|p| &p.password).collect::<Vec<_>>(),
        c.people.iter().map(|p| &p.password).collect::<Vec<_>>()
    );
    assert!(a.people.len() >= 8);
    let mut names: Vec<&str> = a.people.iter().map(|p| p.username.as_str()).collect();
    names.dedup();
    assert_eq!(names.len(), a.people.len(), "usernames are unique");
}

#[test]
fn every_mailbox_has_ten_dated_messages_that_parse() {
    let w = World::derive(b"k", &fleet(), ANCHOR);
    let p = w.people.first().unwrap();
    for login in [p.username.as_str(), p.email.as_str(), "admin"] {
        let mbox = w.mailbox("mail", login);
        assert!(mbox.len() >= 10, "{login}: {}", mbox.len());
        for (m, uid) in mbox.iter().zip(1u32..) {
            assert_eq!(m.uid, uid);
            assert!(m.date < ANCHOR + 86_400);
            let text = String::from_utf8(m.raw.clone()).unwrap();
            let (head, _) = text.split_once("\r\n\r\n").unwrap();
            for h in ["Date: ", "From: ", "To: ", "Subject: ", "Message-ID: <"] {
                assert!(head.contains(h), "{h} missing in {head}");
            }
            assert!(head.contains(&format!("Subject: {}\r\n", m.subject)));
            assert!(!text.contains("\n\n") && !text.replace("\r\n", "").contains('\n'));
            for a in &m.attachments {
                // The attachment's bytes are in the message, base64 as a client decodes them.
                let part = text
                    .split(&format!("filename=\"{}\"", a.filename))
                    .nth(1)
                    .unwrap();
                let body = part
                    .split("\r\n\r\n")
                    .nth(1)
                    .unwrap()
                    .split("--")
                    .next()
                    .unwrap();
                let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap();
                assert_eq!(decoded, a.data);
            }
        }
        assert!(mbox.windows(2).all(|x| x[0].date <= x[1].date));
        assert!(mbox.iter().any(|m| !m.attachments.is_empty()));
    }
    assert!(
        w.mailbox("files", "admin").is_empty(),
        "a decky without mail shows none"
    );
}

#[test]
fn every_planted_credential_is_where_it_says_and_accepted_only_where_valid() {
    let w = World::derive(b"k", &fleet(), ANCHOR);
    assert!(w.tokens().len() >= 5, "{:?}", w.tokens());
    for t in w.tokens() {
        for at in &t.planted {
            let shown = if at.service == "imap" || at.service == "pop3" {
                let login = at.document.rsplit_once(" to ").map_or("admin", |(_, l)| l);
                w.mailbox(&at.decky, login)
                    .iter()
                    .filter(|m| at.document.contains(&format!("\"{}\"", m.subject)))
                    .any(|m| {
                        let raw = String::from_utf8_lossy(&m.raw);
                        raw.contains(&t.secret) && raw.contains(&t.principal)
                    })
            } else {
                w.files(&at.decky)
                    .iter()
                    .any(|f| f.path == at.document && f.content.contains(&t.secret))
            };
            assert!(shown, "{t:?} is not shown at {at:?}");
        }
        let found = w.honeytoken(&t.principal, t.secret.as_bytes()).unwrap();
        assert_eq!(found.principal, t.principal);
        for h in &w.hosts {
            assert_eq!(
                w.accepts(&h.decky, &t.principal, t.secret.as_bytes()),
                t.valid_on.contains(&h.decky)
                    || w.person(&t.principal)
                        .is_some_and(|p| p.password == t.secret && p.accounts.contains(&h.decky)),
                "{t:?} on {}",
                h.decky
            );
        }
        assert!(w.honeytoken(&t.principal, b"not-the-secret").is_none());
    }
    // The IT notice names another decky and a credential valid there.
    let notice = w
        .tokens()
        .iter()
        .find(|t| t.principal == "helpdesk")
        .expect("helpdesk token");
    assert!(notice.valid_on.iter().all(|d| d != "mail") && !notice.valid_on.is_empty());
    assert!(w.tokens().iter().any(|t| t.principal.starts_with("AKIA")));
    assert!(w
        .tokens()
        .iter()
        .any(|t| t.principal == "app" && t.valid_on == ["db"]));
}

#[test]
fn a_person_logs_in_with_their_own_password_only_where_they_have_an_account() {
    let w = World::derive(b"k", &fleet(), ANCHOR);
    for p in &w.people {
        for h in &w.hosts {
            assert_eq!(
                w.accepts(&h.decky, &p.username, p.password.as_bytes()),
                p.accounts.contains(&h.decky)
                    || w.honeytoken(&p.username, p.password.as_bytes())
                        .is_some_and(|t| t.valid_on.contains(&h.decky))
            );
        }
        assert!(p.accounts.contains(&"mail".to_owned()));
    }
    // The deploy account planted for files has a login there, not elsewhere.
    assert!(w.logins_on("files").contains(&"deploy".to_owned()));
    assert!(!w.logins_on("db").contains(&"deploy".to_owned()));
    assert!(w.logins_on("files").iter().all(|l| !l.contains('@')));
    let (who, from) = w.last_login("files").unwrap();
    assert!(who.it && who.accounts.contains(&"files".to_owned()));
    assert_ne!(from.decky, "files");
}

#[test]
fn an_empty_world_plants_and_accepts_nothing() {
    let w = World::empty();
    assert!(w.tokens().is_empty());
    assert!(!w.accepts("any", "root", b"root"));
    assert!(w.mailbox("any", "root").is_empty());
    assert!(w.last_login("any").is_none());
}

#[test]
fn an_operators_bait_file_replaces_the_worlds_at_its_path() {
    use crate::config::model::BaitOverride;
    let mut overrides = std::collections::BTreeMap::new();
    let w = World::derive(b"k", &fleet(), ANCHOR);
    let planted = w
        .files("web")
        .iter()
        .find(|f| f.path == "/var/www/html/.env")
        .cloned();
    assert!(planted.is_some());
    let person = w.people_on("web")[0].username.clone();
    overrides.insert(
        "web".to_owned(),
        vec![
            BaitOverride {
                path: "/var/www/html/.env".into(),
                content: "APP_KEY=mine\n".into(),
            },
            BaitOverride {
                path: format!("/home/{person}/todo.txt"),
                content: "call bob\n".into(),
            },
        ],
    );
    let w = w.with_overrides(&overrides);
    let env: Vec<&BaitFile> = w
        .files("web")
        .iter()
        .filter(|f| f.path == "/var/www/html/.env")
        .collect();
    assert_eq!(env.len(), 1);
    assert_eq!(env[0].content, "APP_KEY=mine\n");
    let todo = w
        .files("web")
        .iter()
        .find(|f| f.path.ends_with("/todo.txt"))
        .unwrap();
    assert_eq!(todo.owner, person, "a file under a person's home is theirs");
}
