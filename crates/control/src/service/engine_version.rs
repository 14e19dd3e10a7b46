//! `DescribeCacheEngineVersions`: the one engine line Ferrocache runs.

use ferrocache_model::engine::{DEFAULT_PARAMETER_GROUP, ENGINE_REDIS, FAMILY_REDIS7};
use ferrocache_model::{paging, Fault};

use super::{Page, Service, ServiceError};

/// One `CacheEngineVersion`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineVersionView {
    /// `Engine`
    pub engine: String,
    /// `EngineVersion`
    pub engine_version: String,
    /// `CacheParameterGroupFamily`
    pub family: String,
    /// `CacheEngineDescription`
    pub engine_description: String,
    /// `CacheEngineVersionDescription`
    pub version_description: String,
}

/// `DescribeCacheEngineVersions` filters.
#[derive(Debug, Clone, Default)]
pub struct EngineVersionQuery {
    /// `Engine`
    pub engine: Option<String>,
    /// `EngineVersion`
    pub engine_version: Option<String>,
    /// `CacheParameterGroupFamily`
    pub family: Option<String>,
    /// `DefaultOnly`
    pub default_only: Option<bool>,
    /// `MaxRecords`
    pub max_records: Option<i64>,
    /// `Marker`
    pub marker: Option<String>,
}

impl Service {
    /// `DescribeCacheEngineVersions`.
    ///
    /// # Errors
    /// [`Fault::InvalidParameterValue`] for a bad `MaxRecords` or an unknown family.
    pub fn describe_cache_engine_versions(
        &self,
        q: &EngineVersionQuery,
    ) -> Result<Page<EngineVersionView>, ServiceError> {
        if let Some(f) = &q.family {
            const FAMILIES: [&str; 12] = [
                "memcached1.4",
                "memcached1.5",
                "memcached1.6",
                "redis2.6",
                "redis2.8",
                "redis3.2",
                "redis4.0",
                "redis5.0",
                "redis6.x",
                "redis7",
                "valkey7",
                "valkey8",
            ];
            if !FAMILIES.contains(&f.as_str()) {
                return Err(Fault::value(format!("Invalid parameter group family: {f}")).into());
            }
        }
        let running = &self.config().engine_version_running;
        let offered = EngineVersionView {
            engine: ENGINE_REDIS.to_string(),
            engine_version: running.clone(),
            family: FAMILY_REDIS7.to_string(),
            engine_description: "Redis".to_string(),
            version_description: format!("redis version {running}"),
        };
        let _ = DEFAULT_PARAMETER_GROUP;
        let keep = q
            .engine
            .as_deref()
            .is_none_or(|e| e.eq_ignore_ascii_case(&offered.engine))
            && q.engine_version
                .as_deref()
                .is_none_or(|v| running == v || running.starts_with(&format!("{v}.")))
            && q.family.as_deref().is_none_or(|f| f == offered.family);
        let items = if keep { vec![offered] } else { Vec::new() };
        let (items, marker) = paging::page(
            items,
            |v| v.engine_version.clone(),
            q.marker.as_deref(),
            q.max_records,
            paging::RECORDS,
        )?;
        Ok(Page { items, marker })
    }
}
