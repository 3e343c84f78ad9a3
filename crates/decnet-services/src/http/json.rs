//! JSON as Go's `encoding/json` writes it, for the sites of Go servers (and
//! any site whose field order matters): object fields in the order written
//! (Go's struct declaration order), no spaces, and Go's string escaping —
//! `<`, `>` and `&` as `\u003c`, `\u003e`, `\u0026`, U+2028/2029 escaped.
//! `serde_json` without `preserve_order` sorts keys, so it cannot say this.

use std::fmt::Write as _;

/// A JSON object under construction, fields in insertion order.
#[derive(Debug, Clone, Default)]
pub struct Obj {
    out: String,
}

impl Obj {
    /// An empty object.
    pub fn new() -> Obj {
        Obj::default()
    }

    fn key(&mut self, k: &str) {
        self.out.push(if self.out.is_empty() { '{' } else { ',' });
        self.out.push_str(&s(k));
        self.out.push(':');
    }

    /// A field whose value is already JSON text.
    pub fn raw(mut self, k: &str, json: impl AsRef<str>) -> Obj {
        self.key(k);
        self.out.push_str(json.as_ref());
        self
    }

    /// A string field.
    pub fn str(self, k: &str, v: &str) -> Obj {
        let v = s(v);
        self.raw(k, v)
    }

    /// A number field.
    pub fn num(self, k: &str, v: impl std::fmt::Display) -> Obj {
        let v = v.to_string();
        self.raw(k, v)
    }

    /// A boolean field.
    pub fn bool(self, k: &str, v: bool) -> Obj {
        self.raw(k, if v { "true" } else { "false" })
    }

    /// A `null` field.
    pub fn null(self, k: &str) -> Obj {
        self.raw(k, "null")
    }

    /// A string field, or `null` for `None`.
    pub fn opt(self, k: &str, v: Option<&str>) -> Obj {
        match v {
            Some(v) => self.str(k, v),
            None => self.null(k),
        }
    }

    /// The object's JSON text.
    pub fn done(self) -> String {
        if self.out.is_empty() {
            "{}".into()
        } else {
            let mut out = self.out;
            out.push('}');
            out
        }
    }
}

/// A JSON array of values that are already JSON text.
pub fn arr<I, S>(items: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out = String::from("[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(item.as_ref());
    }
    out.push(']');
    out
}

/// A JSON array of strings.
pub fn strs<I, S>(items: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    arr(items.into_iter().map(|v| s(v.as_ref())))
}

/// A JSON string as Go escapes it.
pub fn s(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_keep_their_order_and_strings_escape_as_go_does() {
        let o = Obj::new()
            .str("Zed", "a<b>&\"c\"\n")
            .num("A", 1)
            .bool("B", false)
            .null("C")
            .raw("D", arr(["1", "2"]))
            .raw("E", strs(["x"]))
            .done();
        assert_eq!(
            o,
            r#"{"Zed":"a\u003cb\u003e\u0026\"c\"\n","A":1,"B":false,"C":null,"D":[1,2],"E":["x"]}"#
        );
        assert_eq!(Obj::new().done(), "{}");
        assert_eq!(arr(Vec::<String>::new()), "[]");
        assert_eq!(s("\u{1}"), "\"\\u0001\"");
    }
}
