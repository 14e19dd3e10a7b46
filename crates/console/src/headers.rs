//! The headers every console answer carries.
//!
//! The content security policy allows only this origin's own scripts, styles, images and
//! API calls: no inline script, no `eval`, nothing from the internet, no framing. The page
//! itself is always revalidated (`no-cache`) so a new binary's UI shows at the next load; the
//! bundle is revalidated too (its name is fixed), cheaply, by entity tag.

/// `Content-Security-Policy` of every console answer.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// `Cache-Control` of every console answer: keep, but ask again before each use.
pub const CACHE_CONTROL: &str = "no-cache";

/// Further fixed headers: no MIME sniffing, no framing (for browsers that ignore
/// `frame-ancestors`), no referrer sent to other sites.
pub const FIXED: &[(&str, &str)] = &[
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_forbids_inline_script_and_other_origins() {
        assert!(CONTENT_SECURITY_POLICY.starts_with("default-src 'self';"));
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-eval"));
        assert!(!CONTENT_SECURITY_POLICY.contains("http"));
    }
}
