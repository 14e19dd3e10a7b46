//! Several hosts on one store (`ferrocache up --store etcd://…` on each): every host runs an
//! agent for the node processes placed on it, and the leading host's control plane reaches
//! the agents of the others through this crate.
//!
//! # Layout
//! - [`server`]: a host's agent served over HTTP on `--agent-listen` (JSON bodies, a shared
//!   token): start, adopt, stop, remove a node, set its data aside, send its data file (a
//!   snapshot's source) or take one (a restore's seed), send a snapshot's file it holds,
//!   issue its own TLS certificate (made there: the key stays on its host), and a stream of
//!   the host's
//!   process events with a numbered heartbeat, whose beats the leader acknowledges;
//! - [`client`]: [`client::RemoteHost`], the leader's side of one such agent: its calls, and the
//!   host's process liveness kept current from the stream; a stream the host closed means
//!   the host is lost, and one silent past [`fence::SILENT_HOST_LOST_AFTER`] too: its nodes
//!   are reported gone;
//! - [`runtime`]: [`runtime::HostsRuntime`], the control plane's `NodeRuntime` that sends each
//!   node's process work to the host it is placed on and talks Redis to every node directly;
//! - [`fence`]: a host out of touch with both etcd's quorum and the leader stops serving its
//!   endpoints ([`fence::SELF_FENCE_AFTER`]) before the leader takes its nodes for gone;
//! - [`demote`]: a host that does not lead demotes its own nodes that its copy of the store no
//!   longer names primary (a host cut off from the leader but not from etcd);
//! - [`wire`]: the protocol's messages.
//!
//! Redis traffic (INFO, REPLICAOF, CONFIG SET, …) never goes through an agent: the control
//! plane reaches every node at its host's address like replication does.
//!
//! # Dependency rules
//! Depends on `agent` (what it serves), `control` (the `NodeRuntime` it implements), `engine`,
//! `model` and `store` (the hosts' registrations and the nodes' placements), `pki` (the names
//! a node's certificate is asked for with); the binary wires
//! it when the store is in etcd. Nothing depends on it but the binary.

pub mod client;
pub mod demote;
pub mod fence;
pub mod runtime;
pub mod server;
pub mod wire;
