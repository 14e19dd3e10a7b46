//! Ferrocache's S3 client: the S3-compatible object store behind `ferrocache up --s3-endpoint
//! URL`, where `CopySnapshot --target-bucket` exports a snapshot's RDB files and where
//! `SnapshotArns` (`arn:aws:s3:::bucket/key.rdb`) are read from.
//!
//! [`S3Store`] implements the control plane's [`ObjectStore`] trait as a thin layer over
//! `aws-sdk-s3` with path-style addressing (`<endpoint>/<bucket>/<key>`, which every
//! S3-compatible store answers, unlike virtual-host names on a loopback address). Its errors are
//! sorted into [`ObjectError`] so the API can answer with ElastiCache's words ("The S3 bucket %s
//! does not exist.") and the reconcilers can say why a step failed. The binary builds one
//! ([`S3Store::from_env`]) and hands it to the control plane as `Arc<dyn ObjectStore>`.
//!
//! # Layout
//! Everything is in this file: [`S3Store`] (constructors, the [`ObjectStore`] calls, the sorting
//! of SDK errors) and [`S3ConfigError`], why a store cannot be built.
//!
//! # Dependency rules
//! This crate exists so that the HTTP client stays out of `ferrocache-control` (which must not
//! speak HTTP). Its only Ferrocache dependency is `ferrocache-control` (the trait and its
//! error), and it is a client only: `axum` never appears in its dependency tree.

use std::io;
use std::path::Path;
use std::time::Duration;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use ferrocache_control::object_store::{ObjectError, ObjectStore};
use ferrocache_control::runtime::BoxFuture;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// Bound on connecting to the store: an unreachable store is reported, not waited for.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Bound on one attempt of a call that moves no object body.
const SMALL_CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts per call (the SDK's standard retry with backoff): one retry of a passing fault.
const ATTEMPTS_MAX: u32 = 2;

/// Why an [`S3Store`] cannot be built (the binary stops start-up with this line).
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum S3ConfigError {
    /// The endpoint is not a plain `http://` URL: no TLS client is compiled in.
    #[error(
        "--s3-endpoint {0}: only plain http:// endpoints are supported (this build has no TLS client)"
    )]
    NotPlainHttp(String),
    /// `AWS_ACCESS_KEY_ID` or `AWS_SECRET_ACCESS_KEY` is not set.
    #[error(
        "--s3-endpoint {0} needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment"
    )]
    MissingCredentials(String),
}

/// A client of one S3-compatible endpoint.
#[derive(Clone, Debug)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    endpoint: String,
}

impl S3Store {
    /// A client of `endpoint` (`http://host:port`) signing with the given credentials for
    /// `region`. No TLS stack is compiled in: an `https://` endpoint is refused here.
    ///
    /// # Errors
    /// [`S3ConfigError::NotPlainHttp`] for an endpoint that is not a plain `http://` URL.
    pub fn new(
        endpoint: &str,
        region: &str,
        access_key_id: &str,
        secret_access_key: &str,
        session_token: Option<String>,
    ) -> Result<Self, S3ConfigError> {
        if !endpoint.starts_with("http://") {
            return Err(S3ConfigError::NotPlainHttp(endpoint.to_string()));
        }
        let endpoint = endpoint.trim_end_matches('/').to_string();
        let credentials = Credentials::new(
            access_key_id,
            secret_access_key,
            session_token,
            None,
            "environment",
        );
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .endpoint_url(&endpoint)
            .force_path_style(true)
            .credentials_provider(credentials)
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            // Checksums only where S3 requires them: stores that mimic S3 differ in which
            // trailing-checksum encodings they accept; the SHA-256 in the manifest is ours.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .build(),
            )
            .retry_config(RetryConfig::standard().with_max_attempts(ATTEMPTS_MAX))
            .build();
        Ok(Self {
            client: aws_sdk_s3::Client::from_conf(config),
            endpoint,
        })
    }

    /// A client from `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and `AWS_SESSION_TOKEN`.
    ///
    /// # Errors
    /// [`S3ConfigError::MissingCredentials`] when the credentials are not set, else as
    /// [`S3Store::new`].
    pub fn from_env(endpoint: &str, region: &str) -> Result<Self, S3ConfigError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let (Some(key), Some(secret)) = (var("AWS_ACCESS_KEY_ID"), var("AWS_SECRET_ACCESS_KEY"))
        else {
            return Err(S3ConfigError::MissingCredentials(endpoint.to_string()));
        };
        Self::new(endpoint, region, &key, &secret, var("AWS_SESSION_TOKEN"))
    }

    /// `HeadBucket`.
    async fn check_bucket(&self, bucket: &str) -> Result<(), ObjectError> {
        self.client
            .head_bucket()
            .bucket(bucket)
            .customize()
            .config_override(small_call())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.sort(e, bucket, None))
    }

    /// `HeadObject`; a missing object is `false`.
    async fn exists(&self, bucket: &str, key: &str) -> Result<bool, ObjectError> {
        match self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .customize()
            .config_override(small_call())
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) => match self.sort(e, bucket, Some(key)) {
                ObjectError::NoSuchKey { .. } => Ok(false),
                other => Err(other),
            },
        }
    }

    /// `PutObject` of the file at `path`.
    async fn put_file(&self, bucket: &str, key: &str, path: &Path) -> Result<(), ObjectError> {
        let body = ByteStream::from_path(path)
            .await
            .map_err(|e| ObjectError::Io(io::Error::other(e.to_string())))?;
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.sort(e, bucket, Some(key)))
    }

    /// `PutObject` of `bytes`.
    async fn put_bytes(&self, bucket: &str, key: &str, bytes: Vec<u8>) -> Result<(), ObjectError> {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| self.sort(e, bucket, Some(key)))
    }

    /// `GetObject` streamed into a new file `path` (synced), hashed on the way.
    async fn get_file(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
    ) -> Result<(u64, String), ObjectError> {
        let response = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.sort(e, bucket, Some(key)))?;
        let mut body = response.body;
        let mut file = tokio::fs::File::create(path).await?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        while let Some(chunk) = body
            .try_next()
            .await
            .map_err(|e| ObjectError::Other(format!("reading {bucket}/{key}: {e}")))?
        {
            hasher.update(&chunk);
            file.write_all(&chunk).await?;
            size += chunk.len() as u64;
        }
        file.sync_all().await?;
        let sha256 = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok((size, sha256))
    }

    /// Sorts an SDK error into an [`ObjectError`].
    fn sort<E>(
        &self,
        error: SdkError<E, HttpResponse>,
        bucket: &str,
        key: Option<&str>,
    ) -> ObjectError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = error.raw_response().map(|r| r.status().as_u16());
        let code = error.code().map(str::to_string);
        match (&error, status, code.as_deref()) {
            (SdkError::DispatchFailure(_) | SdkError::TimeoutError(_), _, _) => {
                ObjectError::Unreachable {
                    endpoint: self.endpoint.clone(),
                    reason: dispatch_reason(&error),
                }
            }
            (_, _, Some("NoSuchBucket")) => ObjectError::NoSuchBucket(bucket.to_string()),
            (_, _, Some("NoSuchKey")) => ObjectError::NoSuchKey {
                bucket: bucket.to_string(),
                key: key.unwrap_or_default().to_string(),
            },
            // HEAD answers carry no error body: 404 on a bucket call is the bucket, on an
            // object call the object (a missing bucket then shows on the next call).
            (_, Some(404), _) => match key {
                Some(key) => ObjectError::NoSuchKey {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                },
                None => ObjectError::NoSuchBucket(bucket.to_string()),
            },
            (_, Some(403), _) | (_, _, Some("AccessDenied")) => {
                ObjectError::AccessDenied(bucket.to_string())
            }
            _ => ObjectError::Other(format!(
                "{} ({})",
                code.unwrap_or_else(|| "an error".into()),
                status.map_or_else(|| "no HTTP status".to_string(), |s| format!("HTTP {s}"))
            )),
        }
    }
}

/// The trait's calls are the inherent `async fn`s above, boxed.
impl ObjectStore for S3Store {
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn check_bucket<'a>(&'a self, bucket: &'a str) -> BoxFuture<'a, Result<(), ObjectError>> {
        Box::pin(self.check_bucket(bucket))
    }

    fn exists<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<bool, ObjectError>> {
        Box::pin(self.exists(bucket, key))
    }

    fn put_file<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        path: &'a Path,
    ) -> BoxFuture<'a, Result<(), ObjectError>> {
        Box::pin(self.put_file(bucket, key, path))
    }

    fn put_bytes<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        bytes: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), ObjectError>> {
        Box::pin(self.put_bytes(bucket, key, bytes))
    }

    fn get_file<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        path: &'a Path,
    ) -> BoxFuture<'a, Result<(u64, String), ObjectError>> {
        Box::pin(self.get_file(bucket, key, path))
    }
}

/// The override for calls that move no body: a short bound per attempt.
fn small_call() -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::default().timeout_config(
        TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(SMALL_CALL_TIMEOUT)
            .build(),
    )
}

/// The innermost cause of a connection failure ("Connection refused"), not the SDK's wrapper
/// text ("dispatch failure").
fn dispatch_reason<E, R>(error: &SdkError<E, R>) -> String
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    if text.is_empty() {
        "no answer".to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: only plain http endpoints are accepted (no TLS client in this build). Method: both.
    #[test]
    fn endpoints() {
        assert!(S3Store::new("http://127.0.0.1:9000/", "us-east-1", "a", "b", None).is_ok());
        assert!(matches!(
            S3Store::new("https://s3.example", "us-east-1", "a", "b", None),
            Err(S3ConfigError::NotPlainHttp(_))
        ));
    }
}
