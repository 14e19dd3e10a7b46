//! Private network resources for one instance: a free port for the API and a `/24` of loopback
//! addresses for its endpoints.
//!
//! Every endpoint of every group listens on the group's port (6379 by default) on its own
//! loopback address, so two instances must never share an endpoint CIDR. Tests run in parallel
//! threads of one process (cargo test) and in parallel processes (pytest-xdist, the JS tests), so
//! the CIDR is derived from the pid and a per-process counter, and each candidate is probed
//! before use in case a leftover process still holds it. The Rust harness uses
//! `127.100.0.0/16`–`127.149.0.0/16`; the Python fixture uses `127.150`–`127.199`, the JS tests
//! `127.200`–`127.209` and `bench/` `127.250`, so the suites can even run side by side.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::Error;

/// First second octet of the Rust harness's CIDR range.
const CIDR_SECOND_OCTET_MIN: u32 = 100;

/// Number of second-octet values the Rust harness may use (`127.100` up to `127.149`).
const CIDR_SECOND_OCTET_COUNT: u32 = 50;

/// Candidate `/24`s tried before giving up on finding a free one.
const CIDR_PROBES_MAX: u32 = 64;

/// Slots skipped between consecutive pids: parallel test processes get pids close to each other,
/// and each can start this many instances before its CIDRs could meet its neighbour's.
const SLOTS_PER_PID: u32 = 64;

/// The default Redis port; endpoints in a probed CIDR must have it free.
const REDIS_PORT: u16 = 6379;

/// Instances started by this process so far; makes each CIDR unique within the process.
static INSTANCES_STARTED: AtomicU32 = AtomicU32::new(0);

/// Returns a port on 127.0.0.1 that was free a moment ago.
///
/// # Errors
/// [`Error::Io`] when no port can be bound.
pub fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| Error::io("binding 127.0.0.1:0 to find a free port", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::io("reading the free port", e))?
        .port();
    Ok(port)
}

/// Returns a `/24` inside `127.100.0.0`–`127.149.255.0` that no other instance uses, e.g.
/// `127.123.17.0/24`.
///
/// # Errors
/// [`Error::Io`] when every probed candidate had its first addresses taken on port 6379.
pub fn allocate_cidr() -> Result<String, Error> {
    let slots = CIDR_SECOND_OCTET_COUNT * 256;
    let pid = std::process::id();
    for _ in 0..CIDR_PROBES_MAX {
        let counter = INSTANCES_STARTED.fetch_add(1, Ordering::Relaxed);
        let slot = (pid.wrapping_mul(SLOTS_PER_PID).wrapping_add(counter)) % slots;
        let second = CIDR_SECOND_OCTET_MIN + slot / 256;
        let third = slot % 256;
        if cidr_is_free(second as u8, third as u8) {
            return Ok(format!("127.{second}.{third}.0/24"));
        }
    }
    Err(Error::io(
        "finding a free endpoint CIDR",
        std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            format!("{CIDR_PROBES_MAX} candidate /24s all had addresses in use on port 6379"),
        ),
    ))
}

/// True when the first few addresses of `127.<second>.<third>.0/24` are free on the Redis port.
fn cidr_is_free(second: u8, third: u8) -> bool {
    (0..=4u8).all(|host| {
        let addr = SocketAddrV4::new(Ipv4Addr::new(127, second, third, host), REDIS_PORT);
        TcpListener::bind(addr).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: CIDRs handed out in one process are distinct and inside the harness's range.
    // Method: allocate a handful and compare.
    #[test]
    fn cidrs_are_distinct_and_in_range() {
        let cidrs: Vec<String> = (0..8).map(|_| allocate_cidr().unwrap()).collect();
        for cidr in &cidrs {
            let second: u32 = cidr.split('.').nth(1).unwrap().parse().unwrap();
            assert!((100..150).contains(&second), "{cidr}");
            assert!(cidr.ends_with(".0/24"), "{cidr}");
        }
        let mut unique = cidrs.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), cidrs.len());
    }

    // Goal: free_port returns a bindable port. Method: bind it again.
    #[test]
    fn free_port_is_bindable() {
        let port = free_port().unwrap();
        assert!(TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok());
    }
}
