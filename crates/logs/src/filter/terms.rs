//! Term patterns for unstructured events: words, `"exact phrases"` and `%regexes%`, each
//! required, optional (`?`) or excluded (`-`). Matching is case-sensitive and finds a term
//! anywhere in the message (`ERROR` matches `Exiting with ERRORCODE: -1`, as AWS's example
//! says).
//!
//! An event matches when it holds every required term, at least one of the optional terms if
//! there are any, and none of the excluded ones.

use regex_lite::Regex;

use super::{invalid, quoted, regex};
use crate::error::Refusal;

/// A parsed term pattern.
#[derive(Debug, Default)]
pub(crate) struct Terms {
    required: Vec<Term>,
    optional: Vec<Term>,
    excluded: Vec<Term>,
}

#[derive(Debug)]
enum Term {
    Text(String),
    Regex(Regex),
    /// A phrase of spaces only: AWS documents `" "` as the pattern matching every event.
    Anything,
}

impl Term {
    fn found_in(&self, message: &str) -> bool {
        match self {
            Term::Text(t) => message.contains(t.as_str()),
            Term::Regex(r) => r.is_match(message),
            Term::Anything => true,
        }
    }
}

/// Characters a bare term may not hold: they mean something in the syntax, so AWS wants the
/// term quoted ([unsure] exactly which; AWS's documentation asks for quotes around anything but
/// letters, digits and underscores, while real patterns pass `request-id` or `ERROR:` bare).
const RESERVED: &[char] = &['"', '{', '}', '[', ']', '%', '?'];

/// Parses a term pattern (already trimmed, not starting with `{` or `[`).
pub(crate) fn parse(text: &str) -> Result<Terms, Refusal> {
    let mut terms = Terms::default();
    let mut rest = text;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(terms);
        }
        let list = if let Some(r) = rest.strip_prefix('?') {
            rest = r;
            &mut terms.optional
        } else if let Some(r) = rest.strip_prefix('-').filter(|r| !r.is_empty()) {
            // A minus alone (`"ERROR" - "Exiting"`, AWS's example) excludes the next term.
            rest = r.trim_start();
            &mut terms.excluded
        } else {
            &mut terms.required
        };
        let (term, used) = read_term(rest)?;
        list.push(term);
        rest = &rest[used..];
    }
}

/// The term at the start of `s`, and the bytes it took.
fn read_term(s: &str) -> Result<(Term, usize), Refusal> {
    if let Some(body) = s.strip_prefix('"') {
        let (text, used) = quoted(body).ok_or_else(invalid)?;
        let term = if text.is_empty() {
            // Quoted from AWS in DefangLabs/defang#1008.
            return Err(invalid_characters("\"\""));
        } else if text.trim().is_empty() {
            Term::Anything
        } else {
            Term::Text(text)
        };
        return Ok((term, 1 + used));
    }
    if let Some(body) = s.strip_prefix('%') {
        let end = body.find('%').ok_or_else(invalid)?;
        return Ok((Term::Regex(regex(&body[..end])?), end + 2));
    }
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    let word = &s[..end];
    if word.is_empty() || word.contains(RESERVED) {
        return Err(invalid_characters(word));
    }
    Ok((Term::Text(word.to_string()), end))
}

/// Quoted from AWS in dougmoscrop/serverless-plugin-log-subscription#47.
fn invalid_characters(term: &str) -> Refusal {
    Refusal::InvalidParameter(format!("Invalid character(s) in term '{term}'"))
}

impl Terms {
    /// Whether `message` matches.
    pub(crate) fn matches(&self, message: &str) -> bool {
        self.required.iter().all(|t| t.found_in(message))
            && (self.optional.is_empty() || self.optional.iter().any(|t| t.found_in(message)))
            && !self.excluded.iter().any(|t| t.found_in(message))
    }
}

#[cfg(test)]
mod tests {
    use super::super::Pattern;

    fn matches(pattern: &str, message: &str) -> bool {
        Pattern::parse(pattern).unwrap().matches(message)
    }

    #[test]
    fn every_term_must_appear_case_sensitively() {
        assert!(matches("ERROR", "[ERROR] A fatal exception has occurred"));
        assert!(matches("ERROR", "Exiting with ERRORCODE: -1"));
        assert!(!matches("ERROR", "error: lower case"));
        assert!(matches(
            "ERROR Exception",
            "[ERROR] Caught IllegalArgumentException"
        ));
        assert!(!matches("ERROR Exception", "[ERROR] Caught nothing"));
    }

    #[test]
    fn quoted_phrases_match_exactly() {
        assert!(matches(
            "\"Failed to process the request\"",
            "[WARN] Failed to process the request"
        ));
        assert!(!matches(
            "\"Failed to process the request\"",
            "[WARN] Failed to process request the"
        ));
        assert!(matches(r#""say \"hi\"""#, r#"they say "hi" twice"#));
        assert!(matches("\" \"", "x"));
    }

    #[test]
    fn optional_terms_need_any_one() {
        let cases = [
            "ERROR WARN message",
            "ERROR message",
            "WARN message",
            "INFO message",
        ];
        let hits: Vec<bool> = cases.iter().map(|m| matches("?ERROR ?WARN", m)).collect();
        assert_eq!(hits, [true, true, true, false]);
        let hits: Vec<bool> = cases.iter().map(|m| matches("ERROR WARN", m)).collect();
        assert_eq!(hits, [true, false, false, false]);
    }

    #[test]
    fn excluded_terms_must_not_appear() {
        let cases = ["ERROR WARN message", "ERROR message", "WARN message"];
        let hits: Vec<bool> = cases.iter().map(|m| matches("ERROR -WARN", m)).collect();
        assert_eq!(hits, [false, true, false]);
        assert!(!matches(
            "\"ERROR\" - \"Exiting\"",
            "Exiting with ERRORCODE: -1"
        ));
        assert!(matches(
            "\"ERROR\" - \"Exiting\"",
            "[ERROR] A fatal exception"
        ));
        assert!(matches("-DEBUG", "INFO started"));
        assert!(!matches("-DEBUG", "DEBUG noise"));
    }

    #[test]
    fn bad_terms_are_refused_with_aws_text() {
        for (pattern, term) in [("a\"b", "a\"b"), ("x?y", "x?y"), ("\"\"", "\"\"")] {
            let err = Pattern::parse(pattern).unwrap_err().into_error();
            assert_eq!(err.code(), "InvalidParameterException");
            assert_eq!(
                err.message(),
                format!("Invalid character(s) in term '{term}'")
            );
        }
        let err = Pattern::parse("\"unterminated").unwrap_err().into_error();
        assert_eq!(err.message(), "Invalid filter pattern");
    }
}
