//! The byte layouts the BPF programs share with user space: `bpf/redirect.bpf.c` defines the
//! same structs, field for field. Addresses and ports are kept in network byte order, as the
//! kernel hands them to the programs, so the programs compare them without conversion.

use std::net::{Ipv4Addr, SocketAddrV4};

/// Backends one endpoint holds (`MAX_BACKENDS` in the C source; a power of two).
pub const MAX_BACKENDS: usize = 8;

/// `ENDPOINT_SPREAD`: connections are spread over the backends in turn.
const ENDPOINT_SPREAD: u32 = 1;
/// `ENDPOINT_ADMITS_UNBOUND`: a socket with no bound source is admitted.
const ENDPOINT_ADMITS_UNBOUND: u32 = 2;

/// Bits of the admission key taken by the endpoint (address, port, padding) before the source.
pub(crate) const ENDPOINT_PREFIX_BITS: u32 = 64;

/// `struct address`: an IPv4 address and port, both in network byte order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Address {
    ip: u32,
    port: u16,
    zero: u16,
}

impl From<SocketAddrV4> for Address {
    fn from(addr: SocketAddrV4) -> Self {
        Self {
            ip: u32::from_ne_bytes(addr.ip().octets()),
            port: u16::from_ne_bytes(addr.port().to_be_bytes()),
            zero: 0,
        }
    }
}

impl From<Address> for SocketAddrV4 {
    fn from(addr: Address) -> Self {
        SocketAddrV4::new(
            Ipv4Addr::from(addr.ip.to_ne_bytes()),
            u16::from_be_bytes(addr.port.to_ne_bytes()),
        )
    }
}

/// `struct endpoint`: one endpoint's route as the programs see it.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EndpointEntry {
    fence: u32,
    flags: u32,
    backend_count: u32,
    zero: u32,
    backends: [Address; MAX_BACKENDS],
}

impl EndpointEntry {
    /// An entry for `backends` (at most [`MAX_BACKENDS`]; the caller checks).
    pub(crate) fn new(
        fence: u32,
        spread: bool,
        admits_unbound: bool,
        backends: &[SocketAddrV4],
    ) -> Self {
        let mut slots = [Address::default(); MAX_BACKENDS];
        for (slot, backend) in slots.iter_mut().zip(backends) {
            *slot = Address::from(*backend);
        }
        let mut flags = 0;
        if spread {
            flags |= ENDPOINT_SPREAD;
        }
        if admits_unbound {
            flags |= ENDPOINT_ADMITS_UNBOUND;
        }
        Self {
            fence,
            flags,
            backend_count: backends.len().min(MAX_BACKENDS) as u32,
            zero: 0,
            backends: slots,
        }
    }
}

/// The data of an admission key (`struct admission_key` without its leading prefix length,
/// which aya's trie key adds): the endpoint, then the source network's address.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct AdmissionSource {
    endpoint: Address,
    source: u32,
}

impl AdmissionSource {
    pub(crate) fn new(listen: SocketAddrV4, source: Ipv4Addr) -> Self {
        Self {
            endpoint: Address::from(listen),
            source: u32::from_ne_bytes(source.octets()),
        }
    }
}

/// `struct counters`: connections redirected, and the spreading position.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counters {
    pub(crate) redirected: u64,
    next: u64,
}

/// `struct redirected`: what a redirected socket's storage holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) endpoint: Address,
    pub(crate) backend: Address,
    pub(crate) fence: u32,
}

impl Record {
    /// Size of `struct redirected`.
    const SIZE: usize = 24;

    /// Reads a storage value; `None` when it has not the expected size.
    pub(crate) fn parse(value: &[u8]) -> Option<Self> {
        if value.len() != Self::SIZE {
            return None;
        }
        let address = |at: usize| Address {
            ip: u32::from_ne_bytes(value[at..at + 4].try_into().expect("4 bytes")),
            port: u16::from_ne_bytes(value[at + 4..at + 6].try_into().expect("2 bytes")),
            zero: 0,
        };
        Some(Self {
            endpoint: address(0),
            backend: address(8),
            fence: u32::from_ne_bytes(value[16..20].try_into().expect("4 bytes")),
        })
    }
}

// SAFETY: plain `repr(C)` structs of integers, with no padding (every field is 4-byte aligned
// and the sizes add up), so every byte pattern is a valid value.
unsafe impl aya::Pod for Address {}
// SAFETY: as above (16 + 8 × 8 bytes).
unsafe impl aya::Pod for EndpointEntry {}
// SAFETY: as above (8 + 4 bytes).
unsafe impl aya::Pod for AdmissionSource {}
// SAFETY: as above (2 × 8 bytes).
unsafe impl aya::Pod for Counters {}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: the Rust layouts have the C sizes (a mismatch would corrupt every lookup). Method:
    // compare with the sizes the C source gives (bpftool shows them for the built object).
    #[test]
    fn layouts_match_the_c_structs() {
        assert_eq!(std::mem::size_of::<Address>(), 8);
        assert_eq!(std::mem::size_of::<EndpointEntry>(), 16 + 8 * MAX_BACKENDS);
        assert_eq!(std::mem::size_of::<AdmissionSource>(), 12);
        assert_eq!(std::mem::size_of::<Counters>(), 16);
    }

    // Goal: addresses keep network byte order in memory, and come back as they went. Method:
    // one address through both conversions and a record parsed from bytes.
    #[test]
    fn addresses_are_in_network_order() {
        let addr: SocketAddrV4 = "127.1.2.3:6379".parse().unwrap();
        let raw = Address::from(addr);
        assert_eq!(raw.ip.to_ne_bytes(), [127, 1, 2, 3]);
        assert_eq!(raw.port.to_ne_bytes(), 6379u16.to_be_bytes());
        assert_eq!(SocketAddrV4::from(raw), addr);

        let mut value = [0u8; 24];
        value[0..4].copy_from_slice(&[127, 1, 2, 3]);
        value[4..6].copy_from_slice(&6379u16.to_be_bytes());
        value[8..12].copy_from_slice(&[127, 0, 0, 1]);
        value[12..14].copy_from_slice(&7000u16.to_be_bytes());
        value[16..20].copy_from_slice(&5u32.to_ne_bytes());
        let record = Record::parse(&value).unwrap();
        assert_eq!(SocketAddrV4::from(record.endpoint), addr);
        assert_eq!(
            SocketAddrV4::from(record.backend),
            "127.0.0.1:7000".parse::<SocketAddrV4>().unwrap()
        );
        assert_eq!(record.fence, 5);
        assert!(Record::parse(&value[..20]).is_none());
    }
}
