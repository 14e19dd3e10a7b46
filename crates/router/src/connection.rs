//! One client connection, from accept to close: wait for a backend if the endpoint has none,
//! connect to it (TCP with `TCP_NODELAY`, or a Unix socket), register where it is spliced so
//! fencing can find it, then copy bytes until either side is done.
//!
//! Every way out of here closes the client: dropping the socket is the whole protocol, the
//! client's own reconnect logic does the rest (as with a Redis restart or a failover on
//! ElastiCache).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::oneshot;

use crate::endpoint::{Shared, Spliced};
use crate::route::Backend;
use crate::splice::splice;
use crate::stats::Counters;

/// Undoes a connection's footprint on its endpoint when the connection ends, however it ends
/// (return, error, abort by fencing, or dropped before it ever ran).
pub(crate) struct Guard {
    shared: Arc<Shared>,
    id: u64,
}

impl Guard {
    /// Takes responsibility for connection `id`, already counted in `active`.
    pub(crate) fn new(shared: Arc<Shared>, id: u64) -> Self {
        Self { shared, id }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.shared.unregister(self.id);
        self.shared.counters.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves one accepted client connection until it closes.
///
/// `registered` fires once the accept loop has put this task in the endpoint's registry.
pub(crate) async fn serve(guard: Guard, client: TcpStream, registered: oneshot::Receiver<()>) {
    if registered.await.is_err() {
        return;
    }
    let shared = Arc::clone(&guard.shared);
    let Some(spliced) = shared.wait_for_backend().await else {
        Counters::bump(&shared.counters.backend_wait_expired);
        tracing::debug!(listen = %shared.listen, "no backend within the backend wait; closing");
        return;
    };
    // Redis replies are small and latency-bound: never let Nagle hold one back.
    if let Err(e) = client.set_nodelay(true) {
        tracing::debug!(listen = %shared.listen, error = %e, "client TCP_NODELAY");
    }
    let connect_timeout = shared.limits.connect_timeout;
    match spliced.backend() {
        Backend::Tcp(addr) => {
            match tokio::time::timeout(connect_timeout, TcpStream::connect(addr)).await {
                Ok(Ok(backend)) => {
                    if let Err(e) = backend.set_nodelay(true) {
                        tracing::debug!(listen = %shared.listen, error = %e, "backend TCP_NODELAY");
                    }
                    run(guard, &spliced, client, backend).await;
                }
                outcome => connect_failed(&shared, &spliced, outcome.ok().and_then(Result::err)),
            }
        }
        Backend::Unix(path) => {
            match tokio::time::timeout(connect_timeout, UnixStream::connect(path)).await {
                Ok(Ok(backend)) => run(guard, &spliced, client, backend).await,
                outcome => connect_failed(&shared, &spliced, outcome.ok().and_then(Result::err)),
            }
        }
    }
}

fn connect_failed(shared: &Shared, spliced: &Spliced, error: Option<std::io::Error>) {
    Counters::bump(&shared.counters.connect_failed);
    let backend = spliced.backend();
    match error {
        Some(e) => tracing::debug!(listen = %shared.listen, %backend, error = %e,
            "backend connect failed; closing client"),
        None => tracing::debug!(listen = %shared.listen, %backend,
            "backend connect timed out; closing client"),
    }
}

/// Registers the splice, then copies until done, unless a fence came first.
async fn run<B>(guard: Guard, spliced: &Spliced, mut client: TcpStream, mut backend: B)
where
    B: AsyncRead + AsyncWrite + Unpin,
{
    let shared = &guard.shared;
    if !shared.register(guard.id, spliced) {
        return;
    }
    let buffer_size = shared.limits.buffer_size;
    if let Err(e) = splice(&mut client, &mut backend, buffer_size, &shared.counters).await {
        tracing::debug!(listen = %shared.listen, backend = %spliced.backend(), error = %e,
            "connection ended with an error");
    }
}
