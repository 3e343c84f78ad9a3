//! The connection phase, sans-IO: the protocol-10 greeting a MariaDB or MySQL
//! server sends, the client's HandshakeResponse41 (or SSLRequest) parsed into
//! what it says, and the two scrambles a client answers the salt with, which
//! is what cracking (and checking a bait password) needs.
//!
//! Hostile-input guarantees: parsing never panics and allocates at most the
//! payload it is given (already capped by the framer); a response cut short
//! keeps what it had, and one that is not a protocol-4.1 response is refused.

use sha1::Sha1;
use sha2::{Digest, Sha256};

use super::packet::Cursor;

/// `CLIENT_LONG_PASSWORD` (MySQL), whose absence MariaDB uses to say "MariaDB".
pub const CLIENT_MYSQL: u32 = 1;
/// `CLIENT_CONNECT_WITH_DB`: a database follows the auth response.
pub const CLIENT_CONNECT_WITH_DB: u32 = 1 << 3;
/// `CLIENT_PROTOCOL_41`.
pub const CLIENT_PROTOCOL_41: u32 = 1 << 9;
/// `CLIENT_SSL`.
pub const CLIENT_SSL: u32 = 1 << 11;
/// `CLIENT_SECURE_CONNECTION`: a one-byte length before the auth response.
pub const CLIENT_SECURE_CONNECTION: u32 = 1 << 15;
/// `CLIENT_PLUGIN_AUTH`.
pub const CLIENT_PLUGIN_AUTH: u32 = 1 << 19;
/// `CLIENT_CONNECT_ATTRS`.
pub const CLIENT_CONNECT_ATTRS: u32 = 1 << 20;
/// `CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA`.
pub const CLIENT_PLUGIN_AUTH_LENENC: u32 = 1 << 21;
/// `CLIENT_SESSION_TRACK`.
pub const CLIENT_SESSION_TRACK: u32 = 1 << 23;
/// `CLIENT_DEPRECATE_EOF`: an OK packet ends a result set instead of EOF.
pub const CLIENT_DEPRECATE_EOF: u32 = 1 << 24;
/// `CLIENT_ZSTD_COMPRESSION_ALGORITHM`: a level byte ends the response.
pub const CLIENT_ZSTD: u32 = 1 << 26;
/// `CLIENT_QUERY_ATTRIBUTES`: COM_QUERY carries parameters before the text.
pub const CLIENT_QUERY_ATTRIBUTES: u32 = 1 << 27;

/// MariaDB's extended capability: the column count is followed by "metadata follows".
pub const MARIADB_CLIENT_CACHE_METADATA: u32 = 1 << 4;
/// MariaDB's extended capability: column definitions carry extended metadata.
pub const MARIADB_CLIENT_EXTENDED_METADATA: u32 = 1 << 3;

/// Length of the salt (the auth plugin data) both products send.
pub const SALT_LEN: usize = 20;

/// The two products the decoy can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Product {
    /// MariaDB (any release): `mysql_native_password`.
    MariaDb,
    /// Oracle MySQL 8: `caching_sha2_password`.
    Mysql8,
    /// Oracle MySQL 5.x: `mysql_native_password`.
    Mysql5,
}

/// The authentication plugins the decoy speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plugin {
    /// SHA1 scramble.
    Native,
    /// SHA256 scramble (fast auth), then RSA or cleartext (full auth).
    CachingSha2,
    /// The password itself.
    Clear,
}

impl Plugin {
    /// Its name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Plugin::Native => "mysql_native_password",
            Plugin::CachingSha2 => "caching_sha2_password",
            Plugin::Clear => "mysql_clear_password",
        }
    }

    /// The plugin a name denotes.
    pub fn parse(name: &str) -> Option<Plugin> {
        match name {
            "mysql_native_password" => Some(Plugin::Native),
            "caching_sha2_password" => Some(Plugin::CachingSha2),
            "mysql_clear_password" => Some(Plugin::Clear),
            _ => None,
        }
    }
}

impl Product {
    /// The plugin its default accounts use.
    pub fn plugin(self) -> Plugin {
        match self {
            Product::MariaDb | Product::Mysql5 => Plugin::Native,
            Product::Mysql8 => Plugin::CachingSha2,
        }
    }

    /// `MariaDB` or `MySQL`, as its error messages name it.
    pub fn name(self) -> &'static str {
        match self {
            Product::MariaDb => "MariaDB",
            Product::Mysql8 | Product::Mysql5 => "MySQL",
        }
    }

    /// Capabilities its greeting announces without TLS (MariaDB 10.11 and
    /// MySQL 8.0 as packaged, with `CLIENT_SSL` cleared).
    pub fn capabilities(self) -> u32 {
        match self {
            // Recorded from mariadbd 10.11 (Debian 12): f7fe / 81ff.
            Product::MariaDb => 0x81ff_f7fe,
            // MySQL 8.0: ffff / dfff, less CLIENT_SSL.
            Product::Mysql8 => 0xdfff_f7ff,
            // MySQL 5.7: ffff / c1ff, less CLIENT_SSL.
            Product::Mysql5 => 0xc1ff_f7ff,
        }
    }

    /// MariaDB's extended capabilities (the greeting's last four filler bytes).
    pub fn extended_capabilities(self) -> u32 {
        match self {
            Product::MariaDb => 0x1d,
            Product::Mysql8 | Product::Mysql5 => 0,
        }
    }

    /// The server's default collation id (`utf8mb4_general_ci` 45 for
    /// MariaDB 10.11, `utf8mb4_0900_ai_ci` 255 for MySQL 8, `latin1` 8 for 5.x).
    pub fn charset(self) -> u8 {
        match self {
            Product::MariaDb => 45,
            Product::Mysql8 => 255,
            Product::Mysql5 => 8,
        }
    }
}

/// The server's greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    /// Who answers.
    pub product: Product,
    /// The version string as sent (MariaDB 10's `5.5.5-` prefix included).
    pub version: String,
    /// The connection (thread) id.
    pub connection_id: u32,
    /// The salt.
    pub salt: [u8; SALT_LEN],
    /// Capabilities announced.
    pub capabilities: u32,
}

impl Greeting {
    /// The greeting's payload (protocol 10).
    pub fn payload(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(128);
        p.push(10);
        p.extend_from_slice(self.version.as_bytes());
        p.push(0);
        p.extend_from_slice(&self.connection_id.to_le_bytes());
        let (first, second) = self.salt.split_at(8);
        p.extend_from_slice(first);
        p.push(0);
        let [c0, c1, c2, c3] = self.capabilities.to_le_bytes();
        p.extend_from_slice(&[c0, c1]);
        p.push(self.product.charset());
        // SERVER_STATUS_AUTOCOMMIT.
        p.extend_from_slice(&2u16.to_le_bytes());
        p.extend_from_slice(&[c2, c3]);
        p.push(SALT_LEN as u8 + 1);
        p.extend_from_slice(&[0; 6]);
        p.extend_from_slice(&self.product.extended_capabilities().to_le_bytes());
        p.extend_from_slice(second);
        p.push(0);
        p.extend_from_slice(self.product.plugin().name().as_bytes());
        p.push(0);
        p
    }
}

/// A fresh salt for one connection: the decky's key (from its instance seed)
/// hashed with a per-instance counter, the peer and the time, mapped into the
/// range the product draws from: MariaDB's printable `!`..`~`, MySQL's 7-bit
/// bytes without NUL and `$`.
pub fn salt(
    product: Product,
    key: &[u8; 32],
    counter: u64,
    peer: &str,
    nanos: u128,
) -> [u8; SALT_LEN] {
    let mut h = Sha256::new();
    h.update(key);
    h.update(counter.to_le_bytes());
    h.update(peer.as_bytes());
    h.update(nanos.to_le_bytes());
    let d = h.finalize();
    let mut out = [0u8; SALT_LEN];
    for (o, b) in out.iter_mut().zip(d.iter()) {
        *o = match product {
            Product::MariaDb => 33 + b % 94,
            Product::Mysql8 | Product::Mysql5 => match b & 0x7f {
                0 | b'$' => (b & 0x7f) + 1,
                x => x,
            },
        };
    }
    out
}

/// The `mysql_native_password` response to `salt` for `password`:
/// SHA1(password) XOR SHA1(salt, SHA1(SHA1(password))). Empty for an empty password.
pub fn native_scramble(password: &[u8], salt: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = Sha1::digest(password);
    let stage2 = Sha1::digest(stage1);
    let mut h = Sha1::new();
    h.update(salt);
    h.update(stage2);
    let mix = h.finalize();
    stage1.iter().zip(mix.iter()).map(|(a, b)| a ^ b).collect()
}

/// The `caching_sha2_password` fast-auth response to `nonce` for `password`:
/// SHA256(password) XOR SHA256(SHA256(SHA256(password)), nonce). Empty for an empty password.
pub fn caching_sha2_scramble(password: &[u8], nonce: &[u8]) -> Vec<u8> {
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = Sha256::digest(password);
    let stage2 = Sha256::digest(stage1);
    let mut h = Sha256::new();
    h.update(stage2);
    h.update(nonce);
    let mix = h.finalize();
    stage1.iter().zip(mix.iter()).map(|(a, b)| a ^ b).collect()
}

/// hashcat's mode 11200 line (MySQL CRAM, SHA1) for a native response.
pub fn hashcat_native(salt: &[u8], response: &[u8]) -> String {
    format!("$mysqlna${}*{}", hex::encode(salt), hex::encode(response))
}

/// What the client said in its HandshakeResponse41.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// Capabilities the client asked for.
    pub capabilities: u32,
    /// MariaDB's extended capabilities (when the client is a MariaDB one).
    pub extended_capabilities: u32,
    /// Largest packet it takes.
    pub max_packet: u32,
    /// Its collation id.
    pub charset: u8,
    /// User name as sent.
    pub user: Vec<u8>,
    /// Auth response as sent.
    pub auth: Vec<u8>,
    /// Database asked for.
    pub database: Option<Vec<u8>>,
    /// Auth plugin it answered with.
    pub plugin: Option<String>,
    /// Connection attributes, in order (`_client_name`, `_os`, `program_name`, …).
    pub attributes: Vec<(String, String)>,
    /// zstd level, when it asked for zstd compression.
    pub zstd_level: Option<u8>,
}

/// What the client's first packet was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientHello {
    /// An SSLRequest: the capabilities and charset before TLS starts.
    SslRequest {
        /// Capabilities asked for.
        capabilities: u32,
        /// Collation id.
        charset: u8,
    },
    /// A HandshakeResponse41.
    Response(Response),
    /// A client that does not speak protocol 4.1 (answered without SQLSTATE).
    Pre41,
    /// Not a handshake response.
    Bad(&'static str),
}

/// Most connection attributes kept.
pub const MAX_ATTRIBUTES: usize = 64;

/// Parses the client's answer to the greeting.
pub fn parse_response(payload: &[u8]) -> ClientHello {
    let mut c = Cursor::new(payload);
    let Some(caps) = c.u32() else {
        return ClientHello::Bad("short handshake response");
    };
    if caps & CLIENT_PROTOCOL_41 == 0 {
        return ClientHello::Pre41;
    }
    let (Some(max_packet), Some(charset), Some(filler)) = (c.u32(), c.u8(), c.take(23)) else {
        return ClientHello::Bad("short handshake response");
    };
    if c.is_empty() && caps & CLIENT_SSL != 0 {
        return ClientHello::SslRequest {
            capabilities: caps,
            charset,
        };
    }
    let extended = if caps & CLIENT_MYSQL == 0 {
        filler
            .get(19..23)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u32::from_le_bytes)
    } else {
        0
    };
    let mut r = Response {
        capabilities: caps,
        extended_capabilities: extended,
        max_packet,
        charset,
        ..Response::default()
    };
    r.user = c.nul_bytes().to_vec();
    let auth = if caps & CLIENT_PLUGIN_AUTH_LENENC != 0 {
        c.lenenc_bytes()
    } else if caps & CLIENT_SECURE_CONNECTION != 0 {
        c.u8().and_then(|n| c.take(usize::from(n)))
    } else {
        Some(c.nul_bytes())
    };
    let Some(auth) = auth else {
        return ClientHello::Response(r);
    };
    r.auth = auth.to_vec();
    if caps & CLIENT_CONNECT_WITH_DB != 0 && !c.is_empty() {
        r.database = Some(c.nul_bytes().to_vec());
    }
    if caps & CLIENT_PLUGIN_AUTH != 0 && !c.is_empty() {
        r.plugin = Some(String::from_utf8_lossy(c.nul_bytes()).into_owned());
    }
    if caps & CLIENT_CONNECT_ATTRS != 0 {
        if let Some(block) = c
            .lenenc_int()
            .and_then(|n| usize::try_from(n).ok())
            .and_then(|n| c.take(n))
        {
            let mut a = Cursor::new(block);
            while r.attributes.len() < MAX_ATTRIBUTES {
                let (Some(k), Some(v)) = (a.lenenc_bytes(), a.lenenc_bytes()) else {
                    break;
                };
                r.attributes.push((
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                ));
            }
        }
    }
    if caps & CLIENT_ZSTD != 0 {
        r.zstd_level = c.u8();
    }
    ClientHello::Response(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The greeting mariadbd 10.11.19 (Debian 12) sent, as recorded.
    const MARIADB_GREETING: &str = "0a352e352e352d31302e31312e31392d4d6172696144422d302b6465623132753100030000002b7b516175463f4700fef72d0200ff81150000000000001d0000002a37777461696b5e73484d2a006d7973716c5f6e61746976655f70617373776f726400";

    /// The response the MariaDB client (libmariadb 3.3.20, `mysql -u root -pwrong`) sent.
    const MARIADB_CLIENT_RESPONSE: &str = "84a2bf000000100021000000000000000000000000000000000000001d000000726f6f740014eca4f9bdda32fb34d34d8f34a2fecf4620fc986b6d7973716c5f6e61746976655f70617373776f7264007f035f6f73054c696e75780c5f636c69656e745f6e616d650a6c69626d617269616462045f7069640532383838320f5f636c69656e745f76657273696f6e06332e332e3230095f706c6174666f726d067838365f36340c70726f6772616d5f6e616d65056d7973716c0c5f7365727665725f686f7374093132372e302e302e31";

    #[test]
    fn the_mariadb_greeting_is_byte_for_byte_what_mariadbd_sends() {
        let want = hex::decode(MARIADB_GREETING).unwrap();
        let mut salt = [0u8; SALT_LEN];
        salt[..8].copy_from_slice(b"+{QauF?G");
        salt[8..].copy_from_slice(b"*7wtaik^sHM*");
        let g = Greeting {
            product: Product::MariaDb,
            version: "5.5.5-10.11.19-MariaDB-0+deb12u1".into(),
            connection_id: 3,
            salt,
            capabilities: Product::MariaDb.capabilities(),
        };
        assert_eq!(hex::encode(g.payload()), hex::encode(want));
    }

    #[test]
    fn the_mariadb_clients_response_parses_and_its_scramble_is_the_passwords() {
        let p = hex::decode(MARIADB_CLIENT_RESPONSE).unwrap();
        let ClientHello::Response(r) = parse_response(&p) else {
            panic!("not a response");
        };
        assert_eq!(r.user, b"root");
        assert_eq!(r.database, None);
        assert_eq!(r.plugin.as_deref(), Some("mysql_native_password"));
        assert_eq!(r.charset, 33);
        assert_eq!(r.extended_capabilities, 0x1d);
        assert_eq!(r.auth.len(), 20);
        let attr = |k: &str| {
            r.attributes
                .iter()
                .find(|(a, _)| a == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(attr("_client_name"), Some("libmariadb"));
        assert_eq!(attr("program_name"), Some("mysql"));
        assert_eq!(attr("_os"), Some("Linux"));
        // The salt of the greeting it answered, recorded beside it: the
        // scramble is the one of the password typed (`wrong`).
        assert_eq!(native_scramble(b"wrong", b"jJpy-ojHiUOkM}PWF8$L"), r.auth);
    }

    #[test]
    fn scrambles_match_known_vectors() {
        // From PyMySQL's _auth.scramble_native_password and scramble_caching_sha2.
        let salt = b"abcdefghijklmnopqrst";
        assert_eq!(
            hex::encode(native_scramble(b"secret", salt)),
            "8817c50fa779daef010ee7577825b0847df9842e"
        );
        assert_eq!(
            hex::encode(caching_sha2_scramble(b"secret", salt)),
            "c76e2898612a4cf042c77fa8c4702c4c64c0c2c557c53c4d75595aaa6abae809"
        );
        assert!(native_scramble(b"", salt).is_empty());
        assert_eq!(
            hashcat_native(&[0xab; 2], &[0x01, 0x02]),
            "$mysqlna$abab*0102"
        );
    }

    #[test]
    fn salts_are_in_each_products_range_and_fresh() {
        let k = [9u8; 32];
        for n in 0..50 {
            let m = salt(Product::MariaDb, &k, n, "1.2.3.4:5", 7);
            assert!(m.iter().all(|b| (33..=126).contains(b)), "{m:?}");
            let s = salt(Product::Mysql8, &k, n, "1.2.3.4:5", 7);
            assert!(s.iter().all(|&b| b != 0 && b != b'$' && b < 128), "{s:?}");
        }
        assert_ne!(
            salt(Product::MariaDb, &k, 0, "p", 1),
            salt(Product::MariaDb, &k, 1, "p", 1)
        );
    }

    #[test]
    fn an_ssl_request_and_junk_are_told_apart() {
        let mut ssl = (CLIENT_PROTOCOL_41 | CLIENT_SSL | CLIENT_SECURE_CONNECTION)
            .to_le_bytes()
            .to_vec();
        ssl.extend_from_slice(&[0, 0, 0, 1, 33]);
        ssl.extend_from_slice(&[0; 23]);
        assert!(matches!(
            parse_response(&ssl),
            ClientHello::SslRequest { charset: 33, .. }
        ));
        // "GET " has no CLIENT_PROTOCOL_41 bit; a 4.1 response cut short is Bad.
        assert_eq!(
            parse_response(b"GET / HTTP/1.0\r\n\r\n"),
            ClientHello::Pre41
        );
        let mut short = CLIENT_PROTOCOL_41.to_le_bytes().to_vec();
        short.extend_from_slice(b"ab");
        assert!(matches!(parse_response(&short), ClientHello::Bad(_)));
        assert!(matches!(parse_response(b"\x00"), ClientHello::Bad(_)));
    }

    proptest! {
        #[test]
        fn arbitrary_responses_never_panic(p in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let ClientHello::Response(r) = parse_response(&p) {
                prop_assert!(r.user.len() + r.auth.len() <= p.len());
                prop_assert!(r.attributes.len() <= MAX_ATTRIBUTES);
            }
        }
    }
}
