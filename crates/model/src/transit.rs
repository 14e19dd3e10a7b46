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

/// The setting after a `ModifyReplicationGroup` that sends `enabled`
/// (`TransitEncryptionEnabled`) and/or `mode` (`TransitEncryptionMode`) to a group whose
/// setting is `current`, following AWS's migration path: encryption is turned on with mode
/// `preferred` (TLS and plaintext both accepted), then moved to `required` in a later request
/// once every client uses TLS; it is turned off only from `preferred`.
///
/// # Errors
/// [`Fault::InvalidParameterValue`] for an unknown mode; [`Fault::InvalidParameterCombination`]
/// for a step off the path.
pub fn on_modify(
    current: Option<TransitEncryptionMode>,
    enabled: Option<bool>,
    mode: Option<&str>,
) -> Result<Option<TransitEncryptionMode>, Fault> {
    use TransitEncryptionMode::{Preferred, Required};
    let mode = mode.map(TransitEncryptionMode::parse).transpose()?;
    let mode_without_encryption = || {
        Fault::combination(
            "To modify transit encryption mode, set encryption-in-transit as enabled.",
        )
    };
    match (current, enabled, mode) {
        (current, None, None) => Ok(current),
        (None, Some(false), None) => Ok(None),
        (None, Some(false) | None, Some(_)) => Err(mode_without_encryption()),
        (None, Some(true), Some(Preferred)) => Ok(Some(Preferred)),
        (None, Some(true), None | Some(Required)) => Err(Fault::combination(
            "When enabling encryption in transit on an existing replication group, TransitEncryptionMode must be set to preferred. Set it to required in a later modification, once all clients use encrypted connections.",
        )),
        (Some(current), Some(true), None) => Ok(Some(current)),
        (Some(_), Some(true) | None, Some(mode)) => Ok(Some(mode)),
        (Some(Preferred), Some(false), None | Some(Preferred)) => Ok(None),
        (Some(Preferred), Some(false), Some(Required)) => Err(mode_without_encryption()),
        (Some(Required), Some(false), _) => Err(Fault::combination(
            "To disable encryption in transit, first set TransitEncryptionMode to preferred.",
        )),
    }
}

/// AWS refuses `preferred` (plaintext still accepted) on a group with access control — an
/// AUTH token or user groups (RBAC) — since the credentials would cross in plaintext. The text
/// is AWS's, as Terraform users report it.
///
/// # Errors
/// [`Fault::InvalidParameterCombination`].
pub fn check_access_control(
    mode: Option<TransitEncryptionMode>,
    access_control: bool,
) -> Result<(), Fault> {
    if access_control && mode == Some(TransitEncryptionMode::Preferred) {
        return Err(Fault::combination(
            "Transit encryption preferred is not supported with redis access control.",
        ));
    }
    Ok(())
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

    // Goal: ModifyReplicationGroup follows AWS's migration path: off -> preferred (with
    // TransitEncryptionEnabled=true in the same request) -> required, back to preferred, off
    // only from preferred. Method: every step and the steps off the path.
    #[test]
    fn modify_follows_the_migration_path() {
        use TransitEncryptionMode::{Preferred, Required};
        assert_eq!(on_modify(None, None, None).unwrap(), None);
        assert_eq!(
            on_modify(Some(Required), None, None).unwrap(),
            Some(Required)
        );
        assert_eq!(
            on_modify(None, Some(true), Some("preferred")).unwrap(),
            Some(Preferred)
        );
        assert_eq!(
            on_modify(Some(Preferred), None, Some("required")).unwrap(),
            Some(Required)
        );
        assert_eq!(
            on_modify(Some(Preferred), Some(true), Some("required")).unwrap(),
            Some(Required)
        );
        assert_eq!(
            on_modify(Some(Required), None, Some("preferred")).unwrap(),
            Some(Preferred)
        );
        assert_eq!(on_modify(Some(Preferred), Some(false), None).unwrap(), None);
        assert_eq!(on_modify(None, Some(false), None).unwrap(), None);
        for refused in [
            on_modify(None, Some(true), None),
            on_modify(None, Some(true), Some("required")),
            on_modify(None, None, Some("preferred")),
            on_modify(Some(Required), Some(false), None),
            on_modify(Some(Preferred), Some(false), Some("required")),
        ] {
            assert!(
                matches!(refused, Err(Fault::InvalidParameterCombination(_))),
                "{refused:?}"
            );
        }
        assert!(matches!(
            on_modify(Some(Preferred), None, Some("sometimes")),
            Err(Fault::InvalidParameterValue(_))
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
