//! [`ApiError`]: every failure as the client sees it — wire code, HTTP status, message — and
//! the one place where domain errors get their wire code ([`fault_wire`]) and where the
//! `ErrorResponse` envelope is written.
//!
//! Codes and statuses are the AWS model's (`shared/reference/elasticache-api.md` §2.3): the wire
//! code often drops the shape's `Fault` suffix (`CacheClusterNotFound`) but not always
//! (`ReplicationGroupNotFoundFault`), and `CacheSubnetGroupNotFoundFault` is a 400. Client
//! mistakes are 4xx (AWS SDKs retry 5xx four more times); a store failure is a 500
//! `InternalFailure` whose detail is logged, never sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ferrocache_control::ServiceError;
use ferrocache_model::Fault;

use crate::query::DecodeError;
use crate::sigv4::SigV4Error;
use crate::xml::{Xml, NAMESPACE};

/// The header that carries the request id next to the body's `RequestId`.
pub const REQUEST_ID_HEADER: &str = "x-amzn-RequestId";
/// The content type of every awsQuery response.
pub const CONTENT_TYPE_XML: &str = "text/xml";

/// A request that failed, as the client will see it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} ({status}): {message}")]
pub struct ApiError {
    /// Wire code (`<Code>`).
    code: &'static str,
    /// HTTP status.
    status: StatusCode,
    /// `<Message>`.
    message: String,
}

impl ApiError {
    /// An error with an explicit code and status.
    pub fn new(code: &'static str, status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            code,
            status,
            message: message.into(),
        }
    }

    /// The wire code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// `MissingAction` (400): no `Action` parameter.
    pub fn missing_action() -> Self {
        Self::new(
            "MissingAction",
            StatusCode::BAD_REQUEST,
            "The request must contain the parameter Action.",
        )
    }

    /// `InvalidAction` (400): an action this service does not offer (unknown, or not
    /// implemented yet — both answered alike).
    pub fn invalid_action(action: &str) -> Self {
        let action: String = action.chars().take(crate::query::ECHO_CHARS_MAX).collect();
        Self::new(
            "InvalidAction",
            StatusCode::BAD_REQUEST,
            format!("The action {action} is not valid for this web service."),
        )
    }

    /// `InvalidAction` (400) for a `Version` other than the service's: AWS's query front ends
    /// look operations up by action *and* version, so an unknown version is an unknown operation.
    pub fn invalid_version(action: &str, version: &str) -> Self {
        let action: String = action.chars().take(crate::query::ECHO_CHARS_MAX).collect();
        let version: String = version.chars().take(crate::query::ECHO_CHARS_MAX).collect();
        Self::new(
            "InvalidAction",
            StatusCode::BAD_REQUEST,
            format!("Could not find operation {action} for version {version}."),
        )
    }

    /// `MissingParameter` (400), worded as the model's [`Fault::MissingParameter`].
    pub fn missing_parameter(name: &str) -> Self {
        Self::from(Fault::MissingParameter(name.to_string()))
    }

    /// `ValidationError` (400): a request that is malformed as a whole.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationError", StatusCode::BAD_REQUEST, message)
    }

    /// `RequestEntityTooLarge` (413): a body over the limit.
    pub fn too_large(limit_bytes: usize) -> Self {
        Self::new(
            "RequestEntityTooLarge",
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request body must be at most {limit_bytes} bytes."),
        )
    }

    /// `RequestTimeout` (408): the body did not arrive in time.
    pub fn body_timeout() -> Self {
        Self::new(
            "RequestTimeout",
            StatusCode::REQUEST_TIMEOUT,
            "The request body was not received in time.",
        )
    }

    /// `MethodNotAllowed` (405): awsQuery takes `POST` (and `GET` with a query string).
    pub fn method_not_allowed(method: &str) -> Self {
        Self::new(
            "MethodNotAllowed",
            StatusCode::METHOD_NOT_ALLOWED,
            format!("The method {method} is not allowed; use POST."),
        )
    }

    /// `NotFound` (404): a path this edge does not serve (awsQuery requests go to `/`).
    pub fn unknown_path() -> Self {
        Self::new(
            "NotFound",
            StatusCode::NOT_FOUND,
            "No service at this path; send awsQuery requests to /.",
        )
    }

    /// `InternalFailure` (500) with a generic message; the cause is logged by the caller.
    pub fn internal() -> Self {
        Self::new(
            "InternalFailure",
            StatusCode::INTERNAL_SERVER_ERROR,
            "The request processing has failed because of an unknown error, exception or failure.",
        )
    }

    /// The `ErrorResponse` document with `request_id`.
    pub fn to_xml(&self, request_id: &str) -> String {
        let kind = if self.status.is_server_error() {
            "Receiver"
        } else {
            "Sender"
        };
        let mut x = Xml::new();
        x.element("Error", |x| {
            x.text("Type", kind);
            x.text("Code", self.code);
            x.text("Message", &self.message);
        });
        x.text("RequestId", request_id);
        format!(
            "<ErrorResponse xmlns=\"{NAMESPACE}\">{}</ErrorResponse>",
            x.into_string()
        )
    }

    /// The HTTP response carrying this error and `request_id` (body and header).
    pub fn to_response(&self, request_id: &str) -> Response {
        xml_response(self.status, self.to_xml(request_id), request_id)
    }
}

/// An XML response with the request id header.
pub(crate) fn xml_response(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(CONTENT_TYPE_XML),
    );
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert(REQUEST_ID_HEADER, id);
    }
    response
}

impl IntoResponse for ApiError {
    /// With a fresh request id (handlers that know theirs use [`ApiError::to_response`]).
    fn into_response(self) -> Response {
        self.to_response(&uuid::Uuid::new_v4().to_string())
    }
}

/// The wire code and HTTP status of each [`Fault`]: the one mapping.
pub fn fault_wire(fault: &Fault) -> (&'static str, StatusCode) {
    use StatusCode as S;
    match fault {
        Fault::InvalidParameterValue(_) => ("InvalidParameterValue", S::BAD_REQUEST),
        Fault::InvalidParameterCombination(_) => ("InvalidParameterCombination", S::BAD_REQUEST),
        Fault::MissingParameter(_) => ("MissingParameter", S::BAD_REQUEST),
        Fault::ReplicationGroupNotFound(_) => ("ReplicationGroupNotFoundFault", S::NOT_FOUND),
        Fault::ReplicationGroupAlreadyExists(_) => {
            ("ReplicationGroupAlreadyExists", S::BAD_REQUEST)
        }
        Fault::InvalidReplicationGroupState(_) => ("InvalidReplicationGroupState", S::BAD_REQUEST),
        Fault::CacheClusterNotFound(_) => ("CacheClusterNotFound", S::NOT_FOUND),
        Fault::CacheClusterAlreadyExists(_) => ("CacheClusterAlreadyExists", S::BAD_REQUEST),
        Fault::InvalidCacheClusterState(_) => ("InvalidCacheClusterState", S::BAD_REQUEST),
        Fault::CacheParameterGroupNotFound(_) => ("CacheParameterGroupNotFound", S::NOT_FOUND),
        Fault::CacheParameterGroupNotFoundMessage(_) => {
            ("CacheParameterGroupNotFound", S::NOT_FOUND)
        }
        Fault::CacheParameterGroupAlreadyExists(_) => {
            ("CacheParameterGroupAlreadyExists", S::BAD_REQUEST)
        }
        Fault::InvalidCacheParameterGroupState(_) => {
            ("InvalidCacheParameterGroupState", S::BAD_REQUEST)
        }
        Fault::CacheSubnetGroupNotFound(_) => ("CacheSubnetGroupNotFoundFault", S::BAD_REQUEST),
        Fault::CacheSubnetGroupAlreadyExists(_) => {
            ("CacheSubnetGroupAlreadyExists", S::BAD_REQUEST)
        }
        Fault::CacheSubnetGroupInUse(_) => ("CacheSubnetGroupInUse", S::BAD_REQUEST),
        Fault::CacheSubnetGroupQuotaExceeded(_) => {
            ("CacheSubnetGroupQuotaExceeded", S::BAD_REQUEST)
        }
        Fault::CacheSubnetQuotaExceeded(_) => ("CacheSubnetQuotaExceededFault", S::BAD_REQUEST),
        Fault::InvalidSubnet(_) => ("InvalidSubnet", S::BAD_REQUEST),
        Fault::SubnetInUse(_) => ("SubnetInUse", S::BAD_REQUEST),
        Fault::InvalidVpcNetworkState(_) => ("InvalidVPCNetworkStateFault", S::BAD_REQUEST),
        Fault::NodeGroupNotFound(_) => ("NodeGroupNotFoundFault", S::NOT_FOUND),
        Fault::NodeQuotaForClusterExceeded(_) => ("NodeQuotaForClusterExceeded", S::BAD_REQUEST),
        Fault::NodeGroupsPerReplicationGroupQuotaExceeded(_) => {
            ("NodeGroupsPerReplicationGroupQuotaExceeded", S::BAD_REQUEST)
        }
        Fault::NoOperation(_) => ("NoOperationFault", S::BAD_REQUEST),
        Fault::InvalidArn(_) => ("InvalidARN", S::BAD_REQUEST),
        Fault::TagNotFound(_) => ("TagNotFound", S::NOT_FOUND),
        Fault::TagQuotaPerResourceExceeded(_) => ("TagQuotaPerResourceExceeded", S::BAD_REQUEST),
        Fault::SnapshotNotFound(_) => ("SnapshotNotFoundFault", S::NOT_FOUND),
        Fault::SnapshotAlreadyExists(_) => ("SnapshotAlreadyExistsFault", S::BAD_REQUEST),
        Fault::SnapshotQuotaExceeded(_) => ("SnapshotQuotaExceededFault", S::BAD_REQUEST),
        Fault::InvalidSnapshotState(_) => ("InvalidSnapshotState", S::BAD_REQUEST),
        Fault::TestFailoverNotAvailable(_) => ("TestFailoverNotAvailableFault", S::BAD_REQUEST),
        Fault::ApiCallRateForCustomerExceeded(_) => {
            ("APICallRateForCustomerExceeded", S::BAD_REQUEST)
        }
        Fault::UserNotFound(_) => ("UserNotFound", S::NOT_FOUND),
        Fault::UserGroupNotFound(_) => ("UserGroupNotFound", S::NOT_FOUND),
        Fault::UserAlreadyExists(_) => ("UserAlreadyExists", S::BAD_REQUEST),
        Fault::UserGroupAlreadyExists(_) => ("UserGroupAlreadyExists", S::BAD_REQUEST),
        Fault::DuplicateUserName(_) => ("DuplicateUserName", S::BAD_REQUEST),
        Fault::DefaultUserRequired(_) => ("DefaultUserRequired", S::BAD_REQUEST),
        Fault::DefaultUserAssociatedToUserGroup(_) => {
            ("DefaultUserAssociatedToUserGroup", S::BAD_REQUEST)
        }
        Fault::InvalidUserState(_) => ("InvalidUserState", S::BAD_REQUEST),
        Fault::InvalidUserGroupState(_) => ("InvalidUserGroupState", S::BAD_REQUEST),
        Fault::UserQuotaExceeded(_) => ("UserQuotaExceeded", S::BAD_REQUEST),
        Fault::InsufficientCacheClusterCapacity(_) => {
            ("InsufficientCacheClusterCapacity", S::BAD_REQUEST)
        }
        // `Fault` is non-exhaustive: a variant added in `model` before it is mapped here is
        // still a broken rule, so a 400 with its message, and a log line to map it.
        other => {
            tracing::warn!(fault = ?other, "fault without a wire code; answering InvalidParameterValue");
            ("InvalidParameterValue", S::BAD_REQUEST)
        }
    }
}

impl From<Fault> for ApiError {
    fn from(fault: Fault) -> Self {
        let (code, status) = fault_wire(&fault);
        Self::new(code, status, fault.to_string())
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Fault(fault) => fault.into(),
            ref full if full.no_space().is_some() => {
                tracing::warn!(error = %full, "a change could not be recorded: the disk is full");
                let path = full.no_space().unwrap_or_default();
                if path == "etcd" {
                    return Self::new(
                        "ServiceUnavailable",
                        StatusCode::SERVICE_UNAVAILABLE,
                        "Ferrocache cannot record this change: its store (etcd) is over its space quota (database space exceeded). Reads keep working; compact and defragment etcd or raise its --quota-backend-bytes, then retry.".to_string(),
                    );
                }
                Self::new(
                    "ServiceUnavailable",
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "Ferrocache cannot record this change: no space left on the file system of its data directory (store {path}). Reads keep working; free space there and retry."
                    ),
                )
            }
            ref unavailable if unavailable.store_unavailable() => {
                tracing::warn!(error = %unavailable, "a change could not be recorded: the store is unavailable");
                Self::new(
                    "ServiceUnavailable",
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Ferrocache cannot record changes now: its store (etcd) cannot be reached or has lost its quorum. Reads keep working; retry once it is back.".to_string(),
                )
            }
            ref deposed if deposed.deposed() => {
                tracing::error!(error = %deposed, "a change was refused: this process does not lead the store now");
                Self::new(
                    "ServiceUnavailable",
                    StatusCode::SERVICE_UNAVAILABLE,
                    "This Ferrocache does not lead its store now: its leadership lapsed (etcd out of reach or without a quorum), or another one leads. Nothing was changed; retry, or send the request to the leader.".to_string(),
                )
            }
            ServiceError::NoRoom { .. } => {
                tracing::warn!(error = %error, "refused: no room in the data directory");
                Self::new(
                    "ServiceUnavailable",
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "Ferrocache cannot do this now: {error} on the file system of its data directory. Nothing was changed; free space there and retry."
                    ),
                )
            }
            other => {
                tracing::error!(error = %other, "request failed inside the service");
                Self::internal()
            }
        }
    }
}

impl From<DecodeError> for ApiError {
    fn from(error: DecodeError) -> Self {
        match error {
            DecodeError::TooManyParameters { .. } => Self::validation(error.to_string()),
            _ => Self::from(Fault::value(error.to_string())),
        }
    }
}

impl From<crate::signature::SignatureError> for ApiError {
    fn from(error: crate::signature::SignatureError) -> Self {
        Self::new(error.code(), StatusCode::FORBIDDEN, error.to_string())
    }
}

impl From<SigV4Error> for ApiError {
    fn from(error: SigV4Error) -> Self {
        Self::new(
            "IncompleteSignature",
            StatusCode::FORBIDDEN,
            error.to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: every Fault the model defines has the wire code and status of the AWS model
    // (§2.3). Method: walk all variants against a table written from the reference.
    #[test]
    fn every_fault_has_its_wire_code() {
        let m = || "m".to_string();
        let table: Vec<(Fault, &str, u16)> = vec![
            (
                Fault::InvalidParameterValue(m()),
                "InvalidParameterValue",
                400,
            ),
            (
                Fault::InvalidParameterCombination(m()),
                "InvalidParameterCombination",
                400,
            ),
            (Fault::MissingParameter(m()), "MissingParameter", 400),
            (
                Fault::ReplicationGroupNotFound(m()),
                "ReplicationGroupNotFoundFault",
                404,
            ),
            (
                Fault::ReplicationGroupAlreadyExists(m()),
                "ReplicationGroupAlreadyExists",
                400,
            ),
            (
                Fault::InvalidReplicationGroupState(m()),
                "InvalidReplicationGroupState",
                400,
            ),
            (
                Fault::CacheClusterNotFound(m()),
                "CacheClusterNotFound",
                404,
            ),
            (
                Fault::CacheClusterAlreadyExists(m()),
                "CacheClusterAlreadyExists",
                400,
            ),
            (
                Fault::InvalidCacheClusterState(m()),
                "InvalidCacheClusterState",
                400,
            ),
            (
                Fault::CacheParameterGroupNotFound(m()),
                "CacheParameterGroupNotFound",
                404,
            ),
            (
                Fault::CacheParameterGroupNotFoundMessage(m()),
                "CacheParameterGroupNotFound",
                404,
            ),
            (
                Fault::CacheParameterGroupAlreadyExists(m()),
                "CacheParameterGroupAlreadyExists",
                400,
            ),
            (
                Fault::InvalidCacheParameterGroupState(m()),
                "InvalidCacheParameterGroupState",
                400,
            ),
            (
                Fault::CacheSubnetGroupNotFound(m()),
                "CacheSubnetGroupNotFoundFault",
                400,
            ),
            (Fault::NodeGroupNotFound(m()), "NodeGroupNotFoundFault", 404),
            (
                Fault::NodeQuotaForClusterExceeded(m()),
                "NodeQuotaForClusterExceeded",
                400,
            ),
            (
                Fault::NodeGroupsPerReplicationGroupQuotaExceeded(m()),
                "NodeGroupsPerReplicationGroupQuotaExceeded",
                400,
            ),
            (Fault::NoOperation(m()), "NoOperationFault", 400),
            (Fault::InvalidArn(m()), "InvalidARN", 400),
            (Fault::TagNotFound(m()), "TagNotFound", 404),
            (
                Fault::TagQuotaPerResourceExceeded(m()),
                "TagQuotaPerResourceExceeded",
                400,
            ),
            (Fault::SnapshotNotFound(m()), "SnapshotNotFoundFault", 404),
            (Fault::UserNotFound(m()), "UserNotFound", 404),
            (Fault::UserGroupNotFound(m()), "UserGroupNotFound", 404),
            (
                Fault::InsufficientCacheClusterCapacity(m()),
                "InsufficientCacheClusterCapacity",
                400,
            ),
            (
                Fault::CacheSubnetGroupAlreadyExists(m()),
                "CacheSubnetGroupAlreadyExists",
                400,
            ),
            (
                Fault::CacheSubnetGroupInUse(m()),
                "CacheSubnetGroupInUse",
                400,
            ),
            (
                Fault::CacheSubnetGroupQuotaExceeded(m()),
                "CacheSubnetGroupQuotaExceeded",
                400,
            ),
            (
                Fault::CacheSubnetQuotaExceeded(m()),
                "CacheSubnetQuotaExceededFault",
                400,
            ),
            (Fault::InvalidSubnet(m()), "InvalidSubnet", 400),
            (Fault::SubnetInUse(m()), "SubnetInUse", 400),
            (
                Fault::InvalidVpcNetworkState(m()),
                "InvalidVPCNetworkStateFault",
                400,
            ),
        ];
        for (fault, code, status) in table {
            let message = fault.to_string();
            let e = ApiError::from(fault);
            assert_eq!((e.code(), e.status().as_u16()), (code, status), "{message}");
            assert_eq!(e.message(), message);
        }
    }

    // Goal: the error envelope is AWS's, with Sender for 4xx and Receiver for 5xx, and text
    // escaped. Method: render two errors.
    #[test]
    fn envelope() {
        let e = ApiError::from(Fault::value("bad <value> & more"));
        assert_eq!(
            e.to_xml("rid"),
            "<ErrorResponse xmlns=\"http://elasticache.amazonaws.com/doc/2015-02-02/\"><Error><Type>Sender</Type>\
             <Code>InvalidParameterValue</Code><Message>bad &lt;value&gt; &amp; more</Message></Error>\
             <RequestId>rid</RequestId></ErrorResponse>"
        );
        assert!(ApiError::internal()
            .to_xml("r")
            .contains("<Type>Receiver</Type>"));
    }

    // Goal: decode errors are 400s naming the parameter, signature errors 403s, action errors
    // echo a bounded action name. Method: convert one of each.
    #[test]
    fn edge_errors() {
        let e = ApiError::from(DecodeError::Integer {
            name: "Port".into(),
            value: "x".into(),
        });
        assert_eq!(
            (e.code(), e.status()),
            ("InvalidParameterValue", StatusCode::BAD_REQUEST)
        );
        assert!(e.message().contains("Port"));
        let e = ApiError::from(DecodeError::TooManyParameters { max: 1 });
        assert_eq!(e.code(), "ValidationError");
        let e = ApiError::from(SigV4Error::InvalidRegion);
        assert_eq!(
            (e.code(), e.status()),
            ("IncompleteSignature", StatusCode::FORBIDDEN)
        );
        let e = ApiError::invalid_action(&"A".repeat(10_000));
        assert!(e.message().len() < 200);
        assert_eq!(
            ApiError::invalid_action("Nope").message(),
            "The action Nope is not valid for this web service."
        );
    }
}
