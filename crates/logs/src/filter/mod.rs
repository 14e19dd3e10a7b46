//! Filter patterns, the `filterPattern` of `FilterLogEvents`, in AWS's syntax ("Filter pattern
//! syntax for metric filters, subscription filters, filter log events, and Live Tail"):
//!
//! - empty: every event;
//! - terms ([`terms`]): `ERROR Exception` (every term, case-sensitive, anywhere in the message),
//!   `"exact phrase"`, `?ERROR ?WARN` (any of them), `-DEBUG` or `- "phrase"` (none of them),
//!   `%regex%`;
//! - JSON ([`json`]): `{ $.eventType = "UpdateTrail" }`, `{ $.latency > 500 }`,
//!   `{ $.['Duration (us)'] >= 10000 }` (a key with characters outside letters, digits, `_`, `-`
//!   in brackets and single quotes, as AWS documents for `{ $.['cluster.name'] = "c" }`),
//!   `IS NULL`, `IS TRUE`, `IS FALSE`, `NOT EXISTS`, `[0]`, `[*]`, `&&`, `||`, parentheses;
//! - space-delimited ([`delimited`]): `[ip, user, ..., status_code = 4*, bytes > 1000]`.
//!
//! Values compared with `=`/`!=` may hold `*` wildcards or be a `%regex%`. A regex may use only
//! the characters AWS allows (letters, digits, space, `:_#=@/;,-` and the operators
//! `^$?[]{}|\*+.`; no parentheses, no multi-byte characters).

mod delimited;
mod json;
mod terms;

use regex_lite::Regex;

use crate::error::Refusal;

/// Longest `filterPattern` (the model's).
pub(crate) const MAX_PATTERN_CHARS: usize = 1024;

/// AWS's text for a pattern it cannot parse (quoted from AWS in aws/aws-toolkit-jetbrains#3219).
const INVALID: &str = "Invalid filter pattern";

fn invalid() -> Refusal {
    Refusal::InvalidParameter(INVALID.into())
}

/// A parsed filter pattern.
#[derive(Debug)]
pub(crate) struct Pattern(Kind);

#[derive(Debug)]
enum Kind {
    All,
    Terms(terms::Terms),
    Json(json::Expr),
    Delimited(delimited::Delimited),
}

impl Pattern {
    /// Parses `text`, refusing it with AWS's texts when it is not a pattern.
    pub(crate) fn parse(text: &str) -> Result<Pattern, Refusal> {
        let trimmed = text.trim();
        let kind = if trimmed.is_empty() {
            Kind::All
        } else if let Some(body) = trimmed.strip_prefix('{') {
            // Quoted from AWS in jorgebastida/awslogs#210.
            let body = body.strip_suffix('}').ok_or_else(|| {
                Refusal::InvalidParameter(
                    "If a filter pattern starts with '{' it must end with '}'".into(),
                )
            })?;
            Kind::Json(json::parse(body)?)
        } else if let Some(body) = trimmed.strip_prefix('[') {
            // [unsure] the text for a missing `]`: the generic one.
            let body = body.strip_suffix(']').ok_or_else(invalid)?;
            Kind::Delimited(delimited::parse(body)?)
        } else {
            Kind::Terms(terms::parse(trimmed)?)
        };
        Ok(Pattern(kind))
    }

    /// Whether `message` matches.
    pub(crate) fn matches(&self, message: &str) -> bool {
        match &self.0 {
            Kind::All => true,
            Kind::Terms(t) => t.matches(message),
            Kind::Json(e) => json::matches(e, message),
            Kind::Delimited(d) => d.matches(message),
        }
    }
}

/// A comparison operator of the JSON and space-delimited forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    /// The operator at the start of `s`, and its length.
    fn lex(s: &str) -> Option<(Op, usize)> {
        for (text, op) in [
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("=", Op::Eq),
            ("<", Op::Lt),
            (">", Op::Gt),
        ] {
            if s.starts_with(text) {
                return Some((op, text.len()));
            }
        }
        None
    }

    fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Op::Eq => ordering == Equal,
            Op::Ne => ordering != Equal,
            Op::Lt => ordering == Less,
            Op::Le => ordering != Greater,
            Op::Gt => ordering == Greater,
            Op::Ge => ordering != Less,
        }
    }
}

/// The right-hand side of a comparison.
#[derive(Debug)]
enum Value {
    /// A number (with its text, for comparing against a string field).
    Number(f64, String),
    /// A string, `*` matching any run of characters.
    Glob(String),
    /// `%regex%`.
    Regex(Regex),
}

impl Value {
    /// Parses a bare (unquoted) value.
    fn bare(text: &str) -> Result<Value, Refusal> {
        if let Some(body) = text.strip_prefix('%') {
            let body = body.strip_suffix('%').ok_or_else(invalid)?;
            return Ok(Value::Regex(regex(body)?));
        }
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(Value::Number(n, text.to_string())),
            _ => Ok(Value::Glob(text.to_string())),
        }
    }

    /// Whether `text` (a field's value as text; `number` when it is numeric) compares as `op`
    /// says.
    fn compare(&self, op: Op, text: &str, number: Option<f64>) -> bool {
        match self {
            Value::Number(n, literal) => match (number, op) {
                (Some(x), _) => x.partial_cmp(n).is_some_and(|o| op.holds(o)),
                (None, Op::Eq) => text == literal,
                (None, Op::Ne) => text != literal,
                (None, _) => false,
            },
            Value::Glob(g) => match op {
                Op::Eq => glob_match(g, text),
                Op::Ne => !glob_match(g, text),
                _ => false,
            },
            Value::Regex(r) => match op {
                Op::Eq => r.is_match(text),
                Op::Ne => !r.is_match(text),
                _ => false,
            },
        }
    }
}

/// Compiles the body of a `%regex%`, with AWS's limits on what it may hold.
fn regex(body: &str) -> Result<Regex, Refusal> {
    let allowed = |c: char| {
        c.is_ascii_alphanumeric()
            || c == ' '
            || ":_#=@/;,-".contains(c)
            || "^$?[]{}|\\*+.".contains(c)
    };
    if body.is_empty() || !body.chars().all(allowed) {
        return Err(invalid());
    }
    Regex::new(body).map_err(|_| invalid())
}

/// Whether `text` matches `glob`, where `*` stands for any run of characters.
fn glob_match(glob: &str, text: &str) -> bool {
    if !glob.contains('*') {
        return glob == text;
    }
    let parts: Vec<&str> = glob.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

/// Reads a double-quoted string at the start of `s` (after its opening quote): the text, with
/// `\"` and `\\` unescaped, and the bytes consumed including the closing quote.
fn quoted(s: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 1)),
            '\\' => match chars.next() {
                Some((_, e @ ('"' | '\\'))) => out.push(e),
                Some((_, e)) => {
                    out.push('\\');
                    out.push(e);
                }
                None => return None,
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, message: &str) -> bool {
        Pattern::parse(pattern).unwrap().matches(message)
    }

    #[test]
    fn empty_matches_everything() {
        assert!(matches("", "anything"));
        assert!(matches("   ", "anything"));
    }

    #[test]
    fn globs() {
        assert!(glob_match("*Event", "PutEvent"));
        assert!(glob_match("Event*", "EventId"));
        assert!(glob_match("a*b*c", "aXXbYYc"));
        assert!(!glob_match("a*b*c", "aXXcYYb"));
        assert!(glob_match("*", ""));
        assert!(!glob_match("ab*ba", "aba"));
        assert!(glob_match("123.123.*", "123.123.5.6"));
    }

    #[test]
    fn unclosed_json_is_refused_with_aws_text() {
        let err = Pattern::parse("{ $.a = 1").unwrap_err().into_error();
        assert_eq!(err.code(), "InvalidParameterException");
        assert_eq!(
            err.message(),
            "If a filter pattern starts with '{' it must end with '}'"
        );
    }

    #[test]
    fn regexes_follow_aws_limits() {
        assert!(matches("%colou?r%", "the colour red"));
        assert!(matches("%^ERR%", "ERR 1"));
        assert!(!matches("%^ERR%", "1 ERR"));
        assert!(Pattern::parse("%(a)%").is_err());
        assert!(Pattern::parse("%something!%").is_err());
    }
}
