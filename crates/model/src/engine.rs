//! Engines and engine versions Ferrocache can run.
//!
//! Ferrocache runs the real `redis-server` it finds (Debian 12 ships 7.0.15), so the only engine
//! line it offers is Redis 7.0; requests for other versions are refused rather than faked.

use crate::Fault;

/// The engine name for Redis OSS.
pub const ENGINE_REDIS: &str = "redis";
/// The parameter group family of Redis 7.
pub const FAMILY_REDIS7: &str = "redis7";
/// The default parameter group of cluster-mode-disabled Redis 7 groups.
pub const DEFAULT_PARAMETER_GROUP: &str = "default.redis7";
/// The default parameter group of cluster-mode-enabled Redis 7 groups.
pub const DEFAULT_PARAMETER_GROUP_CLUSTER_ON: &str = "default.redis7.cluster.on";
/// The default parameter group of a group whose nodes run `cluster-enabled` `yes` or `no`.
pub fn default_parameter_group(cluster_enabled: bool) -> &'static str {
    match cluster_enabled {
        true => DEFAULT_PARAMETER_GROUP_CLUSTER_ON,
        false => DEFAULT_PARAMETER_GROUP,
    }
}

/// The engine version line we run; requests may say `7.0` or the full patch version.
pub const ENGINE_VERSION_LINE: &str = "7.0";

/// Validates the `Engine` member (`redis` only; `valkey`/`memcached` are not offered).
///
/// # Errors
/// [`Fault::InvalidParameterValue`] for any other engine.
pub fn engine(value: Option<&str>) -> Result<String, Fault> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None | Some("redis") => Ok(ENGINE_REDIS.to_string()),
        Some(other) => Err(Fault::value(format!(
            "Invalid value for Engine: {other}. Ferrocache supports only redis."
        ))),
    }
}

/// Validates `EngineVersion` against the running engine's version (e.g. `7.0.15`) and returns the
/// version to report: AWS reports the full version the cluster runs.
///
/// Accepted: absent, `7`, `7.0`, `7.x`, or the exact running version.
///
/// # Errors
/// [`Fault::InvalidParameterValue`] `Cannot find version <v> for redis` otherwise.
pub fn engine_version(requested: Option<&str>, running: &str) -> Result<String, Fault> {
    match requested {
        None => Ok(running.to_string()),
        Some(v) if v == running || v == "7" || v == "7.x" || v == ENGINE_VERSION_LINE => {
            Ok(running.to_string())
        }
        Some(v) if running.starts_with(&format!("{v}.")) => Ok(running.to_string()),
        Some(v) => Err(Fault::value(format!("Cannot find version {v} for redis"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(engine_version(Some("7.0"), "7.0.15").unwrap(), "7.0.15");
        assert_eq!(engine_version(None, "7.0.15").unwrap(), "7.0.15");
        assert!(engine_version(Some("6.2"), "7.0.15").is_err());
        assert!(engine(Some("memcached")).is_err());
        assert_eq!(engine(Some("Redis")).unwrap(), "redis");
    }
}
