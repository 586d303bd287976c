//! One client connection: read frames, dispatch in arrival order, write replies in request order.
//!
//! The reader keeps reading (pipelining) while earlier requests are still being answered; a
//! bounded queue of pending replies between reader and writer applies back-pressure.

use super::frame::{self, FrameError};
use crate::handlers::{self, BrokerState, ConnectionInfo, Handled, Reply, Request};
use bytes::BytesMut;
use kafka_protocol::messages::ApiKey;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

/// Requests a client may have in flight on one connection before we stop reading.
const MAX_IN_FLIGHT: usize = 128;
/// Flush the write buffer once it holds this much, even if more replies are ready.
const WRITE_BATCH: usize = 256 * 1024;

/// A reply slot in request order.
struct Pending {
    /// Echoed in the response header, so the client matches reply to request.
    correlation_id: i32,
    /// The request's API: its response header version depends on it.
    api_key: ApiKey,
    /// The reply, ready or on its way.
    reply: PendingReply,
}

/// A reply that is ready, or the task that will produce it (a long-poll, a group join).
enum PendingReply {
    /// Ready to write.
    Now(Reply),
    /// Written when the task finishes; replies behind it wait, keeping request order.
    Later(JoinHandle<Reply>),
}

/// Serves one connection until the client closes it, a frame forces a close, or shutdown.
pub async fn serve(
    stream: TcpStream,
    state: Arc<BrokerState>,
    info: ConnectionInfo,
    mut stop: watch::Receiver<bool>,
) {
    let peer = info.peer;
    let (mut reader, writer) = stream.into_split();
    let (tx, rx) = mpsc::channel::<Pending>(MAX_IN_FLIGHT);
    let mut writer_task = tokio::spawn(write_replies(writer, rx, info.peer));
    let mut writer_done = false;
    let max = state.config.socket_request_max_bytes;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    'conn: loop {
        loop {
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
            let reply = match handlers::handle(&state, &info, request) {
                Handled::Now(r) => PendingReply::Now(r),
                Handled::Later(f) => PendingReply::Later(tokio::spawn(f)),
            };
            if tx
                .send(Pending {
                    correlation_id,
                    api_key,
                    reply,
                })
                .await
                .is_err()
            {
                break 'conn;
            }
        }
        tokio::select! {
            read = reader.read_buf(&mut buf) => match read {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    debug!("Connection from {peer} failed: {e}");
                    break;
                }
            },
            _ = stop.changed() => break,
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

async fn write_replies(
    mut writer: OwnedWriteHalf,
    mut rx: mpsc::Receiver<Pending>,
    peer: std::net::SocketAddr,
) {
    let mut out = BytesMut::with_capacity(64 * 1024);
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(p) = next.take() {
            let reply = match p.reply {
                PendingReply::Now(r) => r,
                PendingReply::Later(handle) => {
                    // Flush what is ready before waiting on a long-poll.
                    if !out.is_empty() && writer.write_all(&out).await.is_err() {
                        return;
                    }
                    out.clear();
                    match handle.await {
                        Ok(r) => r,
                        Err(e) => Reply::Close(format!("request handler failed: {e}")),
                    }
                }
            };
            match reply {
                Reply::Response { body, version } => {
                    let mark = out.len();
                    if let Err(e) = frame::encode_response(
                        &mut out,
                        p.correlation_id,
                        p.api_key,
                        version,
                        &body,
                    ) {
                        warn!(
                            "Closing connection from {peer}: cannot encode {:?} v{version} response: {e}",
                            p.api_key
                        );
                        // Never send the half-encoded frame.
                        out.truncate(mark);
                        let _ = writer.write_all(&out).await;
                        return;
                    }
                }
                Reply::Nothing => {}
                Reply::Close(reason) => {
                    warn!("Closing connection from {peer}: {reason}");
                    let _ = writer.write_all(&out).await;
                    let _ = writer.shutdown().await;
                    return;
                }
            }
            if out.len() < WRITE_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !out.is_empty() {
            if writer.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
    }
}
