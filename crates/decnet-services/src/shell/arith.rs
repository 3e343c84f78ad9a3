//! `$((...))`: bash's integer arithmetic (64-bit, wrapping), with variables,
//! assignments, comparisons, logic, bit operations, `**` and `?:`.
//!
//! Hostile input: parenthesis and operator nesting are capped at
//! [`MAX_DEPTH`]; a variable whose value is itself an expression is
//! evaluated under the same cap; division by zero is an error, as in bash.

use std::collections::BTreeMap;

/// Deepest nesting evaluated.
pub const MAX_DEPTH: usize = 64;

/// An evaluation error as bash prints it: `EXPR: MSG (error token is "TOK")`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArithError {
    /// The message (`division by 0`, `syntax error: operand expected`).
    pub msg: &'static str,
    /// The rest of the expression from where it failed.
    pub token: String,
}

/// Evaluates `expr` with (and assigning into) `vars`.
pub fn eval(expr: &str, vars: &mut BTreeMap<String, String>) -> Result<i64, ArithError> {
    let mut p = P {
        s: expr.as_bytes(),
        pos: 0,
        depth: 0,
        vars,
        last_op: 0,
    };
    p.ws();
    if p.pos >= p.s.len() {
        return Ok(0);
    }
    let v = p.ternary()?;
    p.ws();
    if p.pos < p.s.len() {
        return Err(p.err("syntax error in expression"));
    }
    Ok(v)
}

struct P<'a> {
    s: &'a [u8],
    pos: usize,
    depth: usize,
    vars: &'a mut BTreeMap<String, String>,
    /// Where the last operator started: bash names it when an operand is missing at the end.
    last_op: usize,
}

impl P<'_> {
    fn err(&self, msg: &'static str) -> ArithError {
        let rest = String::from_utf8_lossy(self.s.get(self.pos..).unwrap_or(&[]))
            .trim()
            .to_owned();
        let token = if rest.is_empty() {
            String::from_utf8_lossy(self.s.get(self.last_op..).unwrap_or(&[]))
                .trim()
                .to_owned()
        } else {
            rest
        };
        ArithError { msg, token }
    }

    fn ws(&mut self) {
        while self
            .s
            .get(self.pos)
            .is_some_and(|b| b.is_ascii_whitespace())
        {
            self.pos += 1;
        }
    }

    fn eat(&mut self, op: &str) -> bool {
        self.ws();
        if self.s.get(self.pos..self.pos + op.len()) == Some(op.as_bytes()) {
            // `*` must not eat the first half of `**`, `<` not of `<<`, and so on.
            let next = self.s.get(self.pos + op.len()).copied();
            let clash = match op {
                "*" => next == Some(b'*') || next == Some(b'='),
                "<" => next == Some(b'<') || next == Some(b'='),
                ">" => next == Some(b'>') || next == Some(b'='),
                "&" => next == Some(b'&'),
                "|" => next == Some(b'|'),
                "=" => next == Some(b'='),
                "!" => next == Some(b'='),
                "+" | "-" | "/" | "%" | "^" => next == Some(b'='),
                _ => false,
            };
            if clash {
                return false;
            }
            self.last_op = self.pos;
            self.pos += op.len();
            return true;
        }
        false
    }

    fn enter(&mut self) -> Result<(), ArithError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("expression recursion level exceeded"));
        }
        Ok(())
    }

    fn ternary(&mut self) -> Result<i64, ArithError> {
        self.enter()?;
        let c = self.assign()?;
        let r = if self.eat("?") {
            let a = self.ternary()?;
            if !self.eat(":") {
                return Err(self.err("expected `:'"));
            }
            let b = self.ternary()?;
            if c != 0 {
                a
            } else {
                b
            }
        } else {
            c
        };
        self.depth -= 1;
        Ok(r)
    }

    fn assign(&mut self) -> Result<i64, ArithError> {
        self.ws();
        let save = self.pos;
        if let Some(name) = self.name() {
            self.ws();
            for op in ["+=", "-=", "*=", "/=", "%=", "="] {
                if self.s.get(self.pos..self.pos + op.len()) == Some(op.as_bytes())
                    && self.s.get(self.pos + op.len()) != Some(&b'=')
                {
                    self.pos += op.len();
                    let rhs = self.ternary()?;
                    let cur = self.var(&name)?;
                    let v = match op {
                        "+=" => cur.wrapping_add(rhs),
                        "-=" => cur.wrapping_sub(rhs),
                        "*=" => cur.wrapping_mul(rhs),
                        "/=" | "%=" if rhs == 0 => return Err(self.err("division by 0")),
                        "/=" => cur.wrapping_div(rhs),
                        "%=" => cur.wrapping_rem(rhs),
                        _ => rhs,
                    };
                    if self.vars.len() < super::MAX_VARS || self.vars.contains_key(&name) {
                        self.vars.insert(name, v.to_string());
                    }
                    return Ok(v);
                }
            }
        }
        self.pos = save;
        self.binary(0)
    }

    fn binary(&mut self, level: usize) -> Result<i64, ArithError> {
        const LEVELS: [&[&str]; 10] = [
            &["||"],
            &["&&"],
            &["|"],
            &["^"],
            &["&"],
            &["==", "!="],
            &["<=", ">=", "<", ">"],
            &["<<", ">>"],
            &["+", "-"],
            &["*", "/", "%"],
        ];
        let Some(ops) = LEVELS.get(level) else {
            return self.power();
        };
        self.enter()?;
        let mut l = self.binary(level + 1)?;
        'outer: loop {
            for op in ops.iter() {
                let at = self.pos;
                if self.eat(op) {
                    let r = self.binary(level + 1)?;
                    l = match *op {
                        "||" => i64::from(l != 0 || r != 0),
                        "&&" => i64::from(l != 0 && r != 0),
                        "|" => l | r,
                        "^" => l ^ r,
                        "&" => l & r,
                        "==" => i64::from(l == r),
                        "!=" => i64::from(l != r),
                        "<=" => i64::from(l <= r),
                        ">=" => i64::from(l >= r),
                        "<" => i64::from(l < r),
                        ">" => i64::from(l > r),
                        "<<" => l.wrapping_shl(u32::try_from(r & 63).unwrap_or(0)),
                        ">>" => l.wrapping_shr(u32::try_from(r & 63).unwrap_or(0)),
                        "+" => l.wrapping_add(r),
                        "-" => l.wrapping_sub(r),
                        "*" => l.wrapping_mul(r),
                        _ if r == 0 => {
                            self.pos = at + op.len();
                            self.ws();
                            return Err(self.err("division by 0"));
                        }
                        "/" => l.wrapping_div(r),
                        _ => l.wrapping_rem(r),
                    };
                    continue 'outer;
                }
            }
            break;
        }
        self.depth -= 1;
        Ok(l)
    }

    fn power(&mut self) -> Result<i64, ArithError> {
        let base = self.unary()?;
        if self.eat("**") {
            self.enter()?;
            let exp = self.power()?;
            self.depth -= 1;
            if exp < 0 {
                return Err(self.err("exponent less than 0"));
            }
            let mut acc: i64 = 1;
            // Square-and-multiply: at most 64 rounds whatever the exponent.
            let mut b = base;
            let mut e = exp;
            while e > 0 {
                if e & 1 == 1 {
                    acc = acc.wrapping_mul(b);
                }
                b = b.wrapping_mul(b);
                e >>= 1;
            }
            return Ok(acc);
        }
        Ok(base)
    }

    fn unary(&mut self) -> Result<i64, ArithError> {
        self.enter()?;
        self.ws();
        let r = if self.eat("-") {
            self.unary()?.wrapping_neg()
        } else if self.eat("+") {
            self.unary()?
        } else if self.eat("!") {
            i64::from(self.unary()? == 0)
        } else if self.eat("~") {
            !self.unary()?
        } else {
            self.primary()?
        };
        self.depth -= 1;
        Ok(r)
    }

    fn primary(&mut self) -> Result<i64, ArithError> {
        self.ws();
        match self.s.get(self.pos) {
            Some(b'(') => {
                self.pos += 1;
                let v = self.ternary()?;
                if !self.eat(")") {
                    return Err(self.err("missing `)'"));
                }
                Ok(v)
            }
            Some(b'0'..=b'9') => self.number(),
            Some(b'$') => {
                self.pos += 1;
                match self.name() {
                    Some(n) => self.var(&n),
                    None => Err(self.err("syntax error: operand expected")),
                }
            }
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                let Some(n) = self.name() else {
                    return Err(self.err("syntax error: operand expected"));
                };
                self.var(&n)
            }
            _ => Err(self.err("syntax error: operand expected")),
        }
    }

    fn name(&mut self) -> Option<String> {
        let start = self.pos;
        while self
            .s
            .get(self.pos)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
        {
            self.pos += 1;
        }
        let n = std::str::from_utf8(self.s.get(start..self.pos)?).ok()?;
        if n.is_empty() || n.as_bytes().first().is_some_and(u8::is_ascii_digit) {
            self.pos = start;
            return None;
        }
        Some(n.to_owned())
    }

    fn var(&mut self, name: &str) -> Result<i64, ArithError> {
        let v = self.vars.get(name).cloned().unwrap_or_default();
        let t = v.trim();
        if t.is_empty() {
            return Ok(0);
        }
        if let Ok(n) = t.parse::<i64>() {
            return Ok(n);
        }
        // A value that is an expression is evaluated, under the same depth cap.
        self.enter()?;
        let mut sub = P {
            s: t.as_bytes(),
            pos: 0,
            depth: self.depth,
            vars: self.vars,
            last_op: 0,
        };
        let r = sub.ternary();
        let done = sub.pos;
        self.depth -= 1;
        let r = r?;
        if done < t.len() {
            return Err(ArithError {
                msg: "syntax error in expression",
                token: t.get(done..).unwrap_or("").trim().to_owned(),
            });
        }
        Ok(r)
    }

    fn number(&mut self) -> Result<i64, ArithError> {
        let start = self.pos;
        while self
            .s
            .get(self.pos)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'#' || *b == b'_')
        {
            self.pos += 1;
        }
        let text = String::from_utf8_lossy(self.s.get(start..self.pos).unwrap_or(&[])).into_owned();
        let (base, digits) = if let Some((b, d)) = text.split_once('#') {
            match b.parse::<u32>() {
                Ok(b) if (2..=36).contains(&b) => (b, d.to_owned()),
                _ => {
                    self.pos = start;
                    return Err(self.err("invalid arithmetic base"));
                }
            }
        } else if let Some(h) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            (16, h.to_owned())
        } else if text.len() > 1 && text.starts_with('0') {
            (8, text.get(1..).unwrap_or("").to_owned())
        } else {
            (10, text.clone())
        };
        let mut v: i64 = 0;
        for c in digits.chars() {
            let Some(d) = c.to_digit(base) else {
                self.pos = start;
                return Err(ArithError {
                    msg: "value too great for base",
                    token: text,
                });
            };
            v = v.wrapping_mul(i64::from(base)).wrapping_add(i64::from(d));
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ev(s: &str) -> Result<i64, ArithError> {
        eval(s, &mut BTreeMap::new())
    }

    #[test]
    fn arithmetic_as_bash_computes_it() {
        assert_eq!(ev("1+2*3"), Ok(7));
        assert_eq!(ev("(1+2)*3"), Ok(9));
        assert_eq!(ev("2**10"), Ok(1024));
        assert_eq!(ev("7/2"), Ok(3));
        assert_eq!(ev("-7%3"), Ok(-1));
        assert_eq!(ev("0x10 + 010 + 2#101"), Ok(29));
        assert_eq!(ev("1 < 2 && 3 >= 3"), Ok(1));
        assert_eq!(ev("1 ? 5 : 6"), Ok(5));
        assert_eq!(ev("1 << 4 | 1"), Ok(17));
        assert_eq!(ev(""), Ok(0));
        assert_eq!(ev("9223372036854775807 + 1"), Ok(i64::MIN));
        let mut vars = BTreeMap::new();
        vars.insert("i".to_owned(), "4".to_owned());
        vars.insert("e".to_owned(), "i*2".to_owned());
        assert_eq!(eval("i + $i + e", &mut vars), Ok(16));
        assert_eq!(eval("x = i + 1", &mut vars), Ok(5));
        assert_eq!(vars["x"], "5");
        assert_eq!(eval("x += 2", &mut vars), Ok(7));
    }

    #[test]
    fn errors_carry_bashs_error_token() {
        assert_eq!(
            ev("1/0"),
            Err(ArithError {
                msg: "division by 0",
                token: "0".into()
            })
        );
        assert_eq!(
            ev("1+"),
            Err(ArithError {
                msg: "syntax error: operand expected",
                token: "+".into()
            })
        );
        assert!(ev("2**-1").is_err());
        assert!(ev(&"(".repeat(10_000)).is_err());
        let mut vars = BTreeMap::new();
        vars.insert("a".to_owned(), "a".to_owned());
        assert!(eval("a", &mut vars).is_err(), "self-reference ends");
    }

    proptest! {
        #[test]
        fn any_expression_ends(s in "[0-9a-z()+*/%<>=!&|^~?: -]{0,200}") {
            let _ = ev(&s);
        }
    }
}
