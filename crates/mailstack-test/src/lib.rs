//! A mailstack server for your tests, the way GreenMail's JUnit extension is for Java
//! (docs/spec.md §7.2). [`TestServer::start`] runs `mailstack serve --ephemeral` (a temporary
//! store, every listener on a free loopback port, test passwords) and reads its JSON line;
//! the server stops and deletes its store when the [`TestServer`] is dropped — or when the
//! test process dies, because its stdin is a pipe held here.
//!
//! ```
//! use std::time::Duration;
//! use mailstack_test::TestServer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), mailstack_test::Error> {
//! let server = TestServer::start().await?;
//! server.add_account("bob@example.test", "secret").await?;
//! // What your application does: send over SMTP (here the crate's own small client).
//! let msg = "Subject: welcome\r\n\r\nHello Bob\r\n";
//! server.send_mail("app@example.test", &["bob@example.test"], msg).await?;
//! let m = server
//!     .wait_for_message("bob@example.test", |m| m.subject.as_deref() == Some("welcome"), Duration::from_secs(10))
//!     .await?;
//! assert_eq!(m.uid, 1);
//! // Make the next RCPT fail, as a full mailbox would.
//! server.add_fault(serde_json::json!({"protocol": "smtp", "stage": "RCPT", "action": "reply",
//!     "reply": "452 4.2.2 Mailbox full", "times": 1})).await?;
//! let refused = server.send_mail("app@example.test", &["bob@example.test"], msg).await;
//! assert!(matches!(refused, Err(mailstack_test::Error::Smtp { code: 452, .. })));
//! # Ok(())
//! # }
//! ```
//!
//! The `mailstack` binary is `$MAILSTACK_BIN`, else `mailstack` in the target folder of the
//! running test (`target/debug/deps/…` → `target/debug/mailstack`), else this workspace's debug
//! build, else `mailstack` on `PATH`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use web::client::AdminClient;

/// How long the server may take to print its JSON line.
const START_LIMIT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot run {binary}: {source}")]
    Spawn {
        binary: PathBuf,
        source: std::io::Error,
    },
    #[error("the server did not start: {0}")]
    Start(String),
    #[error(transparent)]
    Api(#[from] web::client::ClientError),
    /// The admin API answered with an error status.
    #[error("HTTP {status}: {body}")]
    Status {
        status: u16,
        body: serde_json::Value,
    },
    /// An SMTP reply that was not the expected success.
    #[error("SMTP {code}: {text}")]
    Smtp { code: u16, text: String },
    /// A POP3 `-ERR` (or a closed connection).
    #[error("POP3: {0}")]
    Pop3(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("no matching message for {0} within the timeout")]
    Timeout(String),
}

/// A message as the admin API lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct Message {
    pub uid: u32,
    pub mailbox: String,
    pub flags: Vec<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub subject: Option<String>,
    pub size: u64,
}

/// The JSON line of `serve --ephemeral`.
#[derive(Debug, Clone, Deserialize)]
pub struct Info {
    pub pid: u32,
    pub ports: BTreeMap<String, u16>,
    pub ca: PathBuf,
    pub admin_token: String,
    pub data_dir: PathBuf,
    pub domains: Vec<String>,
}

/// A running test server; dropped, it stops.
pub struct TestServer {
    info: Info,
    api: AdminClient,
    child: Child,
    /// Held open: the server exits when it closes (drop, or this process dying).
    stdin: Option<ChildStdin>,
}

/// The `mailstack` binary to run.
pub fn binary() -> PathBuf {
    if let Some(p) = std::env::var_os("MAILSTACK_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test>-… → target/<profile>/mailstack
    let sibling = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("mailstack"));
    if let Some(p) = sibling.filter(|p| p.is_file()) {
        return p;
    }
    // Doctests run from a temporary folder: the workspace's own build, when there is one.
    if let Some(dir) = std::env::var_os("CARGO_MANIFEST_DIR") {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(&dir).join("../../target"));
        let built = target.join("debug/mailstack");
        if built.is_file() {
            return built;
        }
    }
    PathBuf::from("mailstack")
}

impl TestServer {
    /// Starts a server with the defaults (domain `example.test`, outbound mail captured).
    pub async fn start() -> Result<TestServer, Error> {
        TestServer::start_with(&[]).await
    }

    /// Starts a server with extra `serve` arguments, e.g. `["--accept-any"]`.
    pub async fn start_with(args: &[&str]) -> Result<TestServer, Error> {
        let binary = binary();
        let mut child = Command::new(&binary)
            .args(["serve", "--ephemeral"])
            .args(args)
            .current_dir(std::env::temp_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| Error::Spawn { binary, source })?;
        let stdout = child
            .stdout
            .take()
            .ok_or(Error::Start("no stdout".into()))?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(START_LIMIT, lines.next_line())
            .await
            .map_err(|_| Error::Start("no JSON line within 120 s".into()))??
            .ok_or_else(|| Error::Start("exited before printing its JSON line".into()))?;
        let info: Info =
            serde_json::from_str(&line).map_err(|e| Error::Start(format!("{e}: {line}")))?;
        // Keep reading so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let http = info.ports.get("http").copied().unwrap_or(0);
        let api = AdminClient::new(SocketAddr::from(([127, 0, 0, 1], http)), &info.admin_token);
        let stdin = child.stdin.take();
        Ok(TestServer {
            info,
            api,
            child,
            stdin,
        })
    }

    /// The JSON line: ports, CA, admin token, data folder, domains.
    pub fn info(&self) -> &Info {
        &self.info
    }

    /// The port of a listener: `smtp`, `submission`, `submissions`, `imap`, `imaps`, `pop3`,
    /// `pop3s`, `http`, `https` (0 when absent).
    pub fn port(&self, service: &str) -> u16 {
        self.info.ports.get(service).copied().unwrap_or(0)
    }

    /// The generated CA certificate (PEM) the TLS listeners chain to.
    pub fn ca(&self) -> &Path {
        &self.info.ca
    }

    /// One admin API call; `Err(Status)` unless the status is 2xx.
    pub async fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, Error> {
        let (status, body) = self.api.call(method, path, body).await?;
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(Error::Status { status, body })
        }
    }

    /// Creates an account (any non-empty password; INBOX, Sent, Drafts, Trash, Junk, Archive).
    pub async fn add_account(&self, address: &str, password: &str) -> Result<(), Error> {
        let body = serde_json::json!({"address": address, "password": password});
        self.api("POST", "/api/accounts", Some(body))
            .await
            .map(drop)
    }

    /// Delivers a raw message into `address`'s INBOX (no SMTP involved); returns its UID.
    pub async fn deliver(&self, address: &str, raw: &str) -> Result<u32, Error> {
        let path = format!("/api/accounts/{address}/messages");
        let (status, body) = self
            .api
            .send("POST", &path, "message/rfc822", raw.as_bytes().to_vec())
            .await?;
        match body["uid"].as_u64() {
            Some(uid) if status == 201 => Ok(u32::try_from(uid).unwrap_or(u32::MAX)),
            _ => Err(Error::Status { status, body }),
        }
    }

    /// The messages of `address`'s INBOX.
    pub async fn messages(&self, address: &str) -> Result<Vec<Message>, Error> {
        let body = self
            .api("GET", &format!("/api/accounts/{address}/messages"), None)
            .await?;
        serde_json::from_value(body).map_err(|e| Error::Start(e.to_string()))
    }

    /// Waits (on the server's change notifications, no polling loop of fixed sleeps) until a
    /// message of `address`'s INBOX satisfies `predicate`, at most `timeout`.
    pub async fn wait_for_message(
        &self,
        address: &str,
        predicate: impl Fn(&Message) -> bool,
        timeout: Duration,
    ) -> Result<Message, Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let seen = self.messages(address).await?;
            let newest = seen.iter().map(|m| m.uid).max().unwrap_or(0);
            if let Some(m) = seen.into_iter().find(|m| predicate(m)) {
                return Ok(m);
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Err(Error::Timeout(address.to_string()));
            }
            // A long poll on the server's change feed: answers as soon as a message newer
            // than those seen arrives (or after `left`).
            let wait = format!("{}ms", left.as_millis().clamp(1, 120_000));
            self.api(
                "GET",
                &format!("/api/accounts/{address}/messages?wait={wait}&after_uid={newest}"),
                None,
            )
            .await?;
        }
    }

    /// Adds a fault injection rule (docs/spec.md §7.7); returns its id.
    pub async fn add_fault(&self, rule: serde_json::Value) -> Result<u64, Error> {
        let body = self.api("POST", "/api/faults", Some(rule)).await?;
        Ok(body["id"].as_u64().unwrap_or(0))
    }

    /// Removes every fault rule.
    pub async fn clear_faults(&self) -> Result<(), Error> {
        self.api("DELETE", "/api/faults", None).await.map(drop)
    }

    /// Sends one message over plain SMTP (port `smtp`): EHLO, MAIL, RCPT…, DATA, QUIT. The
    /// first reply that is not a success is the error.
    pub async fn send_mail(&self, from: &str, to: &[&str], message: &str) -> Result<(), Error> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port("smtp"))).await?;
        let (r, mut w) = tcp.into_split();
        let mut r = BufReader::new(r);
        expect(&mut r, 220).await?;
        let mut data = String::new();
        for line in message.split_inclusive('\n') {
            // RFC 5321 §4.5.2: dot-stuffing.
            if line.starts_with('.') {
                data.push('.');
            }
            data.push_str(line);
        }
        if !data.ends_with("\r\n") {
            data.push_str("\r\n");
        }
        let mut steps = vec![
            ("EHLO test.client\r\n".to_string(), 250),
            (format!("MAIL FROM:<{from}>\r\n"), 250),
        ];
        steps.extend(to.iter().map(|t| (format!("RCPT TO:<{t}>\r\n"), 250)));
        steps.push(("DATA\r\n".into(), 354));
        steps.push((format!("{data}.\r\n"), 250));
        steps.push(("QUIT\r\n".into(), 221));
        for (line, code) in steps {
            w.write_all(line.as_bytes()).await?;
            expect(&mut r, code).await?;
        }
        Ok(())
    }

    /// Downloads every message of `address`'s INBOX over plain POP3 (port `pop3`: USER, PASS,
    /// STAT, RETR each, QUIT; nothing deleted), dot-unstuffed, CRLF line ends.
    pub async fn pop3_messages(&self, address: &str, password: &str) -> Result<Vec<String>, Error> {
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port("pop3"))).await?;
        let (r, mut w) = tcp.into_split();
        let mut r = BufReader::new(r);
        let status =
            async |r: &mut BufReader<_>, w: &mut tokio::net::tcp::OwnedWriteHalf, cmd: String| {
                if !cmd.is_empty() {
                    w.write_all(cmd.as_bytes()).await?;
                }
                let mut line = String::new();
                r.read_line(&mut line).await?;
                match line.strip_prefix("+OK") {
                    Some(rest) => Ok(rest.trim().to_string()),
                    None => Err(Error::Pop3(line.trim_end().to_string())),
                }
            };
        status(&mut r, &mut w, String::new()).await?;
        status(&mut r, &mut w, format!("USER {address}\r\n")).await?;
        status(&mut r, &mut w, format!("PASS {password}\r\n")).await?;
        let stat = status(&mut r, &mut w, "STAT\r\n".into()).await?;
        let count: u32 = stat
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let mut out = Vec::new();
        for n in 1..=count {
            status(&mut r, &mut w, format!("RETR {n}\r\n")).await?;
            let mut msg = String::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).await? == 0 || line == ".\r\n" {
                    break;
                }
                // RFC 1939 §3: a leading dot was doubled.
                msg.push_str(
                    line.strip_prefix('.')
                        .filter(|_| line.starts_with(".."))
                        .unwrap_or(&line),
                );
            }
            out.push(msg);
        }
        status(&mut r, &mut w, "QUIT\r\n".into()).await?;
        Ok(out)
    }

    /// Stops the server (closes its stdin; it stops like on SIGTERM and deletes its store)
    /// and waits for it.
    pub async fn stop(mut self) -> Result<(), Error> {
        drop(self.stdin.take());
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .is_err()
        {
            self.child.kill().await?;
        }
        Ok(())
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // The closed pipe stops the server cleanly (it deletes its temporary store); the
        // child is killed on drop only if it is still there when the runtime reaps it.
        drop(self.stdin.take());
    }
}

/// Reads one SMTP reply (all its lines) and checks its code.
async fn expect(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>, want: u16) -> Result<(), Error> {
    let mut text = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return Err(Error::Smtp {
                code: 0,
                text: format!("connection closed{text}"),
            });
        }
        text.push_str(line.trim_end());
        if line.as_bytes().get(3) != Some(&b'-') {
            let code = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            return if code == want {
                Ok(())
            } else {
                Err(Error::Smtp { code, text })
            };
        }
    }
}
