//! Check results, per-decky scores, and the two renderings (text for people,
//! one JSON document for scripts).

use serde::Serialize;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The decky looks like the real product.
    Pass,
    /// A detector can tell the decky from the real product.
    Tell,
    /// Not run here, with the reason in `note`.
    Skip,
}

/// One check on one decky.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckResult {
    /// Stable id (`ssh.kexinit-matches-release`).
    pub id: &'static str,
    /// Outcome.
    pub status: Status,
    /// What the real product shows (for a tell).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// What the decky showed (for a tell).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seen: Option<String>,
    /// Why it was skipped, or what else the reader should know.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl CheckResult {
    /// A passed check.
    pub fn pass(id: &'static str) -> CheckResult {
        CheckResult {
            id,
            status: Status::Pass,
            expected: None,
            seen: None,
            note: None,
        }
    }

    /// A tell: what the real product shows and what the decky showed.
    pub fn tell(
        id: &'static str,
        expected: impl Into<String>,
        seen: impl Into<String>,
    ) -> CheckResult {
        CheckResult {
            id,
            status: Status::Tell,
            expected: Some(expected.into()),
            seen: Some(seen.into()),
            note: None,
        }
    }

    /// A check that could not run here, and why.
    pub fn skip(id: &'static str, why: impl Into<String>) -> CheckResult {
        CheckResult {
            id,
            status: Status::Skip,
            expected: None,
            seen: None,
            note: Some(why.into()),
        }
    }

    /// Pass when `expected == seen`, else a tell showing both.
    pub fn compare(id: &'static str, expected: &str, seen: &str) -> CheckResult {
        if expected == seen {
            CheckResult::pass(id)
        } else {
            CheckResult::tell(id, expected, seen)
        }
    }
}

/// One decky's results and score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeckyReport {
    /// Decky name.
    pub decky: String,
    /// Checks passed.
    pub passed: usize,
    /// Checks run (skips excluded).
    pub run: usize,
    /// Every result, in the order the checks ran.
    pub checks: Vec<CheckResult>,
}

impl DeckyReport {
    /// A decky's report from its results.
    pub fn new(decky: String, checks: Vec<CheckResult>) -> DeckyReport {
        let mut r = DeckyReport {
            decky,
            passed: 0,
            run: 0,
            checks,
        };
        r.rescore();
        r
    }

    /// Recounts `passed` and `run` after results were added.
    pub fn rescore(&mut self) {
        self.run = self
            .checks
            .iter()
            .filter(|c| c.status != Status::Skip)
            .count();
        self.passed = self
            .checks
            .iter()
            .filter(|c| c.status == Status::Pass)
            .count();
    }

    /// The tells only.
    pub fn tells(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks.iter().filter(|c| c.status == Status::Tell)
    }
}

/// The whole audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Tells across the fleet (0: no decky gave itself away).
    pub tells: usize,
    /// Per decky, in config order.
    pub deckies: Vec<DeckyReport>,
}

impl Report {
    /// A report from per-decky results.
    pub fn new(mut deckies: Vec<DeckyReport>) -> Report {
        for d in &mut deckies {
            d.rescore();
        }
        let tells = deckies.iter().map(|d| d.tells().count()).sum();
        Report { tells, deckies }
    }

    /// The report for people: a score line per decky, then each tell with what
    /// was expected and what was seen, then the skipped checks and why.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        for d in &self.deckies {
            let _ = writeln!(out, "{}: {}/{} checks passed", d.decky, d.passed, d.run);
            for c in d.tells() {
                let _ = writeln!(out, "  TELL {}", c.id);
                if let Some(e) = &c.expected {
                    let _ = writeln!(out, "    expected: {}", one_line(e));
                }
                if let Some(s) = &c.seen {
                    let _ = writeln!(out, "    seen:     {}", one_line(s));
                }
                if let Some(n) = &c.note {
                    let _ = writeln!(out, "    note:     {n}");
                }
            }
            for c in d.checks.iter().filter(|c| c.status == Status::Skip) {
                let _ = writeln!(
                    out,
                    "  skipped {}: {}",
                    c.id,
                    c.note.as_deref().unwrap_or("")
                );
            }
        }
        let _ = writeln!(
            out,
            "{} tell{} across {} deck{}",
            self.tells,
            if self.tells == 1 { "" } else { "s" },
            self.deckies.len(),
            if self.deckies.len() == 1 { "y" } else { "ies" }
        );
        out
    }
}

/// Control characters shown escaped, so one tell stays one line.
fn one_line(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '\n' => vec!['\\', 'n'],
            '\r' => vec!['\\', 'r'],
            '\t' => vec!['\\', 't'],
            c if c.is_control() => c.escape_unicode().collect(),
            c => vec![c],
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_count_passes_over_checks_run_and_leave_skips_out() {
        let r = Report::new(vec![DeckyReport::new(
            "d".into(),
            vec![
                CheckResult::pass("a"),
                CheckResult::tell("b", "x", "y"),
                CheckResult::skip("c", "no root"),
            ],
        )]);
        assert_eq!((r.tells, r.deckies[0].passed, r.deckies[0].run), (1, 1, 2));
        let text = r.to_text();
        assert!(text.contains("d: 1/2 checks passed"), "{text}");
        assert!(
            text.contains("TELL b\n    expected: x\n    seen:     y\n"),
            "{text}"
        );
        assert!(text.contains("skipped c: no root"), "{text}");
        assert_eq!(one_line("a \"b\"\r\n\u{1}"), "a \"b\"\\r\\n\\u{1}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["deckies"][0]["checks"][1]["status"], "tell");
        assert!(json["deckies"][0]["checks"][0].get("expected").is_none());
    }

    #[test]
    fn compare_passes_only_on_equality() {
        assert_eq!(CheckResult::compare("a", "x", "x").status, Status::Pass);
        let t = CheckResult::compare("a", "x", "y\r\n");
        assert_eq!(t.status, Status::Tell);
        assert_eq!(t.seen.as_deref(), Some("y\r\n"));
    }
}
