//! What the server sends back: OK, ERR and EOF packets and text result sets,
//! shaped by what the session negotiated (`CLIENT_DEPRECATE_EOF`,
//! `CLIENT_SESSION_TRACK`, MariaDB's cached and extended metadata), as
//! recorded from mariadbd 10.11.

use super::handshake::{
    CLIENT_DEPRECATE_EOF, CLIENT_SESSION_TRACK, MARIADB_CLIENT_CACHE_METADATA,
    MARIADB_CLIENT_EXTENDED_METADATA,
};
use super::packet::{frame, put_lenenc_bytes, put_lenenc_int};

/// `SERVER_STATUS_AUTOCOMMIT`.
pub const STATUS_AUTOCOMMIT: u16 = 0x0002;
/// `SERVER_QUERY_NO_INDEX_USED`, set after a full table scan.
pub const STATUS_NO_INDEX_USED: u16 = 0x0020;
/// `SERVER_SESSION_STATE_CHANGED`.
pub const STATUS_STATE_CHANGED: u16 = 0x4000;

/// An error as the server reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    /// Error number (1045, 1064, …).
    pub code: u16,
    /// SQLSTATE.
    pub state: &'static str,
    /// Message.
    pub message: String,
}

impl SqlError {
    /// An error.
    pub fn new(code: u16, state: &'static str, message: impl Into<String>) -> SqlError {
        SqlError {
            code,
            state,
            message: message.into(),
        }
    }

    /// The ERR packet's payload.
    pub fn payload(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(9 + self.message.len());
        p.push(0xff);
        p.extend_from_slice(&self.code.to_le_bytes());
        p.push(b'#');
        p.extend_from_slice(self.state.as_bytes());
        p.extend_from_slice(self.message.as_bytes());
        p
    }

    /// The ERR packet's payload to a client that has not said it speaks
    /// protocol 4.1: no SQLSTATE.
    pub fn payload_pre41(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(3 + self.message.len());
        p.push(0xff);
        p.extend_from_slice(&self.code.to_le_bytes());
        p.extend_from_slice(self.message.as_bytes());
        p
    }
}

/// What the session negotiated that shapes replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Shape {
    /// Capabilities both sides have.
    pub capabilities: u32,
    /// MariaDB extended capabilities both sides have.
    pub extended: u32,
    /// The connection's collation id (the client's).
    pub charset: u8,
}

impl Shape {
    fn has(&self, cap: u32) -> bool {
        self.capabilities & cap != 0
    }

    fn has_ext(&self, cap: u32) -> bool {
        self.extended & cap != 0
    }

    /// Bytes per character of the connection's character set.
    fn mbmaxlen(&self) -> u32 {
        match self.charset {
            8 | 48 | 63 => 1,
            45 | 46 | 224..=255 => 4,
            _ => 3,
        }
    }
}

/// The OK packet's payload, with the new default schema tracked when the session tracks state.
pub fn ok_payload(shape: &Shape, status: u16, schema: Option<&str>) -> Vec<u8> {
    let mut p = vec![0x00, 0x00, 0x00];
    match schema {
        Some(db) if shape.has(CLIENT_SESSION_TRACK) => {
            p.extend_from_slice(&(status | STATUS_STATE_CHANGED).to_le_bytes());
            p.extend_from_slice(&0u16.to_le_bytes());
            // No info string, then the state changes: SESSION_TRACK_SCHEMA.
            p.push(0);
            let mut entry = Vec::new();
            put_lenenc_bytes(&mut entry, db.as_bytes());
            let mut item = vec![0x01];
            put_lenenc_bytes(&mut item, &entry);
            put_lenenc_bytes(&mut p, &item);
        }
        _ => {
            p.extend_from_slice(&status.to_le_bytes());
            p.extend_from_slice(&0u16.to_le_bytes());
        }
    }
    p
}

/// The EOF packet's payload.
pub fn eof_payload(status: u16) -> Vec<u8> {
    let mut p = vec![0xfe, 0, 0];
    p.extend_from_slice(&status.to_le_bytes());
    p
}

/// A column's type as the decoy reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// `VAR_STRING` of at most this many characters.
    Text(u32),
    /// `LONGLONG` (`count(*)`).
    Int,
    /// An `INT AUTO_INCREMENT PRIMARY KEY` column.
    Id,
    /// `DATETIME`.
    DateTime,
}

/// One column of a result set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Schema of its table (empty for expressions).
    pub schema: String,
    /// Table (empty for expressions).
    pub table: String,
    /// Its name as shown (the expression as written, or an alias).
    pub name: String,
    /// Its name in the table.
    pub org_name: String,
    /// Type.
    pub kind: ColumnType,
    /// Whether it is an expression (decimals 39, as the server marks them) rather than a table column.
    pub computed: bool,
    /// Whether it is `NOT NULL` (a text column then carries `NOT_NULL | NO_DEFAULT_VALUE`).
    pub not_null: bool,
}

impl Column {
    /// A computed column (`@@version`, `DATABASE()`).
    pub fn expr(name: impl Into<String>, kind: ColumnType) -> Column {
        Column {
            schema: String::new(),
            table: String::new(),
            name: name.into(),
            org_name: String::new(),
            kind,
            computed: true,
            not_null: false,
        }
    }

    /// A table's column.
    pub fn of_table(schema: &str, table: &str, name: &str, kind: ColumnType) -> Column {
        Column {
            schema: schema.into(),
            table: table.into(),
            name: name.into(),
            org_name: name.into(),
            kind,
            computed: false,
            not_null: false,
        }
    }

    fn payload(&self, shape: &Shape) -> Vec<u8> {
        let mut p = Vec::with_capacity(64);
        put_lenenc_bytes(&mut p, b"def");
        put_lenenc_bytes(&mut p, self.schema.as_bytes());
        put_lenenc_bytes(&mut p, self.table.as_bytes());
        put_lenenc_bytes(&mut p, self.table.as_bytes());
        put_lenenc_bytes(&mut p, self.name.as_bytes());
        put_lenenc_bytes(&mut p, self.org_name.as_bytes());
        if shape.has_ext(MARIADB_CLIENT_EXTENDED_METADATA) {
            put_lenenc_bytes(&mut p, b"");
        }
        p.push(0x0c);
        let (charset, len, ty, flags, decimals): (u16, u32, u8, u16, u8) = match self.kind {
            ColumnType::Text(chars) => (
                u16::from(shape.charset),
                chars.saturating_mul(shape.mbmaxlen()),
                0xfd,
                if self.not_null { 0x1001 } else { 0 },
                if self.computed { 39 } else { 0 },
            ),
            ColumnType::Int => (63, 21, 0x08, 0x0081, 0),
            ColumnType::Id => (63, 11, 0x03, 0x4203, 0),
            ColumnType::DateTime => (63, 19, 0x0c, 0x0080, 0),
        };
        p.extend_from_slice(&charset.to_le_bytes());
        p.extend_from_slice(&len.to_le_bytes());
        p.push(ty);
        p.extend_from_slice(&flags.to_le_bytes());
        p.push(decimals);
        p.extend_from_slice(&[0, 0]);
        p
    }
}

/// A text result set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResultSet {
    /// Its columns.
    pub columns: Vec<Column>,
    /// Its rows (`None` is SQL NULL).
    pub rows: Vec<Vec<Option<String>>>,
}

impl ResultSet {
    /// The packets of the result set, numbered from `seq`, ending with `status`.
    pub fn packets(&self, shape: &Shape, seq: u8, status: u16) -> Vec<u8> {
        let mut out = Vec::new();
        let mut seq = seq;
        let mut push = |payload: &[u8], out: &mut Vec<u8>| {
            out.extend(frame(seq, payload));
            seq = seq.wrapping_add(1);
        };
        let mut count = Vec::new();
        put_lenenc_int(&mut count, self.columns.len() as u64);
        if shape.has_ext(MARIADB_CLIENT_CACHE_METADATA) {
            // Metadata follows.
            count.push(1);
        }
        push(&count, &mut out);
        for c in &self.columns {
            push(&c.payload(shape), &mut out);
        }
        let deprecate_eof = shape.has(CLIENT_DEPRECATE_EOF);
        if !deprecate_eof {
            push(&eof_payload(status), &mut out);
        }
        for row in &self.rows {
            let mut p = Vec::new();
            for v in row {
                match v {
                    Some(s) => put_lenenc_bytes(&mut p, s.as_bytes()),
                    None => p.push(0xfb),
                }
            }
            push(&p, &mut out);
        }
        if deprecate_eof {
            let mut end = ok_payload(shape, status, None);
            if let Some(first) = end.first_mut() {
                *first = 0xfe;
            }
            push(&end, &mut out);
        } else {
            push(&eof_payload(status), &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What libmariadb 3.3 and mariadbd 10.11 agree on.
    fn mariadb_shape() -> Shape {
        Shape {
            capabilities: 0x00bf_a28c & 0x81ff_f7fe,
            extended: 0x1d,
            charset: 33,
        }
    }

    #[test]
    fn the_login_ok_and_errors_are_what_mariadbd_sends() {
        let s = mariadb_shape();
        assert_eq!(
            hex::encode(ok_payload(&s, STATUS_AUTOCOMMIT, None)),
            "00000002000000"
        );
        assert_eq!(
            hex::encode(ok_payload(&s, STATUS_AUTOCOMMIT, Some("appdb"))),
            "0000000240000000080106056170706462"
        );
        let e = SqlError::new(
            1045,
            "28000",
            "Access denied for user 'root'@'localhost' (using password: YES)",
        );
        assert_eq!(
            hex::encode(frame(2, &e.payload())),
            "48000002ff15042332383030304163636573732064656e69656420666f7220757365722027726f6f742740276c6f63616c686f73742720287573696e672070617373776f72643a2059455329"
        );
    }

    #[test]
    fn a_result_set_is_what_mariadbd_sends() {
        // `select @@version_comment limit 1` answered by mariadbd 10.11 (Debian 12).
        let rs = ResultSet {
            columns: vec![Column::expr("@@version_comment", ColumnType::Text(9))],
            rows: vec![vec![Some("Debian 12".into())]],
        };
        assert_eq!(
            hex::encode(rs.packets(&mariadb_shape(), 1, STATUS_AUTOCOMMIT)),
            concat!(
                "020000010101",
                "2800000203646566000000114040",
                "76657273696f6e5f636f6d6d656e7400000c21001b000000fd0000270000",
                "05000003fe00000200",
                "0a0000040944656269616e203132",
                "05000005fe00000200"
            )
        );
    }
}
