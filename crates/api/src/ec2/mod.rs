//! The EC2 subset on the same port: VPCs, subnets and security groups, enough for the runbooks'
//! `aws ec2 …` lines, Terraform's VPC resources and the security groups ElastiCache names.
//!
//! EC2 speaks its own query dialect (`Version=2016-11-15`), different from ElastiCache's in
//! three ways this module owns:
//! - requests flatten lists without a member name (`GroupId.1`, `Filter.1.Value.2`,
//!   `IpPermissions.1.IpRanges.1.CidrIp`) — [`decode`];
//! - responses have no `<XResult>` wrapper, name elements in lowerCamel case and list items
//!   `<item>`: `<XResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>…`
//!   — [`envelope`];
//! - errors are `<Response><Errors><Error><Code>…</Code><Message>…</Message></Error></Errors>
//!   <RequestID>…</RequestID></Response>` with EC2's codes (`InvalidGroup.NotFound`, …) —
//!   [`error_xml`] and [`fault_code`].
//!
//! A request is EC2's when its `Version` is [`EC2_VERSION`] or its SigV4 scope names the `ec2`
//! service ([`wants`]); the server then selects from [`OPERATIONS`] here instead of the
//! ElastiCache table. Handlers share the ElastiCache edge's [`Operation`] shape and [`Call`].

pub mod decode;
pub mod security_group;
pub mod vpc;

use axum::http::StatusCode;
use ferrocache_control::service::network::NetworkError;
use ferrocache_model::network::Ec2Fault;

use crate::error::ApiError;
use crate::operation::{Call, Operation};
use crate::query::Params;
use crate::xml::{escape_into, Xml};

/// The EC2 API version the AWS SDKs send.
pub const EC2_VERSION: &str = "2016-11-15";
/// The namespace of every EC2 response.
pub const NAMESPACE: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";
/// The SigV4 signing name of EC2.
pub const SIGNING_SERVICE: &str = "ec2";

/// Every EC2 operation Ferrocache answers.
pub static OPERATIONS: &[Operation] = &[
    Operation {
        action: "CreateVpc",
        required: &[],
        handler: vpc::create_vpc,
    },
    Operation {
        action: "DescribeVpcs",
        required: &[],
        handler: vpc::describe_vpcs,
    },
    Operation {
        action: "CreateSubnet",
        required: &["VpcId"],
        handler: vpc::create_subnet,
    },
    Operation {
        action: "DescribeSubnets",
        required: &[],
        handler: vpc::describe_subnets,
    },
    Operation {
        action: "CreateSecurityGroup",
        required: &["GroupDescription", "GroupName"],
        handler: security_group::create_security_group,
    },
    Operation {
        action: "DescribeSecurityGroups",
        required: &[],
        handler: security_group::describe_security_groups,
    },
    Operation {
        action: "AuthorizeSecurityGroupIngress",
        required: &[],
        handler: security_group::authorize_security_group_ingress,
    },
    Operation {
        action: "RevokeSecurityGroupIngress",
        required: &[],
        handler: security_group::revoke_security_group_ingress,
    },
    Operation {
        action: "DeleteSecurityGroup",
        required: &[],
        handler: security_group::delete_security_group,
    },
    Operation {
        action: "TerminateInstances",
        required: &["InstanceId"],
        handler: security_group::terminate_instances,
    },
];

/// Whether a request is for EC2: `Version=2016-11-15`, or signed for the `ec2` service.
pub fn wants(params: &Params, signing_service: Option<&str>) -> bool {
    params.get("Version") == Some(EC2_VERSION) || signing_service == Some(SIGNING_SERVICE)
}

/// Picks the EC2 operation of a request (`Version` absent or [`EC2_VERSION`]).
///
/// # Errors
/// `MissingAction`, `InvalidAction`.
pub fn select(params: &Params) -> Result<&'static Operation, ApiError> {
    let action = match params.get("Action") {
        Some(a) if !a.is_empty() => a,
        _ => return Err(ApiError::missing_action()),
    };
    if let Some(version) = params.get("Version") {
        if version != EC2_VERSION {
            return Err(ApiError::invalid_version(action, version));
        }
    }
    OPERATIONS
        .iter()
        .find(|op| op.action == action)
        .ok_or_else(|| ApiError::invalid_action(action))
}

/// Runs `op`: checks required members, calls the handler, wraps the result in EC2's envelope.
///
/// # Errors
/// `MissingParameter`, and whatever the handler answers.
pub fn run(op: &Operation, call: &Call<'_>, request_id: &str) -> Result<String, ApiError> {
    if let Some(missing) = op.required.iter().find(|name| !call.params.present(name)) {
        return Err(ApiError::from(Ec2Fault::MissingParameter(
            (*missing).to_string(),
        )));
    }
    let mut result = Xml::new();
    (op.handler)(call, &mut result)?;
    Ok(envelope(op.action, request_id, &result.into_string()))
}

/// `<ActionResponse xmlns=…><requestId>…</requestId>result</ActionResponse>`.
pub fn envelope(action: &str, request_id: &str, result: &str) -> String {
    let mut out = String::with_capacity(result.len() + 200);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!("<{action}Response xmlns=\"{NAMESPACE}\">"));
    out.push_str("<requestId>");
    escape_into(&mut out, request_id);
    out.push_str("</requestId>");
    out.push_str(result);
    out.push_str(&format!("</{action}Response>"));
    out
}

/// EC2's error document for `error`.
pub fn error_xml(error: &ApiError, request_id: &str) -> String {
    let mut out =
        String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>");
    escape_into(&mut out, error.code());
    out.push_str("</Code><Message>");
    escape_into(&mut out, error.message());
    out.push_str("</Message></Error></Errors><RequestID>");
    escape_into(&mut out, request_id);
    out.push_str("</RequestID></Response>");
    out
}

/// The wire code of each [`Ec2Fault`]: the one mapping (every EC2 client error is a 400).
pub fn fault_code(fault: &Ec2Fault) -> &'static str {
    match fault {
        Ec2Fault::InvalidParameterValue(_) => "InvalidParameterValue",
        Ec2Fault::InvalidParameterCombination(_) => "InvalidParameterCombination",
        Ec2Fault::MissingParameter(_) => "MissingParameter",
        Ec2Fault::VpcNotFound(_) => "InvalidVpcID.NotFound",
        Ec2Fault::SubnetNotFound(_) => "InvalidSubnetID.NotFound",
        Ec2Fault::GroupNotFound(_) => "InvalidGroup.NotFound",
        Ec2Fault::GroupDuplicate { .. } => "InvalidGroup.Duplicate",
        Ec2Fault::GroupReserved(_) => "InvalidGroup.Reserved",
        Ec2Fault::MalformedId { prefix: "vpc", .. } => "InvalidVpcID.Malformed",
        Ec2Fault::MalformedId {
            prefix: "subnet", ..
        } => "InvalidSubnetID.Malformed",
        Ec2Fault::MalformedId { .. } => "InvalidGroupId.Malformed",
        Ec2Fault::PermissionDuplicate(_) => "InvalidPermission.Duplicate",
        Ec2Fault::PermissionNotFound => "InvalidPermission.NotFound",
        Ec2Fault::VpcRange(_) => "InvalidVpc.Range",
        Ec2Fault::SubnetRange(_) => "InvalidSubnet.Range",
        Ec2Fault::SubnetConflict(_) => "InvalidSubnet.Conflict",
        Ec2Fault::DependencyViolation(_) => "DependencyViolation",
        Ec2Fault::CannotDelete(_) => "CannotDelete",
        Ec2Fault::VpcLimitExceeded => "VpcLimitExceeded",
        Ec2Fault::SubnetLimitExceeded => "SubnetLimitExceeded",
        Ec2Fault::SecurityGroupLimitExceeded => "SecurityGroupLimitExceeded",
        Ec2Fault::RulesPerSecurityGroupLimitExceeded => "RulesPerSecurityGroupLimitExceeded",
        // `Ec2Fault` is non-exhaustive: a rule added in `model` before it is mapped here is
        // still the client's mistake.
        other => {
            tracing::warn!(fault = ?other, "EC2 fault without a wire code; answering InvalidParameterValue");
            "InvalidParameterValue"
        }
    }
}

impl From<Ec2Fault> for ApiError {
    fn from(fault: Ec2Fault) -> Self {
        ApiError::new(
            fault_code(&fault),
            StatusCode::BAD_REQUEST,
            fault.to_string(),
        )
    }
}

impl From<NetworkError> for ApiError {
    fn from(error: NetworkError) -> Self {
        match error {
            NetworkError::Fault(fault) => fault.into(),
            other => {
                tracing::error!(error = %other, "EC2 request failed inside the service");
                ApiError::internal()
            }
        }
    }
}

/// `<name>…items…</name>` with each item in `<item>`; `<name/>` when empty.
pub(crate) fn items<T>(
    x: &mut Xml,
    name: &str,
    list: impl IntoIterator<Item = T>,
    f: impl FnMut(&mut Xml, T),
) {
    x.list(name, "item", list, f);
}

/// `<tagSet>` of EC2 tags.
pub(crate) fn tag_set(x: &mut Xml, tags: &[ferrocache_model::tag::Tag]) {
    items(x, "tagSet", tags, |x, t| {
        x.text("key", &t.key);
        x.text("value", &t.value);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: EC2 requests are told apart by Version or signing service, and the table answers
    // unknown actions with InvalidAction. Method: select with each.
    #[test]
    fn selection() {
        let p = |pairs: &[(&str, &str)]| Params::from_pairs(pairs.iter().copied());
        assert!(wants(&p(&[("Version", "2016-11-15")]), None));
        assert!(wants(&p(&[]), Some("ec2")));
        assert!(!wants(
            &p(&[("Version", "2015-02-02")]),
            Some("elasticache")
        ));
        let op = select(&p(&[("Action", "DescribeVpcs"), ("Version", EC2_VERSION)])).unwrap();
        assert_eq!(op.action, "DescribeVpcs");
        let e = select(&p(&[("Action", "RunInstances")])).unwrap_err();
        assert_eq!(e.code(), "InvalidAction");
    }

    // Goal: the error document is EC2's, not ElastiCache's. Method: render one.
    #[test]
    fn error_document() {
        let e = ApiError::from(Ec2Fault::VpcNotFound("vpc-1".into()));
        assert_eq!(
            error_xml(&e, "rid"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>InvalidVpcID.NotFound</Code>\
             <Message>The vpc ID &apos;vpc-1&apos; does not exist</Message></Error></Errors><RequestID>rid</RequestID></Response>"
        );
    }
}
