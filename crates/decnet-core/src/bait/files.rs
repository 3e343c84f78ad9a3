//! Bait in the persona filesystem: shell histories, SSH client configs, mail
//! client configs, cloud keys and application secrets that name the fleet's
//! other deckies, each credential in them a registered honeytoken.

use std::collections::BTreeMap;

use super::{Honeytoken, Host, Planted, World};

/// One file planted on a decky.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaitFile {
    /// Absolute path.
    pub path: String,
    /// Owning login (`root` or a person's username).
    pub owner: String,
    /// Permission bits.
    pub mode: u32,
    /// Contents.
    pub content: String,
    /// Appended to the persona's own file of that path rather than replacing it.
    pub append: bool,
    /// How many days before the world's anchor it was last written.
    pub days_ago: i64,
}

const DB_SERVICES: [&str; 4] = ["mysql", "postgres", "mssql", "mongodb"];
const B32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const B64ISH: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Registers a planted credential, or adds a place and deckies to the one already registered.
pub(super) fn token(
    tokens: &mut Vec<Honeytoken>,
    principal: &str,
    secret: &str,
    valid_on: &[&Host],
    at: Planted,
) {
    let valid: Vec<String> = valid_on.iter().map(|h| h.decky.clone()).collect();
    if let Some(t) = tokens
        .iter_mut()
        .find(|t| t.principal == principal && t.secret == secret)
    {
        t.planted.push(at);
        for d in valid {
            if !t.valid_on.contains(&d) {
                t.valid_on.push(d);
            }
        }
        return;
    }
    tokens.push(Honeytoken {
        principal: principal.to_owned(),
        secret: secret.to_owned(),
        valid_on: valid,
        planted: vec![at],
    });
}

/// The database client line or config a host's files name, when the fleet has a database decky.
fn database(w: &World) -> Option<(&Host, &'static str, String)> {
    let h = w.hosts.iter().find(|h| h.runs_any(&DB_SERVICES))?;
    let engine = DB_SERVICES.into_iter().find(|s| h.runs(s))?;
    Some((h, engine, w.draw().password(&format!("db/{}", h.decky))))
}

/// Plants the files of every decky with a shell or file service.
pub(super) fn plant(w: &World, tokens: &mut Vec<Honeytoken>) -> BTreeMap<String, Vec<BaitFile>> {
    let draw = w.draw();
    let mut out: BTreeMap<String, Vec<BaitFile>> = BTreeMap::new();
    let mail_hosts: Vec<&Host> = w
        .hosts
        .iter()
        .filter(|h| h.mail_service().is_some())
        .collect();
    let ssh_hosts: Vec<&Host> = w.hosts.iter().filter(|h| h.runs("ssh")).collect();
    let db = database(w);
    let aws_host = w
        .hosts
        .iter()
        .find(|h| h.file_service().is_some())
        .map(|h| h.decky.clone());
    for h in &w.hosts {
        let Some(service) = h.file_service() else {
            continue;
        };
        let at = |path: &str| Planted {
            decky: h.decky.clone(),
            service: service.to_owned(),
            document: path.to_owned(),
        };
        let mut files = Vec::new();

        // /etc/hosts names a few neighbours, as an administrator adds them.
        let mut hosts_lines = String::new();
        let fqdn = |x: &Host| format!("{}.{}", x.hostname, w.domain);
        for (i, other) in w.hosts.iter().filter(|o| o.decky != h.decky).enumerate() {
            if i < 6 && draw.num(&format!("etc-hosts/{}/{}", h.decky, other.decky), 3) != 0 {
                hosts_lines.push_str(&format!(
                    "{}\t{} {}\n",
                    other.ip,
                    fqdn(other),
                    other.hostname
                ));
            }
        }
        if !hosts_lines.is_empty() {
            files.push(BaitFile {
                path: "/etc/hosts".to_owned(),
                owner: "root".to_owned(),
                mode: 0o644,
                content: hosts_lines,
                append: true,
                days_ago: 40,
            });
        }

        // root's history: the database, and whatever the administrator did last.
        let mut root_hist = String::new();
        if let Some((dbh, engine, pass)) = &db {
            if dbh.decky != h.decky {
                let line = match *engine {
                    "postgres" => format!(
                        "PGPASSWORD='{pass}' psql -h {} -U app appdb\n",
                        dbh.hostname
                    ),
                    "mssql" => format!("sqlcmd -S {} -U app -P '{pass}'\n", dbh.hostname),
                    "mongodb" => format!(
                        "mongosh mongodb://app:{pass}@{}:27017/appdb\n",
                        dbh.hostname
                    ),
                    _ => format!("mysql -h {} -u app -p'{pass}' appdb\n", dbh.hostname),
                };
                root_hist.push_str(&line);
                token(tokens, "app", pass, &[dbh], at("/root/.bash_history"));
            }
        }
        if !root_hist.is_empty() {
            files.push(BaitFile {
                path: "/root/.bash_history".to_owned(),
                owner: "root".to_owned(),
                mode: 0o600,
                content: root_hist,
                append: true,
                days_ago: 2,
            });
        }

        // A web application's environment with the same database account.
        if let (true, Some((dbh, engine, pass))) = (h.runs("http") || h.runs("https"), &db) {
            let port = match *engine {
                "postgres" => 5432,
                "mssql" => 1433,
                "mongodb" => 27017,
                _ => 3306,
            };
            let path = "/var/www/html/.env";
            files.push(BaitFile {
                path: path.to_owned(),
                owner: "root".to_owned(),
                mode: 0o640,
                content: format!("APP_ENV=production\nAPP_DEBUG=false\nAPP_URL=https://{}\n\nDB_CONNECTION={engine}\nDB_HOST={}\nDB_PORT={port}\nDB_DATABASE=appdb\nDB_USERNAME=app\nDB_PASSWORD={pass}\n\nMAIL_HOST=smtp.{}\nMAIL_PORT=587\n", fqdn(h), dbh.hostname, w.domain),
                append: false,
                days_ago: 20,
            });
            token(tokens, "app", pass, &[dbh], at(path));
        }

        // One machine holds the company's cloud keys.
        if aws_host.as_deref() == Some(h.decky.as_str()) {
            let id = format!("AKIA{}", draw.token("aws/id", 16, B32));
            let secret = draw.token("aws/secret", 40, B64ISH);
            let path = "/root/.aws/credentials";
            files.push(BaitFile {
                path: path.to_owned(),
                owner: "root".to_owned(),
                mode: 0o600,
                content: format!("[default]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\nregion = us-east-1\n"),
                append: false,
                days_ago: 60,
            });
            token(tokens, &id, &secret, &[], at(path));
        }

        for p in w.people_on(&h.decky) {
            let home = format!("/home/{}", p.username);
            let mut hist = String::from("ls -la\ncd /var/log\nsudo tail -n 100 syslog\ndf -h\n");
            if p.it {
                // Where they go next, with the deploy account they script against.
                let next: Vec<&&Host> = ssh_hosts.iter().filter(|o| o.decky != h.decky).collect();
                if let Some(t) =
                    next.get(draw.num(&format!("deploy/{}/{}", h.decky, p.username), next.len()))
                {
                    let pass = draw.password(&format!("deploy/{}", t.decky));
                    hist.push_str(&format!(
                        "ssh {}\nsshpass -p '{pass}' ssh deploy@{} 'systemctl status --no-pager'\n",
                        t.hostname, t.hostname
                    ));
                    token(
                        tokens,
                        "deploy",
                        &pass,
                        &[t],
                        at(&format!("{home}/.bash_history")),
                    );
                }
                let mut cfg = String::new();
                for o in ssh_hosts.iter().filter(|o| o.decky != h.decky) {
                    cfg.push_str(&format!(
                        "Host {}\n    HostName {}\n    User {}\n\n",
                        o.hostname, o.ip, p.username
                    ));
                }
                if !cfg.is_empty() {
                    files.push(BaitFile {
                        path: format!("{home}/.ssh/config"),
                        owner: p.username.clone(),
                        mode: 0o600,
                        content: cfg,
                        append: false,
                        days_ago: 45,
                    });
                }
            }
            hist.push_str("sudo systemctl restart cron\nexit\n");
            files.push(BaitFile {
                path: format!("{home}/.bash_history"),
                owner: p.username.clone(),
                mode: 0o600,
                content: hist,
                append: false,
                days_ago: 1,
            });
            // Their mail client's config, with their own password.
            if let Some(m) = mail_hosts.iter().find(|m| m.decky != h.decky) {
                let path = format!("{home}/.fetchmailrc");
                let proto = if m.runs("imap") { "imap" } else { "pop3" };
                files.push(BaitFile {
                    path: path.clone(),
                    owner: p.username.clone(),
                    mode: 0o600,
                    content: format!("poll {} protocol {proto}\n    user '{}' password '{}' is '{}' here\n    ssl\n", fqdn(m), p.email, p.password, p.username),
                    append: false,
                    days_ago: 30,
                });
                let mail_decks: Vec<&Host> = mail_hosts.to_vec();
                token(tokens, &p.email, &p.password, &mail_decks, at(&path));
            }
        }
        out.insert(h.decky.clone(), files);
    }
    out
}
