//! Topic and pattern syntax, and NATS-style matching.
//!
//! A topic is one or more non-empty dot-separated tokens without wildcards or whitespace.
//! A pattern is a topic whose tokens may also be `*` (exactly one token) or, as the last
//! token only, `>` (one or more trailing tokens).

use crate::BusError;

/// Whether `pattern` matches `topic`. Malformed inputs simply do not match; never panics.
pub fn matches(pattern: &str, topic: &str) -> bool {
    let mut p = pattern.split('.');
    let mut t = topic.split('.');
    loop {
        match (p.next(), t.next()) {
            // `>` must have at least one token left to swallow (it has: `tt`), and ends the pattern.
            (Some(">"), Some(tt)) => return !tt.is_empty() && p.next().is_none(),
            (Some("*"), Some(tt)) if !tt.is_empty() => {}
            (Some(pp), Some(tt)) if pp == tt && !pp.is_empty() && pp != "*" => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

fn token_ok(tok: &str) -> bool {
    !tok.is_empty()
        && !tok
            .chars()
            .any(|c| matches!(c, '*' | '>') || c.is_whitespace() || c.is_control())
}

/// Checks a topic for publishing: non-empty tokens, no wildcards, no whitespace.
pub fn validate_topic(topic: &str) -> Result<(), BusError> {
    if topic.split('.').all(token_ok) {
        Ok(())
    } else {
        Err(BusError::InvalidTopic(topic.to_owned()))
    }
}

/// Checks a subscription pattern: tokens as in a topic, or `*`, or a final `>`.
pub fn validate_pattern(pattern: &str) -> Result<(), BusError> {
    let mut toks = pattern.split('.').peekable();
    while let Some(tok) = toks.next() {
        let ok = match tok {
            "*" => true,
            ">" => toks.peek().is_none(),
            t => token_ok(t),
        };
        if !ok {
            return Err(BusError::InvalidPattern(pattern.to_owned()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert!(matches("topology.>", "topology.a.status"));
        assert!(matches("topology.>", "topology.a"));
        assert!(!matches("topology.>", "topology"));
        assert!(matches("system.*.health", "system.bus.health"));
        assert!(!matches("system.*.health", "system.health"));
        assert!(!matches("system.*.health", "system.a.b.health"));
        assert!(matches("a.b", "a.b"));
        assert!(!matches("a.b", "a.b.c"));
        assert!(!matches("a.b.c", "a.b"));
        assert!(!matches("*", "a.b"));
        assert!(matches(">", "a.b"));
        assert!(!matches("a.>.b", "a.x.b"), "`>` only ends a pattern");
        assert!(!matches("a.*", "a."), "`*` needs a non-empty token");
        assert!(!matches("a.>", "a."), "`>` needs non-empty tokens");
    }

    #[test]
    fn validation() {
        for ok in ["a", "a.b", "system.bus.health", "x-1.y_2"] {
            assert!(validate_topic(ok).is_ok(), "{ok}");
            assert!(validate_pattern(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", ".", "a.", ".a", "a..b", "a.*", "a.>", "a b", "a\n", "a*",
        ] {
            assert!(validate_topic(bad).is_err(), "{bad:?}");
        }
        for ok in ["*", ">", "a.*", "a.>", "*.*.health", "a.*.>"] {
            assert!(validate_pattern(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a.>.b", ">.a", "a.b*", "a..b", "a.>x", "a b"] {
            assert!(validate_pattern(bad).is_err(), "{bad:?}");
        }
    }

    fn token() -> impl Strategy<Value = String> {
        "[a-z0-9_-]{1,6}"
    }

    fn topic() -> impl Strategy<Value = Vec<String>> {
        prop::collection::vec(token(), 1..6)
    }

    proptest! {
        #[test]
        fn no_panic_on_arbitrary_strings(p in "\\PC*", t in "\\PC*") {
            let _ = matches(&p, &t);
            let _ = validate_topic(&t);
            let _ = validate_pattern(&p);
        }

        #[test]
        fn literal_pattern_matches_only_itself(a in topic(), b in topic()) {
            let (a, b) = (a.join("."), b.join("."));
            prop_assert!(matches(&a, &a));
            prop_assert_eq!(matches(&a, &b), a == b);
        }

        #[test]
        fn star_replaces_exactly_one_token(t in topic(), i in any::<prop::sample::Index>(), extra in token()) {
            let i = i.index(t.len());
            let mut p = t.clone();
            p[i] = "*".into();
            let p = p.join(".");
            prop_assert!(matches(&p, &t.join(".")));
            // One token more or one fewer never matches.
            let mut longer = t.clone();
            longer.push(extra);
            prop_assert!(!matches(&p, &longer.join(".")));
            if t.len() > 1 {
                prop_assert!(!matches(&p, &t[..t.len() - 1].join(".")));
            }
        }

        #[test]
        fn gt_needs_one_or_more_trailing_tokens(prefix in topic(), rest in prop::collection::vec(token(), 0..4)) {
            let p = format!("{}.>", prefix.join("."));
            let mut full = prefix.clone();
            full.extend(rest.iter().cloned());
            prop_assert_eq!(matches(&p, &full.join(".")), !rest.is_empty());
        }

        #[test]
        fn valid_topics_are_valid_patterns(t in topic()) {
            let t = t.join(".");
            prop_assert!(validate_topic(&t).is_ok());
            prop_assert!(validate_pattern(&t).is_ok());
        }
    }
}
