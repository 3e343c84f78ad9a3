//! Bait in a database server: the company application's schema (`appdb`, the
//! database the planted `app` account names in root's history and the web
//! application's `.env`), with the world's people as its users, so an intruder
//! who logs in with that account finds the tables they came for.

use chrono::TimeZone as _;

use super::World;

/// The application database the world's `app` account uses.
pub const APP_DATABASE: &str = "appdb";

/// A column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlType {
    /// `int(11) NOT NULL AUTO_INCREMENT PRIMARY KEY`.
    Id,
    /// An integer.
    Int,
    /// `varchar(n)`.
    Text(u32),
    /// `datetime`.
    DateTime,
}

/// One column of a bait table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlColumn {
    /// Name.
    pub name: &'static str,
    /// Type.
    pub kind: SqlType,
}

/// A bait table with its rows (text values; `None` is NULL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlTable {
    /// Name.
    pub name: &'static str,
    /// Columns, in order.
    pub columns: Vec<SqlColumn>,
    /// Rows, each as many values as columns.
    pub rows: Vec<Vec<Option<String>>>,
}

/// A bait database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlDatabase {
    /// Name.
    pub name: &'static str,
    /// Its tables.
    pub tables: Vec<SqlTable>,
}

const BCRYPT: &[u8] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn col(name: &'static str, kind: SqlType) -> SqlColumn {
    SqlColumn { name, kind }
}

impl World {
    /// The application databases a database server on `decky` holds: `appdb`
    /// with the company's people as `users` and the application's `settings`.
    /// The system schemas are the server's own, not bait.
    pub fn sql_databases(&self, decky: &str) -> Vec<SqlDatabase> {
        let draw = self.draw();
        let when = |label: &str, max_days: usize| -> String {
            let secs = self.anchor
                - 86_400 * (30 + draw.num(&format!("sql/{decky}/{label}/d"), max_days) as i64)
                + draw.num(&format!("sql/{decky}/{label}/s"), 86_400) as i64;
            chrono::Utc
                .timestamp_opt(secs, 0)
                .single()
                .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                .unwrap_or_default()
        };
        let users = SqlTable {
            name: "users",
            columns: vec![
                col("id", SqlType::Id),
                col("username", SqlType::Text(64)),
                col("email", SqlType::Text(128)),
                col("full_name", SqlType::Text(128)),
                col("role", SqlType::Text(32)),
                col("password_hash", SqlType::Text(255)),
                col("created_at", SqlType::DateTime),
            ],
            rows: self
                .people
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let hash = format!(
                        "$2y$10${}",
                        draw.token(&format!("sql/{decky}/hash/{}", p.username), 53, BCRYPT)
                    );
                    let role = if p.it { "admin" } else { "user" };
                    vec![
                        Some((i + 1).to_string()),
                        Some(p.username.clone()),
                        Some(p.email.clone()),
                        Some(p.full_name.clone()),
                        Some(role.to_owned()),
                        Some(hash),
                        Some(when(&format!("user/{}", p.username), 900)),
                    ]
                })
                .collect(),
        };
        let settings = SqlTable {
            name: "settings",
            columns: vec![
                col("id", SqlType::Id),
                col("name", SqlType::Text(64)),
                col("value", SqlType::Text(255)),
            ],
            rows: [
                ("site_name", self.company.clone()),
                ("support_email", format!("support@{}", self.domain)),
                ("mail_host", format!("smtp.{}", self.domain)),
                ("mail_port", "587".to_owned()),
                ("session_lifetime", "120".to_owned()),
                ("maintenance_mode", "0".to_owned()),
            ]
            .into_iter()
            .enumerate()
            .map(|(i, (k, v))| vec![Some((i + 1).to_string()), Some(k.to_owned()), Some(v)])
            .collect(),
        };
        vec![SqlDatabase {
            name: APP_DATABASE,
            tables: vec![users, settings],
        }]
    }
}

#[cfg(test)]
mod tests {
    use crate::bait::World;

    #[test]
    fn appdb_lists_the_worlds_people_and_is_stable() {
        let w = World::derive(b"k", &[], 1_760_000_000);
        let dbs = w.sql_databases("db-01");
        assert_eq!(dbs.len(), 1);
        let users = &dbs[0].tables[0];
        assert_eq!(users.name, "users");
        assert_eq!(users.rows.len(), w.people.len());
        for (row, p) in users.rows.iter().zip(&w.people) {
            assert_eq!(row.len(), users.columns.len());
            assert_eq!(row[1].as_deref(), Some(p.username.as_str()));
            assert!(row[5].as_deref().unwrap().starts_with("$2y$10$"));
            assert_eq!(row[5].as_deref().unwrap().len(), 60);
        }
        assert_eq!(dbs, w.sql_databases("db-01"));
        assert_ne!(dbs, w.sql_databases("db-02"), "hashes differ per decky");
    }
}
