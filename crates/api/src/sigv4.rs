//! Who is calling and for which region: the credential scope of a SigV4 request.
//!
//! Ferrocache accepts any key (the architecture's rule: by default any key is accepted), so the
//! signature is not verified; what matters is the scope
//! `Credential=<AccessKeyId>/<yyyymmdd>/<region>/<service>/aws4_request`, read from the
//! `Authorization` header or, for presigned URLs, the `X-Amz-Credential` query parameter. Its
//! region scopes every resource (store keys, ARNs, zones), so it is checked to be a plain
//! region name: letters, digits and hyphens, at most [`REGION_LEN_MAX`] characters. A request
//! with no credentials at all (`aws --no-sign-request`) uses the configured default region.

use axum::http::HeaderMap;

use crate::query::Params;

/// Longest region name accepted (real ones are ≤ 16 characters, e.g. `ap-southeast-5`).
pub const REGION_LEN_MAX: usize = 32;
/// Longest access key id accepted (AWS documents 16–128).
pub const ACCESS_KEY_ID_LEN_MAX: usize = 128;
/// The SigV4 algorithm name that opens the `Authorization` header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// Why the credential scope could not be read. Answered as `IncompleteSignature` (403).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// The `Authorization` header is not a SigV4 header.
    #[error("Authorization header must use the {ALGORITHM} algorithm.")]
    Algorithm,
    /// The header has no `Credential=` part.
    #[error("Authorization header requires 'Credential' parameter.")]
    MissingCredential,
    /// The scope is not `<key>/<date>/<region>/<service>/aws4_request`.
    #[error("Credential should be scoped to a valid region, service and date: <AccessKeyId>/<yyyymmdd>/<region>/<service>/aws4_request.")]
    MalformedScope,
    /// The region in the scope is not a plain region name.
    #[error("Credential should be scoped to a valid region.")]
    InvalidRegion,
    /// The access key id is empty, too long or not alphanumeric.
    #[error("The access key id in the credential scope is not valid.")]
    InvalidAccessKeyId,
}

/// The parts of a credential scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// Access key id (maps to an account later).
    pub access_key_id: String,
    /// Scope date, `yyyymmdd`.
    pub date: String,
    /// Region of the request.
    pub region: String,
    /// Signing service (`elasticache`, `monitoring`, …).
    pub service: String,
}

/// The caller as the handlers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Region the request is for.
    pub region: String,
    /// Access key id, when the request was signed.
    pub access_key_id: Option<String>,
    /// Signing service, when the request was signed.
    pub service: Option<String>,
}

/// Parses a credential scope `<AccessKeyId>/<yyyymmdd>/<region>/<service>/aws4_request`.
///
/// # Errors
/// [`SigV4Error::MalformedScope`], [`SigV4Error::InvalidRegion`],
/// [`SigV4Error::InvalidAccessKeyId`].
pub fn parse_scope(scope: &str) -> Result<Credential, SigV4Error> {
    let mut parts = scope.split('/');
    let (Some(key), Some(date), Some(region), Some(service), Some("aws4_request"), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(SigV4Error::MalformedScope);
    };
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) || service.is_empty() {
        return Err(SigV4Error::MalformedScope);
    }
    let region_ok = !region.is_empty()
        && region.len() <= REGION_LEN_MAX
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !region_ok {
        return Err(SigV4Error::InvalidRegion);
    }
    if key.is_empty()
        || key.len() > ACCESS_KEY_ID_LEN_MAX
        || !key.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(SigV4Error::InvalidAccessKeyId);
    }
    Ok(Credential {
        access_key_id: key.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
    })
}

/// Parses an `Authorization` header:
/// `AWS4-HMAC-SHA256 Credential=<scope>, SignedHeaders=…, Signature=…`.
///
/// # Errors
/// [`SigV4Error`] when it is not SigV4 or its scope is malformed.
pub fn parse_authorization(header: &str) -> Result<Credential, SigV4Error> {
    let rest = header
        .trim_start()
        .strip_prefix(ALGORITHM)
        .ok_or(SigV4Error::Algorithm)?;
    if !rest.starts_with(' ') {
        return Err(SigV4Error::Algorithm);
    }
    let scope = rest
        .split(',')
        .map(str::trim)
        .find_map(|part| part.strip_prefix("Credential="))
        .ok_or(SigV4Error::MissingCredential)?;
    parse_scope(scope)
}

/// The caller of a request: from the `Authorization` header, else the presigned
/// `X-Amz-Credential` parameter, else anonymous in `default_region`.
///
/// # Errors
/// [`SigV4Error`] when credentials are present but unreadable (a request that claims a region
/// we cannot read must not silently land in the default one).
pub fn caller(
    headers: &HeaderMap,
    params: &Params,
    default_region: &str,
) -> Result<Caller, SigV4Error> {
    let credential = match headers.get(axum::http::header::AUTHORIZATION) {
        Some(value) => Some(parse_authorization(
            value.to_str().map_err(|_| SigV4Error::MissingCredential)?,
        )?),
        None => match params.get("X-Amz-Credential") {
            Some(scope) => Some(parse_scope(scope)?),
            None => None,
        },
    };
    Ok(match credential {
        Some(c) => Caller {
            region: c.region,
            access_key_id: Some(c.access_key_id),
            service: Some(c.service),
        },
        None => Caller {
            region: default_region.to_string(),
            access_key_id: None,
            service: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The header botocore sends (shape from a `--debug` capture, §2.6 of the API reference).
    const BOTOCORE: &str = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261121/ap-southeast-1/elasticache/aws4_request, \
        SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";

    // Goal: region, access key, date and service come out of a real botocore header.
    // Method: parse the captured shape.
    #[test]
    fn botocore_header() {
        let c = parse_authorization(BOTOCORE).unwrap();
        assert_eq!(c.region, "ap-southeast-1");
        assert_eq!(c.access_key_id, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(c.date, "20261121");
        assert_eq!(c.service, "elasticache");
    }

    // Goal: the caller falls back to the default region without credentials, reads presigned
    // scopes, and refuses unreadable credentials. Method: build header maps and params.
    #[test]
    fn caller_sources() {
        let none = caller(&HeaderMap::new(), &Params::default(), "us-east-1").unwrap();
        assert_eq!(
            none,
            Caller {
                region: "us-east-1".into(),
                access_key_id: None,
                service: None
            }
        );

        let mut headers = HeaderMap::new();
        headers.insert(axum::http::header::AUTHORIZATION, BOTOCORE.parse().unwrap());
        assert_eq!(
            caller(&headers, &Params::default(), "us-east-1")
                .unwrap()
                .region,
            "ap-southeast-1"
        );

        let presigned = Params::from_pairs([(
            "X-Amz-Credential",
            "test/20261121/eu-west-1/elasticache/aws4_request",
        )]);
        let c = caller(&HeaderMap::new(), &presigned, "us-east-1").unwrap();
        assert_eq!(c.region, "eu-west-1");
        assert_eq!(c.access_key_id.as_deref(), Some("test"));

        headers.insert(
            axum::http::header::AUTHORIZATION,
            "Basic dXNlcjpwYXNz".parse().unwrap(),
        );
        assert_eq!(
            caller(&headers, &Params::default(), "us-east-1"),
            Err(SigV4Error::Algorithm)
        );
    }

    // Goal: malformed scopes and regions that could escape their store prefix or ARN field are
    // refused. Method: parse a list of bad headers.
    #[test]
    fn malformed() {
        let cases = [
            ("AWS4-HMAC-SHA256", SigV4Error::Algorithm),
            (
                "AWS4-HMAC-SHA256X Credential=a/20261121/us-east-1/elasticache/aws4_request",
                SigV4Error::Algorithm,
            ),
            (
                "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00",
                SigV4Error::MissingCredential,
            ),
            (
                "AWS4-HMAC-SHA256 Credential=a/20261121/us-east-1/elasticache",
                SigV4Error::MalformedScope,
            ),
            (
                "AWS4-HMAC-SHA256 Credential=a/20261121/us-east-1/elasticache/aws4_request/x",
                SigV4Error::MalformedScope,
            ),
            (
                "AWS4-HMAC-SHA256 Credential=a/2026/us-east-1/elasticache/aws4_request",
                SigV4Error::MalformedScope,
            ),
            (
                "AWS4-HMAC-SHA256 Credential=a/20261121//elasticache/aws4_request",
                SigV4Error::InvalidRegion,
            ),
            (
                "AWS4-HMAC-SHA256 Credential=a/20261121/US-EAST-1/elasticache/aws4_request",
                SigV4Error::InvalidRegion,
            ),
            (
                "AWS4-HMAC-SHA256 Credential=a/20261121/us:east/elasticache/aws4_request",
                SigV4Error::InvalidRegion,
            ),
            (
                "AWS4-HMAC-SHA256 Credential=/20261121/us-east-1/elasticache/aws4_request",
                SigV4Error::InvalidAccessKeyId,
            ),
        ];
        for (header, want) in cases {
            assert_eq!(parse_authorization(header), Err(want.clone()), "{header}");
        }
        let long = format!(
            "AWS4-HMAC-SHA256 Credential=a/20261121/{}/elasticache/aws4_request",
            "a".repeat(REGION_LEN_MAX + 1)
        );
        assert_eq!(parse_authorization(&long), Err(SigV4Error::InvalidRegion));
    }
}
