//! The client side of IMAP COMPRESS=DEFLATE (RFC 4978) for row 9, and the byte counter that
//! sits under it on the socket.
//!
//! RFC 4978 §3: after the tagged OK of `COMPRESS DEFLATE` both directions carry raw DEFLATE
//! (RFC 1951: no zlib header or checksum); §4: each side flushes what it has written so the
//! peer can act on it. The client compresses its commands with a sync flush at every
//! [`AsyncWrite::poll_flush`] and inflates what it reads. `flate2` (Rust backend, the crate
//! mailstack's `net::compress` uses) does the deflate work; this is written apart from the
//! server's layer so that mailstack's output is read by code that did not write it.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// `inner` whose received bytes are added to a shared counter: the bytes on the wire, counted
/// below any inflate layer put on top of it.
pub struct Counted<S> {
    inner: S,
    received: Arc<AtomicU64>,
}

impl<S> Counted<S> {
    pub fn new(inner: S) -> (Counted<S>, Arc<AtomicU64>) {
        let received = Arc::new(AtomicU64::new(0));
        let c = Counted {
            inner,
            received: received.clone(),
        };
        (c, received)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        let got = (buf.filled().len() - before) as u64;
        self.received.fetch_add(got, Ordering::Relaxed);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// `inner` with raw DEFLATE on both directions.
pub struct Deflate<S> {
    inner: S,
    inflate: Decompress,
    deflate: Compress,
    /// Compressed bytes received and not inflated yet: `rbuf[rpos..]`.
    rbuf: Vec<u8>,
    rpos: usize,
    /// The server closed the connection.
    eof: bool,
    /// Compressed bytes not sent yet: `wbuf[wpos..]`.
    wbuf: Vec<u8>,
    wpos: usize,
    /// Something was compressed since the last sync flush.
    dirty: bool,
}

impl<S> Deflate<S> {
    /// Starts DEFLATE over `inner` (right after the tagged OK of `COMPRESS DEFLATE`).
    pub fn new(inner: S) -> Deflate<S> {
        Deflate {
            inner,
            inflate: Decompress::new(false),
            deflate: Compress::new(Compression::default(), false),
            rbuf: Vec::with_capacity(16 * 1024),
            rpos: 0,
            eof: false,
            wbuf: Vec::new(),
            wpos: 0,
            dirty: false,
        }
    }

    /// Compresses all of `data` onto the end of `wbuf`.
    fn deflate_into(&mut self, mut data: &[u8], flush: FlushCompress) -> io::Result<()> {
        loop {
            self.wbuf.reserve(data.len() + 64);
            let before = self.deflate.total_in();
            self.deflate
                .compress_vec(data, &mut self.wbuf, flush)
                .map_err(bad)?;
            data = &data[(self.deflate.total_in() - before) as usize..];
            // Done when the input is taken and the output did not fill the room it had.
            if data.is_empty() && self.wbuf.len() < self.wbuf.capacity() {
                return Ok(());
            }
        }
    }
}

fn bad(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("deflate: {e}"))
}

impl<S: AsyncRead + Unpin> AsyncRead for Deflate<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let me = &mut *self;
        loop {
            // Also called with no input: the inflater may hold output that did not fit before.
            let out = buf.initialize_unfilled();
            let (in0, out0) = (me.inflate.total_in(), me.inflate.total_out());
            let status = me
                .inflate
                .decompress(&me.rbuf[me.rpos..], out, FlushDecompress::None)
                .map_err(bad)?;
            let used = (me.inflate.total_in() - in0) as usize;
            let made = (me.inflate.total_out() - out0) as usize;
            me.rpos += used;
            if made > 0 {
                buf.advance(made);
                return Poll::Ready(Ok(()));
            }
            if me.eof || status == Status::StreamEnd {
                return Poll::Ready(Ok(()));
            }
            if used > 0 {
                continue;
            }
            me.rbuf.drain(..me.rpos);
            me.rpos = 0;
            let mut tmp = [0u8; 16 * 1024];
            let mut rb = ReadBuf::new(&mut tmp);
            ready!(Pin::new(&mut me.inner).poll_read(cx, &mut rb))?;
            if rb.filled().is_empty() {
                me.eof = true;
            }
            me.rbuf.extend_from_slice(rb.filled());
        }
    }
}

impl<S: AsyncWrite + Unpin> Deflate<S> {
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.wpos < self.wbuf.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.wbuf[self.wpos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.wpos += n;
        }
        self.wbuf.clear();
        self.wpos = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Deflate<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        // Commands are small: everything waits in `wbuf` for the flush.
        self.deflate_into(data, FlushCompress::None)?;
        self.dirty = true;
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = &mut *self;
        if me.dirty {
            // RFC 4978 §4: a sync flush, so the server can inflate the whole command now.
            me.deflate_into(&[], FlushCompress::Sync)?;
            me.dirty = false;
        }
        ready!(me.poll_drain(cx))?;
        Pin::new(&mut me.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.as_mut().poll_flush(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// What one side writes through [`Deflate`] the other reads back through [`Deflate`], in
    /// pieces and with the wire bytes counted, and the wire carries fewer bytes than the text.
    #[tokio::test]
    async fn round_trip_with_counted_wire() {
        let (a, b) = tokio::io::duplex(1024);
        let (b, wire) = Counted::new(b);
        let mut tx = Deflate::new(a);
        let mut rx = Deflate::new(b);
        let text: Vec<u8> = (0..2000)
            .flat_map(|i| format!("* {i} FETCH (FLAGS (\\Seen) UID {i})\r\n").into_bytes())
            .collect();
        let sent = text.clone();
        let writer = tokio::spawn(async move {
            for chunk in sent.chunks(777) {
                tx.write_all(chunk).await?;
                tx.flush().await?;
            }
            tx.shutdown().await?;
            Ok::<_, io::Error>(())
        });
        let mut got = Vec::new();
        let mut buf = [0u8; 100];
        while got.len() < text.len() {
            let n = rx.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed after {} bytes", got.len());
            got.extend_from_slice(&buf[..n]);
        }
        writer.await.unwrap().unwrap();
        assert_eq!(got, text);
        let on_wire = wire.load(Ordering::Relaxed) as usize;
        assert!(on_wire > 0 && on_wire * 3 < text.len(), "{on_wire}");
    }
}
