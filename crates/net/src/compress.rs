//! A raw-deflate layer over a connection (RFC 4978 IMAP COMPRESS=DEFLATE; RFC 1951 data, no
//! zlib header): everything written is compressed and sent with a sync flush at every
//! [`AsyncWrite::poll_flush`] (so each response reaches the client whole), everything read is
//! inflated. `flate2` (its Rust backend) does the deflate work; this module only moves bytes
//! between it and the stream.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

const CHUNK: usize = 8 * 1024;

/// `inner` with deflate on both directions.
pub struct Deflate<S> {
    inner: S,
    deflate: Compress,
    inflate: Decompress,
    /// Compressed input not inflated yet.
    rbuf: Vec<u8>,
    rpos: usize,
    eof: bool,
    /// Compressed output not written to `inner` yet.
    wbuf: Vec<u8>,
    wpos: usize,
    /// A flush has added its sync-flush block and is still writing it out.
    flushing: bool,
}

impl<S> Deflate<S> {
    /// Starts compression over `inner`; `pending` is compressed input already read from it.
    pub fn new(inner: S, pending: Vec<u8>) -> Deflate<S> {
        Deflate {
            inner,
            deflate: Compress::new(Compression::default(), false),
            inflate: Decompress::new(false),
            rbuf: pending,
            rpos: 0,
            eof: false,
            wbuf: Vec::new(),
            wpos: 0,
            flushing: false,
        }
    }
}

fn zerr(e: impl std::fmt::Display) -> io::Error {
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
            if me.rpos < me.rbuf.len() {
                let out = buf.initialize_unfilled();
                let (before_in, before_out) = (me.inflate.total_in(), me.inflate.total_out());
                let status = me
                    .inflate
                    .decompress(&me.rbuf[me.rpos..], out, FlushDecompress::Sync)
                    .map_err(zerr)?;
                let used = (me.inflate.total_in() - before_in) as usize;
                let made = (me.inflate.total_out() - before_out) as usize;
                me.rpos += used;
                if made > 0 {
                    buf.advance(made);
                    return Poll::Ready(Ok(()));
                }
                if status == Status::StreamEnd {
                    me.eof = true;
                }
                if used > 0 {
                    continue;
                }
            }
            if me.eof {
                return Poll::Ready(Ok(()));
            }
            // Need more compressed input.
            if me.rpos > 0 {
                me.rbuf.drain(..me.rpos);
                me.rpos = 0;
            }
            let mut tmp = [0u8; CHUNK];
            let mut rb = ReadBuf::new(&mut tmp);
            ready!(Pin::new(&mut me.inner).poll_read(cx, &mut rb))?;
            if rb.filled().is_empty() {
                me.eof = true;
                return Poll::Ready(Ok(()));
            }
            me.rbuf.extend_from_slice(rb.filled());
        }
    }
}

impl<S: AsyncWrite + Unpin> Deflate<S> {
    /// Writes out what is compressed and waiting.
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

    /// Compresses `data` (all of it) into `wbuf`.
    fn compress(&mut self, mut data: &[u8], flush: FlushCompress) -> io::Result<()> {
        loop {
            self.wbuf.reserve(CHUNK.max(data.len() / 2));
            let before_in = self.deflate.total_in();
            let before_out = self.deflate.total_out();
            self.deflate
                .compress_vec(data, &mut self.wbuf, flush)
                .map_err(zerr)?;
            let used = (self.deflate.total_in() - before_in) as usize;
            let made = self.deflate.total_out() - before_out;
            data = &data[used..];
            // Done when the input is taken and the output did not fill the space given.
            if data.is_empty() && self.wbuf.len() < self.wbuf.capacity() {
                return Ok(());
            }
            if used == 0 && made == 0 {
                return Ok(());
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Deflate<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let me = &mut *self;
        if me.wbuf.len() - me.wpos > 64 * 1024 {
            ready!(me.poll_drain(cx))?;
        }
        me.compress(data, FlushCompress::None)?;
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = &mut *self;
        if !me.flushing {
            // RFC 4978 §4: a sync flush after each response, so the client can inflate it
            // without waiting for more.
            me.compress(&[], FlushCompress::Sync)?;
            me.flushing = true;
        }
        ready!(me.poll_drain(cx))?;
        me.flushing = false;
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

    #[tokio::test]
    async fn round_trip_with_sync_flushes() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let mut left = Deflate::new(a, vec![]);
        let mut right = Deflate::new(b, vec![]);
        let lines: Vec<Vec<u8>> = (0..200)
            .map(|i| format!("* {i} FETCH (FLAGS (\\Seen))\r\n").into_bytes())
            .collect();
        for l in &lines {
            left.write_all(l).await.expect("write");
        }
        left.flush().await.expect("flush");
        let want: Vec<u8> = lines.concat();
        let mut got = vec![0u8; want.len()];
        right.read_exact(&mut got).await.expect("read");
        assert_eq!(got, want);
        // And back, in small pieces, each flushed.
        for i in 0..50 {
            right
                .write_all(format!("a{i} NOOP\r\n").as_bytes())
                .await
                .expect("w");
            right.flush().await.expect("f");
            let mut line = vec![0u8; format!("a{i} NOOP\r\n").len()];
            left.read_exact(&mut line).await.expect("r");
            assert_eq!(line, format!("a{i} NOOP\r\n").as_bytes());
        }
    }

    #[tokio::test]
    async fn compresses_repetitive_data() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut w = Deflate::new(a, vec![]);
        let data = b"* 1 FETCH (UID 1 FLAGS (\\Seen) BODY[HEADER] {100}\r\n".repeat(1000);
        w.write_all(&data).await.expect("write");
        w.flush().await.expect("flush");
        drop(w);
        let mut wire = Vec::new();
        b.read_to_end(&mut wire).await.expect("read");
        assert!(
            wire.len() * 10 < data.len(),
            "{} of {}",
            wire.len(),
            data.len()
        );
    }

    #[tokio::test]
    async fn garbage_is_an_error_not_a_panic() {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut r = Deflate::new(a, vec![]);
        b.write_all(&[0xff; 64]).await.expect("write");
        drop(b);
        let mut out = Vec::new();
        assert!(r.read_to_end(&mut out).await.is_err());
    }
}
