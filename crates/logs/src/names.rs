//! Names and ARNs: the model's rules for log group and log stream names, the ARNs AWS shows for
//! them, and `logGroupIdentifier` (a name or an ARN) resolved to a name.

use crate::error::{self, Refusal};
use crate::input::Checks;

/// The model's pattern for a log group name, as the framework quotes it.
pub(crate) const GROUP_NAME_PATTERN: &str = r"[\.\-_/#A-Za-z0-9]+";

/// The model's pattern for a log stream name.
pub(crate) const STREAM_NAME_PATTERN: &str = "[^:*]*";

/// The model's pattern for `logGroupIdentifier`.
pub(crate) const IDENTIFIER_PATTERN: &str = r"[\w#+=/:,.@-]*";

/// Longest log group or stream name.
pub(crate) const MAX_NAME_CHARS: usize = 512;

/// Whether `c` may appear in a log group name.
fn group_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '#')
}

/// Checks a log group name member (`logGroupName`, `logGroupNamePrefix`): the special text for
/// an over-long name is the service's own and comes before the framework's clauses.
pub(crate) fn check_group_name(checks: &mut Checks, path: &str, name: &str) -> Result<(), Refusal> {
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(Refusal::InvalidParameter(error::NAME_TOO_LONG.into()));
    }
    if chars == 0 {
        checks.push(error::clause_too_short(path, name, 1));
    } else if !name.chars().all(group_name_char) {
        checks.push(error::clause_pattern(path, name, GROUP_NAME_PATTERN));
    }
    Ok(())
}

/// Checks a log stream name member (`logStreamName`, `logStreamNamePrefix`).
pub(crate) fn check_stream_name(
    checks: &mut Checks,
    path: &str,
    name: &str,
) -> Result<(), Refusal> {
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(Refusal::InvalidParameter(error::NAME_TOO_LONG.into()));
    }
    if chars == 0 {
        checks.push(error::clause_too_short(path, name, 1));
    } else if name.contains([':', '*']) {
        checks.push(error::clause_pattern(path, name, STREAM_NAME_PATTERN));
    }
    Ok(())
}

/// Checks a `logGroupIdentifier` member.
pub(crate) fn check_identifier(checks: &mut Checks, path: &str, identifier: &str) {
    let chars = identifier.chars().count();
    if chars == 0 {
        checks.push(error::clause_too_short(path, identifier, 1));
    } else if chars > 2048 {
        checks.push(error::clause_too_long(path, identifier, 2048));
    } else if !identifier
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || "#+=/:,.@-".contains(c))
    {
        checks.push(error::clause_pattern(path, identifier, IDENTIFIER_PATTERN));
    }
}

/// The AWS partition a region belongs to.
pub(crate) fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else if region.starts_with("us-iso-") {
        "aws-iso"
    } else if region.starts_with("us-isob-") {
        "aws-iso-b"
    } else {
        "aws"
    }
}

/// A log group's ARN without the trailing `:*` (`logGroupArn`).
pub(crate) fn group_arn(region: &str, account: &str, name: &str) -> String {
    format!(
        "arn:{}:logs:{region}:{account}:log-group:{name}",
        partition(region)
    )
}

/// A log stream's ARN.
pub(crate) fn stream_arn(region: &str, account: &str, group: &str, stream: &str) -> String {
    format!("{}:log-stream:{stream}", group_arn(region, account, group))
}

/// What a `logGroupIdentifier` or a tagging `resourceArn` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Identified {
    /// A group of this account and region, by name.
    Name(String),
    /// An ARN of another account or region, or not a log group's: no group here has it.
    Elsewhere,
}

/// Resolves a `logGroupIdentifier` (a log group name, or its ARN with or without `:*`) for a
/// caller of `account` in `region`.
pub(crate) fn resolve_identifier(region: &str, account: &str, identifier: &str) -> Identified {
    if !identifier.starts_with("arn:") {
        return Identified::Name(identifier.to_string());
    }
    // arn:<partition>:logs:<region>:<account>:log-group:<name>[:*]
    let mut parts = identifier.splitn(7, ':');
    let (Some(_), Some(_), Some(service), Some(arn_region), Some(arn_account), Some(kind), rest) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Identified::Elsewhere;
    };
    let Some(rest) = rest else {
        return Identified::Elsewhere;
    };
    if service != "logs" || kind != "log-group" || arn_region != region || arn_account != account {
        return Identified::Elsewhere;
    }
    let name = rest.strip_suffix(":*").unwrap_or(rest);
    if name.is_empty() || name.contains(':') {
        return Identified::Elsewhere;
    }
    Identified::Name(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_name_the_partition() {
        assert_eq!(
            group_arn("us-east-1", "123456789012", "/aws/elasticache/slow"),
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/elasticache/slow"
        );
        assert_eq!(
            stream_arn("cn-north-1", "1", "g", "s"),
            "arn:aws-cn:logs:cn-north-1:1:log-group:g:log-stream:s"
        );
    }

    #[test]
    fn identifiers_resolve_to_names_here_only() {
        let here = |id: &str| resolve_identifier("eu-west-1", "111", id);
        assert_eq!(here("my-group"), Identified::Name("my-group".into()));
        assert_eq!(
            here("arn:aws:logs:eu-west-1:111:log-group:/a/b"),
            Identified::Name("/a/b".into())
        );
        assert_eq!(
            here("arn:aws:logs:eu-west-1:111:log-group:/a/b:*"),
            Identified::Name("/a/b".into())
        );
        assert_eq!(
            here("arn:aws:logs:us-east-1:111:log-group:/a/b"),
            Identified::Elsewhere
        );
        assert_eq!(
            here("arn:aws:logs:eu-west-1:222:log-group:/a/b"),
            Identified::Elsewhere
        );
        assert_eq!(here("arn:aws:s3:::bucket"), Identified::Elsewhere);
    }

    #[test]
    fn names_are_checked_as_the_model_says() {
        let mut checks = Checks::default();
        check_group_name(&mut checks, "logGroupName", "ok/Name-1_.#").unwrap();
        assert!(checks.clauses().is_empty());
        check_group_name(&mut checks, "logGroupName", "has space").unwrap();
        assert_eq!(checks.clauses().len(), 1);
        assert!(checks.clauses()[0].contains(r"regular expression pattern: [\.\-_/#A-Za-z0-9]+"));
        assert_eq!(
            check_group_name(&mut checks, "logGroupName", &"a".repeat(513)),
            Err(Refusal::InvalidParameter(error::NAME_TOO_LONG.into()))
        );
        let mut checks = Checks::default();
        check_stream_name(&mut checks, "logStreamName", "node-0001 slow log").unwrap();
        assert!(checks.clauses().is_empty());
        check_stream_name(&mut checks, "logStreamName", "a:b").unwrap();
        assert_eq!(checks.clauses().len(), 1);
    }
}
