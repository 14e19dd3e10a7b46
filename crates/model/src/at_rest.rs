//! Encryption at rest (`AtRestEncryptionEnabled`, `KmsKeyId`): which key seals a group's data
//! files and snapshots.
//!
//! Stored in the spec as `Option<AtRestEncryption>`: `None` is encryption off, so an old spec
//! without the field reads as off. There is no KMS here: a `KmsKeyId` names a local master key
//! that Ferrocache creates on first use (see the `ferrocache-encryption` crate).

use serde::{Deserialize, Serialize};

use crate::Fault;

/// The key id used when encryption is asked for without a `KmsKeyId` (AWS's default
/// ElastiCache-managed key).
pub const DEFAULT_KEY_ID: &str = "alias/aws/elasticache";
/// Longest `KmsKeyId` accepted (AWS's limit for key ids, ARNs and aliases).
pub const KMS_KEY_ID_LEN_MAX: usize = 2048;

/// Encryption at rest is on, with this key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AtRestEncryption {
    /// The `KmsKeyId` the user gave, if any (reported back as given).
    #[serde(default)]
    pub kms_key_id: Option<String>,
}

impl AtRestEncryption {
    /// The master key's id: the user's `KmsKeyId`, or [`DEFAULT_KEY_ID`].
    #[must_use]
    pub fn key_id(&self) -> &str {
        self.kms_key_id.as_deref().unwrap_or(DEFAULT_KEY_ID)
    }
}

/// The setting a `CreateReplicationGroup` asks for.
///
/// # Errors
/// [`Fault::InvalidParameterCombination`] for a `KmsKeyId` without encryption enabled,
/// [`Fault::InvalidParameterValue`] for an empty or overlong key id.
pub fn on_create(
    enabled: Option<bool>,
    kms_key_id: Option<&str>,
) -> Result<Option<AtRestEncryption>, Fault> {
    if let Some(id) = kms_key_id {
        if id.trim().is_empty() || id.len() > KMS_KEY_ID_LEN_MAX || id.chars().any(char::is_control)
        {
            return Err(Fault::value(format!("Invalid KmsKeyId: {id}")));
        }
    }
    match (enabled.unwrap_or(false), kms_key_id) {
        (true, id) => Ok(Some(AtRestEncryption {
            kms_key_id: id.map(str::to_string),
        })),
        (false, None) => Ok(None),
        // Our text: AWS documents the rule (the key is for encryption at rest) but no message.
        (false, Some(_)) => Err(Fault::combination(
            "KmsKeyId can be specified only when AtRestEncryptionEnabled is true.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_rules() {
        assert_eq!(on_create(None, None).unwrap(), None);
        let on = on_create(Some(true), None).unwrap().unwrap();
        assert_eq!(on.key_id(), DEFAULT_KEY_ID);
        let arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
        let own = on_create(Some(true), Some(arn)).unwrap().unwrap();
        assert_eq!(own.key_id(), arn);
        assert!(matches!(
            on_create(Some(false), Some(arn)),
            Err(Fault::InvalidParameterCombination(_))
        ));
        assert!(matches!(
            on_create(Some(true), Some(" ")),
            Err(Fault::InvalidParameterValue(_))
        ));
    }
}
