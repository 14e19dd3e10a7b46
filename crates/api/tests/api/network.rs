//! The EC2 subset (`Version=2016-11-15`) and cache subnet groups through the edge: EC2's
//! envelope (no result wrapper, lowerCamel names, `<item>` lists, its namespace), EC2's error
//! document and codes, the default VPC, and the `CacheSubnetGroup` element.

use axum::body::Body;
use axum::http::Request;

use crate::support::{authorization, parse, Element, Harness, Reply};

const EC2_NAMESPACE: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

/// `POST /` with EC2's version, signed for `us-east-1`'s `ec2` service as botocore does.
async fn ec2(h: &Harness, pairs: &[(&str, &str)]) -> Reply {
    let mut form = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        form.append_pair(k, v);
    }
    form.append_pair("Version", "2016-11-15");
    let request = Request::post("/")
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .header(
            "authorization",
            authorization("us-east-1").replace("/elasticache/", "/ec2/"),
        )
        .body(Body::from(form.finish()))
        .expect("request");
    h.send(request).await
}

/// Asserts an EC2 success for `action` and returns the response element.
fn ok<'a>(reply: &'a Reply, action: &str) -> &'a Element {
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.body);
    assert_eq!(
        reply.doc.name,
        format!("{action}Response"),
        "{}",
        reply.body
    );
    assert_eq!(reply.doc.namespace.as_deref(), Some(EC2_NAMESPACE));
    assert_eq!(reply.doc.child_names()[0], "requestId");
    assert_eq!(reply.doc.text("requestId"), reply.request_id.as_deref());
    &reply.doc
}

/// Asserts EC2's error document with `code` (HTTP 400); returns the message.
fn ec2_error(reply: &Reply, code: &str) -> String {
    assert_eq!(reply.status.as_u16(), 400, "{}", reply.body);
    let doc = parse(&reply.body);
    assert_eq!(doc.name, "Response", "{}", reply.body);
    assert_eq!(doc.child_names(), ["Errors", "RequestID"]);
    assert_eq!(doc.text("Errors/Error/Code"), Some(code), "{}", reply.body);
    assert_eq!(doc.text("RequestID"), reply.request_id.as_deref());
    doc.text("Errors/Error/Message")
        .unwrap_or_default()
        .to_string()
}

// Goal: the default VPC, its subnets and its `default` group exist from the first call, with
// EC2's element names; a created VPC and subnet come back in the same shape. Method: describe,
// create, describe with filters.
#[tokio::test]
async fn default_vpc_and_created_network() {
    let h = Harness::new();
    let vpcs = ec2(&h, &[("Action", "DescribeVpcs")]).await;
    let doc = ok(&vpcs, "DescribeVpcs");
    let items = doc.all("vpcSet/item");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0].text("cidrBlock"), Some("172.31.0.0/16"));
    assert_eq!(items[0].text("isDefault"), Some("true"));
    let default_vpc = items[0].text("vpcId").unwrap().to_string();
    assert_eq!(default_vpc.len(), "vpc-".len() + 17);
    // Same ids on another call (derived, not random).
    let again = ec2(&h, &[("Action", "DescribeVpcs")]).await;
    assert_eq!(
        ok(&again, "DescribeVpcs").text("vpcSet/item/vpcId"),
        Some(default_vpc.as_str())
    );

    let vpc = ec2(&h, &[("Action", "CreateVpc"), ("CidrBlock", "10.0.0.0/16")]).await;
    let vpc_id = ok(&vpc, "CreateVpc").text("vpc/vpcId").unwrap().to_string();
    let subnet = ec2(
        &h,
        &[
            ("Action", "CreateSubnet"),
            ("VpcId", &vpc_id),
            ("CidrBlock", "10.0.11.0/24"),
            ("AvailabilityZone", "us-east-1b"),
        ],
    )
    .await;
    let s = ok(&subnet, "CreateSubnet").get("subnet").unwrap();
    assert_eq!(s.text("availabilityZone"), Some("us-east-1b"));
    assert_eq!(s.text("defaultForAz"), Some("false"));
    assert_eq!(s.text("availableIpAddressCount"), Some("251"));

    let listed = ec2(
        &h,
        &[
            ("Action", "DescribeSubnets"),
            ("Filter.1.Name", "vpc-id"),
            ("Filter.1.Value.1", &default_vpc),
        ],
    )
    .await;
    let mut zones: Vec<&str> = ok(&listed, "DescribeSubnets")
        .all("subnetSet/item")
        .iter()
        .map(|i| i.text("availabilityZone").unwrap())
        .collect();
    zones.sort();
    assert_eq!(zones, ["us-east-1a", "us-east-1b", "us-east-1c"]);

    let missing = ec2(
        &h,
        &[
            ("Action", "DescribeVpcs"),
            ("VpcId.1", "vpc-0123456789abcdef0"),
        ],
    )
    .await;
    assert_eq!(
        ec2_error(&missing, "InvalidVpcID.NotFound"),
        "The vpc ID 'vpc-0123456789abcdef0' does not exist"
    );
    let outside = ec2(
        &h,
        &[
            ("Action", "CreateSubnet"),
            ("VpcId", &vpc_id),
            ("CidrBlock", "10.1.0.0/24"),
        ],
    )
    .await;
    ec2_error(&outside, "InvalidSubnet.Range");
}

// Goal: security groups: create, authorize in both wire forms (IpPermissions and the flat
// IpProtocol/CidrIp), group the rules back into IpPermissions, refuse duplicates and unknown
// groups with EC2's codes, revoke, delete. Method: a round trip through the edge.
#[tokio::test]
async fn security_group_round_trip() {
    let h = Harness::new();
    let created = ec2(
        &h,
        &[
            ("Action", "CreateSecurityGroup"),
            ("GroupName", "redis"),
            ("GroupDescription", "Redis SG"),
        ],
    )
    .await;
    let sg = ok(&created, "CreateSecurityGroup")
        .text("groupId")
        .unwrap()
        .to_string();
    let rule = [
        ("Action", "AuthorizeSecurityGroupIngress"),
        ("GroupId", sg.as_str()),
        ("IpPermissions.1.IpProtocol", "tcp"),
        ("IpPermissions.1.FromPort", "6379"),
        ("IpPermissions.1.ToPort", "6379"),
        ("IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/16"),
    ];
    let added = ec2(&h, &rule).await;
    let doc = ok(&added, "AuthorizeSecurityGroupIngress");
    assert_eq!(doc.text("return"), Some("true"));
    assert_eq!(
        doc.text("securityGroupRuleSet/item/cidrIpv4"),
        Some("10.0.0.0/16")
    );
    assert!(doc
        .text("securityGroupRuleSet/item/securityGroupRuleId")
        .unwrap()
        .starts_with("sgr-"));
    let flat = ec2(
        &h,
        &[
            ("Action", "AuthorizeSecurityGroupIngress"),
            ("GroupId", &sg),
            ("IpProtocol", "tcp"),
            ("FromPort", "6379"),
            ("ToPort", "6379"),
            ("CidrIp", "192.168.0.0/24"),
        ],
    )
    .await;
    ok(&flat, "AuthorizeSecurityGroupIngress");
    let duplicate = ec2(&h, &rule).await;
    assert_eq!(
        ec2_error(&duplicate, "InvalidPermission.Duplicate"),
        "the specified rule \"peer: 10.0.0.0/16, TCP, from port: 6379, to port: 6379, ALLOW\" already exists"
    );

    let described = ec2(
        &h,
        &[("Action", "DescribeSecurityGroups"), ("GroupId.1", &sg)],
    )
    .await;
    let group = ok(&described, "DescribeSecurityGroups")
        .get("securityGroupInfo/item")
        .unwrap();
    assert_eq!(group.text("groupName"), Some("redis"));
    assert_eq!(group.text("groupDescription"), Some("Redis SG"));
    let permissions = group.all("ipPermissions/item");
    assert_eq!(permissions.len(), 1, "one tcp/6379 permission, two ranges");
    let ranges: Vec<&str> = permissions[0]
        .all("ipRanges/item")
        .iter()
        .map(|r| r.text("cidrIp").unwrap())
        .collect();
    assert_eq!(ranges, ["10.0.0.0/16", "192.168.0.0/24"]);
    assert_eq!(
        group.text("ipPermissionsEgress/item/ipRanges/item/cidrIp"),
        Some("0.0.0.0/0")
    );

    let revoked = ec2(
        &h,
        &[
            ("Action", "RevokeSecurityGroupIngress"),
            ("GroupId", &sg),
            ("IpProtocol", "tcp"),
            ("FromPort", "6379"),
            ("ToPort", "6379"),
            ("CidrIp", "192.168.0.0/24"),
        ],
    )
    .await;
    ok(&revoked, "RevokeSecurityGroupIngress");
    let unknown = ec2(
        &h,
        &[
            ("Action", "DescribeSecurityGroups"),
            ("GroupId.1", "sg-0123456789abcdef0"),
        ],
    )
    .await;
    ec2_error(&unknown, "InvalidGroup.NotFound");
    let malformed = ec2(
        &h,
        &[("Action", "DeleteSecurityGroup"), ("GroupId", "sg-x")],
    )
    .await;
    ec2_error(&malformed, "InvalidGroupId.Malformed");
    let deleted = ec2(&h, &[("Action", "DeleteSecurityGroup"), ("GroupId", &sg)]).await;
    assert_eq!(
        ok(&deleted, "DeleteSecurityGroup").text("groupId"),
        Some(sg.as_str())
    );
    let bogus = ec2(&h, &[("Action", "RunInstances")]).await;
    ec2_error(&bogus, "InvalidAction");
}

// Goal: cache subnet groups through the ElastiCache edge: the element in model order with its
// subnets' zones and ARN, describe (default included), the refusals with AWS's codes, a group
// in use, and the replication group that uses it reporting subnet group and security groups.
// Method: create over the default VPC's subnets, then the error cases.
#[tokio::test]
async fn cache_subnet_group_shapes_and_errors() {
    let h = Harness::new();
    let listed = ec2(
        &h,
        &[
            ("Action", "DescribeSubnets"),
            ("Filter.1.Name", "default-for-az"),
            ("Filter.1.Value.1", "true"),
        ],
    )
    .await;
    // Subnets in zone order (a, b, c); EC2 lists them in no particular order.
    let mut by_zone: Vec<(String, String)> = ok(&listed, "DescribeSubnets")
        .all("subnetSet/item")
        .iter()
        .map(|i| {
            (
                i.text("availabilityZone").unwrap().to_string(),
                i.text("subnetId").unwrap().to_string(),
            )
        })
        .collect();
    by_zone.sort();
    let subnets: Vec<String> = by_zone.into_iter().map(|(_, id)| id).collect();

    let created = h
        .call(&[
            ("Action", "CreateCacheSubnetGroup"),
            ("CacheSubnetGroupName", "Two-AZ"),
            ("CacheSubnetGroupDescription", "two zones"),
            ("SubnetIds.SubnetIdentifier.1", &subnets[0]),
            ("SubnetIds.SubnetIdentifier.2", &subnets[1]),
        ])
        .await;
    let group = created
        .result("CreateCacheSubnetGroup")
        .get("CacheSubnetGroup")
        .unwrap();
    crate::assert_model_order(
        &group.child_names(),
        &[
            "CacheSubnetGroupName",
            "CacheSubnetGroupDescription",
            "VpcId",
            "Subnets",
            "ARN",
            "SupportedNetworkTypes",
        ],
    );
    assert_eq!(group.text("CacheSubnetGroupName"), Some("two-az"));
    assert_eq!(
        group.text("ARN"),
        Some("arn:aws:elasticache:us-east-1:123456789012:subnetgroup:two-az")
    );
    let subnet = group.get("Subnets/Subnet").unwrap();
    assert_eq!(
        subnet.child_names(),
        [
            "SubnetIdentifier",
            "SubnetAvailabilityZone",
            "SupportedNetworkTypes"
        ]
    );
    assert_eq!(
        subnet.text("SubnetAvailabilityZone/Name"),
        Some("us-east-1a")
    );
    assert_eq!(subnet.text("SupportedNetworkTypes/member"), Some("ipv4"));

    let all = h.call(&[("Action", "DescribeCacheSubnetGroups")]).await;
    let names: Vec<&str> = all
        .result("DescribeCacheSubnetGroups")
        .all("CacheSubnetGroups/CacheSubnetGroup")
        .iter()
        .map(|g| g.text("CacheSubnetGroupName").unwrap())
        .collect();
    assert_eq!(names, ["default", "two-az"]);

    let again = h
        .call(&[
            ("Action", "CreateCacheSubnetGroup"),
            ("CacheSubnetGroupName", "two-az"),
            ("CacheSubnetGroupDescription", "d"),
            ("SubnetIds.SubnetIdentifier.1", &subnets[0]),
        ])
        .await;
    assert_eq!(
        again.error("CacheSubnetGroupAlreadyExists", 400),
        "Cache subnet group two-az already exists."
    );
    let unknown = h
        .call(&[
            ("Action", "CreateCacheSubnetGroup"),
            ("CacheSubnetGroupName", "x"),
            ("CacheSubnetGroupDescription", "d"),
            ("SubnetIds.SubnetIdentifier.1", "subnet-11111111"),
        ])
        .await;
    assert_eq!(
        unknown.error("InvalidParameterValue", 400),
        "Some input subnets in :[subnet-11111111] are invalid."
    );
    let missing = h
        .call(&[
            ("Action", "DescribeCacheSubnetGroups"),
            ("CacheSubnetGroupName", "nope"),
        ])
        .await;
    missing.error("CacheSubnetGroupNotFoundFault", 400);

    let rg = h
        .call(&[
            ("Action", "CreateReplicationGroup"),
            ("ReplicationGroupId", "rg"),
            ("ReplicationGroupDescription", "d"),
            ("NumCacheClusters", "3"),
            ("CacheSubnetGroupName", "two-az"),
        ])
        .await;
    rg.result("CreateReplicationGroup");
    let clusters = h.call(&[("Action", "DescribeCacheClusters")]).await;
    let clusters = clusters.result("DescribeCacheClusters");
    let mut zones = Vec::new();
    for c in clusters.all("CacheClusters/CacheCluster") {
        assert_eq!(c.text("CacheSubnetGroupName"), Some("two-az"));
        assert!(c
            .text("SecurityGroups/member/SecurityGroupId")
            .unwrap()
            .starts_with("sg-"));
        assert_eq!(c.text("SecurityGroups/member/Status"), Some("active"));
        zones.push(c.text("PreferredAvailabilityZone").unwrap().to_string());
    }
    assert_eq!(zones, ["us-east-1a", "us-east-1b", "us-east-1a"]);

    let busy = h
        .call(&[
            ("Action", "DeleteCacheSubnetGroup"),
            ("CacheSubnetGroupName", "two-az"),
        ])
        .await;
    busy.error("CacheSubnetGroupInUse", 400);
    let outside = h
        .call(&[
            ("Action", "CreateReplicationGroup"),
            ("ReplicationGroupId", "rg2"),
            ("ReplicationGroupDescription", "d"),
            ("NumCacheClusters", "2"),
            ("CacheSubnetGroupName", "two-az"),
            ("PreferredCacheClusterAZs.AvailabilityZone.1", "us-east-1a"),
            ("PreferredCacheClusterAZs.AvailabilityZone.2", "us-east-1c"),
        ])
        .await;
    assert_eq!(
        outside.error("InvalidVPCNetworkStateFault", 400),
        "No subnet is present in the cache subnet group for availability zone us-east-1c."
    );
    let tags = h
        .call(&[
            ("Action", "AddTagsToResource"),
            (
                "ResourceName",
                "arn:aws:elasticache:us-east-1:123456789012:subnetgroup:two-az",
            ),
            ("Tags.Tag.1.Key", "env"),
            ("Tags.Tag.1.Value", "dev"),
        ])
        .await;
    assert_eq!(
        tags.result("AddTagsToResource").text("TagList/Tag/Key"),
        Some("env")
    );
}
