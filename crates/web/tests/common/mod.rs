//! Shared test helpers: a router over a temporary store, and one-shot requests.
#![allow(dead_code)]

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use tower::ServiceExt;
use web::{Advertised, Ctx};

pub const TOKEN: &str = "test-admin-token";
pub const PASSWORD: &str = "long password 123";
pub const DOMAIN: &str = "example.test";
pub const HOST: &str = "mail.example.test";

pub struct Env {
    pub ctx: Ctx,
    pub auth: auth::Auth,
    pub store: store::Store,
    pub dir: tempfile::TempDir,
}

/// All seven listeners on their standard ports.
pub fn advertised_all() -> Advertised {
    let mut adv = Advertised {
        hostname: HOST.into(),
        ..Default::default()
    };
    for (s, p) in [
        ("imap", 143),
        ("imaps", 993),
        ("pop3", 110),
        ("pop3s", 995),
        ("submission", 587),
        ("submissions", 465),
        ("smtp", 25),
    ] {
        adv.ports.insert(s.into(), p);
    }
    adv
}

pub async fn env() -> Env {
    env_with(advertised_all()).await
}

pub async fn env_with(advertised: Advertised) -> Env {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store::Store::open(dir.path().join("store")).expect("store");
    store
        .set_domains(&[DOMAIN.to_string(), "other.test".to_string()])
        .await
        .expect("domains");
    let auth = auth::Auth::new(store.clone(), auth::AuthConfig::for_tests()).expect("auth");
    let ctx = Ctx {
        auth: auth.clone(),
        advertised,
        admin_token: auth::Secret::new(TOKEN.to_string()),
        capture_account: Some(format!("capture@{DOMAIN}")),
        registry: net::Registry::new(),
    };
    Env {
        ctx,
        auth,
        store,
        dir,
    }
}

impl Env {
    pub fn router(&self) -> Router {
        web::router(self.ctx.clone())
    }

    /// The router as seen from client address `ip`.
    pub fn router_from(&self, ip: [u8; 4]) -> Router {
        let peer = SocketAddr::from((ip, 40000));
        web::router(self.ctx.clone()).layer(MockConnectInfo(peer))
    }

    pub async fn add_user(&self, local: &str) -> store::Account {
        let pw = auth::Secret::new(PASSWORD.to_string());
        self.auth
            .add_user(&format!("{local}@{DOMAIN}"), &pw, None)
            .await
            .expect("add user")
    }

    pub async fn deliver(&self, address: &str, subject: &str) -> u32 {
        let a = self
            .store
            .resolve(address)
            .expect("resolve")
            .expect("account");
        let mb = self
            .store
            .mailbox(a.id, "INBOX")
            .expect("mailbox")
            .expect("inbox");
        let msg = message(subject);
        let req = store::AppendRequest {
            bytes: msg.as_bytes(),
            ..Default::default()
        };
        self.store.append(a.id, mb.id, req).await.expect("append").1
    }
}

pub fn message(subject: &str) -> String {
    format!(
        "From: Sender <sender@remote.test>\r\nTo: someone@{DOMAIN}\r\nSubject: {subject}\r\n\
         Date: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <{subject}@remote.test>\r\n\r\nbody of {subject}\r\n"
    )
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    /// Error answers carry `{"error": "..."}`.
    pub fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .expect("error field")
            .to_string()
    }
}

/// One request: `method uri`, optional content type and body, admin token when `admin`.
pub async fn call(
    router: &Router,
    method: &str,
    uri: &str,
    admin: bool,
    ctype: Option<&str>,
    body: impl Into<Body>,
) -> Resp {
    let mut req = Request::builder().method(method).uri(uri);
    if admin {
        req = req.header("authorization", format!("Bearer {TOKEN}"));
    }
    if let Some(ct) = ctype {
        req = req.header("content-type", ct);
    }
    let req = req.body(body.into()).expect("request");
    let resp = router.clone().oneshot(req).await.expect("infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body")
        .to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

pub async fn get(router: &Router, uri: &str) -> Resp {
    call(router, "GET", uri, true, None, Body::empty()).await
}

pub async fn send_json(router: &Router, method: &str, uri: &str, json: serde_json::Value) -> Resp {
    call(
        router,
        method,
        uri,
        true,
        Some("application/json"),
        json.to_string(),
    )
    .await
}

/// Runs a Python 3 snippet with `input` on stdin; returns stdout (panics on failure).
pub fn python(script: &str, input: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("python3 output");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
