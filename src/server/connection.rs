//! One client connection: read frames, dispatch in arrival order, write replies in request order.
//!
//! The reader keeps reading (pipelining) while earlier requests are still being answered, and
//! encodes each immediate reply itself, so the writer only writes. What one connection may hold
//! is bounded by configuration whatever the client does:
//! - one frame at most `socket.request.max.bytes` in the read buffer (which is reused);
//! - at most [`MAX_IN_FLIGHT`] requests answered but not yet written;
//! - while the replies waiting for the socket exceed the reply budget (the broker's
//!   `fetch.max.bytes`, the largest reply a fetch may build), no further request is read: the
//!   connection is muted, as Kafka mutes a channel, and TCP pushes back on the client.
//!
//! Fairness: requests whose handlers do file work (appends, fsyncs, catalog writes) run on the
//! blocking pool, never on the async workers; the reader yields after every request; a
//! broker-wide cap (`queued.max.requests`) bounds how many requests are being handled at once.

use super::frame::{self, FrameError, Outgoing};
use super::limits::ConnectionGuard;
use super::transport::{self, ReplySink};
use crate::handlers::{self, BrokerState, ConnectionInfo, Handled, Reply, Request};
use bytes::BytesMut;
use kafka_protocol::messages::ApiKey;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

/// Requests a client may have answered-but-unwritten on one connection before we stop reading.
const MAX_IN_FLIGHT: usize = 128;
/// Write once this much is encoded, even if more replies are ready.
const WRITE_BATCH: usize = 256 * 1024;
/// Initial (and idle) size of a connection's read buffer.
const READ_BUFFER: usize = 64 * 1024;
/// The smallest reply budget, whatever `fetch.max.bytes` says.
const MIN_REPLY_BUDGET: usize = 1 << 20;

/// What the broker shares with every connection.
pub struct Shared {
    /// Handler state.
    pub state: Arc<BrokerState>,
    /// `queued.max.requests`: requests being handled at once, broker-wide.
    pub handling: Semaphore,
}

/// A reply slot in request order.
enum Pending {
    /// Encoded by the reader: `bytes` of it count against the reply budget.
    Ready { out: Outgoing, bytes: usize },
    /// A task that answers later (a long-poll, a group join); replies behind it wait.
    Later {
        /// Echoed in the response header.
        correlation_id: i32,
        /// The request's API: its response header version depends on it.
        api_key: ApiKey,
        /// The task.
        task: JoinHandle<Reply>,
    },
    /// Close the connection after writing what comes before.
    Close(String),
}

/// Per-connection counters the reader and writer share.
struct Budget {
    /// Reply bytes handed to the writer and not yet written.
    queued: AtomicUsize,
    /// Replies the reader has dispatched and the writer has not yet written.
    owed: AtomicUsize,
    /// Wakes a muted reader when the writer has written something.
    written: Notify,
    /// Last time (ms since the connection started) a byte was read or written, or a reply was
    /// still owed: the `connections.max.idle.ms` clock.
    last_active_ms: AtomicI64,
}

/// Serves one connection until the client closes it, a frame forces a close, it idles past
/// `connections.max.idle.ms`, or shutdown.
pub async fn serve<R, W>(
    mut reader: R,
    writer: W,
    shared: Arc<Shared>,
    info: ConnectionInfo,
    mut stop: watch::Receiver<bool>,
    _slot: ConnectionGuard,
) where
    R: AsyncRead + Unpin + Send,
    W: ReplySink + 'static,
{
    let peer = info.peer;
    let state = &shared.state;
    let started = tokio::time::Instant::now();
    let now_ms = move || started.elapsed().as_millis() as i64;
    let budget = Arc::new(Budget {
        queued: AtomicUsize::new(0),
        owed: AtomicUsize::new(0),
        written: Notify::new(),
        last_active_ms: AtomicI64::new(0),
    });
    let reply_budget = usize::try_from(state.config.fetch_max_bytes)
        .unwrap_or(0)
        .max(MIN_REPLY_BUDGET);
    let idle_ms = state.config.connections_max_idle_ms;
    let (tx, rx) = mpsc::channel::<Pending>(MAX_IN_FLIGHT);
    let mut writer_task = tokio::spawn(write_replies(writer, rx, peer, budget.clone(), now_ms));
    let mut writer_done = false;
    let max = state.config.socket_request_max_bytes;
    let mut buf = BytesMut::with_capacity(READ_BUFFER);
    'conn: loop {
        loop {
            // Muted while the client leaves too many reply bytes unread.
            while budget.queued.load(Ordering::Acquire) > reply_budget {
                let written = budget.written.notified();
                if budget.queued.load(Ordering::Acquire) <= reply_budget {
                    break;
                }
                tokio::select! {
                    _ = written => {}
                    _ = stop.changed() => break 'conn,
                    _ = &mut writer_task => {
                        writer_done = true;
                        break 'conn;
                    }
                }
            }
            let mut frame = match frame::next_frame(&mut buf, max) {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    warn!("Closing connection from {peer}: {e}");
                    break 'conn;
                }
            };
            let (header, api_key) = match frame::parse_header(&mut frame) {
                Ok(h) => h,
                Err(FrameError::UnknownApiKey(k)) => {
                    warn!("Closing connection from {peer}: unknown API key {k}");
                    break 'conn;
                }
                Err(e) => {
                    warn!("Closing connection from {peer}: {e}");
                    break 'conn;
                }
            };
            let correlation_id = header.correlation_id;
            let request = Request {
                header,
                api_key,
                body: frame,
            };
            let handled = {
                let Ok(_permit) = shared.handling.acquire().await else {
                    break 'conn;
                };
                if handlers::runs_blocking(api_key) {
                    let state = state.clone();
                    let info = info.clone();
                    match tokio::task::spawn_blocking(move || {
                        handlers::handle(&state, &info, request)
                    })
                    .await
                    {
                        Ok(h) => h,
                        Err(e) => {
                            Handled::Now(Reply::Close(format!("request handler failed: {e}")))
                        }
                    }
                } else {
                    let handled = handlers::handle(state, &info, request);
                    // Let other connections' tasks run between two requests of this one.
                    tokio::task::yield_now().await;
                    handled
                }
            };
            let pending = match handled {
                Handled::Now(reply) => encode(reply, correlation_id, api_key, peer),
                Handled::Later(f) => Pending::Later {
                    correlation_id,
                    api_key,
                    task: tokio::spawn(f),
                },
            };
            if let Pending::Ready { bytes, .. } = &pending {
                budget.queued.fetch_add(*bytes, Ordering::AcqRel);
            }
            budget.owed.fetch_add(1, Ordering::AcqRel);
            let closing = matches!(pending, Pending::Close(_));
            if tx.send(pending).await.is_err() || closing {
                // After a reply that closes the connection nothing more is read, as Kafka.
                break 'conn;
            }
        }
        // An idle connection gives back a buffer a large frame made it grow.
        if buf.is_empty() && buf.capacity() > 4 * READ_BUFFER {
            buf = BytesMut::with_capacity(READ_BUFFER);
        }
        let idle = idle_deadline(&budget, idle_ms, started);
        tokio::select! {
            read = reader.read_buf(&mut buf) => match read {
                Ok(0) => break,
                Ok(_) => budget.last_active_ms.store(now_ms(), Ordering::Release),
                Err(e) => {
                    debug!("Connection from {peer} failed: {e}");
                    break;
                }
            },
            _ = stop.changed() => break,
            _ = idle => {
                debug!("Closing connection from {peer}: idle for more than {idle_ms} ms (connections.max.idle.ms)");
                break;
            }
            // The writer closed the connection (Reply::Close or a write error).
            _ = &mut writer_task => {
                writer_done = true;
                break;
            }
        }
    }
    drop(tx);
    if !writer_done {
        let _ = writer_task.await;
    }
}

/// Resolves when the connection has been idle for `idle_ms`: nothing read or written and no
/// reply owed. Never, when replies are owed (the writer's activity moves the clock).
async fn idle_deadline(budget: &Budget, idle_ms: i64, started: tokio::time::Instant) {
    if idle_ms < 0 {
        return std::future::pending().await;
    }
    loop {
        let last = budget.last_active_ms.load(Ordering::Acquire);
        let after = Duration::from_millis(last.saturating_add(idle_ms).max(0) as u64);
        // A limit beyond what the clock can represent (Long.MAX_VALUE) means never.
        let Some(deadline) = started.checked_add(after) else {
            return std::future::pending().await;
        };
        tokio::time::sleep_until(deadline).await;
        if budget.owed.load(Ordering::Acquire) > 0 {
            // Replies are owed (a long-poll): not idle; look again later.
            budget
                .last_active_ms
                .store(started.elapsed().as_millis() as i64, Ordering::Release);
            continue;
        }
        if budget.last_active_ms.load(Ordering::Acquire) == last {
            return;
        }
    }
}

/// Encodes an immediate reply into its own frame.
fn encode(
    reply: Reply,
    correlation_id: i32,
    api_key: ApiKey,
    peer: std::net::SocketAddr,
) -> Pending {
    match reply {
        Reply::Response {
            body,
            version,
            records,
        } => {
            let mut out = Outgoing::default();
            match out.push_response(correlation_id, api_key, version, &body, records) {
                Ok(()) => {
                    let bytes = out.len();
                    Pending::Ready { out, bytes }
                }
                Err(e) => {
                    warn!("Cannot encode {api_key:?} v{version} response for {peer}: {e}");
                    Pending::Close(format!(
                        "cannot encode {api_key:?} v{version} response: {e}"
                    ))
                }
            }
        }
        Reply::Nothing => Pending::Ready {
            out: Outgoing::default(),
            bytes: 0,
        },
        Reply::Close(reason) => Pending::Close(reason),
    }
}

/// The writing half: replies in request order, batched, written as they become ready.
struct ReplyWriter<W, F> {
    /// Where replies go.
    sink: W,
    /// Encoded replies not yet written.
    out: Outgoing,
    /// Bytes in `out` that count against the reply budget, and replies in it.
    counted: (usize, usize),
    /// The portable file path's read buffer.
    scratch: Vec<u8>,
    /// Shared with the reader.
    budget: Arc<Budget>,
    /// The connection's clock, for idleness.
    now_ms: F,
}

impl<W: ReplySink, F: Fn() -> i64> ReplyWriter<W, F> {
    /// Writes everything in `out` and gives its bytes back to the budget; false when the
    /// connection failed.
    async fn flush(&mut self) -> bool {
        let result = if self.out.is_empty() {
            Ok(())
        } else {
            let parts = self.out.take();
            transport::write_parts(&mut self.sink, &parts, &mut self.scratch).await
        };
        self.budget
            .queued
            .fetch_sub(self.counted.0, Ordering::AcqRel);
        self.budget.owed.fetch_sub(self.counted.1, Ordering::AcqRel);
        self.counted = (0, 0);
        self.budget
            .last_active_ms
            .store((self.now_ms)(), Ordering::Release);
        self.budget.written.notify_waiters();
        if self.scratch.capacity() > 4 * READ_BUFFER {
            self.scratch = Vec::new();
        }
        result.is_ok()
    }
}

async fn write_replies<W: ReplySink>(
    sink: W,
    mut rx: mpsc::Receiver<Pending>,
    peer: std::net::SocketAddr,
    budget: Arc<Budget>,
    now_ms: impl Fn() -> i64,
) {
    let mut w = ReplyWriter {
        sink,
        out: Outgoing::default(),
        counted: (0, 0),
        scratch: Vec::new(),
        budget,
        now_ms,
    };
    let mut close: Option<String> = None;
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(p) = next.take() {
            match p {
                Pending::Ready { out: frame, bytes } => {
                    w.out.append(frame);
                    w.counted.0 += bytes;
                    w.counted.1 += 1;
                }
                Pending::Later {
                    correlation_id,
                    api_key,
                    task,
                } => {
                    // Write what is ready before waiting on a long-poll.
                    if !w.flush().await {
                        return;
                    }
                    let reply = task
                        .await
                        .unwrap_or_else(|e| Reply::Close(format!("request handler failed: {e}")));
                    w.counted.1 += 1;
                    match encode(reply, correlation_id, api_key, peer) {
                        Pending::Ready { out: frame, .. } => w.out.append(frame),
                        Pending::Close(reason) => close = Some(reason),
                        Pending::Later { .. } => {}
                    }
                }
                Pending::Close(reason) => {
                    w.counted.1 += 1;
                    close = Some(reason);
                }
            }
            if close.is_some() {
                break;
            }
            if w.out.len() < WRITE_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !w.flush().await {
            return;
        }
        if let Some(reason) = close.take() {
            warn!("Closing connection from {peer}: {reason}");
            let _ = w.sink.shutdown().await;
            return;
        }
    }
}
