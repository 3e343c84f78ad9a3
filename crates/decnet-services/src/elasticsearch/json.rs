//! JSON as Elasticsearch writes it: keys in the order the server emits them,
//! compact by default and, with `?pretty` (or on `/`), Jackson's default pretty
//! printer — `"key" : value`, two-space indents, `[ a, b ]` arrays on one line,
//! `{ }` for empty objects — which is what scanners' signatures match.

use std::fmt::Write as _;

/// A JSON value with ordered object keys.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number, written as Java's `Double.toString` would for the values used here.
    Float(f64),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object, keys in order.
    Obj(Vec<(String, Json)>),
}

impl From<&str> for Json {
    fn from(s: &str) -> Json {
        Json::Str(s.to_owned())
    }
}

impl From<String> for Json {
    fn from(s: String) -> Json {
        Json::Str(s)
    }
}

impl From<bool> for Json {
    fn from(b: bool) -> Json {
        Json::Bool(b)
    }
}

impl From<i64> for Json {
    fn from(n: i64) -> Json {
        Json::Int(n)
    }
}

impl From<usize> for Json {
    fn from(n: usize) -> Json {
        Json::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<Vec<Json>> for Json {
    fn from(v: Vec<Json>) -> Json {
        Json::Arr(v)
    }
}

/// Builds an object from `(key, value)` pairs.
pub fn obj<const N: usize>(pairs: [(&str, Json); N]) -> Json {
    Json::Obj(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// Converts an attacker's (or the bait world's) `serde_json` value, keeping no particular key order.
pub fn from_serde(v: &serde_json::Value) -> Json {
    match v {
        serde_json::Value::Null => Json::Null,
        serde_json::Value::Bool(b) => Json::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Json::Int(i),
            None => Json::Float(n.as_f64().unwrap_or(0.0)),
        },
        serde_json::Value::String(s) => Json::Str(s.clone()),
        serde_json::Value::Array(a) => Json::Arr(a.iter().map(from_serde).collect()),
        serde_json::Value::Object(o) => {
            Json::Obj(o.iter().map(|(k, v)| (k.clone(), from_serde(v))).collect())
        }
    }
}

impl Json {
    /// The value written compactly (`{"a":1}`), as ES answers without `?pretty`.
    pub fn compact(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, None);
        out
    }

    /// The value as Jackson's default pretty printer writes it, with ES's trailing newline.
    pub fn pretty(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, Some(0));
        out.push('\n');
        out
    }

    fn write(&self, out: &mut String, indent: Option<usize>) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Json::Float(f) => write_double(out, *f),
            Json::Str(s) => write_str(out, s),
            Json::Arr(items) => {
                if items.is_empty() {
                    out.push_str(if indent.is_some() { "[ ]" } else { "[]" });
                    return;
                }
                out.push('[');
                if indent.is_some() {
                    out.push(' ');
                }
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(if indent.is_some() { ", " } else { "," });
                    }
                    v.write(out, indent);
                }
                if indent.is_some() {
                    out.push(' ');
                }
                out.push(']');
            }
            Json::Obj(pairs) => {
                if pairs.is_empty() {
                    out.push_str(if indent.is_some() { "{ }" } else { "{}" });
                    return;
                }
                out.push('{');
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    match indent {
                        Some(level) => {
                            out.push('\n');
                            push_indent(out, level + 1);
                            write_str(out, k);
                            out.push_str(" : ");
                            v.write(out, Some(level + 1));
                        }
                        None => {
                            write_str(out, k);
                            out.push(':');
                            v.write(out, None);
                        }
                    }
                }
                if let Some(level) = indent {
                    out.push('\n');
                    push_indent(out, level);
                }
                out.push('}');
            }
        }
    }
}

fn push_indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

/// Java prints whole doubles with `.0` (`1.0`, `55.55555555555556`).
fn write_double(out: &mut String, f: f64) {
    if !f.is_finite() {
        out.push_str("null");
    } else if f.fract() == 0.0 && f.abs() < 1e15 {
        let _ = write!(out, "{f:.1}");
    } else {
        let _ = write!(out, "{f}");
    }
}

/// Jackson escapes control characters as `\uXXXX` except the short forms, and leaves
/// non-ASCII text as UTF-8.
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_matches_jacksons_default_printer() {
        let v = obj([
            ("name", "node-1".into()),
            ("roles", Json::Arr(vec!["data".into(), "master".into()])),
            ("empty", Json::Obj(vec![])),
            ("none", Json::Arr(vec![])),
            (
                "version",
                obj([("number", "7.10.2".into()), ("snapshot", false.into())]),
            ),
            ("pct", Json::Float(100.0)),
        ]);
        assert_eq!(
            v.pretty(),
            "{\n  \"name\" : \"node-1\",\n  \"roles\" : [ \"data\", \"master\" ],\n  \"empty\" : { },\n  \
             \"none\" : [ ],\n  \"version\" : {\n    \"number\" : \"7.10.2\",\n    \"snapshot\" : false\n  },\n  \
             \"pct\" : 100.0\n}\n"
        );
    }

    #[test]
    fn compact_has_no_spaces_and_escapes_controls() {
        let v = obj([
            ("a", Json::Int(1)),
            ("b", "x\"\u{1}y".into()),
            ("c", Json::Arr(vec![Json::Null])),
        ]);
        assert_eq!(v.compact(), r#"{"a":1,"b":"x\"\u0001y","c":[null]}"#);
    }

    #[test]
    fn doubles_print_as_java_does() {
        let mut s = String::new();
        write_double(&mut s, 55.55555555555556);
        assert_eq!(s, "55.55555555555556");
        s.clear();
        write_double(&mut s, 1.0);
        assert_eq!(s, "1.0");
    }
}
