//! Shared test helpers: an in-process POP3 server (plain with STLS, and pop3s) on
//! 127.0.0.1:0 over a temporary store, and a scripted line client.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pop3d::{Ctx, Limits};
use store::{Account, Pop3Policy, Uid};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const PASSWORD: &str = "long password 123";
/// Any single read in a test waits at most this long (a hang fails instead of blocking CI).
pub const STEP: Duration = Duration::from_secs(60);

pub struct Options {
    pub allow_plaintext_from_loopback: bool,
    pub limits: Limits,
    pub trace: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            allow_plaintext_from_loopback: true,
            limits: Limits::default(),
            trace: true,
        }
    }
}

pub struct Server {
    /// Plain POP3 port (STLS offered).
    pub addr: SocketAddr,
    /// pop3s port (implicit TLS).
    pub tls_addr: SocketAddr,
    pub auth: auth::Auth,
    pub store: store::Store,
    /// The CA clients must trust.
    pub ca: PathBuf,
    pub trigger: net::ShutdownTrigger,
    pub dir: tempfile::TempDir,
}

pub async fn start() -> Server {
    start_with(Options::default()).await
}

pub async fn start_with(opts: Options) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store::Store::open(dir.path().join("store")).expect("store");
    let auth = auth::Auth::new(store.clone(), auth::AuthConfig::for_tests()).expect("auth");
    let cert = dir.path().join("certs/cert.pem");
    let key = dir.path().join("certs/key.pem");
    let ca = net::tls::generate_files(&cert, &key, &["localhost".to_string()]).expect("certs");
    let acceptor = net::tls::acceptor_from_files(&cert, &key).expect("acceptor");
    let (trigger, shutdown) = net::ShutdownTrigger::new();
    let mut ctx = Ctx::new(auth.clone(), "pop.example.test");
    ctx.service.tls = Some(acceptor);
    ctx.service.trace = opts.trace;
    ctx.service.allow_plaintext_from_loopback = opts.allow_plaintext_from_loopback;
    let plain = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let secure = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = plain.local_addr().expect("addr");
    let tls_addr = secure.local_addr().expect("addr");
    let mut tls_ctx = ctx.clone();
    tls_ctx.service.implicit_tls = true;
    tokio::spawn(pop3d::serve_with_limits(
        plain,
        ctx,
        opts.limits.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(pop3d::serve_with_limits(
        secure,
        tls_ctx,
        opts.limits,
        shutdown,
    ));
    Server {
        addr,
        tls_addr,
        auth,
        store,
        ca,
        trigger,
        dir,
    }
}

impl Server {
    pub async fn add_user(&self, address: &str) -> Account {
        self.auth
            .add_user(address, &PASSWORD.to_string().into(), None)
            .await
            .expect("add user")
    }

    pub async fn set_policy(&self, address: &str, policy: Pop3Policy) {
        self.store
            .update_account(address, |a| a.pop3_policy = policy)
            .await
            .expect("policy");
    }

    pub fn inbox(&self, account: &Account) -> store::Mailbox {
        self.store
            .mailbox(account.id, "INBOX")
            .expect("mailbox")
            .expect("INBOX")
    }

    pub async fn deliver(&self, account: &Account, bytes: &[u8]) -> Uid {
        let inbox = self.inbox(account);
        let req = store::AppendRequest {
            bytes,
            ..Default::default()
        };
        self.store
            .append(account.id, inbox.id, req)
            .await
            .expect("append")
            .1
    }

    /// UIDs now in the account's INBOX.
    pub fn uids(&self, account: &Account) -> Vec<Uid> {
        let inbox = self.inbox(account);
        self.store
            .messages(inbox.id)
            .expect("messages")
            .iter()
            .map(|m| m.uid)
            .collect()
    }

    pub fn seen(&self, account: &Account, uid: Uid) -> bool {
        let inbox = self.inbox(account);
        let m = self
            .store
            .message(inbox.id, uid)
            .expect("message")
            .expect("exists");
        m.flags.has(store::Flags::SEEN)
    }

    /// A logged-in client.
    pub async fn login(&self, address: &str) -> Client {
        let mut c = Client::connect(self.addr).await;
        c.login(address, PASSWORD).await;
        c
    }
}

/// A simple message with CRLF line ends.
pub fn message(subject: &str, body: &str) -> Vec<u8> {
    let body = body.replace("\r\n", "\n").replace('\n', "\r\n");
    format!(
        "From: sender@example.test\r\nTo: rcpt@example.test\r\nSubject: {subject}\r\nMessage-ID: <{}@example.test>\r\n\r\n{body}",
        subject.replace(' ', ".")
    )
    .into_bytes()
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A scripted line client.
pub struct Client {
    stream: Option<Box<dyn Io>>,
    buf: Vec<u8>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        Client {
            stream: Some(Box::new(tcp)),
            buf: Vec::new(),
        }
    }

    /// Connects to the pop3s port with TLS.
    pub async fn connect_tls(addr: SocketAddr, ca: &std::path::Path) -> Client {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let tls = tls_connector(ca)
            .connect(server_name(), tcp)
            .await
            .expect("TLS handshake");
        Client {
            stream: Some(Box::new(tls)),
            buf: Vec::new(),
        }
    }

    fn stream(&mut self) -> &mut Box<dyn Io> {
        self.stream.as_mut().expect("stream")
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream().write_all(bytes).await.expect("write");
        self.stream().flush().await.expect("flush");
    }

    pub async fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
    }

    /// One line with its CRLF, or `None` at end of stream.
    pub async fn try_raw_line(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
                return Some(self.buf.drain(..=i).collect());
            }
            let mut chunk = vec![0u8; 64 * 1024];
            let n = tokio::time::timeout(STEP, self.stream().read(&mut chunk))
                .await
                .expect("server answered in time")
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
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
    pub async fn start_tls(&mut self, ca: &std::path::Path) {
        assert!(self.buf.is_empty(), "no unread bytes before the handshake");
        let stream = self.stream.take().expect("stream");
        let tls = tls_connector(ca)
            .connect(server_name(), stream)
            .await
            .expect("TLS handshake");
        self.stream = Some(Box::new(tls));
    }
}

fn server_name() -> rustls::pki_types::ServerName<'static> {
    rustls::pki_types::ServerName::try_from("localhost").expect("name")
}

fn tls_connector(ca: &std::path::Path) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca).expect("ca") {
        roots.add(cert.expect("cert")).expect("add root");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}
