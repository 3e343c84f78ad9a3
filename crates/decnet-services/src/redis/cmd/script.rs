//! EVAL/EVALSHA and SCRIPT. No Lua runs: a script's body is captured whole
//! (its command event), its SHA-1 is Redis's, and it is answered from its
//! shape: `return <number|string>`, `return redis.call(...)` with literal
//! arguments (run as the command it names), a reference to a global the
//! sandbox removes (`package`, `io`, `os`: the CVE-2022-0543 escape) refused
//! with the error a patched Debian build gives; anything else answers nil.

use sha1::{Digest as _, Sha1};

use super::{int, lower, not_int, Effect, Session};
use crate::redis::resp::{split_args, Reply};

fn sha1_hex(b: &[u8]) -> String {
    hex::encode(Sha1::digest(b))
}

/// The globals a script names that Redis's sandbox does not have.
const MISSING: [&str; 6] = ["package", "io", "os", "loadstring", "dofile", "require"];

fn missing_global(body: &str) -> Option<&'static str> {
    MISSING.into_iter().find(|g| {
        body.match_indices(g).any(|(i, _)| {
            let before = body.get(..i).and_then(|b| b.chars().last());
            let after = body.get(i + g.len()..).and_then(|a| a.chars().next());
            !before.is_some_and(|c| {
                c.is_alphanumeric() || c == '_' || c == '.' || c == '"' || c == '\''
            }) && after.is_some_and(|c| c == '.' || c == '(' || c == '[' || c == ' ' || c == ':')
        })
    })
}

fn not_allowed(name: &str) -> bool {
    matches!(
        name,
        "eval"
            | "evalsha"
            | "eval_ro"
            | "evalsha_ro"
            | "script"
            | "fcall"
            | "function"
            | "multi"
            | "exec"
    )
}

fn eval_body(s: &mut Session<'_>, body: &[u8], sha: &str) -> Reply {
    let text = String::from_utf8_lossy(body).into_owned();
    if let Some(g) = missing_global(&text) {
        return if s.sh.version.major >= 7 {
            Reply::err(format!("ERR user_script:1: Script attempted to access nonexistent global variable '{g}' script: {sha}, on @user_script:1."))
        } else {
            Reply::err(format!("ERR Error running script (call to f_{sha}): @user_script:1: user_script:1: Script attempted to access nonexistent global variable '{g}' "))
        };
    }
    let t = text.trim().trim_end_matches(';').trim();
    let Some(expr) = t.strip_prefix("return ").map(str::trim) else {
        return Reply::Nil;
    };
    if let Some(n) = int(expr.as_bytes()) {
        return Reply::Int(n);
    }
    for q in ['"', '\''] {
        if expr.len() >= 2 && expr.starts_with(q) && expr.ends_with(q) {
            return Reply::bulk(expr.get(1..expr.len() - 1).unwrap_or_default());
        }
    }
    let call = expr
        .strip_prefix("redis.call(")
        .or_else(|| expr.strip_prefix("redis.pcall("))
        .and_then(|c| c.strip_suffix(')'));
    if let Some(inner) = call {
        // Literal arguments only: 'a', "b", 1 — split as redis-cli would once the commas go.
        let line: String = inner.replace(',', " ");
        if let Some(args) = split_args(line.as_bytes()) {
            if let Some(first) = args.first() {
                if not_allowed(&lower(first)) {
                    return Reply::err("ERR This Redis command is not allowed from script");
                }
                let saved = std::mem::take(&mut s.effects);
                let r = s.execute(&args);
                let mut inner_effects = std::mem::replace(&mut s.effects, saved);
                inner_effects.retain(|e| !matches!(e, Effect::Close | Effect::Drop));
                s.effects.extend(inner_effects);
                return r;
            }
        }
    }
    Reply::Nil
}

fn numkeys(args: &[Vec<u8>]) -> Result<(), Reply> {
    let Some(n) = args.get(2).and_then(|a| int(a)) else {
        return Err(not_int());
    };
    if n < 0 {
        return Err(Reply::err("ERR Number of keys can't be negative"));
    }
    if usize::try_from(n).unwrap_or(usize::MAX) > args.len().saturating_sub(3) {
        return Err(Reply::err(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    Ok(())
}

/// Runs a scripting command.
pub fn run(s: &mut Session<'_>, name: &str, args: &[Vec<u8>]) -> Reply {
    match name {
        "eval" | "eval_ro" => {
            if let Err(e) = numkeys(args) {
                return e;
            }
            let body = args.get(1).cloned().unwrap_or_default();
            let sha = sha1_hex(&body);
            s.sh.lock().scripts.insert(sha.clone(), body.clone());
            s.effects.push(Effect::Field("sha1", sha.clone().into()));
            eval_body(s, &body, &sha)
        }
        "evalsha" | "evalsha_ro" => {
            if let Err(e) = numkeys(args) {
                return e;
            }
            let sha = lower(args.get(1).map_or(&[][..], Vec::as_slice));
            let body = s.sh.lock().scripts.get(&sha).cloned();
            match body {
                Some(b) => eval_body(s, &b, &sha),
                None => Reply::err("NOSCRIPT No matching script. Please use EVAL."),
            }
        }
        "script" => {
            let sub_raw = args.get(1).map_or(&[][..], Vec::as_slice);
            match lower(sub_raw).as_str() {
                "load" => {
                    let body = args.get(2).cloned().unwrap_or_default();
                    let sha = sha1_hex(&body);
                    s.sh.lock().scripts.insert(sha.clone(), body);
                    s.effects.push(Effect::Field("sha1", sha.clone().into()));
                    Reply::bulk(sha)
                }
                "exists" => {
                    let inner = s.sh.lock();
                    Reply::Array(
                        args.iter()
                            .skip(2)
                            .map(|a| Reply::Int(i64::from(inner.scripts.contains_key(&lower(a)))))
                            .collect(),
                    )
                }
                "flush" => {
                    s.sh.lock().scripts.clear();
                    Reply::ok()
                }
                "kill" => Reply::err("NOTBUSY No scripts in execution right now."),
                "debug" => Reply::ok(),
                _ => s.unknown_sub("script", sub_raw),
            }
        }
        "function" => Reply::Array(Vec::new()),
        _ => Reply::err("ERR Function not found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sandbox_escapes_are_spotted() {
        let cve = r#"local io_l = package.loadlib("/usr/lib/x86_64-linux-gnu/liblua5.1.so.0", "luaopen_io"); local io = io_l(); local f = io.popen("id", "r")"#;
        assert_eq!(missing_global(cve), Some("package"));
        assert_eq!(missing_global("return os.execute('id')"), Some("os"));
        assert_eq!(missing_global("return redis.call('get', 'package')"), None);
        assert_eq!(
            sha1_hex(b"return 1"),
            "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        );
    }
}
