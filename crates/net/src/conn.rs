//! [`Connection`]: one client connection, plain or TLS, with the line reader every protocol
//! uses, exact reads for literals and BDAT chunks, idle timeouts, the STARTTLS upgrade and the
//! redacting protocol trace.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::TlsAcceptor;

use crate::registry::{Dir, SessionHandle};

/// Any byte stream a session can run on (TCP, TLS over TCP, an in-memory duplex in tests).
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Rewrites a command line that carries a secret for the trace (`None`: log it as it is).
pub type Redactor = fn(&[u8]) -> Option<String>;

/// Why a read returned no line.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// The line passed the limit. The rest of it (up to LF) is dropped by the next read.
    #[error("line too long")]
    TooLong,
    /// The client kept sending one over-long line past [`FLOOD_LIMIT`]: close the connection.
    #[error("line far too long")]
    Flood,
    /// No complete input within the idle timeout.
    #[error("idle timeout")]
    Timeout,
    /// The client closed the connection.
    #[error("connection closed")]
    Closed,
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Bytes of one over-long line we drop before giving up on the connection.
pub const FLOOD_LIMIT: usize = 1 << 20;
const READ_CHUNK: usize = 16 * 1024;
/// What an idle connection reserves for its next read: most command lines fit, and 10,000
/// idling IMAP clients should not hold 16 KiB each (`make bench` row 5). A read that fills
/// it is followed by [`READ_CHUNK`]-sized ones.
const IDLE_READ: usize = 1024;
/// Buffers that grew past this for one large command or response are given back after it.
const KEEP_BUFFER: usize = 64 * 1024;
/// `--trace-bodies`: show message bodies in the protocol trace (off: the first line and the
/// size). One switch for the process, set once by `serve` before any session starts.
static TRACE_BODIES: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Turns body tracing on or off for every connection of this process.
pub fn set_trace_bodies(on: bool) {
    TRACE_BODIES.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether message bodies are traced in full (`--trace-bodies`).
pub fn trace_bodies() -> bool {
    TRACE_BODIES.load(std::sync::atomic::Ordering::Relaxed)
}

/// Bytes of one written line shown in the trace.
const TRACE_MAX: usize = 300;

/// A client connection. Reads are buffered; writes are buffered until [`Connection::flush`].
pub struct Connection {
    stream: Option<Box<dyn Stream>>,
    buf: Vec<u8>,
    pos: usize,
    out: Vec<u8>,
    /// Peer address (for throttling, limits, logs).
    pub peer: SocketAddr,
    /// Local address the client connected to (for the ports table in the demo).
    pub local: SocketAddr,
    /// Whether the connection is encrypted (implicit TLS or after STARTTLS).
    pub tls: bool,
    /// Deflate is on (RFC 4978); it stays on for the connection's life.
    compressed: bool,
    idle: Duration,
    /// Bytes of an over-long line still to be dropped (the reader is inside that line).
    discarding: Option<usize>,
    trace: bool,
    redactor: Redactor,
    secret_next: bool,
    /// This session's entry in the registry (dashboard), when the listener has one.
    session: Option<SessionHandle>,
    /// The process's fault rules and this listener's service name (docs/spec.md §7.7).
    pub(crate) faults: Option<(crate::faults::Faults, &'static str)>,
}

fn no_redaction(_: &[u8]) -> Option<String> {
    None
}

impl Connection {
    pub fn new(
        stream: impl Stream + 'static,
        peer: SocketAddr,
        local: SocketAddr,
        tls: bool,
    ) -> Self {
        Connection {
            stream: Some(Box::new(stream)),
            buf: Vec::new(),
            pos: 0,
            out: Vec::new(),
            peer,
            local,
            tls,
            idle: Duration::from_secs(300),
            discarding: None,
            trace: false,
            redactor: no_redaction,
            secret_next: false,
            session: None,
            compressed: false,
            faults: None,
        }
    }

    /// Attaches the session's registry entry: from now on its trace lines and TLS state are
    /// recorded there, and protocols report user, mailbox and IDLE through it.
    pub fn attach(&mut self, session: SessionHandle) {
        session.set_tls(self.tls);
        self.session = Some(session);
    }

    /// The registry entry, if the listener has a registry.
    pub fn session(&self) -> Option<&SessionHandle> {
        self.session.as_ref()
    }

    /// Reports the authenticated account (dashboard).
    pub fn set_user(&self, user: Option<&str>) {
        if let Some(s) = &self.session {
            s.set_user(user);
        }
    }

    /// Reports the selected mailbox (dashboard).
    pub fn set_mailbox(&self, mailbox: Option<&str>) {
        if let Some(s) = &self.session {
            s.set_mailbox(mailbox);
        }
    }

    /// Reports whether the session is in IMAP IDLE (dashboard).
    pub fn set_idle(&self, idle: bool) {
        if let Some(s) = &self.session {
            s.set_idle(idle);
        }
    }

    /// Whether trace lines are wanted at all (log or registry).
    pub(crate) fn traced(&self) -> bool {
        self.trace || self.session.is_some()
    }

    /// One trace line: to the log with `--trace-protocol`, and to the registry.
    pub(crate) fn emit(&self, dir: Dir, text: String) {
        if self.trace {
            let tls = self.tls;
            match dir {
                Dir::Note => tracing::info!(target: "mailstack::protocol", tls, "-- {text}"),
                _ => tracing::info!(target: "mailstack::protocol", tls, "{}: {text}", dir.as_str()),
            }
        }
        if let Some(s) = &self.session {
            s.trace(dir, text, self.tls);
        }
    }

    /// Turns on the protocol trace (`--trace-protocol`), with the protocol's redactor.
    pub fn set_trace(&mut self, on: bool, redactor: Redactor) {
        self.trace = on;
        self.redactor = redactor;
    }

    /// Whether the protocol trace is on.
    pub fn tracing(&self) -> bool {
        self.trace
    }

    /// How long a read may wait for input before [`LineError::Timeout`].
    pub fn set_idle_timeout(&mut self, idle: Duration) {
        self.idle = idle;
    }

    pub fn idle_timeout(&self) -> Duration {
        self.idle
    }

    /// The next input line is a secret (SASL response): the trace shows `<redacted>`.
    pub fn expect_secret(&mut self) {
        self.secret_next = true;
    }

    /// Bytes received but not consumed yet (pipelined input).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn stream(&mut self) -> std::io::Result<&mut Box<dyn Stream>> {
        self.stream
            .as_mut()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotConnected, "stream gone"))
    }

    /// Reads more input into the buffer; `Ok(false)` at end of stream. Each call may wait
    /// the whole idle timeout (exact reads: a slow but steady upload is not cut).
    async fn fill(&mut self) -> Result<bool, LineError> {
        let deadline = tokio::time::Instant::now() + self.idle;
        self.fill_until(deadline).await
    }

    /// [`Connection::fill`] with an absolute deadline.
    async fn fill_until(&mut self, deadline: tokio::time::Instant) -> Result<bool, LineError> {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            if self.buf.capacity() > KEEP_BUFFER {
                self.buf = Vec::new();
            }
        } else if self.pos > READ_CHUNK {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        // Buffers sized on demand: an empty one waits with a small reservation, a busy one
        // reads in full chunks.
        // Cancel-safe (IMAP IDLE selects between input and store events): `read_buf` only
        // appends bytes actually read, so a dropped future leaves the buffer intact.
        let want = if self.buf.is_empty() && self.buf.capacity() < READ_CHUNK {
            IDLE_READ
        } else {
            READ_CHUNK
        };
        self.buf.reserve(want);
        let Some(stream) = self.stream.as_mut() else {
            return Err(LineError::Closed);
        };
        let r = tokio::time::timeout_at(deadline, stream.read_buf(&mut self.buf)).await;
        let n = match r {
            Err(_) => return Err(LineError::Timeout),
            Ok(Err(e)) => return Err(e.into()),
            Ok(Ok(n)) => n,
        };
        Ok(n > 0)
    }

    /// Reads one line of at most `max` bytes including its terminator, and returns it with
    /// the terminator (CRLF or bare LF: protocols decide whether bare LF is acceptable).
    ///
    /// The idle timeout bounds the whole line, not each read: a client trickling one byte
    /// at a time ("slowloris") is cut when the timeout passes, however steady the trickle.
    pub async fn read_line(&mut self, max: usize) -> Result<Vec<u8>, LineError> {
        let deadline = tokio::time::Instant::now() + self.idle;
        // Finish dropping an over-long line first.
        while let Some(dropped) = self.discarding {
            if let Some(i) = self.buf[self.pos..].iter().position(|&b| b == b'\n') {
                self.pos += i + 1;
                self.discarding = None;
                break;
            }
            let n = self.buf.len() - self.pos;
            self.pos = self.buf.len();
            if dropped + n > FLOOD_LIMIT {
                return Err(LineError::Flood);
            }
            self.discarding = Some(dropped + n);
            if !self.fill_until(deadline).await? {
                return Err(LineError::Closed);
            }
        }
        let mut scanned = 0;
        loop {
            let avail = &self.buf[self.pos..];
            if let Some(i) = avail[scanned..].iter().position(|&b| b == b'\n') {
                let end = scanned + i + 1;
                if end > max {
                    self.pos += end;
                    return Err(LineError::TooLong);
                }
                let line = avail[..end].to_vec();
                self.pos += end;
                self.trace_in(&line);
                return Ok(line);
            }
            scanned = avail.len();
            if scanned > max {
                self.discarding = Some(scanned);
                self.pos = self.buf.len();
                return Err(LineError::TooLong);
            }
            if !self.fill_until(deadline).await? {
                return Err(LineError::Closed);
            }
        }
    }

    /// Reads exactly `n` bytes (an IMAP literal, a BDAT chunk). The caller bounds `n`.
    pub async fn read_exact(&mut self, n: usize) -> Result<Vec<u8>, LineError> {
        let mut out = Vec::with_capacity(n.min(1 << 20));
        while out.len() < n {
            if self.pos == self.buf.len() && !self.fill().await? {
                return Err(LineError::Closed);
            }
            let take = (n - out.len()).min(self.buf.len() - self.pos);
            out.extend_from_slice(&self.buf[self.pos..self.pos + take]);
            self.pos += take;
        }
        if self.traced() {
            // Literals can carry passwords (IMAP LOGIN "{8}" literal): sizes only, always.
            self.emit(Dir::Client, format!("<{n} bytes of data>"));
        }
        Ok(out)
    }

    /// Bytes queued and not yet sent.
    pub fn buffered_out(&self) -> usize {
        self.out.len()
    }

    /// Queues bytes for the client.
    pub fn write(&mut self, bytes: &[u8]) {
        if self.traced() {
            self.trace_out(bytes);
        }
        self.out.extend_from_slice(bytes);
    }

    /// Queues message data: the trace shows its first line and size, or all of it with
    /// `--trace-bodies`.
    pub fn write_data(&mut self, bytes: &[u8]) {
        if self.traced() {
            if trace_bodies() {
                self.trace_out(bytes);
            } else {
                let first = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
                self.emit(
                    Dir::Server,
                    format!(
                        "{} … ({} bytes of data; --trace-bodies shows them)",
                        printable(first),
                        bytes.len()
                    ),
                );
            }
        }
        self.out.extend_from_slice(bytes);
    }

    /// Sends everything queued.
    pub async fn flush(&mut self) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let out = std::mem::take(&mut self.out);
        let stream = self.stream()?;
        let r = async {
            stream.write_all(&out).await?;
            stream.flush().await
        };
        let r = tokio::time::timeout(Duration::from_secs(120), r).await;
        if out.capacity() <= KEEP_BUFFER {
            self.out = out;
            self.out.clear();
        }
        match r {
            Ok(r) => r,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "write timed out",
            )),
        }
    }

    /// Queues a reply and sends it.
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.write(bytes);
        self.flush().await
    }

    /// Upgrades to TLS (RFC 3207 §4.2, RFC 2595 §3.1, RFC 3501 §6.2.1). Any input the client
    /// sent before the handshake is discarded, never executed; returns how many bytes that was.
    pub async fn start_tls(&mut self, acceptor: &TlsAcceptor) -> std::io::Result<usize> {
        self.flush().await?;
        let dropped = self.buf.len() - self.pos;
        self.buf.clear();
        self.pos = 0;
        self.discarding = None;
        let plain = self
            .stream
            .take()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotConnected, "stream gone"))?;
        let handshake = tokio::time::timeout(Duration::from_secs(30), acceptor.accept(plain)).await;
        let tls = match handshake {
            Ok(r) => r?,
            Err(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "TLS handshake timed out",
                ))
            }
        };
        self.stream = Some(Box::new(tls));
        self.tls = true;
        if let Some(s) = &self.session {
            s.set_tls(true);
        }
        if self.traced() {
            self.emit(
                Dir::Note,
                format!("TLS established ({dropped} pipelined bytes discarded)"),
            );
        }
        Ok(dropped)
    }

    /// Starts deflate on both directions (RFC 4978 COMPRESS=DEFLATE), after the command's OK
    /// was sent in clear. Input already buffered is compressed data and is inflated first.
    pub async fn start_deflate(&mut self) -> std::io::Result<()> {
        self.flush().await?;
        let pending = self.buf.split_off(self.pos);
        self.buf.clear();
        self.pos = 0;
        let inner = self
            .stream
            .take()
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotConnected, "stream gone"))?;
        self.stream = Some(Box::new(crate::compress::Deflate::new(inner, pending)));
        self.compressed = true;
        if self.traced() {
            self.emit(Dir::Note, "COMPRESS=DEFLATE active".to_string());
        }
        Ok(())
    }

    /// Whether deflate is on (RFC 4978).
    pub fn compressed(&self) -> bool {
        self.compressed
    }

    /// Closes the write side (best effort).
    pub async fn shutdown(&mut self) {
        let _ = self.flush().await;
        if let Ok(s) = self.stream() {
            let _ = tokio::time::timeout(Duration::from_secs(2), s.shutdown()).await;
        }
    }

    fn trace_in(&mut self, line: &[u8]) {
        if !self.traced() {
            self.secret_next = false;
            return;
        }
        let shown = if std::mem::take(&mut self.secret_next) {
            "<redacted>".to_string()
        } else if let Some(r) = (self.redactor)(line) {
            r
        } else {
            printable(line)
        };
        self.emit(Dir::Client, shown);
    }

    fn trace_out(&self, bytes: &[u8]) {
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            self.emit(Dir::Server, printable(line));
        }
    }
}

/// A line as text for logs: terminator removed, control bytes escaped, long lines cut.
pub fn printable(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let cut = &line[..line.len().min(TRACE_MAX)];
    let mut s: String = String::from_utf8_lossy(cut)
        .chars()
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if line.len() > TRACE_MAX {
        s.push_str(&format!("… ({} bytes)", line.len()));
    }
    s
}

/// Removes a trailing CRLF or LF.
pub fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    fn addr() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 1))
    }

    #[tokio::test]
    async fn lines_split_anywhere() {
        let (client, server) = tokio::io::duplex(64);
        let mut conn = Connection::new(server, addr(), addr(), false);
        let input = b"A1 NOOP\r\nsecond line\nthird\r\n".to_vec();
        let writer = tokio::spawn(async move {
            let mut client = client;
            for b in input {
                client.write_all(&[b]).await.expect("write");
            }
            client
        });
        assert_eq!(conn.read_line(100).await.expect("1"), b"A1 NOOP\r\n");
        assert_eq!(conn.read_line(100).await.expect("2"), b"second line\n");
        assert_eq!(conn.read_line(100).await.expect("3"), b"third\r\n");
        drop(writer.await);
        assert!(matches!(conn.read_line(100).await, Err(LineError::Closed)));
    }

    #[tokio::test]
    async fn too_long_is_dropped_and_next_line_works() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut conn = Connection::new(server, addr(), addr(), false);
        let mut data = vec![b'x'; 5000];
        data.extend_from_slice(b"\r\nNOOP\r\n");
        client.write_all(&data).await.expect("write");
        assert!(matches!(conn.read_line(512).await, Err(LineError::TooLong)));
        assert_eq!(conn.read_line(512).await.expect("next"), b"NOOP\r\n");
    }

    #[tokio::test]
    async fn endless_line_is_a_flood() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut conn = Connection::new(server, addr(), addr(), false);
        tokio::spawn(async move {
            let chunk = vec![b'y'; 64 * 1024];
            for _ in 0..64 {
                if client.write_all(&chunk).await.is_err() {
                    break;
                }
            }
        });
        assert!(matches!(conn.read_line(512).await, Err(LineError::TooLong)));
        assert!(matches!(conn.read_line(512).await, Err(LineError::Flood)));
    }

    #[tokio::test]
    async fn idle_timeout() {
        let (_client, server) = tokio::io::duplex(64);
        let mut conn = Connection::new(server, addr(), addr(), false);
        conn.set_idle_timeout(Duration::from_millis(50));
        assert!(matches!(conn.read_line(100).await, Err(LineError::Timeout)));
    }

    #[tokio::test]
    async fn slowloris_line_is_cut_at_the_idle_timeout() {
        // One byte every 30 ms never leaves the reader idle for 100 ms, but the line as a
        // whole must arrive within 100 ms.
        let (mut client, server) = tokio::io::duplex(64);
        let mut conn = Connection::new(server, addr(), addr(), false);
        conn.set_idle_timeout(Duration::from_millis(100));
        tokio::spawn(async move {
            for b in b"USER alice@example.test\r\n" {
                if client.write_all(&[*b]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        });
        assert!(matches!(conn.read_line(100).await, Err(LineError::Timeout)));
    }

    #[tokio::test]
    async fn exact_reads_cross_buffers() {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut conn = Connection::new(server, addr(), addr(), false);
        client
            .write_all(b"{5}\r\nhelloA2 NOOP\r\n")
            .await
            .expect("write");
        assert_eq!(conn.read_line(100).await.expect("l"), b"{5}\r\n");
        assert_eq!(conn.read_exact(5).await.expect("lit"), b"hello");
        assert_eq!(conn.read_line(100).await.expect("l"), b"A2 NOOP\r\n");
    }

    #[test]
    fn printable_escapes() {
        assert_eq!(printable(b"a\x07b\r\n"), "a\u{fffd}b");
        assert!(printable(&[b'z'; 400]).ends_with("(400 bytes)"));
    }
}
