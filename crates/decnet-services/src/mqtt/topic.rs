//! Topic names and filters (MQTT §4.7): which a broker takes, and which
//! filter matches which topic. A topic starting with `$` (`$SYS/…`) is not
//! matched by a filter starting with a wildcard, so `#` does not see `$SYS`.
//! A shared subscription (`$share/<group>/<filter>`, 5.0 and Mosquitto 2)
//! matches as its filter.

/// Longest topic level list walked when matching (bounds the work per match).
const MAX_LEVELS: usize = 128;

fn utf8_ok(b: &[u8]) -> bool {
    std::str::from_utf8(b).is_ok() && !b.contains(&0)
}

/// Whether a client may publish to `topic`: non-empty UTF-8 without NUL or wildcards.
pub fn valid_name(topic: &[u8]) -> bool {
    !topic.is_empty() && utf8_ok(topic) && !topic.iter().any(|&b| b == b'+' || b == b'#')
}

/// The filter a subscription matches with (`$share/g/a/b` → `a/b`).
pub fn unshared(filter: &[u8]) -> Option<&[u8]> {
    match filter.strip_prefix(b"$share/") {
        None => Some(filter),
        Some(rest) => {
            let slash = rest.iter().position(|&b| b == b'/')?;
            let (group, f) = rest.split_at(slash);
            let f = f.get(1..)?;
            if group.is_empty() || group.iter().any(|&b| b == b'+' || b == b'#') {
                return None;
            }
            Some(f)
        }
    }
}

/// Whether `filter` is a valid subscription: `#` only as the whole last level,
/// `+` only as a whole level.
pub fn valid_filter(filter: &[u8]) -> bool {
    if filter.is_empty() || !utf8_ok(filter) {
        return false;
    }
    let Some(f) = unshared(filter) else {
        return false;
    };
    if f.is_empty() {
        return false;
    }
    let levels: Vec<&[u8]> = f.split(|&b| b == b'/').collect();
    let last = levels.len().saturating_sub(1);
    levels.iter().enumerate().all(|(i, l)| {
        if l.contains(&b'#') {
            *l == b"#" && i == last
        } else if l.contains(&b'+') {
            *l == b"+"
        } else {
            true
        }
    })
}

/// Whether a valid `filter` matches the topic name `topic`.
pub fn matches(filter: &[u8], topic: &[u8]) -> bool {
    let Some(filter) = unshared(filter) else {
        return false;
    };
    if topic.first() == Some(&b'$') && matches!(filter.first(), Some(b'+' | b'#')) {
        return false;
    }
    let mut f = filter.split(|&b| b == b'/').take(MAX_LEVELS);
    let mut t = topic.split(|&b| b == b'/').take(MAX_LEVELS);
    loop {
        match (f.next(), t.next()) {
            (Some(b"#"), _) => return true,
            (Some(b"+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_the_standard_says() {
        for (f, t, want) in [
            ("#", "a/b", true),
            ("#", "$SYS/broker/version", false),
            ("$SYS/#", "$SYS/broker/version", true),
            ("$SYS/broker/version", "$SYS/broker/version", true),
            ("+/broker/#", "$SYS/broker/uptime", false),
            ("a/+/c", "a/b/c", true),
            ("a/+/c", "a/b/d", false),
            ("a/#", "a", true),
            ("a/#", "a/b/c", true),
            ("a/+", "a", false),
            ("+", "a", true),
            ("+", "/a", false),
            ("+/+", "/a", true),
            ("$share/g/a/#", "a/b", true),
        ] {
            assert_eq!(matches(f.as_bytes(), t.as_bytes()), want, "{f} {t}");
        }
    }

    #[test]
    fn valid_names_and_filters() {
        assert!(valid_filter(b"a/#"));
        assert!(valid_filter(b"+/x/+"));
        assert!(valid_filter(b"$share/g/a/b"));
        assert!(!valid_filter(b"a/#/b"));
        assert!(!valid_filter(b"a/b#"));
        assert!(!valid_filter(b"a+/b"));
        assert!(!valid_filter(b""));
        assert!(!valid_filter(b"$share/g"));
        assert!(!valid_filter(b"\xff"));
        assert!(valid_name(b"a/b"));
        assert!(!valid_name(b"a/#"));
        assert!(!valid_name(b""));
    }
}
