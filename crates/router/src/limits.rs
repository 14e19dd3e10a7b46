//! [`RouterLimits`]: every bound the router enforces, with named defaults.
//!
//! The defaults mirror what a client of ElastiCache expects: `maxclients` connections per
//! endpoint, a short wait while a failover switches the primary, and buffers sized so that a
//! pipelined batch of small commands moves in one read and one write.

use std::time::Duration;

/// Default connections per endpoint; Redis's own `maxclients` is 65000 on ElastiCache.
pub const MAX_CONNECTIONS_PER_ENDPOINT_DEFAULT: usize = 65_000;

/// Default time a new connection waits for an endpoint with no backend (a failover switching)
/// to get one, before it is closed.
pub const BACKEND_WAIT_DEFAULT: Duration = Duration::from_secs(3);

/// Default bound on connecting to a backend. Loopback connects succeed or fail at once; this
/// only guards against a backend address that black-holes SYNs.
pub const CONNECT_TIMEOUT_DEFAULT: Duration = Duration::from_secs(2);

/// Default size of each of the two copy buffers of a connection (one per direction).
/// 16 KiB matches Redis's own read chunk (`PROTO_IOBUF_LEN`), so a read from a client never
/// takes more syscalls through the router than it would against Redis directly.
pub const BUFFER_SIZE_DEFAULT: usize = 16 * 1024;

/// Smallest allowed copy buffer: below this a single RESP header could need several reads.
pub const BUFFER_SIZE_MIN: usize = 512;

/// Largest allowed copy buffer: two of these per connection times the connection limit must
/// stay within a host's memory.
pub const BUFFER_SIZE_MAX: usize = 1024 * 1024;

/// Default bound on how long `apply` waits for fenced connections to be torn down. Tear-down
/// only waits for a connection task's current poll to end, which is short; the bound keeps a
/// wedged task from stalling the control plane.
pub const FENCE_WAIT_DEFAULT: Duration = Duration::from_secs(1);

/// Default bound on a TLS handshake, from its first byte to the end of the handshake. A
/// client that stalls in the middle of a handshake holds nothing past it.
pub const TLS_HANDSHAKE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);

/// Length of each listener's accept queue (the `listen(2)` backlog); matches Redis's default
/// `tcp-backlog` of 511 rounded up.
pub const LISTEN_BACKLOG: u32 = 1024;

/// Pause after an `accept` error (e.g. `EMFILE`) before accepting again, so that running out
/// of file descriptors does not become a busy loop.
pub const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// The bounds one [`Router`](crate::Router) enforces on every endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RouterLimits {
    /// Live connections per endpoint; past it a new connection is accepted and closed at once
    /// (counted as `refused`).
    pub max_connections_per_endpoint: usize,
    /// How long a new connection waits for a backend when its endpoint has none.
    pub backend_wait: Duration,
    /// How long connecting to a backend may take.
    pub connect_timeout: Duration,
    /// Bytes in each of a connection's two copy buffers; within
    /// [`BUFFER_SIZE_MIN`]`..=`[`BUFFER_SIZE_MAX`].
    pub buffer_size: usize,
    /// How long `apply` waits for fenced or removed connections to be closed.
    pub fence_wait: Duration,
    /// How long a TLS handshake may take once its first byte arrived.
    pub tls_handshake_timeout: Duration,
}

impl Default for RouterLimits {
    fn default() -> Self {
        Self {
            max_connections_per_endpoint: MAX_CONNECTIONS_PER_ENDPOINT_DEFAULT,
            backend_wait: BACKEND_WAIT_DEFAULT,
            connect_timeout: CONNECT_TIMEOUT_DEFAULT,
            buffer_size: BUFFER_SIZE_DEFAULT,
            fence_wait: FENCE_WAIT_DEFAULT,
            tls_handshake_timeout: TLS_HANDSHAKE_TIMEOUT_DEFAULT,
        }
    }
}

impl RouterLimits {
    /// Whether every limit is within its allowed range.
    pub fn is_valid(&self) -> bool {
        (BUFFER_SIZE_MIN..=BUFFER_SIZE_MAX).contains(&self.buffer_size)
            && self.max_connections_per_endpoint > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: the defaults are usable as they are. Method: validate them and check the buffer
    // bounds reject values on either side.
    #[test]
    fn defaults_are_valid_and_bounds_hold() {
        assert!(RouterLimits::default().is_valid());
        let small = RouterLimits {
            buffer_size: BUFFER_SIZE_MIN - 1,
            ..RouterLimits::default()
        };
        assert!(!small.is_valid());
        let large = RouterLimits {
            buffer_size: BUFFER_SIZE_MAX + 1,
            ..RouterLimits::default()
        };
        assert!(!large.is_valid());
        let none = RouterLimits {
            max_connections_per_endpoint: 0,
            ..RouterLimits::default()
        };
        assert!(!none.is_valid());
    }
}
