//! Query text that runs on both backends, argument binding, cursors and
//! column decoding, in one place.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};
use uuid::Uuid;

use crate::{Result, StoreError, MAX_PAGE, MAX_SEARCH_CHARS};

/// One bound value.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    I64(i64),
    Text(String),
}

/// SQL text plus its arguments, numbered `$1…` as both backends accept
/// (sqlx's SQLite driver maps `$N` to parameter N).
#[derive(Debug, Default)]
pub(crate) struct Sql {
    pub text: String,
    args: Vec<Arg>,
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql {
            text: text.to_owned(),
            args: Vec::new(),
        }
    }

    /// Appends raw SQL.
    pub fn push(&mut self, s: &str) -> &mut Sql {
        self.text.push_str(s);
        self
    }

    /// Registers an argument and returns its placeholder.
    pub fn arg(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }

    /// Appends a placeholder for `a`.
    pub fn bind(&mut self, a: Arg) -> &mut Sql {
        let p = self.arg(a);
        self.text.push_str(&p);
        self
    }

    /// The query with every argument bound.
    pub fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for a in &self.args {
            q = match a {
                Arg::I64(v) => q.bind(*v),
                Arg::Text(s) => q.bind(s.as_str()),
            };
        }
        q
    }
}

/// Builds `WHERE a AND b …` clauses.
#[derive(Debug, Default)]
pub(crate) struct Where {
    parts: Vec<String>,
}

impl Where {
    pub fn and(&mut self, clause: String) {
        self.parts.push(clause);
    }

    pub fn render(&self) -> String {
        if self.parts.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.parts.join(" AND "))
        }
    }
}

/// Microseconds since the epoch.
pub(crate) fn micros(ts: DateTime<Utc>) -> i64 {
    ts.timestamp_micros()
}

/// Back from microseconds since the epoch.
pub(crate) fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

pub(crate) fn col_ts(row: &AnyRow, col: &str) -> Result<DateTime<Utc>> {
    Ok(from_micros(row.try_get::<i64, _>(col)?))
}

pub(crate) fn col_opt_ts(row: &AnyRow, col: &str) -> Result<Option<DateTime<Utc>>> {
    Ok(row.try_get::<Option<i64>, _>(col)?.map(from_micros))
}

pub(crate) fn col_uuid(row: &AnyRow, col: &'static str) -> Result<Uuid> {
    let s: String = row.try_get(col)?;
    Uuid::parse_str(&s).map_err(|_| StoreError::Corrupt {
        column: col,
        value: s,
    })
}

pub(crate) fn col_opt_uuid(row: &AnyRow, col: &'static str) -> Result<Option<Uuid>> {
    match row.try_get::<Option<String>, _>(col)? {
        None => Ok(None),
        Some(s) => Uuid::parse_str(&s)
            .map(Some)
            .map_err(|_| StoreError::Corrupt {
                column: col,
                value: s,
            }),
    }
}

pub(crate) fn col_list(row: &AnyRow, col: &'static str) -> Result<Vec<String>> {
    let s: String = row.try_get(col)?;
    serde_json::from_str(&s).map_err(|_| StoreError::Corrupt {
        column: col,
        value: s,
    })
}

pub(crate) fn col_u16(row: &AnyRow, col: &'static str) -> Result<u16> {
    let v: i64 = row.try_get(col)?;
    u16::try_from(v).map_err(|_| StoreError::Corrupt {
        column: col,
        value: v.to_string(),
    })
}

pub(crate) fn col_u64(row: &AnyRow, col: &'static str) -> Result<u64> {
    let v: i64 = row.try_get(col)?;
    u64::try_from(v).map_err(|_| StoreError::Corrupt {
        column: col,
        value: v.to_string(),
    })
}

/// Checks a page size.
pub(crate) fn check_limit(limit: u32) -> Result<i64> {
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(StoreError::Invalid {
            field: "limit",
            reason: format!("must be between 1 and {MAX_PAGE}, got {limit}"),
        });
    }
    Ok(i64::from(limit))
}

/// A LIKE pattern matching `needle` anywhere, lower-cased, with `\`, `%`
/// and `_` escaped (use with `ESCAPE '\'`).
pub(crate) fn like_contains(needle: &str) -> Result<String> {
    if needle.chars().count() > MAX_SEARCH_CHARS {
        return Err(StoreError::Invalid {
            field: "search",
            reason: format!("longer than {MAX_SEARCH_CHARS} characters"),
        });
    }
    let mut out = String::with_capacity(needle.len() + 2);
    out.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    Ok(out)
}

/// Opaque keyset cursor: `<i64 sort key>:<text tie-breaker>`, base64url.
pub(crate) fn encode_cursor(key: i64, tie: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{key}:{tie}"))
}

/// Decodes [`encode_cursor`]'s output.
pub(crate) fn decode_cursor(cursor: &str) -> Result<(i64, String)> {
    let bad = || StoreError::Invalid {
        field: "cursor",
        reason: "not a cursor returned by this API".into(),
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (k, tie) = raw.split_once(':').ok_or_else(bad)?;
    let key = k.parse().map_err(|_| bad())?;
    // Ties are ids or hash:kind pairs; anything longer was not made here.
    if tie.len() > 128 {
        return Err(bad());
    }
    Ok((key, tie.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_contains("50%_a\\B").unwrap(), "%50\\%\\_a\\\\b%");
        assert!(like_contains(&"x".repeat(513)).is_err());
        assert!(like_contains(&"é".repeat(512)).is_ok());
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = encode_cursor(-5, "abc");
        assert_eq!(decode_cursor(&c).unwrap(), (-5, "abc".to_owned()));
        assert!(decode_cursor("!!").is_err());
        assert!(decode_cursor(&encode_cursor(1, "")).is_ok());
    }
}
