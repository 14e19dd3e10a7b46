//! Space-delimited patterns, `[ip, user, ..., status_code = 4*, bytes > 1000]`: the event is
//! split on spaces (characters between `"` quotes or `[` `]` brackets make one field, without
//! them), fields are named in order, `...` stands for any number of fields, and conditions
//! (`=`, `!=` with strings, `*` wildcards or `%regex%`; `<`, `<=`, `>`, `>=`, `=`, `!=` with
//! numbers), joined by `&&` and `||`, may follow a name. Without `...` the event must have
//! exactly as many fields as the pattern.

use std::collections::HashMap;

use super::{invalid, quoted, Op, Value};
use crate::error::Refusal;

/// A parsed space-delimited pattern.
#[derive(Debug)]
pub(crate) struct Delimited {
    /// Per position: a field, or `...`.
    slots: Vec<Slot>,
    /// Every slot's conditions, all of which must hold.
    conditions: Vec<Cond>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Field,
    Ellipsis,
}

/// Conditions: `||` of `&&` of comparisons.
#[derive(Debug)]
struct Cond(Vec<Vec<Compare>>);

#[derive(Debug)]
struct Compare {
    /// Which field slot the comparison reads.
    slot: usize,
    op: Op,
    value: Value,
}

/// Parses the text between the brackets.
pub(crate) fn parse(body: &str) -> Result<Delimited, Refusal> {
    let parts = split_slots(body)?;
    let mut slots = Vec::with_capacity(parts.len());
    let mut names: HashMap<String, usize> = HashMap::new();
    // Names first: a condition may read a field named later in the pattern.
    for (i, part) in parts.iter().enumerate() {
        let part = part.trim();
        if part == "..." {
            slots.push(Slot::Ellipsis);
            continue;
        }
        slots.push(Slot::Field);
        let name = leading_name(part);
        if !name.is_empty() {
            names.entry(name.to_string()).or_insert(i);
        }
    }
    let mut conditions = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let part = part.trim();
        if part == "..." {
            continue;
        }
        let name = leading_name(part);
        if name.is_empty() && !part.is_empty() {
            return Err(invalid());
        }
        let rest = part[name.len()..].trim_start();
        if !rest.is_empty() {
            conditions.push(condition(part, &names, (name, i))?);
        }
    }
    Ok(Delimited { slots, conditions })
}

/// The slots of the pattern, split at commas outside quotes.
fn split_slots(body: &str) -> Result<Vec<&str>, Refusal> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => {
                parts.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if in_quotes {
        return Err(invalid());
    }
    parts.push(&body[start..]);
    Ok(parts)
}

fn leading_name(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// Parses `name op value (&&|| name op value)*` in the slot `own` (its name and position); a
/// name no slot has is refused, as AWS refuses its own documented
/// `[..., status_code = 4* && bytes > 1000]` (awsdocs/amazon-cloudwatch-logs-user-guide#21).
fn condition(
    text: &str,
    names: &HashMap<String, usize>,
    own: (&str, usize),
) -> Result<Cond, Refusal> {
    let mut alternatives = vec![Vec::new()];
    let mut rest = text.trim_start();
    loop {
        let name = leading_name(rest);
        let slot = if name.is_empty() {
            return Err(invalid());
        } else if name == own.0 {
            own.1
        } else {
            *names.get(name).ok_or_else(invalid)?
        };
        rest = rest[name.len()..].trim_start();
        let (op, len) = Op::lex(rest).ok_or_else(invalid)?;
        rest = rest[len..].trim_start();
        let (value, used) = value(rest)?;
        if !matches!(op, Op::Eq | Op::Ne) && !matches!(value, Value::Number(..)) {
            return Err(invalid());
        }
        rest = rest[used..].trim_start();
        alternatives
            .last_mut()
            .expect("one alternative")
            .push(Compare { slot, op, value });
        if let Some(r) = rest.strip_prefix("&&") {
            rest = r.trim_start();
        } else if let Some(r) = rest.strip_prefix("||") {
            rest = r.trim_start();
            alternatives.push(Vec::new());
        } else if rest.is_empty() {
            return Ok(Cond(alternatives));
        } else {
            return Err(invalid());
        }
    }
}

/// The value at the start of `s` and the bytes it took.
fn value(s: &str) -> Result<(Value, usize), Refusal> {
    if let Some(r) = s.strip_prefix('"') {
        let (text, used) = quoted(r).ok_or_else(invalid)?;
        return Ok((Value::Glob(text), used + 1));
    }
    let end = s
        .find(|c: char| c.is_whitespace() || c == '&' || c == '|')
        .unwrap_or(s.len());
    if end == 0 {
        return Err(invalid());
    }
    Ok((Value::bare(&s[..end])?, end))
}

/// The fields of an event: space-separated, a `"…"` or `[…]` run being one field.
fn fields(message: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = message.trim_start();
    while !rest.is_empty() {
        let (field, next) = if let Some(r) = rest.strip_prefix('"') {
            match r.find('"') {
                Some(end) => (&r[..end], &r[end + 1..]),
                None => (r, ""),
            }
        } else if let Some(r) = rest.strip_prefix('[') {
            match r.find(']') {
                Some(end) => (&r[..end], &r[end + 1..]),
                None => (r, ""),
            }
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            (&rest[..end], &rest[end..])
        };
        out.push(field);
        rest = next.trim_start();
    }
    out
}

impl Delimited {
    /// Whether `message` matches.
    pub(crate) fn matches(&self, message: &str) -> bool {
        let fields = fields(message);
        let mut bound = vec![None; self.slots.len()];
        self.bind(&fields, 0, 0, &mut bound)
    }

    /// Tries every way of laying the slots from `slot` on over the fields from `field` on.
    fn bind<'a>(
        &self,
        fields: &[&'a str],
        slot: usize,
        field: usize,
        bound: &mut Vec<Option<&'a str>>,
    ) -> bool {
        if slot == self.slots.len() {
            return field == fields.len() && self.conditions.iter().all(|c| c.holds(bound));
        }
        match self.slots[slot] {
            Slot::Field => {
                let Some(&f) = fields.get(field) else {
                    return false;
                };
                bound[slot] = Some(f);
                self.bind(fields, slot + 1, field + 1, bound)
            }
            Slot::Ellipsis => {
                (field..=fields.len()).any(|next| self.bind(fields, slot + 1, next, bound))
            }
        }
    }
}

impl Cond {
    fn holds(&self, bound: &[Option<&str>]) -> bool {
        self.0.iter().any(|all| {
            all.iter().all(|c| {
                bound[c.slot]
                    .is_some_and(|text| c.value.compare(c.op, text, text.parse::<f64>().ok()))
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Pattern;

    const LINE: &str =
        r#"127.0.0.1 - frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#;

    fn matches(pattern: &str, message: &str) -> bool {
        Pattern::parse(pattern).unwrap().matches(message)
    }

    #[test]
    fn fields_are_named_in_order() {
        assert!(matches(
            "[ip, user, username, timestamp, request, status_code, bytes]",
            LINE
        ));
        assert!(!matches(
            "[ip, user, username, timestamp, request, status_code]",
            LINE
        ));
        assert!(matches(
            "[ip, user, username, timestamp, request = *html*, status_code = 4*, bytes]",
            LINE
        ));
        assert!(matches("[..., status_code = 404, bytes > 1000]", LINE));
        assert!(!matches("[..., status_code = 404, bytes > 2000]", LINE));
        assert!(matches("[ip, user, ...]", LINE));
        assert!(matches(
            "[ip, user, username, timestamp, request, status_code = 4* && bytes > 1000, bytes]",
            LINE
        ));
        assert!(matches(
            "[ip, user, username, timestamp, request, status_code = 500 || status_code = 404, bytes]",
            LINE
        ));
        assert!(matches(r#"[ip, user, username = "frank", ...]"#, LINE));
        assert!(!matches("[ip, user, username != frank, ...]", LINE));
    }

    #[test]
    fn engine_log_lines_split_on_spaces() {
        let engine = "12:M 08 Jan 2021 10:12:13.123 * Ready to accept connections";
        assert!(matches("[pid, day, month, year, time, level, ...]", engine));
        assert!(matches("[pid = 12:M, ...]", engine));
        assert!(matches("[..., word = connections]", engine));
    }

    #[test]
    fn malformed_patterns_are_refused() {
        for pattern in [
            "[a, b = ]",
            "[a, b > x]",
            "[a, = 1]",
            "[a, \"b]",
            "[a, b = 1 c]",
            "[ip, user, username, timestamp, request, status_code = 4* && bytes > 1000]",
        ] {
            assert!(Pattern::parse(pattern).is_err(), "{pattern}");
        }
    }
}
