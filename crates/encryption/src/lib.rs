//! Encryption at rest (`AtRestEncryptionEnabled`): the master keys and the encrypted files.
//!
//! Envelope encryption, as KMS-backed services do it: every file gets its own random 256-bit
//! data key; the data is sealed with AES-256-GCM in the STREAM construction (64 KiB chunks, each
//! authenticated, the last one flagged, so truncation, reordering and any changed byte are
//! detected); the data key is itself sealed with a master key and stored in the file's header.
//! The master key named by a group's `KmsKeyId` (or the default key) lives in a [`KeyRing`]:
//! files of 32 random bytes, mode 0600, under the data dir, or one key given from outside
//! (`--at-rest-key-file`), which then serves every key id. Without the master key, a file
//! cannot be read back: [`EncryptionError::KeyUnavailable`].
//!
//! File layout: [`MAGIC`], a big-endian `u16` header length, the header (JSON: key id, the
//! sealed data key and its nonce, the stream nonce, the chunk size), then the sealed chunks.
//! Every chunk but the last holds exactly [`CHUNK_BYTES`] of plaintext; the last holds fewer
//! (possibly none), so a reader knows which chunk must be the last one.
//!
//! # Dependency rules
//! Depends on no Ferrocache crate (the agent and the control plane call it). Plain synchronous
//! `std` I/O: `tokio`, `axum` and `hyper` never appear in its dependency tree.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::stream::{DecryptorBE32, EncryptorBE32};
use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The first bytes of every encrypted file ("Ferrocache at rest", format 1).
pub const MAGIC: &[u8; 6] = b"FCAR1\n";
/// Plaintext bytes per sealed chunk.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// AES-GCM tag length.
const TAG_BYTES: usize = 16;
/// Key length of AES-256.
const KEY_BYTES: usize = 32;
/// Nonce length of AES-GCM.
const NONCE_BYTES: usize = 12;
/// Nonce prefix of the STREAM construction with a 32-bit counter and a last-chunk flag.
const STREAM_NONCE_BYTES: usize = 7;
/// Longest header accepted (a key id is at most a few hundred bytes).
const HEADER_BYTES_MAX: usize = 4096;

/// What can go wrong.
#[derive(Debug, thiserror::Error)]
pub enum EncryptionError {
    /// The master key the file (or the request) names is not available here.
    #[error("the encryption key {key_id} is not available")]
    KeyUnavailable {
        /// The key id.
        key_id: String,
    },
    /// The file is not an encrypted file of this format, or it was changed or cut short.
    #[error("encrypted file {path}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A master key given from outside is not 32 bytes (or 64 hex characters).
    #[error("an at-rest key must be 32 bytes (or 64 hex characters)")]
    BadKeyMaterial,
    /// File system errors.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: io::Error,
    },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> EncryptionError {
    let context = context.into();
    move |source| EncryptionError::Io { context, source }
}

/// Where master keys come from.
#[derive(Clone)]
pub struct KeyRing {
    source: KeySource,
}

#[derive(Clone)]
enum KeySource {
    /// One key file per key id under this directory, created on first use.
    Directory(PathBuf),
    /// One key given from outside, for every key id.
    Given([u8; KEY_BYTES]),
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        match &self.source {
            KeySource::Directory(dir) => write!(f, "KeyRing(dir {})", dir.display()),
            KeySource::Given(_) => f.write_str("KeyRing(given key)"),
        }
    }
}

impl KeyRing {
    /// Keys kept as files under `dir` (created 0700 when first needed).
    #[must_use]
    pub fn in_directory(dir: impl Into<PathBuf>) -> Self {
        Self {
            source: KeySource::Directory(dir.into()),
        }
    }

    /// One key given from outside: 32 raw bytes, or 64 hex characters (whitespace around it
    /// ignored), as read from a key file.
    ///
    /// # Errors
    /// [`EncryptionError::BadKeyMaterial`].
    pub fn given(material: &[u8]) -> Result<Self, EncryptionError> {
        let trimmed = std::str::from_utf8(material).ok().map(str::trim);
        let key: [u8; KEY_BYTES] = match trimmed {
            Some(hex) if hex.len() == 2 * KEY_BYTES => decode_hex(hex)
                .and_then(|b| b.try_into().ok())
                .ok_or(EncryptionError::BadKeyMaterial)?,
            _ => material
                .try_into()
                .map_err(|_| EncryptionError::BadKeyMaterial)?,
        };
        Ok(Self {
            source: KeySource::Given(key),
        })
    }

    /// The key file of `key_id` (its name is a digest, so any id, an ARN included, is safe).
    fn key_path(dir: &Path, key_id: &str) -> PathBuf {
        let digest = Sha256::digest(key_id.as_bytes());
        dir.join(format!("{}.key", encode_hex(&digest[..16])))
    }

    /// The master key of `key_id`; with `create`, a key file is made when there is none.
    fn master(&self, key_id: &str, create: bool) -> Result<[u8; KEY_BYTES], EncryptionError> {
        let dir = match &self.source {
            KeySource::Given(key) => return Ok(*key),
            KeySource::Directory(dir) => dir,
        };
        let path = Self::key_path(dir, key_id);
        match std::fs::read(&path) {
            Ok(bytes) => bytes.try_into().map_err(|_| EncryptionError::Corrupt {
                path: path.clone(),
                reason: "a key file must hold 32 bytes".into(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                create_private_dir(dir)?;
                let mut key = [0u8; KEY_BYTES];
                OsRng.fill_bytes(&mut key);
                write_private_file(&path, &key)?;
                Ok(key)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(EncryptionError::KeyUnavailable {
                key_id: key_id.to_string(),
            }),
            Err(e) => Err(io_error(format!("reading {}", path.display()))(e)),
        }
    }

    /// Makes sure the key of `key_id` exists (creating it in a directory ring).
    ///
    /// # Errors
    /// I/O errors.
    pub fn ensure(&self, key_id: &str) -> Result<(), EncryptionError> {
        self.master(key_id, true).map(|_| ())
    }

    /// Whether the key of `key_id` is available without creating it.
    #[must_use]
    pub fn has(&self, key_id: &str) -> bool {
        self.master(key_id, false).is_ok()
    }
}

fn create_private_dir(dir: &Path) -> Result<(), EncryptionError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(io_error(format!("creating {}", dir.display())))
}

/// Writes a new file readable by its owner only, then syncs it.
fn write_private_file(path: &Path, bytes: &[u8]) -> Result<(), EncryptionError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let context = format!("writing {}", path.display());
    let mut file = options.open(path).map_err(io_error(&context))?;
    file.write_all(bytes).map_err(io_error(&context))?;
    file.sync_all().map_err(io_error(context))
}

/// The header of an encrypted file.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    key_id: String,
    /// Nonce that sealed the data key (hex).
    key_nonce: String,
    /// The data key sealed with the master key, tag included (hex).
    sealed_key: String,
    /// The STREAM nonce prefix (hex).
    stream_nonce: String,
    /// Plaintext bytes per chunk.
    chunk_bytes: usize,
}

/// Encrypts `src` into a new file `dst` under the master key `key_id` (created if the ring
/// keeps keys in a directory and has none yet), and syncs `dst`. Returns the bytes written.
///
/// # Errors
/// [`EncryptionError`]: I/O, or the key is not available.
pub fn encrypt_file(
    ring: &KeyRing,
    key_id: &str,
    src: &Path,
    dst: &Path,
) -> Result<u64, EncryptionError> {
    let master = ring.master(key_id, true)?;
    let mut data_key = [0u8; KEY_BYTES];
    OsRng.fill_bytes(&mut data_key);
    let mut key_nonce = [0u8; NONCE_BYTES];
    OsRng.fill_bytes(&mut key_nonce);
    let mut stream_nonce = [0u8; STREAM_NONCE_BYTES];
    OsRng.fill_bytes(&mut stream_nonce);
    let sealed_key = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&master))
        .encrypt(
            Nonce::from_slice(&key_nonce),
            Payload {
                msg: &data_key,
                aad: key_id.as_bytes(),
            },
        )
        .map_err(|_| EncryptionError::KeyUnavailable {
            key_id: key_id.to_string(),
        })?;
    let header = serde_json::to_vec(&Header {
        key_id: key_id.to_string(),
        key_nonce: encode_hex(&key_nonce),
        sealed_key: encode_hex(&sealed_key),
        stream_nonce: encode_hex(&stream_nonce),
        chunk_bytes: CHUNK_BYTES,
    })
    .expect("a header serializes");
    let header_len = u16::try_from(header.len()).map_err(|_| EncryptionError::KeyUnavailable {
        key_id: key_id.to_string(),
    })?;

    let reading = format!("reading {}", src.display());
    let writing = format!("writing {}", dst.display());
    let mut input = BufReader::new(File::open(src).map_err(io_error(&reading))?);
    let out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(dst)
        .map_err(io_error(&writing))?;
    let mut output = BufWriter::new(out);
    output.write_all(MAGIC).map_err(io_error(&writing))?;
    output
        .write_all(&header_len.to_be_bytes())
        .map_err(io_error(&writing))?;
    output.write_all(&header).map_err(io_error(&writing))?;
    let mut written = (MAGIC.len() + 2 + header.len()) as u64;

    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&data_key));
    let mut encryptor = EncryptorBE32::from_aead(cipher, stream_nonce.as_slice().into());
    let mut chunk = vec![0u8; CHUNK_BYTES];
    let aad = key_id.as_bytes();
    loop {
        let filled = read_full(&mut input, &mut chunk).map_err(io_error(&reading))?;
        if filled < CHUNK_BYTES {
            let sealed = encryptor
                .encrypt_last(Payload {
                    msg: &chunk[..filled],
                    aad,
                })
                .map_err(|_| corrupt(dst, "sealing the last chunk failed"))?;
            output.write_all(&sealed).map_err(io_error(&writing))?;
            written += sealed.len() as u64;
            break;
        }
        let sealed = encryptor
            .encrypt_next(Payload { msg: &chunk, aad })
            .map_err(|_| corrupt(dst, "too many chunks"))?;
        output.write_all(&sealed).map_err(io_error(&writing))?;
        written += sealed.len() as u64;
    }
    let file = output
        .into_inner()
        .map_err(|e| io_error(&writing)(e.into_error()))?;
    file.sync_all().map_err(io_error(writing))?;
    Ok(written)
}

fn corrupt(path: &Path, reason: &str) -> EncryptionError {
    EncryptionError::Corrupt {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Fills `buf` as far as the input goes; returns how much was read (less only at the end).
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn read_header(input: &mut impl Read, path: &Path) -> Result<Header, EncryptionError> {
    let mut magic = [0u8; MAGIC.len()];
    let n =
        read_full(input, &mut magic).map_err(io_error(format!("reading {}", path.display())))?;
    if n < magic.len() || &magic != MAGIC {
        return Err(corrupt(path, "not an encrypted file"));
    }
    let mut len = [0u8; 2];
    read_full(input, &mut len).map_err(io_error(format!("reading {}", path.display())))?;
    let len = usize::from(u16::from_be_bytes(len));
    if len == 0 || len > HEADER_BYTES_MAX {
        return Err(corrupt(path, "bad header length"));
    }
    let mut header = vec![0u8; len];
    if read_full(input, &mut header).map_err(io_error(format!("reading {}", path.display())))? < len
    {
        return Err(corrupt(path, "cut short in its header"));
    }
    serde_json::from_slice(&header).map_err(|_| corrupt(path, "unreadable header"))
}

/// The key id an encrypted file was sealed under.
///
/// # Errors
/// [`EncryptionError::Corrupt`] for a file that is not encrypted, I/O errors.
pub fn key_id_of(path: &Path) -> Result<String, EncryptionError> {
    let mut input =
        BufReader::new(File::open(path).map_err(io_error(format!("reading {}", path.display())))?);
    Ok(read_header(&mut input, path)?.key_id)
}

/// Whether `path` starts like an encrypted file (a plaintext RDB starts with `REDIS`).
///
/// # Errors
/// I/O errors other than a short file.
pub fn is_encrypted(path: &Path) -> io::Result<bool> {
    let mut magic = [0u8; MAGIC.len()];
    let n = read_full(&mut File::open(path)?, &mut magic)?;
    Ok(n == magic.len() && &magic == MAGIC)
}

/// Decrypts `src` into a new file `dst` (synced). Returns the key id it was sealed under. On
/// any error `dst` is removed, so no partial plaintext is left behind.
///
/// # Errors
/// [`EncryptionError::KeyUnavailable`] when the ring lacks the file's key (or holds another
/// key under its id), [`EncryptionError::Corrupt`] for a changed or cut file, I/O errors.
pub fn decrypt_file(ring: &KeyRing, src: &Path, dst: &Path) -> Result<String, EncryptionError> {
    let result = decrypt_into(ring, src, dst);
    if result.is_err() {
        let _ = std::fs::remove_file(dst);
    }
    result
}

fn decrypt_into(ring: &KeyRing, src: &Path, dst: &Path) -> Result<String, EncryptionError> {
    let reading = format!("reading {}", src.display());
    let writing = format!("writing {}", dst.display());
    let mut input = BufReader::new(File::open(src).map_err(io_error(&reading))?);
    let header = read_header(&mut input, src)?;
    if header.chunk_bytes == 0 || header.chunk_bytes > 16 * CHUNK_BYTES {
        return Err(corrupt(src, "bad chunk size"));
    }
    let unavailable = || EncryptionError::KeyUnavailable {
        key_id: header.key_id.clone(),
    };
    let master = ring.master(&header.key_id, false)?;
    let key_nonce: [u8; NONCE_BYTES] = decode_hex(&header.key_nonce)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| corrupt(src, "bad key nonce"))?;
    let stream_nonce: [u8; STREAM_NONCE_BYTES] = decode_hex(&header.stream_nonce)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| corrupt(src, "bad stream nonce"))?;
    let sealed_key =
        decode_hex(&header.sealed_key).ok_or_else(|| corrupt(src, "bad sealed key"))?;
    // A master key that does not open the data key is, to the caller, a missing key.
    let data_key = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&master))
        .decrypt(
            Nonce::from_slice(&key_nonce),
            Payload {
                msg: &sealed_key,
                aad: header.key_id.as_bytes(),
            },
        )
        .map_err(|_| unavailable())?;
    if data_key.len() != KEY_BYTES {
        return Err(corrupt(src, "bad data key"));
    }
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&data_key));
    let mut decryptor = DecryptorBE32::from_aead(cipher, stream_nonce.as_slice().into());
    let out = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(dst)
        .map_err(io_error(&writing))?;
    let mut output = BufWriter::new(out);
    let sealed_chunk = header.chunk_bytes + TAG_BYTES;
    let mut chunk = vec![0u8; sealed_chunk];
    let aad = header.key_id.as_bytes();
    loop {
        let filled = read_full(&mut input, &mut chunk).map_err(io_error(&reading))?;
        if filled == sealed_chunk {
            let plain = decryptor
                .decrypt_next(Payload { msg: &chunk, aad })
                .map_err(|_| corrupt(src, "a chunk does not authenticate"))?;
            output.write_all(&plain).map_err(io_error(&writing))?;
            continue;
        }
        // The last chunk is shorter than a full one; fewer bytes than a tag means cut short.
        if filled < TAG_BYTES {
            return Err(corrupt(src, "cut short"));
        }
        let plain = decryptor
            .decrypt_last(Payload {
                msg: &chunk[..filled],
                aad,
            })
            .map_err(|_| {
                corrupt(
                    src,
                    "the last chunk does not authenticate (changed or cut short)",
                )
            })?;
        output.write_all(&plain).map_err(io_error(&writing))?;
        break;
    }
    let file = output
        .into_inner()
        .map_err(|e| io_error(&writing)(e.into_error()))?;
    file.sync_all().map_err(io_error(writing))?;
    Ok(header.key_id)
}

fn encode_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, bytes: &[u8]) {
        std::fs::write(path, bytes).unwrap();
    }

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 31 % 251) as u8).collect()
    }

    // Goal: files of every size class (empty, below, at and across chunk boundaries) come back
    // byte for byte, and the sealed file never contains the plaintext. Method: round trips.
    #[test]
    fn round_trips_at_every_size() {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::in_directory(dir.path().join("keys"));
        for len in [
            0,
            1,
            CHUNK_BYTES - 1,
            CHUNK_BYTES,
            CHUNK_BYTES + 1,
            3 * CHUNK_BYTES + 7,
        ] {
            let plain = dir.path().join("plain");
            let sealed = dir.path().join("sealed");
            let back = dir.path().join("back");
            let data = sample(len);
            write(&plain, &data);
            encrypt_file(&ring, "alias/aws/elasticache", &plain, &sealed).unwrap();
            assert!(is_encrypted(&sealed).unwrap());
            assert!(!is_encrypted(&plain).unwrap() || len == 0);
            let stored = std::fs::read(&sealed).unwrap();
            if len >= 64 {
                assert!(
                    !stored.windows(64).any(|w| w == &data[..64]),
                    "plaintext leaked"
                );
            }
            assert_eq!(
                decrypt_file(&ring, &sealed, &back).unwrap(),
                "alias/aws/elasticache"
            );
            assert_eq!(std::fs::read(&back).unwrap(), data, "len {len}");
        }
    }

    // Goal: key files are private and stable; another ring (another data dir) or a missing
    // key cannot read the file, and leaves no plaintext behind. Method: two rings.
    #[test]
    fn another_key_cannot_read() {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::in_directory(dir.path().join("keys"));
        let plain = dir.path().join("plain");
        let sealed = dir.path().join("sealed");
        let back = dir.path().join("back");
        write(&plain, &sample(100_000));
        encrypt_file(
            &ring,
            "arn:aws:kms:us-east-1:123456789012:key/k1",
            &plain,
            &sealed,
        )
        .unwrap();
        #[cfg(unix)]
        for entry in std::fs::read_dir(dir.path().join("keys")).unwrap() {
            use std::os::unix::fs::PermissionsExt;
            let mode = entry.unwrap().metadata().unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(ring.has("arn:aws:kms:us-east-1:123456789012:key/k1"));
        assert!(!ring.has("another"));

        let stranger = KeyRing::in_directory(dir.path().join("other-keys"));
        let e = decrypt_file(&stranger, &sealed, &back).unwrap_err();
        assert!(matches!(e, EncryptionError::KeyUnavailable { .. }), "{e}");
        assert!(!back.exists());
        let given = KeyRing::given(&[7u8; 32]).unwrap();
        let e = decrypt_file(&given, &sealed, &back).unwrap_err();
        assert!(matches!(e, EncryptionError::KeyUnavailable { .. }), "{e}");
        assert!(!back.exists());
    }

    // Goal: a given key (hex, as in a key file) encrypts and decrypts for any key id; bad key
    // material is refused. Method: round trip with a hex key.
    #[test]
    fn given_key() {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::given(format!("{}\n", "ab".repeat(32)).as_bytes()).unwrap();
        let plain = dir.path().join("plain");
        let sealed = dir.path().join("sealed");
        let back = dir.path().join("back");
        write(&plain, b"REDIS0010 some bytes");
        encrypt_file(&ring, "my-key", &plain, &sealed).unwrap();
        decrypt_file(&ring, &sealed, &back).unwrap();
        assert_eq!(std::fs::read(&back).unwrap(), b"REDIS0010 some bytes");
        assert!(matches!(
            KeyRing::given(b"short"),
            Err(EncryptionError::BadKeyMaterial)
        ));
    }

    // Goal: any changed byte, a truncation at or between chunk boundaries, or an appended
    // chunk is refused as corrupt. Method: damage a sealed 2.5-chunk file in several ways.
    #[test]
    fn tampering_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let ring = KeyRing::in_directory(dir.path().join("keys"));
        let plain = dir.path().join("plain");
        let sealed = dir.path().join("sealed");
        let back = dir.path().join("back");
        write(&plain, &sample(CHUNK_BYTES * 5 / 2));
        encrypt_file(&ring, "alias/aws/elasticache", &plain, &sealed).unwrap();
        let good = std::fs::read(&sealed).unwrap();
        let header_end = good.len() - (CHUNK_BYTES * 5 / 2 + 3 * TAG_BYTES);
        let full = CHUNK_BYTES + TAG_BYTES;
        let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
        let mut flipped = good.clone();
        flipped[header_end + 10] ^= 1;
        cases.push(("flipped byte", flipped));
        cases.push((
            "cut at a chunk boundary",
            good[..header_end + 2 * full].to_vec(),
        ));
        cases.push((
            "cut inside a chunk",
            good[..header_end + full + 100].to_vec(),
        ));
        let mut appended = good.clone();
        appended.extend_from_slice(&good[header_end..header_end + full]);
        cases.push(("appended chunk", appended));
        cases.push(("not encrypted", b"REDIS0010".to_vec()));
        for (what, bytes) in cases {
            write(&sealed, &bytes);
            let e = decrypt_file(&ring, &sealed, &back).unwrap_err();
            assert!(matches!(e, EncryptionError::Corrupt { .. }), "{what}: {e}");
            assert!(!back.exists(), "{what}: plaintext left behind");
        }
    }
}
