//! The ElastiCache operations, one module per resource (the same nouns as in `model` and
//! `control`): each decodes its requests from [`Params`] into the control plane's request types,
//! calls the [`ferrocache_control::Service`], and encodes the views into the AWS model's
//! elements, in model order (`shared/reference/elasticache-api.md` §4.2).
//!
//! Fields the views do not carry because Ferrocache does not offer the feature yet
//! (IPv6, data tiering, global datastores) are written with the value that is true of
//! every resource here (`false`, `disabled`, `ipv4`, empty lists), so strict SDKs see the full
//! shape.

pub mod cache_cluster;
pub mod engine_version;
pub mod event;
pub mod log_delivery;
pub mod modify;
pub mod parameter_group;
pub mod replication_group;
pub mod snapshot;
pub mod subnet_group;
pub mod tag;
pub mod user;

use ferrocache_control::service::view::Endpoint;

use crate::error::ApiError;
use crate::query::Params;
use crate::xml::Xml;

/// A required string member (the operation table has checked presence; this reads it as a
/// scalar, so `Name.x.1=…` without `Name=…` is still missing).
fn required<'a>(params: &'a Params, name: &str) -> Result<&'a str, ApiError> {
    params
        .get(name)
        .ok_or_else(|| ApiError::missing_parameter(name))
}

/// `<name><Address>…</Address><Port>…</Port></name>`.
fn endpoint(x: &mut Xml, name: &str, endpoint: &Endpoint) {
    x.element(name, |x| {
        x.text("Address", &endpoint.address);
        x.integer("Port", i64::from(endpoint.port));
    });
}

/// The wire spelling of an on/off setting (`AutomaticFailover`, `MultiAZ`).
fn enabled(on: bool) -> &'static str {
    if on {
        "enabled"
    } else {
        "disabled"
    }
}
