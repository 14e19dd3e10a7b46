//! The copy loop: move bytes between a client and its backend, both ways, in one task.
//!
//! Why hand-written rather than `tokio::io::copy_bidirectional`: we count bytes per endpoint
//! as they move (live metrics, not a total at close), we end the splice as soon as the backend
//! has closed (Redis never half-closes, so waiting for the client's FIN too would only keep a
//! dead connection counted as active), and each direction owns one fixed-size buffer
//! allocated once per connection. Both directions are polled by one future so that a
//! connection costs one task, not two.
//!
//! Half-close from the client (`shutdown(SHUT_WR)` after its last command) is forwarded to the
//! backend, and replies still flow back until the backend closes, as they would without us.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::stats::Counters;

/// Which side of one direction failed.
enum Failed {
    /// Reading from the near side.
    Reading(io::Error),
    /// Writing to the far side.
    Writing(io::Error),
}

/// One direction of a splice: a buffer and how much of it is still to be written.
struct Pump {
    /// Fixed-size buffer, reused for every read of this direction.
    buf: Box<[u8]>,
    /// First byte of `buf` not yet written to the far side.
    start: usize,
    /// One past the last byte read into `buf`.
    end: usize,
    /// The near side reached end of stream; once `buf` is drained, shut the far side down.
    eof: bool,
    /// The far side was shut down; this direction is finished.
    done: bool,
    /// Bytes were written since the last flush. A TLS stream may keep written records
    /// buffered (its socket was full) until flushed; a TCP stream's flush is a no-op.
    unflushed: bool,
}

impl Pump {
    fn new(buffer_size: usize) -> Self {
        Self {
            buf: vec![0; buffer_size].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: false,
            done: false,
            unflushed: false,
        }
    }

    /// Copies from `reader` to `writer` until `reader` is at end of stream and `writer` is
    /// shut down (`Ready(Ok)`), an error occurs (and on which side), or one side is not ready
    /// (`Pending`).
    fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        reader: &mut R,
        writer: &mut W,
        moved: &AtomicU64,
    ) -> Poll<Result<(), Failed>>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        loop {
            if self.start < self.end {
                let n =
                    ready!(Pin::new(&mut *writer).poll_write(cx, &self.buf[self.start..self.end]))
                        .map_err(Failed::Writing)?;
                if n == 0 {
                    return Poll::Ready(Err(Failed::Writing(io::ErrorKind::WriteZero.into())));
                }
                self.start += n;
                self.unflushed = true;
                continue;
            }
            if self.unflushed {
                ready!(Pin::new(&mut *writer).poll_flush(cx)).map_err(Failed::Writing)?;
                self.unflushed = false;
            }
            if self.eof {
                ready!(Pin::new(&mut *writer).poll_shutdown(cx)).map_err(Failed::Writing)?;
                self.done = true;
                return Poll::Ready(Ok(()));
            }
            let mut read = ReadBuf::new(&mut self.buf);
            ready!(Pin::new(&mut *reader).poll_read(cx, &mut read)).map_err(Failed::Reading)?;
            let n = read.filled().len();
            if n == 0 {
                self.eof = true;
            } else {
                self.start = 0;
                self.end = n;
                moved.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }
}

/// Copies bytes between `client` and `backend` in both directions until the backend side has
/// closed (after forwarding everything it sent), or either side fails.
///
/// Bytes from the client are added to `counters.bytes_in`, bytes from the backend to
/// `counters.bytes_out`, as they move.
///
/// # Errors
/// The first I/O error of either socket (a reset, a broken pipe); the caller just closes both.
///
/// # Cancel safety
/// Dropping the future closes nothing by itself and loses bytes buffered in flight; callers
/// drop it only to tear the whole connection down (fencing, endpoint removal).
pub(crate) async fn splice<C, B>(
    client: &mut C,
    backend: &mut B,
    buffer_size: usize,
    counters: &Counters,
) -> io::Result<()>
where
    C: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let mut upstream = Pump::new(buffer_size);
    let mut downstream = Pump::new(buffer_size);
    // Set when the backend refused the client's bytes: it has closed (Redis answers a
    // protocol error, then closes while the client may still be sending), and what it wrote
    // before closing must still reach the client, so the splice goes on downstream.
    let mut refused: Option<io::Error> = None;
    poll_fn(|cx| {
        if !upstream.done {
            match upstream.poll_copy(cx, &mut *client, &mut *backend, &counters.bytes_in) {
                Poll::Ready(Err(Failed::Reading(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(Err(Failed::Writing(e))) => {
                    upstream.done = true;
                    refused = Some(e);
                }
                _ => {}
            }
        }
        // The backend closing ends the connection: Redis only closes when it is done with the
        // client (QUIT, `CLIENT KILL`, a protocol error, shutdown), so there is nothing left to
        // carry upstream.
        match ready!(downstream.poll_copy(cx, &mut *backend, &mut *client, &counters.bytes_out)) {
            Ok(()) => Poll::Ready(refused.take().map_or(Ok(()), Err)),
            Err(Failed::Reading(e) | Failed::Writing(e)) => Poll::Ready(Err(e)),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    // Goal: bytes cross both ways, are counted, and a client half-close still lets the reply
    // through. Method: in-memory duplex pipes stand in for the sockets; the "backend" echoes
    // what it got after seeing end of stream, then closes, which must end the splice.
    #[tokio::test]
    async fn copies_both_ways_and_forwards_half_close() {
        let (mut client_far, mut client_near) = tokio::io::duplex(64);
        let (mut backend_near, mut backend_far) = tokio::io::duplex(64);
        let counters = Counters::default();

        let backend = tokio::spawn(async move {
            let mut got = Vec::new();
            backend_far.read_to_end(&mut got).await.unwrap();
            backend_far.write_all(&got).await.unwrap();
            backend_far.write_all(&got).await.unwrap();
            // Dropping `backend_far` closes the backend side.
        });
        let client = tokio::spawn(async move {
            client_far.write_all(b"PING\r\n").await.unwrap();
            client_far.shutdown().await.unwrap();
            let mut reply = Vec::new();
            client_far.read_to_end(&mut reply).await.unwrap();
            reply
        });

        splice(&mut client_near, &mut backend_near, 512, &counters)
            .await
            .unwrap();
        drop(client_near);
        backend.await.unwrap();
        assert_eq!(client.await.unwrap(), b"PING\r\nPING\r\n");
        assert_eq!(counters.bytes_in.load(Ordering::Relaxed), 6);
        assert_eq!(counters.bytes_out.load(Ordering::Relaxed), 12);
    }

    // Goal: a reply the backend writes just before it closes reaches the client in full, even
    // while the client is still sending (Redis answering `-ERR Protocol error` to a garbled
    // stream, then closing). Method: the "backend" reads a little, replies, closes; the client
    // keeps writing 1 MiB and reads to the end.
    #[tokio::test]
    async fn a_reply_before_the_backend_closes_reaches_the_client() {
        let (client_far, mut client_near) = tokio::io::duplex(64);
        let (mut backend_near, mut backend_far) = tokio::io::duplex(64);
        let counters = Counters::default();
        let backend = tokio::spawn(async move {
            let mut first = [0u8; 16];
            backend_far.read_exact(&mut first).await.unwrap();
            backend_far
                .write_all(b"-ERR Protocol error\r\n")
                .await
                .unwrap();
        });
        let (mut client_reads, mut client_writes) = tokio::io::split(client_far);
        let writer = tokio::spawn(async move {
            let junk = vec![b'x'; 1 << 20];
            let _ = client_writes.write_all(&junk).await;
        });
        let reader = tokio::spawn(async move {
            let mut reply = Vec::new();
            let _ = client_reads.read_to_end(&mut reply).await;
            reply
        });
        let spliced = splice(&mut client_near, &mut backend_near, 512, &counters).await;
        assert!(
            spliced.is_err(),
            "the backend refused the rest: {spliced:?}"
        );
        drop(client_near);
        backend.await.unwrap();
        writer.await.unwrap();
        assert_eq!(reader.await.unwrap(), b"-ERR Protocol error\r\n");
    }

    // Goal: a payload larger than the buffer crosses intact. Method: push 1 MiB through a
    // 512-byte buffer and compare what the backend receives.
    #[tokio::test]
    async fn payload_larger_than_buffer_is_intact() {
        let (mut client_far, mut client_near) = tokio::io::duplex(4096);
        let (mut backend_near, mut backend_far) = tokio::io::duplex(4096);
        let counters = Counters::default();
        let payload: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
        let sent = payload.clone();

        let client = tokio::spawn(async move {
            client_far.write_all(&sent).await.unwrap();
            client_far.shutdown().await.unwrap();
            let mut rest = Vec::new();
            client_far.read_to_end(&mut rest).await.unwrap();
        });
        let backend = tokio::spawn(async move {
            let mut got = Vec::new();
            backend_far.read_to_end(&mut got).await.unwrap();
            got
        });

        splice(&mut client_near, &mut backend_near, 512, &counters)
            .await
            .unwrap();
        drop(client_near);
        client.await.unwrap();
        assert_eq!(backend.await.unwrap(), payload);
    }
}
