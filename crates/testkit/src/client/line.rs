//! [`Line`]: the one line client. It sends exactly the bytes a test gives it (pipelined,
//! malformed, huge, one at a time), optionally from a chosen loopback source address, reads
//! lines with a deadline, and can switch to TLS in the middle of a session (STARTTLS/STLS) or
//! start with it (implicit TLS). The abuse suite drives it directly; [`super::Pop3`],
//! [`super::Smtp`] and [`super::Imap`] are protocol faces over it.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::READ_LIMIT;
use crate::tls;

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One client connection.
pub struct Line {
    stream: Option<Box<dyn Io>>,
    buf: Vec<u8>,
    eof: bool,
    tag: u32,
}

/// A TCP connection to `127.0.0.1:port` whose source address is `from` (any 127/8 address:
/// Linux routes the whole block to `lo`, so a test can play several clients).
pub async fn tcp_from(from: IpAddr, port: u16) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(from, 0))?;
    sock.connect(SocketAddr::from(([127, 0, 0, 1], port))).await
}

impl Line {
    /// Connects to `127.0.0.1:port` in clear.
    pub async fn connect(port: u16) -> Line {
        Self::connect_from([127, 0, 0, 1].into(), port).await
    }

    /// Connects from source address `from`.
    pub async fn connect_from(from: IpAddr, port: u16) -> Line {
        let tcp = tcp_from(from, port).await.expect("connect");
        Line::from_stream(tcp)
    }

    /// Connects with implicit TLS (993, 995, 465), verifying the certificate against `ca`.
    pub async fn connect_tls(port: u16, ca: &Path) -> Line {
        let tcp = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        Line::from_stream(tls::connect(tcp, ca).await)
    }

    /// A client over any stream (a `tokio::io::duplex`, a TLS stream).
    pub fn from_stream(s: impl AsyncRead + AsyncWrite + Unpin + Send + 'static) -> Line {
        Line {
            stream: Some(Box::new(s)),
            buf: Vec::new(),
            eof: false,
            tag: 0,
        }
    }

    fn stream(&mut self) -> &mut Box<dyn Io> {
        self.stream.as_mut().expect("stream")
    }

    /// Writes raw bytes (errors are returned: the server may have closed on us).
    pub async fn send(&mut self, bytes: impl AsRef<[u8]>) -> std::io::Result<()> {
        let s = self.stream();
        s.write_all(bytes.as_ref()).await?;
        s.flush().await
    }

    /// Bytes read from the server but not yet returned as lines.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next line with its line end, or what is left before the end of the stream;
    /// `Ok(None)` once the server closed (or reset) the connection, `Err(())` when nothing
    /// arrives within `limit`.
    pub async fn raw_line_within(&mut self, limit: Duration) -> Result<Option<Vec<u8>>, ()> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                return Ok(Some(self.buf.drain(..=i).collect()));
            }
            if self.eof {
                return Ok((!self.buf.is_empty()).then(|| std::mem::take(&mut self.buf)));
            }
            self.fill(deadline).await?;
        }
    }

    /// Reads once more into the buffer (sets `eof` at the end of the stream).
    async fn fill(&mut self, deadline: tokio::time::Instant) -> Result<(), ()> {
        let mut chunk = vec![0u8; 64 * 1024];
        let s = self.stream();
        match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Err(_) => return Err(()),
            Ok(Ok(0)) | Ok(Err(_)) => self.eof = true,
            Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
        }
        Ok(())
    }

    /// [`Line::raw_line_within`] with [`READ_LIMIT`]; panics when nothing arrives in time.
    pub async fn raw_line(&mut self) -> Option<Vec<u8>> {
        match self.raw_line_within(READ_LIMIT).await {
            Ok(l) => l,
            Err(()) => panic!("server sent no line within {READ_LIMIT:?}"),
        }
    }

    /// The next line without its CRLF; `None` once the server closed (or reset) the
    /// connection. Panics if nothing arrives within [`READ_LIMIT`].
    pub async fn line(&mut self) -> Option<String> {
        match self.line_within(READ_LIMIT).await {
            Ok(l) => l,
            Err(_) => panic!("server sent no line within {READ_LIMIT:?}"),
        }
    }

    /// The next line, or `Err(())` when none arrives within `limit`.
    pub async fn line_within(&mut self, limit: Duration) -> Result<Option<String>, ()> {
        Ok(self.raw_line_within(limit).await?.map(|line| {
            String::from_utf8_lossy(&line)
                .trim_end_matches(['\r', '\n'])
                .to_string()
        }))
    }

    /// Exactly `n` bytes (an IMAP literal, a BDAT chunk); panics at the end of the stream or
    /// after [`READ_LIMIT`].
    pub async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        let deadline = tokio::time::Instant::now() + READ_LIMIT;
        while self.buf.len() < n {
            assert!(!self.eof, "end of stream inside {n} bytes");
            if self.fill(deadline).await.is_err() {
                panic!("server sent fewer than {n} bytes within {READ_LIMIT:?}");
            }
        }
        self.buf.drain(..n).collect()
    }

    /// Reads lines until the server closes; returns them.
    pub async fn rest(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(l) = self.line().await {
            out.push(l);
        }
        out
    }

    /// Whether the server has closed the connection (reads to EOF, returning what came).
    pub async fn closed_within(&mut self, limit: Duration) -> Result<Vec<String>, Vec<String>> {
        let mut out = Vec::new();
        loop {
            match self.line_within(limit).await {
                Ok(Some(l)) => out.push(l),
                Ok(None) => return Ok(out),
                Err(()) => return Err(out),
            }
        }
    }

    /// Sends `total` bytes of `fill` (no line end) while reading what the server answers;
    /// returns the lines received and whether the server closed the connection within
    /// `limit` after the last byte was written (or the write failed because it had closed).
    pub async fn flood(&mut self, total: usize, fill: u8, limit: Duration) -> (Vec<String>, bool) {
        let chunk = vec![fill; 64 * 1024];
        let mut sent = 0;
        let mut lines = Vec::new();
        {
            let (mut rd, mut wr) = tokio::io::split(self.stream.as_mut().expect("stream"));
            let mut tmp = vec![0u8; 16 * 1024];
            while sent < total && !self.eof {
                tokio::select! {
                    r = rd.read(&mut tmp) => match r {
                        Ok(0) | Err(_) => self.eof = true,
                        Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                    },
                    w = wr.write(&chunk[..chunk.len().min(total - sent)]) => match w {
                        Ok(n) if n > 0 => sent += n,
                        _ => break,
                    },
                }
            }
        }
        loop {
            match self.line_within(limit).await {
                Ok(Some(l)) => lines.push(l),
                Ok(None) => return (lines, true),
                Err(()) => return (lines, false),
            }
        }
    }

    /// Client side of STARTTLS / STLS, after the server's go-ahead was read. Refuses while
    /// server bytes are still buffered, so a test never mistakes plaintext for a
    /// post-handshake answer.
    pub async fn upgrade(&mut self, ca: &Path) {
        assert!(
            self.buf.is_empty(),
            "server sent bytes after its STARTTLS go-ahead: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        let plain = self.stream.take().expect("stream");
        self.stream = Some(Box::new(tls::connect(plain, ca).await));
    }

    // --- protocol conveniences of the abuse suite ---

    /// IMAP: sends `tN command` and reads to its tagged answer: (untagged lines, tagged line).
    /// The tagged line is empty when the server closed first.
    pub async fn imap(&mut self, command: &str) -> (Vec<String>, String) {
        self.tag += 1;
        let tag = format!("t{}", self.tag);
        self.send(format!("{tag} {command}\r\n"))
            .await
            .expect("send");
        self.until_tag(&tag).await
    }

    /// Reads lines until one starts with `tag `.
    pub async fn until_tag(&mut self, tag: &str) -> (Vec<String>, String) {
        let mut untagged = Vec::new();
        while let Some(l) = self.line().await {
            if l.starts_with(&format!("{tag} ")) {
                return (untagged, l);
            }
            untagged.push(l);
        }
        (untagged, String::new())
    }

    /// SMTP: one reply (all its lines joined by `\n`); empty when the server closed.
    pub async fn smtp_reply(&mut self) -> String {
        let mut lines = Vec::new();
        while let Some(l) = self.line().await {
            let last = l.len() < 4 || l.as_bytes()[3] != b'-';
            lines.push(l);
            if last {
                break;
            }
        }
        lines.join("\n")
    }

    /// SMTP: sends a command line and returns its reply.
    pub async fn smtp(&mut self, command: &str) -> String {
        self.send(format!("{command}\r\n")).await.expect("send");
        self.smtp_reply().await
    }

    /// SMTP: connects to `port` and delivers one message from `from` to `rcpt` (`data`
    /// without the final "."), asserting each reply; returns the connection after the `250`.
    pub async fn smtp_deliver(port: u16, from: &str, rcpt: &str, data: &str) -> Line {
        let mut w = Line::connect(port).await;
        let greeting = w.smtp_reply().await;
        assert!(greeting.starts_with("220"), "{greeting}");
        for (cmd, want) in [
            ("EHLO client.example".to_string(), "250"),
            (format!("MAIL FROM:<{from}>"), "250"),
            (format!("RCPT TO:<{rcpt}>"), "250"),
            ("DATA".to_string(), "354"),
            (format!("{data}\r\n."), "250"),
        ] {
            let reply = w.smtp(&cmd).await;
            assert!(reply.starts_with(want), "{cmd}: {reply}");
        }
        w
    }

    /// POP3: connects to `port` and logs in with USER/PASS, asserting each `+OK`.
    pub async fn pop3_login(port: u16, user: &str, password: &str) -> Line {
        let mut w = Line::connect(port).await;
        let greeting = w.line().await.unwrap_or_default();
        assert!(greeting.starts_with("+OK"), "{greeting}");
        for cmd in [format!("USER {user}"), format!("PASS {password}")] {
            let reply = w.pop3(&cmd).await;
            assert!(reply.starts_with("+OK"), "{reply}");
        }
        w
    }

    /// POP3: sends a command line and returns the status line.
    pub async fn pop3(&mut self, command: &str) -> String {
        self.send(format!("{command}\r\n")).await.expect("send");
        self.line().await.unwrap_or_default()
    }

    /// POP3: reads a multi-line body after a `+OK` status (dot-unstuffed, without the ".").
    pub async fn pop3_body(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(l) = self.line().await {
            if l == "." {
                break;
            }
            out.push(l.strip_prefix('.').map(str::to_string).unwrap_or(l));
        }
        out
    }
}
