//! A strict, allocation-free JSON object scanner for the broker's publish path.
//!
//! The broker forwards a `PUB`'s `type` and `payload` as the exact bytes it received, so
//! it must accept precisely the bodies a subscriber's decoder (`serde_json` into a `Value`)
//! accepts: anything looser would let one publisher make every subscriber's client hang up.
//! [`scan_object`] therefore follows serde_json's rules, including the ones its own
//! skipping parser relaxes: UTF-8 throughout, paired `\u` surrogates, no control characters
//! in strings, numbers that fit an `f64`, and at most 127 levels of nesting. A differential
//! proptest against serde_json holds it to that. It never panics and never recurses deeper
//! than the nesting limit.

use std::ops::Range;

/// serde_json refuses the 128th nested array or object.
const MAX_DEPTH: usize = 127;

/// Integer literals this long or shorter always fit (u64 / i64 hold 18 digits).
const SHORT_INT: usize = 18;

/// The last top-level `type` and `payload` of an object, as byte ranges of their values.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct TopFields {
    /// Span of the value of the last top-level `"type"` key.
    pub(crate) ty: Option<Range<usize>>,
    /// Span of the value of the last top-level `"payload"` key.
    pub(crate) payload: Option<Range<usize>>,
}

/// Checks that `body` is one JSON object (surrounding whitespace allowed) that serde_json
/// would parse into a `Value`, and returns where its top-level `type` and `payload` are.
/// Duplicate keys: the last wins, as in a serde_json map.
pub(crate) fn scan_object(body: &[u8]) -> Option<TopFields> {
    // Outside strings only ASCII is valid, so checking the whole body once is exact.
    std::str::from_utf8(body).ok()?;
    let mut s = Scanner { b: body, i: 0 };
    s.ws();
    if s.peek()? != b'{' {
        return None;
    }
    let mut top = TopFields::default();
    s.object(1, Some(&mut top))?;
    s.ws();
    (s.i == body.len()).then_some(top)
}

/// Which top-level key a raw key token (quotes included) names.
fn top_key(raw: &[u8]) -> Option<bool> {
    let inner = raw.get(1..raw.len().saturating_sub(1))?;
    let decoded;
    let key: &[u8] = if inner.contains(&b'\\') {
        decoded = serde_json::from_slice::<String>(raw).ok()?;
        decoded.as_bytes()
    } else {
        inner
    };
    match key {
        b"type" => Some(true),
        b"payload" => Some(false),
        _ => None,
    }
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(depth + 1, None),
            b'[' => self.array(depth + 1),
            b'"' => self.string().map(|_| ()),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    fn object(&mut self, depth: usize, mut top: Option<&mut TopFields>) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.i += 1; // '{'
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.ws();
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            self.ws();
            if self.bump()? != b':' {
                return None;
            }
            self.ws();
            let start = self.i;
            self.value(depth)?;
            if let Some(top) = top.as_deref_mut() {
                match top_key(self.b.get(key)?) {
                    Some(true) => top.ty = Some(start..self.i),
                    Some(false) => top.payload = Some(start..self.i),
                    None => {}
                }
            }
            self.ws();
            match self.bump()? {
                b',' => {}
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.i += 1; // '['
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.ws();
            self.value(depth)?;
            self.ws();
            match self.bump()? {
                b',' => {}
                b']' => return Some(()),
                _ => return None,
            }
        }
    }

    /// A string token; returns its span, quotes included.
    fn string(&mut self) -> Option<Range<usize>> {
        let start = self.i;
        self.i += 1; // '"'
        loop {
            self.skip_plain();
            match self.bump()? {
                b'"' => return Some(start..self.i),
                b'\\' => self.escape()?,
                // A control character (the only other byte `skip_plain` stops at).
                _ => return None,
            }
        }
    }

    /// Skips string bytes that need no attention (not `"`, `\\` or a control character),
    /// eight at a time while it can: string bodies are most of a payload.
    fn skip_plain(&mut self) {
        const ONES: u64 = u64::from_le_bytes([1; 8]);
        const HIGH: u64 = ONES * 0x80;
        // Whether any byte of `x` is below `n` (exact for n <= 128).
        let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH != 0;
        while let Some(chunk) = self.b.get(self.i..self.i + 8) {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            let x = u64::from_le_bytes(w);
            if below(x ^ (ONES * u64::from(b'"')), 1)
                || below(x ^ (ONES * u64::from(b'\\')), 1)
                || below(x, 0x20)
            {
                break;
            }
            self.i += 8;
        }
        while let Some(&c) = self.b.get(self.i) {
            if c == b'"' || c == b'\\' || c < 0x20 {
                break;
            }
            self.i += 1;
        }
    }

    fn escape(&mut self) -> Option<()> {
        match self.bump()? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => Some(()),
            b'u' => {
                let n = self.hex4()?;
                match n {
                    // A trailing surrogate first.
                    0xDC00..=0xDFFF => None,
                    // A leading surrogate must be followed by `\u` and a trailing one.
                    0xD800..=0xDBFF => {
                        if self.bump()? != b'\\' || self.bump()? != b'u' {
                            return None;
                        }
                        matches!(self.hex4()?, 0xDC00..=0xDFFF).then_some(())
                    }
                    _ => Some(()),
                }
            }
            _ => None,
        }
    }

    fn hex4(&mut self) -> Option<u16> {
        let digits = self.b.get(self.i..self.i + 4)?;
        let mut n = 0u16;
        for &d in digits {
            n = (n << 4) | (d as char).to_digit(16)? as u16;
        }
        self.i += 4;
        Some(n)
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Option<()> {
        let start = self.i;
        if self.peek()? == b'-' {
            self.i += 1;
        }
        let int = match self.peek()? {
            b'0' => {
                self.i += 1;
                1
            }
            b'1'..=b'9' => self.digits(),
            _ => return None,
        };
        let mut simple = int <= SHORT_INT;
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
            simple = false;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
            simple = false;
        }
        if simple {
            return Some(());
        }
        // Rare: let serde_json decide whether it fits (`1e400` does not, `1e-400` does).
        let lit = self.b.get(start..self.i)?;
        serde_json::from_slice::<serde_json::Value>(lit)
            .ok()
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    fn serde_accepts(b: &[u8]) -> bool {
        matches!(serde_json::from_slice::<Value>(b), Ok(Value::Object(_)))
    }

    fn span<'a>(b: &'a [u8], r: &Option<Range<usize>>) -> Option<&'a [u8]> {
        r.clone().map(|r| &b[r])
    }

    #[test]
    fn fields_and_duplicates() {
        let b = br#" {"type":"a","payload":{"k":[1,2.5,-0,1e3]},"x":null,"type" : "b"} "#;
        let t = scan_object(b).unwrap();
        assert_eq!(span(b, &t.ty), Some(&br#""b""#[..]));
        assert_eq!(span(b, &t.payload), Some(&br#"{"k":[1,2.5,-0,1e3]}"#[..]));
        // Nested keys are not top-level; an escaped key still names `type`.
        let b = br#"{"payload":{"type":1},"typ\u0065":7}"#;
        let t = scan_object(b).unwrap();
        assert_eq!(span(b, &t.ty), Some(&b"7"[..]));
        assert_eq!(scan_object(b"{}"), Some(TopFields::default()));
    }

    #[test]
    fn refuses_what_serde_json_refuses() {
        let bad: &[&[u8]] = &[
            b"",
            b"[]",
            b"1",
            b"{",
            b"{}x",
            b"{} {}",
            b"{,}",
            br#"{"a":1,}"#,
            br#"{"a":[1,]}"#,
            br#"{"a":01}"#,
            br#"{"a":1.}"#,
            br#"{"a":.5}"#,
            br#"{"a":1e}"#,
            br#"{"a":1e400}"#,
            br#"{"a":-1E+999}"#,
            br#"{"a":"\ud800"}"#,
            br#"{"a":"\udc00"}"#,
            br#"{"a":"\ud800\u0041"}"#,
            br#"{"a":"\x"}"#,
            b"{\"a\":\"\x01\"}",
            b"{\"a\":\"\xff\"}",
            br#"{"a":tru}"#,
            br#"{"a" 1}"#,
            br#"{a:1}"#,
        ];
        for b in bad {
            assert!(!serde_accepts(b), "serde_json accepts {b:?}");
            assert_eq!(scan_object(b), None, "{:?}", String::from_utf8_lossy(b));
        }
        let good: &[&[u8]] = &[
            br#"{"a":"\ud83d\ude00","b":1e-400,"c":123456789012345678901234567890}"#,
            "{\"é\":\"ünï\"}".as_bytes(),
            b"\t{\"a\" :\r\n[ ] }\n",
        ];
        for b in good {
            assert!(serde_accepts(b));
            assert!(scan_object(b).is_some(), "{:?}", String::from_utf8_lossy(b));
        }
    }

    #[test]
    fn nesting_limit_is_serde_jsons() {
        for depth in [126usize, 127, 128, 200] {
            let inner = depth - 1;
            let b = format!("{}{}{}", "{\"a\":".repeat(inner), "{}", "}".repeat(inner));
            let b = b.as_bytes();
            assert_eq!(scan_object(b).is_some(), serde_accepts(b), "depth {depth}");
            let b = format!("{{\"a\":{}{}}}", "[".repeat(inner), "]".repeat(inner));
            let b = b.as_bytes();
            assert_eq!(
                scan_object(b).is_some(),
                serde_accepts(b),
                "array depth {depth}"
            );
        }
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "\\PC{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map("(type|payload|[a-z]{1,3})", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn agrees_with_serde_json_on_json_like_bytes(
            b in prop::collection::vec(prop::sample::select(
                b"{}[]\":,\\ u0123456789abcdefDEtrulsn.+-\xc3\xa9\x01\t".to_vec()), 0..40)
        ) {
            prop_assert_eq!(scan_object(&b).is_some(), serde_accepts(&b), "{:?}", String::from_utf8_lossy(&b));
        }

        #[test]
        fn agrees_with_serde_json_on_mutated_objects(
            v in json_value(), at in any::<prop::sample::Index>(), byte in any::<u8>(), op in 0u8..3
        ) {
            let obj = match v { Value::Object(m) => Value::Object(m), other => serde_json::json!({"type": "t", "payload": other}) };
            let mut b = serde_json::to_vec(&obj).unwrap();
            // Unmutated, it must be accepted with the same fields serde_json sees.
            let t = scan_object(&b).unwrap();
            let parsed: Value = serde_json::from_slice(&b).unwrap();
            let field = |r: &Option<Range<usize>>| span(&b, r).map(|s| serde_json::from_slice::<Value>(s).unwrap());
            prop_assert_eq!(field(&t.ty), parsed.get("type").cloned());
            prop_assert_eq!(field(&t.payload), parsed.get("payload").cloned());
            let i = at.index(b.len() + 1);
            match op {
                0 => b.insert(i, byte),
                1 if i < b.len() => { b.remove(i); }
                _ if i < b.len() => b[i] = byte,
                _ => {}
            }
            prop_assert_eq!(scan_object(&b).is_some(), serde_accepts(&b), "{:?}", String::from_utf8_lossy(&b));
        }
    }
}
