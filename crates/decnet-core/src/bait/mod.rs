//! The fleet's bait world (DESIGN §3): one set of fake people, their accounts,
//! the fleet's own deckies as internal hosts, and credentials planted in mail
//! and files. Every planted credential is a honeytoken: [`World::honeytoken`]
//! says where it was planted, and [`World::accepts`] lets it in on the deckies
//! where the world says its account exists, so an intruder who reads it can be
//! followed to the next host.
//!
//! Everything is derived from the installation key and the fleet's deckies, so
//! the world is stable across restarts and different on every installation.

mod files;
mod mail;
pub mod redis;
pub mod sql;
mod words;

use std::collections::BTreeMap;
use std::net::IpAddr;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::model::DeckyConfig;

pub use files::BaitFile;
pub use mail::{Attachment, MailMessage};

/// Services a person can log in to with a shell or files: where accounts matter.
const LOGIN_SERVICES: [&str; 4] = ["ssh", "telnet", "ftp", "smb"];
/// Services that serve a mailbox.
const MAIL_SERVICES: [&str; 2] = ["imap", "pop3"];

/// A fake employee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// `Jennifer Lopez`.
    pub full_name: String,
    /// Login name (`jlopez`, `jennifer.lopez`, as the company's convention has it).
    pub username: String,
    /// `jennifer.lopez@<domain>`.
    pub email: String,
    /// Their own password (accepted on the deckies where they have an account).
    pub password: String,
    /// Job title.
    pub title: String,
    /// Whether they are IT staff (accounts on every decky with a login service).
    pub it: bool,
    /// Deckies (names) where they have an account.
    pub accounts: Vec<String>,
}

/// One of the fleet's deckies as the world knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Decky name.
    pub decky: String,
    /// Its hostname.
    pub hostname: String,
    /// Its address.
    pub ip: IpAddr,
    /// The services it runs.
    pub services: Vec<String>,
}

impl Host {
    fn runs(&self, service: &str) -> bool {
        self.services.iter().any(|s| s == service)
    }

    fn runs_any(&self, services: &[&str]) -> bool {
        services.iter().any(|s| self.runs(s))
    }

    /// The service through which its files are read (the first shell or file service it runs).
    fn file_service(&self) -> Option<&'static str> {
        ["ssh", "telnet", "ftp"].into_iter().find(|s| self.runs(s))
    }

    /// The service through which its mail is read.
    fn mail_service(&self) -> Option<&'static str> {
        MAIL_SERVICES.into_iter().find(|s| self.runs(s))
    }
}

/// Where a honeytoken was planted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Planted {
    /// The decky it can be read on.
    pub decky: String,
    /// The service that shows it (`imap`, `ssh`, …).
    pub service: String,
    /// The document: a file path, or `mail "<subject>" to <login>`.
    pub document: String,
}

/// A planted credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Honeytoken {
    /// The principal it names.
    pub principal: String,
    /// The secret it gives.
    pub secret: String,
    /// Deckies where the world says the account exists, so the credential is accepted there.
    pub valid_on: Vec<String>,
    /// Every place it was planted.
    pub planted: Vec<Planted>,
}

impl Honeytoken {
    /// The `honeytoken` field of an event that presented it.
    pub fn field(&self) -> serde_json::Value {
        serde_json::json!({
            "principal": self.principal,
            "planted": self.planted,
            "valid_on": self.valid_on,
        })
    }
}

/// The fleet's bait world.
#[derive(Debug, Clone)]
pub struct World {
    /// The company's display name (`Silverbrook Freight`).
    pub company: String,
    /// Its mail domain (`silverbrook-freight.com`).
    pub domain: String,
    /// Its people.
    pub people: Vec<Person>,
    /// The fleet's deckies.
    pub hosts: Vec<Host>,
    tokens: Vec<Honeytoken>,
    /// Per-decky files planted beyond the persona's own.
    files: BTreeMap<String, Vec<BaitFile>>,
    key: [u8; 32],
    /// When the world began (Unix seconds): mail and file dates count back from here.
    anchor: i64,
}

/// Deterministic draws from the world's key.
#[derive(Clone)]
struct Draw<'a>(&'a [u8; 32]);

impl Draw<'_> {
    fn bytes(&self, label: &str) -> [u8; 32] {
        // HMAC takes keys of any length.
        let mut mac = match Hmac::<Sha256>::new_from_slice(self.0) {
            Ok(m) => m,
            Err(_) => return [0; 32],
        };
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    fn num(&self, label: &str, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        let b = self.bytes(label);
        let mut x = [0u8; 8];
        x.copy_from_slice(&b[..8]);
        usize::try_from(u64::from_le_bytes(x) % n as u64).unwrap_or(0)
    }

    fn pick<'w>(&self, label: &str, list: &[&'w str]) -> &'w str {
        list.get(self.num(label, list.len())).copied().unwrap_or("")
    }

    /// A password as people choose them: a word, digits, a symbol.
    fn password(&self, label: &str) -> String {
        let word = self.pick(&format!("{label}/w"), words::PASSWORD_WORDS);
        let tail = self.pick(&format!("{label}/t"), words::PASSWORD_TAILS);
        let digits = match self.num(&format!("{label}/d"), 3) {
            0 => format!("{}", 2019 + self.num(&format!("{label}/y"), 7)),
            1 => format!("{:02}", self.num(&format!("{label}/n"), 100)),
            _ => format!("{}", 100 + self.num(&format!("{label}/n"), 900)),
        };
        format!("{word}{digits}{tail}")
    }

    /// A random-looking secret of `len` characters from `alphabet`.
    fn token(&self, label: &str, len: usize, alphabet: &[u8]) -> String {
        let mut out = String::with_capacity(len);
        let mut i = 0;
        while out.len() < len {
            for b in self.bytes(&format!("{label}/{i}")) {
                if out.len() == len {
                    break;
                }
                if let Some(c) = alphabet.get(usize::from(b) % alphabet.len().max(1)) {
                    out.push(char::from(*c));
                }
            }
            i += 1;
        }
        out
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

impl Default for World {
    fn default() -> World {
        World::empty()
    }
}

impl World {
    /// A world with no people and no hosts: nothing is planted and nothing is accepted.
    pub fn empty() -> World {
        World {
            company: String::new(),
            domain: "example.com".to_owned(),
            people: Vec::new(),
            hosts: Vec::new(),
            tokens: Vec::new(),
            files: BTreeMap::new(),
            key: [0; 32],
            anchor: 0,
        }
    }

    /// The world of an installation (`installation_key`) running `deckies`.
    /// `anchor` (Unix seconds, e.g. when the installation key was made) is when
    /// the world began: dates of mail and files count back from it.
    pub fn derive(installation_key: &[u8], deckies: &[DeckyConfig], anchor: i64) -> World {
        let hosts: Vec<Host> = deckies
            .iter()
            .map(|d| Host {
                decky: d.name.clone(),
                hostname: d.hostname.clone(),
                ip: d.ip,
                services: d.services.iter().map(|s| s.name.clone()).collect(),
            })
            .collect();
        let key = {
            let mut mac = match Hmac::<Sha256>::new_from_slice(installation_key) {
                Ok(m) => m,
                Err(_) => return World::empty(),
            };
            mac.update(b"decnet-bait-world");
            let k: [u8; 32] = mac.finalize().into_bytes().into();
            k
        };
        let draw = Draw(&key);
        let a = draw.pick("company/a", words::COMPANY_A);
        let b = draw.pick("company/b", words::COMPANY_B);
        let trade = draw.pick("company/trade", words::TRADE);
        let company = format!("{}{b} {trade}", capitalise(a));
        let domain = format!("{a}{b}-{}.com", trade.to_lowercase());

        let mut world = World {
            company,
            domain,
            people: Vec::new(),
            hosts,
            tokens: Vec::new(),
            files: BTreeMap::new(),
            key,
            anchor,
        };
        world.people = world.make_people();
        world.plant();
        world
    }

    fn draw(&self) -> Draw<'_> {
        Draw(&self.key)
    }

    fn make_people(&self) -> Vec<Person> {
        let draw = self.draw();
        let count = (8 + 2 * self.hosts.len()).min(40);
        let convention = draw.num("username-convention", 3);
        let login_hosts: Vec<&Host> = self
            .hosts
            .iter()
            .filter(|h| h.runs_any(&LOGIN_SERVICES))
            .collect();
        let mail_hosts: Vec<&Host> = self
            .hosts
            .iter()
            .filter(|h| h.runs_any(&MAIL_SERVICES) || h.runs("smtp"))
            .collect();
        let mut people: Vec<Person> = Vec::new();
        let mut i = 0usize;
        while people.len() < count && i < count * 4 {
            let first = draw.pick(&format!("person/{i}/first"), words::FIRST);
            let last = draw.pick(&format!("person/{i}/last"), words::LAST);
            i += 1;
            let username = match convention {
                0 => format!("{}{last}", &first[..1]),
                1 => format!("{first}.{last}"),
                _ => format!("{first}{}", &last[..1]),
            };
            if people.iter().any(|p| p.username == username) {
                continue;
            }
            let n = people.len();
            // The first two are always IT: someone administers the machines.
            let title_idx = if n < 2 {
                n
            } else {
                draw.num(&format!("person/{n}/title"), words::TITLES.len())
            };
            let it = title_idx < words::IT_TITLES;
            let mut accounts: Vec<String> = mail_hosts.iter().map(|h| h.decky.clone()).collect();
            if it {
                accounts.extend(login_hosts.iter().map(|h| h.decky.clone()));
            } else if !login_hosts.is_empty() {
                let h = draw.num(&format!("person/{n}/host"), login_hosts.len());
                if let Some(h) = login_hosts.get(h) {
                    accounts.push(h.decky.clone());
                }
            }
            accounts.sort();
            accounts.dedup();
            people.push(Person {
                full_name: format!("{} {}", capitalise(first), capitalise(last)),
                email: format!("{first}.{last}@{}", self.domain),
                password: draw.password(&format!("person/{n}/password")),
                title: words::TITLES
                    .get(title_idx)
                    .copied()
                    .unwrap_or("")
                    .to_owned(),
                it,
                accounts,
                username,
            });
        }
        people
    }

    /// Plants the world's tokens: in mail on the mail deckies and in files on
    /// the deckies with a shell or file service.
    fn plant(&mut self) {
        let mut tokens = Vec::new();
        mail::plant(self, &mut tokens);
        let files = files::plant(self, &mut tokens);
        redis::plant(self, &mut tokens);
        self.tokens = tokens;
        self.files = files;
    }

    /// Lays the operator's own files (`bait_file`) over the world's: each
    /// replaces the world's file of that path on its decky.
    pub fn with_overrides(
        mut self,
        overrides: &BTreeMap<String, Vec<crate::config::model::BaitOverride>>,
    ) -> World {
        for (decky, list) in overrides {
            let files = self.files.entry(decky.clone()).or_default();
            for o in list {
                files.retain(|f| f.path != o.path);
                let owner = o
                    .path
                    .strip_prefix("/home/")
                    .and_then(|rest| rest.split('/').next())
                    .filter(|u| self.people.iter().any(|p| p.username == *u))
                    .unwrap_or("root")
                    .to_owned();
                files.push(BaitFile {
                    path: o.path.clone(),
                    owner,
                    mode: 0o644,
                    content: o.content.clone(),
                    append: false,
                    days_ago: 10,
                });
            }
        }
        self
    }

    /// When the world began (Unix seconds).
    pub fn anchor(&self) -> i64 {
        self.anchor
    }

    /// The host of a decky.
    pub fn host(&self, decky: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.decky == decky)
    }

    /// The person a login names (their username or their address).
    pub fn person(&self, login: &str) -> Option<&Person> {
        let l = login.trim();
        self.people
            .iter()
            .find(|p| p.username.eq_ignore_ascii_case(l) || p.email.eq_ignore_ascii_case(l))
    }

    /// The people with an account on a decky.
    pub fn people_on(&self, decky: &str) -> Vec<&Person> {
        self.people
            .iter()
            .filter(|p| p.accounts.iter().any(|a| a == decky))
            .collect()
    }

    /// Login names with an account on a decky: its people, and the service
    /// accounts (`helpdesk`, `deploy`) of the honeytokens valid there, so a
    /// planted login finds its own line in `/etc/passwd` and its home.
    pub fn logins_on(&self, decky: &str) -> Vec<String> {
        let mut out: Vec<String> = self
            .people_on(decky)
            .into_iter()
            .map(|p| p.username.clone())
            .collect();
        for t in &self.tokens {
            let plain_login = !t.principal.is_empty()
                && t.principal.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'
                });
            if plain_login
                && t.valid_on.iter().any(|d| d == decky)
                && self.person(&t.principal).is_none()
                && !out.contains(&t.principal)
            {
                out.push(t.principal.clone());
            }
        }
        out
    }

    /// The honeytoken a credential is, wherever it is presented.
    pub fn honeytoken(&self, principal: &str, secret: &[u8]) -> Option<&Honeytoken> {
        let principal = principal.trim();
        let who = self.person(principal).map(|p| p.username.as_str());
        self.tokens.iter().find(|t| {
            t.secret.as_bytes() == secret
                && (t.principal == principal
                    || (who.is_some()
                        && self.person(&t.principal).map(|p| p.username.as_str()) == who))
        })
    }

    /// Whether the world lets this credential in on a decky: a honeytoken valid
    /// there, or a person's own password where they have an account.
    pub fn accepts(&self, decky: &str, principal: &str, secret: &[u8]) -> bool {
        if self
            .honeytoken(principal, secret)
            .is_some_and(|t| t.valid_on.iter().any(|d| d == decky))
        {
            return true;
        }
        self.person(principal).is_some_and(|p| {
            p.password.as_bytes() == secret && p.accounts.iter().any(|a| a == decky)
        })
    }

    /// Every password the world lets `user` in with on a decky: for protocols
    /// that send a digest of the password (CRAM-MD5, APOP) rather than the password.
    pub fn passwords_for(&self, decky: &str, user: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if let Some(p) = self.person(user) {
            out.push(p.password.clone());
        }
        let who = self.person(user).map(|p| p.username.as_str());
        out.extend(
            self.tokens
                .iter()
                .filter(|t| {
                    t.principal == user.trim()
                        || (who.is_some()
                            && self.person(&t.principal).map(|p| p.username.as_str()) == who)
                })
                .map(|t| t.secret.clone()),
        );
        out.retain(|p| self.accepts(decky, user, p.as_bytes()));
        out.dedup();
        out
    }

    /// Every planted credential.
    pub fn tokens(&self) -> &[Honeytoken] {
        &self.tokens
    }

    /// The mailbox a login sees on a decky: a person's own, or for any other
    /// login (an account configured on the service) the company-wide mail.
    /// Empty on a decky that serves no mail.
    pub fn mailbox(&self, decky: &str, login: &str) -> Vec<MailMessage> {
        match self.host(decky) {
            Some(h) if h.mail_service().is_some() => mail::mailbox(self, h, login),
            _ => Vec::new(),
        }
    }

    /// Files planted on a decky, beyond what its persona ships.
    pub fn files(&self, decky: &str) -> &[BaitFile] {
        self.files.get(decky).map_or(&[], Vec::as_slice)
    }

    /// Who logged in last on a decky and from where: an IT person from another
    /// decky of the fleet (their workstation or jump host).
    pub fn last_login(&self, decky: &str) -> Option<(&Person, &Host)> {
        let draw = self.draw();
        let it: Vec<&Person> = self
            .people
            .iter()
            .filter(|p| p.it && p.accounts.iter().any(|a| a == decky))
            .collect();
        let others: Vec<&Host> = self.hosts.iter().filter(|h| h.decky != decky).collect();
        let p = it.get(draw.num(&format!("last-login/{decky}/who"), it.len()))?;
        let h = others.get(draw.num(&format!("last-login/{decky}/from"), others.len()))?;
        Some((p, h))
    }
}

#[cfg(test)]
mod tests;
