//! Paging tokens: what `nextToken`, `nextForwardToken` and `nextBackwardToken` carry, and event
//! ids.
//!
//! An event's place is its key, `(timestamp, sequence)` packed into a `u128` (see
//! [`crate::query::event_key`]). An event token names a boundary between keys and a direction:
//! `f/<56 digits>/s` reads the events at or after the boundary, `b/<56 digits>/s` those before
//! it — the shape AWS's tokens have (`f/37199984602912945150919581120365194235947007390943215618/s`
//! in a user's quote of the CLI); the `/s` is optional on input. Because a boundary is a key, not
//! an index, a token stays right while events expire or arrive.
//!
//! Listing tokens (`DescribeLogGroups`, `DescribeLogStreams`) name the last item handed out, in
//! hex so that any name survives.

use crate::error::Refusal;
use crate::query::Direction;

/// Digits in an event token or id (as AWS's).
const DIGITS: usize = 56;

/// The token for reading on from `boundary` in `direction`.
pub(crate) fn event_token(direction: Direction, boundary: u128) -> String {
    let d = match direction {
        Direction::Forward => 'f',
        Direction::Backward => 'b',
    };
    format!("{d}/{boundary:0DIGITS$}/s")
}

/// The direction and boundary of an event token.
pub(crate) fn parse_event_token(token: &str) -> Result<(Direction, u128), Refusal> {
    let (direction, rest) = if let Some(rest) = token.strip_prefix("f/") {
        (Direction::Forward, rest)
    } else if let Some(rest) = token.strip_prefix("b/") {
        (Direction::Backward, rest)
    } else {
        return Err(Refusal::InvalidNextToken);
    };
    let digits = rest.strip_suffix("/s").unwrap_or(rest);
    if digits.is_empty() || digits.len() > DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Refusal::InvalidNextToken);
    }
    let boundary = digits.parse().map_err(|_| Refusal::InvalidNextToken)?;
    Ok((direction, boundary))
}

/// An event's `eventId`: its key in AWS's 56-digit shape, unique within its log group.
pub(crate) fn event_id(key: u128) -> String {
    format!("{key:0DIGITS$}")
}

/// What a listing token remembers: the sort key of the last item handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListCursor {
    /// After this name (groups; streams by name).
    Name(String),
    /// After this stream in `LastEventTime` order.
    EventTime(i64, String),
}

/// The token for listing on after `cursor`.
pub(crate) fn list_token(cursor: &ListCursor) -> String {
    match cursor {
        ListCursor::Name(name) => format!("n/{}", hex(name)),
        ListCursor::EventTime(ts, name) => format!("t/{ts}/{}", hex(name)),
    }
}

/// The cursor a listing token remembers.
pub(crate) fn parse_list_token(token: &str) -> Result<ListCursor, Refusal> {
    let cursor = if let Some(name) = token.strip_prefix("n/") {
        ListCursor::Name(unhex(name).ok_or(Refusal::InvalidNextToken)?)
    } else if let Some(rest) = token.strip_prefix("t/") {
        let (ts, name) = rest.split_once('/').ok_or(Refusal::InvalidNextToken)?;
        let ts = ts.parse().map_err(|_| Refusal::InvalidNextToken)?;
        ListCursor::EventTime(ts, unhex(name).ok_or(Refusal::InvalidNextToken)?)
    } else {
        return Err(Refusal::InvalidNextToken);
    };
    Ok(cursor)
}

/// A 56-digit `nextSequenceToken` (AWS still sends one though it ignores them).
pub(crate) fn sequence_token(n: u64) -> String {
    format!("{n:0DIGITS$}")
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    if s.len() % 2 == 1 {
        return None;
    }
    let bytes = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_tokens_round_trip_in_aws_shape() {
        let t = event_token(Direction::Forward, 12345);
        assert_eq!(t.len(), 2 + 56 + 2);
        assert!(t.starts_with("f/000") && t.ends_with("5/s"));
        assert_eq!(parse_event_token(&t), Ok((Direction::Forward, 12345)));
        let b = event_token(Direction::Backward, u128::MAX);
        assert_eq!(parse_event_token(&b), Ok((Direction::Backward, u128::MAX)));
        assert_eq!(parse_event_token("b/7"), Ok((Direction::Backward, 7)));
        for bad in [
            "invalid-token",
            "f/",
            "x/1",
            "f/12a",
            "f/1/t",
            &"f/9".repeat(40),
        ] {
            assert_eq!(
                parse_event_token(bad),
                Err(Refusal::InvalidNextToken),
                "{bad}"
            );
        }
    }

    #[test]
    fn list_tokens_round_trip() {
        for c in [
            ListCursor::Name("/aws/elasticache/é".into()),
            ListCursor::EventTime(-5, "a/b".into()),
        ] {
            assert_eq!(parse_list_token(&list_token(&c)), Ok(c));
        }
        assert_eq!(parse_list_token("n/zz"), Err(Refusal::InvalidNextToken));
        assert_eq!(parse_list_token("q"), Err(Refusal::InvalidNextToken));
    }
}
