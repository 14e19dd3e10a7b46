//! The XML writer for awsQuery responses: the success envelope, element helpers that always
//! close what they open, text escaping, and AWS's timestamp format.
//!
//! Hand-written rather than built on `quick-xml`'s writer because the responses are small,
//! written front to back, and need two things a generic writer leaves to the caller: closures
//! that make unbalanced tags impossible, and replacement of characters XML 1.0 cannot carry
//! (control characters in a client's description would otherwise make the whole response
//! unparsable for every SDK).

use ferrocache_model::Timestamp;

/// The ElastiCache namespace of every response and error.
pub const NAMESPACE: &str = "http://elasticache.amazonaws.com/doc/2015-02-02/";

/// An XML document being written.
#[derive(Debug, Default)]
pub struct Xml {
    /// The text so far.
    buf: String,
}

impl Xml {
    /// An empty document.
    pub fn new() -> Self {
        Self::default()
    }

    /// The text written.
    pub fn into_string(self) -> String {
        self.buf
    }

    /// `<name>…</name>` with children written by `f`.
    pub fn element(&mut self, name: &str, f: impl FnOnce(&mut Xml)) {
        self.open(name);
        f(self);
        self.close(name);
    }

    /// `<name>text</name>`, the text escaped.
    pub fn text(&mut self, name: &str, value: &str) {
        self.open(name);
        escape_into(&mut self.buf, value);
        self.close(name);
    }

    /// [`Xml::text`] when `value` is present; nothing otherwise (botocore leaves the member out).
    pub fn text_opt(&mut self, name: &str, value: Option<&str>) {
        if let Some(v) = value {
            self.text(name, v);
        }
    }

    /// `<name>true</name>` / `<name>false</name>`.
    pub fn boolean(&mut self, name: &str, value: bool) {
        self.text(name, if value { "true" } else { "false" });
    }

    /// An integer element.
    pub fn integer(&mut self, name: &str, value: i64) {
        self.text(name, &value.to_string());
    }

    /// A floating-point element (`ProgressPercentage`), with one decimal.
    pub fn double(&mut self, name: &str, value: f64) {
        self.text(name, &format!("{value:.1}"));
    }

    /// A timestamp element in AWS's form, `2019-11-26T01:22:52.396Z`.
    pub fn timestamp(&mut self, name: &str, value: &Timestamp) {
        self.text(name, &timestamp(value));
    }

    /// `<name/>`: an empty structure or list (AWS samples show empty `PendingModifiedValues`).
    pub fn empty(&mut self, name: &str) {
        self.buf.push('<');
        self.buf.push_str(name);
        self.buf.push_str("/>");
    }

    /// A list: `<name><member>…</member>…</name>`, each item written by `f` inside its
    /// `<member>` element; `<name/>` when empty.
    pub fn list<T>(
        &mut self,
        name: &str,
        member: &str,
        items: impl IntoIterator<Item = T>,
        mut f: impl FnMut(&mut Xml, T),
    ) {
        let mut items = items.into_iter().peekable();
        if items.peek().is_none() {
            self.empty(name);
            return;
        }
        self.element(name, |x| {
            for item in items {
                x.element(member, |x| f(x, item));
            }
        });
    }

    /// A list of strings: `<name><member>text</member>…</name>`.
    pub fn text_list<'a>(
        &mut self,
        name: &str,
        member: &str,
        items: impl IntoIterator<Item = &'a str>,
    ) {
        let mut items = items.into_iter().peekable();
        if items.peek().is_none() {
            self.empty(name);
            return;
        }
        self.element(name, |x| {
            for item in items {
                x.text(member, item);
            }
        });
    }

    fn open(&mut self, name: &str) {
        self.buf.push('<');
        self.buf.push_str(name);
        self.buf.push('>');
    }

    fn close(&mut self, name: &str) {
        self.buf.push_str("</");
        self.buf.push_str(name);
        self.buf.push('>');
    }
}

/// AWS's timestamp form: UTC, milliseconds, `Z`.
pub fn timestamp(value: &Timestamp) -> String {
    value.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Escapes `value` for element text.
///
/// `&`, `<`, `>`, `"`, `'` become entities; `\r` becomes `&#13;` (a parser would otherwise turn
/// it into `\n`); characters XML 1.0 cannot carry at all (controls other than tab and newline,
/// U+FFFE, U+FFFF) become U+FFFD.
pub fn escape_into(buf: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => buf.push_str("&amp;"),
            '<' => buf.push_str("&lt;"),
            '>' => buf.push_str("&gt;"),
            '"' => buf.push_str("&quot;"),
            '\'' => buf.push_str("&apos;"),
            '\r' => buf.push_str("&#13;"),
            '\t' | '\n' => buf.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => buf.push('\u{FFFD}'),
            c => buf.push(c),
        }
    }
}

/// The success envelope of `action`:
/// `<ActionResponse xmlns=…><ActionResult>result</ActionResult><ResponseMetadata>…`.
/// An empty `result` is an operation without output (`DeleteCacheParameterGroup`, …): AWS
/// then writes no `<ActionResult>` at all.
pub fn envelope(action: &str, request_id: &str, result: &str) -> String {
    let mut x = Xml::new();
    x.buf.reserve(result.len() + 256);
    x.buf
        .push_str(&format!("<{action}Response xmlns=\"{NAMESPACE}\">"));
    if !result.is_empty() {
        x.buf.push_str(&format!("<{action}Result>"));
        x.buf.push_str(result);
        x.buf.push_str(&format!("</{action}Result>"));
    }
    x.element("ResponseMetadata", |x| x.text("RequestId", request_id));
    x.buf.push_str(&format!("</{action}Response>"));
    x.into_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: all text is escaped, and characters XML cannot carry never reach the output.
    // Method: escape a hostile string and check the result byte by byte.
    #[test]
    fn escaping() {
        let mut s = String::new();
        escape_into(&mut s, "a&b<c>d\"e'f\rg\th\ni\u{0}j\u{1b}k\u{FFFF}lé");
        assert_eq!(
            s,
            "a&amp;b&lt;c&gt;d&quot;e&apos;f&#13;g\th\ni\u{FFFD}j\u{FFFD}k\u{FFFD}lé"
        );
    }

    // Goal: timestamps look like AWS's (`2019-11-26T01:22:52.396Z`). Method: format a known time
    // with and without sub-second parts.
    #[test]
    fn timestamps_have_millis_and_z() {
        let t = chrono::DateTime::parse_from_rfc3339("2019-11-26T01:22:52.396789Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(timestamp(&t), "2019-11-26T01:22:52.396Z");
        let t = chrono::DateTime::parse_from_rfc3339("2019-11-26T01:22:52Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(timestamp(&t), "2019-11-26T01:22:52.000Z");
    }

    // Goal: the writer balances tags, writes empty lists as empty elements, and the envelope
    // carries the namespace, result wrapper and request id. Method: write a small document.
    #[test]
    fn envelope_and_lists() {
        let mut x = Xml::new();
        x.text_list("MemberClusters", "ClusterId", ["a-001", "a-002"]);
        x.text_list("UserGroupIds", "member", std::iter::empty());
        x.list("SecurityGroups", "member", ["sg-1"], |x, id| {
            x.text("SecurityGroupId", id);
            x.text("Status", "active");
        });
        x.boolean("ClusterEnabled", false);
        x.integer("Port", 6379);
        x.text_opt("Absent", None);
        let body = envelope("DescribeThings", "rid-1", &x.into_string());
        assert_eq!(
            body,
            "<DescribeThingsResponse xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\"><DescribeThingsResult>\
             <MemberClusters><ClusterId>a-001</ClusterId><ClusterId>a-002</ClusterId></MemberClusters><UserGroupIds/>\
             <SecurityGroups><member><SecurityGroupId>sg-1</SecurityGroupId><Status>active</Status></member></SecurityGroups>\
             <ClusterEnabled>false</ClusterEnabled><Port>6379</Port></DescribeThingsResult>\
             <ResponseMetadata><RequestId>rid-1</RequestId></ResponseMetadata></DescribeThingsResponse>"
        );
    }
}
