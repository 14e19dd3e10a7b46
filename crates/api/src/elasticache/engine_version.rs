//! `DescribeCacheEngineVersions` and the `CacheEngineVersion` element.

use ferrocache_control::service::engine_version::{EngineVersionQuery, EngineVersionView};

use crate::error::ApiError;
use crate::operation::Call;
use crate::xml::Xml;

/// `DescribeCacheEngineVersions` (`Engine`, `EngineVersion`, `CacheParameterGroupFamily`,
/// `DefaultOnly`, paging) → `[Marker]`, `<CacheEngineVersions>`.
///
/// # Errors
/// Decoding errors, the service's faults.
pub fn describe_cache_engine_versions(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let query = EngineVersionQuery {
        engine: p.string("Engine"),
        engine_version: p.string("EngineVersion"),
        family: p.string("CacheParameterGroupFamily"),
        default_only: p.boolean("DefaultOnly")?,
        max_records: p.integer("MaxRecords")?,
        marker: p.string("Marker"),
    };
    let page = call.service.describe_cache_engine_versions(&query)?;
    x.text_opt("Marker", page.marker.as_deref());
    x.list(
        "CacheEngineVersions",
        "CacheEngineVersion",
        &page.items,
        engine_version,
    );
    Ok(())
}

/// The children of a `CacheEngineVersion` element, in model order.
pub fn engine_version(x: &mut Xml, version: &EngineVersionView) {
    x.text("Engine", &version.engine);
    x.text("EngineVersion", &version.engine_version);
    x.text("CacheParameterGroupFamily", &version.family);
    x.text("CacheEngineDescription", &version.engine_description);
    x.text(
        "CacheEngineVersionDescription",
        &version.version_description,
    );
}
