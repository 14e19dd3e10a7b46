//! Verifying SigV4 signatures, when Ferrocache is started with `--credentials FILE`.
//!
//! Without a credentials file any key is accepted (the architecture's default, as local AWS
//! emulators do); with one, every request must be signed in its `Authorization` header with a
//! key of the file, as AWS requires. The canonical request is rebuilt from exactly the headers
//! the client listed in `SignedHeaders` and signed again with the `aws-sigv4` crate (the same
//! signer the Rust SDK uses), then compared with the client's signature in constant time.
//!
//! Answers, as AWS's query APIs give them (all HTTP 403): `MissingAuthenticationToken` for an
//! unsigned request, `InvalidClientTokenId` for an unknown access key, `SignatureDoesNotMatch`
//! for a wrong secret, a changed body or a clock more than [`CLOCK_SKEW_MAX`] off, and
//! `IncompleteSignature` for a header missing its parts. None of them says which part of a
//! credential was wrong beyond what AWS itself says.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials as KeyPair;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use axum::http::request::Parts;
use chrono::{DateTime, NaiveDateTime, Utc};

use crate::sigv4::{parse_scope, ALGORITHM};

/// How far a request's `X-Amz-Date` may be from the server's clock (AWS: 15 minutes).
pub const CLOCK_SKEW_MAX: Duration = Duration::from_secs(15 * 60);

/// The `X-Amz-Date` format.
const AMZ_DATE: &str = "%Y%m%dT%H%M%SZ";

/// Access keys and their secrets.
#[derive(Clone, Default)]
pub struct Credentials {
    secrets: BTreeMap<String, String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret.
        f.debug_struct("Credentials")
            .field("access_key_ids", &self.secrets.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Why a credentials file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsFileError {
    /// A line that is neither a `[profile]`, a `key = value`, a comment nor blank.
    #[error("line {line}: expected `[profile]` or `key = value`")]
    Syntax {
        /// 1-based line number.
        line: usize,
    },
    /// A profile with a key id but no secret, or the reverse.
    #[error("profile [{profile}] needs both aws_access_key_id and aws_secret_access_key")]
    Incomplete {
        /// The profile's name.
        profile: String,
    },
    /// No profile had a key pair.
    #[error("no profile has an aws_access_key_id and aws_secret_access_key")]
    Empty,
}

impl Credentials {
    /// Reads the AWS shared-credentials format (`~/.aws/credentials`): `[profile]` sections
    /// with `aws_access_key_id` and `aws_secret_access_key`; every complete profile is a key
    /// the API accepts. Other keys (`aws_session_token`, `region`…) are ignored.
    ///
    /// The format is a few lines of INI; it is read here rather than with an INI crate because
    /// only two keys matter and a mistake must name its line.
    ///
    /// # Errors
    /// [`CredentialsFileError`].
    pub fn from_shared_file(text: &str) -> Result<Self, CredentialsFileError> {
        let mut profiles: Vec<(String, Option<String>, Option<String>)> = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                profiles.push((name.trim().to_string(), None, None));
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or(CredentialsFileError::Syntax { line: index + 1 })?;
            let Some(profile) = profiles.last_mut() else {
                return Err(CredentialsFileError::Syntax { line: index + 1 });
            };
            match key.trim() {
                "aws_access_key_id" => profile.1 = Some(value.trim().to_string()),
                "aws_secret_access_key" => profile.2 = Some(value.trim().to_string()),
                _ => {}
            }
        }
        let mut secrets = BTreeMap::new();
        for (profile, key, secret) in profiles {
            match (key, secret) {
                (Some(key), Some(secret)) => {
                    secrets.insert(key, secret);
                }
                (None, None) => {}
                _ => return Err(CredentialsFileError::Incomplete { profile }),
            }
        }
        if secrets.is_empty() {
            return Err(CredentialsFileError::Empty);
        }
        Ok(Self { secrets })
    }

    /// One key pair (for tests and embedding).
    #[must_use]
    pub fn single(access_key_id: &str, secret: &str) -> Self {
        Self {
            secrets: BTreeMap::from([(access_key_id.to_string(), secret.to_string())]),
        }
    }

    /// How many access keys are known.
    #[must_use]
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// Whether no key is known.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }
}

/// Why a request's signature was refused; each maps to AWS's code and text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `Authorization` header.
    #[error("Request is missing Authentication Token")]
    Missing,
    /// A header that is not SigV4 or misses one of its parts.
    #[error("{0}")]
    Incomplete(String),
    /// The access key is not in the credentials file.
    #[error("The security token included in the request is invalid.")]
    UnknownKey,
    /// The signature differs from ours.
    #[error("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")]
    Mismatch,
    /// `X-Amz-Date` too far in the past.
    #[error("Signature expired: {date} is now earlier than {limit} ({now} - 15 min.)")]
    Expired {
        /// The request's date.
        date: String,
        /// The oldest date accepted now.
        limit: String,
        /// The server's time.
        now: String,
    },
    /// `X-Amz-Date` too far in the future.
    #[error("Signature not yet current: {date} is still later than {limit} ({now} + 15 min.)")]
    NotYetCurrent {
        /// The request's date.
        date: String,
        /// The latest date accepted now.
        limit: String,
        /// The server's time.
        now: String,
    },
}

impl SignatureError {
    /// AWS's error code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            SignatureError::Missing => "MissingAuthenticationToken",
            SignatureError::Incomplete(_) => "IncompleteSignature",
            SignatureError::UnknownKey => "InvalidClientTokenId",
            SignatureError::Mismatch
            | SignatureError::Expired { .. }
            | SignatureError::NotYetCurrent { .. } => "SignatureDoesNotMatch",
        }
    }
}

/// The parts of a SigV4 `Authorization` header.
struct Authorization<'a> {
    scope: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_header(header: &str) -> Result<Authorization<'_>, SignatureError> {
    let rest = header
        .trim_start()
        .strip_prefix(ALGORITHM)
        .filter(|r| r.starts_with(' '))
        .ok_or_else(|| {
            SignatureError::Incomplete(format!(
                "Authorization header must use the {ALGORITHM} algorithm."
            ))
        })?;
    let (mut scope, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',').map(str::trim) {
        if let Some(v) = part.strip_prefix("Credential=") {
            scope = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let missing = |name: &str| {
        SignatureError::Incomplete(format!("Authorization header requires '{name}' parameter."))
    };
    Ok(Authorization {
        scope: scope.ok_or_else(|| missing("Credential"))?,
        signed_headers: signed
            .ok_or_else(|| missing("SignedHeaders"))?
            .split(';')
            .filter(|h| !h.is_empty())
            .collect(),
        signature: signature.ok_or_else(|| missing("Signature"))?,
    })
}

/// Checks the signature of a request (`parts` and its whole `body`) against `credentials`, at
/// server time `now`.
///
/// # Errors
/// [`SignatureError`], answered as AWS answers it.
pub fn verify(
    parts: &Parts,
    body: &[u8],
    credentials: &Credentials,
    now: SystemTime,
) -> Result<(), SignatureError> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or(SignatureError::Missing)?
        .to_str()
        .map_err(|_| SignatureError::Incomplete("Authorization header is not ASCII.".into()))?;
    let auth = parse_header(header)?;
    let scope = parse_scope(auth.scope).map_err(|e| SignatureError::Incomplete(e.to_string()))?;
    let secret = credentials
        .secrets
        .get(&scope.access_key_id)
        .ok_or(SignatureError::UnknownKey)?;
    let amz_date = parts
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            SignatureError::Incomplete(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                    .into(),
            )
        })?;
    let signed_at = NaiveDateTime::parse_from_str(amz_date, AMZ_DATE)
        .map_err(|_| SignatureError::Incomplete(format!("Invalid X-Amz-Date: {amz_date}")))?
        .and_utc();
    check_clock(&signed_at, now)?;
    if !amz_date.starts_with(&scope.date) {
        return Err(SignatureError::Mismatch);
    }

    let mut headers = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        let mut values = parts.headers.get_all(*name).iter().peekable();
        if values.peek().is_none() {
            return Err(SignatureError::Mismatch);
        }
        for value in values {
            let value = value.to_str().map_err(|_| SignatureError::Mismatch)?;
            headers.push((*name, value));
        }
    }
    let uri = parts
        .uri
        .path_and_query()
        .map_or_else(|| "/".to_string(), ToString::to_string);
    let identity: Identity = KeyPair::new(
        scope.access_key_id.clone(),
        secret.clone(),
        None,
        None,
        "ferrocache-credentials-file",
    )
    .into();
    let mut settings = SigningSettings::default();
    // Only the headers the client signed are passed in, so none is excluded here.
    settings.excluded_headers = Some(Vec::new());
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&scope.region)
        .name(&scope.service)
        .time(SystemTime::from(signed_at))
        .settings(settings)
        .build()
        .map_err(|_| SignatureError::Mismatch)?
        .into();
    let signable = SignableRequest::new(
        parts.method.as_str(),
        uri,
        headers.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|_| SignatureError::Mismatch)?;
    let expected = sign(signable, &params).map_err(|_| SignatureError::Mismatch)?;
    if constant_time_eq(expected.signature().as_bytes(), auth.signature.as_bytes()) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

fn check_clock(signed_at: &DateTime<Utc>, now: SystemTime) -> Result<(), SignatureError> {
    let now: DateTime<Utc> = now.into();
    let skew = chrono::Duration::from_std(CLOCK_SKEW_MAX).unwrap_or(chrono::Duration::MAX);
    let format = |t: DateTime<Utc>| t.format(AMZ_DATE).to_string();
    if *signed_at < now - skew {
        return Err(SignatureError::Expired {
            date: format(*signed_at),
            limit: format(now - skew),
            now: format(now),
        });
    }
    if *signed_at > now + skew {
        return Err(SignatureError::NotYetCurrent {
            date: format(*signed_at),
            limit: format(now + skew),
            now: format(now),
        });
    }
    Ok(())
}

/// Compares without stopping at the first difference, so timing says nothing about how much
/// of a guessed signature was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AKIDFERROCACHE01";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

    /// A request signed by the `aws-sigv4` signer with `secret`, as an SDK would send it.
    fn signed(secret: &str, body: &'static str, at: SystemTime) -> (Parts, &'static str) {
        let identity: Identity = KeyPair::new(KEY, secret, None, None, "test").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("eu-west-1")
            .name("elasticache")
            .time(at)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let mut request = axum::http::Request::builder()
            .method("POST")
            .uri("http://127.0.0.1:4566/")
            .header("host", "127.0.0.1:4566")
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .header("user-agent", "test-agent/1.0")
            .body(body)
            .unwrap();
        let signable = SignableRequest::new(
            "POST",
            "http://127.0.0.1:4566/",
            request
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str(), v.to_str().unwrap())),
            SignableBody::Bytes(body.as_bytes()),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        instructions.apply_to_request_http1x(&mut request);
        // A server sees the path only, and a header added after signing.
        *request.uri_mut() = "/".parse().unwrap();
        request
            .headers_mut()
            .insert("content-length", body.len().to_string().parse().unwrap());
        let (parts, body) = request.into_parts();
        (parts, body)
    }

    // Goal: a request signed with the right secret passes; a wrong secret, an unknown key, a
    // changed body and a skewed clock are each refused with AWS's code. Method: sign with the
    // crate's signer, verify at chosen server times.
    #[test]
    fn signatures_are_checked() {
        let creds = Credentials::single(KEY, SECRET);
        let now = SystemTime::now();
        let body = "Action=DescribeCacheClusters&Version=2015-02-02";
        let (parts, body) = signed(SECRET, body, now);
        assert_eq!(verify(&parts, body.as_bytes(), &creds, now), Ok(()));

        let (parts, body) = signed("not-the-secret", body, now);
        let e = verify(&parts, body.as_bytes(), &creds, now).unwrap_err();
        assert_eq!(e.code(), "SignatureDoesNotMatch");

        let (parts, _) = signed(SECRET, body, now);
        let e = verify(&parts, b"Action=DeleteReplicationGroup", &creds, now).unwrap_err();
        assert_eq!(e, SignatureError::Mismatch);

        let other = Credentials::single("AKIDSOMEONEELSE1", SECRET);
        let e = verify(&parts, body.as_bytes(), &other, now).unwrap_err();
        assert_eq!(e.code(), "InvalidClientTokenId");

        let later = now + Duration::from_secs(16 * 60);
        let e = verify(&parts, body.as_bytes(), &creds, later).unwrap_err();
        assert!(matches!(e, SignatureError::Expired { .. }), "{e:?}");
        assert!(e.to_string().starts_with("Signature expired: "), "{e}");
        let earlier = now - Duration::from_secs(16 * 60);
        let e = verify(&parts, body.as_bytes(), &creds, earlier).unwrap_err();
        assert!(matches!(e, SignatureError::NotYetCurrent { .. }), "{e:?}");

        let (mut parts, body) = signed(SECRET, body, now);
        parts.headers.remove("authorization");
        let e = verify(&parts, body.as_bytes(), &creds, now).unwrap_err();
        assert_eq!(e.code(), "MissingAuthenticationToken");
    }

    // Goal: the shared-credentials format is read as the aws CLI writes it, and mistakes name
    // their line or profile. Method: parse a few files.
    #[test]
    fn shared_credentials_file() {
        let text = "# local keys\n[default]\naws_access_key_id = AKIDONE\naws_secret_access_key = s1\nregion = eu-west-1\n\n[ci]\naws_access_key_id=AKIDTWO\naws_secret_access_key=s2\n";
        let creds = Credentials::from_shared_file(text).unwrap();
        assert_eq!(creds.len(), 2);
        assert!(!format!("{creds:?}").contains("s1"));
        assert_eq!(
            Credentials::from_shared_file("aws_access_key_id = x\n").unwrap_err(),
            CredentialsFileError::Syntax { line: 1 }
        );
        assert_eq!(
            Credentials::from_shared_file("[a]\naws_access_key_id = x\n").unwrap_err(),
            CredentialsFileError::Incomplete {
                profile: "a".into()
            }
        );
        assert_eq!(
            Credentials::from_shared_file("[a]\nregion = x\n").unwrap_err(),
            CredentialsFileError::Empty
        );
    }
}
