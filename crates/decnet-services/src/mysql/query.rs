//! The query surface a logged-in client gets, sans-IO: a small lexer and the
//! statements intruders and client libraries send first (`SELECT @@version`,
//! `SHOW DATABASES`, `USE`, `SHOW TABLES`, `DESCRIBE`, `SELECT … FROM` a bait
//! table, the connectors' `SET` and `@@variable` queries), answered from the
//! bait world's databases as the real server would. Anything else gets the
//! error the server gives it: 1064 for what it cannot parse, 1146 for a table
//! that does not exist, 1142 for a write the account may not make.
//!
//! Hostile-input guarantees: no input panics; the lexer stops at
//! [`MAX_TOKENS`] tokens and answers a longer statement with a syntax error;
//! nothing allocates more than a small multiple of the query.

use decnet_core::bait::sql::{SqlDatabase, SqlTable, SqlType};

use super::handshake::Product;
use super::reply::{
    Column, ColumnType, ResultSet, SqlError, STATUS_AUTOCOMMIT, STATUS_NO_INDEX_USED,
};

/// Most tokens a statement is lexed into.
pub const MAX_TOKENS: usize = 4096;

/// What the server knows about itself, for variables and messages.
#[derive(Debug, Clone)]
pub struct ServerFacts<'a> {
    /// MariaDB or MySQL.
    pub product: Product,
    /// `@@version` (without MariaDB's `5.5.5-`).
    pub version: &'a str,
    /// `@@version_comment`.
    pub comment: &'a str,
    /// `@@hostname`.
    pub hostname: &'a str,
    /// `@@socket`.
    pub socket: &'a str,
    /// `@@version_compile_os`.
    pub compile_os: &'a str,
    /// The application databases.
    pub databases: &'a [SqlDatabase],
    /// The connection id.
    pub connection_id: u32,
}

/// The logged-in session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Login name.
    pub user: String,
    /// The client's address as the server names it.
    pub host: String,
    /// Current database.
    pub db: Option<String>,
    /// Whether the account sees the system schemas (root and configured accounts).
    pub admin: bool,
}

/// How the server answers a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A result set and the status its end carries.
    Rows(ResultSet, u16),
    /// OK; `schema` when the default database changed.
    Ok {
        /// The new default database.
        schema: Option<String>,
    },
    /// An error.
    Err(SqlError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// A word: keyword, identifier, number or `@@variable` (may contain `.`).
    Word(String),
    /// A `'…'` or `"…"` literal.
    Str(String),
    /// A `` `…` `` identifier.
    Ident(String),
    /// Any other character.
    Punct(char),
}

#[derive(Debug, Clone)]
struct T {
    tok: Tok,
    start: usize,
    end: usize,
}

impl T {
    fn word(&self) -> Option<String> {
        match &self.tok {
            Tok::Word(w) => Some(w.to_ascii_lowercase()),
            _ => None,
        }
    }

    fn is(&self, kw: &str) -> bool {
        matches!(&self.tok, Tok::Word(w) if w.eq_ignore_ascii_case(kw))
    }

    fn is_punct(&self, c: char) -> bool {
        self.tok == Tok::Punct(c)
    }

    /// An identifier's name (a word or a backquoted name).
    fn name(&self) -> Option<&str> {
        match &self.tok {
            Tok::Word(w) | Tok::Ident(w) => Some(w),
            _ => None,
        }
    }
}

/// Strips leading comments and whitespace and trailing `;`, `\G` and whitespace.
pub fn statement_text(q: &str) -> &str {
    let mut s = q.trim_start();
    loop {
        if let Some(rest) = s.strip_prefix("/*") {
            s = rest.split_once("*/").map_or("", |(_, r)| r).trim_start();
        } else if s.starts_with("-- ") || s.starts_with('#') {
            s = s.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else {
            break;
        }
    }
    let mut s = s.trim_end();
    loop {
        if let Some(r) = s.strip_suffix(';') {
            s = r.trim_end();
        } else if let Some(r) = s.strip_suffix("\\G").or_else(|| s.strip_suffix("\\g")) {
            s = r.trim_end();
        } else {
            break;
        }
    }
    s
}

fn lex(s: &str) -> Option<Vec<T>> {
    let mut out = Vec::new();
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if out.len() >= MAX_TOKENS {
            return None;
        }
        if c.is_whitespace() {
            continue;
        }
        let word_char = |c: char| c.is_alphanumeric() || matches!(c, '_' | '$' | '@' | '.');
        if c.is_alphanumeric() || c == '_' || c == '@' || c == '$' {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = it.peek() {
                if !word_char(d) {
                    break;
                }
                end = j + d.len_utf8();
                it.next();
            }
            out.push(T {
                tok: Tok::Word(s.get(i..end).unwrap_or_default().to_owned()),
                start: i,
                end,
            });
        } else if c == '\'' || c == '"' || c == '`' {
            let mut text = String::new();
            let mut end = None;
            while let Some((j, d)) = it.next() {
                if d == '\\' && c != '`' {
                    if let Some((_, e)) = it.next() {
                        text.push(e);
                    }
                    continue;
                }
                if d == c {
                    if it.peek().map(|&(_, n)| n) == Some(c) {
                        it.next();
                        text.push(c);
                        continue;
                    }
                    end = Some(j + 1);
                    break;
                }
                text.push(d);
            }
            let end = end?;
            let tok = if c == '`' {
                Tok::Ident(text)
            } else {
                Tok::Str(text)
            };
            out.push(T { tok, start: i, end });
        } else {
            out.push(T {
                tok: Tok::Punct(c),
                start: i,
                end: i + c.len_utf8(),
            });
        }
    }
    Some(out)
}

/// The syntax error the server gives for `near`.
fn syntax_error(p: Product, near: &str) -> SqlError {
    let near: String = near.chars().take(80).collect();
    SqlError::new(
        1064,
        "42000",
        format!(
            "You have an error in your SQL syntax; check the manual that corresponds to your {} server version for the right syntax to use near '{near}' at line 1",
            p.name()
        ),
    )
}

const SYSTEM_SCHEMAS_MARIADB: [&str; 3] = ["mysql", "performance_schema", "sys"];
const SYSTEM_SCHEMAS_MYSQL: [&str; 3] = ["mysql", "performance_schema", "sys"];

impl ServerFacts<'_> {
    /// The databases `s` sees, in `SHOW DATABASES` order.
    fn visible(&self, s: &Session) -> Vec<String> {
        let mut v: Vec<String> = self.databases.iter().map(|d| d.name.to_owned()).collect();
        v.push("information_schema".to_owned());
        if s.admin {
            let sys = match self.product {
                Product::MariaDb => SYSTEM_SCHEMAS_MARIADB,
                Product::Mysql8 | Product::Mysql5 => SYSTEM_SCHEMAS_MYSQL,
            };
            v.extend(sys.iter().map(|x| (*x).to_owned()));
        }
        v.sort();
        v
    }

    fn table(&self, db: &str, name: &str) -> Option<&SqlTable> {
        self.databases
            .iter()
            .find(|d| d.name == db)?
            .tables
            .iter()
            .find(|t| t.name == name)
    }

    /// A system variable's value (numbers as integers).
    fn variable(&self, name: &str, s: &Session) -> Option<Value> {
        let maria = self.product == Product::MariaDb;
        let t = |v: &str| Some(Value::Text(v.to_owned()));
        let n = |v: i64| Some(Value::Int(v));
        match name {
            "version" => t(self.version),
            "version_comment" => t(self.comment),
            "hostname" => t(self.hostname),
            "port" => n(3306),
            "socket" => t(self.socket),
            "datadir" => t("/var/lib/mysql/"),
            "basedir" => t("/usr"),
            "plugin_dir" => t("/usr/lib/mysql/plugin/"),
            "tmpdir" => t("/tmp"),
            "version_compile_os" => t(self.compile_os),
            "version_compile_machine" => t("x86_64"),
            "license" => t("GPL"),
            "server_id" => n(1),
            "max_allowed_packet" => n(if maria { 16_777_216 } else { 67_108_864 }),
            "max_connections" => n(151),
            "net_buffer_length" => n(16_384),
            "net_write_timeout" => n(60),
            "wait_timeout" | "interactive_timeout" => n(28_800),
            "auto_increment_increment" | "auto_increment_offset" | "autocommit" => n(1),
            "lower_case_table_names" | "read_only" | "query_cache_size" | "sql_safe_updates" => {
                n(0)
            }
            "performance_schema" => n(i64::from(!maria)),
            "query_cache_type" => t("OFF"),
            "have_ssl" | "have_openssl" => t("DISABLED"),
            "character_set_client" | "character_set_connection" | "character_set_results" => {
                t(if maria { "utf8mb3" } else { "utf8mb4" })
            }
            "character_set_server" | "character_set_database" => t("utf8mb4"),
            "collation_server" | "collation_database" => t(if maria {
                "utf8mb4_general_ci"
            } else {
                "utf8mb4_0900_ai_ci"
            }),
            "collation_connection" => t(if maria {
                "utf8mb3_general_ci"
            } else {
                "utf8mb4_0900_ai_ci"
            }),
            "init_connect" => t(""),
            "secure_file_priv" => {
                if maria {
                    Some(Value::Null)
                } else {
                    t("/var/lib/mysql-files/")
                }
            }
            "sql_mode" => t(if maria {
                "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION"
            } else {
                "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION"
            }),
            "time_zone" => t("SYSTEM"),
            "system_time_zone" => t("UTC"),
            "tx_isolation" | "transaction_isolation" => t("REPEATABLE-READ"),
            "transaction_read_only" | "tx_read_only" => n(0),
            "default_authentication_plugin" => t(self.product.plugin().name()),
            "log_error" => t(if maria {
                ""
            } else {
                "/var/log/mysql/error.log"
            }),
            "general_log" | "log_bin" => n(0),
            "pseudo_thread_id" => n(i64::from(self.connection_id)),
            "warning_count" | "error_count" => n(0),
            "identity" | "last_insert_id" => n(0),
            "session_track_schema" => n(1),
            "database" => Some(s.db.clone().map_or(Value::Null, Value::Text)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Null,
    Int(i64),
    Text(String),
}

impl Value {
    fn column(&self, name: String) -> Column {
        match self {
            Value::Int(_) => Column::expr(name, ColumnType::Int),
            Value::Null => Column::expr(name, ColumnType::Text(0)),
            Value::Text(t) => Column::expr(name, ColumnType::Text(t.chars().count().max(1) as u32)),
        }
    }

    fn cell(self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Int(n) => Some(n.to_string()),
            Value::Text(t) => Some(t),
        }
    }
}

/// Answers one statement of a logged-in session.
pub fn answer(query: &str, srv: &ServerFacts<'_>, s: &mut Session) -> Answer {
    let text = statement_text(query);
    if text.is_empty() {
        return Answer::Err(SqlError::new(1065, "42000", "Query was empty"));
    }
    let Some(toks) = lex(text) else {
        return Answer::Err(syntax_error(srv.product, text));
    };
    let first = toks.first().and_then(T::word).unwrap_or_default();
    match first.as_str() {
        "select" => select(text, &toks, srv, s),
        "show" => show(text, &toks, srv, s),
        "use" => match toks.get(1).and_then(T::name) {
            Some(db) => use_db(db, srv, s),
            None => Answer::Err(syntax_error(srv.product, "")),
        },
        "describe" | "desc" | "explain" => match table_ref(toks.get(1..).unwrap_or(&[])) {
            Some((db, t, _)) => describe(db, &t, srv, s),
            None => Answer::Err(syntax_error(srv.product, text)),
        },
        "set" | "begin" | "commit" | "rollback" | "start" | "savepoint" | "release" | "do"
        | "flush" => Answer::Ok { schema: None },
        "insert" | "update" | "delete" | "replace" | "create" | "drop" | "alter" | "truncate"
        | "grant" | "revoke" | "rename" | "load" | "call" | "lock" => denied(&first, &toks, s),
        _ => Answer::Err(syntax_error(srv.product, text)),
    }
}

/// `USE db` (and COM_INIT_DB).
pub fn use_db(db: &str, srv: &ServerFacts<'_>, s: &mut Session) -> Answer {
    if srv.visible(s).iter().any(|d| d == db) {
        s.db = Some(db.to_owned());
        return Answer::Ok {
            schema: Some(db.to_owned()),
        };
    }
    if matches!(db, "mysql" | "performance_schema" | "sys") {
        return Answer::Err(SqlError::new(
            1044,
            "42000",
            format!(
                "Access denied for user '{}'@'{}' to database '{db}'",
                s.user, s.host
            ),
        ));
    }
    Answer::Err(SqlError::new(
        1049,
        "42000",
        format!("Unknown database '{db}'"),
    ))
}

/// `[db.]table` at the start of `toks`: (database, table, tokens used).
fn table_ref(toks: &[T]) -> Option<(Option<String>, String, usize)> {
    let a = toks.first()?;
    if let Tok::Word(w) = &a.tok {
        if let Some((db, t)) = w.split_once('.') {
            return Some((Some(db.to_owned()), t.to_owned(), 1));
        }
    }
    let first = a.name()?.to_owned();
    match (toks.get(1), toks.get(2)) {
        (Some(dot), Some(b)) if dot.is_punct('.') => Some((Some(first), b.name()?.to_owned(), 3)),
        (Some(dot), None) if dot.is_punct('.') => None,
        _ => {
            // A word lexed as `db.` followed by a backquoted table.
            if let Some(db) = first.strip_suffix('.') {
                if let Some(t) = toks.get(1).and_then(T::name) {
                    return Some((Some(db.to_owned()), t.to_owned(), 2));
                }
            }
            Some((None, first, 1))
        }
    }
}

fn no_db() -> Answer {
    Answer::Err(SqlError::new(1046, "3D000", "No database selected"))
}

fn no_table(db: &str, t: &str) -> Answer {
    Answer::Err(SqlError::new(
        1146,
        "42S02",
        format!("Table '{db}.{t}' doesn't exist"),
    ))
}

fn select_denied(s: &Session, db: &str, t: &str) -> Answer {
    Answer::Err(SqlError::new(
        1142,
        "42000",
        format!(
            "SELECT command denied to user '{}'@'{}' for table `{db}`.`{t}`",
            s.user, s.host
        ),
    ))
}

/// Resolves a table reference against the session: the bait table, or the error.
fn resolve<'a>(
    db: Option<String>,
    t: &str,
    srv: &'a ServerFacts<'_>,
    s: &Session,
) -> Result<(String, &'a SqlTable), Answer> {
    let Some(db) = db.or_else(|| s.db.clone()) else {
        return Err(no_db());
    };
    if let Some(table) = srv.table(&db, t) {
        return Ok((db, table));
    }
    if matches!(db.as_str(), "mysql" | "performance_schema" | "sys") && !s.admin {
        return Err(select_denied(s, &db, t));
    }
    Err(no_table(&db, t))
}

fn denied(verb: &str, toks: &[T], s: &Session) -> Answer {
    let target = toks.iter().position(|t| {
        t.is("into") || t.is("table") || t.is("from") || (t.is("update") && verb == "update")
    });
    let tref = target.and_then(|i| table_ref(toks.get(i + 1..).unwrap_or(&[])));
    let db = tref
        .as_ref()
        .and_then(|(d, _, _)| d.clone())
        .or_else(|| s.db.clone())
        .unwrap_or_default();
    match tref {
        Some((_, t, _)) if !db.is_empty() => Answer::Err(SqlError::new(
            1142,
            "42000",
            format!(
                "{} command denied to user '{}'@'{}' for table `{db}`.`{t}`",
                verb.to_ascii_uppercase(),
                s.user,
                s.host
            ),
        )),
        _ => Answer::Err(SqlError::new(
            1044,
            "42000",
            format!(
                "Access denied for user '{}'@'{}' to database '{db}'",
                s.user, s.host
            ),
        )),
    }
}

fn sql_type(k: SqlType) -> ColumnType {
    match k {
        SqlType::Id => ColumnType::Id,
        SqlType::Int => ColumnType::Int,
        SqlType::Text(n) => ColumnType::Text(n),
        SqlType::DateTime => ColumnType::DateTime,
    }
}

fn type_name(k: SqlType, maria: bool) -> String {
    match (k, maria) {
        (SqlType::Id | SqlType::Int, true) => "int(11)".to_owned(),
        (SqlType::Id | SqlType::Int, false) => "int".to_owned(),
        (SqlType::Text(n), _) => format!("varchar({n})"),
        (SqlType::DateTime, _) => "datetime".to_owned(),
    }
}

fn one_column(schema: &str, table: &str, name: &str, org: &str, chars: u32) -> Column {
    let mut c = Column::of_table(schema, table, name, ColumnType::Text(chars));
    c.org_name = org.to_owned();
    c.not_null = true;
    c
}

fn show(text: &str, toks: &[T], srv: &ServerFacts<'_>, s: &mut Session) -> Answer {
    let words: Vec<String> = toks.iter().skip(1).filter_map(T::word).collect();
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or_default();
    let rows_of = |col: Column, vals: Vec<String>| {
        Answer::Rows(
            ResultSet {
                columns: vec![col],
                rows: vals.into_iter().map(|v| vec![Some(v)]).collect(),
            },
            STATUS_AUTOCOMMIT | STATUS_NO_INDEX_USED,
        )
    };
    match (w(0), w(1)) {
        ("databases" | "schemas", _) => rows_of(
            one_column(
                "information_schema",
                "SCHEMATA",
                "Database",
                "SCHEMA_NAME",
                64,
            ),
            srv.visible(s),
        ),
        ("tables", _) | ("full", "tables") => {
            let from = toks
                .iter()
                .position(|t| t.is("from") || t.is("in"))
                .and_then(|i| toks.get(i + 1))
                .and_then(T::name)
                .map(str::to_owned);
            let Some(db) = from.or_else(|| s.db.clone()) else {
                return no_db();
            };
            if !srv.visible(s).contains(&db) {
                return use_db(&db, srv, &mut s.clone());
            }
            let tables: Vec<String> = srv
                .databases
                .iter()
                .find(|d| d.name == db)
                .map(|d| d.tables.iter().map(|t| t.name.to_owned()).collect())
                .unwrap_or_default();
            rows_of(
                one_column(
                    "information_schema",
                    "TABLE_NAMES",
                    &format!("Tables_in_{db}"),
                    "TABLE_NAME",
                    64,
                ),
                tables,
            )
        }
        ("columns" | "fields", _) | ("full", "columns" | "fields") => {
            let at = toks.iter().position(|t| t.is("from") || t.is("in"));
            match at.and_then(|i| table_ref(toks.get(i + 1..).unwrap_or(&[]))) {
                Some((db, t, _)) => describe(db, &t, srv, s),
                None => Answer::Err(syntax_error(srv.product, text)),
            }
        }
        ("grants", _) => {
            let title = format!("Grants for {}@{}", s.user, "%");
            let mut rows = vec![format!("GRANT USAGE ON *.* TO `{}`@`%`", s.user)];
            if s.admin {
                rows = vec![format!(
                    "GRANT ALL PRIVILEGES ON *.* TO `{}`@`%` WITH GRANT OPTION",
                    s.user
                )];
            } else {
                for d in srv.databases {
                    rows.push(format!(
                        "GRANT ALL PRIVILEGES ON `{}`.* TO `{}`@`%`",
                        d.name, s.user
                    ));
                }
            }
            rows_of(Column::expr(title, ColumnType::Text(1024)), rows)
        }
        _ => Answer::Err(syntax_error(
            srv.product,
            text.get(toks.get(1).map_or(0, |t| t.start)..)
                .unwrap_or(text),
        )),
    }
}

fn describe(db: Option<String>, t: &str, srv: &ServerFacts<'_>, s: &Session) -> Answer {
    let (_, table) = match resolve(db, t, srv, s) {
        Ok(x) => x,
        Err(a) => return a,
    };
    let maria = srv.product == Product::MariaDb;
    let cols = ["Field", "Type", "Null", "Key", "Default", "Extra"]
        .iter()
        .map(|n| {
            let mut c = Column::of_table("information_schema", "COLUMNS", n, ColumnType::Text(64));
            c.not_null = true;
            c
        })
        .collect();
    let rows = table
        .columns
        .iter()
        .map(|c| {
            let id = c.kind == SqlType::Id;
            vec![
                Some(c.name.to_owned()),
                Some(type_name(c.kind, maria)),
                Some(if id { "NO" } else { "YES" }.to_owned()),
                Some(if id { "PRI" } else { "" }.to_owned()),
                if id { None } else { Some("NULL".to_owned()) },
                Some(if id { "auto_increment" } else { "" }.to_owned()),
            ]
        })
        .collect();
    Answer::Rows(
        ResultSet {
            columns: cols,
            rows,
        },
        STATUS_AUTOCOMMIT | STATUS_NO_INDEX_USED,
    )
}

/// The tokens of a `SELECT`'s parts.
struct SelectParts<'t> {
    items: Vec<&'t [T]>,
    from: Option<&'t [T]>,
    where_: Option<&'t [T]>,
    limit: Option<&'t [T]>,
}

fn split_select(toks: &[T]) -> Option<SelectParts<'_>> {
    let body = toks.get(1..)?;
    let clause = |t: &T| {
        t.is("from")
            || t.is("where")
            || t.is("limit")
            || t.is("order")
            || t.is("group")
            || t.is("having")
            || t.is("into")
    };
    let mut depth = 0i32;
    let mut bounds = Vec::new();
    for (i, t) in body.iter().enumerate() {
        match t.tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth -= 1,
            _ => {}
        }
        if depth == 0 && clause(t) {
            bounds.push(i);
        }
    }
    let items_end = bounds.first().copied().unwrap_or(body.len());
    let items_toks = body.get(..items_end)?;
    let mut items = Vec::new();
    let mut depth = 0i32;
    let mut start = 0usize;
    for (i, t) in items_toks.iter().enumerate() {
        match t.tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => depth -= 1,
            Tok::Punct(',') if depth == 0 => {
                items.push(items_toks.get(start..i)?);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(items_toks.get(start..)?);
    let mut parts = SelectParts {
        items,
        from: None,
        where_: None,
        limit: None,
    };
    for (k, &b) in bounds.iter().enumerate() {
        let end = bounds.get(k + 1).copied().unwrap_or(body.len());
        let seg = body.get(b + 1..end)?;
        let kw = body.get(b)?;
        if kw.is("from") {
            parts.from = Some(seg);
        } else if kw.is("where") {
            parts.where_ = Some(seg);
        } else if kw.is("limit") {
            parts.limit = Some(seg);
        } else if kw.is("into") {
            // SELECT … INTO OUTFILE/DUMPFILE: a write the account may not make.
            return None;
        }
    }
    Some(parts)
}

/// An item's text as written and its alias, with the tokens of its expression.
fn item_name<'t>(text: &str, item: &'t [T]) -> (String, &'t [T]) {
    let n = item.len();
    if n >= 3 && item.get(n - 2).is_some_and(|t| t.is("as")) {
        if let Some(alias) = item.get(n - 1).and_then(|t| match &t.tok {
            Tok::Word(w) | Tok::Ident(w) | Tok::Str(w) => Some(w.clone()),
            Tok::Punct(_) => None,
        }) {
            return (alias, item.get(..n - 2).unwrap_or(&[]));
        }
    }
    let (Some(a), Some(b)) = (item.first(), item.last()) else {
        return (String::new(), item);
    };
    (
        text.get(a.start..b.end).unwrap_or_default().to_owned(),
        item,
    )
}

fn item_text(text: &str, item: &[T]) -> String {
    match (item.first(), item.last()) {
        (Some(a), Some(b)) => text.get(a.start..b.end).unwrap_or_default().to_owned(),
        _ => String::new(),
    }
}

/// Evaluates an expression without a table.
fn scalar(expr: &[T], srv: &ServerFacts<'_>, s: &Session) -> Result<Value, Option<SqlError>> {
    let words: Vec<&Tok> = expr.iter().map(|t| &t.tok).collect();
    let func = |name: &str| -> Option<Value> {
        match name {
            "version" => Some(Value::Text(srv.version.to_owned())),
            "database" | "schema" => Some(s.db.clone().map_or(Value::Null, Value::Text)),
            "user" | "session_user" | "system_user" => {
                Some(Value::Text(format!("{}@{}", s.user, s.host)))
            }
            "current_user" => Some(Value::Text(format!("{}@%", s.user))),
            "connection_id" => Some(Value::Int(i64::from(srv.connection_id))),
            "now" | "current_timestamp" | "sysdate" | "localtime" => Some(Value::Text(
                chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string(),
            )),
            "curdate" | "current_date" => Some(Value::Text(
                chrono::Utc::now().format("%Y-%m-%d").to_string(),
            )),
            "last_insert_id" | "row_count" | "found_rows" => Some(Value::Int(0)),
            _ => None,
        }
    };
    match words.as_slice() {
        [Tok::Word(w)] if w.starts_with("@@") => {
            let raw = w.trim_start_matches("@@").to_ascii_lowercase();
            let name = raw
                .strip_prefix("session.")
                .or_else(|| raw.strip_prefix("global."))
                .or_else(|| raw.strip_prefix("local."))
                .unwrap_or(&raw);
            srv.variable(name, s).ok_or_else(|| {
                Some(SqlError::new(
                    1193,
                    "HY000",
                    format!("Unknown system variable '{name}'"),
                ))
            })
        }
        [Tok::Word(w)] if w.bytes().all(|b| b.is_ascii_digit()) => {
            w.parse().map(Value::Int).map_err(|_| None)
        }
        [Tok::Word(w)] => match w.to_ascii_lowercase().as_str() {
            "current_user" | "current_timestamp" | "current_date" | "localtime" => {
                func(&w.to_ascii_lowercase()).ok_or(None)
            }
            "null" => Ok(Value::Null),
            "true" => Ok(Value::Int(1)),
            "false" => Ok(Value::Int(0)),
            _ => Err(Some(SqlError::new(
                1054,
                "42S22",
                format!("Unknown column '{w}' in 'field list'"),
            ))),
        },
        [Tok::Str(v)] => Ok(Value::Text(v.clone())),
        [Tok::Word(f), Tok::Punct('('), Tok::Punct(')')] => {
            func(&f.to_ascii_lowercase()).ok_or(None)
        }
        _ => Err(None),
    }
}

fn select(text: &str, toks: &[T], srv: &ServerFacts<'_>, s: &mut Session) -> Answer {
    let Some(parts) = split_select(toks) else {
        return denied("select", toks, s);
    };
    let from = parts
        .from
        .filter(|f| !(f.len() == 1 && f.first().is_some_and(|t| t.is("dual"))));
    let Some(from) = from else {
        // No table: evaluate each item.
        let mut columns = Vec::new();
        let mut row = Vec::new();
        for item in &parts.items {
            let (name, expr) = item_name(text, item);
            match scalar(expr, srv, s) {
                Ok(v) => {
                    columns.push(v.column(name));
                    row.push(v.cell());
                }
                Err(Some(e)) => return Answer::Err(e),
                Err(None) => {
                    let near = item_text(text, item);
                    let rest = item
                        .first()
                        .and_then(|t| text.get(t.start..))
                        .unwrap_or(&near);
                    return Answer::Err(syntax_error(srv.product, rest));
                }
            }
        }
        return Answer::Rows(
            ResultSet {
                columns,
                rows: vec![row],
            },
            STATUS_AUTOCOMMIT,
        );
    };
    let Some((db, t, _)) = table_ref(from) else {
        return Answer::Err(syntax_error(srv.product, text));
    };
    let (db, table) = match resolve(db, &t, srv, s) {
        Ok(x) => x,
        Err(a) => return a,
    };
    // Rows kept by a `WHERE col = literal`; other conditions keep every row.
    let mut rows: Vec<&Vec<Option<String>>> = table.rows.iter().collect();
    if let Some([a, eq, b]) = parts.where_ {
        if let (Some(col), true, Some(v)) = (
            a.name(),
            eq.is_punct('='),
            match &b.tok {
                Tok::Word(x) | Tok::Str(x) => Some(x.clone()),
                _ => None,
            },
        ) {
            if let Some(i) = table.columns.iter().position(|c| c.name == col) {
                rows.retain(|r| r.get(i).and_then(Option::as_deref) == Some(v.as_str()));
            }
        }
    }
    if let Some(l) = parts.limit {
        let nums: Vec<usize> = l
            .iter()
            .filter_map(|t| t.word().and_then(|w| w.parse().ok()))
            .collect();
        let (offset, count) = match (nums.as_slice(), l.get(1).is_some_and(|t| t.is_punct(','))) {
            ([o, c], true) => (*o, *c),
            ([c, o], false) => (*o, *c),
            ([c], _) => (0, *c),
            _ => (0, usize::MAX),
        };
        rows = rows.into_iter().skip(offset).take(count).collect();
    }
    // Which columns: `*`, `count(*)`, or named ones.
    let mut columns = Vec::new();
    let mut picks: Vec<Option<usize>> = Vec::new();
    for item in &parts.items {
        let (name, expr) = item_name(text, item);
        let toks: Vec<&Tok> = expr.iter().map(|t| &t.tok).collect();
        match toks.as_slice() {
            [Tok::Punct('*')] => {
                for (i, c) in table.columns.iter().enumerate() {
                    columns.push(Column::of_table(&db, table.name, c.name, sql_type(c.kind)));
                    picks.push(Some(i));
                }
            }
            [Tok::Word(f), Tok::Punct('('), _, Tok::Punct(')')]
                if f.eq_ignore_ascii_case("count") =>
            {
                return Answer::Rows(
                    ResultSet {
                        columns: vec![Column::expr(name, ColumnType::Int)],
                        rows: vec![vec![Some(rows.len().to_string())]],
                    },
                    STATUS_AUTOCOMMIT | STATUS_NO_INDEX_USED,
                );
            }
            [Tok::Word(c) | Tok::Ident(c)] => {
                let c = c.rsplit('.').next().unwrap_or(c);
                let Some(i) = table
                    .columns
                    .iter()
                    .position(|x| x.name.eq_ignore_ascii_case(c))
                else {
                    return Answer::Err(SqlError::new(
                        1054,
                        "42S22",
                        format!("Unknown column '{c}' in 'field list'"),
                    ));
                };
                let mut col = Column::of_table(
                    &db,
                    table.name,
                    table.columns.get(i).map_or(c, |x| x.name),
                    table
                        .columns
                        .get(i)
                        .map_or(ColumnType::Text(64), |x| sql_type(x.kind)),
                );
                col.name = name;
                columns.push(col);
                picks.push(Some(i));
            }
            _ => return Answer::Err(syntax_error(srv.product, &item_text(text, item))),
        }
    }
    let rows = rows
        .into_iter()
        .map(|r| {
            picks
                .iter()
                .map(|p| p.and_then(|i| r.get(i).cloned().flatten()))
                .collect()
        })
        .collect();
    Answer::Rows(
        ResultSet { columns, rows },
        STATUS_AUTOCOMMIT | STATUS_NO_INDEX_USED,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_core::bait::World;
    use proptest::prelude::*;

    fn facts(dbs: &[SqlDatabase]) -> ServerFacts<'_> {
        ServerFacts {
            product: Product::MariaDb,
            version: "10.11.6-MariaDB-0+deb12u1",
            comment: "Debian 12",
            hostname: "db01",
            socket: "/run/mysqld/mysqld.sock",
            compile_os: "debian-linux-gnu",
            databases: dbs,
            connection_id: 31,
        }
    }

    fn app() -> Session {
        Session {
            user: "app".into(),
            host: "10.0.0.5".into(),
            db: None,
            admin: false,
        }
    }

    fn rows(a: &Answer) -> Vec<Vec<Option<String>>> {
        match a {
            Answer::Rows(rs, _) => rs.rows.clone(),
            other => panic!("not rows: {other:?}"),
        }
    }

    fn err(a: &Answer) -> (u16, String) {
        match a {
            Answer::Err(e) => (e.code, e.message.clone()),
            other => panic!("not an error: {other:?}"),
        }
    }

    #[test]
    fn variables_and_functions_answer_with_the_item_as_written() {
        let dbs = World::derive(b"k", &[], 1_760_000_000).sql_databases("db");
        let f = facts(&dbs);
        let mut s = app();
        let a = answer("select @@version_comment limit 1", &f, &mut s);
        assert_eq!(rows(&a), vec![vec![Some("Debian 12".into())]]);
        let Answer::Rows(rs, _) = answer("SELECT @@VERSION, version() AS v, 1, 'x';", &f, &mut s)
        else {
            panic!()
        };
        let names: Vec<&str> = rs.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["@@VERSION", "v", "1", "'x'"]);
        assert_eq!(
            rs.rows[0],
            vec![
                Some("10.11.6-MariaDB-0+deb12u1".into()),
                Some("10.11.6-MariaDB-0+deb12u1".into()),
                Some("1".into()),
                Some("x".into())
            ]
        );
        assert_eq!(
            rows(&answer("SELECT DATABASE()", &f, &mut s)),
            vec![vec![None]]
        );
        assert_eq!(
            rows(&answer("select user(), current_user()", &f, &mut s)),
            vec![vec![Some("app@10.0.0.5".into()), Some("app@%".into())]]
        );
        assert_eq!(err(&answer("select @@nope", &f, &mut s)).0, 1193);
    }

    #[test]
    fn databases_tables_and_bait_rows() {
        let w = World::derive(b"k", &[], 1_760_000_000);
        let dbs = w.sql_databases("db");
        let f = facts(&dbs);
        let mut s = app();
        assert_eq!(
            rows(&answer("show databases", &f, &mut s)),
            vec![
                vec![Some("appdb".into())],
                vec![Some("information_schema".into())]
            ]
        );
        assert_eq!(err(&answer("show tables", &f, &mut s)).0, 1046);
        assert_eq!(
            answer("use appdb", &f, &mut s),
            Answer::Ok {
                schema: Some("appdb".into())
            }
        );
        assert_eq!(
            rows(&answer("SHOW TABLES", &f, &mut s)),
            vec![vec![Some("users".into())], vec![Some("settings".into())]]
        );
        let got = rows(&answer("SELECT * FROM users LIMIT 2", &f, &mut s));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0][1].as_deref(), Some(w.people[0].username.as_str()));
        let got = rows(&answer(
            "select username, email from appdb.users limit 1, 1",
            &f,
            &mut s,
        ));
        assert_eq!(
            got,
            vec![vec![
                Some(w.people[1].username.clone()),
                Some(w.people[1].email.clone())
            ]]
        );
        let n = w.people.len().to_string();
        assert_eq!(
            rows(&answer("select count(*) from `users`", &f, &mut s)),
            vec![vec![Some(n)]]
        );
        let one = format!(
            "select id from users where username = '{}'",
            w.people[2].username
        );
        assert_eq!(
            rows(&answer(&one, &f, &mut s)),
            vec![vec![Some("3".into())]]
        );
        assert_eq!(
            err(&answer("select * from nope", &f, &mut s)),
            (1146, "Table 'appdb.nope' doesn't exist".into())
        );
        assert_eq!(
            err(&answer("select * from mysql.user", &f, &mut s)),
            (
                1142,
                "SELECT command denied to user 'app'@'10.0.0.5' for table `mysql`.`user`".into()
            )
        );
        assert_eq!(rows(&answer("describe users", &f, &mut s)).len(), 7);
        assert_eq!(err(&answer("use nodb", &f, &mut s)).0, 1049);
    }

    #[test]
    fn writes_are_refused_and_junk_is_a_syntax_error() {
        let f = facts(&[]);
        let mut s = app();
        s.db = Some("appdb".into());
        assert_eq!(
            err(&answer("DROP TABLE users", &f, &mut s)),
            (
                1142,
                "DROP command denied to user 'app'@'10.0.0.5' for table `appdb`.`users`".into()
            )
        );
        assert_eq!(
            err(&answer("selec 1", &f, &mut s)),
            (1064, "You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near 'selec 1' at line 1".into())
        );
        assert_eq!(err(&answer("", &f, &mut s)).0, 1065);
        assert_eq!(err(&answer("select 'open", &f, &mut s)).0, 1064);
        assert_eq!(
            answer("SET NAMES utf8mb4", &f, &mut s),
            Answer::Ok { schema: None }
        );
        assert_eq!(
            statement_text("/* mysql-connector-java */ SELECT 1;\n"),
            "SELECT 1"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_queries_never_panic(q in ".{0,200}", b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let w = World::derive(b"k", &[], 1_760_000_000);
            let dbs = w.sql_databases("db");
            let f = facts(&dbs);
            let mut s = app();
            let _ = answer(&q, &f, &mut s);
            let _ = answer(&format!("select {q}"), &f, &mut s);
            let _ = answer(&format!("select * from users {q}"), &f, &mut s);
            let _ = answer(&String::from_utf8_lossy(&b), &f, &mut s);
        }
    }
}
