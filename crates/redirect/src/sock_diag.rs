//! A small NETLINK_SOCK_DIAG client: lists the IPv4 TCP sockets that hold a value in a BPF
//! sk_storage map, and destroys single sockets.
//!
//! Hand-written because the netlink crates cover neither the `INET_DIAG_REQ_SK_BPF_STORAGES`
//! dump attribute nor `SOCK_DESTROY`. Layouts and numbers are those of the kernel's UAPI headers
//! <linux/netlink.h>, <linux/sock_diag.h> and <linux/inet_diag.h>. Messages are encoded and
//! decoded field by field rather than by casting buffers, so that a malformed reply can only
//! ever produce an `InvalidData` error.

use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

// <linux/netlink.h>
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_NOOP: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLMSG_OVERRUN: u16 = 4;
const NLA_F_NESTED: u16 = 1 << 15;
const NLA_F_NET_BYTEORDER: u16 = 1 << 14;
const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);

// <linux/sock_diag.h>
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const SOCK_DESTROY: u16 = 21;
const SK_DIAG_BPF_STORAGE_REQ_MAP_FD: u16 = 1;
const SK_DIAG_BPF_STORAGE: u16 = 1;
const SK_DIAG_BPF_STORAGE_MAP_VALUE: u16 = 3;

// <linux/inet_diag.h>
const INET_DIAG_REQ_SK_BPF_STORAGES: u16 = 2;
const INET_DIAG_SK_BPF_STORAGES: u16 = 20;

// <net/tcp_states.h> (not exported to user space), as bits of `idiag_states`.
const TCPF_ESTABLISHED: u32 = 1 << 1;
const TCPF_SYN_SENT: u32 = 1 << 2;
const TCPF_SYN_RECV: u32 = 1 << 3;
const TCPF_FIN_WAIT1: u32 = 1 << 4;
const TCPF_FIN_WAIT2: u32 = 1 << 5;
const TCPF_CLOSE: u32 = 1 << 7;
const TCPF_CLOSE_WAIT: u32 = 1 << 8;
const TCPF_LAST_ACK: u32 = 1 << 9;
const TCPF_CLOSING: u32 = 1 << 11;

/// Every state of a full TCP socket but LISTEN and TIME_WAIT. Left out on purpose as well:
/// NEW_SYN_RECV (request sockets, which cannot carry sk_storage) and BOUND_INACTIVE (bound,
/// never-connected sockets, which SOCK_DESTROY cannot find anyway).
const DUMPED_STATES: u32 = TCPF_ESTABLISHED
    | TCPF_SYN_SENT
    | TCPF_SYN_RECV
    | TCPF_FIN_WAIT1
    | TCPF_FIN_WAIT2
    | TCPF_CLOSE
    | TCPF_CLOSE_WAIT
    | TCPF_LAST_ACK
    | TCPF_CLOSING;

/// Each request goes out on a socket of its own, so any constant does to pair the replies.
const SEQUENCE: u32 = 1;

/// Large enough for the kernel to batch many sockets in one dump datagram (it sizes its dump
/// buffers after the reader's); larger datagrams are still received whole, see `Netlink::recv`.
const RECEIVE_BUFFER: usize = 32 * 1024;

/// `struct nlmsghdr`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct NlMsgHdr {
    len: u32,
    kind: u16,
    flags: u16,
    seq: u32,
    pid: u32,
}

/// `struct inet_diag_sockid`; addresses and ports stay in network byte order, as bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct InetDiagSockId {
    sport: [u8; 2],
    dport: [u8; 2],
    src: [[u8; 4]; 4],
    dst: [[u8; 4]; 4],
    interface: u32,
    cookie: [u32; 2],
}

/// `struct inet_diag_req_v2`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct InetDiagReqV2 {
    family: u8,
    protocol: u8,
    ext: u8,
    pad: u8,
    states: u32,
    id: InetDiagSockId,
}

/// `struct nlattr`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct NlAttr {
    len: u16,
    kind: u16,
}

/// Size of `struct inet_diag_msg`, the fixed part of each dumped socket (its `id` at offset 4).
const INET_DIAG_MSG_LEN: usize = 72;
const INET_DIAG_MSG_ID_OFFSET: usize = 4;

// The encoders below write these structs field by field: the sizes prove no field was missed.
const _: () = assert!(size_of::<NlMsgHdr>() == 16);
const _: () = assert!(size_of::<InetDiagSockId>() == 48);
const _: () = assert!(size_of::<InetDiagReqV2>() == 56);
const _: () = assert!(size_of::<NlAttr>() == 4);

/// One TCP socket as sock_diag names it (enough to destroy exactly it: 4-tuple, interface,
/// cookie).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SocketId {
    local: SocketAddrV4,
    remote: SocketAddrV4,
    /// The device the socket is bound to, 0 if none: the kernel's lookup matches on it.
    interface: u32,
    /// The socket's cookie, which tells it apart from a later socket with the same 4-tuple.
    cookie: u64,
}

impl SocketId {
    /// The socket's own address.
    pub(crate) fn local(&self) -> SocketAddrV4 {
        self.local
    }

    /// The address of the socket's peer.
    pub(crate) fn remote(&self) -> SocketAddrV4 {
        self.remote
    }

    fn from_raw(raw: &InetDiagSockId) -> Self {
        SocketId {
            local: SocketAddrV4::new(Ipv4Addr::from(raw.src[0]), u16::from_be_bytes(raw.sport)),
            remote: SocketAddrV4::new(Ipv4Addr::from(raw.dst[0]), u16::from_be_bytes(raw.dport)),
            interface: raw.interface,
            cookie: u64::from(raw.cookie[0]) | (u64::from(raw.cookie[1]) << 32),
        }
    }

    fn to_raw(self) -> InetDiagSockId {
        let mut src = [[0; 4]; 4];
        src[0] = self.local.ip().octets();
        let mut dst = [[0; 4]; 4];
        dst[0] = self.remote.ip().octets();
        InetDiagSockId {
            sport: self.local.port().to_be_bytes(),
            dport: self.remote.port().to_be_bytes(),
            src,
            dst,
            interface: self.interface,
            // The kernel compares the low half with cookie[0] and the high half with cookie[1].
            cookie: [self.cookie as u32, (self.cookie >> 32) as u32],
        }
    }
}

/// A socket and the value it holds in a BPF sk_storage map.
#[cfg(test)]
pub(crate) struct StoredSocket {
    pub(crate) id: SocketId,
    pub(crate) value: Vec<u8>,
}

/// A socket as the dump lists it: its id, its TCP state, and its value in the requested map.
pub(crate) struct DumpedSocket {
    pub(crate) id: SocketId,
    /// The kernel's `TCP_*` state (`TCP_CLOSE` = 7: reset or aborted, waiting for its owner to
    /// close it).
    pub(crate) state: u8,
    pub(crate) value: Option<Vec<u8>>,
}

/// `TCP_CLOSE`: a socket that is already dead (reset, aborted).
pub(crate) const TCP_CLOSE: u8 = 7;

/// Every IPv4 TCP socket of this network namespace, in any state but LISTEN and TIME_WAIT
/// (SYN_SENT included), that has a value in the BPF sk_storage map `map` — with that value.
///
/// Needs CAP_SYS_ADMIN (or CAP_BPF): the kernel refuses to read sk_storage for others.
#[cfg(test)]
pub(crate) fn sockets_with_storage(map: BorrowedFd<'_>) -> io::Result<Vec<StoredSocket>> {
    Ok(sockets(map)?
        .into_iter()
        .filter_map(|s| s.value.map(|value| StoredSocket { id: s.id, value }))
        .collect())
}

/// Every IPv4 TCP socket of this network namespace, in any state but LISTEN and TIME_WAIT
/// (SYN_SENT included), with its value in the BPF sk_storage map `map` if it has one.
///
/// Needs CAP_SYS_ADMIN (or CAP_BPF): the kernel refuses to read sk_storage for others.
pub(crate) fn sockets(map: BorrowedFd<'_>) -> io::Result<Vec<DumpedSocket>> {
    // A BorrowedFd is never negative.
    let map_fd = u32::try_from(map.as_raw_fd())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "negative map fd"))?;
    let mut request = Vec::with_capacity(96);
    encode_header(
        &mut request,
        SOCK_DIAG_BY_FAMILY,
        NLM_F_REQUEST | NLM_F_DUMP,
    );
    encode_request(
        &mut request,
        &InetDiagReqV2 {
            family: libc::AF_INET as u8,
            protocol: libc::IPPROTO_TCP as u8,
            ext: 0,
            pad: 0,
            states: DUMPED_STATES,
            id: InetDiagSockId {
                sport: [0; 2],
                dport: [0; 2],
                src: [[0; 4]; 4],
                dst: [[0; 4]; 4],
                interface: 0,
                cookie: [0; 2],
            },
        },
    );
    let nested = request.len();
    encode_attr(
        &mut request,
        INET_DIAG_REQ_SK_BPF_STORAGES | NLA_F_NESTED,
        &[],
    );
    encode_attr(
        &mut request,
        SK_DIAG_BPF_STORAGE_REQ_MAP_FD,
        &map_fd.to_ne_bytes(),
    );
    finish_attr(&mut request, nested);
    finish_message(&mut request);

    let mut netlink = Netlink::open()?;
    netlink.send(&request)?;
    let mut found = Vec::new();
    loop {
        let datagram = netlink.recv()?;
        if parse_dump_datagram(datagram, &mut found)? {
            return Ok(found);
        }
    }
}

/// Destroys (aborts: the kernel's tcp_abort, an RST to the peer, ECONNABORTED to the owner) the
/// socket `id`. Ok(true) when destroyed, Ok(false) when it no longer exists, Err otherwise.
///
/// The kernel looks the 4-tuple up like an incoming segment would, so without the cookie it
/// could hit a later socket reusing the tuple, or even the listener of the local port (for an
/// accepted socket); with it, those answer ENOENT.
///
/// Needs CAP_NET_ADMIN, and a kernel built with CONFIG_INET_DIAG_DESTROY (else EOPNOTSUPP).
pub(crate) fn destroy(id: &SocketId) -> io::Result<bool> {
    let mut request = Vec::with_capacity(72);
    encode_header(&mut request, SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK);
    encode_request(
        &mut request,
        &InetDiagReqV2 {
            family: libc::AF_INET as u8,
            protocol: libc::IPPROTO_TCP as u8,
            ext: 0,
            pad: 0,
            // Unused by SOCK_DESTROY, which looks the socket up by its id alone.
            states: DUMPED_STATES,
            id: id.to_raw(),
        },
    );
    finish_message(&mut request);

    let mut netlink = Netlink::open()?;
    netlink.send(&request)?;
    loop {
        let datagram = netlink.recv()?;
        if let Some(destroyed) = parse_destroy_datagram(datagram)? {
            return destroyed;
        }
    }
}

/// Takes in one datagram of the dump; true once the dump is over.
fn parse_dump_datagram(datagram: &[u8], found: &mut Vec<DumpedSocket>) -> io::Result<bool> {
    for message in Messages(datagram) {
        let (header, payload) = message?;
        if header.seq != SEQUENCE {
            continue;
        }
        match header.kind {
            SOCK_DIAG_BY_FAMILY => {
                found.push(parse_socket(payload)?);
            }
            // An error met in the middle of a dump comes back as NLMSG_DONE's payload.
            NLMSG_DONE => match payload.get(..4) {
                Some(error) => return errno(error).and(Ok(true)),
                None => return Ok(true),
            },
            // A dump the kernel refuses to start; 0 (an ack, which was not asked for) ends it too.
            NLMSG_ERROR => return errno(payload).and(Ok(true)),
            NLMSG_OVERRUN => return Err(invalid_data("netlink overrun")),
            NLMSG_NOOP => {}
            // Nothing else is expected; new kernels might add, old code should not care.
            _ => {}
        }
    }
    Ok(false)
}

/// Takes in one datagram of the reply to SOCK_DESTROY; its outcome once the ack is in it.
fn parse_destroy_datagram(datagram: &[u8]) -> io::Result<Option<io::Result<bool>>> {
    for message in Messages(datagram) {
        let (header, payload) = message?;
        if header.seq != SEQUENCE || header.kind != NLMSG_ERROR {
            continue;
        }
        return Ok(Some(match errno(payload) {
            Ok(()) => Ok(true),
            // The lookup also answers ENOENT for a socket whose cookie does not match, i.e. one
            // that reused the 4-tuple: the socket that was named is gone all the same.
            Err(error) if error.raw_os_error() == Some(libc::ENOENT) => Ok(false),
            Err(error) => Err(error),
        }));
    }
    Ok(None)
}

/// One dumped socket, with its value in the requested map if it holds one.
fn parse_socket(payload: &[u8]) -> io::Result<DumpedSocket> {
    let id = decode_sockid(payload, INET_DIAG_MSG_ID_OFFSET)?;
    let state = *payload
        .get(1)
        .ok_or_else(|| invalid_data("short inet_diag_msg"))?;
    let attributes = payload
        .get(INET_DIAG_MSG_LEN..)
        .ok_or_else(|| invalid_data("short inet_diag_msg"))?;
    Ok(DumpedSocket {
        id: SocketId::from_raw(&id),
        state,
        value: storage_value(attributes)?.map(<[u8]>::to_vec),
    })
}

/// The map value in INET_DIAG_SK_BPF_STORAGES -> SK_DIAG_BPF_STORAGE ->
/// SK_DIAG_BPF_STORAGE_MAP_VALUE. Only one map is requested, so the first value is its.
fn storage_value(attributes: &[u8]) -> io::Result<Option<&[u8]>> {
    for attribute in Attributes(attributes) {
        let (kind, storages) = attribute?;
        if kind != INET_DIAG_SK_BPF_STORAGES {
            continue;
        }
        for attribute in Attributes(storages) {
            let (kind, storage) = attribute?;
            if kind != SK_DIAG_BPF_STORAGE {
                continue;
            }
            for attribute in Attributes(storage) {
                let (kind, value) = attribute?;
                if kind == SK_DIAG_BPF_STORAGE_MAP_VALUE {
                    return Ok(Some(value));
                }
            }
        }
    }
    Ok(None)
}

/// The netlink messages of a datagram, each as its header and payload.
struct Messages<'a>(&'a [u8]);

impl<'a> Iterator for Messages<'a> {
    type Item = io::Result<(NlMsgHdr, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let item = decode_header(self.0).and_then(|header| {
            let len = header.len as usize;
            if len < size_of::<NlMsgHdr>() || len > self.0.len() {
                return Err(invalid_data("bad netlink message length"));
            }
            Ok((header, &self.0[size_of::<NlMsgHdr>()..len], len))
        });
        match item {
            Ok((header, payload, len)) => {
                self.0 = self.0.get(align4(len)..).unwrap_or_default();
                Some(Ok((header, payload)))
            }
            Err(error) => {
                // Nothing after a broken length can be trusted.
                self.0 = &[];
                Some(Err(error))
            }
        }
    }
}

/// The netlink attributes of a buffer, each as its type (flags masked off) and payload.
struct Attributes<'a>(&'a [u8]);

impl<'a> Iterator for Attributes<'a> {
    type Item = io::Result<(u16, &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let header = match (take::<2>(self.0, 0), take::<2>(self.0, 2)) {
            (Ok(len), Ok(kind)) => NlAttr {
                len: u16::from_ne_bytes(len),
                kind: u16::from_ne_bytes(kind),
            },
            _ => {
                self.0 = &[];
                return Some(Err(invalid_data("short netlink attribute")));
            }
        };
        let len = usize::from(header.len);
        if len < size_of::<NlAttr>() || len > self.0.len() {
            self.0 = &[];
            return Some(Err(invalid_data("bad netlink attribute length")));
        }
        let payload = &self.0[size_of::<NlAttr>()..len];
        self.0 = self.0.get(align4(len)..).unwrap_or_default();
        Some(Ok((header.kind & NLA_TYPE_MASK, payload)))
    }
}

/// A NETLINK_SOCK_DIAG socket, closed on drop, with its receive buffer.
struct Netlink {
    fd: OwnedFd,
    buffer: Vec<u8>,
}

impl Netlink {
    fn open() -> io::Result<Self> {
        // SAFETY: plain syscall with constant arguments; no memory is passed.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_SOCK_DIAG,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Netlink {
            // SAFETY: `fd` was just opened and is owned by nothing else.
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            buffer: vec![0; RECEIVE_BUFFER],
        })
    }

    /// Sends one request to the kernel (the socket is bound implicitly, on first send).
    fn send(&self, message: &[u8]) -> io::Result<()> {
        let kernel = kernel_address();
        loop {
            // SAFETY: `message` and `kernel` are valid for the lengths given, for the call.
            let sent = unsafe {
                libc::sendto(
                    self.fd.as_raw_fd(),
                    message.as_ptr().cast(),
                    message.len(),
                    0,
                    (&raw const kernel).cast(),
                    size_of::<libc::sockaddr_nl>() as libc::socklen_t,
                )
            };
            if sent >= 0 {
                // Netlink datagrams go whole or not at all; check anyway.
                return if sent as usize == message.len() {
                    Ok(())
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "short netlink send",
                    ))
                };
            }
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
        }
    }

    /// Receives the next datagram from the kernel, whole: a datagram larger than the buffer
    /// (which a dump of large map values can produce) grows it rather than being truncated.
    fn recv(&mut self) -> io::Result<&[u8]> {
        loop {
            let peeked = self.recv_into(libc::MSG_PEEK | libc::MSG_TRUNC)?.0;
            if peeked > self.buffer.len() {
                self.buffer.resize(peeked, 0);
                continue;
            }
            let (len, sender) = self.recv_into(0)?;
            // Anything not from the kernel (port 0) was sent by another process: ignore it.
            if sender != 0 {
                continue;
            }
            if len > self.buffer.len() {
                return Err(invalid_data("netlink datagram truncated"));
            }
            return Ok(&self.buffer[..len]);
        }
    }

    /// One recvfrom; the datagram's full length (MSG_TRUNC) and its sender's port id.
    fn recv_into(&mut self, flags: libc::c_int) -> io::Result<(usize, u32)> {
        loop {
            let mut sender = kernel_address();
            let mut sender_len = size_of::<libc::sockaddr_nl>() as libc::socklen_t;
            // SAFETY: the buffer and the address are valid and writable for the lengths given.
            let len = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    self.buffer.as_mut_ptr().cast(),
                    self.buffer.len(),
                    flags | libc::MSG_TRUNC,
                    (&raw mut sender).cast(),
                    &mut sender_len,
                )
            };
            if len >= 0 {
                return Ok((len as usize, sender.nl_pid));
            }
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
        }
    }
}

/// The kernel's netlink address (port id 0), also a blank to receive a sender's into.
fn kernel_address() -> libc::sockaddr_nl {
    // SAFETY: sockaddr_nl is plain integers, for which all-zero is valid.
    let mut address: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    address.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    address
}

fn encode_header(out: &mut Vec<u8>, kind: u16, flags: u16) {
    let header = NlMsgHdr {
        // Patched by `finish_message`.
        len: 0,
        kind,
        flags,
        seq: SEQUENCE,
        // The kernel addresses its replies by the sending socket, whatever is written here.
        pid: 0,
    };
    out.extend_from_slice(&header.len.to_ne_bytes());
    out.extend_from_slice(&header.kind.to_ne_bytes());
    out.extend_from_slice(&header.flags.to_ne_bytes());
    out.extend_from_slice(&header.seq.to_ne_bytes());
    out.extend_from_slice(&header.pid.to_ne_bytes());
}

fn encode_request(out: &mut Vec<u8>, request: &InetDiagReqV2) {
    out.extend_from_slice(&[request.family, request.protocol, request.ext, request.pad]);
    out.extend_from_slice(&request.states.to_ne_bytes());
    let id = &request.id;
    out.extend_from_slice(&id.sport);
    out.extend_from_slice(&id.dport);
    for word in id.src.iter().chain(&id.dst) {
        out.extend_from_slice(word);
    }
    out.extend_from_slice(&id.interface.to_ne_bytes());
    out.extend_from_slice(&id.cookie[0].to_ne_bytes());
    out.extend_from_slice(&id.cookie[1].to_ne_bytes());
}

/// Appends an attribute, padded to 4 bytes; a nested one is given its contents afterwards
/// and its length fixed by `finish_attr`.
fn encode_attr(out: &mut Vec<u8>, kind: u16, payload: &[u8]) {
    let len = (size_of::<NlAttr>() + payload.len()) as u16;
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(payload);
    out.resize(align4(out.len()), 0);
}

/// Sets the length of the (nested) attribute at `start` to cover everything after it.
fn finish_attr(out: &mut [u8], start: usize) {
    let len = (out.len() - start) as u16;
    out[start..start + 2].copy_from_slice(&len.to_ne_bytes());
}

fn finish_message(out: &mut [u8]) {
    let len = out.len() as u32;
    out[..4].copy_from_slice(&len.to_ne_bytes());
}

fn decode_header(bytes: &[u8]) -> io::Result<NlMsgHdr> {
    Ok(NlMsgHdr {
        len: u32::from_ne_bytes(take(bytes, 0)?),
        kind: u16::from_ne_bytes(take(bytes, 4)?),
        flags: u16::from_ne_bytes(take(bytes, 6)?),
        seq: u32::from_ne_bytes(take(bytes, 8)?),
        pid: u32::from_ne_bytes(take(bytes, 12)?),
    })
}

fn decode_sockid(bytes: &[u8], at: usize) -> io::Result<InetDiagSockId> {
    let word = |offset: usize| take::<4>(bytes, at + offset);
    Ok(InetDiagSockId {
        sport: take(bytes, at)?,
        dport: take(bytes, at + 2)?,
        src: [word(4)?, word(8)?, word(12)?, word(16)?],
        dst: [word(20)?, word(24)?, word(28)?, word(32)?],
        interface: u32::from_ne_bytes(word(36)?),
        cookie: [u32::from_ne_bytes(word(40)?), u32::from_ne_bytes(word(44)?)],
    })
}

/// The `int error` opening an NLMSG_ERROR (or NLMSG_DONE) payload: 0, or a negated errno.
fn errno(payload: &[u8]) -> io::Result<()> {
    match i32::from_ne_bytes(take(payload, 0)?) {
        0 => Ok(()),
        error if error < 0 && error != i32::MIN => Err(io::Error::from_raw_os_error(-error)),
        _ => Err(invalid_data("bad netlink error code")),
    }
}

/// The `N` bytes at `at`, or InvalidData when the buffer is too short.
fn take<const N: usize>(bytes: &[u8], at: usize) -> io::Result<[u8; N]> {
    at.checked_add(N)
        .and_then(|end| bytes.get(at..end))
        .and_then(|slice| slice.try_into().ok())
        .ok_or_else(|| invalid_data("short netlink message"))
}

fn align4(len: usize) -> usize {
    len.saturating_add(3) & !3
}

fn invalid_data(what: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::os::fd::AsFd;
    use std::time::Duration;

    // <linux/bpf.h>
    const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;

    /// `struct bpf_attr` as BPF_MAP_*_ELEM reads it.
    #[repr(C)]
    struct MapElemAttr {
        map_fd: u32,
        pad: u32,
        key: u64,
        value: u64,
        flags: u64,
    }

    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    fn v4(address: SocketAddr) -> SocketAddrV4 {
        match address {
            SocketAddr::V4(address) => address,
            SocketAddr::V6(address) => panic!("not IPv4: {address}"),
        }
    }

    /// Sets the sk_storage value of the socket `socket` (the key is its fd, in user space).
    fn store(map: BorrowedFd<'_>, socket: BorrowedFd<'_>, value: &[u8; 24]) -> io::Result<()> {
        let key: i32 = socket.as_raw_fd();
        let attr = MapElemAttr {
            map_fd: map.as_raw_fd() as u32,
            pad: 0,
            key: (&raw const key) as u64,
            value: value.as_ptr() as u64,
            flags: 0,
        };
        // SAFETY: `attr` and the key and value it points to outlive the call, and are of the
        // sizes the map was created with.
        let result = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_MAP_UPDATE_ELEM,
                &raw const attr,
                size_of::<MapElemAttr>(),
            )
        };
        if result < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The object, for its `redirects` map (an sk_storage map with a 24-byte value); `None`,
    /// with a note, where the test cannot run (not root).
    fn load_redirects() -> Option<aya::Ebpf> {
        if !is_root() {
            eprintln!("skipped: sock_diag with sk_storage and SOCK_DESTROY need root");
            return None;
        }
        // aya 0.13 knows no sk_storage map type: without this, it refuses to create the map.
        let loaded = aya::EbpfLoader::new()
            .allow_unsupported_maps()
            .load(aya::include_bytes_aligned!("../bpf/redirect.bpf.o"))
            .expect("load redirect.bpf.o");
        Some(loaded)
    }

    fn map_fd(ebpf: &aya::Ebpf) -> BorrowedFd<'_> {
        // aya 0.13 has no typed sk_storage map.
        match ebpf.map("redirects") {
            Some(aya::maps::Map::Unsupported(data)) => data.fd().as_fd(),
            Some(_) => panic!("`redirects` has an unexpected type"),
            None => panic!("no `redirects` map"),
        }
    }

    #[test]
    fn finds_and_destroys_the_stored_socket() {
        let Some(ebpf) = load_redirects() else {
            return;
        };
        let map = map_fd(&ebpf);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        let value: [u8; 24] = std::array::from_fn(|i| i as u8 + 1);
        store(map, client.as_fd(), &value).unwrap();

        let found = sockets_with_storage(map).unwrap();
        // The map is this test's own: no other socket can have a value in it.
        assert_eq!(
            found.len(),
            1,
            "{:?}",
            found.iter().map(|s| s.id).collect::<Vec<_>>()
        );
        let id = found[0].id;
        assert_eq!(id.local(), v4(client.local_addr().unwrap()));
        assert_eq!(id.remote(), v4(client.peer_addr().unwrap()));
        assert_eq!(found[0].value, value);
        assert_ne!(id.local(), v4(server.local_addr().unwrap()));

        assert!(destroy(&id).unwrap());
        let error = client.read(&mut [0; 1]).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::ECONNABORTED), "{error}");
        assert!(client.write(b"x").is_err());
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        match server.read(&mut [0; 1]) {
            Ok(0) => {}
            Err(error) if error.kind() == io::ErrorKind::ConnectionReset => {}
            other => panic!("the server side should see the reset: {other:?}"),
        }
        assert!(!destroy(&id).unwrap());
        // Gone from the dump too.
        assert!(sockets_with_storage(map).unwrap().is_empty());
    }

    #[test]
    fn finds_and_destroys_a_connecting_socket() {
        let Some(ebpf) = load_redirects() else {
            return;
        };
        let map = map_fd(&ebpf);
        // A listener whose accept queue is full drops SYNs: a second client stays in SYN_SENT.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        // SAFETY: plain syscall on a valid fd; listening again only changes the backlog.
        assert_eq!(unsafe { libc::listen(listener.as_raw_fd(), 0) }, 0);
        let target = v4(listener.local_addr().unwrap());
        let _queued = TcpStream::connect(target).unwrap();
        let connecting = connect_nonblocking(target);
        assert_eq!(tcp_state(connecting.as_fd()), TCP_SYN_SENT);
        let value = [7u8; 24];
        store(map, connecting.as_fd(), &value).unwrap();

        let found = sockets_with_storage(map).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id.remote(), target);
        assert_eq!(found[0].value, value);
        assert!(destroy(&found[0].id).unwrap());
        let mut error: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `error` and `len` are valid and writable for the call.
        let result = unsafe {
            libc::getsockopt(
                connecting.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ERROR,
                (&raw mut error).cast(),
                &mut len,
            )
        };
        assert_eq!(result, 0);
        assert_eq!(error, libc::ECONNABORTED);
        assert!(!destroy(&found[0].id).unwrap());
    }

    const TCP_SYN_SENT: u8 = 2;

    /// The TCP state of `socket` (`tcpi_state`, the first byte of `struct tcp_info`).
    fn tcp_state(socket: BorrowedFd<'_>) -> u8 {
        let mut info = [0u8; 8];
        let mut len = info.len() as libc::socklen_t;
        // SAFETY: `info` and `len` are valid and writable for the call; the kernel copies no
        // more than `len` bytes.
        let result = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                info.as_mut_ptr().cast(),
                &mut len,
            )
        };
        assert_eq!(result, 0, "{}", io::Error::last_os_error());
        info[0]
    }

    /// A TCP socket whose connect to `target` is under way.
    fn connect_nonblocking(target: SocketAddrV4) -> OwnedFd {
        // SAFETY: plain syscall with constant arguments.
        let fd = unsafe {
            libc::socket(
                libc::AF_INET,
                libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                0,
            )
        };
        assert!(fd >= 0, "{}", io::Error::last_os_error());
        // SAFETY: `fd` was just opened and is owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: sockaddr_in is plain integers, for which all-zero is valid.
        let mut address: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        address.sin_family = libc::AF_INET as libc::sa_family_t;
        address.sin_port = target.port().to_be();
        address.sin_addr.s_addr = u32::from_ne_bytes(target.ip().octets());
        // SAFETY: `address` is valid for the length given.
        let result = unsafe {
            libc::connect(
                fd.as_raw_fd(),
                (&raw const address).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        assert_eq!(result, -1);
        assert_eq!(
            io::Error::last_os_error().raw_os_error(),
            Some(libc::EINPROGRESS)
        );
        fd
    }

    /// A dump datagram holding one socket with `value` in its storage, then NLMSG_DONE.
    fn dump_datagram(value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        encode_header(&mut out, SOCK_DIAG_BY_FAMILY, 2);
        out.extend_from_slice(&[libc::AF_INET as u8, 1, 0, 0]);
        let id = SocketId {
            local: "10.0.0.1:1234".parse().unwrap(),
            remote: "10.0.0.2:6379".parse().unwrap(),
            interface: 3,
            cookie: 0x1122_3344_5566_7788,
        };
        let mut request = Vec::new();
        encode_request(
            &mut request,
            &InetDiagReqV2 {
                family: 0,
                protocol: 0,
                ext: 0,
                pad: 0,
                states: 0,
                id: id.to_raw(),
            },
        );
        out.extend_from_slice(&request[8..]);
        out.extend_from_slice(&[0; 20]);
        encode_attr(&mut out, 8, &[0; 1]);
        let storages = out.len();
        encode_attr(&mut out, INET_DIAG_SK_BPF_STORAGES | NLA_F_NESTED, &[]);
        let storage = out.len();
        encode_attr(&mut out, SK_DIAG_BPF_STORAGE | NLA_F_NESTED, &[]);
        encode_attr(&mut out, 2, &7u32.to_ne_bytes());
        encode_attr(&mut out, 1, &[]);
        encode_attr(&mut out, SK_DIAG_BPF_STORAGE_MAP_VALUE, value);
        finish_attr(&mut out, storage);
        finish_attr(&mut out, storages);
        finish_message(&mut out);
        let done = out.len();
        encode_header(&mut out, NLMSG_DONE, 2);
        out.extend_from_slice(&0i32.to_ne_bytes());
        finish_message(&mut out[done..]);
        out
    }

    #[test]
    fn parses_a_dump() {
        let value = [9u8; 24];
        let mut found = Vec::new();
        assert!(parse_dump_datagram(&dump_datagram(&value), &mut found).unwrap());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].value.as_deref(), Some(&value[..]));
        assert_eq!(found[0].id.local(), "10.0.0.1:1234".parse().unwrap());
        assert_eq!(found[0].id.remote(), "10.0.0.2:6379".parse().unwrap());
        assert_eq!(found[0].id.interface, 3);
        assert_eq!(found[0].id.cookie, 0x1122_3344_5566_7788);
    }

    #[test]
    fn malformed_dumps_are_invalid_data_not_panics() {
        let datagram = dump_datagram(&[1; 24]);
        for len in 0..datagram.len() {
            for corrupt in [None, Some(0u8), Some(0xff)] {
                let mut bytes = datagram[..len].to_vec();
                if let (Some(byte), Some(at)) = (corrupt, len.checked_sub(1)) {
                    bytes[at] = byte;
                }
                let mut found = Vec::new();
                match parse_dump_datagram(&bytes, &mut found) {
                    Ok(_) => {}
                    Err(error) => assert_eq!(error.kind(), io::ErrorKind::InvalidData),
                }
                let _ = parse_destroy_datagram(&bytes);
            }
        }
        // Every single byte overwritten, in the whole datagram.
        for at in 0..datagram.len() {
            for byte in [0u8, 3, 0x7f, 0xff] {
                let mut bytes = datagram.clone();
                bytes[at] = byte;
                let _ = parse_dump_datagram(&bytes, &mut Vec::new());
                let _ = parse_destroy_datagram(&bytes);
            }
        }
    }

    #[test]
    fn destroy_replies() {
        let ack = |error: i32| {
            let mut out = Vec::new();
            encode_header(&mut out, NLMSG_ERROR, 0);
            out.extend_from_slice(&error.to_ne_bytes());
            out.extend_from_slice(&[0; 16]);
            finish_message(&mut out);
            out
        };
        assert!(parse_destroy_datagram(&ack(0)).unwrap().unwrap().unwrap());
        assert!(!parse_destroy_datagram(&ack(-libc::ENOENT))
            .unwrap()
            .unwrap()
            .unwrap());
        let error = parse_destroy_datagram(&ack(-libc::EPERM))
            .unwrap()
            .unwrap()
            .unwrap_err();
        assert_eq!(error.raw_os_error(), Some(libc::EPERM));
        let error = parse_destroy_datagram(&ack(5))
            .unwrap()
            .unwrap()
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }
}
