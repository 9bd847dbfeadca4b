//! A small scripted line client for the demo: plain TCP, implicit TLS or a STARTTLS/STLS
//! upgrade (tokio-rustls, trusting only the demo's generated CA), and readers for the three
//! protocols' reply shapes (SMTP multi-line replies, POP3 dot-terminated lists, IMAP
//! responses with literals). Every line sent or received is recorded in the [`Transcript`];
//! secrets are recorded as `<redacted>`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::transcript::{Kind, Session, Transcript};

/// How long the demo waits for any server reply before it gives up (the server answers in
/// milliseconds; this only bounds a hang).
const REPLY_TIMEOUT: Duration = Duration::from_secs(20);

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// TLS client settings: the demo CA as the only root, and the server name to verify.
#[derive(Clone)]
pub(crate) struct Tls {
    connector: TlsConnector,
    name: ServerName<'static>,
}

impl Tls {
    pub fn from_ca(ca: &Path, hostname: &str) -> anyhow::Result<Tls> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(ca)
            .with_context(|| format!("reading CA {}", ca.display()))?
        {
            roots.add(cert.with_context(|| format!("parsing CA {}", ca.display()))?)?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Tls {
            connector: TlsConnector::from(Arc::new(config)),
            name: ServerName::try_from(hostname.to_string())?,
        })
    }
}

/// One scripted client session.
pub(crate) struct Client {
    who: &'static str,
    /// `None` only while the stream is being upgraded to TLS.
    stream: Option<BufReader<Box<dyn Io>>>,
    tls: Tls,
}

impl Client {
    /// Connects to `addr` (the demo's listener for `service`), with the TLS handshake first
    /// when `implicit_tls`; records the session for the ports table.
    pub async fn connect(
        t: &mut Transcript,
        who: &'static str,
        program: &'static str,
        service: &'static str,
        addr: SocketAddr,
        implicit_tls: bool,
        tls: &Tls,
    ) -> anyhow::Result<Client> {
        let tcp = TcpStream::connect(addr)
            .await
            .with_context(|| format!("{who}: cannot connect to {addr}"))?;
        t.record(
            who,
            Kind::Note,
            format!(
                "connected to {addr} ({service}, port {} in production)",
                super::transcript::standard_port(service)
            ),
        );
        t.sessions.push(Session {
            who,
            program,
            service,
            security: "none".into(),
            addr,
        });
        let mut client = Client {
            who,
            stream: Some(BufReader::new(Box::new(tcp))),
            tls: tls.clone(),
        };
        if implicit_tls {
            client.handshake(t, "implicit TLS").await?;
        }
        Ok(client)
    }

    /// Upgrades the connection after the server said yes to STARTTLS/STLS.
    pub async fn start_tls(&mut self, t: &mut Transcript, mode: &str) -> anyhow::Result<()> {
        self.handshake(t, mode).await
    }

    async fn handshake(&mut self, t: &mut Transcript, mode: &str) -> anyhow::Result<()> {
        let Some(reader) = self.stream.take() else {
            bail!("{}: connection lost", self.who);
        };
        if !reader.buffer().is_empty() {
            bail!("{}: server sent data before the TLS handshake", self.who);
        }
        let tls = tokio::time::timeout(
            REPLY_TIMEOUT,
            self.tls
                .connector
                .connect(self.tls.name.clone(), reader.into_inner()),
        )
        .await
        .with_context(|| format!("{}: TLS handshake timed out", self.who))?
        .with_context(|| format!("{}: TLS handshake failed", self.who))?;
        let version = match tls.get_ref().1.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3",
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2",
            _ => "TLS",
        };
        t.record(
            self.who,
            Kind::Note,
            format!(
                "{version} established; the server's certificate for {} checks out against the demo CA",
                self.server_name()
            ),
        );
        if let Some(s) = t.session_mut(self.who) {
            s.security = mode.to_string();
        }
        self.stream = Some(BufReader::new(Box::new(tls)));
        Ok(())
    }

    fn server_name(&self) -> String {
        match &self.tls.name {
            ServerName::DnsName(n) => n.as_ref().to_string(),
            other => format!("{other:?}"),
        }
    }

    fn io(&mut self) -> anyhow::Result<&mut BufReader<Box<dyn Io>>> {
        match self.stream.as_mut() {
            Some(s) => Ok(s),
            None => bail!("{}: connection lost", self.who),
        }
    }

    async fn write_line(&mut self, line: &str) -> anyhow::Result<()> {
        let who = self.who;
        let io = self.io()?.get_mut();
        io.write_all(line.as_bytes()).await?;
        io.write_all(b"\r\n").await?;
        io.flush()
            .await
            .with_context(|| format!("{who}: write failed"))
    }

    /// Sends one command line and records it.
    pub async fn send(&mut self, t: &mut Transcript, line: &str) -> anyhow::Result<()> {
        t.record(self.who, Kind::Client, line);
        self.write_line(line).await
    }

    /// Sends `actual` but records `shown` (which says `<redacted>` where the secret is).
    pub async fn send_secret(
        &mut self,
        t: &mut Transcript,
        shown: &str,
        actual: &str,
    ) -> anyhow::Result<()> {
        t.record(self.who, Kind::Client, shown);
        self.write_line(actual).await
    }

    /// Sends message text (DATA, an APPEND literal): every line, recorded as a block.
    pub async fn send_block(&mut self, t: &mut Transcript, text: &[String]) -> anyhow::Result<()> {
        t.block(self.who, Kind::Client, text);
        for l in text {
            self.write_line(l).await?;
        }
        Ok(())
    }

    async fn read_raw_line(&mut self) -> anyhow::Result<String> {
        let who = self.who;
        let mut buf = Vec::new();
        let n = tokio::time::timeout(REPLY_TIMEOUT, self.io()?.read_until(b'\n', &mut buf))
            .await
            .with_context(|| format!("{who}: the server did not answer in time"))??;
        if n == 0 {
            bail!("{who}: the server closed the connection");
        }
        let text = String::from_utf8_lossy(&buf);
        Ok(text.trim_end_matches(['\r', '\n']).to_string())
    }

    /// Reads and records one server line.
    pub async fn line(&mut self, t: &mut Transcript) -> anyhow::Result<String> {
        let l = self.read_raw_line().await?;
        t.record(self.who, Kind::Server, l.clone());
        Ok(l)
    }

    /// Reads a POP3 single-line reply; fails unless it is `+OK`.
    pub async fn pop_ok(&mut self, t: &mut Transcript) -> anyhow::Result<String> {
        let l = self.line(t).await?;
        if !l.starts_with("+OK") {
            bail!("{}: expected +OK, got {l:?}", self.who);
        }
        Ok(l)
    }

    /// Reads a POP3 multi-line body up to the terminating "." (RFC 1939 §3); long bodies
    /// are recorded elided. Returns the lines (dot-stuffing removed).
    pub async fn pop_multiline(&mut self, t: &mut Transcript) -> anyhow::Result<Vec<String>> {
        let mut lines = Vec::new();
        loop {
            let l = self.read_raw_line().await?;
            if l == "." {
                break;
            }
            lines.push(l);
        }
        t.block(self.who, Kind::Server, &lines);
        t.record(self.who, Kind::Server, ".");
        Ok(lines
            .into_iter()
            .map(|l| l.strip_prefix('.').map(str::to_string).unwrap_or(l))
            .collect())
    }

    /// Reads an SMTP reply (all its continuation lines); returns the last line.
    pub async fn smtp_reply(&mut self, t: &mut Transcript) -> anyhow::Result<String> {
        loop {
            let l = self.line(t).await?;
            // RFC 5321 §4.2.1: "250-" continues, "250 " (or a bare code) ends the reply.
            if l.as_bytes().get(3) != Some(&b'-') {
                return Ok(l);
            }
        }
    }

    /// Reads an SMTP reply and fails unless its code is `code`.
    pub async fn smtp_expect(&mut self, t: &mut Transcript, code: &str) -> anyhow::Result<String> {
        let l = self.smtp_reply(t).await?;
        if !l.starts_with(code) {
            bail!("{}: expected {code}, got {l:?}", self.who);
        }
        Ok(l)
    }

    /// Reads one IMAP response, including the literals it carries (RFC 3501 §4.3), which are
    /// recorded as blocks. Returns the response without its literal data.
    pub async fn imap_response(&mut self, t: &mut Transcript) -> anyhow::Result<String> {
        let mut whole = String::new();
        loop {
            let l = self.line(t).await?;
            whole.push_str(&l);
            let Some(n) = literal_size(&l) else {
                return Ok(whole);
            };
            let who = self.who;
            let mut data = vec![0u8; n];
            tokio::time::timeout(REPLY_TIMEOUT, self.io()?.read_exact(&mut data))
                .await
                .with_context(|| format!("{who}: literal did not arrive in time"))??;
            let text = String::from_utf8_lossy(&data);
            let lines: Vec<String> = text
                .strip_suffix("\r\n")
                .unwrap_or(&text)
                .split("\r\n")
                .map(str::to_string)
                .collect();
            t.block(self.who, Kind::Server, &lines);
        }
    }

    /// Reads IMAP responses until one satisfies `done`; returns it.
    pub async fn imap_until(
        &mut self,
        t: &mut Transcript,
        done: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        loop {
            let r = self.imap_response(t).await?;
            if done(&r) {
                return Ok(r);
            }
        }
    }

    /// Sends a tagged command and reads up to its tagged reply; fails unless it is `OK`.
    pub async fn imap_ok(
        &mut self,
        t: &mut Transcript,
        tag: &str,
        command: &str,
    ) -> anyhow::Result<String> {
        self.send(t, &format!("{tag} {command}")).await?;
        let r = self.imap_tagged(t, tag).await?;
        if !r.starts_with(&format!("{tag} OK")) {
            bail!("{}: {command} failed: {r:?}", self.who);
        }
        Ok(r)
    }

    /// Reads up to the tagged reply for `tag`.
    pub async fn imap_tagged(&mut self, t: &mut Transcript, tag: &str) -> anyhow::Result<String> {
        let prefix = format!("{tag} ");
        self.imap_until(t, |r| r.starts_with(&prefix)).await
    }
}

/// The size of the literal announced at the end of an IMAP response line (`{123}`).
fn literal_size(line: &str) -> Option<usize> {
    let open = line.strip_suffix('}')?.rfind('{')?;
    line[open + 1..line.len() - 1].parse().ok()
}

#[cfg(test)]
mod tests {
    use super::literal_size;

    #[test]
    fn literal_sizes() {
        assert_eq!(literal_size("* 1 FETCH (BODY[] {279}"), Some(279));
        assert_eq!(literal_size("* 1 FETCH (FLAGS (\\Seen))"), None);
        assert_eq!(literal_size("* OK {x}"), None);
    }
}
