//! The envelope every bus message travels in (DESIGN §8).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Envelope schema version.
pub const ENVELOPE_VERSION: u32 = 1;

/// A bus message: `{"v":1,"id":"<32 hex>","topic":…,"type":…,"ts":<epoch s>,"payload":{…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Schema version (1).
    pub v: u32,
    /// Random 128-bit id as 32 lowercase hex digits.
    pub id: String,
    /// Dot-separated topic.
    pub topic: String,
    /// Short discriminator, may be empty.
    #[serde(rename = "type")]
    pub ty: String,
    /// Epoch seconds when the message was stamped (by the broker, for UNIX-socket delivery).
    pub ts: f64,
    /// The message body.
    pub payload: Map<String, Value>,
}

impl Envelope {
    /// A fresh envelope: new id, current time.
    pub fn new(topic: &str, ty: &str, payload: Map<String, Value>) -> Envelope {
        Envelope {
            v: ENVELOPE_VERSION,
            id: new_id(),
            topic: topic.to_owned(),
            ty: ty.to_owned(),
            ts: now_ts(),
            payload,
        }
    }

    /// Builds the envelope of an `EVT` frame: the topic comes from the header, missing or
    /// mistyped fields get defaults (as the Python client does).
    pub fn from_evt(topic: String, mut body: Map<String, Value>) -> Envelope {
        let v = body
            .get("v")
            .and_then(Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(ENVELOPE_VERSION);
        let id = match body.remove("id") {
            Some(Value::String(s)) if !s.is_empty() => s,
            _ => new_id(),
        };
        let ts = body
            .get("ts")
            .and_then(Value::as_f64)
            .unwrap_or_else(now_ts);
        Envelope {
            v,
            id,
            topic,
            ty: take_type(&mut body),
            ts,
            payload: take_payload(&mut body),
        }
    }

    /// The JSON body of this envelope.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising strings, numbers and a Map cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Takes `type` out of a PUB/EVT body (`""` when absent or not a string).
pub(crate) fn take_type(body: &mut Map<String, Value>) -> String {
    match body.remove("type") {
        Some(Value::String(s)) => s,
        _ => String::new(),
    }
}

/// Takes `payload` out of a PUB/EVT body (`{}` when absent or not an object).
pub(crate) fn take_payload(body: &mut Map<String, Value>) -> Map<String, Value> {
    match body.remove("payload") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

/// Payload as an object: an object as is, anything else wrapped as `{"value": …}`.
pub(crate) fn into_object(payload: Value) -> Map<String, Value> {
    match payload {
        Value::Object(m) => m,
        Value::Null => Map::new(),
        other => {
            let mut m = Map::new();
            m.insert("value".into(), other);
            m
        }
    }
}

/// 32 lowercase hex digits of randomness.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Now, in epoch seconds.
pub fn now_ts() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wire_shape() {
        let e = Envelope::new("a.b", "t", into_object(json!({"k": 1})));
        let v: Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(v["v"], 1);
        assert_eq!(v["topic"], "a.b");
        assert_eq!(v["type"], "t");
        assert_eq!(v["payload"], json!({"k": 1}));
        let id = v["id"].as_str().unwrap();
        assert!(
            id.len() == 32
                && id
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert!(v["ts"].as_f64().unwrap() > 1.6e9);
    }

    #[test]
    fn evt_defaults_and_header_topic() {
        let body = into_object(json!({"topic": "spoofed", "type": 5, "payload": [1]}));
        let e = Envelope::from_evt("real.topic".into(), body);
        assert_eq!(e.topic, "real.topic");
        assert_eq!(e.ty, "");
        assert!(e.payload.is_empty());
        assert_eq!(e.id.len(), 32);
        assert_eq!(into_object(json!(3)), into_object(json!({"value": 3})));
    }
}
