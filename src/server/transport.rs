//! Where a connection's replies go. Plain TCP sends fetched records straight from the segment
//! file (`sendfile` on Linux and macOS: no copy through the broker's memory, no page of the
//! file mapped into it); any other stream (TLS later) gets them through positioned reads into
//! one reused buffer, so its memory stays bounded too.

use super::frame::Part;
use crate::log::FileRecords;
use std::future::Future;
use std::io::{self, IoSlice};
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Bytes of file read per step by the portable path.
const READ_STEP: usize = 256 * 1024;
/// At most this many buffers per vectored write (below every platform's IOV_MAX).
const MAX_IOVECS: usize = 64;

/// A stream replies can be written to.
pub trait ReplySink: AsyncWrite + Unpin + Send {
    /// Sends `records` whole. The default reads them from the file into `scratch` step by step
    /// and writes each step; streams that can do better (a plain socket) override it.
    fn send_file(
        &mut self,
        records: &FileRecords,
        scratch: &mut Vec<u8>,
    ) -> impl Future<Output = io::Result<()>> + Send {
        async move {
            let mut at = 0;
            while at < records.len() {
                let n = (records.len() - at).min(READ_STEP);
                scratch.resize(n, 0);
                records.read_at(at, &mut scratch[..n])?;
                self.write_all(&scratch[..n]).await?;
                at += n;
            }
            Ok(())
        }
    }
}

/// Writes `parts` in order: runs of inline bytes with vectored writes, file parts with
/// [`ReplySink::send_file`].
pub async fn write_parts<S: ReplySink>(
    sink: &mut S,
    parts: &[Part],
    scratch: &mut Vec<u8>,
) -> io::Result<()> {
    let mut i = 0;
    while i < parts.len() {
        match &parts[i] {
            Part::File(records) => {
                sink.send_file(records, scratch).await?;
                i += 1;
            }
            Part::Inline(_) => {
                let run_end = parts[i..]
                    .iter()
                    .take(MAX_IOVECS)
                    .position(|p| matches!(p, Part::File(_)))
                    .map_or((i + MAX_IOVECS).min(parts.len()), |n| i + n);
                let mut slices: Vec<IoSlice<'_>> = parts[i..run_end]
                    .iter()
                    .filter_map(|p| match p {
                        Part::Inline(b) => Some(IoSlice::new(b)),
                        Part::File(_) => None,
                    })
                    .collect();
                let mut bufs = &mut slices[..];
                while !bufs.is_empty() {
                    let n = sink.write_vectored(bufs).await?;
                    if n == 0 {
                        return Err(io::ErrorKind::WriteZero.into());
                    }
                    IoSlice::advance_slices(&mut bufs, n);
                }
                i = run_end;
            }
        }
    }
    sink.flush().await
}

impl ReplySink for tokio::net::tcp::OwnedWriteHalf {
    #[cfg(any(target_os = "linux", target_os = "macos"))]
    async fn send_file(&mut self, records: &FileRecords, _scratch: &mut Vec<u8>) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let Some(file) = records.file() else {
            return Ok(());
        };
        let stream: &tokio::net::TcpStream = self.as_ref();
        let mut sent = 0usize;
        while sent < records.len() {
            stream.writable().await?;
            let result = stream.try_io(tokio::io::Interest::WRITABLE, || {
                sendfile(
                    stream.as_raw_fd(),
                    file.as_raw_fd(),
                    records.position() + sent as u64,
                    records.len() - sent,
                )
            });
            match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// One `sendfile(2)` call: bytes of `file` at `offset` to the socket. `WouldBlock` when the
/// socket buffer is full and nothing was sent.
#[cfg(target_os = "linux")]
fn sendfile(socket: i32, file: i32, offset: u64, len: usize) -> io::Result<usize> {
    let mut off = libc::off_t::try_from(offset).map_err(|_| io::Error::other("offset"))?;
    // Linux sends at most 0x7ffff000 bytes per call.
    let count = len.min(0x7fff_f000);
    // SAFETY: both descriptors are open for the duration of the call and `off` is a valid
    // pointer to an off_t.
    let n = unsafe { libc::sendfile(socket, file, &mut off, count) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// One `sendfile(2)` call: bytes of `file` at `offset` to the socket. `WouldBlock` when the
/// socket buffer is full and nothing was sent (macOS reports partial progress with EAGAIN).
#[cfg(target_os = "macos")]
fn sendfile(socket: i32, file: i32, offset: u64, len: usize) -> io::Result<usize> {
    let off = libc::off_t::try_from(offset).map_err(|_| io::Error::other("offset"))?;
    let mut count = libc::off_t::try_from(len).unwrap_or(libc::off_t::MAX);
    // SAFETY: both descriptors are open for the duration of the call, `count` is a valid
    // pointer, and no header/trailer vectors are passed.
    let rc = unsafe { libc::sendfile(file, socket, off, &mut count, std::ptr::null_mut(), 0) };
    if rc == 0 || count > 0 {
        return Ok(count as usize);
    }
    Err(io::Error::last_os_error())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::frame::Part;
    use bytes::Bytes;

    /// A sink that only takes the portable path.
    struct Plain(Vec<u8>);

    impl AsyncWrite for Plain {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<io::Result<usize>> {
            // At most 7 bytes per call, to exercise partial writes.
            let n = buf.len().min(7);
            self.0.extend_from_slice(&buf[..n]);
            std::task::Poll::Ready(Ok(n))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }
    impl ReplySink for Plain {}

    #[tokio::test]
    async fn inline_parts_are_written_in_order_across_partial_writes() {
        let parts: Vec<Part> = (0..100u8)
            .map(|i| Part::Inline(Bytes::from(vec![i; i as usize % 5 + 1])))
            .collect();
        let expected: Vec<u8> = (0..100u8)
            .flat_map(|i| vec![i; i as usize % 5 + 1])
            .collect();
        let mut sink = Plain(Vec::new());
        write_parts(&mut sink, &parts, &mut Vec::new())
            .await
            .expect("write");
        assert_eq!(sink.0, expected);
    }
}
