//! HTTP for tests: one response type ([`Resp`]) for requests through a `web` router in memory
//! ([`call`], [`get`], [`send_json`]) and over TCP to a running server ([`request`]: the admin
//! API of an in-process [`Stack`] or of a [`crate::Mailstack`]).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use axum::Router;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

use crate::{Stack, StackBuilder, TOKEN};

/// A whole response.
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

impl Stack {
    /// The HTTP service's routes over this stack's store (no listener, no client address).
    pub fn router(&self) -> Router {
        web::router(self.web.clone())
    }

    /// The routes as seen from client address `ip`.
    pub fn router_from(&self, ip: [u8; 4]) -> Router {
        let peer = SocketAddr::from((ip, 40000));
        web::router(self.web.clone()).layer(MockConnectInfo(peer))
    }
}

/// The host name [`stack`] advertises.
pub const HOST: &str = "mail.example.test";

/// The stack of the HTTP service's own tests: no listeners (requests go through
/// [`Stack::router`]; add `.only(&[Daemon::Http])` for a real one), the domains example.test
/// and other.test, the standard ports of [`HOST`] advertised, `/api/captured` reading
/// capture@example.test.
pub fn stack() -> StackBuilder {
    Stack::builder()
        .only(&[])
        .domains(&[crate::DOMAIN, "other.test"])
        .advertised(standard_ports(HOST))
        .capture_account("capture@example.test")
}

/// The standard ports of all seven mail listeners under `hostname`, for autoconfig tests
/// ([`crate::StackBuilder::advertised`]).
pub fn standard_ports(hostname: &str) -> web::Advertised {
    let mut adv = web::Advertised {
        hostname: hostname.into(),
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

/// One request through `router`: `method uri`, optional content type and body, the admin
/// token [`TOKEN`] when `admin`.
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

/// `GET uri` through `router` with the admin token.
pub async fn get(router: &Router, uri: &str) -> Resp {
    call(router, "GET", uri, true, None, Body::empty()).await
}

/// A JSON request through `router` with the admin token.
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

/// One HTTP/1.0 request over TCP to `127.0.0.1:port`: `token` as `Authorization: Bearer`,
/// `body` as (content type, bytes). Reads the response to the end of the connection.
pub async fn request(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<(&str, &[u8])>,
) -> Resp {
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if let Some((ctype, bytes)) = body {
        head.push_str(&format!(
            "Content-Type: {ctype}\r\nContent-Length: {}\r\n",
            bytes.len()
        ));
    }
    head.push_str("\r\n");
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect http");
    tcp.write_all(head.as_bytes()).await.expect("request");
    if let Some((_, bytes)) = body {
        tcp.write_all(bytes).await.expect("request body");
    }
    let mut raw = Vec::new();
    tokio::time::timeout(crate::client::READ_LIMIT, tcp.read_to_end(&mut raw))
        .await
        .expect("response in time")
        .expect("response");
    parse_response(&raw)
}

/// A JSON request over TCP (see [`request`]).
pub async fn request_json(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    json: &serde_json::Value,
) -> Resp {
    let body = json.to_string();
    request(
        port,
        method,
        path,
        token,
        Some(("application/json", body.as_bytes())),
    )
    .await
}

fn parse_response(raw: &[u8]) -> Resp {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut headers = HeaderMap::new();
    for l in lines {
        if let Some((name, value)) = l.split_once(':') {
            if let (Ok(n), Ok(v)) = (
                HeaderName::try_from(name.trim()),
                HeaderValue::try_from(value.trim()),
            ) {
                headers.append(n, v);
            }
        }
    }
    Resp {
        status,
        headers,
        body: raw[end + 4..].to_vec(),
    }
}
