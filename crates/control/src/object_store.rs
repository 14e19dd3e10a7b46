//! The S3-compatible object store behind `ferrocache up --s3-endpoint URL`, as the control plane
//! sees it: where `CopySnapshot --target-bucket` exports a snapshot's RDB files and where
//! `SnapshotArns` (`arn:aws:s3:::bucket/key.rdb`) are read from.
//!
//! [`ObjectStore`] is the seam and [`ObjectError`] its typed error: the API answers with
//! ElastiCache's words ("The S3 bucket %s does not exist.", see `service/snapshot.rs`) and the
//! reconcilers say why a step failed. The client that speaks S3 over HTTP is not here (this
//! crate speaks no HTTP): `ferrocache-s3` implements the trait and the binary hands it to
//! [`crate::Service::with_object_store`] and [`crate::reconcile::Controller::with_object_store`].

use std::fmt::Debug;
use std::io;
use std::path::Path;

use crate::runtime::BoxFuture;

/// Why an object store call failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    /// The bucket does not exist (S3 `NoSuchBucket` / 404 on the bucket).
    #[error("the S3 bucket {0} does not exist")]
    NoSuchBucket(String),
    /// The object does not exist (S3 `NoSuchKey` / 404 on the object).
    #[error("no object {key} in the S3 bucket {bucket}")]
    NoSuchKey {
        /// Bucket.
        bucket: String,
        /// Key.
        key: String,
    },
    /// The store refused the credentials (403).
    #[error("the object store refused access to the S3 bucket {0}")]
    AccessDenied(String),
    /// The store could not be reached (connection refused, timeout, DNS).
    #[error("the object store at {endpoint} cannot be reached: {reason}")]
    Unreachable {
        /// `--s3-endpoint`.
        endpoint: String,
        /// What the connection attempt said.
        reason: String,
    },
    /// Any other answer of the store.
    #[error("the object store answered {0}")]
    Other(String),
    /// A local file could not be read or written.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// The object store calls the control plane makes: one S3-compatible endpoint, buckets and
/// keys as S3 names them. Object-safe (boxed futures), so callers hold
/// `Option<Arc<dyn ObjectStore>>`.
pub trait ObjectStore: Send + Sync + Debug {
    /// `--s3-endpoint`.
    fn endpoint(&self) -> &str;

    /// Checks that `bucket` exists and answers these credentials.
    ///
    /// # Errors
    /// [`ObjectError::NoSuchBucket`], [`ObjectError::AccessDenied`], [`ObjectError::Unreachable`].
    fn check_bucket<'a>(&'a self, bucket: &'a str) -> BoxFuture<'a, Result<(), ObjectError>>;

    /// Whether `bucket` holds an object `key`.
    ///
    /// # Errors
    /// As [`ObjectStore::check_bucket`].
    fn exists<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<bool, ObjectError>>;

    /// Uploads the file at `path` as `bucket/key`.
    ///
    /// # Errors
    /// Store errors, or the file could not be read.
    fn put_file<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        path: &'a Path,
    ) -> BoxFuture<'a, Result<(), ObjectError>>;

    /// Uploads `bytes` as `bucket/key`.
    ///
    /// # Errors
    /// Store errors.
    fn put_bytes<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        bytes: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), ObjectError>>;

    /// Downloads `bucket/key` into a new file `path` (synced); returns its size and SHA-256
    /// (lower-case hex).
    ///
    /// # Errors
    /// Store errors ([`ObjectError::NoSuchKey`] for a missing object), or the file could not be
    /// written.
    fn get_file<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        path: &'a Path,
    ) -> BoxFuture<'a, Result<(u64, String), ObjectError>>;
}
