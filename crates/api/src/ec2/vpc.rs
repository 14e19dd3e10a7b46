//! `CreateVpc`, `DescribeVpcs`, `CreateSubnet`, `DescribeSubnets`, and the `vpc` and `subnet`
//! items (EC2's element names, botocore's `Vpc` and `Subnet` shapes).

use ferrocache_model::network::{self, Subnet, Vpc};

use super::{decode, items, tag_set};
use crate::error::ApiError;
use crate::operation::Call;
use crate::xml::Xml;

/// `CreateVpc` (`CidrBlock`, `TagSpecification`) → `<vpc>`.
///
/// # Errors
/// EC2's faults.
pub fn create_vpc(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let vpc =
        call.service
            .create_vpc(call.region, p.get("CidrBlock"), &decode::tags_for(p, "vpc"))?;
    x.element("vpc", |x| vpc_item(x, &vpc, call.service.account_id()));
    Ok(())
}

/// `DescribeVpcs` (`VpcId.N`, `Filter.N`) → `<vpcSet>`.
///
/// # Errors
/// EC2's faults.
pub fn describe_vpcs(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let vpcs = call.service.describe_vpcs(
        call.region,
        &decode::strings(p, "VpcId"),
        &decode::filters(p),
    )?;
    let account = call.service.account_id();
    items(x, "vpcSet", &vpcs, |x, v| vpc_item(x, v, account));
    Ok(())
}

/// `CreateSubnet` (`VpcId`, `CidrBlock`, `AvailabilityZone`, `TagSpecification`) → `<subnet>`.
///
/// # Errors
/// EC2's faults.
pub fn create_subnet(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    if p.present("AvailabilityZoneId") {
        return Err(network::Ec2Fault::value(
            "AvailabilityZoneId is not supported by this Ferrocache release; use AvailabilityZone.",
        )
        .into());
    }
    let subnet = call.service.create_subnet(
        call.region,
        p.get("VpcId").unwrap_or_default(),
        p.get("CidrBlock"),
        p.get("AvailabilityZone"),
        &decode::tags_for(p, "subnet"),
    )?;
    x.element("subnet", |x| {
        subnet_item(x, &subnet, call.service.account_id())
    });
    Ok(())
}

/// `DescribeSubnets` (`SubnetId.N`, `Filter.N`) → `<subnetSet>`.
///
/// # Errors
/// EC2's faults.
pub fn describe_subnets(call: &Call<'_>, x: &mut Xml) -> Result<(), ApiError> {
    let p = call.params;
    let subnets = call.service.describe_subnets(
        call.region,
        &decode::strings(p, "SubnetId"),
        &decode::filters(p),
    )?;
    let account = call.service.account_id();
    items(x, "subnetSet", &subnets, |x, s| subnet_item(x, s, account));
    Ok(())
}

/// The children of a `Vpc`.
fn vpc_item(x: &mut Xml, vpc: &Vpc, account: &str) {
    x.text("vpcId", &vpc.id);
    x.text("ownerId", account);
    x.text("state", "available");
    x.text("cidrBlock", &vpc.cidr_block);
    items(x, "cidrBlockAssociationSet", [vpc], |x, vpc| {
        x.text(
            "associationId",
            &network::ec2_id("vpc-cidr-assoc", account, &vpc.region, &vpc.id),
        );
        x.text("cidrBlock", &vpc.cidr_block);
        x.element("cidrBlockState", |x| x.text("state", "associated"));
    });
    x.text(
        "dhcpOptionsId",
        &network::ec2_id("dopt", account, &vpc.region, "default"),
    );
    tag_set(x, &vpc.tags);
    x.text("instanceTenancy", "default");
    x.boolean("isDefault", vpc.is_default);
}

/// Addresses of a subnet that instances may take: all but AWS's five reserved ones.
fn available_addresses(cidr: &str) -> i64 {
    let prefix = cidr
        .rsplit_once('/')
        .and_then(|(_, len)| len.parse::<u32>().ok())
        .filter(|len| *len <= 32)
        .unwrap_or(32);
    ((1i64 << (32 - prefix)) - 5).max(0)
}

/// The children of a `Subnet`.
fn subnet_item(x: &mut Xml, subnet: &Subnet, account: &str) {
    x.text("subnetId", &subnet.id);
    x.text(
        "subnetArn",
        &format!(
            "arn:aws:ec2:{}:{account}:subnet/{}",
            subnet.region, subnet.id
        ),
    );
    x.text("state", "available");
    x.text("vpcId", &subnet.vpc_id);
    x.text("cidrBlock", &subnet.cidr_block);
    x.empty("ipv6CidrBlockAssociationSet");
    x.integer(
        "availableIpAddressCount",
        available_addresses(&subnet.cidr_block),
    );
    x.text("availabilityZone", &subnet.availability_zone);
    x.boolean("defaultForAz", subnet.default_for_az);
    x.boolean("mapPublicIpOnLaunch", subnet.default_for_az);
    x.text("ownerId", account);
    x.boolean("assignIpv6AddressOnCreation", false);
    x.boolean("ipv6Native", false);
    x.boolean("enableDns64", false);
    x.boolean("mapCustomerOwnedIpOnLaunch", false);
    x.element("privateDnsNameOptionsOnLaunch", |x| {
        x.text("hostnameType", "ip-name");
        x.boolean("enableResourceNameDnsARecord", false);
        x.boolean("enableResourceNameDnsAAAARecord", false);
    });
    tag_set(x, &subnet.tags);
}
