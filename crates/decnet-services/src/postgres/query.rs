//! The small simple-query surface a logged-in client sees: enough for psql
//! to stay usable (`SELECT version()`, `current_user`, `SHOW`, `SET`,
//! transactions, `\l`, the catalog queries of `\d`) and for an intruder to
//! meet the errors a real server gives for everything else (42P01 for a
//! relation, 42883 for a function, 42601 for what does not parse). Pure: a
//! query text in, the backend's bytes out.

use super::version::{Release, Site};
use super::wire::{self, Column};

/// What the session knows that a query can show.
#[derive(Debug, Clone)]
pub struct Session<'a> {
    /// The role logged in.
    pub user: &'a str,
    /// The database connected to.
    pub database: &'a str,
    /// The release shown.
    pub release: &'a Release,
    /// Whether the role is a superuser.
    pub superuser: bool,
    /// The databases `\l` lists: (name, owner).
    pub databases: &'a [(String, String)],
    /// `client_encoding` in effect.
    pub client_encoding: &'a str,
    /// `application_name` in effect.
    pub application_name: &'a str,
}

/// Transaction status of ReadyForQuery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tx {
    /// Idle (`I`).
    #[default]
    Idle,
    /// In a transaction block (`T`).
    Block,
    /// In a failed transaction block (`E`).
    Failed,
}

impl Tx {
    /// The ReadyForQuery status byte.
    pub fn status(self) -> u8 {
        match self {
            Tx::Idle => b'I',
            Tx::Block => b'T',
            Tx::Failed => b'E',
        }
    }
}

/// The answer to one Query message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Answer {
    /// The backend's messages up to (not including) ReadyForQuery.
    pub out: Vec<u8>,
    /// SQLSTATE of the error that ended it, if one did.
    pub error: Option<&'static str>,
    /// Statements answered.
    pub statements: usize,
}

/// Splits a query string at the semicolons outside quotes: (byte offset, statement).
pub fn split(q: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let (mut start, mut quote) = (0usize, None::<char>);
    for (i, c) in q.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(open), c) if c == open => quote = None,
            (None, ';') => {
                out.push((start, q.get(start..i).unwrap_or_default()));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push((start, q.get(start..).unwrap_or_default()));
    out.retain(|(_, s)| !s.trim().is_empty());
    out
}

/// 1-based character position of byte offset `at` in `q` (the `P` field).
fn position(q: &str, at: usize) -> String {
    (q.get(..at).map_or(0, |p| p.chars().count()) + 1).to_string()
}

fn error(
    r: &Release,
    code: &'static str,
    message: &str,
    hint: Option<&str>,
    pos: Option<String>,
    site: Site,
) -> Vec<u8> {
    let line = site.1.to_string();
    let mut f: Vec<(u8, &str)> = vec![(b'S', "ERROR")];
    if r.has_v_field() {
        f.push((b'V', "ERROR"));
    }
    f.push((b'C', code));
    f.push((b'M', message));
    if let Some(h) = hint {
        f.push((b'H', h));
    }
    if let Some(p) = &pos {
        f.push((b'P', p));
    }
    f.extend([(b'F', site.0), (b'L', line.as_str()), (b'R', site.2)]);
    wire::error_response(&f)
}

fn rows(cols: &[Column<'_>], values: &[Vec<Option<String>>], tag: &str) -> Vec<u8> {
    let mut out = wire::row_description(cols);
    for row in values {
        let r: Vec<Option<&str>> = row.iter().map(|v| v.as_deref()).collect();
        out.extend(wire::data_row(&r));
    }
    out.extend(wire::command_complete(&format!("{tag} {}", values.len())));
    out
}

fn one(col: Column<'_>, value: &str) -> Vec<u8> {
    rows(&[col], &[vec![Some(value.to_owned())]], "SELECT")
}

/// The column aliases (`AS "Name"`) of a catalog query, in order.
fn aliases(q: &str) -> Vec<String> {
    let lower = q.to_ascii_lowercase();
    let mut out = Vec::new();
    let mut rest = 0usize;
    while let Some(i) = lower.get(rest..).and_then(|s| s.find("as \"")) {
        let start = rest + i + 4;
        let Some(len) = q.get(start..).and_then(|s| s.find('"')) else {
            break;
        };
        out.push(q.get(start..start + len).unwrap_or_default().to_owned());
        rest = start + len + 1;
    }
    out
}

/// The words of a statement, lower-cased, with their byte offsets.
fn words(s: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(usize, String)> = None;
    for (i, c) in s.char_indices() {
        if c.is_alphanumeric() || c == '_' || c == '.' || c == '"' {
            cur.get_or_insert((i, String::new()))
                .1
                .push(c.to_ascii_lowercase());
        } else {
            out.extend(cur.take());
            if !c.is_whitespace() {
                out.push((i, c.to_string()));
            }
        }
    }
    out.extend(cur);
    out
}

/// Answers a Query message's text.
pub fn answer(q: &str, s: &Session<'_>, tx: &mut Tx) -> Answer {
    let mut a = Answer::default();
    let statements = split(q);
    if statements.is_empty() {
        a.out = wire::message(b'I', &[]);
        return a;
    }
    for (at, stmt) in statements {
        a.statements += 1;
        let lead = stmt.len() - stmt.trim_start().len();
        let (out, err) = statement(q, at + lead, stmt.trim(), s, tx);
        a.out.extend(out);
        if let Some(code) = err {
            a.error = Some(code);
            if *tx == Tx::Block {
                *tx = Tx::Failed;
            }
            break;
        }
    }
    a
}

fn show(name: &str, s: &Session<'_>) -> Option<(&'static str, String)> {
    let r = s.release;
    let major = if r.major < 10 {
        format!("{}.{}", r.major, r.major_minor)
    } else {
        r.major.to_string()
    };
    Some(match name {
        "server_version" => ("server_version", r.server_version.clone()),
        "server_version_num" => {
            let mut p = r.upstream.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
            let (a, b, c) = (
                p.next().unwrap_or(0),
                p.next().unwrap_or(0),
                p.next().unwrap_or(0),
            );
            let n = if a < 10 {
                a * 10_000 + b * 100 + c
            } else {
                a * 10_000 + b
            };
            ("server_version_num", n.to_string())
        }
        "server_encoding" => ("server_encoding", "UTF8".into()),
        "client_encoding" => ("client_encoding", s.client_encoding.into()),
        "application_name" => ("application_name", s.application_name.into()),
        "timezone" => ("TimeZone", "Etc/UTC".into()),
        "datestyle" => ("DateStyle", "ISO, MDY".into()),
        "intervalstyle" => ("IntervalStyle", "postgres".into()),
        "is_superuser" => ("is_superuser", on(s.superuser)),
        "integer_datetimes" => ("integer_datetimes", "on".into()),
        "standard_conforming_strings" => ("standard_conforming_strings", "on".into()),
        "search_path" => ("search_path", "\"$user\", public".into()),
        "port" => ("port", "5432".into()),
        "max_connections" => ("max_connections", "100".into()),
        "listen_addresses" => ("listen_addresses", "*".into()),
        "ssl" => ("ssl", "on".into()),
        "password_encryption" => ("password_encryption", "scram-sha-256".into()),
        "data_directory" => (
            "data_directory",
            format!("/var/lib/postgresql/{major}/main"),
        ),
        "config_file" => (
            "config_file",
            format!("/etc/postgresql/{major}/main/postgresql.conf"),
        ),
        "hba_file" => (
            "hba_file",
            format!("/etc/postgresql/{major}/main/pg_hba.conf"),
        ),
        "transaction_isolation" => ("transaction_isolation", "read committed".into()),
        _ => return None,
    })
}

fn on(b: bool) -> String {
    if b { "on" } else { "off" }.to_owned()
}

fn statement(
    q: &str,
    at: usize,
    stmt: &str,
    s: &Session<'_>,
    tx: &mut Tx,
) -> (Vec<u8>, Option<&'static str>) {
    let r = s.release;
    let sites = &r.sites;
    let w = words(stmt);
    let first = w.first().map(|(_, x)| x.as_str()).unwrap_or_default();
    if *tx == Tx::Failed && !matches!(first, "rollback" | "abort" | "commit" | "end") {
        return (
            error(
                r,
                "25P02",
                "current transaction is aborted, commands ignored until end of transaction block",
                None,
                None,
                ("postgres.c", 1102, "exec_simple_query"),
            ),
            Some("25P02"),
        );
    }
    let flat: Vec<&str> = w.iter().map(|(_, x)| x.as_str()).collect();
    let lower = stmt.to_ascii_lowercase();
    let ok = |tag: &str| (wire::command_complete(tag), None);
    match flat.as_slice() {
        ["begin", ..] | ["start", "transaction", ..] => {
            *tx = Tx::Block;
            return ok("BEGIN");
        }
        ["commit", ..] | ["end", ..] => {
            let tag = if *tx == Tx::Failed {
                "ROLLBACK"
            } else {
                "COMMIT"
            };
            *tx = Tx::Idle;
            return ok(tag);
        }
        ["rollback", ..] | ["abort", ..] => {
            *tx = Tx::Idle;
            return ok("ROLLBACK");
        }
        ["set", ..] | ["reset", ..] => return ok(if first == "set" { "SET" } else { "RESET" }),
        ["discard", "all"] => return ok("DISCARD ALL"),
        ["select", "version", "(", ")"] => return (one(Column::text("version"), &r.version), None),
        ["select", who @ ("current_user" | "user" | "session_user" | "current_role")] => {
            return (one(Column::name(who), s.user), None)
        }
        ["select", "current_database", "(", ")"] => {
            return (one(Column::name("current_database"), s.database), None)
        }
        ["select", "current_schema", "(", ")"] | ["select", "current_schema"] => {
            return (one(Column::name("current_schema"), "public"), None)
        }
        ["select", "pg_is_in_recovery", "(", ")"] => {
            return (one(Column::bool("pg_is_in_recovery"), "f"), None)
        }
        ["select", n] if n.bytes().all(|b| b.is_ascii_digit()) && n.len() < 10 => {
            return (one(Column::int4("?column?"), n), None)
        }
        ["show", name] => {
            let plain = name.trim_matches('"');
            return match show(plain, s) {
                Some((col, v)) => (show_rows(col, &v), None),
                None => (
                    error(
                        r,
                        "42704",
                        &format!("unrecognized configuration parameter \"{plain}\""),
                        None,
                        None,
                        sites.no_parameter,
                    ),
                    Some("42704"),
                ),
            };
        }
        _ => {}
    }
    if lower.contains("pg_catalog.pg_database") {
        let cols = aliases(stmt);
        let values: Vec<Vec<Option<String>>> = s
            .databases
            .iter()
            .map(|(name, owner)| {
                cols.iter()
                    .map(|c| database_column(c, name, owner))
                    .collect()
            })
            .collect();
        let c: Vec<Column<'_>> = cols.iter().map(|c| Column::text(c)).collect();
        return (rows(&c, &values, "SELECT"), None);
    }
    if lower.contains("pg_catalog.") {
        // The catalog queries of psql's \d commands: nothing to list.
        let cols = aliases(stmt);
        let c: Vec<Column<'_>> = cols.iter().map(|c| Column::text(c)).collect();
        return (rows(&c, &[], "SELECT"), None);
    }
    // A relation the statement names (FROM, INTO, UPDATE, TABLE) does not exist.
    for (i, (_, word)) in w.iter().enumerate() {
        if matches!(word.as_str(), "from" | "into" | "update" | "table" | "join") {
            if let Some((off, name)) = w.get(i + 1) {
                if name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphabetic() || c == '_' || c == '"')
                {
                    let rel = if name.starts_with('"') {
                        stmt.get(*off..)
                            .and_then(|t| t.get(1..))
                            .and_then(|t| t.split('"').next())
                            .unwrap_or_default()
                            .to_owned()
                    } else {
                        name.clone()
                    };
                    let rel = rel.rsplit('.').next().unwrap_or_default().to_owned();
                    return (
                        error(
                            r,
                            "42P01",
                            &format!("relation \"{rel}\" does not exist"),
                            None,
                            Some(position(q, at + off)),
                            sites.no_relation,
                        ),
                        Some("42P01"),
                    );
                }
            }
        }
    }
    // `SELECT f(...)`: no such function.
    if let [(_, sel), (off, f), (_, paren), rest @ ..] = w.as_slice() {
        if sel == "select"
            && paren == "("
            && f.chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
        {
            let mut types = Vec::new();
            let mut depth = 0;
            let mut arg = String::new();
            for (_, t) in rest {
                match t.as_str() {
                    "(" => depth += 1,
                    ")" if depth == 0 => break,
                    ")" => depth -= 1,
                    "," if depth == 0 => {
                        types.push(arg_type(&arg));
                        arg.clear();
                        continue;
                    }
                    _ => {}
                }
                arg.push_str(t);
            }
            if !arg.is_empty() {
                types.push(arg_type(&arg));
            }
            return (
                error(
                    r,
                    "42883",
                    &format!("function {f}({}) does not exist", types.join(", ")),
                    Some("No function matches the given name and argument types. You might need to add explicit type casts."),
                    Some(position(q, at + off)),
                    sites.no_function,
                ),
                Some("42883"),
            );
        }
    }
    let (off, tok) = w
        .first()
        .map(|(o, t)| (*o, t.clone()))
        .unwrap_or((0, String::new()));
    let tok = stmt.get(off..off + tok.len()).unwrap_or(&tok).to_owned();
    (
        error(
            r,
            "42601",
            &format!("syntax error at or near \"{tok}\""),
            None,
            Some(position(q, at + off)),
            sites.syntax,
        ),
        Some("42601"),
    )
}

/// A SHOW's answer: one text row, and a CommandComplete tag without a count.
fn show_rows(col: &str, value: &str) -> Vec<u8> {
    let mut out = wire::row_description(&[Column::text(col)]);
    out.extend(wire::data_row(&[Some(value)]));
    out.extend(wire::command_complete("SHOW"));
    out
}

fn arg_type(a: &str) -> &'static str {
    if a.bytes().all(|b| b.is_ascii_digit()) {
        "integer"
    } else if a.contains('.') && a.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        "numeric"
    } else {
        "unknown"
    }
}

fn database_column(col: &str, name: &str, owner: &str) -> Option<String> {
    let template = name.starts_with("template");
    Some(match col {
        "Name" => name.to_owned(),
        "Owner" => owner.to_owned(),
        "Encoding" => "UTF8".to_owned(),
        "Collate" | "Ctype" => "en_US.UTF-8".to_owned(),
        "Locale Provider" => "libc".to_owned(),
        "Access privileges" if template => "=c/postgres\npostgres=CTc/postgres".to_owned(),
        "Access privileges" | "ICU Locale" | "ICU Rules" | "Locale" => return None,
        "Size" => "7453 kB".to_owned(),
        "Tablespace" => "pg_default".to_owned(),
        "Description" if name == "postgres" => {
            "default administrative connection database".to_owned()
        }
        "Description" if name == "template0" => "unmodifiable empty database".to_owned(),
        "Description" if name == "template1" => "default template for new databases".to_owned(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_core::persona::distro;

    fn with<T>(f: impl FnOnce(&Session<'_>) -> T) -> T {
        let r = Release::new(distro("debian").unwrap(), None);
        let dbs = vec![
            ("appdb".to_owned(), "app".to_owned()),
            ("postgres".to_owned(), "postgres".to_owned()),
        ];
        let s = Session {
            user: "app",
            database: "appdb",
            release: &r,
            superuser: false,
            databases: &dbs,
            client_encoding: "UTF8",
            application_name: "psql",
        };
        f(&s)
    }

    #[test]
    fn errors_are_the_real_servers_bytes() {
        // Recorded from PostgreSQL 15.18.
        with(|s| {
            let mut tx = Tx::Idle;
            let a = answer("select * from users", s, &mut tx);
            assert_eq!(a.out, wire::message(b'E', b"SERROR\x00VERROR\x00C42P01\x00Mrelation \"users\" does not exist\x00P15\x00Fparse_relation.c\x00L1392\x00RparserOpenTable\x00\x00"));
            let a = answer("foo bar", s, &mut tx);
            assert_eq!(a.out, wire::message(b'E', b"SERROR\x00VERROR\x00C42601\x00Msyntax error at or near \"foo\"\x00P1\x00Fscan.l\x00L1188\x00Rscanner_yyerror\x00\x00"));
            let a = answer("select foo(1,'a')", s, &mut tx);
            assert_eq!(a.out, wire::message(b'E', b"SERROR\x00VERROR\x00C42883\x00Mfunction foo(integer, unknown) does not exist\x00HNo function matches the given name and argument types. You might need to add explicit type casts.\x00P8\x00Fparse_func.c\x00L629\x00RParseFuncOrColumn\x00\x00"));
            assert_eq!(a.error, Some("42883"));
        });
    }

    #[test]
    fn answers_are_the_real_servers_bytes() {
        with(|s| {
            let mut tx = Tx::Idle;
            let a = answer("select 1; select 2", s, &mut tx);
            let one = b"T\0\0\0\x21\x00\x01?column?\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x17\x00\x04\xff\xff\xff\xff\x00\x00";
            let mut want = one.to_vec();
            want.extend(wire::message(b'D', b"\x00\x01\x00\x00\x00\x011"));
            want.extend(wire::command_complete("SELECT 1"));
            want.extend(one);
            want.extend(wire::message(b'D', b"\x00\x01\x00\x00\x00\x012"));
            want.extend(wire::command_complete("SELECT 1"));
            assert_eq!(a.out, want);
            let a = answer("show timezone", s, &mut tx);
            let mut want = wire::message(b'T', b"\x00\x01TimeZone\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x19\xff\xff\xff\xff\xff\xff\x00\x00");
            want.extend(wire::message(b'D', b"\x00\x01\x00\x00\x00\x07Etc/UTC"));
            want.extend(wire::command_complete("SHOW"));
            assert_eq!(a.out, want);
            let a = answer("select current_user", s, &mut tx);
            let mut want = wire::message(b'T', b"\x00\x01current_user\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x13\x00@\xff\xff\xff\xff\x00\x00");
            want.extend(wire::message(b'D', b"\x00\x01\x00\x00\x00\x03app"));
            want.extend(wire::command_complete("SELECT 1"));
            assert_eq!(a.out, want);
            assert_eq!(answer("", s, &mut tx).out, b"I\0\0\0\x04");
            answer("begin", s, &mut tx);
            assert_eq!(tx, Tx::Block);
            answer("select * from t", s, &mut tx);
            assert_eq!(tx, Tx::Failed);
            assert_eq!(answer("select 1", s, &mut tx).error, Some("25P02"));
            answer("rollback", s, &mut tx);
            assert_eq!(tx, Tx::Idle);
        });
    }

    #[test]
    fn psqls_list_of_databases_gets_its_own_columns() {
        with(|s| {
            let q = "SELECT d.datname as \"Name\",\n pg_catalog.pg_get_userbyid(d.datdba) as \"Owner\",\n pg_catalog.array_to_string(d.datacl, E'\\n') AS \"Access privileges\"\nFROM pg_catalog.pg_database d\nORDER BY 1;";
            let a = answer(q, s, &mut Tx::Idle);
            assert_eq!(a.error, None);
            assert!(a.out.starts_with(&wire::row_description(&[
                Column::text("Name"),
                Column::text("Owner"),
                Column::text("Access privileges")
            ])));
            assert!(a.out.ends_with(&wire::command_complete("SELECT 2")));
        });
    }

    #[test]
    fn statements_split_outside_quotes() {
        assert_eq!(
            split("select ';'; select 2 ;"),
            vec![(0, "select ';'"), (11, " select 2 ")]
        );
        assert!(split("  ").is_empty());
    }
}
