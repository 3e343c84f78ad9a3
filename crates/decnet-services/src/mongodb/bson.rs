//! A small BSON reader and writer (bsonspec.org 1.1), sans-IO.
//!
//! Hostile-input guarantees: the reader never panics, never allocates more
//! than the input it was given (every length is checked against the bytes
//! left before anything is reserved), refuses a document declaring more than
//! [`MAX_DOCUMENT`] bytes (mongod's `BSONObjMaxInternalSize`), and refuses
//! nesting deeper than [`MAX_DEPTH`]. Arrays keep their values in order and
//! drop their keys, which is how mongod reads them too.

use std::fmt::Write as _;

/// Largest document taken: 16 MiB of user data plus mongod's 16 KiB of headroom.
pub const MAX_DOCUMENT: usize = 16 * 1024 * 1024 + 16 * 1024;
/// Deepest nesting of documents and arrays taken.
pub const MAX_DEPTH: usize = 100;

/// Why bytes are not a BSON document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BsonError {
    /// The input ends inside a value.
    #[error("BSON truncated")]
    Truncated,
    /// A length field is negative, too small, or larger than what follows.
    #[error("bad BSON length {0}")]
    BadLength(i64),
    /// A document declares more than [`MAX_DOCUMENT`] bytes.
    #[error("BSON document of {0} bytes is too large")]
    TooLarge(usize),
    /// Nesting past [`MAX_DEPTH`].
    #[error("BSON nested too deeply")]
    TooDeep,
    /// An element type byte BSON does not define.
    #[error("unknown BSON type 0x{0:02x}")]
    BadType(u8),
    /// A document's last byte is not its terminating NUL, or a string lacks its NUL.
    #[error("BSON element not terminated")]
    Unterminated,
}

/// One BSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// 0x01 double.
    Double(f64),
    /// 0x02 UTF-8 string.
    String(String),
    /// 0x03 embedded document.
    Document(Document),
    /// 0x04 array.
    Array(Vec<Value>),
    /// 0x05 binary with its subtype.
    Binary(u8, Vec<u8>),
    /// 0x06 undefined (deprecated).
    Undefined,
    /// 0x07 ObjectId.
    ObjectId([u8; 12]),
    /// 0x08 boolean.
    Bool(bool),
    /// 0x09 UTC datetime, milliseconds since the epoch.
    DateTime(i64),
    /// 0x0A null.
    Null,
    /// 0x0B regular expression: pattern and options.
    Regex(String, String),
    /// 0x0C DBPointer (deprecated).
    DbPointer(String, [u8; 12]),
    /// 0x0D JavaScript code.
    JavaScript(String),
    /// 0x0E symbol (deprecated).
    Symbol(String),
    /// 0x0F code with scope.
    JavaScriptWithScope(String, Document),
    /// 0x10 32-bit integer.
    Int32(i32),
    /// 0x11 timestamp: seconds and increment.
    Timestamp {
        /// Seconds since the epoch.
        t: u32,
        /// Ordinal within the second.
        i: u32,
    },
    /// 0x12 64-bit integer.
    Int64(i64),
    /// 0x13 decimal128, as its 16 bytes.
    Decimal128([u8; 16]),
    /// 0xFF min key.
    MinKey,
    /// 0x7F max key.
    MaxKey,
}

/// A BSON document: its fields in order (duplicates kept, as on the wire).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Document(pub Vec<(String, Value)>);

impl Document {
    /// An empty document.
    pub fn new() -> Document {
        Document(Vec::new())
    }

    /// Appends a field.
    pub fn push(&mut self, key: impl Into<String>, value: impl Into<Value>) {
        self.0.push((key.into(), value.into()));
    }

    /// This document with one more field (for building replies).
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Document {
        self.push(key, value);
        self
    }

    /// The first field named `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The first field (a command's name and argument).
    pub fn first(&self) -> Option<(&str, &Value)> {
        self.0.first().map(|(k, v)| (k.as_str(), v))
    }

    /// A string field.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    /// Whether it has no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Its encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    /// Appends its encoding to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; 4]);
        for (k, v) in &self.0 {
            write_element(out, k, v);
        }
        out.push(0);
        patch_len(out, start);
    }

    /// Relaxed Extended JSON, for events.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect(),
        )
    }
}

impl Value {
    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The document, if it is one.
    pub fn as_doc(&self) -> Option<&Document> {
        match self {
            Value::Document(d) => Some(d),
            _ => None,
        }
    }

    /// A number as an integer (doubles truncated), as mongod reads numeric arguments.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int32(n) => Some(i64::from(*n)),
            Value::Int64(n) => Some(*n),
            Value::Double(d) if d.is_finite() => Some(*d as i64),
            _ => None,
        }
    }

    /// Binary data's bytes (whatever the subtype).
    pub fn as_binary(&self) -> Option<&[u8]> {
        match self {
            Value::Binary(_, b) => Some(b),
            _ => None,
        }
    }

    /// BSON's truthiness (mongod's `trueValue`).
    pub fn truthy(&self) -> bool {
        match self {
            Value::Bool(b) => *b,
            Value::Int32(n) => *n != 0,
            Value::Int64(n) => *n != 0,
            Value::Double(d) => *d != 0.0,
            Value::Null | Value::Undefined => false,
            _ => true,
        }
    }

    fn type_byte(&self) -> u8 {
        match self {
            Value::Double(_) => 0x01,
            Value::String(_) => 0x02,
            Value::Document(_) => 0x03,
            Value::Array(_) => 0x04,
            Value::Binary(..) => 0x05,
            Value::Undefined => 0x06,
            Value::ObjectId(_) => 0x07,
            Value::Bool(_) => 0x08,
            Value::DateTime(_) => 0x09,
            Value::Null => 0x0a,
            Value::Regex(..) => 0x0b,
            Value::DbPointer(..) => 0x0c,
            Value::JavaScript(_) => 0x0d,
            Value::Symbol(_) => 0x0e,
            Value::JavaScriptWithScope(..) => 0x0f,
            Value::Int32(_) => 0x10,
            Value::Timestamp { .. } => 0x11,
            Value::Int64(_) => 0x12,
            Value::Decimal128(_) => 0x13,
            Value::MinKey => 0xff,
            Value::MaxKey => 0x7f,
        }
    }

    /// Relaxed Extended JSON.
    pub fn to_json(&self) -> serde_json::Value {
        use base64::Engine as _;
        use serde_json::json;
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        match self {
            Value::Double(d) => serde_json::Number::from_f64(*d)
                .map(serde_json::Value::Number)
                .unwrap_or_else(|| json!({"$numberDouble": d.to_string()})),
            Value::String(s) | Value::Symbol(s) => json!(s),
            Value::Document(d) => d.to_json(),
            Value::Array(a) => serde_json::Value::Array(a.iter().map(Value::to_json).collect()),
            Value::Binary(st, b) => {
                json!({"$binary": {"base64": b64(b), "subType": format!("{st:02x}")}})
            }
            Value::Undefined => json!({"$undefined": true}),
            Value::ObjectId(o) => json!({"$oid": hex::encode(o)}),
            Value::Bool(b) => json!(b),
            Value::DateTime(ms) => json!({"$date": {"$numberLong": ms.to_string()}}),
            Value::Null => serde_json::Value::Null,
            Value::Regex(p, o) => json!({"$regularExpression": {"pattern": p, "options": o}}),
            Value::DbPointer(ns, o) => {
                json!({"$dbPointer": {"$ref": ns, "$id": {"$oid": hex::encode(o)}}})
            }
            Value::JavaScript(c) => json!({"$code": c}),
            Value::JavaScriptWithScope(c, s) => json!({"$code": c, "$scope": s.to_json()}),
            Value::Int32(n) => json!(n),
            Value::Timestamp { t, i } => json!({"$timestamp": {"t": t, "i": i}}),
            Value::Int64(n) => json!(n),
            Value::Decimal128(b) => json!({"$numberDecimal": hex::encode(b)}),
            Value::MinKey => json!({"$minKey": 1}),
            Value::MaxKey => json!({"$maxKey": 1}),
        }
    }

    /// The mongo shell's rendering (`{ serverStatus: 1.0 }`), as mongod's messages quote commands.
    pub fn shell(&self) -> String {
        let mut s = String::new();
        shell_into(&mut s, self);
        s
    }
}

fn shell_into(s: &mut String, v: &Value) {
    match v {
        Value::Double(d) => {
            if d.fract() == 0.0 && d.is_finite() && d.abs() < 1e15 {
                let _ = write!(s, "{d:.1}");
            } else {
                let _ = write!(s, "{d}");
            }
        }
        Value::String(t) | Value::Symbol(t) => {
            let _ = write!(s, "\"{}\"", t.replace('\\', "\\\\").replace('"', "\\\""));
        }
        Value::Document(d) => {
            if d.is_empty() {
                s.push_str("{}");
                return;
            }
            s.push_str("{ ");
            for (n, (k, v)) in d.0.iter().enumerate() {
                if n > 0 {
                    s.push_str(", ");
                }
                s.push_str(k);
                s.push_str(": ");
                shell_into(s, v);
            }
            s.push_str(" }");
        }
        Value::Array(a) => {
            s.push_str("[ ");
            for (n, v) in a.iter().enumerate() {
                if n > 0 {
                    s.push_str(", ");
                }
                shell_into(s, v);
            }
            s.push_str(" ]");
        }
        Value::ObjectId(o) => {
            let _ = write!(s, "ObjectId('{}')", hex::encode(o));
        }
        Value::Bool(b) => {
            let _ = write!(s, "{b}");
        }
        Value::Int32(n) => {
            let _ = write!(s, "{n}");
        }
        Value::Int64(n) => {
            let _ = write!(s, "{n}");
        }
        Value::Null => s.push_str("null"),
        other => s.push_str(&other.to_json().to_string()),
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_owned())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
impl From<i32> for Value {
    fn from(n: i32) -> Value {
        Value::Int32(n)
    }
}
impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Int64(n)
    }
}
impl From<f64> for Value {
    fn from(d: f64) -> Value {
        Value::Double(d)
    }
}
impl From<Document> for Value {
    fn from(d: Document) -> Value {
        Value::Document(d)
    }
}
impl From<Vec<Value>> for Value {
    fn from(a: Vec<Value>) -> Value {
        Value::Array(a)
    }
}

fn patch_len(out: &mut [u8], start: usize) {
    let len = i32::try_from(out.len().saturating_sub(start)).unwrap_or(i32::MAX);
    if let Some(slot) = out.get_mut(start..start + 4) {
        slot.copy_from_slice(&len.to_le_bytes());
    }
}

fn cstring(out: &mut Vec<u8>, s: &str) {
    // A key with a NUL cannot be encoded; it is cut there, as C strings are.
    out.extend_from_slice(s.split('\0').next().unwrap_or_default().as_bytes());
    out.push(0);
}

fn string(out: &mut Vec<u8>, s: &str) {
    let len = i32::try_from(s.len() + 1).unwrap_or(i32::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

fn write_element(out: &mut Vec<u8>, key: &str, v: &Value) {
    out.push(v.type_byte());
    cstring(out, key);
    write_value(out, v);
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Double(d) => out.extend_from_slice(&d.to_le_bytes()),
        Value::String(s) | Value::JavaScript(s) | Value::Symbol(s) => string(out, s),
        Value::Document(d) => d.write(out),
        Value::Array(a) => {
            let start = out.len();
            out.extend_from_slice(&[0; 4]);
            for (i, v) in a.iter().enumerate() {
                write_element(out, &i.to_string(), v);
            }
            out.push(0);
            patch_len(out, start);
        }
        Value::Binary(st, b) => {
            let len = i32::try_from(b.len()).unwrap_or(i32::MAX);
            out.extend_from_slice(&len.to_le_bytes());
            out.push(*st);
            out.extend_from_slice(b);
        }
        Value::Undefined | Value::Null | Value::MinKey | Value::MaxKey => {}
        Value::ObjectId(o) => out.extend_from_slice(o),
        Value::Bool(b) => out.push(u8::from(*b)),
        Value::DateTime(ms) => out.extend_from_slice(&ms.to_le_bytes()),
        Value::Regex(p, o) => {
            cstring(out, p);
            cstring(out, o);
        }
        Value::DbPointer(ns, o) => {
            string(out, ns);
            out.extend_from_slice(o);
        }
        Value::JavaScriptWithScope(code, scope) => {
            let start = out.len();
            out.extend_from_slice(&[0; 4]);
            string(out, code);
            scope.write(out);
            patch_len(out, start);
        }
        Value::Int32(n) => out.extend_from_slice(&n.to_le_bytes()),
        Value::Timestamp { t, i } => {
            out.extend_from_slice(&i.to_le_bytes());
            out.extend_from_slice(&t.to_le_bytes());
        }
        Value::Int64(n) => out.extend_from_slice(&n.to_le_bytes()),
        Value::Decimal128(b) => out.extend_from_slice(b),
    }
}

/// A bounded cursor over input bytes.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BsonError> {
        let end = self.pos.checked_add(n).ok_or(BsonError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(BsonError::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], BsonError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u8(&mut self) -> Result<u8, BsonError> {
        let [b] = self.array::<1>()?;
        Ok(b)
    }

    fn i32(&mut self) -> Result<i32, BsonError> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    fn cstring(&mut self) -> Result<String, BsonError> {
        let rest = self.buf.get(self.pos..).ok_or(BsonError::Truncated)?;
        let n = rest
            .iter()
            .position(|b| *b == 0)
            .ok_or(BsonError::Unterminated)?;
        let s = String::from_utf8_lossy(self.take(n)?).into_owned();
        self.take(1)?;
        Ok(s)
    }

    fn string(&mut self) -> Result<String, BsonError> {
        let len = self.i32()?;
        let n = usize::try_from(len)
            .ok()
            .filter(|n| *n >= 1)
            .ok_or(BsonError::BadLength(i64::from(len)))?;
        let bytes = self.take(n)?;
        let (body, nul) = bytes.split_at(n - 1);
        if nul != [0] {
            return Err(BsonError::Unterminated);
        }
        Ok(String::from_utf8_lossy(body).into_owned())
    }

    /// One document's bytes (its declared length, checked), read as a document.
    fn document(&mut self, depth: usize) -> Result<Document, BsonError> {
        let bytes = self.doc_bytes()?;
        parse_fields(bytes, depth).map(Document)
    }

    fn doc_bytes(&mut self) -> Result<&'a [u8], BsonError> {
        let start = self.pos;
        let len = self.i32()?;
        let n = usize::try_from(len)
            .ok()
            .filter(|n| *n >= 5)
            .ok_or(BsonError::BadLength(i64::from(len)))?;
        if n > MAX_DOCUMENT {
            return Err(BsonError::TooLarge(n));
        }
        self.pos = start;
        let bytes = self.take(n)?;
        if bytes.last() != Some(&0) {
            return Err(BsonError::Unterminated);
        }
        Ok(bytes)
    }

    fn value(&mut self, t: u8, depth: usize) -> Result<Value, BsonError> {
        Ok(match t {
            0x01 => Value::Double(f64::from_le_bytes(self.array()?)),
            0x02 => Value::String(self.string()?),
            0x03 => Value::Document(self.document(depth + 1)?),
            0x04 => Value::Array(
                self.document(depth + 1)?
                    .0
                    .into_iter()
                    .map(|(_, v)| v)
                    .collect(),
            ),
            0x05 => {
                let len = self.i32()?;
                let n = usize::try_from(len).map_err(|_| BsonError::BadLength(i64::from(len)))?;
                let st = self.u8()?;
                Value::Binary(st, self.take(n)?.to_vec())
            }
            0x06 => Value::Undefined,
            0x07 => Value::ObjectId(self.array()?),
            0x08 => Value::Bool(self.u8()? != 0),
            0x09 => Value::DateTime(i64::from_le_bytes(self.array()?)),
            0x0a => Value::Null,
            0x0b => Value::Regex(self.cstring()?, self.cstring()?),
            0x0c => Value::DbPointer(self.string()?, self.array()?),
            0x0d => Value::JavaScript(self.string()?),
            0x0e => Value::Symbol(self.string()?),
            0x0f => {
                let start = self.pos;
                let len = self.i32()?;
                let code = self.string()?;
                let scope = self.document(depth + 1)?;
                if i64::from(len) != (self.pos - start) as i64 {
                    return Err(BsonError::BadLength(i64::from(len)));
                }
                Value::JavaScriptWithScope(code, scope)
            }
            0x10 => Value::Int32(self.i32()?),
            0x11 => {
                let i = u32::from_le_bytes(self.array()?);
                let t = u32::from_le_bytes(self.array()?);
                Value::Timestamp { t, i }
            }
            0x12 => Value::Int64(i64::from_le_bytes(self.array()?)),
            0x13 => Value::Decimal128(self.array()?),
            0xff => Value::MinKey,
            0x7f => Value::MaxKey,
            other => return Err(BsonError::BadType(other)),
        })
    }
}

/// The fields of a document whose bytes (length prefix to NUL) are `bytes`.
fn parse_fields(bytes: &[u8], depth: usize) -> Result<Vec<(String, Value)>, BsonError> {
    if depth > MAX_DEPTH {
        return Err(BsonError::TooDeep);
    }
    let inner = bytes
        .get(4..bytes.len().saturating_sub(1))
        .ok_or(BsonError::Truncated)?;
    let mut r = Reader { buf: inner, pos: 0 };
    let mut out = Vec::new();
    while r.pos < inner.len() {
        let t = r.u8()?;
        let key = r.cstring()?;
        let v = r.value(t, depth)?;
        out.push((key, v));
    }
    Ok(out)
}

/// Reads the document at the start of `buf`: the document and the bytes it took.
pub fn read_document(buf: &[u8]) -> Result<(Document, usize), BsonError> {
    let mut r = Reader { buf, pos: 0 };
    let d = r.document(0)?;
    Ok((d, r.pos))
}

/// Reads a buffer that holds exactly one document.
pub fn read_exact(buf: &[u8]) -> Result<Document, BsonError> {
    let (d, n) = read_document(buf)?;
    if n != buf.len() {
        return Err(BsonError::BadLength(buf.len() as i64));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_spec_examples_decode() {
        // bsonspec.org: {"hello": "world"}.
        let b = b"\x16\x00\x00\x00\x02hello\x00\x06\x00\x00\x00world\x00\x00";
        let d = read_exact(b).unwrap();
        assert_eq!(d, Document::new().with("hello", "world"));
        assert_eq!(d.to_bytes(), b.to_vec());
        // {"BSON": ["awesome", 5.05, 1986]}.
        let b = b"\x31\x00\x00\x00\x04BSON\x00\x26\x00\x00\x00\x020\x00\x08\x00\x00\x00awesome\x00\x011\x00\x33\x33\x33\x33\x33\x33\x14\x40\x102\x00\xc2\x07\x00\x00\x00\x00";
        let d = read_exact(b).unwrap();
        assert_eq!(d.to_bytes(), b.to_vec());
        assert_eq!(
            d.get("BSON"),
            Some(&Value::Array(vec![
                "awesome".into(),
                Value::Double(5.05),
                Value::Int32(1986)
            ]))
        );
    }

    #[test]
    fn hostile_lengths_are_refused() {
        assert_eq!(read_document(b""), Err(BsonError::Truncated));
        assert_eq!(
            read_document(b"\x04\x00\x00\x00"),
            Err(BsonError::BadLength(4))
        );
        assert_eq!(
            read_document(b"\xff\xff\xff\x7f\x00"),
            Err(BsonError::TooLarge(0x7fff_ffff))
        );
        assert_eq!(
            read_document(b"\x10\x00\x00\x00\x00"),
            Err(BsonError::Truncated)
        );
        // A string claiming 2 GiB inside a small document.
        let b = b"\x0f\x00\x00\x00\x02a\x00\xff\xff\xff\x7fxx\x00";
        assert_eq!(read_document(b), Err(BsonError::Truncated));
        // A negative binary length.
        let b = b"\x0d\x00\x00\x00\x05a\x00\xff\xff\xff\xff\x00\x00";
        assert_eq!(read_document(b), Err(BsonError::BadLength(-1)));
        assert_eq!(
            read_document(b"\x08\x00\x00\x00\x42a\x00\x00"),
            Err(BsonError::BadType(0x42))
        );
    }

    #[test]
    fn nesting_is_capped() {
        let mut d = Document::new();
        for _ in 0..(MAX_DEPTH + 5) {
            d = Document::new().with("a", d);
        }
        assert_eq!(read_document(&d.to_bytes()), Err(BsonError::TooDeep));
        let mut d = Document::new();
        for _ in 0..MAX_DEPTH {
            d = Document::new().with("a", d);
        }
        assert!(read_document(&d.to_bytes()).is_ok());
    }

    #[test]
    fn the_shell_form_is_mongods() {
        let d = Document::new().with("serverStatus", 1.0);
        assert_eq!(Value::Document(d).shell(), "{ serverStatus: 1.0 }");
    }

    fn key() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9_$.]{0,12}"
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<f64>().prop_map(Value::Double),
            ".{0,16}".prop_map(Value::String),
            (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..24))
                .prop_map(|(s, b)| Value::Binary(s, b)),
            Just(Value::Undefined),
            any::<[u8; 12]>().prop_map(Value::ObjectId),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::DateTime),
            Just(Value::Null),
            ("[a-z]{0,8}", "[imsx]{0,4}").prop_map(|(p, o)| Value::Regex(p, o)),
            (".{0,8}", any::<[u8; 12]>()).prop_map(|(n, o)| Value::DbPointer(n, o)),
            ".{0,16}".prop_map(Value::JavaScript),
            ".{0,8}".prop_map(Value::Symbol),
            any::<i32>().prop_map(Value::Int32),
            (any::<u32>(), any::<u32>()).prop_map(|(t, i)| Value::Timestamp { t, i }),
            any::<i64>().prop_map(Value::Int64),
            any::<[u8; 16]>().prop_map(Value::Decimal128),
            Just(Value::MinKey),
            Just(Value::MaxKey),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec((key(), inner.clone()), 0..6)
                    .prop_map(|f| Value::Document(Document(f))),
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                (".{0,8}", proptest::collection::vec((key(), inner), 0..4))
                    .prop_map(|(c, f)| Value::JavaScriptWithScope(c, Document(f))),
            ]
        })
    }

    proptest! {
        #[test]
        fn writer_then_reader_round_trips(fields in proptest::collection::vec((key(), value()), 0..8)) {
            let d = Document(fields);
            let bytes = d.to_bytes();
            let back = read_exact(&bytes).unwrap();
            // NaN != NaN: compare encodings, which are bit-exact.
            prop_assert_eq!(back.to_bytes(), bytes);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = read_document(&bytes);
        }

        #[test]
        fn mutated_documents_never_panic(
            fields in proptest::collection::vec((key(), value()), 0..6),
            flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        ) {
            let mut bytes = Document(fields).to_bytes();
            for (at, b) in flips {
                let n = bytes.len();
                if let Some(x) = bytes.get_mut(at % n) {
                    *x = b;
                }
            }
            let _ = read_document(&bytes);
        }
    }
}
