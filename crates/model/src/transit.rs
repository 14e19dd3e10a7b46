//! Encryption in transit: whether a group's (or standalone cluster's) endpoints speak TLS, and
//! whether they still accept plaintext while clients migrate.
//!
//! Stored in the spec as `Option<TransitEncryptionMode>`: `None` is encryption off, so an old
//! spec without the field reads as off.

use serde::{Deserialize, Serialize};

use crate::Fault;

/// `TransitEncryptionMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransitEncryptionMode {
    /// TLS and plaintext on the same port (the migration step).
    Preferred,
    /// TLS only; plaintext connections are refused.
    Required,
}

impl TransitEncryptionMode {
    /// The wire value, `preferred` or `required`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            TransitEncryptionMode::Preferred => "preferred",
            TransitEncryptionMode::Required => "required",
        }
    }

    /// Parses the wire value.
    ///
    /// # Errors
    /// [`Fault::InvalidParameterValue`] for anything but `preferred`/`required`.
    pub fn parse(value: &str) -> Result<Self, Fault> {
        match value {
            "preferred" => Ok(TransitEncryptionMode::Preferred),
            "required" => Ok(TransitEncryptionMode::Required),
            other => Err(Fault::value(format!(
                "Invalid value {other} for TransitEncryptionMode."
            ))),
        }
    }
}

/// The setting a `Create*` request asks for: `TransitEncryptionEnabled=true` alone means
/// `required` (AWS's default); `TransitEncryptionMode` may lower it to `preferred` in the same
/// request, and is meaningless without `TransitEncryptionEnabled=true`.
///
/// # Errors
/// [`Fault::InvalidParameterValue`] for an unknown mode, [`Fault::InvalidParameterCombination`]
/// for a mode without encryption enabled.
pub fn on_create(
    enabled: Option<bool>,
    mode: Option<&str>,
) -> Result<Option<TransitEncryptionMode>, Fault> {
    let mode = mode.map(TransitEncryptionMode::parse).transpose()?;
    match (enabled.unwrap_or(false), mode) {
        (true, mode) => Ok(Some(mode.unwrap_or(TransitEncryptionMode::Required))),
        (false, None) => Ok(None),
        // AWS's text for the same mistake on ModifyReplicationGroup (seen in Terraform issues).
        (false, Some(_)) => Err(Fault::combination(
            "To modify transit encryption mode, set encryption-in-transit as enabled.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_rules() {
        assert_eq!(on_create(None, None).unwrap(), None);
        assert_eq!(on_create(Some(false), None).unwrap(), None);
        assert_eq!(
            on_create(Some(true), None).unwrap(),
            Some(TransitEncryptionMode::Required)
        );
        assert_eq!(
            on_create(Some(true), Some("preferred")).unwrap(),
            Some(TransitEncryptionMode::Preferred)
        );
        assert!(matches!(
            on_create(Some(true), Some("optional")),
            Err(Fault::InvalidParameterValue(_))
        ));
        assert!(matches!(
            on_create(None, Some("preferred")),
            Err(Fault::InvalidParameterCombination(_))
        ));
    }

    #[test]
    fn stored_form_is_the_wire_value() {
        assert_eq!(
            serde_json::to_string(&TransitEncryptionMode::Preferred).unwrap(),
            "\"preferred\""
        );
    }
}
