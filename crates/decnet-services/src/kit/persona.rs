//! Typed access to a service's persona keys (`[decky-NAME.SERVICE]`). The config loader
//! has already checked each value against its declared [`KeyKind`]; this reads them
//! back as the types a service wants, and every problem becomes one
//! [`ServiceError::Persona`] naming the service and key, so no service keeps its own
//! error helper.
//!
//! [`KeyKind`]: decnet_core::catalog::KeyKind

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;

use decnet_core::catalog::parse_bool;
use decnet_core::config::model::ServiceConfig;

use crate::service::ServiceError;

/// The persona keys of one service on one decky.
#[derive(Debug, Clone, Copy)]
pub struct PersonaKeys<'a> {
    service: &'static str,
    cfg: &'a ServiceConfig,
}

impl<'a> PersonaKeys<'a> {
    /// The keys of `service` in `cfg`.
    pub fn new(service: &'static str, cfg: &'a ServiceConfig) -> PersonaKeys<'a> {
        PersonaKeys { service, cfg }
    }

    /// A [`ServiceError::Persona`] for `key`; `message` says what is wrong and what to write.
    pub fn error(&self, key: &'static str, message: impl Into<String>) -> ServiceError {
        ServiceError::Persona {
            service: self.service,
            key,
            message: message.into(),
        }
    }

    /// The value as written, untrimmed; `None` when the key is absent.
    pub fn raw(&self, key: &str) -> Option<&'a str> {
        self.cfg.get(key)
    }

    /// The value trimmed; `None` when absent or blank (blank means "the default").
    pub fn text(&self, key: &str) -> Option<&'a str> {
        self.raw(key).map(str::trim).filter(|v| !v.is_empty())
    }

    /// [`text`](Self::text), or `default`.
    pub fn text_or(&self, key: &str, default: &'a str) -> &'a str {
        self.text(key).unwrap_or(default)
    }

    /// A whole number; `None` when absent or blank.
    pub fn int<T>(&self, key: &'static str) -> Result<Option<T>, ServiceError>
    where
        T: FromStr,
    {
        self.text(key)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|_| self.error(key, format!("expected a whole number, got {v:?}")))
            })
            .transpose()
    }

    /// A whole number within `range`; `None` when absent or blank.
    pub fn int_in<T>(
        &self,
        key: &'static str,
        range: RangeInclusive<T>,
    ) -> Result<Option<T>, ServiceError>
    where
        T: FromStr + PartialOrd + Display,
    {
        let expected = || {
            format!(
                "expected a whole number from {} to {}",
                range.start(),
                range.end()
            )
        };
        self.text(key)
            .map(|v| match v.parse::<T>() {
                Ok(n) if range.contains(&n) => Ok(n),
                _ => Err(self.error(key, format!("{}, got {v:?}", expected()))),
            })
            .transpose()
    }

    /// A boolean (`true/false/yes/no/on/off/1/0`); `None` when absent or blank.
    pub fn bool(&self, key: &'static str) -> Result<Option<bool>, ServiceError> {
        self.text(key)
            .map(|v| {
                parse_bool(v)
                    .ok_or_else(|| self.error(key, format!("expected true or false, got {v:?}")))
            })
            .transpose()
    }

    /// One of `names`, turned into a value by `parse`; `None` when absent or blank.
    pub fn choice<T>(
        &self,
        key: &'static str,
        names: &[&str],
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, ServiceError> {
        self.text(key)
            .map(|v| {
                parse(v).ok_or_else(|| {
                    self.error(
                        key,
                        format!("expected one of {}, got {v:?}", names.join(", ")),
                    )
                })
            })
            .transpose()
    }

    /// A comma-separated list, items trimmed and blanks dropped; `None` when absent.
    /// Present but blank is an empty list: an operator who writes `key =` means "none".
    pub fn list(&self, key: &str) -> Option<Vec<&'a str>> {
        self.raw(key).map(split_list)
    }

    /// Accounts as `user:password,…` (the password may contain `:`, the user no
    /// whitespace); `None` when absent, an empty list when blank.
    pub fn users(&self, key: &'static str) -> Result<Option<Vec<(String, String)>>, ServiceError> {
        self.raw(key).map(|v| self.parse_users(key, v)).transpose()
    }

    /// [`users`](Self::users), or the accounts in `default` (same syntax).
    pub fn users_or(
        &self,
        key: &'static str,
        default: &str,
    ) -> Result<Vec<(String, String)>, ServiceError> {
        self.parse_users(key, self.raw(key).unwrap_or(default))
    }

    fn parse_users(
        &self,
        key: &'static str,
        s: &str,
    ) -> Result<Vec<(String, String)>, ServiceError> {
        split_list(s)
            .into_iter()
            .map(|item| {
                let Some((u, p)) = item.split_once(':') else {
                    return Err(self.error(key, format!("expected user:password, got {item:?}")));
                };
                if u.is_empty() || u.contains(char::is_whitespace) {
                    return Err(self.error(key, format!("invalid user name {u:?}")));
                }
                Ok((u.to_owned(), p.to_owned()))
            })
            .collect()
    }
}

fn split_list(s: &str) -> Vec<&str> {
    s.split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(pairs: &[(&str, &str)]) -> ServiceConfig {
        ServiceConfig {
            name: "svc".into(),
            listeners: Vec::new(),
            persona: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn persona_message(e: ServiceError) -> (&'static str, &'static str, String) {
        match e {
            ServiceError::Persona {
                service,
                key,
                message,
            } => (service, key, message),
            other => panic!("not a persona error: {other}"),
        }
    }

    #[test]
    fn text_is_trimmed_and_blank_means_unset() {
        let c = cfg(&[("banner", "  vsFTPd 3.0.3 "), ("blank", "   ")]);
        let p = PersonaKeys::new("ftp", &c);
        assert_eq!(p.text("banner"), Some("vsFTPd 3.0.3"));
        assert_eq!(p.raw("banner"), Some("  vsFTPd 3.0.3 "));
        assert_eq!(p.text("blank"), None);
        assert_eq!(p.text_or("blank", "dflt"), "dflt");
        assert_eq!(p.text_or("missing", "dflt"), "dflt");
    }

    #[test]
    fn numbers_and_booleans_are_typed_and_errors_name_the_key() {
        let c = cfg(&[
            ("port_delay", " 250 "),
            ("neg", "-1"),
            ("big", "70000"),
            ("flag", "Yes"),
            ("bad_flag", "maybe"),
        ]);
        let p = PersonaKeys::new("redis", &c);
        assert_eq!(p.int::<u64>("port_delay").unwrap(), Some(250));
        assert_eq!(p.int::<u64>("missing").unwrap(), None);
        let (service, key, message) = persona_message(p.int::<u32>("neg").unwrap_err());
        assert_eq!((service, key), ("redis", "neg"));
        assert_eq!(message, r#"expected a whole number, got "-1""#);
        assert_eq!(p.int_in("port_delay", 0u32..=1000).unwrap(), Some(250));
        let (_, key, message) = persona_message(p.int_in("big", 1u16..=9999).unwrap_err());
        assert_eq!(key, "big");
        assert_eq!(
            message,
            r#"expected a whole number from 1 to 9999, got "70000""#
        );
        assert_eq!(p.bool("flag").unwrap(), Some(true));
        assert_eq!(p.bool("missing").unwrap(), None);
        let (_, key, message) = persona_message(p.bool("bad_flag").unwrap_err());
        assert_eq!(key, "bad_flag");
        assert_eq!(message, r#"expected true or false, got "maybe""#);
        let whole = p.error("flag", "be nicer").to_string();
        assert_eq!(whole, "service redis: persona key flag: be nicer");
    }

    #[test]
    fn choices_and_lists() {
        let c = cfg(&[
            ("mode", "open"),
            ("bad", "shut"),
            ("dbs", " a, ,b ,c"),
            ("none", ""),
        ]);
        let p = PersonaKeys::new("mysql", &c);
        let parse = |v: &str| match v {
            "open" => Some(1),
            "closed" => Some(2),
            _ => None,
        };
        assert_eq!(
            p.choice("mode", &["open", "closed"], parse).unwrap(),
            Some(1)
        );
        let (_, _, message) =
            persona_message(p.choice("bad", &["open", "closed"], parse).unwrap_err());
        assert_eq!(message, r#"expected one of open, closed, got "shut""#);
        assert_eq!(p.list("dbs"), Some(vec!["a", "b", "c"]));
        assert_eq!(p.list("none"), Some(vec![]));
        assert_eq!(p.list("missing"), None);
    }

    #[test]
    fn users_parse_as_ssh_always_has() {
        let c = cfg(&[
            ("users", "root:toor, admin:pa:ss:word ,,guest:"),
            ("nobody", ""),
            ("no_colon", "root"),
            ("spacey", "ro ot:x"),
            ("anon", ":x"),
        ]);
        let p = PersonaKeys::new("ssh", &c);
        assert_eq!(
            p.users("users").unwrap(),
            Some(vec![
                ("root".into(), "toor".into()),
                ("admin".into(), "pa:ss:word".into()),
                ("guest".into(), String::new()),
            ])
        );
        // Written but empty lets nobody in; absent falls back to the default.
        assert_eq!(p.users("nobody").unwrap(), Some(vec![]));
        assert_eq!(p.users_or("nobody", "a:b").unwrap(), vec![]);
        assert_eq!(
            p.users_or("missing", "a:b").unwrap(),
            vec![("a".into(), "b".into())]
        );
        let (_, key, message) = persona_message(p.users("no_colon").unwrap_err());
        assert_eq!(key, "no_colon");
        assert_eq!(message, r#"expected user:password, got "root""#);
        let (_, _, message) = persona_message(p.users("spacey").unwrap_err());
        assert_eq!(message, r#"invalid user name "ro ot""#);
        let (_, _, message) = persona_message(p.users("anon").unwrap_err());
        assert_eq!(message, r#"invalid user name """#);
    }
}
