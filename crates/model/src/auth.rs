//! AUTH tokens: the password of the built-in `default` user on every node of a group (or a
//! standalone cache cluster), with ElastiCache's rules for the token and for changing it.
//!
//! The spec keeps the tokens the `default` user accepts: none (auth off), one, or two during a
//! rotation (`ROTATE` keeps the previous token valid next to the new one; `SET` keeps only the
//! new one). The control plane applies them with `ACL SETUSER default` on every node (see
//! `control::reconcile::access`), which leaves connected clients connected.

use serde::{Deserialize, Serialize};

use crate::{Fault, Timestamp};

/// Shortest AUTH token AWS accepts.
pub const AUTH_TOKEN_LEN_MIN: usize = 16;
/// Longest AUTH token AWS accepts.
pub const AUTH_TOKEN_LEN_MAX: usize = 128;
/// AWS's answer to a token that breaks the rules; it never says which rule, so it leaks
/// nothing about the token.
pub const INVALID_TOKEN: &str = "Invalid AuthToken provided.";
/// AWS's answer to a token on a group without encryption in transit.
pub const TOKEN_NEEDS_TRANSIT: &str =
    "The AUTH token is only supported when encryption-in-transit is enabled";

/// How `ModifyReplicationGroup` changes the token (`AuthTokenUpdateStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuthTokenUpdateStrategy {
    /// Add the new token, keeping the current one valid (the default).
    Rotate,
    /// Keep only the new token.
    Set,
    /// Turn AUTH off (only when moving to user groups).
    Delete,
}

impl AuthTokenUpdateStrategy {
    /// Parses the wire value.
    ///
    /// # Errors
    /// [`Fault::InvalidParameterValue`] for anything but `ROTATE`, `SET`, `DELETE`.
    pub fn parse(value: &str) -> Result<Self, Fault> {
        match value {
            "ROTATE" => Ok(Self::Rotate),
            "SET" => Ok(Self::Set),
            "DELETE" => Ok(Self::Delete),
            other => Err(Fault::value(format!(
                "Invalid value {other} for AuthTokenUpdateStrategy."
            ))),
        }
    }

    /// `PendingModifiedValues.AuthTokenStatus` while the change is applied.
    #[must_use]
    pub fn pending_status(self) -> &'static str {
        match self {
            Self::Rotate => "ROTATING",
            Self::Set | Self::Delete => "SETTING",
        }
    }
}

/// The AUTH tokens of a group or standalone cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthTokens {
    /// Tokens the `default` user accepts, oldest first (at most two).
    pub tokens: Vec<String>,
    /// When the tokens last changed (`AuthTokenLastModifiedDate`).
    pub last_modified: Option<Timestamp>,
    /// The last change's strategy, reported as pending while it is applied.
    pub last_strategy: Option<AuthTokenUpdateStrategy>,
    /// The spec generation that carries the last change: it is pending
    /// (`PendingModifiedValues.AuthTokenStatus`) until the observed generation reaches it.
    #[serde(default)]
    pub generation: u64,
}

impl AuthTokens {
    /// `AuthTokenEnabled`.
    #[must_use]
    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// The tokens a `Create*` request sets: `token` (checked), only with encryption in transit.
    ///
    /// # Errors
    /// [`Fault::InvalidParameterValue`] with AWS's messages.
    pub fn on_create(
        token: Option<&str>,
        transit_encryption: bool,
        now: Timestamp,
    ) -> Result<AuthTokens, Fault> {
        let Some(token) = token else {
            return Ok(AuthTokens::default());
        };
        if !transit_encryption {
            return Err(Fault::value(TOKEN_NEEDS_TRANSIT));
        }
        check_token(token)?;
        Ok(AuthTokens {
            tokens: vec![token.to_string()],
            last_modified: Some(now),
            last_strategy: None,
            generation: 0,
        })
    }

    /// The tokens after `ModifyReplicationGroup`'s `AuthToken`/`AuthTokenUpdateStrategy`.
    /// `moving_to_user_groups` says the same request adds user groups (the only case in which
    /// AWS lets `DELETE` turn AUTH off).
    ///
    /// # Errors
    /// [`Fault::InvalidParameterValue`] / [`Fault::InvalidParameterCombination`].
    pub fn modified(
        &self,
        token: Option<&str>,
        strategy: Option<&str>,
        transit_encryption: bool,
        moving_to_user_groups: bool,
        now: Timestamp,
    ) -> Result<AuthTokens, Fault> {
        let strategy = strategy
            .map(AuthTokenUpdateStrategy::parse)
            .transpose()?
            .unwrap_or(AuthTokenUpdateStrategy::Rotate);
        let tokens = match (strategy, token) {
            (AuthTokenUpdateStrategy::Delete, Some(_)) => {
                return Err(Fault::combination(
                    "AuthToken cannot be specified with AuthTokenUpdateStrategy DELETE.",
                ))
            }
            (AuthTokenUpdateStrategy::Delete, None) => {
                if !self.enabled() {
                    return Err(Fault::combination(
                        "AuthTokenUpdateStrategy DELETE requires a replication group with an AUTH token.",
                    ));
                }
                if !moving_to_user_groups {
                    return Err(Fault::combination(
                        "AuthTokenUpdateStrategy DELETE is only allowed when migrating to role-based access control with UserGroupIdsToAdd.",
                    ));
                }
                Vec::new()
            }
            (_, None) => {
                return Err(Fault::MissingParameter("AuthToken".to_string()));
            }
            (strategy, Some(token)) => {
                if !transit_encryption {
                    return Err(Fault::value(TOKEN_NEEDS_TRANSIT));
                }
                check_token(token)?;
                match strategy {
                    // The newest current token stays valid next to the new one; with two
                    // tokens already, the older one goes.
                    AuthTokenUpdateStrategy::Rotate => self
                        .tokens
                        .last()
                        .filter(|current| current.as_str() != token)
                        .cloned()
                        .into_iter()
                        .chain(std::iter::once(token.to_string()))
                        .collect(),
                    _ => {
                        if !self.enabled() {
                            return Err(Fault::combination(
                                "AuthTokenUpdateStrategy SET requires a replication group with an AUTH token; use ROTATE to add one.",
                            ));
                        }
                        vec![token.to_string()]
                    }
                }
            }
        };
        Ok(AuthTokens {
            tokens,
            last_modified: Some(now),
            last_strategy: Some(strategy),
            generation: 0,
        })
    }

    /// `PendingModifiedValues.AuthTokenStatus` (`ROTATING`/`SETTING`) while the last change
    /// has not reached every node, given the generation the control plane has carried out.
    #[must_use]
    pub fn pending_status(&self, observed_generation: u64) -> Option<&'static str> {
        let strategy = self.last_strategy?;
        (observed_generation < self.generation).then(|| strategy.pending_status())
    }

    /// The `default` user's rules on the nodes: everything, with the tokens as its passwords
    /// (`nopass` when there are none).
    #[must_use]
    pub fn default_user_rules(&self) -> Vec<String> {
        let mut rules = vec!["on".to_string()];
        if self.tokens.is_empty() {
            rules.push("nopass".to_string());
        }
        rules.extend(self.tokens.iter().map(|t| format!(">{t}")));
        rules.extend(["~*", "&*", "+@all"].map(String::from));
        rules
    }
}

/// ElastiCache's token rules: 16 to 128 printable ASCII characters, no space, `"`, `/` or
/// `@`. The message never says which rule was broken.
///
/// # Errors
/// [`Fault::InvalidParameterValue`] `Invalid AuthToken provided.`
pub fn check_token(token: &str) -> Result<(), Fault> {
    let allowed = |c: char| c.is_ascii_graphic() && !matches!(c, '"' | '/' | '@');
    let len = token.chars().count();
    if !(AUTH_TOKEN_LEN_MIN..=AUTH_TOKEN_LEN_MAX).contains(&len) || !token.chars().all(allowed) {
        return Err(Fault::value(INVALID_TOKEN));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        chrono::Utc::now()
    }

    #[test]
    fn token_rules() {
        assert!(check_token("abcdefghijklmnop").is_ok());
        assert!(check_token(&"a".repeat(128)).is_ok());
        assert!(check_token("!&#$^<>-abcdefgh%").is_ok());
        for bad in [
            "short".to_string(),
            "a".repeat(129),
            "abcdefgh ijklmnop".to_string(),
            "abcdefgh\"ijklmnop".to_string(),
            "abcdefgh/ijklmnop".to_string(),
            "abcdefgh@ijklmnop".to_string(),
            "abcdefghijklmnopé".to_string(),
        ] {
            assert_eq!(
                check_token(&bad),
                Err(Fault::value(INVALID_TOKEN)),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn create_needs_transit_encryption() {
        let token = Some("abcdefghijklmnop");
        assert_eq!(
            AuthTokens::on_create(token, false, now()),
            Err(Fault::value(TOKEN_NEEDS_TRANSIT))
        );
        let created = AuthTokens::on_create(token, true, now()).unwrap();
        assert!(created.enabled());
        assert!(!AuthTokens::on_create(None, true, now()).unwrap().enabled());
    }

    #[test]
    fn rotate_keeps_one_previous_token_and_set_keeps_none() {
        let (a, b, c) = ("a".repeat(16), "b".repeat(16), "c".repeat(16));
        let start = AuthTokens::on_create(Some(&a), true, now()).unwrap();
        let rotated = start
            .modified(Some(&b), Some("ROTATE"), true, false, now())
            .unwrap();
        assert_eq!(rotated.tokens, [a.clone(), b.clone()]);
        let again = rotated
            .modified(Some(&c), None, true, false, now())
            .unwrap();
        assert_eq!(again.tokens, [b.clone(), c.clone()]);
        let set = again
            .modified(Some(&a), Some("SET"), true, false, now())
            .unwrap();
        assert_eq!(set.tokens, vec![a.clone()]);
        assert_eq!(set.last_strategy.unwrap().pending_status(), "SETTING");
        // ROTATE turns AUTH on for a group without it; SET cannot.
        let off = AuthTokens::default();
        assert_eq!(
            off.modified(Some(&a), Some("ROTATE"), true, false, now())
                .unwrap()
                .tokens,
            vec![a.clone()]
        );
        assert!(off
            .modified(Some(&a), Some("SET"), true, false, now())
            .is_err());
        assert!(start.modified(Some(&a), None, false, false, now()).is_err());
    }

    #[test]
    fn delete_only_when_moving_to_user_groups() {
        let start = AuthTokens::on_create(Some(&"a".repeat(16)), true, now()).unwrap();
        assert!(start
            .modified(None, Some("DELETE"), true, false, now())
            .is_err());
        let off = start
            .modified(None, Some("DELETE"), true, true, now())
            .unwrap();
        assert!(!off.enabled());
        assert_eq!(off.default_user_rules()[1], "nopass");
        assert!(start
            .modified(Some(&"b".repeat(16)), Some("DELETE"), true, true, now())
            .is_err());
        assert!(start
            .modified(None, Some("BOGUS"), true, true, now())
            .is_err());
    }
}
