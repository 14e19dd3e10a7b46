//! The start-up check of the `redis-server` binary: it must exist, run, and be a 7.x release,
//! because Ferrocache promises ElastiCache's Redis 7.0 behaviour (commands, INFO fields, RDB
//! format). A failed check becomes one line for the user saying what is wrong and how to fix
//! it, rather than a node failing to start later with a config error.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::EngineError;

/// The Redis major version Ferrocache runs.
pub const REQUIRED_MAJOR_VERSION: u32 = 7;

/// How long `redis-server --version` may take; it prints and exits at once, so hitting this
/// means the path points at something that is not `redis-server`.
pub const VERSION_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the check looks whether `--version` has exited.
const VERSION_CHECK_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Most bytes of `--version` output read (the real line is about 100 bytes).
pub const VERSION_OUTPUT_LEN_MAX: u64 = 4096;

/// Runs `<path> --version` and returns the version (e.g. `7.0.15`) if it is a
/// [`REQUIRED_MAJOR_VERSION`].x release. A bare name such as `redis-server` is looked up on
/// `PATH`.
///
/// This is a blocking call (it waits for a child process, at most [`VERSION_CHECK_TIMEOUT`]);
/// call it at start-up or from `spawn_blocking`.
///
/// # Errors
///
/// [`EngineError::RedisServerNotFound`] when there is no such file,
/// [`EngineError::RedisServerUnusable`] when it cannot run, times out or prints no
/// `v=<version>`, [`EngineError::RedisServerVersion`] when the version is not 7.x. Each one
/// displays as a single line that says how to fix it.
pub fn check_redis_server(path: &Path) -> Result<String, EngineError> {
    let unusable = |reason: String| EngineError::RedisServerUnusable {
        path: path.to_path_buf(),
        reason,
    };
    let mut child = match Command::new(path)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(EngineError::RedisServerNotFound {
                path: path.to_path_buf(),
            })
        }
        Err(error) => return Err(unusable(error.to_string())),
    };

    // Wait with a deadline; the output is far smaller than a pipe buffer, so the child never
    // blocks on a full pipe before exiting.
    let deadline = Instant::now() + VERSION_CHECK_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(VERSION_CHECK_POLL_INTERVAL)
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(unusable(format!(
                    "did not exit within {VERSION_CHECK_TIMEOUT:?}"
                )));
            }
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(unusable(error.to_string()));
            }
        }
    };
    let mut output = String::new();
    if let Some(stdout) = child.stdout.take() {
        // Non-UTF-8 output is simply "no version found" below.
        let _ = stdout
            .take(VERSION_OUTPUT_LEN_MAX)
            .read_to_string(&mut output);
    }
    if !status.success() {
        return Err(unusable(format!("it exited with {status}")));
    }
    let Some(version) = parse_version(&output) else {
        let first_line = output.lines().next().unwrap_or("").trim();
        return Err(unusable(format!(
            "its output {first_line:?} carries no v=<version>"
        )));
    };
    let major = version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    if major != Some(REQUIRED_MAJOR_VERSION) {
        return Err(EngineError::RedisServerVersion {
            path: path.to_path_buf(),
            found: version,
            required: REQUIRED_MAJOR_VERSION,
        });
    }
    Ok(version)
}

/// Finds `v=7.0.15` in `Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 ...`.
fn parse_version(output: &str) -> Option<String> {
    output
        .split_whitespace()
        .find_map(|token| token.strip_prefix("v="))
        .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.'))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// Writes an executable shell script standing in for `redis-server`.
    ///
    /// The executable is created by `install`, a child process, so that this test process
    /// never holds a writable descriptor to it: another test thread forking at that moment
    /// would otherwise inherit it and make the exec fail with "text file busy".
    fn fake_server(dir: &Path, name: &str, body: &str) -> PathBuf {
        let source = dir.join(format!("{name}.src"));
        std::fs::write(&source, format!("#!/bin/sh\n{body}\n")).unwrap();
        let path = dir.join(name);
        let status = Command::new("install")
            .arg("-m")
            .arg("755")
            .arg(&source)
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success());
        path
    }

    #[test]
    fn parses_version_lines() {
        // Goal: the version is taken from the v= token of real output.
        // Method: parse 7.0 and 6.2 lines and junk.
        assert_eq!(
            parse_version(
                "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=ae4d7c971a948f0\n"
            )
            .as_deref(),
            Some("7.0.15")
        );
        assert_eq!(
            parse_version("Redis server v=6.2.14 sha=00000000:0").as_deref(),
            Some("6.2.14")
        );
        assert_eq!(parse_version("hello"), None);
        assert_eq!(parse_version("v= v=abc"), None);
    }

    #[test]
    fn accepts_the_installed_redis_server() {
        // Goal: the Debian 12 redis-server this project runs on passes the check.
        // Method: check /usr/bin/redis-server, and the bare name looked up on PATH.
        let version = check_redis_server(Path::new("/usr/bin/redis-server")).unwrap();
        assert!(version.starts_with("7."), "{version}");
        assert_eq!(
            check_redis_server(Path::new("redis-server")).unwrap(),
            version
        );
    }

    #[test]
    fn explains_each_failure_in_one_line() {
        // Goal: each way the binary can be wrong gives its own one-line, actionable message.
        // Method: a missing path, a non-executable file, a 6.x fake, a fake that prints junk,
        // and a fake that fails.
        let dir = tempfile::tempdir().unwrap();

        let missing = check_redis_server(&dir.path().join("nope")).unwrap_err();
        assert!(matches!(missing, EngineError::RedisServerNotFound { .. }));
        let text = missing.to_string();
        assert!(text.contains("apt-get install redis-server"), "{text}");
        assert!(text.contains("--redis-server PATH"), "{text}");

        let plain = dir.path().join("plain");
        std::fs::write(&plain, "not a program").unwrap();
        let err = check_redis_server(&plain).unwrap_err();
        assert!(
            matches!(err, EngineError::RedisServerUnusable { .. }),
            "{err}"
        );

        let old = fake_server(
            dir.path(),
            "old",
            "echo 'Redis server v=6.2.14 sha=00000000:0 malloc=jemalloc-5.2.1 bits=64'",
        );
        let err = check_redis_server(&old).unwrap_err();
        assert!(
            matches!(err, EngineError::RedisServerVersion { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("6.2.14"), "{err}");

        let junk = fake_server(dir.path(), "junk", "echo hello");
        let err = check_redis_server(&junk).unwrap_err();
        assert!(
            matches!(err, EngineError::RedisServerUnusable { .. }),
            "{err}"
        );

        let failing = fake_server(dir.path(), "failing", "exit 3");
        let err = check_redis_server(&failing).unwrap_err();
        assert!(
            matches!(err, EngineError::RedisServerUnusable { .. }),
            "{err}"
        );

        let good = fake_server(dir.path(), "good", "echo 'Redis server v=7.2.4 sha=0'");
        assert_eq!(check_redis_server(&good).unwrap(), "7.2.4");

        for err in [missing, err] {
            assert_eq!(err.to_string().lines().count(), 1, "{err}");
        }
    }
}
