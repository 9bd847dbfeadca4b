//! [`Pop3`]: the line client with POP3's shape — status lines, multi-line bodies
//! (dot-unstuffed), USER/PASS, STLS — and [`pop3_dele_quit`].

use std::path::Path;

use super::Line;

/// A scripted POP3 client (RFC 1939). Lines must end with CRLF.
pub struct Pop3 {
    line: Line,
}

impl Pop3 {
    /// Connects to `127.0.0.1:port` in clear (the greeting is not read).
    pub async fn connect(port: u16) -> Pop3 {
        Pop3 {
            line: Line::connect(port).await,
        }
    }

    /// Connects to a pop3s port with TLS (the greeting is not read).
    pub async fn connect_tls(port: u16, ca: &Path) -> Pop3 {
        Pop3 {
            line: Line::connect_tls(port, ca).await,
        }
    }

    /// Connects, reads the greeting and logs in with USER/PASS.
    pub async fn login_to(port: u16, user: &str, pass: &str) -> Pop3 {
        let mut c = Pop3::connect(port).await;
        c.login(user, pass).await;
        c
    }

    /// The underlying line client.
    pub fn wire(&mut self) -> &mut Line {
        &mut self.line
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.line.send(bytes).await.expect("write");
    }

    /// Sends one command line (CRLF added).
    pub async fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
    }

    /// One line with its CRLF, or `None` at the end of the stream.
    pub async fn try_raw_line(&mut self) -> Option<Vec<u8>> {
        self.line.raw_line().await
    }

    pub async fn raw_line(&mut self) -> Vec<u8> {
        self.try_raw_line()
            .await
            .expect("a line, not end of stream")
    }

    /// One line without CRLF.
    pub async fn line(&mut self) -> String {
        let l = self.raw_line().await;
        assert!(l.ends_with(b"\r\n"), "server lines end with CRLF: {l:?}");
        String::from_utf8_lossy(&l[..l.len() - 2]).into_owned()
    }

    /// Sends a command and returns its status line.
    pub async fn cmd(&mut self, line: &str) -> String {
        self.send(line).await;
        self.line().await
    }

    /// The body of a multi-line response (after its +OK line), dot-unstuffed, CRLFs kept.
    pub async fn multi_raw(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let l = self.raw_line().await;
            if l == b".\r\n" {
                return out;
            }
            out.extend_from_slice(l.strip_prefix(b".").unwrap_or(&l));
        }
    }

    /// The lines of a multi-line response (after its +OK line).
    pub async fn multi(&mut self) -> Vec<String> {
        let raw = self.multi_raw().await;
        String::from_utf8_lossy(&raw)
            .split_terminator("\r\n")
            .map(str::to_string)
            .collect()
    }

    /// Reads the greeting and logs in with USER/PASS.
    pub async fn login(&mut self, user: &str, pass: &str) {
        let greeting = self.line().await;
        assert!(greeting.starts_with("+OK"), "{greeting}");
        let r = self.cmd(&format!("USER {user}")).await;
        assert!(r.starts_with("+OK"), "{r}");
        let r = self.cmd(&format!("PASS {pass}")).await;
        assert!(r.starts_with("+OK maildrop has"), "{r}");
    }

    /// True when the server closed the connection (after any remaining lines).
    pub async fn closed(&mut self) -> bool {
        self.try_raw_line().await.is_none()
    }

    /// Upgrades to TLS after the server's "+OK" to STLS.
    pub async fn start_tls(&mut self, ca: &Path) {
        self.line.upgrade(ca).await;
    }
}

/// Logs in as `user`, DELEs the given message numbers and QUITs (which commits them).
pub async fn pop3_dele_quit(port: u16, user: &str, pass: &str, nums: &[u32]) {
    let mut c = Pop3::connect(port).await;
    let greeting = c.line().await;
    assert!(greeting.starts_with("+OK"), "{greeting}");
    assert!(c.cmd(&format!("USER {user}")).await.starts_with("+OK"));
    let r = c.cmd(&format!("PASS {pass}")).await;
    assert!(r.starts_with("+OK"), "{r}");
    for n in nums {
        let r = c.cmd(&format!("DELE {n}")).await;
        assert!(r.starts_with("+OK"), "{r}");
    }
    let r = c.cmd("QUIT").await;
    assert!(r.starts_with("+OK"), "{r}");
}
