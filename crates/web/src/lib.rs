//! The HTTP listener of mailstack (axum): client autoconfiguration, password change for
//! webmail (Roundcube's `password` plugin, `httpapi` driver) and a JSON REST API that tests use
//! to create accounts and to inspect, inject and await mail.
//!
//! # Layout
//! - this file: [`Advertised`], [`Ctx`], [`router`] (the route table) and [`serve`].
//! - `autoconfig`: Mozilla `config-v1.1.xml` and Microsoft Autodiscover (POX) documents.
//! - `apple`: the Apple `.mobileconfig` profile.
//! - `dns`: [`dns_records`] — RFC 6186 SRV records and autoconfig CNAMEs to publish.
//! - `password`: `POST /api/password` (form fields `user`, `curpass`, `newpass`).
//! - `api`: the admin guard (bearer token) and account routes; `messages`: message routes,
//!   including the long-poll wait.
//! - `backup`: export (mbox, Maildir, tar archives), import and purge, for the routes
//!   `…/export`, `…/import`, `…/purge` and for the CLI.
//! - `openapi`: the OpenAPI 3 document served at `/api/openapi.json`.
//! - `dashboard`: the live dashboard page (`/`) and its state, SSE feed and trace routes
//!   under `/api/dashboard/`.
//! - `error`: [`ApiError`](error::ApiError) and extractors that answer malformed input with 400.
//!
//! # Invariants
//! - Every document that names a port (autoconfig, autodiscover, mobileconfig, DNS records) is
//!   built from [`Advertised`], i.e. from the live listeners; a listener that is off is absent.
//! - The dashboard's read routes answer a token-less loopback request only for a `Host` that
//!   names this server (docs/spec.md §6.4); `POST /api/accounts` only for a local domain
//!   (docs/spec.md §4.1) unless [`Ctx::accept_any_domain`].
//! - Admin routes answer 401 before reading the body unless `Authorization: Bearer <token>`
//!   matches [`Ctx::admin_token`] (compared in constant time); an empty token matches nothing.
//! - Error bodies are `{"error": "..."}`; server-side failures are logged and answered with a
//!   generic 500. Request bodies are capped (64 KiB; 50 MiB for message injection, 128 MiB
//!   for an mbox import).
//! - Waiting for mail subscribes to the store's change channel before the first look, so a
//!   message appended in between is never missed; no polling loop, no sleep.
//!
//! # Standards
//! | document | status |
//! |---|---|
//! | Mozilla autoconfig `config-v1.1.xml` | Yes |
//! | Microsoft Autodiscover POX (outlook 2006a response schema) | Partial (IMAP, POP3, SMTP settings only) |
//! | Apple configuration profile `com.apple.mail.managed` | Yes (unsigned) |
//! | RFC 6186 SRV records for mail submission/access | Yes (printed, not served) |
//! | RFC 8314 §5.1 implicit TLS preferred in SRV priorities | Yes |
//! | RFC 6750 §3 `WWW-Authenticate: Bearer` on 401 | Yes |
//! | RFC 9110 §15.5.20 421 Misdirected Request (dashboard reads for a foreign `Host`) | Yes |
//! | RFC 6761 §6.3 `localhost` names are loopback (trusted `Host` for the dashboard) | Yes |
//! | OpenAPI 3.0 document | Yes |
#![forbid(unsafe_code)]

mod aliases;
mod api;
mod apple;
mod autoconfig;
pub mod backup;
pub mod client;
mod dashboard;
mod dns;
pub mod error;
mod faults;
mod messages;
mod openapi;
mod openapi_sieve;
mod password;
pub mod server;
mod sieve;
pub mod sieve_settings;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

pub use dns::dns_records;
/// Every (method, path) served, as named in the OpenAPI document.
pub use openapi::{routes, ROUTES};

/// What the live listeners are, for autoconfig: service name ("imap", "imaps", "pop3",
/// "pop3s", "submission", "submissions", "smtp") → port. Only listeners that are on appear.
#[derive(Clone, Debug, Default)]
pub struct Advertised {
    /// The host name clients connect to (must match the TLS certificate).
    pub hostname: String,
    pub ports: BTreeMap<String, u16>,
    /// The local CA that signed the server certificate, DER, when mailstack generated it
    /// (docs/spec.md §7.3): the Apple profile carries it so the device trusts the server.
    /// `None` for a certificate from a public CA.
    pub ca_certificate: Option<Vec<u8>>,
}

impl Advertised {
    /// The port of `service`, if that listener is on.
    pub(crate) fn port(&self, service: &str) -> Option<u16> {
        self.ports.get(service).copied()
    }
}

/// Everything the HTTP handlers share.
#[derive(Clone)]
pub struct Ctx {
    pub auth: auth::Auth,
    pub advertised: Advertised,
    /// Guards the admin routes (`Authorization: Bearer <token>`); empty = admin routes refused.
    pub admin_token: auth::Secret<String>,
    /// The catch-all account that holds captured outbound mail (`outbound = "capture"`).
    pub capture_account: Option<String>,
    /// The live sessions of the mail listeners (dashboard).
    pub registry: net::Registry,
    /// The fault rules every daemon of the process consults (`/api/faults`, docs/spec.md §7.7).
    pub faults: net::faults::Faults,
    /// `serve --ephemeral --accept-any`: every domain is local, so `POST /api/accounts` takes
    /// any address (docs/spec.md §7.2). Otherwise an account must be in a local domain
    /// (docs/spec.md §4.1).
    pub accept_any_domain: bool,
}

/// Router state: the context plus the server's shutdown signal, so long polls end at once
/// when the server stops instead of holding graceful shutdown for their whole wait.
#[derive(Clone)]
pub(crate) struct App {
    pub ctx: Ctx,
    pub shutdown: net::Shutdown,
}

/// Body limit of every route but message injection.
pub const BODY_LIMIT: usize = 64 * 1024;
/// Body limit of message injection: the largest message SMTP and IMAP accept (docs/spec.md §8).
pub const INJECT_LIMIT: usize = 50 * 1024 * 1024;

/// The full route table (no connection info: handlers fall back to an unspecified client
/// address for throttling; tests can add `axum::extract::connect_info::MockConnectInfo`).
pub fn router(ctx: Ctx) -> Router {
    build(App {
        ctx,
        shutdown: net::Shutdown::never(),
    })
}

fn build(app: App) -> Router {
    let admin = api::admin_routes().route_layer(axum::middleware::from_fn_with_state(
        app.clone(),
        api::require_admin,
    ));
    Router::new()
        .route(
            "/.well-known/autoconfig/mail/config-v1.1.xml",
            get(autoconfig::mozilla),
        )
        .route("/mail/config-v1.1.xml", get(autoconfig::mozilla))
        .route(
            "/autodiscover/autodiscover.xml",
            post(autoconfig::autodiscover),
        )
        .route(
            "/Autodiscover/Autodiscover.xml",
            post(autoconfig::autodiscover),
        )
        .route("/apple/mailstack.mobileconfig", get(apple::mobileconfig))
        .route("/api/password", post(password::change))
        .route("/api/openapi.json", get(openapi::document))
        .merge(admin)
        .merge(dashboard::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(app)
}

async fn not_found() -> error::ApiError {
    error::ApiError::NotFound("no such route; see /api/openapi.json".into())
}

/// One debug line per request: method, path (no query: it may hold an address) and status.
async fn log_request(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = next.run(req).await;
    tracing::debug!(%method, %path, status = resp.status().as_u16(), "http");
    resp
}

/// Serves HTTP on `listener` until `shutdown` fires, then finishes in-flight requests (long
/// polls return at once) and returns within [`net::listen::SHUTDOWN_GRACE`]. Connections
/// count against `limiter`, the one the mail listeners share; headers must arrive within
/// [`server::HEADER_TIMEOUT`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    ctx: Ctx,
    limiter: net::Limiter,
    shutdown: net::Shutdown,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        // The binary announces its listeners (one line each); this is for debugging.
        tracing::debug!(%addr, "http listening");
    }
    let app = build(App {
        ctx,
        shutdown: shutdown.clone(),
    });
    server::run(listener, None, app, limiter, shutdown).await
}

/// [`serve`] over TLS with the mail certificate (handshakes in the connection's own task).
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    acceptor: net::TlsAcceptor,
    ctx: Ctx,
    limiter: net::Limiter,
    shutdown: net::Shutdown,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::debug!(%addr, "https listening");
    }
    let app = build(App {
        ctx,
        shutdown: shutdown.clone(),
    });
    server::run(listener, Some(acceptor), app, limiter, shutdown).await
}

/// The client's address for login throttling: the TCP peer (proxies' `X-Forwarded-For` is not
/// trusted: the listener is loopback-only by default).
pub(crate) struct ClientIp(pub std::net::IpAddr);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        // The extractor also honours `MockConnectInfo` (tests).
        let info = axum::extract::ConnectInfo::<SocketAddr>::from_request_parts(parts, state).await;
        let ip = info
            .map(|c| c.0.ip())
            .unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
        Ok(ClientIp(ip))
    }
}

/// `Content-Disposition` of a download named `name`: RFC 6266 §4.3, an ASCII fallback and
/// the UTF-8 name (RFC 8187).
pub(crate) fn attachment_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._- ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        percent_encode(name)
    )
}

/// Percent-encodes every byte but RFC 3986 §2.3's unreserved characters: a query value, a
/// path segment, or an RFC 8187 `filename*` value (a subset of its attr-chars).
pub fn percent_encode(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// Escapes text for XML element content and attribute values.
pub(crate) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}
