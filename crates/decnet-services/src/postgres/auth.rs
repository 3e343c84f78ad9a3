//! The password exchanges a PostgreSQL server asks for and what cracking
//! needs from each: `md5` (the salted double MD5, John's and hashcat's
//! `$postgres$` line, mode 11100) and SCRAM-SHA-256 (RFC 5802/7677 as
//! PostgreSQL speaks it: client-first, server-first with the user's salt and
//! 4096 iterations, client-final with the proof). Pure functions: the
//! session feeds them the client's bytes.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use sha2::Sha256;

/// The iteration count PostgreSQL stores SCRAM verifiers with (`scram_iterations`).
pub const SCRAM_ITERATIONS: u32 = 4096;
/// Bytes of a SCRAM salt (`SCRAM_DEFAULT_SALT_LEN`).
pub const SCRAM_SALT_LEN: usize = 16;
/// Random bytes in the server's nonce part (`SCRAM_RAW_NONCE_LEN`).
pub const SCRAM_NONCE_LEN: usize = 18;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// The response a client sends to an md5 request: `md5` and the hex MD5 of
/// (hex MD5 of password and user) and the salt.
pub fn md5_response(user: &str, password: &[u8], salt: &[u8; 4]) -> String {
    let mut inner = Md5::new();
    inner.update(password);
    inner.update(user.as_bytes());
    let inner = hex::encode(inner.finalize());
    let mut outer = Md5::new();
    outer.update(inner.as_bytes());
    outer.update(salt);
    format!("md5{}", hex::encode(outer.finalize()))
}

/// John the Ripper's and hashcat's (mode 11100) line for an md5 response.
pub fn md5_crack_line(user: &str, salt: &[u8; 4], response: &str) -> String {
    format!(
        "$postgres${user}*{}*{}",
        hex::encode(salt),
        response.strip_prefix("md5").unwrap_or(response)
    )
}

fn hmac256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let Ok(mut m) = Hmac::<Sha256>::new_from_slice(key) else {
        return [0; 32];
    };
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// PBKDF2-HMAC-SHA-256 of one block: SCRAM's `SaltedPassword`.
pub fn salted_password(password: &[u8], salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut u = hmac256(password, &[salt, &1u32.to_be_bytes()]);
    let mut out = u;
    for _ in 1..iterations {
        u = hmac256(password, &[&u]);
        for (o, x) in out.iter_mut().zip(u.iter()) {
            *o ^= x;
        }
    }
    out
}

/// The ClientProof a client with `password` sends for `auth_message`.
pub fn scram_proof(password: &[u8], salt: &[u8], iterations: u32, auth_message: &[u8]) -> [u8; 32] {
    let salted = salted_password(password, salt, iterations);
    let client_key = hmac256(&salted, &[b"Client Key"]);
    let stored: [u8; 32] = Sha256::digest(client_key).into();
    let signature = hmac256(&stored, &[auth_message]);
    let mut proof = client_key;
    for (p, s) in proof.iter_mut().zip(signature.iter()) {
        *p ^= s;
    }
    proof
}

/// The ServerSignature (`v=` of server-final) for `password`.
pub fn scram_server_signature(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
    auth_message: &[u8],
) -> [u8; 32] {
    let salted = salted_password(password, salt, iterations);
    let server_key = hmac256(&salted, &[b"Server Key"]);
    hmac256(&server_key, &[auth_message])
}

/// What the client's first SCRAM message said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFirst {
    /// The GS2 header as sent (`n,,`, `y,,`, `p=tls-server-end-point,,`).
    pub gs2_header: String,
    /// The channel binding type asked for (`tls-server-end-point`), if any.
    pub channel_binding: Option<String>,
    /// The user name inside the message (PostgreSQL ignores it; psql sends none).
    pub user: String,
    /// The client's nonce.
    pub nonce: String,
    /// client-first-message-bare, as sent.
    pub bare: String,
}

/// Why a SCRAM message is refused: `malformed SCRAM message` with this detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed(pub String);

/// Parses client-first-message (RFC 5802 §7) as `read_client_first_message` does.
pub fn parse_client_first(data: &[u8]) -> Result<ClientFirst, Malformed> {
    let text = std::str::from_utf8(data)
        .map_err(|_| Malformed("The message contains invalid UTF-8.".into()))?;
    let mut it = text.splitn(3, ',');
    let flag = it.next().unwrap_or_default();
    let channel_binding = match flag {
        "n" | "y" => None,
        f if f.starts_with("p=") => Some(f.get(2..).unwrap_or_default().to_owned()),
        f => {
            let c = f.chars().next().map_or_else(String::new, |c| c.to_string());
            return Err(Malformed(format!(
                "Unexpected channel-binding flag \"{c}\"."
            )));
        }
    };
    let authzid = it
        .next()
        .ok_or_else(|| Malformed("Comma expected, but found end of string.".into()))?;
    if !authzid.is_empty() && !authzid.starts_with("a=") {
        return Err(Malformed(
            "Expected attribute \"a\" but found \"".to_owned() + authzid + "\".",
        ));
    }
    let bare = it
        .next()
        .ok_or_else(|| Malformed("Comma expected, but found end of string.".into()))?;
    let header_len = text.len() - bare.len();
    let gs2_header = text.get(..header_len).unwrap_or_default().to_owned();
    let mut user = None;
    let mut nonce = None;
    for attr in bare.split(',') {
        if let Some(v) = attr.strip_prefix("n=") {
            user.get_or_insert(v.to_owned());
        } else if let Some(v) = attr.strip_prefix("r=") {
            nonce.get_or_insert(v.to_owned());
        }
    }
    let user = user.ok_or_else(|| Malformed("Expected attribute \"n\".".into()))?;
    let nonce = nonce
        .filter(|n| !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b','))
        .ok_or_else(|| Malformed("Expected attribute \"r\".".into()))?;
    Ok(ClientFirst {
        gs2_header,
        channel_binding,
        user,
        nonce,
        bare: bare.to_owned(),
    })
}

/// What the client's final SCRAM message said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFinal {
    /// The `c=` channel binding value, as sent (base64).
    pub channel_binding: String,
    /// The combined nonce it echoes.
    pub nonce: String,
    /// client-final-message-without-proof, as sent.
    pub without_proof: String,
    /// The decoded ClientProof.
    pub proof: Vec<u8>,
}

/// Parses client-final-message.
pub fn parse_client_final(data: &[u8]) -> Result<ClientFinal, Malformed> {
    let text = std::str::from_utf8(data)
        .map_err(|_| Malformed("The message contains invalid UTF-8.".into()))?;
    let Some(at) = text.rfind(",p=") else {
        return Err(Malformed("Expected attribute \"p\".".into()));
    };
    let (without_proof, proof) = text.split_at(at);
    let proof = B64
        .decode(proof.get(3..).unwrap_or_default())
        .map_err(|_| Malformed("Malformed proof in client-final-message.".into()))?;
    let mut cb = None;
    let mut nonce = None;
    for attr in without_proof.split(',') {
        if let Some(v) = attr.strip_prefix("c=") {
            cb.get_or_insert(v.to_owned());
        } else if let Some(v) = attr.strip_prefix("r=") {
            nonce.get_or_insert(v.to_owned());
        }
    }
    Ok(ClientFinal {
        channel_binding: cb.ok_or_else(|| Malformed("Expected attribute \"c\".".into()))?,
        nonce: nonce.ok_or_else(|| Malformed("Expected attribute \"r\".".into()))?,
        without_proof: without_proof.to_owned(),
        proof,
    })
}

/// server-first-message: the combined nonce, the salt and the iteration count.
pub fn server_first(client_nonce: &str, server_nonce: &str, salt: &[u8]) -> String {
    format!(
        "r={client_nonce}{server_nonce},s={},i={SCRAM_ITERATIONS}",
        B64.encode(salt)
    )
}

/// The server's nonce part from random bytes (base64, as PostgreSQL encodes it).
pub fn server_nonce(raw: &[u8; SCRAM_NONCE_LEN]) -> String {
    B64.encode(raw)
}

/// server-final-message for a verified proof.
pub fn server_final(signature: &[u8; 32]) -> String {
    format!("v={}", B64.encode(signature))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_response_is_libpqs() {
        // libpq's pg_md5_encrypt for user "postgres", password "secret", salt 01020304.
        let salt = [1, 2, 3, 4];
        let inner = hex::encode(Md5::digest(b"secretpostgres"));
        let mut h = Md5::new();
        h.update(inner.as_bytes());
        h.update(salt);
        let want = format!("md5{}", hex::encode(h.finalize()));
        assert_eq!(md5_response("postgres", b"secret", &salt), want);
        assert_eq!(
            md5_crack_line("postgres", &salt, &want),
            format!("$postgres$postgres*01020304*{}", &want[3..])
        );
    }

    #[test]
    fn scram_sha_256_matches_rfc_7677s_example() {
        // RFC 7677 §3: user "user", password "pencil".
        let first = parse_client_first(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO").unwrap();
        assert_eq!(first.gs2_header, "n,,");
        assert_eq!(first.nonce, "rOprNGfwEbeRWgbNEkqO");
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let sf = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let fin = parse_client_final(
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        )
        .unwrap();
        let am = format!("{},{sf},{}", first.bare, fin.without_proof);
        assert_eq!(
            scram_proof(b"pencil", &salt, 4096, am.as_bytes()).to_vec(),
            fin.proof
        );
        assert_eq!(
            server_final(&scram_server_signature(
                b"pencil",
                &salt,
                4096,
                am.as_bytes()
            )),
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    #[test]
    fn malformed_scram_messages_are_refused() {
        assert!(parse_client_first(b"x,,n=,r=abc").is_err());
        assert!(parse_client_first(b"n,,n=").is_err());
        assert!(parse_client_first(b"n,").is_err());
        assert!(parse_client_first(b"\xff").is_err());
        let pc = parse_client_first(b"p=tls-server-end-point,,n=,r=abc").unwrap();
        assert_eq!(pc.channel_binding.as_deref(), Some("tls-server-end-point"));
        assert_eq!(pc.gs2_header, "p=tls-server-end-point,,");
        assert!(parse_client_final(b"c=biws,r=abc").is_err());
        assert!(parse_client_final(b"c=biws,r=abc,p=!!").is_err());
    }
}
