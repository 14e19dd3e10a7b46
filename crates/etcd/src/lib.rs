//! The control plane's state in etcd: [`EtcdStore`], the `Store` of `ferrocache-store` kept in an
//! etcd cluster (a store several processes or hosts share), its leadership ([`leader`]), and
//! the etcd client it speaks through ([`client`]).
//!
//! Why our own client: every maintained etcd crate (`etcd-client` and the others) compiles
//! etcd's `.proto` files in its build script and so needs `protoc` on the machine that builds
//! Ferrocache, which a fresh Debian machine with only the Rust toolchain does not have. The
//! messages Ferrocache sends are few; they are written by hand with `prost`'s derive
//! ([`proto`]), and `tonic` carries them (HTTP/2, one multiplexed connection per member). etcd's
//! JSON gateway would need no gRPC at all, but costs about half a millisecond more per call
//! (its own internal gRPC hop) — measured, it put a store write at 2.5x the embedded store's.
//!
//! # Layout
//! - [`store`]: [`EtcdStore`] and [`EtcdLocation`]: the watched copy, optimistic transactions.
//! - [`leader`]: [`Leadership`](leader::Leadership): one process at a time acts on a store.
//! - [`registration`]: [`Registration`](registration::Registration): a document that lives as
//!   long as its process (a host's record).
//! - [`lease`]: keeping a lease, and giving up before it could expire in etcd.
//! - [`contact`]: [`EtcdStore::probe_contact`], when this process last had proof it was in
//!   touch with a quorum (a host's self-fencing counts from it).
//! - [`client`]: [`Client`](client::Client), the blocking gRPC client, and its answers.
//! - [`proto`]: etcd's messages, written by hand, and the methods' paths.
//!
//! # Dependency rules
//! Depends on `ferrocache-store` (the trait it implements); the binary picks it with
//! `--store etcd://…`. The control plane never depends on it: it sees a `Store`.

pub mod client;
pub mod contact;
pub mod leader;
pub mod lease;
pub mod proto;
pub mod registration;
pub mod store;

pub use store::{EtcdLocation, EtcdStore};
