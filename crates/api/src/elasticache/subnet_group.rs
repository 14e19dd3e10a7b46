//! `CreateCacheSubnetGroup`, `DescribeCacheSubnetGroups`, `ModifyCacheSubnetGroup`,
//! `DeleteCacheSubnetGroup`, and the `CacheSubnetGroup` element.

use ferrocache_control::service::subnet_group::{
    CreateSubnetGroupRequest, ModifySubnetGroupRequest, SubnetGroupView,
};
use ferrocache_model::network::NETWORK_TYPE_IPV4;

use super::{required, tag};
use crate::error::ApiError;
use crate::operation::Call;
use crate::xml::Xml;

/// `CreateCacheSubnetGroup` → `<CacheSubnetGroup>`.
///
/// # Errors
/// Decoding errors, the service's faults.
pub fn create_cache_subnet_group(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let req = CreateSubnetGroupRequest {
        name: p.string("CacheSubnetGroupName"),
        description: p.string("CacheSubnetGroupDescription"),
        subnet_ids: p.list("SubnetIds", "SubnetIdentifier")?,
        tags: tag::decode_tags(p)?,
    };
    let group = call.service.create_cache_subnet_group(call.region, &req)?;
    x.element("CacheSubnetGroup", |x| cache_subnet_group(x, &group));
    Ok(())
}

/// `DescribeCacheSubnetGroups` (`CacheSubnetGroupName`, `Marker`, `MaxRecords`) →
/// `[Marker]`, `<CacheSubnetGroups>`.
///
/// # Errors
/// Decoding errors, `CacheSubnetGroupNotFoundFault`, paging faults.
pub fn describe_cache_subnet_groups(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let page = call.service.describe_cache_subnet_groups(
        call.region,
        p.get("CacheSubnetGroupName"),
        p.get("Marker"),
        p.integer("MaxRecords")?,
    )?;
    x.text_opt("Marker", page.marker.as_deref());
    x.list(
        "CacheSubnetGroups",
        "CacheSubnetGroup",
        &page.items,
        cache_subnet_group,
    );
    Ok(())
}

/// `ModifyCacheSubnetGroup` → `<CacheSubnetGroup>`.
///
/// # Errors
/// Decoding errors, the service's faults.
pub fn modify_cache_subnet_group(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let req = ModifySubnetGroupRequest {
        name: p.string("CacheSubnetGroupName"),
        description: p.string("CacheSubnetGroupDescription"),
        subnet_ids: if p.present("SubnetIds") {
            Some(p.list("SubnetIds", "SubnetIdentifier")?)
        } else {
            None
        },
    };
    let group = call.service.modify_cache_subnet_group(call.region, &req)?;
    x.element("CacheSubnetGroup", |x| cache_subnet_group(x, &group));
    Ok(())
}

/// `DeleteCacheSubnetGroup`: no output, so the envelope carries no result element.
///
/// # Errors
/// `CacheSubnetGroupNotFoundFault`, `CacheSubnetGroupInUse`.
pub fn delete_cache_subnet_group(call: &Call<'_>, _x: &mut Xml) -> Result<(), ApiError> {
    let name = required(call.params, "CacheSubnetGroupName")?;
    call.service.delete_cache_subnet_group(call.region, name)?;
    Ok(())
}

/// The children of a `CacheSubnetGroup`, in model order.
pub fn cache_subnet_group(x: &mut Xml, group: &SubnetGroupView) {
    x.text("CacheSubnetGroupName", &group.spec.name);
    x.text("CacheSubnetGroupDescription", &group.spec.description);
    x.text("VpcId", &group.spec.vpc_id);
    x.list("Subnets", "Subnet", &group.subnets, |x, subnet| {
        x.text("SubnetIdentifier", &subnet.id);
        x.element("SubnetAvailabilityZone", |x| {
            x.text("Name", &subnet.availability_zone)
        });
        x.text_list("SupportedNetworkTypes", "member", [NETWORK_TYPE_IPV4]);
    });
    x.text("ARN", &group.arn);
    x.text_list("SupportedNetworkTypes", "member", [NETWORK_TYPE_IPV4]);
}
