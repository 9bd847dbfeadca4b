//! Shared test helpers: a server on 127.0.0.1:0 over a temporary store with two accounts,
//! TLS from a generated CA, and a scripted line client.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use auth::{Auth, AuthConfig};
use store::Store;
use submission::{Ctx, Options, Role};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufStream};

pub const PASSWORD: &str = "long password 123";
pub const ALICE: &str = "alice@example.test";
pub const BOB: &str = "bob@example.test";
pub const HOST: &str = "mail.example.test";

pub struct Server {
    pub addr: SocketAddr,
    pub store: Store,
    pub auth: Auth,
    pub ca: PathBuf,
    pub dir: tempfile::TempDir,
    pub trigger: net::ShutdownTrigger,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Starts a server for `role` with the default options; `tweak` adjusts the context.
pub async fn start(role: Role, tweak: impl FnOnce(&mut Ctx)) -> Server {
    start_with(role, Options::default(), tweak).await
}

pub async fn start_with(role: Role, opts: Options, tweak: impl FnOnce(&mut Ctx)) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("store")).expect("store");
    store
        .set_domains(&["example.test".into()])
        .await
        .expect("domains");
    let auth = Auth::new(store.clone(), AuthConfig::for_tests()).expect("auth");
    for user in [ALICE, BOB] {
        auth.add_user(user, &PASSWORD.to_string().into(), None)
            .await
            .expect("add user");
    }
    let certs = dir.path().join("certs");
    let (cert, key) = (certs.join("server.crt"), certs.join("server.key"));
    let ca = net::tls::generate_files(&cert, &key, &[HOST.to_string()]).expect("certs");
    let acceptor = net::tls::acceptor_from_files(&cert, &key).expect("acceptor");
    let mut ctx = Ctx::new(auth.clone(), HOST);
    ctx.service.tls = Some(acceptor);
    tweak(&mut ctx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (trigger, shutdown) = net::ShutdownTrigger::new();
    let task = tokio::spawn(submission::serve_with(listener, ctx, role, shutdown, opts));
    Server {
        addr,
        store,
        auth,
        ca,
        dir,
        trigger,
        task,
    }
}

impl Server {
    pub async fn client(&self) -> Client {
        let mut c = Client::connect(self.addr).await;
        c.expect(220).await;
        c
    }

    /// A client on the implicit-TLS port.
    pub async fn tls_client(&self) -> Client {
        let tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect");
        let mut c = Client {
            s: BufStream::new(Box::new(tls_connect(tcp, &self.ca).await)),
        };
        c.expect(220).await;
        c
    }

    /// Raw bytes of every message in `user`'s mailbox `name`, in UID order.
    pub fn messages(&self, user: &str, name: &str) -> Vec<(Vec<u8>, store::Flags)> {
        let acct = self.store.account(user).expect("lookup").expect("account");
        let mb = self
            .store
            .mailbox(acct.id, name)
            .expect("lookup")
            .expect("mailbox");
        self.store
            .messages(mb.id)
            .expect("messages")
            .into_iter()
            .map(|m| (self.store.read_blob(m.blob).expect("blob"), m.flags))
            .collect()
    }

    pub fn inbox(&self, user: &str) -> Vec<Vec<u8>> {
        self.messages(user, "INBOX")
            .into_iter()
            .map(|m| m.0)
            .collect()
    }
}

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub async fn tls_connect(tcp: impl Io + 'static, ca: &std::path::Path) -> impl Io {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(ca).expect("ca") {
        roots.add(c.expect("cert")).expect("add root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    connector.connect(name, tcp).await.expect("TLS handshake")
}

/// A scripted SMTP client.
pub struct Client {
    s: BufStream<Box<dyn Io>>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> Client {
        let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
        Client {
            s: BufStream::new(Box::new(tcp)),
        }
    }

    /// Sends raw bytes.
    pub async fn raw(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).await.expect("write");
        self.s.flush().await.expect("flush");
    }

    /// Sends one command line (CRLF added).
    pub async fn send(&mut self, line: &str) {
        self.raw(format!("{line}\r\n").as_bytes()).await;
    }

    /// Reads one (possibly multi-line) reply: (code, text of all lines joined by '\n').
    pub async fn reply(&mut self) -> (u16, String) {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = self.s.read_line(&mut line).await.expect("read");
            assert!(
                n > 0,
                "connection closed while waiting for a reply (got so far: {text:?})"
            );
            assert!(line.ends_with("\r\n"), "reply line without CRLF: {line:?}");
            let code: u16 = line[..3].parse().expect("code");
            text.push_str(line[4..].trim_end());
            if line.as_bytes()[3] == b' ' {
                return (code, text);
            }
            text.push('\n');
        }
    }

    /// Reads a reply and checks its code; returns its text.
    pub async fn expect(&mut self, code: u16) -> String {
        let (got, text) = self.reply().await;
        assert_eq!(got, code, "unexpected reply: {got} {text}");
        text
    }

    /// Sends a command and checks the reply code.
    pub async fn cmd(&mut self, line: &str, code: u16) -> String {
        self.send(line).await;
        self.expect(code).await
    }

    pub async fn ehlo(&mut self) -> String {
        self.cmd("EHLO client.example", 250).await
    }

    /// AUTH PLAIN with an initial response.
    pub async fn login(&mut self, user: &str) {
        let ir = auth::sasl::encode_base64(format!("\0{user}\0{PASSWORD}").as_bytes());
        self.cmd(&format!("AUTH PLAIN {ir}"), 235).await;
    }

    /// STARTTLS (after the 220 is read) and the handshake.
    pub async fn starttls(mut self, ca: &std::path::Path) -> Client {
        self.cmd("STARTTLS", 220).await;
        self.into_tls(ca).await
    }

    /// The TLS handshake on this connection (the 220 to STARTTLS has been read).
    pub async fn into_tls(self, ca: &std::path::Path) -> Client {
        let inner = self.s.into_inner();
        Client {
            s: BufStream::new(Box::new(tls_connect(inner, ca).await)),
        }
    }

    /// True when the server closed the connection (EOF).
    pub async fn closed(&mut self) -> bool {
        let mut buf = [0u8; 64];
        matches!(self.s.read(&mut buf).await, Ok(0) | Err(_))
    }

    /// One whole transaction via DATA; returns the final reply.
    pub async fn send_mail(&mut self, from: &str, to: &[&str], body: &str) -> (u16, String) {
        self.cmd(&format!("MAIL FROM:<{from}>"), 250).await;
        for r in to {
            self.cmd(&format!("RCPT TO:<{r}>"), 250).await;
        }
        self.cmd("DATA", 354).await;
        self.raw(body.as_bytes()).await;
        self.raw(b".\r\n").await;
        self.reply().await
    }
}

/// Splits a stored message at the end of the header added by the server (Return-Path +
/// Received) and returns what follows.
pub fn strip_trace(msg: &[u8]) -> &[u8] {
    let text = msg;
    assert!(
        text.starts_with(b"Return-Path: <"),
        "no Return-Path: {:?}",
        String::from_utf8_lossy(&msg[..msg.len().min(200)])
    );
    // Received: is folded over several lines, each continuation starting with TAB.
    let mut pos = 0;
    let mut seen_received = false;
    loop {
        let end = text[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .map(|i| pos + i + 1)
            .expect("line");
        let line = &text[pos..end];
        if line.starts_with(b"Received: ") {
            seen_received = true;
        } else if !(line.starts_with(b"Return-Path: ") || line.starts_with(b"\t")) {
            break;
        }
        pos = end;
    }
    assert!(seen_received, "no Received header");
    &text[pos..]
}
