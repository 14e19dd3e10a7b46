//! `NextToken`s: where the next page starts, tied to the request that made it. A token is the
//! operation's kind, a fingerprint of the request's filters and an offset, hex-encoded; it
//! holds no state on our side (the next page is the same query from the offset on), and a
//! token given to another operation or with other filters is refused.

/// A fingerprint of a request's filters (FNV-1a over the parts, separated).
pub(crate) fn fingerprint(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain(std::iter::once(0x1f)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The token for the page starting at `offset`.
pub(crate) fn token(kind: &str, fingerprint: u64, offset: usize) -> String {
    let plain = format!("{kind}:{fingerprint:016x}:{offset}");
    plain.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The offset a token names, if it is one of `kind` made for the same filters.
pub(crate) fn offset(token: &str, kind: &str, fingerprint: u64) -> Option<usize> {
    if !token.len().is_multiple_of(2) || !token.is_ascii() {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16).ok())
        .collect();
    let plain = String::from_utf8(bytes?).ok()?;
    let mut parts = plain.splitn(3, ':');
    let (k, f, o) = (parts.next()?, parts.next()?, parts.next()?);
    if k != kind || u64::from_str_radix(f, 16).ok()? != fingerprint {
        return None;
    }
    o.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_only_for_their_request() {
        let f = fingerprint(&["Test", "m"]);
        let t = token("ListMetrics", f, 500);
        assert_eq!(offset(&t, "ListMetrics", f), Some(500));
        assert_eq!(offset(&t, "DescribeAlarms", f), None);
        assert_eq!(offset(&t, "ListMetrics", fingerprint(&["Other"])), None);
        assert_eq!(offset("garbage", "ListMetrics", f), None);
        assert_ne!(fingerprint(&["ab", "c"]), fingerprint(&["a", "bc"]));
    }
}
