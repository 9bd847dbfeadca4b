//! Shared helpers: an in-process server on 127.0.0.1:0 with a temporary store, and a scripted
//! line client that understands literals in responses.
#![allow(dead_code)]

use std::path::PathBuf;

use auth::{Auth, AuthConfig};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub const USER: &str = "alice@example.test";
pub const PASS: &str = "long password 123";

pub struct Server {
    pub port: u16,
    pub tls_port: u16,
    pub auth: Auth,
    pub store: store::Store,
    pub account: store::Account,
    pub ca: PathBuf,
    pub dir: tempfile::TempDir,
    pub trigger: net::ShutdownTrigger,
}

pub struct Options {
    pub loopback_plaintext: bool,
    pub max_literal: u64,
    pub limits: imapd::Limits,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            loopback_plaintext: true,
            max_literal: imapd::DEFAULT_MAX_LITERAL,
            limits: imapd::Limits::default(),
        }
    }
}

pub async fn start() -> Server {
    start_with(Options::default()).await
}

pub async fn start_with(opts: Options) -> Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store::Store::open(dir.path().join("db")).expect("store");
    let auth = Auth::new(store.clone(), AuthConfig::for_tests()).expect("auth");
    let account = auth
        .add_user(USER, &PASS.to_string().into(), None)
        .await
        .expect("user");
    let cert = dir.path().join("tls/cert.pem");
    let key = dir.path().join("tls/key.pem");
    let ca = net::tls::generate_files(&cert, &key, &["localhost".to_string()]).expect("certs");
    let acceptor = net::tls::acceptor_from_files(&cert, &key).expect("acceptor");
    let (trigger, shutdown) = net::ShutdownTrigger::new();
    let mut ctx = imapd::Ctx::new(auth.clone(), "localhost");
    ctx.service.tls = Some(acceptor);
    ctx.service.allow_plaintext_from_loopback = opts.loopback_plaintext;
    ctx.max_literal = opts.max_literal;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    store
        .set_domains(&["example.test".into()])
        .await
        .expect("domains");
    let port = l.local_addr().expect("addr").port();
    tokio::spawn(imapd::serve_with_limits(
        l,
        ctx.clone(),
        opts.limits,
        shutdown.clone(),
    ));
    let l2 = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let tls_port = l2.local_addr().expect("addr").port();
    let mut tls_ctx = ctx;
    tls_ctx.service.implicit_tls = true;
    tokio::spawn(imapd::serve(l2, tls_ctx, shutdown));
    Server {
        port,
        tls_port,
        auth,
        store,
        account,
        ca,
        dir,
        trigger,
    }
}

impl Server {
    pub fn mailbox(&self, name: &str) -> store::Mailbox {
        self.store
            .mailbox(self.account.id, name)
            .expect("store")
            .expect("mailbox")
    }

    pub async fn append(&self, mailbox: &str, bytes: &[u8]) -> u32 {
        let mb = self.mailbox(mailbox);
        let req = store::AppendRequest {
            bytes,
            ..Default::default()
        };
        self.store
            .append(self.account.id, mb.id, req)
            .await
            .expect("append")
            .1
    }

    /// The real SMTP server (MX role: local recipients, no AUTH) on the same store.
    pub async fn start_smtp(&self) -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = l.local_addr().expect("addr").port();
        let ctx = submission::Ctx::new(self.auth.clone(), "localhost");
        tokio::spawn(submission::serve(
            l,
            ctx,
            submission::Role::Inbound,
            net::Shutdown::never(),
        ));
        port
    }

    /// The real POP3 server on the same store.
    pub async fn start_pop3(&self) -> u16 {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = l.local_addr().expect("addr").port();
        let ctx = pop3d::Ctx::new(self.auth.clone(), "localhost");
        tokio::spawn(pop3d::serve(l, ctx, net::Shutdown::never()));
        port
    }

    pub async fn client(&self) -> Client {
        Client::connect(self.port).await
    }

    pub async fn logged_in(&self) -> Client {
        let mut c = self.client().await;
        c.ok(&format!("LOGIN {USER} \"{PASS}\"")).await;
        c
    }
}

pub fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Bob <bob@example.test>\r\nTo: alice@example.test\r\nSubject: {subject}\r\nDate: Tue, 1 Jul 2003 10:52:37 +0200\r\nMessage-ID: <{subject}@x>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

pub struct Client {
    r: BufReader<TcpStream>,
    n: u32,
    pub greeting: String,
}

impl Client {
    pub async fn connect(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let mut c = Client {
            r: BufReader::new(s),
            n: 0,
            greeting: String::new(),
        };
        c.greeting = c.response().await;
        c
    }

    pub async fn send(&mut self, raw: &str) {
        self.r
            .get_mut()
            .write_all(raw.as_bytes())
            .await
            .expect("write");
    }

    pub async fn send_bytes(&mut self, raw: &[u8]) {
        self.r.get_mut().write_all(raw).await.expect("write");
    }

    /// One response: a line plus any literals it announces (inline). Empty on EOF.
    pub async fn response(&mut self) -> String {
        let mut out = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = tokio::time::timeout(
                std::time::Duration::from_secs(60),
                self.r.read_until(b'\n', &mut line),
            )
            .await
            .expect("server answered")
            .expect("read");
            if n == 0 {
                break;
            }
            out.extend_from_slice(&line);
            let t = String::from_utf8_lossy(&line).to_string();
            let t = t.trim_end();
            if let Some(start) = t
                .strip_suffix('}')
                .and_then(|x| x.rfind('{').map(|i| (x, i)))
            {
                let (x, i) = start;
                if let Ok(len) = x[i + 1..].parse::<usize>() {
                    let mut buf = vec![0; len];
                    self.r.read_exact(&mut buf).await.expect("literal");
                    out.extend_from_slice(&buf);
                    continue;
                }
            }
            break;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Sends `tagN text` and reads until the tagged reply; returns (untagged, tagged line).
    pub async fn cmd(&mut self, text: &str) -> (Vec<String>, String) {
        self.n += 1;
        let tag = format!("t{}", self.n);
        self.send(&format!("{tag} {text}\r\n")).await;
        self.until(&tag).await
    }

    pub async fn until(&mut self, tag: &str) -> (Vec<String>, String) {
        let mut untagged = Vec::new();
        loop {
            let r = self.response().await;
            if r.is_empty() {
                return (untagged, String::new());
            }
            if r.starts_with(&format!("{tag} ")) {
                return (untagged, r.trim_end().to_string());
            }
            untagged.push(r.trim_end().to_string());
        }
    }

    /// Runs a command that must succeed; returns its untagged responses.
    pub async fn ok(&mut self, text: &str) -> Vec<String> {
        let (u, t) = self.cmd(text).await;
        assert!(
            t.split(' ').nth(1) == Some("OK"),
            "{text:?} → {t:?} (untagged {u:?})"
        );
        u
    }

    pub fn next_tag(&mut self) -> String {
        self.n += 1;
        format!("t{}", self.n)
    }
}

/// A line-by-line client for SMTP and POP3 (single-line replies; multi-line SMTP replies are
/// read to their last line).
pub struct LineClient {
    r: BufReader<TcpStream>,
}

impl LineClient {
    pub async fn connect(port: u16) -> LineClient {
        let s = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let mut c = LineClient {
            r: BufReader::new(s),
        };
        c.reply().await;
        c
    }

    /// One reply: SMTP continuation lines (`250-`) are read up to the last (`250 `).
    pub async fn reply(&mut self) -> String {
        loop {
            let mut line = String::new();
            tokio::time::timeout(
                std::time::Duration::from_secs(60),
                self.r.read_line(&mut line),
            )
            .await
            .expect("server answered")
            .expect("read");
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                return line.trim_end().to_string();
            }
        }
    }

    pub async fn cmd(&mut self, line: &str) -> String {
        self.r
            .get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .expect("write");
        self.reply().await
    }
}

/// Sends one message over SMTP to `to`; returns the reply to the end of DATA (or the first
/// refusal).
pub async fn smtp_send(port: u16, to: &str, msg: &[u8]) -> String {
    let mut c = LineClient::connect(port).await;
    assert!(c.cmd("EHLO client.test").await.starts_with("250"));
    assert!(c
        .cmd("MAIL FROM:<bob@elsewhere.test>")
        .await
        .starts_with("250"));
    let r = c.cmd(&format!("RCPT TO:<{to}>")).await;
    if !r.starts_with("250") {
        return r;
    }
    assert!(c.cmd("DATA").await.starts_with("354"));
    let mut body = msg.to_vec();
    body.extend_from_slice(b".\r\n");
    c.r.get_mut().write_all(&body).await.expect("write");
    let r = c.reply().await;
    c.cmd("QUIT").await;
    r
}

/// POP3: log in as the test user, DELE the given message numbers, QUIT (commits).
pub async fn pop3_dele_quit(port: u16, nums: &[u32]) {
    let mut c = LineClient::connect(port).await;
    assert!(c.cmd(&format!("USER {USER}")).await.starts_with("+OK"));
    let r = c.cmd(&format!("PASS {PASS}")).await;
    assert!(r.starts_with("+OK"), "{r}");
    for n in nums {
        let r = c.cmd(&format!("DELE {n}")).await;
        assert!(r.starts_with("+OK"), "{r}");
    }
    let r = c.cmd("QUIT").await;
    assert!(r.starts_with("+OK"), "{r}");
}

impl Client {
    /// The next untagged response, within a generous limit (pushed updates, IDLE).
    pub async fn pushed(&mut self) -> String {
        tokio::time::timeout(std::time::Duration::from_secs(10), self.response())
            .await
            .expect("update pushed within 10 s")
            .trim_end()
            .to_string()
    }

    /// Starts IDLE and reads the continuation.
    pub async fn idle(&mut self) -> String {
        let tag = self.next_tag();
        self.send(&format!("{tag} IDLE\r\n")).await;
        let r = self.response().await;
        assert!(r.starts_with("+ "), "RFC 2177 §3 continuation: {r}");
        tag
    }

    /// Ends IDLE with DONE and returns (untagged, tagged) until the IDLE's tagged reply.
    pub async fn done(&mut self, tag: &str) -> (Vec<String>, String) {
        self.send("DONE\r\n").await;
        self.until(tag).await
    }
}

/// The number in `[CODE n]` of an untagged OK, e.g. HIGHESTMODSEQ.
pub fn code_value(lines: &[String], code: &str) -> u64 {
    lines
        .iter()
        .find_map(|l| {
            l.split_once(&format!("[{code} "))
                .and_then(|(_, r)| r.split(']').next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or_else(|| panic!("no {code} in {lines:?}"))
}
