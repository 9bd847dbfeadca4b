//! Small line clients for the load generator: one buffered connection type over plain TCP or
//! TLS, with the three protocols' reply readers (IMAP tagged completion with literals, POP3
//! single/multi-line, SMTP multi-line replies).
//!
//! Every read has a deadline ([`READ_LIMIT`]) so a stuck server ends the run with an error
//! instead of hanging it.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufStream};
use tokio::net::TcpStream;

/// How long one reply may take before the scenario fails.
pub const READ_LIMIT: Duration = Duration::from_secs(120);

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A TLS connector trusting only the CA file `ca` (mailstack's generated CA; Dovecot is given
/// the same server certificate).
pub fn connector(ca: &Path) -> anyhow::Result<tokio_rustls::TlsConnector> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).context("CA file")? {
        roots.add(cert.context("CA PEM")?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// One client connection.
pub struct Conn {
    io: BufStream<Box<dyn Io>>,
    line: Vec<u8>,
    tag: u32,
}

/// Outcome of one IMAP command: the tagged status and the bytes of everything received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tagged {
    pub ok: bool,
    pub bytes: usize,
}

impl Conn {
    /// Plain TCP to 127.0.0.1:port.
    pub async fn connect(port: u16) -> anyhow::Result<Conn> {
        Conn::connect_with(port, 64 * 1024).await
    }

    /// Plain TCP with `buf`-byte read and write buffers (small for the 10,000 IDLE clients).
    pub async fn connect_with(port: u16, buf: usize) -> anyhow::Result<Conn> {
        let tcp = TcpStream::connect(("127.0.0.1", port))
            .await
            .with_context(|| format!("connect 127.0.0.1:{port}"))?;
        tcp.set_nodelay(true)?;
        Ok(Conn::new(Box::new(tcp), buf))
    }

    /// Plain TCP whose received bytes are counted at the socket, under any COMPRESS layer
    /// ([`Conn::compress`]): the counter is what crossed the wire.
    pub async fn connect_counted(
        port: u16,
    ) -> anyhow::Result<(Conn, std::sync::Arc<std::sync::atomic::AtomicU64>)> {
        let tcp = TcpStream::connect(("127.0.0.1", port))
            .await
            .with_context(|| format!("connect 127.0.0.1:{port}"))?;
        tcp.set_nodelay(true)?;
        let (tcp, received) = crate::deflate::Counted::new(tcp);
        Ok((Conn::new(Box::new(tcp), 64 * 1024), received))
    }

    /// Implicit TLS to 127.0.0.1:port, verifying the certificate for "localhost".
    pub async fn connect_tls(port: u16, tls: &tokio_rustls::TlsConnector) -> anyhow::Result<Conn> {
        let tcp = TcpStream::connect(("127.0.0.1", port))
            .await
            .with_context(|| format!("connect 127.0.0.1:{port}"))?;
        tcp.set_nodelay(true)?;
        let name = ServerName::try_from("localhost")?;
        let s = tls.connect(name, tcp).await.context("TLS handshake")?;
        Ok(Conn::new(Box::new(s), 64 * 1024))
    }

    fn new(io: Box<dyn Io>, buf: usize) -> Conn {
        Conn {
            io: BufStream::with_capacity(buf, buf, io),
            line: Vec::with_capacity(1024),
            tag: 0,
        }
    }

    /// Reads one line (with its CRLF) into the internal buffer and returns it.
    pub async fn line(&mut self) -> anyhow::Result<&[u8]> {
        self.line.clear();
        let n = tokio::time::timeout(READ_LIMIT, self.io.read_until(b'\n', &mut self.line))
            .await
            .context("server did not answer in time")??;
        if n == 0 {
            bail!("connection closed by server");
        }
        Ok(&self.line)
    }

    /// Discards exactly `n` bytes (a literal's content).
    pub async fn skip(&mut self, mut n: usize) -> anyhow::Result<()> {
        let mut buf = [0u8; 16 * 1024];
        while n > 0 {
            let want = n.min(buf.len());
            let got = tokio::time::timeout(READ_LIMIT, self.io.read(&mut buf[..want]))
                .await
                .context("server did not answer in time")??;
            if got == 0 {
                bail!("connection closed inside a literal");
            }
            n -= got;
        }
        Ok(())
    }

    /// Reads exactly `n` bytes (a literal's content) and appends them to `out`.
    pub async fn read_into(&mut self, n: usize, out: &mut Vec<u8>) -> anyhow::Result<()> {
        let start = out.len();
        out.resize(start + n, 0);
        tokio::time::timeout(READ_LIMIT, self.io.read_exact(&mut out[start..]))
            .await
            .context("server did not answer in time")?
            .context("connection closed inside a literal")?;
        Ok(())
    }

    /// Waits up to `limit` for the server to send something, without consuming it (unlike a
    /// timed-out [`Conn::line`], which may lose a partly received line). `false`: nothing came.
    pub async fn wait_readable(&mut self, limit: Duration) -> anyhow::Result<bool> {
        match tokio::time::timeout(limit, self.io.fill_buf()).await {
            Err(_) => Ok(false),
            Ok(Ok([])) => bail!("connection closed by server"),
            Ok(Ok(_)) => Ok(true),
            Ok(Err(e)) => Err(e.into()),
        }
    }

    /// Switches the connection to TLS after a STARTTLS/STLS reply (RFC 3207 §4, RFC 3501
    /// §6.2.1, RFC 2595 §4), verifying the certificate for "localhost".
    pub async fn starttls(self, tls: &tokio_rustls::TlsConnector) -> anyhow::Result<Conn> {
        let inner = self.io.into_inner();
        let name = ServerName::try_from("localhost")?;
        let s = tls.connect(name, inner).await.context("TLS handshake")?;
        Ok(Conn::new(Box::new(s), 64 * 1024))
    }

    /// `COMPRESS DEFLATE` (RFC 4978 §3): after its tagged OK, which comes uncompressed, both
    /// directions are raw DEFLATE. The server sends nothing between that OK and the next
    /// command, so no compressed byte can be left in this side's read buffer.
    pub async fn compress(mut self) -> anyhow::Result<Conn> {
        self.imap_ok("COMPRESS DEFLATE").await?;
        let inner = self.io.into_inner();
        let mut c = Conn::new(Box::new(crate::deflate::Deflate::new(inner)), 64 * 1024);
        c.tag = self.tag;
        Ok(c)
    }

    pub async fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.io.write_all(bytes).await?;
        self.io.flush().await?;
        Ok(())
    }

    /// Queues bytes without flushing (the next [`Conn::send`] or flush sends them).
    pub async fn queue(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.io.write_all(bytes).await?;
        Ok(())
    }

    // ---- IMAP ----

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("b{}", self.tag)
    }

    /// Sends `tag command` and reads until the tagged completion.
    pub async fn imap(&mut self, command: &str) -> anyhow::Result<Tagged> {
        let tag = self.next_tag();
        self.send(format!("{tag} {command}\r\n").as_bytes()).await?;
        self.imap_until(&tag).await
    }

    /// Like [`Conn::imap`] but fails unless the answer is OK.
    pub async fn imap_ok(&mut self, command: &str) -> anyhow::Result<Tagged> {
        let t = self.imap(command).await?;
        if !t.ok {
            let what = command.split(' ').next().unwrap_or(command);
            bail!(
                "IMAP {what} failed: {}",
                String::from_utf8_lossy(&self.line).trim_end()
            );
        }
        Ok(t)
    }

    /// Reads responses (skipping literals) until the line tagged `tag`.
    pub async fn imap_until(&mut self, tag: &str) -> anyhow::Result<Tagged> {
        self.imap_until_with(tag, |_| {}).await
    }

    /// Like [`Conn::imap_until`], calling `each` with every response line that is not the
    /// tagged one (literal contents are skipped, not passed).
    pub async fn imap_until_with(
        &mut self,
        tag: &str,
        each: impl FnMut(&[u8]),
    ) -> anyhow::Result<Tagged> {
        self.imap_until_lines(tag, false, each).await
    }

    /// Reads responses until the line tagged `tag`, calling `each` with every other line;
    /// lines that announce a literal are passed too if `literal_lines` (their `{n}` content
    /// is skipped either way).
    async fn imap_until_lines(
        &mut self,
        tag: &str,
        literal_lines: bool,
        mut each: impl FnMut(&[u8]),
    ) -> anyhow::Result<Tagged> {
        let mut bytes = 0;
        loop {
            let line = self.line().await?;
            bytes += line.len();
            if let Some(n) = literal_len(line) {
                bytes += n;
                if literal_lines {
                    each(&self.line);
                }
                self.skip(n).await?;
                continue;
            }
            if line.starts_with(tag.as_bytes()) && line.get(tag.len()) == Some(&b' ') {
                let ok = line[tag.len() + 1..].starts_with(b"OK");
                return Ok(Tagged { ok, bytes });
            }
            each(&self.line);
        }
    }

    /// Sends `tag command`, calls `each` per untagged line, fails unless OK.
    pub async fn imap_each(
        &mut self,
        command: &str,
        each: impl FnMut(&[u8]),
    ) -> anyhow::Result<Tagged> {
        let tag = self.next_tag();
        self.send(format!("{tag} {command}\r\n").as_bytes()).await?;
        let t = self.imap_until_with(&tag, each).await?;
        if !t.ok {
            bail!(
                "IMAP {command}: {}",
                String::from_utf8_lossy(&self.line).trim_end()
            );
        }
        Ok(t)
    }

    /// Like [`Conn::imap_each`], but `each` also gets the lines that announce a literal (a
    /// `* n FETCH (… BODY[HEADER] {123}` line), without the literal's content.
    pub async fn imap_each_line(
        &mut self,
        command: &str,
        each: impl FnMut(&[u8]),
    ) -> anyhow::Result<Tagged> {
        let tag = self.next_tag();
        self.send(format!("{tag} {command}\r\n").as_bytes()).await?;
        let t = self.imap_until_lines(&tag, true, each).await?;
        if !t.ok {
            bail!(
                "IMAP {command}: {}",
                String::from_utf8_lossy(&self.line).trim_end()
            );
        }
        Ok(t)
    }

    /// Reads lines (skipping literals) until one satisfies `pred`; returns the bytes read.
    pub async fn imap_wait(&mut self, pred: impl Fn(&[u8]) -> bool) -> anyhow::Result<usize> {
        let mut bytes = 0;
        loop {
            let line = self.line().await?;
            bytes += line.len();
            if let Some(n) = literal_len(line) {
                bytes += n;
                self.skip(n).await?;
                continue;
            }
            if pred(&self.line) {
                return Ok(bytes);
            }
        }
    }

    /// Greeting + LOGIN with a quoted user and password.
    pub async fn imap_login(port: u16, user: &str, pass: &str) -> anyhow::Result<Conn> {
        Conn::imap_login_with(port, user, pass, 64 * 1024).await
    }

    /// [`Conn::imap_login`] with `buf`-byte buffers.
    pub async fn imap_login_with(
        port: u16,
        user: &str,
        pass: &str,
        buf: usize,
    ) -> anyhow::Result<Conn> {
        let mut c = Conn::connect_with(port, buf).await?;
        c.line().await?;
        c.imap_ok(&format!("LOGIN \"{user}\" \"{pass}\"")).await?;
        Ok(c)
    }

    /// APPEND with a synchronizing literal.
    pub async fn imap_append(
        &mut self,
        mailbox: &str,
        flags: &str,
        msg: &[u8],
    ) -> anyhow::Result<Tagged> {
        let tag = self.next_tag();
        self.send(format!("{tag} APPEND {mailbox} ({flags}) {{{}}}\r\n", msg.len()).as_bytes())
            .await?;
        let line = self.line().await?;
        if !line.starts_with(b"+") {
            bail!(
                "APPEND refused: {}",
                String::from_utf8_lossy(line).trim_end()
            );
        }
        self.queue(msg).await?;
        self.send(b"\r\n").await?;
        self.imap_until(&tag).await
    }

    /// IDLE: sends the command and waits for the continuation.
    pub async fn imap_idle_start(&mut self) -> anyhow::Result<String> {
        let tag = self.next_tag();
        self.send(format!("{tag} IDLE\r\n").as_bytes()).await?;
        self.imap_wait(|l| l.starts_with(b"+")).await?;
        Ok(tag)
    }

    /// DONE and the tagged completion of the IDLE started with tag `tag`.
    pub async fn imap_idle_done(&mut self, tag: &str) -> anyhow::Result<Tagged> {
        self.send(b"DONE\r\n").await?;
        self.imap_until(tag).await
    }

    // ---- POP3 ----

    /// Sends a POP3 command and reads its status line; fails on -ERR.
    pub async fn pop(&mut self, command: &str) -> anyhow::Result<()> {
        self.send(format!("{command}\r\n").as_bytes()).await?;
        let line = self.line().await?;
        if !line.starts_with(b"+OK") {
            let what = command.split(' ').next().unwrap_or(command);
            bail!("POP3 {what}: {}", String::from_utf8_lossy(line).trim_end());
        }
        Ok(())
    }

    /// Sends a multi-line POP3 command; returns the bytes of the body up to the final ".".
    pub async fn pop_multi(&mut self, command: &str) -> anyhow::Result<usize> {
        self.pop(command).await?;
        self.pop_body().await
    }

    /// Reads a multi-line POP3 body up to the "." line.
    pub async fn pop_body(&mut self) -> anyhow::Result<usize> {
        let mut bytes = 0;
        loop {
            let line = self.line().await?;
            if line == b".\r\n" {
                return Ok(bytes);
            }
            bytes += line.len();
        }
    }

    /// Greeting + USER/PASS.
    pub async fn pop_login(mut self, user: &str, pass: &str) -> anyhow::Result<Conn> {
        let greet = self.line().await?;
        if !greet.starts_with(b"+OK") {
            bail!(
                "POP3 greeting: {}",
                String::from_utf8_lossy(greet).trim_end()
            );
        }
        self.pop(&format!("USER {user}")).await?;
        self.pop(&format!("PASS {pass}")).await?;
        Ok(self)
    }

    // ---- SMTP ----

    /// Reads one (possibly multi-line) SMTP reply; returns its code.
    pub async fn smtp_reply(&mut self) -> anyhow::Result<u16> {
        loop {
            let line = self.line().await?;
            if line.len() < 4 {
                bail!("short SMTP reply");
            }
            let code = std::str::from_utf8(&line[..3])?.parse::<u16>()?;
            if line[3] != b'-' {
                return Ok(code);
            }
        }
    }

    /// Sends one SMTP command and expects a reply of class `class` (2 or 3).
    pub async fn smtp(&mut self, command: &str, class: u16) -> anyhow::Result<()> {
        self.send(format!("{command}\r\n").as_bytes()).await?;
        let code = self.smtp_reply().await?;
        if code / 100 != class {
            bail!(
                "SMTP {}: {}",
                command.split(' ').next().unwrap_or(command),
                String::from_utf8_lossy(&self.line).trim_end()
            );
        }
        Ok(())
    }

    /// One SMTP transaction: MAIL, RCPT, DATA, the dot-stuffed message, ".". `msg` must end
    /// with CRLF and contain no line that starts with ".".
    pub async fn smtp_send(&mut self, from: &str, to: &str, msg: &[u8]) -> anyhow::Result<()> {
        self.smtp(&format!("MAIL FROM:<{from}>"), 2).await?;
        self.smtp(&format!("RCPT TO:<{to}>"), 2).await?;
        self.smtp("DATA", 3).await?;
        self.queue(msg).await?;
        self.send(b".\r\n").await?;
        let code = self.smtp_reply().await?;
        if code != 250 {
            bail!(
                "SMTP end of data: {}",
                String::from_utf8_lossy(&self.line).trim_end()
            );
        }
        Ok(())
    }
}

/// The length of an IMAP literal announced at the end of `line` (`{123}\r\n`), if any.
pub fn literal_len(line: &[u8]) -> Option<usize> {
    let l = line.strip_suffix(b"\r\n").unwrap_or(line);
    let l = l.strip_suffix(b"}")?;
    let open = l.iter().rposition(|&b| b == b'{')?;
    let digits = &l[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::literal_len;

    #[test]
    fn literal_lengths() {
        assert_eq!(literal_len(b"* 1 FETCH (BODY[] {42}\r\n"), Some(42));
        assert_eq!(literal_len(b"* 1 FETCH (BODY[] {0}\r\n"), Some(0));
        assert_eq!(literal_len(b"* OK [UIDNEXT 4] {x}\r\n"), None);
        assert_eq!(literal_len(b"* 1 EXISTS\r\n"), None);
    }
}
