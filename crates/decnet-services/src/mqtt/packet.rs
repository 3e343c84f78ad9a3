//! MQTT control packets of protocol levels 3 (3.1), 4 (3.1.1) and 5 (5.0): a
//! pure decoder over a byte buffer, and encoders of what the broker sends.
//!
//! [`decode`] returns [`Decoded::Incomplete`] until a whole packet is in the
//! buffer and rejects a packet as soon as its bytes prove it bad. Hostile-input
//! guarantees: it never panics and never indexes; the remaining length is a
//! variable byte integer of at most 4 bytes, and a packet declaring more than
//! [`MAX_PACKET`] bytes is refused before its body arrives, so nothing it
//! allocates is larger than the packet it was given; a 5.0 property list holds
//! at most [`MAX_PROPERTIES`] properties, a SUBSCRIBE or UNSUBSCRIBE at most
//! [`MAX_FILTERS`] filters. Which of the bad packets Mosquitto answers with a
//! 5.0 DISCONNECT (Malformed Packet or Protocol Error) is [`Malformed::disconnect`].

use std::fmt;

/// Largest packet taken (fixed header included): Mosquitto's own default is
/// 256 MB, far more than any sensor sends; what is larger is a flood.
pub const MAX_PACKET: usize = 256 * 1024;
/// Most properties in one 5.0 property list.
pub const MAX_PROPERTIES: usize = 64;
/// Most topic filters in one SUBSCRIBE or UNSUBSCRIBE.
pub const MAX_FILTERS: usize = 128;

/// The protocol level a CONNECT asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// MQTT 3.1 (`MQIsdp`, level 3).
    V31,
    /// MQTT 3.1.1 (`MQTT`, level 4).
    V311,
    /// MQTT 5.0 (`MQTT`, level 5).
    V5,
}

impl Level {
    /// `3.1`, `3.1.1` or `5.0`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::V31 => "3.1",
            Level::V311 => "3.1.1",
            Level::V5 => "5.0",
        }
    }

    /// The level byte (3, 4, 5).
    pub fn byte(self) -> u8 {
        match self {
            Level::V31 => 3,
            Level::V311 => 4,
            Level::V5 => 5,
        }
    }

    fn v5(self) -> bool {
        self == Level::V5
    }
}

/// Why a packet was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// The remaining length took more than 4 bytes.
    RemainingLength,
    /// The packet declared more than [`MAX_PACKET`] bytes.
    TooLarge,
    /// A field ran past the end of the packet.
    Truncated,
    /// Bytes were left over after the last field.
    Trailing,
    /// The fixed header's flags are wrong for the packet type.
    Flags,
    /// A packet type only a server sends (CONNACK, SUBACK, …), or the reserved 0.
    ServerType(u8),
    /// The first packet was not a CONNECT.
    NotConnect(u8),
    /// AUTH on a connection below 5.0.
    AuthBeforeV5,
    /// CONNECT named a protocol neither `MQTT` nor `MQIsdp`.
    ProtocolName,
    /// CONNECT flags break the rules (reserved bit, will QoS/retain without a will, …).
    ConnectFlags,
    /// A QoS of 3.
    Qos,
    /// A 5.0 property id that does not exist.
    Property(u8),
    /// More than [`MAX_PROPERTIES`] properties, or more than [`MAX_FILTERS`] filters.
    TooMany,
    /// SUBSCRIBE options with reserved bits or retain handling 3.
    SubscribeOptions,
    /// A SUBSCRIBE or UNSUBSCRIBE without a filter.
    NoFilters,
    /// A packet identifier of 0 where one is required.
    PacketId,
}

impl Malformed {
    /// The `reason` of the `protocol_error` event.
    pub fn as_str(self) -> &'static str {
        match self {
            Malformed::RemainingLength => "remaining_length_too_long",
            Malformed::TooLarge => "packet_too_large",
            Malformed::Truncated => "truncated_packet",
            Malformed::Trailing => "trailing_bytes",
            Malformed::Flags => "bad_fixed_header_flags",
            Malformed::ServerType(_) => "server_packet_type",
            Malformed::NotConnect(_) => "first_packet_not_connect",
            Malformed::AuthBeforeV5 => "auth_below_5",
            Malformed::ProtocolName => "bad_protocol_name",
            Malformed::ConnectFlags => "bad_connect_flags",
            Malformed::Qos => "bad_qos",
            Malformed::Property(_) => "unknown_property",
            Malformed::TooMany => "too_many_items",
            Malformed::SubscribeOptions => "bad_subscribe_options",
            Malformed::NoFilters => "no_topic_filters",
            Malformed::PacketId => "zero_packet_id",
        }
    }

    /// The reason code of the DISCONNECT Mosquitto 2.0 sends a 5.0 client
    /// before closing (0x81 Malformed Packet, 0x82 Protocol Error, 0x95 Packet
    /// too large); `None` where it closes without a word.
    pub fn disconnect(self) -> Option<u8> {
        match self {
            Malformed::RemainingLength
            | Malformed::Truncated
            | Malformed::Trailing
            | Malformed::Flags
            | Malformed::Qos
            | Malformed::Property(_)
            | Malformed::TooMany
            | Malformed::SubscribeOptions
            | Malformed::NoFilters => Some(0x81),
            Malformed::PacketId => Some(0x82),
            Malformed::TooLarge => Some(0x95),
            Malformed::ServerType(_)
            | Malformed::NotConnect(_)
            | Malformed::AuthBeforeV5
            | Malformed::ProtocolName
            | Malformed::ConnectFlags => None,
        }
    }
}

impl fmt::Display for Malformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One 5.0 property's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A byte.
    Byte(u8),
    /// A two-byte integer.
    U16(u16),
    /// A four-byte integer.
    U32(u32),
    /// A variable byte integer.
    Varint(u32),
    /// A UTF-8 string (kept as sent).
    Str(Vec<u8>),
    /// Binary data.
    Bin(Vec<u8>),
    /// A user property's name and value.
    Pair(Vec<u8>, Vec<u8>),
}

/// One 5.0 property.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    /// Its identifier.
    pub id: u8,
    /// Its value.
    pub value: Value,
}

/// What kind of value a property id carries.
#[derive(Clone, Copy)]
enum Kind {
    Byte,
    U16,
    U32,
    Varint,
    Str,
    Bin,
    Pair,
}

/// The name and kind of a property id (MQTT 5.0 §2.2.2.2).
fn property_kind(id: u8) -> Option<(&'static str, Kind)> {
    Some(match id {
        0x01 => ("payload_format_indicator", Kind::Byte),
        0x02 => ("message_expiry_interval", Kind::U32),
        0x03 => ("content_type", Kind::Str),
        0x08 => ("response_topic", Kind::Str),
        0x09 => ("correlation_data", Kind::Bin),
        0x0B => ("subscription_identifier", Kind::Varint),
        0x11 => ("session_expiry_interval", Kind::U32),
        0x12 => ("assigned_client_identifier", Kind::Str),
        0x13 => ("server_keep_alive", Kind::U16),
        0x15 => ("authentication_method", Kind::Str),
        0x16 => ("authentication_data", Kind::Bin),
        0x17 => ("request_problem_information", Kind::Byte),
        0x18 => ("will_delay_interval", Kind::U32),
        0x19 => ("request_response_information", Kind::Byte),
        0x1A => ("response_information", Kind::Str),
        0x1C => ("server_reference", Kind::Str),
        0x1F => ("reason_string", Kind::Str),
        0x21 => ("receive_maximum", Kind::U16),
        0x22 => ("topic_alias_maximum", Kind::U16),
        0x23 => ("topic_alias", Kind::U16),
        0x24 => ("maximum_qos", Kind::Byte),
        0x25 => ("retain_available", Kind::Byte),
        0x26 => ("user_property", Kind::Pair),
        0x27 => ("maximum_packet_size", Kind::U32),
        0x28 => ("wildcard_subscription_available", Kind::Byte),
        0x29 => ("subscription_identifier_available", Kind::Byte),
        0x2A => ("shared_subscription_available", Kind::Byte),
        _ => return None,
    })
}

/// The snake_case name of a property id (`session_expiry_interval`), for event fields.
pub fn property_name(id: u8) -> &'static str {
    property_kind(id).map_or("unknown", |(n, _)| n)
}

/// Property identifiers the broker uses.
pub mod prop {
    /// Topic Alias (PUBLISH).
    pub const TOPIC_ALIAS: u8 = 0x23;
    /// Assigned Client Identifier (CONNACK).
    pub const ASSIGNED_CLIENT_ID: u8 = 0x12;
    /// Receive Maximum (CONNACK).
    pub const RECEIVE_MAXIMUM: u8 = 0x21;
    /// Topic Alias Maximum (CONNACK).
    pub const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    /// Authentication Method (CONNECT).
    pub const AUTHENTICATION_METHOD: u8 = 0x15;
}

/// A CONNECT's will message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Will {
    /// Will topic.
    pub topic: Vec<u8>,
    /// Will payload.
    pub payload: Vec<u8>,
    /// Will QoS.
    pub qos: u8,
    /// Will retain flag.
    pub retain: bool,
    /// 5.0 will properties.
    pub properties: Vec<Property>,
}

/// A CONNECT packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// Protocol level.
    pub level: Level,
    /// The level byte had the bridge bit (0x80) set, as a Mosquitto bridge sends.
    pub bridge: bool,
    /// Clean session (3.x) or clean start (5.0).
    pub clean: bool,
    /// Keep alive, seconds.
    pub keepalive: u16,
    /// 5.0 CONNECT properties.
    pub properties: Vec<Property>,
    /// Client identifier.
    pub client_id: Vec<u8>,
    /// The will, when the will flag was set.
    pub will: Option<Will>,
    /// User name, when its flag was set.
    pub username: Option<Vec<u8>>,
    /// Password, when its flag was set.
    pub password: Option<Vec<u8>>,
}

/// A PUBLISH packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// DUP flag.
    pub dup: bool,
    /// QoS 0, 1 or 2.
    pub qos: u8,
    /// RETAIN flag.
    pub retain: bool,
    /// Topic name (empty with a 5.0 topic alias).
    pub topic: Vec<u8>,
    /// Packet identifier (QoS 1 and 2).
    pub packet_id: Option<u16>,
    /// 5.0 properties.
    pub properties: Vec<Property>,
    /// Application message.
    pub payload: Vec<u8>,
}

/// Which acknowledgement of the QoS flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckKind {
    /// PUBACK (QoS 1).
    PubAck,
    /// PUBREC (QoS 2, first answer).
    PubRec,
    /// PUBREL (QoS 2, release).
    PubRel,
    /// PUBCOMP (QoS 2, complete).
    PubComp,
}

impl AckKind {
    fn packet_type(self) -> u8 {
        match self {
            AckKind::PubAck => 4,
            AckKind::PubRec => 5,
            AckKind::PubRel => 6,
            AckKind::PubComp => 7,
        }
    }

    /// `PUBACK`, `PUBREC`, `PUBREL`, `PUBCOMP`.
    pub fn as_str(self) -> &'static str {
        match self {
            AckKind::PubAck => "PUBACK",
            AckKind::PubRec => "PUBREC",
            AckKind::PubRel => "PUBREL",
            AckKind::PubComp => "PUBCOMP",
        }
    }
}

/// PUBACK, PUBREC, PUBREL or PUBCOMP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// Which one.
    pub kind: AckKind,
    /// Packet identifier.
    pub packet_id: u16,
    /// 5.0 reason code (0 when left out).
    pub reason: u8,
}

/// One filter of a SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Topic filter as sent.
    pub filter: Vec<u8>,
    /// Requested maximum QoS.
    pub qos: u8,
    /// 5.0 No Local.
    pub no_local: bool,
    /// 5.0 Retain As Published.
    pub retain_as_published: bool,
    /// 5.0 Retain Handling (0 send retained, 1 only for new subscriptions, 2 never).
    pub retain_handling: u8,
}

/// A SUBSCRIBE packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscribe {
    /// Packet identifier.
    pub packet_id: u16,
    /// 5.0 properties.
    pub properties: Vec<Property>,
    /// Filters with their options.
    pub filters: Vec<Filter>,
}

/// An UNSUBSCRIBE packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    /// Packet identifier.
    pub packet_id: u16,
    /// 5.0 properties.
    pub properties: Vec<Property>,
    /// Filters as sent.
    pub filters: Vec<Vec<u8>>,
}

/// A packet from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// CONNECT of a level the broker speaks.
    Connect(Connect),
    /// CONNECT of `MQTT`/`MQIsdp` at a level the broker does not speak
    /// (answered with return code 1, unacceptable protocol version).
    ConnectLevel {
        /// The level byte.
        level: u8,
    },
    /// PUBLISH.
    Publish(Publish),
    /// PUBACK, PUBREC, PUBREL, PUBCOMP.
    Ack(Ack),
    /// SUBSCRIBE.
    Subscribe(Subscribe),
    /// UNSUBSCRIBE.
    Unsubscribe(Unsubscribe),
    /// PINGREQ.
    PingReq,
    /// DISCONNECT (5.0 reason code, 0 when left out).
    Disconnect {
        /// Reason code.
        reason: u8,
        /// 5.0 properties.
        properties: Vec<Property>,
    },
    /// AUTH (5.0).
    Auth {
        /// Reason code.
        reason: u8,
        /// Properties.
        properties: Vec<Property>,
    },
}

/// What [`decode`] found at the front of the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// Not a whole packet yet: read more.
    Incomplete,
    /// A packet, and how many bytes of the buffer it took.
    Packet(Packet, usize),
}

/// Reads fields off one packet's body.
struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn new(body: &'a [u8]) -> Cursor<'a> {
        Cursor { rest: body }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if n > self.rest.len() {
            return Err(Malformed::Truncated);
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, Malformed> {
        let (&b, tail) = self.rest.split_first().ok_or(Malformed::Truncated)?;
        self.rest = tail;
        Ok(b)
    }

    fn u16(&mut self) -> Result<u16, Malformed> {
        let b = self.take(2)?;
        let mut x = [0u8; 2];
        x.copy_from_slice(b);
        Ok(u16::from_be_bytes(x))
    }

    fn u32(&mut self) -> Result<u32, Malformed> {
        let b = self.take(4)?;
        let mut x = [0u8; 4];
        x.copy_from_slice(b);
        Ok(u32::from_be_bytes(x))
    }

    fn varint(&mut self) -> Result<u32, Malformed> {
        match varint(self.rest)? {
            Some((v, n)) => {
                self.take(n)?;
                Ok(v)
            }
            None => Err(Malformed::Truncated),
        }
    }

    /// A two-byte length and that many bytes (strings and binary data alike).
    fn prefixed(&mut self) -> Result<&'a [u8], Malformed> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.rest)
    }

    /// A 5.0 property list.
    fn properties(&mut self) -> Result<Vec<Property>, Malformed> {
        let len = usize::try_from(self.varint()?).map_err(|_| Malformed::Truncated)?;
        let mut c = Cursor::new(self.take(len)?);
        let mut out = Vec::new();
        while !c.is_empty() {
            if out.len() == MAX_PROPERTIES {
                return Err(Malformed::TooMany);
            }
            // Identifiers are variable byte integers; every defined one fits a byte.
            let id = c.varint()?;
            let id = u8::try_from(id).map_err(|_| Malformed::Property(0xFF))?;
            let (_, kind) = property_kind(id).ok_or(Malformed::Property(id))?;
            let value = match kind {
                Kind::Byte => Value::Byte(c.u8()?),
                Kind::U16 => Value::U16(c.u16()?),
                Kind::U32 => Value::U32(c.u32()?),
                Kind::Varint => Value::Varint(c.varint()?),
                Kind::Str => Value::Str(c.prefixed()?.to_vec()),
                Kind::Bin => Value::Bin(c.prefixed()?.to_vec()),
                Kind::Pair => {
                    let k = c.prefixed()?.to_vec();
                    Value::Pair(k, c.prefixed()?.to_vec())
                }
            };
            out.push(Property { id, value });
        }
        Ok(out)
    }

    fn end(&self) -> Result<(), Malformed> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Malformed::Trailing)
        }
    }
}

/// A variable byte integer at the front of `buf`: its value and length,
/// `None` when it is not complete yet.
pub fn varint(buf: &[u8]) -> Result<Option<(u32, usize)>, Malformed> {
    let mut value: u32 = 0;
    for (i, &b) in buf.iter().enumerate().take(4) {
        value |= u32::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    if buf.len() >= 4 {
        Err(Malformed::RemainingLength)
    } else {
        Ok(None)
    }
}

/// The packet at the front of `buf`. `level` is the connection's protocol
/// level once its CONNECT was taken, `None` before: then only a CONNECT decodes.
pub fn decode(buf: &[u8], level: Option<Level>) -> Result<Decoded, Malformed> {
    let Some((&first, after)) = buf.split_first() else {
        return Ok(Decoded::Incomplete);
    };
    let ptype = first >> 4;
    let flags = first & 0x0F;
    match level {
        None if ptype != 1 => return Err(Malformed::NotConnect(ptype)),
        _ => {}
    }
    if matches!(ptype, 0 | 2 | 9 | 11 | 13) {
        return Err(Malformed::ServerType(ptype));
    }
    let Some((remaining, vlen)) = varint(after)? else {
        return Ok(Decoded::Incomplete);
    };
    let remaining = usize::try_from(remaining).map_err(|_| Malformed::TooLarge)?;
    let total = 1 + vlen + remaining;
    if total > MAX_PACKET {
        return Err(Malformed::TooLarge);
    }
    let Some(body) = after.get(vlen..vlen + remaining) else {
        return Ok(Decoded::Incomplete);
    };
    let level = level.unwrap_or(Level::V311);
    // MQTT 3.1 clients were lax with these flags; Mosquitto checks them from 3.1.1 on.
    let strict = level != Level::V31;
    let want_flags = |want: u8| {
        if strict && flags != want {
            Err(Malformed::Flags)
        } else {
            Ok(())
        }
    };
    let mut c = Cursor::new(body);
    let packet = match ptype {
        1 => {
            if flags != 0 {
                return Err(Malformed::Flags);
            }
            connect(&mut c)?
        }
        3 => Packet::Publish(publish(&mut c, flags, level)?),
        4..=7 => {
            let kind = match ptype {
                4 => AckKind::PubAck,
                5 => AckKind::PubRec,
                6 => AckKind::PubRel,
                _ => AckKind::PubComp,
            };
            want_flags(if kind == AckKind::PubRel { 2 } else { 0 })?;
            let packet_id = c.u16()?;
            let mut reason = 0;
            if level.v5() && !c.is_empty() {
                reason = c.u8()?;
                if !c.is_empty() {
                    c.properties()?;
                }
            }
            c.end()?;
            Packet::Ack(Ack {
                kind,
                packet_id,
                reason,
            })
        }
        8 => {
            want_flags(2)?;
            Packet::Subscribe(subscribe(&mut c, level)?)
        }
        10 => {
            want_flags(2)?;
            let packet_id = c.u16()?;
            let properties = if level.v5() {
                c.properties()?
            } else {
                Vec::new()
            };
            let mut filters = Vec::new();
            while !c.is_empty() {
                if filters.len() == MAX_FILTERS {
                    return Err(Malformed::TooMany);
                }
                filters.push(c.prefixed()?.to_vec());
            }
            if filters.is_empty() {
                return Err(Malformed::NoFilters);
            }
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                properties,
                filters,
            })
        }
        // Mosquitto 2.0 answers a PINGREQ whatever its body.
        12 => Packet::PingReq,
        14 => {
            want_flags(0)?;
            let mut reason = 0;
            let mut properties = Vec::new();
            if level.v5() && !c.is_empty() {
                reason = c.u8()?;
                if !c.is_empty() {
                    properties = c.properties()?;
                }
            }
            c.end()?;
            Packet::Disconnect { reason, properties }
        }
        _ => {
            if !level.v5() {
                return Err(Malformed::AuthBeforeV5);
            }
            want_flags(0)?;
            let mut reason = 0;
            let mut properties = Vec::new();
            if !c.is_empty() {
                reason = c.u8()?;
                properties = c.properties()?;
            }
            c.end()?;
            Packet::Auth { reason, properties }
        }
    };
    Ok(Decoded::Packet(packet, total))
}

fn connect(c: &mut Cursor<'_>) -> Result<Packet, Malformed> {
    let name = c.prefixed()?;
    let level_byte = c.u8()?;
    let bridge = level_byte & 0x80 != 0;
    let level = match (name, level_byte & 0x7F) {
        (b"MQIsdp", 3) => Level::V31,
        (b"MQTT", 4) => Level::V311,
        (b"MQTT", 5) => Level::V5,
        (b"MQIsdp" | b"MQTT", _) => {
            return Ok(Packet::ConnectLevel { level: level_byte });
        }
        _ => return Err(Malformed::ProtocolName),
    };
    let flags = c.u8()?;
    let keepalive = c.u16()?;
    let clean = flags & 0x02 != 0;
    let will_flag = flags & 0x04 != 0;
    let will_qos = (flags >> 3) & 0x03;
    let will_retain = flags & 0x20 != 0;
    let password_flag = flags & 0x40 != 0;
    let username_flag = flags & 0x80 != 0;
    if flags & 0x01 != 0 {
        return Err(Malformed::ConnectFlags);
    }
    if will_qos == 3 {
        return Err(Malformed::Qos);
    }
    if !will_flag && (will_qos != 0 || will_retain) {
        return Err(Malformed::ConnectFlags);
    }
    // 5.0 allows a password without a user name; 3.x does not.
    if password_flag && !username_flag && level != Level::V5 {
        return Err(Malformed::ConnectFlags);
    }
    let properties = if level.v5() {
        c.properties()?
    } else {
        Vec::new()
    };
    let client_id = c.prefixed()?.to_vec();
    let will = if will_flag {
        let properties = if level.v5() {
            c.properties()?
        } else {
            Vec::new()
        };
        let topic = c.prefixed()?.to_vec();
        let payload = c.prefixed()?.to_vec();
        Some(Will {
            topic,
            payload,
            qos: will_qos,
            retain: will_retain,
            properties,
        })
    } else {
        None
    };
    let username = if username_flag {
        Some(c.prefixed()?.to_vec())
    } else {
        None
    };
    let password = if password_flag {
        Some(c.prefixed()?.to_vec())
    } else {
        None
    };
    c.end()?;
    Ok(Packet::Connect(Connect {
        level,
        bridge,
        clean,
        keepalive,
        properties,
        client_id,
        will,
        username,
        password,
    }))
}

fn publish(c: &mut Cursor<'_>, flags: u8, level: Level) -> Result<Publish, Malformed> {
    let dup = flags & 0x08 != 0;
    let qos = (flags >> 1) & 0x03;
    let retain = flags & 0x01 != 0;
    if qos == 3 {
        return Err(Malformed::Qos);
    }
    let topic = c.prefixed()?.to_vec();
    let packet_id = if qos > 0 {
        let id = c.u16()?;
        if id == 0 {
            return Err(Malformed::PacketId);
        }
        Some(id)
    } else {
        None
    };
    let properties = if level.v5() {
        c.properties()?
    } else {
        Vec::new()
    };
    let payload = c.rest().to_vec();
    Ok(Publish {
        dup,
        qos,
        retain,
        topic,
        packet_id,
        properties,
        payload,
    })
}

fn subscribe(c: &mut Cursor<'_>, level: Level) -> Result<Subscribe, Malformed> {
    let packet_id = c.u16()?;
    if packet_id == 0 {
        return Err(Malformed::PacketId);
    }
    let properties = if level.v5() {
        c.properties()?
    } else {
        Vec::new()
    };
    let mut filters = Vec::new();
    while !c.is_empty() {
        if filters.len() == MAX_FILTERS {
            return Err(Malformed::TooMany);
        }
        let filter = c.prefixed()?.to_vec();
        let opts = c.u8()?;
        let qos = opts & 0x03;
        if qos == 3 {
            return Err(Malformed::SubscribeOptions);
        }
        let reserved = if level.v5() { 0xC0 } else { 0xFC };
        let retain_handling = (opts >> 4) & 0x03;
        if opts & reserved != 0 || retain_handling == 3 {
            return Err(Malformed::SubscribeOptions);
        }
        let v5 = level.v5();
        filters.push(Filter {
            filter,
            qos,
            no_local: v5 && opts & 0x04 != 0,
            retain_as_published: v5 && opts & 0x08 != 0,
            retain_handling: if v5 { retain_handling } else { 0 },
        });
    }
    if filters.is_empty() {
        return Err(Malformed::NoFilters);
    }
    Ok(Subscribe {
        packet_id,
        properties,
        filters,
    })
}

// ---- What the broker sends ----

fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let mut b = u8::try_from(n % 128).unwrap_or(0);
        n /= 128;
        if n > 0 {
            b |= 0x80;
        }
        out.push(b);
        if n == 0 {
            break;
        }
    }
}

fn put_prefixed(out: &mut Vec<u8>, b: &[u8]) {
    let n = b.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(b.get(..n).unwrap_or(&[]));
}

/// A property list as 5.0 writes it.
pub fn encode_properties(props: &[Property]) -> Vec<u8> {
    let mut body = Vec::new();
    for p in props {
        body.push(p.id);
        match &p.value {
            Value::Byte(b) => body.push(*b),
            Value::U16(v) => body.extend_from_slice(&v.to_be_bytes()),
            Value::U32(v) => body.extend_from_slice(&v.to_be_bytes()),
            Value::Varint(v) => put_varint(&mut body, usize::try_from(*v).unwrap_or(0)),
            Value::Str(s) | Value::Bin(s) => put_prefixed(&mut body, s),
            Value::Pair(k, v) => {
                put_prefixed(&mut body, k);
                put_prefixed(&mut body, v);
            }
        }
    }
    let mut out = Vec::with_capacity(body.len() + 4);
    put_varint(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(first);
    put_varint(&mut out, body.len());
    out.extend_from_slice(body);
    out
}

/// CONNACK: `code` is the 3.x return code or the 5.0 reason code; 5.0 carries `props`.
/// A refusal of an unsupported level is always the 3.x form (the client's level is unknown).
pub fn connack(
    level: Option<Level>,
    session_present: bool,
    code: u8,
    props: &[Property],
) -> Vec<u8> {
    let mut body = vec![u8::from(session_present), code];
    if level == Some(Level::V5) {
        body.extend_from_slice(&encode_properties(props));
    }
    packet(0x20, &body)
}

/// SUBACK with one return (3.x) or reason (5.0) code per filter.
pub fn suback(level: Level, packet_id: u16, codes: &[u8]) -> Vec<u8> {
    let mut body = packet_id.to_be_bytes().to_vec();
    if level.v5() {
        body.push(0);
    }
    body.extend_from_slice(codes);
    packet(0x90, &body)
}

/// UNSUBACK: 3.x has only the packet id, 5.0 a reason code per filter.
pub fn unsuback(level: Level, packet_id: u16, codes: &[u8]) -> Vec<u8> {
    let mut body = packet_id.to_be_bytes().to_vec();
    if level.v5() {
        body.push(0);
        body.extend_from_slice(codes);
    }
    packet(0xB0, &body)
}

/// PUBACK, PUBREC, PUBREL or PUBCOMP; a 5.0 reason code other than 0 is written out.
pub fn ack(level: Level, kind: AckKind, packet_id: u16, reason: u8) -> Vec<u8> {
    let first = (kind.packet_type() << 4) | if kind == AckKind::PubRel { 2 } else { 0 };
    let mut body = packet_id.to_be_bytes().to_vec();
    if level.v5() && reason != 0 {
        body.push(reason);
    }
    packet(first, &body)
}

/// PUBLISH from the broker (`packet_id` for QoS 1 and 2); 5.0 with an empty property list.
pub fn publish_to(
    level: Level,
    topic: &[u8],
    payload: &[u8],
    qos: u8,
    retain: bool,
    packet_id: u16,
) -> Vec<u8> {
    let mut body = Vec::with_capacity(topic.len() + payload.len() + 8);
    put_prefixed(&mut body, topic);
    if qos > 0 {
        body.extend_from_slice(&packet_id.to_be_bytes());
    }
    if level.v5() {
        body.push(0);
    }
    body.extend_from_slice(payload);
    packet(0x30 | ((qos & 0x03) << 1) | u8::from(retain), &body)
}

/// PINGRESP.
pub const PINGRESP: [u8; 2] = [0xD0, 0x00];

/// A 5.0 DISCONNECT with a reason code.
pub fn disconnect(reason: u8) -> Vec<u8> {
    packet(0xE0, &[reason])
}

#[cfg(test)]
mod tests {
    use super::prop;
    use super::*;
    use proptest::prelude::*;

    fn s(b: &[u8]) -> Vec<u8> {
        let mut v = (b.len() as u16).to_be_bytes().to_vec();
        v.extend_from_slice(b);
        v
    }

    fn whole(first: u8, body: &[u8]) -> Vec<u8> {
        packet(first, body)
    }

    #[test]
    fn nmaps_probe_is_an_anonymous_3_1_1_connect() {
        let probe = b"\x10\x10\x00\x04MQTT\x04\x02\x00\x1e\x00\x04nmap";
        let Ok(Decoded::Packet(Packet::Connect(c), n)) = decode(probe, None) else {
            panic!("nmap's probe decodes");
        };
        assert_eq!(n, probe.len());
        assert_eq!(c.level, Level::V311);
        assert!(c.clean);
        assert_eq!(c.keepalive, 30);
        assert_eq!(c.client_id, b"nmap");
        assert_eq!((c.username, c.password, c.will), (None, None, None));
    }

    #[test]
    fn a_5_0_connect_with_will_credentials_and_properties() {
        let mut body = s(b"MQTT");
        body.extend_from_slice(&[5, 0xC0 | 0x20 | 0x08 | 0x04 | 0x02, 0, 60]);
        body.extend_from_slice(&[5, 0x11, 0, 0, 0, 0x3C]);
        body.extend(s(b"cid"));
        body.extend_from_slice(&[2, 0x01, 1]);
        body.extend(s(b"w/t"));
        body.extend(s(b"bye"));
        body.extend(s(b"alice"));
        body.extend(s(b"pw\x00x"));
        let p = whole(0x10, &body);
        for cut in 0..p.len() {
            assert_eq!(decode(&p[..cut], None), Ok(Decoded::Incomplete), "{cut}");
        }
        let Ok(Decoded::Packet(Packet::Connect(c), _)) = decode(&p, None) else {
            panic!("decodes");
        };
        assert_eq!(c.level, Level::V5);
        assert_eq!(
            c.properties,
            vec![Property {
                id: 0x11,
                value: Value::U32(60)
            }]
        );
        let w = c.will.unwrap();
        assert_eq!(
            (w.topic.as_slice(), w.payload.as_slice()),
            (&b"w/t"[..], &b"bye"[..])
        );
        assert_eq!((w.qos, w.retain), (1, true));
        assert_eq!(w.properties.len(), 1);
        assert_eq!(c.username.as_deref(), Some(&b"alice"[..]));
        assert_eq!(c.password.as_deref(), Some(&b"pw\x00x"[..]));
    }

    #[test]
    fn levels_names_and_flags_as_mosquitto_takes_them() {
        let conn = |name: &[u8], level: u8, flags: u8| {
            let mut body = s(name);
            body.extend_from_slice(&[level, flags, 0, 60]);
            body.extend(s(b"x"));
            whole(0x10, &body)
        };
        assert!(matches!(
            decode(&conn(b"MQIsdp", 3, 2), None),
            Ok(Decoded::Packet(
                Packet::Connect(Connect {
                    level: Level::V31,
                    ..
                }),
                _
            ))
        ));
        assert!(matches!(
            decode(&conn(b"MQTT", 9, 2), None),
            Ok(Decoded::Packet(Packet::ConnectLevel { level: 9 }, _))
        ));
        assert_eq!(
            decode(&conn(b"HTTP", 4, 2), None),
            Err(Malformed::ProtocolName)
        );
        assert_eq!(
            decode(&conn(b"MQTT", 4, 3), None),
            Err(Malformed::ConnectFlags)
        );
        // A password without a user name: 3.1.1 refuses it.
        assert_eq!(
            decode(&conn(b"MQTT", 4, 0x42), None),
            Err(Malformed::ConnectFlags)
        );
        assert_eq!(decode(b"\xc0\x00", None), Err(Malformed::NotConnect(12)));
        assert_eq!(
            decode(b"GET / HTTP/1.0\r\n", None),
            Err(Malformed::NotConnect(4))
        );
    }

    #[test]
    fn the_remaining_length_is_capped_at_four_bytes_and_the_size_before_the_body() {
        assert_eq!(
            decode(b"\x10\xff\xff\xff\xff\x01", None),
            Err(Malformed::RemainingLength)
        );
        assert_eq!(decode(b"\x10\xff\xff\xff", None), Ok(Decoded::Incomplete));
        assert_eq!(
            decode(b"\x10\xff\xff\xff\x7f", None),
            Err(Malformed::TooLarge)
        );
        assert_eq!(varint(&[0x80, 0x80, 0x80, 0x01]), Ok(Some((1 << 21, 4))));
        assert_eq!(varint(&[0xC1, 0x02]), Ok(Some((321, 2))));
    }

    #[test]
    fn publish_subscribe_and_acks_by_level() {
        let mut body = s(b"a/b");
        body.extend_from_slice(&[0, 9]);
        body.extend_from_slice(b"hello");
        let p = whole(0x33, &body);
        let Ok(Decoded::Packet(Packet::Publish(pb), _)) = decode(&p, Some(Level::V311)) else {
            panic!("publish");
        };
        assert_eq!((pb.qos, pb.retain, pb.packet_id), (1, true, Some(9)));
        assert_eq!(pb.payload, b"hello");

        let mut sub = vec![0, 7, 0];
        sub.extend(s(b"a/#"));
        sub.push(0x2D);
        let Ok(Decoded::Packet(Packet::Subscribe(sb), _)) =
            decode(&whole(0x82, &sub), Some(Level::V5))
        else {
            panic!("subscribe");
        };
        let f = &sb.filters[0];
        assert_eq!(
            (f.qos, f.no_local, f.retain_as_published, f.retain_handling),
            (1, true, true, 2)
        );
        // The same options are reserved bits in 3.1.1.
        let mut sub4 = vec![0, 7];
        sub4.extend(s(b"a/#"));
        sub4.push(0x2D);
        assert_eq!(
            decode(&whole(0x82, &sub4), Some(Level::V311)),
            Err(Malformed::SubscribeOptions)
        );
        assert_eq!(
            decode(&whole(0x80, &sub4), Some(Level::V311)),
            Err(Malformed::Flags)
        );
        assert_eq!(
            decode(&whole(0x82, &[0, 7]), Some(Level::V311)),
            Err(Malformed::NoFilters)
        );
        assert!(matches!(
            decode(&[0x62, 2, 0, 5], Some(Level::V311)),
            Ok(Decoded::Packet(
                Packet::Ack(Ack {
                    kind: AckKind::PubRel,
                    packet_id: 5,
                    ..
                }),
                4
            ))
        ));
        assert_eq!(
            decode(&[0x20, 2, 0, 0], Some(Level::V311)),
            Err(Malformed::ServerType(2))
        );
        assert_eq!(
            decode(&[0xF0, 0], Some(Level::V311)),
            Err(Malformed::AuthBeforeV5)
        );
        assert_eq!(
            decode(&whole(0x82, &[0, 7, 2, 0x77, 0]), Some(Level::V5)),
            Err(Malformed::Property(0x77))
        );
    }

    #[test]
    fn encoders_match_mosquitto_2_0_11s_bytes() {
        assert_eq!(
            connack(Some(Level::V311), false, 5, &[]),
            b"\x20\x02\x00\x05"
        );
        let props = [
            Property {
                id: prop::TOPIC_ALIAS_MAXIMUM,
                value: Value::U16(10),
            },
            Property {
                id: prop::RECEIVE_MAXIMUM,
                value: Value::U16(20),
            },
        ];
        assert_eq!(
            connack(Some(Level::V5), false, 0, &props),
            b"\x20\x09\x00\x00\x06\x22\x00\x0a\x21\x00\x14"
        );
        assert_eq!(
            connack(Some(Level::V5), false, 0x87, &[]),
            b"\x20\x03\x00\x87\x00"
        );
        assert_eq!(suback(Level::V311, 7, &[1, 0]), b"\x90\x04\x00\x07\x01\x00");
        assert_eq!(suback(Level::V5, 7, &[1]), b"\x90\x04\x00\x07\x00\x01");
        assert_eq!(unsuback(Level::V311, 3, &[0x11]), b"\xb0\x02\x00\x03");
        assert_eq!(unsuback(Level::V5, 3, &[0x11]), b"\xb0\x04\x00\x03\x00\x11");
        assert_eq!(
            ack(Level::V5, AckKind::PubAck, 9, 0x10),
            b"\x40\x03\x00\x09\x10"
        );
        assert_eq!(ack(Level::V311, AckKind::PubRel, 9, 0), b"\x62\x02\x00\x09");
        let mut want = b"\x31\x2d\x00\x13$SYS/broker/version".to_vec();
        want.extend_from_slice(b"mosquitto version 2.0.11");
        assert_eq!(
            publish_to(
                Level::V311,
                b"$SYS/broker/version",
                b"mosquitto version 2.0.11",
                0,
                true,
                0
            ),
            want
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_never_claim_more_than_given(
            data in proptest::collection::vec(any::<u8>(), 0..2048),
            level in 0usize..4,
        ) {
            let level = [None, Some(Level::V31), Some(Level::V311), Some(Level::V5)][level];
            if let Ok(Decoded::Packet(_, n)) = decode(&data, level) {
                prop_assert!(n <= data.len());
                prop_assert!(n <= MAX_PACKET);
            }
        }

        #[test]
        fn a_well_formed_publish_survives_a_round_trip(
            topic in "[a-z/]{1,40}",
            payload in proptest::collection::vec(any::<u8>(), 0..512),
            qos in 0u8..3,
            retain in any::<bool>(),
            pid in 1u16..,
            v5 in any::<bool>(),
        ) {
            let level = if v5 { Level::V5 } else { Level::V311 };
            let wire = publish_to(level, topic.as_bytes(), &payload, qos, retain, pid);
            let Ok(Decoded::Packet(Packet::Publish(p), n)) = decode(&wire, Some(level)) else {
                return Err(TestCaseError::fail("did not decode"));
            };
            prop_assert_eq!(n, wire.len());
            prop_assert_eq!(p.topic, topic.into_bytes());
            prop_assert_eq!(p.payload, payload);
            prop_assert_eq!((p.qos, p.retain), (qos, retain));
            prop_assert_eq!(p.packet_id, (qos > 0).then_some(pid));
        }
    }
}
