//! `CreateCacheParameterGroup`, `DescribeCacheParameterGroups`, `ModifyCacheParameterGroup`,
//! `ResetCacheParameterGroup`, `DeleteCacheParameterGroup`, `DescribeCacheParameters`,
//! `DescribeEngineDefaultParameters`, and the `CacheParameterGroup`, `Parameter` and
//! `CacheNodeTypeSpecificParameter` elements (model order, `elasticache-api.md` §4.2).

use ferrocache_control::service::parameter_group::{
    ParameterGroupView, ParameterView, ParametersPage,
};
use ferrocache_model::parameter::{self, CreateParameterGroupRequest, ParameterNameValue};

use super::{required, tag};
use crate::error::ApiError;
use crate::operation::Call;
use crate::query::Params;
use crate::xml::Xml;

/// `ParameterNameValues.ParameterNameValue.N.{ParameterName,ParameterValue}`, in index order.
///
/// # Errors
/// Decoding errors.
fn parameter_name_values(p: &Params) -> Result<Vec<ParameterNameValue>, ApiError> {
    Ok(p.structures("ParameterNameValues", "ParameterNameValue")?
        .into_iter()
        .map(|(_, mut fields)| ParameterNameValue {
            name: fields.remove("ParameterName"),
            value: fields.remove("ParameterValue"),
        })
        .collect())
}

/// `CreateCacheParameterGroup` → `<CacheParameterGroup>`.
///
/// # Errors
/// Decoding errors, the service's faults.
pub fn create_cache_parameter_group(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let req = CreateParameterGroupRequest {
        name: p.string("CacheParameterGroupName"),
        family: p.string("CacheParameterGroupFamily"),
        description: p.string("Description"),
        tags: tag::decode_tags(p)?,
    };
    let group = call
        .service
        .create_cache_parameter_group(call.region, &req)?;
    x.element("CacheParameterGroup", |x| cache_parameter_group(x, &group));
    Ok(())
}

/// `DescribeCacheParameterGroups` → `[Marker]`, `<CacheParameterGroups>`.
///
/// # Errors
/// Decoding errors, `CacheParameterGroupNotFound`, paging faults.
pub fn describe_cache_parameter_groups(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let page = call.service.describe_cache_parameter_groups(
        call.region,
        p.get("CacheParameterGroupName"),
        p.get("Marker"),
        p.integer("MaxRecords")?,
    )?;
    x.text_opt("Marker", page.marker.as_deref());
    x.list(
        "CacheParameterGroups",
        "CacheParameterGroup",
        &page.items,
        cache_parameter_group,
    );
    Ok(())
}

/// `ModifyCacheParameterGroup` → `<CacheParameterGroupName>`.
///
/// # Errors
/// Decoding errors, the service's faults.
pub fn modify_cache_parameter_group(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let name = required(p, "CacheParameterGroupName")?;
    let changes = parameter_name_values(p)?;
    let name = call
        .service
        .modify_cache_parameter_group(call.region, name, &changes)?;
    x.text("CacheParameterGroupName", &name);
    Ok(())
}

/// `ResetCacheParameterGroup` (`ResetAllParameters` or `ParameterNameValues`) →
/// `<CacheParameterGroupName>`.
///
/// # Errors
/// Decoding errors, the service's faults.
pub fn reset_cache_parameter_group(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let name = required(p, "CacheParameterGroupName")?;
    let reset_all = p.boolean("ResetAllParameters")?.unwrap_or(false);
    let names = parameter_name_values(p)?;
    let name = call
        .service
        .reset_cache_parameter_group(call.region, name, reset_all, &names)?;
    x.text("CacheParameterGroupName", &name);
    Ok(())
}

/// `DeleteCacheParameterGroup` → no result (the envelope carries only `ResponseMetadata`).
///
/// # Errors
/// The service's faults.
pub fn delete_cache_parameter_group(call: &Call<'_>, _x: &mut Xml) -> Result<(), ApiError> {
    let name = required(call.params, "CacheParameterGroupName")?;
    call.service
        .delete_cache_parameter_group(call.region, name)?;
    Ok(())
}

/// `DescribeCacheParameters` (`Source`) → `[Marker]`, `<Parameters>`,
/// `<CacheNodeTypeSpecificParameters>`.
///
/// # Errors
/// Decoding errors, the service's faults.
pub fn describe_cache_parameters(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let name = required(p, "CacheParameterGroupName")?;
    let page = call.service.describe_cache_parameters(
        call.region,
        name,
        p.get("Source"),
        p.get("Marker"),
        p.integer("MaxRecords")?,
    )?;
    x.text_opt("Marker", page.marker.as_deref());
    parameter_lists(x, &page);
    Ok(())
}

/// `DescribeEngineDefaultParameters` → `<EngineDefaults>` with the family, `[Marker]` and both
/// lists.
///
/// # Errors
/// Decoding errors, the service's faults.
pub fn describe_engine_default_parameters(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let family = required(p, "CacheParameterGroupFamily")?;
    let page = call.service.describe_engine_default_parameters(
        family,
        p.get("Marker"),
        p.integer("MaxRecords")?,
    )?;
    x.element("EngineDefaults", |x| {
        x.text("CacheParameterGroupFamily", &family.to_ascii_lowercase());
        x.text_opt("Marker", page.marker.as_deref());
        parameter_lists(x, &page);
    });
    Ok(())
}

/// The children of a `CacheParameterGroup` element.
pub fn cache_parameter_group(x: &mut Xml, group: &ParameterGroupView) {
    x.text("CacheParameterGroupName", &group.spec.name);
    x.text("CacheParameterGroupFamily", &group.spec.family);
    x.text("Description", &group.spec.description);
    x.boolean("IsGlobal", false);
    x.text("ARN", &group.arn);
}

/// `<Parameters>` and `<CacheNodeTypeSpecificParameters>` of a page.
fn parameter_lists(x: &mut Xml, page: &ParametersPage) {
    x.list(
        "Parameters",
        "Parameter",
        &page.parameters,
        parameter_element,
    );
    x.list(
        "CacheNodeTypeSpecificParameters",
        "CacheNodeTypeSpecificParameter",
        &page.node_type_specific,
        node_type_specific_element,
    );
}

/// The children of a `Parameter` element.
fn parameter_element(x: &mut Xml, v: &ParameterView) {
    let p = v.parameter;
    x.text("ParameterName", p.name);
    x.text_opt("ParameterValue", v.value.as_deref());
    x.text("Description", p.description());
    x.text("Source", v.source.as_str());
    x.text("DataType", p.data_type.as_str());
    x.text_opt("AllowedValues", p.allowed_values);
    x.boolean("IsModifiable", v.is_modifiable);
    x.text("MinimumEngineVersion", p.minimum_engine_version);
    x.text("ChangeType", p.change_type.as_str());
}

/// The children of a `CacheNodeTypeSpecificParameter` element: one value per node type.
fn node_type_specific_element(x: &mut Xml, v: &ParameterView) {
    let p = v.parameter;
    x.text("ParameterName", p.name);
    x.text("Description", p.description());
    x.text("Source", v.source.as_str());
    x.text("DataType", p.data_type.as_str());
    x.text_opt("AllowedValues", p.allowed_values);
    x.boolean("IsModifiable", v.is_modifiable);
    x.text("MinimumEngineVersion", p.minimum_engine_version);
    x.list(
        "CacheNodeTypeSpecificValues",
        "CacheNodeTypeSpecificValue",
        parameter::node_types(),
        |x, t| {
            x.text("CacheNodeType", t.name);
            x.text("Value", &p.node_type_value(t).to_string());
        },
    );
    x.text("ChangeType", p.change_type.as_str());
}
