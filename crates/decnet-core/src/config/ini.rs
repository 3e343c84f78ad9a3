//! A small INI tokenizer that keeps line numbers, so every later error can
//! point at the line to fix.
//!
//! The dialect is Python `configparser`'s defaults as DECNET files use them:
//! `#` and `;` start a comment only at the beginning of a line (so a value
//! may contain them: banners and passwords do), `key = value` or
//! `key: value` split at the first `=` or `:`, surrounding whitespace
//! trimmed, quotes kept as written. Continuation lines are not supported:
//! a line without a separator is an error rather than silently glued onto
//! the previous value.

use super::error::{ConfigError, Location};

/// One `key = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Key as written (trimmed).
    pub key: String,
    /// Value as written (trimmed).
    pub value: String,
    /// 1-based line number.
    pub line: usize,
}

/// One `[section]` and its entries, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Name between the brackets (trimmed).
    pub name: String,
    /// 1-based line of the header.
    pub line: usize,
    /// Entries in file order; duplicates are kept for the caller to refuse.
    pub entries: Vec<Entry>,
}

/// A tokenized INI file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Document {
    /// Sections in file order; names are unique.
    pub sections: Vec<Section>,
}

fn syntax(source: &str, line: usize, section: Option<&str>, message: String) -> ConfigError {
    ConfigError::Syntax {
        at: Box::new(Location {
            source: source.to_string(),
            line: Some(line),
            section: section.map(str::to_string),
            key: None,
        }),
        message,
    }
}

/// Tokenizes `text`; `source` names the file in errors.
pub fn parse(text: &str, source: &str) -> Result<Document, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut doc = Document::default();
    for (idx, raw) in text.lines().enumerate() {
        let line = idx + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let Some(inner) = rest.strip_suffix(']') else {
                return Err(syntax(
                    source,
                    line,
                    None,
                    format!("section header {trimmed:?} does not end with `]`; write it as [name]"),
                ));
            };
            let name = inner.trim();
            if name.is_empty() || name.contains(['[', ']']) {
                return Err(syntax(
                    source,
                    line,
                    None,
                    format!("section header {trimmed:?} has no usable name; write it as [name]"),
                ));
            }
            if let Some(first) = doc.sections.iter().find(|s| s.name == name) {
                return Err(ConfigError::DuplicateSection {
                    at: Box::new(Location {
                        source: source.to_string(),
                        line: Some(line),
                        section: Some(name.to_string()),
                        key: None,
                    }),
                    section: name.to_string(),
                    first_line: first.line,
                });
            }
            doc.sections.push(Section {
                name: name.to_string(),
                line,
                entries: Vec::new(),
            });
            continue;
        }
        let current = doc.sections.last_mut();
        let section_name = current.as_ref().map(|s| s.name.clone());
        let Some((key, value)) = trimmed.split_once(['=', ':']) else {
            return Err(syntax(
                source,
                line,
                section_name.as_deref(),
                format!(
                    "expected `key = value`, a [section] header or a comment, got {trimmed:?} \
                     (values continued on the next line are not supported; keep a value on one line)"
                ),
            ));
        };
        let (key, value) = (key.trim(), value.trim());
        if key.is_empty() {
            return Err(syntax(
                source,
                line,
                section_name.as_deref(),
                format!("line {trimmed:?} has a value but no key; write `key = value`"),
            ));
        }
        let Some(section) = current else {
            return Err(syntax(
                source,
                line,
                None,
                format!(
                    "`{key}` comes before any section; put it under [general] or a [decky-NAME] section"
                ),
            ));
        };
        section.entries.push(Entry {
            key: key.to_string(),
            value: value.to_string(),
            line,
        });
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sections_entries_and_line_numbers() {
        let doc = parse(
            "\u{feff}# comment\n[general]\nnet = 10.0.0.0/24\r\n; other\n\n[web]\nservices: ssh, http\nbanner = a=b:c # not a comment\n",
            "t.ini",
        )
        .unwrap();
        assert_eq!(doc.sections.len(), 2);
        assert_eq!(doc.sections[0].name, "general");
        assert_eq!(doc.sections[0].line, 2);
        assert_eq!(
            doc.sections[0].entries,
            vec![Entry {
                key: "net".into(),
                value: "10.0.0.0/24".into(),
                line: 3
            }]
        );
        assert_eq!(doc.sections[1].line, 6);
        assert_eq!(doc.sections[1].entries[0].value, "ssh, http");
        assert_eq!(doc.sections[1].entries[1].value, "a=b:c # not a comment");
        assert_eq!(doc.sections[1].entries[1].line, 8);
    }

    #[test]
    fn key_before_any_section_is_refused_with_its_line() {
        let e = parse("\n\nnet = x\n", "f.ini").unwrap_err();
        assert_eq!(e.location().unwrap().line, Some(3));
        assert!(
            e.to_string()
                .starts_with("f.ini:3: `net` comes before any section"),
            "{e}"
        );
    }

    #[test]
    fn line_without_separator_is_refused_with_its_line() {
        let e = parse("[a]\nservices = ssh,\n  http\n", "f.ini").unwrap_err();
        assert_eq!(e.location().unwrap().line, Some(3));
        assert!(e.to_string().contains("[a]"), "{e}");
    }

    #[test]
    fn broken_headers_are_refused() {
        assert!(parse("[general\n", "f").is_err());
        assert!(parse("[]\n", "f").is_err());
        assert!(parse("[a]b]\n", "f").is_err());
        assert!(parse("[a]\n= v\n", "f").is_err());
    }

    #[test]
    fn duplicate_section_names_both_lines() {
        let e = parse("[a]\n[b]\n[a]\n", "f.ini").unwrap_err();
        assert_eq!(
            e,
            ConfigError::DuplicateSection {
                at: Box::new(Location {
                    source: "f.ini".into(),
                    line: Some(3),
                    section: Some("a".into()),
                    key: None
                }),
                section: "a".into(),
                first_line: 1
            }
        );
    }

    proptest! {
        #[test]
        fn tokenizer_never_panics(text in "\\PC*") {
            let _ = parse(&text, "p.ini");
        }

        #[test]
        fn tokenizer_never_panics_on_ini_like_text(text in "([\\[\\]=:#; \\n\\r\\ta-z0-9.\u{feff}é-]){0,200}") {
            let _ = parse(&text, "p.ini");
        }

        #[test]
        fn entries_keep_their_line(lines in proptest::collection::vec("[a-z]{1,8}", 1..30)) {
            let mut text = String::from("[s]\n");
            for (i, k) in lines.iter().enumerate() {
                text.push_str(&format!("{k} = v{i}\n"));
            }
            let doc = parse(&text, "p.ini").unwrap();
            for (i, e) in doc.sections[0].entries.iter().enumerate() {
                prop_assert_eq!(e.line, i + 2);
                prop_assert_eq!(&e.value, &format!("v{i}"));
            }
        }
    }
}
