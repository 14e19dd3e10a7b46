//! Ferrocache endpoints without a user-space hop: connect-time redirection in the kernel.
//!
//! ElastiCache's endpoints are DNS names, and a client's socket is connected to the node
//! itself. Ours are addresses on which the user-space router listens; with a [`Redirector`]
//! loaded, two small BPF programs attached to the root cgroup (v2) make most connections to
//! those addresses direct ones, as Cilium's socket load-balancing does for Kubernetes services:
//!
//! - `cgroup/connect4` runs inside `connect()`, before the kernel connects. If the destination
//!   is an endpoint installed here ([`Redirector::install`]) and the socket's source is
//!   admitted by the endpoint's security group rules, it rewrites the destination to the
//!   chosen node's own TCP address and records, in the socket's BPF storage, the endpoint, the
//!   node and the endpoint's *fence*. From then on the socket is a plain TCP connection between
//!   the client and `redis-server`: no copy, no extra hop, and `CLIENT LIST` shows the client's
//!   own address.
//! - `cgroup/getpeername4` shows the endpoint's address to a client that asks whom it is
//!   connected to, as it would see through the router.
//!
//! Whatever the programs do not redirect reaches the router, which still listens on every
//! endpoint: sources no rule admits (the router refuses and counts them), an endpoint without
//! a backend while a failover switches (the router holds the connection until the new primary
//! is published), TLS endpoints (the router terminates TLS).
//!
//! # Fencing
//! A redirected connection never passes through Ferrocache again, so closing it when its
//! endpoint moves (a failover, a reader losing a replica, a removed endpoint) is done from the
//! outside: [`Redirector::close_connections`] lists every socket of this network namespace
//! that carries our record (one `sock_diag` dump that includes the BPF storage) and destroys
//! those the caller judges stale (`SOCK_DESTROY`: the kernel aborts the socket, the node gets a
//! reset, the client `ECONNABORTED`, exactly as if the router had dropped it). The programs
//! compare the fence again after writing their record, so a connect racing with a route change
//! either sees the new route or leaves a record the sweep finds; the caller sweeps twice, a few
//! milliseconds apart, for the one remaining window (a socket between the hook and the
//! kernel's hash tables is not yet listed).
//!
//! # Requirements
//! Root (`CAP_SYS_ADMIN`, `CAP_NET_ADMIN`, `CAP_BPF`), a kernel with `CONFIG_CGROUP_BPF`,
//! BTF-enabled BPF maps (sk storage, 5.2+), `SO_NETNS_COOKIE` (5.14) and
//! `CONFIG_INET_DIAG_DESTROY`. The hook sees the connects of every network namespace on the
//! host; only those made in Ferrocache's own namespace are redirected. [`Redirector::load`]
//! says why it cannot run; Ferrocache then serves every endpoint with the router.
//!
//! # Layout
//! - `cgroup`: opens the cgroup v2 root (mounting the unified hierarchy where the host has
//!   none, and letting the mount go at once).
//! - `sock_diag`: the netlink `sock_diag` requests: list sockets with their BPF storage,
//!   destroy one.
//! - `maps`: the byte layouts shared with the BPF programs.
//! - `bpf/redirect.bpf.c` (not Rust): the programs, built by `bpf/build.sh` with clang into the
//!   committed `bpf/redirect.bpf.o`, which this crate embeds.
//!
//! # Dependency rules
//! Depends on no Ferrocache crate: it takes endpoints as addresses and networks, and knows
//! nothing of groups, routes or the store.

mod cgroup;
mod maps;
mod sock_diag;

use std::collections::HashMap as StdHashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsFd;
use std::path::Path;

use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{Array, HashMap, Map, MapData, MapError};
use aya::programs::{CgroupAttachMode, CgroupSockAddr, ProgramError};
use aya::{Ebpf, EbpfError, EbpfLoader};
use ipnet::Ipv4Net;

pub use crate::maps::MAX_BACKENDS;
use crate::maps::{Address, AdmissionSource, Counters, EndpointEntry, Record};

/// The compiled programs (see `bpf/build.sh`).
static OBJECT: &[u8] = aya::include_bytes_aligned!("../bpf/redirect.bpf.o");

/// Why the kernel path cannot run, or a map update failed.
#[derive(Debug, thiserror::Error)]
pub enum RedirectError {
    /// Not root: the programs and the socket sweep need `CAP_SYS_ADMIN`/`CAP_NET_ADMIN`.
    #[error("not running as root (the kernel data path needs CAP_SYS_ADMIN and CAP_NET_ADMIN)")]
    NotRoot,
    /// The cgroup v2 root could not be opened or mounted.
    #[error("cannot open the cgroup v2 hierarchy: {0}")]
    Cgroup(io::Error),
    /// The kernel refused the object or its maps.
    #[error("the kernel refused the BPF object: {0}")]
    Load(#[from] EbpfError),
    /// The kernel refused a program, or attaching it.
    #[error("the kernel refused a BPF program: {0}")]
    Program(#[from] ProgramError),
    /// This process's network namespace cannot be identified (`SO_NETNS_COOKIE`, 5.14+).
    #[error("cannot read the network namespace's cookie: {0}")]
    Netns(io::Error),
    /// A map of the object is missing or of another type (a build mismatch).
    #[error("the BPF object has no map {0} of the expected type")]
    MissingMap(&'static str),
    /// The kernel cannot list sockets with their BPF storage, or destroy them.
    #[error("the kernel cannot list or destroy sockets (sock_diag): {0}")]
    SockDiag(io::Error),
    /// A map update failed (the map is full, or memory ran out).
    #[error("a BPF map update failed: {0}")]
    Map(#[from] MapError),
    /// More backends than a kernel endpoint holds.
    #[error("{count} backends, more than the {MAX_BACKENDS} a kernel endpoint holds")]
    TooManyBackends {
        /// The backends offered.
        count: usize,
    },
}

/// Who may connect through a kernel endpoint: its security group rules, flattened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelAdmission {
    /// Every source.
    Any,
    /// Sources inside one of these networks; an empty list admits nobody (every connection
    /// then reaches the router, which refuses it).
    Sources(Vec<Ipv4Net>),
}

impl KernelAdmission {
    fn admits(&self, source: Ipv4Addr) -> bool {
        match self {
            KernelAdmission::Any => true,
            KernelAdmission::Sources(nets) => nets.iter().any(|n| n.contains(&source)),
        }
    }

    /// The source networks as trie prefixes (`Any` is the one network of every address).
    fn networks(&self) -> Vec<Ipv4Net> {
        match self {
            KernelAdmission::Any => vec![Ipv4Net::default()],
            KernelAdmission::Sources(nets) => nets.iter().map(|n| n.trunc()).collect(),
        }
    }
}

/// One endpoint as the kernel serves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelEndpoint {
    /// The address clients dial.
    pub listen: SocketAddrV4,
    /// The nodes' own TCP addresses; none while a failover switches (connections then go to
    /// the router, which waits for the new primary).
    pub backends: Vec<SocketAddrV4>,
    /// Spread connections over the backends in turn (a reader endpoint); otherwise every
    /// connection goes to the first.
    pub spread: bool,
    /// Recorded on every redirected socket, so that a later sweep can tell connections made
    /// before a route change from those made after.
    pub fence: u32,
    /// Who is redirected; everybody else reaches the router.
    pub admission: KernelAdmission,
}

/// A redirected connection, as its socket's record and the kernel's socket table tell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Redirected {
    /// The endpoint the client dialled.
    pub endpoint: SocketAddrV4,
    /// The node it was connected to.
    pub backend: SocketAddrV4,
    /// The endpoint's fence when it connected.
    pub fence: u32,
    /// The client's own address.
    pub client: SocketAddrV4,
}

/// The loaded and attached programs and their maps. Dropping it detaches the programs (new
/// connections reach the router again); connections already redirected stay connected.
pub struct Redirector {
    /// Owns the programs and their cgroup links.
    _programs: Ebpf,
    endpoints: HashMap<MapData, Address, EndpointEntry>,
    admissions: LpmTrie<MapData, AdmissionSource, u8>,
    counters: HashMap<MapData, Address, Counters>,
    redirects: MapData,
    /// The installed endpoints, with their admission networks (the trie entries to replace or
    /// delete later).
    installed: StdHashMap<SocketAddrV4, Vec<Ipv4Net>>,
    /// The source address the kernel gives an unbound socket towards each destination.
    default_sources: StdHashMap<Ipv4Addr, Option<Ipv4Addr>>,
    /// Where the cgroup root was found, for [`Redirector::describe`].
    cgroup: String,
}

impl std::fmt::Debug for Redirector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redirector")
            .field("endpoints", &self.installed.len())
            .field("cgroup", &self.cgroup)
            .finish()
    }
}

impl Redirector {
    /// Loads the programs and attaches them to the cgroup v2 root, mounting the unified
    /// hierarchy in `scratch` (then letting the mount go) when the host has none mounted.
    /// Checks that the kernel can list and destroy sockets, which fencing needs.
    ///
    /// # Errors
    /// Why the kernel path cannot run here; nothing stays attached.
    pub fn load(scratch: &Path) -> Result<Self, RedirectError> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(RedirectError::NotRoot);
        }
        let root = cgroup::open_root(scratch).map_err(RedirectError::Cgroup)?;
        // The sk storage map has no aya type of its own: it is kept as raw map data.
        let mut ebpf = EbpfLoader::new().allow_unsupported_maps().load(OBJECT)?;
        let endpoints = HashMap::try_from(take(&mut ebpf, "endpoints")?)?;
        let admissions = LpmTrie::try_from(take(&mut ebpf, "admissions")?)?;
        let counters = HashMap::try_from(take(&mut ebpf, "endpoint_counters")?)?;
        let redirects = match take(&mut ebpf, "redirects")? {
            Map::Unsupported(data) => data,
            _ => return Err(RedirectError::MissingMap("redirects")),
        };
        let mut home: Array<MapData, u64> = Array::try_from(take(&mut ebpf, "home_netns")?)?;
        home.set(0, netns_cookie().map_err(RedirectError::Netns)?, 0)?;
        // Before attaching: without the sweep, a redirected connection could not be fenced.
        sock_diag::sockets(redirects.fd().as_fd()).map_err(RedirectError::SockDiag)?;
        for name in ["connect4", "getpeername4"] {
            let program: &mut CgroupSockAddr = ebpf
                .program_mut(name)
                .ok_or(RedirectError::MissingMap(if name == "connect4" {
                    "connect4 (program)"
                } else {
                    "getpeername4 (program)"
                }))?
                .try_into()?;
            program.load()?;
            // A BPF link (what aya makes on kernels since 5.7) never replaces other programs:
            // several Ferrocaches on one host each attach their own, and each rewrites only the
            // endpoints in its own maps. The kernel takes no flags with a cgroup link (it
            // answers EINVAL), hence `Single`, which passes none.
            program.attach(root.dir.as_fd(), CgroupAttachMode::Single)?;
        }
        let cgroup = match &root.mounted_at {
            Some(path) => format!("cgroup v2 at {}", path.display()),
            None => "cgroup v2 root (mounted for the attachment only)".to_string(),
        };
        Ok(Self {
            _programs: ebpf,
            endpoints,
            admissions,
            counters,
            redirects,
            installed: StdHashMap::new(),
            default_sources: StdHashMap::new(),
            cgroup,
        })
    }

    /// Where the programs are attached, for the start-up banner.
    pub fn describe(&self) -> &str {
        &self.cgroup
    }

    /// Whether `listen` is installed.
    pub fn serves(&self, listen: SocketAddrV4) -> bool {
        self.installed.contains_key(&listen)
    }

    /// Starts (or changes) redirecting connections to `endpoint.listen`. New connections follow
    /// the new entry at once; connections made before are left as they are (see
    /// [`Redirector::close_connections`]).
    ///
    /// # Errors
    /// A map update failed; the endpoint is then withdrawn (its connections reach the router).
    pub fn install(&mut self, endpoint: &KernelEndpoint) -> Result<(), RedirectError> {
        if endpoint.backends.len() > MAX_BACKENDS {
            self.withdraw(endpoint.listen)?;
            return Err(RedirectError::TooManyBackends {
                count: endpoint.backends.len(),
            });
        }
        let towards = endpoint
            .backends
            .first()
            .map(|b| *b.ip())
            .unwrap_or(*endpoint.listen.ip());
        let admits_unbound = self
            .default_source(towards)
            .is_some_and(|source| endpoint.admission.admits(source));
        let entry = EndpointEntry::new(
            endpoint.fence,
            endpoint.spread,
            admits_unbound,
            &endpoint.backends,
        );
        let networks = endpoint.admission.networks();
        let result = self.write(endpoint.listen, entry, networks);
        if result.is_err() {
            let _ = self.withdraw(endpoint.listen);
        }
        result
    }

    fn write(
        &mut self,
        listen: SocketAddrV4,
        entry: EndpointEntry,
        networks: Vec<Ipv4Net>,
    ) -> Result<(), RedirectError> {
        let key = Address::from(listen);
        let old = self.installed.remove(&listen);
        // The rules first, then the entry that uses them, then the rules that went: a connect
        // in between sees the old or the new rules, or both, never none.
        for net in &networks {
            self.admissions.insert(&trie_key(listen, *net), 1, 0)?;
        }
        if self.counters.get(&key, 0).is_err() {
            self.counters.insert(key, Counters::default(), 0)?;
        }
        self.endpoints.insert(key, entry, 0)?;
        if let Some(old) = old {
            for net in old.iter().filter(|n| !networks.contains(n)) {
                let _ = self.admissions.remove(&trie_key(listen, *net));
            }
        }
        self.installed.insert(listen, networks);
        Ok(())
    }

    /// Stops redirecting connections to `listen` (they reach the router again). Connections
    /// made before are left as they are. Withdrawing an endpoint not installed does nothing.
    ///
    /// # Errors
    /// A map update failed.
    pub fn withdraw(&mut self, listen: SocketAddrV4) -> Result<(), RedirectError> {
        let Some(old) = self.installed.remove(&listen) else {
            return Ok(());
        };
        let key = Address::from(listen);
        ignore_missing(self.endpoints.remove(&key))?;
        ignore_missing(self.counters.remove(&key))?;
        for net in old {
            ignore_missing(self.admissions.remove(&trie_key(listen, net)))?;
        }
        Ok(())
    }

    /// Connections redirected through `listen` since it was installed.
    pub fn redirected(&self, listen: SocketAddrV4) -> u64 {
        self.counters
            .get(&Address::from(listen), 0)
            .map(|c| c.redirected)
            .unwrap_or(0)
    }

    /// Lists every connection this redirector made that is still open in this network
    /// namespace, and closes those `keep` returns `false` for. Returns how many it closed.
    ///
    /// A connection is closed from the node's side when the node's socket is in this
    /// namespace: the kernel aborts it and the client gets a reset, as when the router drops a
    /// connection (the node's socket never reads another byte). Otherwise (a connect still in
    /// progress) the client's socket is aborted, and its owner gets `ECONNABORTED`.
    ///
    /// # Errors
    /// The dump failed (nothing was closed), or closing one failed (the others were still
    /// tried; the first error is returned).
    pub fn close_connections(
        &self,
        mut keep: impl FnMut(&Redirected) -> bool,
    ) -> Result<usize, RedirectError> {
        let sockets =
            sock_diag::sockets(self.redirects.fd().as_fd()).map_err(RedirectError::SockDiag)?;
        // The node's side of each connection, by (node, client).
        let node_sides: StdHashMap<(SocketAddrV4, SocketAddrV4), &sock_diag::DumpedSocket> =
            sockets
                .iter()
                .filter(|s| s.value.is_none())
                .map(|s| ((s.id.local(), s.id.remote()), s))
                .collect();
        let mut closed = 0;
        let mut first_error = None;
        for socket in &sockets {
            // A dead socket (already reset or aborted) sends nothing more; aborting it again
            // would only replace the error its owner is about to read.
            if socket.state == sock_diag::TCP_CLOSE {
                continue;
            }
            let Some(record) = socket.value.as_deref().and_then(Record::parse) else {
                continue;
            };
            let backend = SocketAddrV4::from(record.backend);
            // A socket disconnected and connected again elsewhere keeps its record: it is no
            // longer ours to judge.
            if socket.id.remote() != backend {
                continue;
            }
            let redirected = Redirected {
                endpoint: record.endpoint.into(),
                backend,
                fence: record.fence,
                client: socket.id.local(),
            };
            if keep(&redirected) {
                continue;
            }
            let node_side = node_sides
                .get(&(backend, redirected.client))
                .filter(|s| s.state != sock_diag::TCP_CLOSE);
            let result = match node_side {
                Some(node_side) => match sock_diag::destroy(&node_side.id) {
                    Ok(false) => sock_diag::destroy(&socket.id),
                    other => other,
                },
                None => sock_diag::destroy(&socket.id),
            };
            match result {
                Ok(true) => closed += 1,
                Ok(false) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(RedirectError::SockDiag(e)),
            None => Ok(closed),
        }
    }

    /// The address an unbound socket gets as its source towards `destination` (a routing
    /// lookup through a connected UDP socket, which sends nothing); cached, since it follows
    /// the host's routes, which Ferrocache does not change.
    fn default_source(&mut self, destination: Ipv4Addr) -> Option<Ipv4Addr> {
        *self.default_sources.entry(destination).or_insert_with(|| {
            let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
            socket.connect((destination, 9)).ok()?;
            match socket.local_addr().ok()?.ip() {
                std::net::IpAddr::V4(ip) => Some(ip),
                std::net::IpAddr::V6(_) => None,
            }
        })
    }
}

/// The cookie of this process's network namespace (`SO_NETNS_COOKIE` of a fresh socket): the
/// programs redirect only connects made in it.
fn netns_cookie() -> io::Result<u64> {
    /// `SO_NETNS_COOKIE` (Linux 5.14), not in every libc crate release.
    const SO_NETNS_COOKIE: libc::c_int = 71;
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    let mut cookie: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: a valid socket; `cookie` and `len` are locals of the sizes the call is told.
    let result = unsafe {
        libc::getsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&socket),
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            (&raw mut cookie).cast(),
            &raw mut len,
        )
    };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(cookie)
}

fn take(ebpf: &mut Ebpf, name: &'static str) -> Result<Map, RedirectError> {
    ebpf.take_map(name).ok_or(RedirectError::MissingMap(name))
}

/// The admission trie's key for sources in `net` connecting to `listen`.
fn trie_key(listen: SocketAddrV4, net: Ipv4Net) -> Key<AdmissionSource> {
    Key::new(
        maps::ENDPOINT_PREFIX_BITS + u32::from(net.prefix_len()),
        AdmissionSource::new(listen, net.network()),
    )
}

/// A removal of something already gone is not an error.
fn ignore_missing(result: Result<(), MapError>) -> Result<(), MapError> {
    match result {
        Err(MapError::KeyNotFound) => Ok(()),
        Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        other => other,
    }
}
