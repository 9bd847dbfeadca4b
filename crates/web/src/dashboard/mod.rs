//! The live dashboard: a static page (`/`, `/assets/*`) and its JSON + Server-Sent Events
//! API under `/api/dashboard/`: accounts with their mailboxes and INBOX rows, the connected
//! sessions (from the [`net::Registry`]), a feed of store changes naming the session that made
//! each and how many IMAP sessions were told, and the live protocol trace of one session.
//!
//! # Invariants
//! - Read routes answer a loopback client without a token, but only when its `Host` is a name
//!   this server is configured for (`localhost` and `*.localhost`, the configured host name, an
//!   IP literal; 421 otherwise), so a web page that rebinds its DNS name to 127.0.0.1 reads
//!   nothing (docs/spec.md §6.4). Anyone else needs the admin bearer token (401); with the
//!   token any `Host` is answered. Nothing here writes: the page's actions use the admin REST
//!   API.
//! - The page is served with a strict Content-Security-Policy (`script-src 'self'`, no
//!   inline script): message text reaches the DOM only as text, and even markup that slipped
//!   through could not run.
//! - Feeds subscribe before they read the snapshot they start from, and a lagging watcher gets
//!   a `resync` event (re-read the state) instead of a silently incomplete feed.
//! - Streams end when the server shuts down, so graceful shutdown is not held up.
//!
//! # Layout
//! - this file: routes, static assets, who may read;
//! - `state`: the state snapshot and the plain-text message view;
//! - `view`: a message's HTML part (sandboxed frame), source and attachments;
//! - `feed`: the change feed (`events`) and a session's live trace (`trace`).

use std::net::IpAddr;

use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, HOST};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;
use crate::App;

mod feed;
mod state;
mod view;

use feed::{events, trace};
use state::{message, state};

/// INBOX rows in the state snapshot (the newest ones).
pub const MAX_ROWS: usize = 500;
/// Text of a message in the plain-text view.
pub const MAX_TEXT: usize = 256 * 1024;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; \
                   frame-ancestors 'none'; form-action 'self'";
const HTML: &str = include_str!("../../assets/dashboard.html");
const JS: &str = include_str!("../../assets/dashboard.js");
const JS_UTIL: &str = include_str!("../../assets/dashboard-util.js");
const JS_DRAWER: &str = include_str!("../../assets/dashboard-drawer.js");
const JS_BACKUP: &str = include_str!("../../assets/dashboard-backup.js");
const CSS: &str = include_str!("../../assets/dashboard.css");

pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/", get(page))
        .route("/assets/dashboard.js", get(script))
        .route(
            "/assets/dashboard-util.js",
            get(|| async { asset("text/javascript; charset=utf-8", JS_UTIL) }),
        )
        .route(
            "/assets/dashboard-drawer.js",
            get(|| async { asset("text/javascript; charset=utf-8", JS_DRAWER) }),
        )
        .route(
            "/assets/dashboard-backup.js",
            get(|| async { asset("text/javascript; charset=utf-8", JS_BACKUP) }),
        )
        .route("/assets/dashboard.css", get(style))
        .route("/api/dashboard/state", get(state))
        .route("/api/dashboard/events", get(events))
        .route("/api/dashboard/messages/{addr}/{uid}", get(message))
        .route("/api/dashboard/messages/{addr}/{uid}/html", get(view::html))
        .route(
            "/api/dashboard/messages/{addr}/{uid}/raw",
            get(view::source),
        )
        .route(
            "/api/dashboard/messages/{addr}/{uid}/attachments/{index}",
            get(view::attachment),
        )
        .route("/api/dashboard/sessions/{id}/trace", get(trace))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    // The CSP's `frame-ancestors 'none'` for browsers that only know the older header.
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

async fn page() -> Response {
    asset("text/html; charset=utf-8", HTML)
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", JS)
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

/// Whether the request carries the admin token: `Authorization: Bearer` (RFC 6750 §2.1) or,
/// for the event streams a browser's EventSource opens without headers, the `access_token`
/// query parameter (RFC 6750 §2.3). The request log never prints query strings.
fn is_admin(app: &App, headers: &HeaderMap, query: Option<&str>) -> bool {
    let expected = app.ctx.admin_token.expose().as_bytes();
    let matches =
        |token: &[u8]| !expected.is_empty() && crate::api::constant_time_eq(token, expected);
    let header = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .is_some_and(|(_, token)| matches(token.trim().as_bytes()));
    header
        || query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter_map(|kv| kv.strip_prefix("access_token="))
            .any(|t| matches(percent_decode(t).as_bytes()))
}

/// Decodes `%XX` escapes and `+` of a query value (tokens are hex, but browsers may escape).
fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let escaped = match (b[i], b.get(i + 1), b.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex(h).zip(hex(l)).map(|(h, l)| (h * 16 + l) as u8),
            _ => None,
        };
        match (escaped, b[i]) {
            (Some(v), _) => {
                out.push(v);
                i += 3;
                continue;
            }
            (None, b'+') => out.push(b' '),
            (None, c) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Loopback clients read freely when they name this server in `Host`; others need the admin
/// token. Returns whether the request is the admin's.
pub(super) fn may_read(
    app: &App,
    ip: IpAddr,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<bool, ApiError> {
    if is_admin(app, headers, query) {
        return Ok(true);
    }
    if !ip.is_loopback() {
        return Err(ApiError::Unauthorized);
    }
    // docs/spec.md §6.4: DNS rebinding. A page from evil.example whose name now resolves to
    // 127.0.0.1 reaches us from loopback, but its browser still sends `Host: evil.example`.
    match headers.get(HOST).map(|h| h.to_str()) {
        // No Host at all is not a browser (HTTP/1.0 tools, in-memory tests).
        None => Ok(false),
        Some(Ok(host)) if is_own_host(host, &app.ctx.advertised.hostname) => Ok(false),
        Some(host) => Err(ApiError::Misdirected(format!(
            "Host {:?} is not a name of this server: without the admin token the dashboard \
             answers only for localhost, {:?} and IP addresses (a defence against DNS \
             rebinding); open it as http://localhost:PORT/ or send the admin token",
            host.unwrap_or("(not text)"),
            app.ctx.advertised.hostname
        ))),
    }
}

/// Whether `host` (a `Host` header value, RFC 9110 §7.2: name or IP literal, optional port)
/// names this server: `localhost` or a name under it (RFC 6761 §6.3: always loopback, never
/// looked up in DNS), the configured host name, or an IP address literal (rebinding needs a
/// name).
pub(crate) fn is_own_host(host: &str, hostname: &str) -> bool {
    let host = host.trim();
    // `[v6]` or `[v6]:port`.
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split_once(']').is_some_and(|(ip, port)| {
            ip.parse::<std::net::Ipv6Addr>().is_ok()
                && (port.is_empty() || port.strip_prefix(':').is_some_and(is_port))
        });
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if is_port(port) => name,
        Some(_) => return false,
        None => host,
    };
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return true;
    }
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let configured = hostname.strip_suffix('.').unwrap_or(hostname);
    !name.is_empty()
        && (name == "localhost"
            || name.ends_with(".localhost")
            || name.eq_ignore_ascii_case(configured))
}

fn is_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::feed::{describe, uid_list};
    use super::state::{cap, plain_text};
    use super::*;
    use net::registry::SessionInfo;

    #[test]
    fn plain_text_splits_header_and_decodes_body() {
        let raw = b"Subject: hi\r\nContent-Type: text/plain; charset=utf-8\r\n\
                    Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe <b>\r\n";
        let (h, t) = plain_text(raw);
        assert!(h.starts_with("Subject: hi\r\n"));
        assert!(!h.contains("Gr"));
        assert_eq!(t.trim_end(), "Grüße <b>");
    }

    #[test]
    fn plain_text_without_body() {
        let (h, t) = plain_text(b"Subject: only a header");
        assert_eq!(h, "Subject: only a header");
        assert_eq!(t, "");
    }

    #[test]
    fn query_values_are_percent_decoded() {
        assert_eq!(percent_decode("ab%2Fc+d"), "ab/c d");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }

    #[test]
    fn own_host_names() {
        let own = |h: &str| is_own_host(h, "mail.example.test");
        for h in [
            "localhost",
            "LOCALHOST:3080",
            "localhost.",
            "dash.localhost:80",
            "127.0.0.1",
            "127.0.0.1:3080",
            "10.1.2.3:8080",
            "[::1]",
            "[::1]:3080",
            "mail.example.test",
            "Mail.Example.Test:3080",
        ] {
            assert!(own(h), "{h}");
        }
        for h in [
            "evil.example",
            "evil.example:3080",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "mail.example.test.evil.example",
            "[::1",
            "[evil]:80",
            "localhost:http",
            "",
            ":3080",
        ] {
            assert!(!own(h), "{h}");
        }
    }

    #[test]
    fn cap_cuts_on_a_char_boundary() {
        let s = "é".repeat(MAX_TEXT);
        let c = cap(s);
        assert!(c.len() <= MAX_TEXT + 16);
        assert!(c.ends_with("(cut)"));
    }

    #[test]
    fn describe_names_protocol_user_port_and_tls() {
        let s = SessionInfo {
            id: 7,
            protocol: "pop3s",
            port: 3995,
            tls: true,
            peer: "127.0.0.1:5000".parse().expect("addr"),
            user: Some("alice@example.test".into()),
            mailbox: Some("INBOX".into()),
            idle: false,
            started: 0,
            ended: None,
        };
        assert_eq!(
            describe(&s),
            "POP3 session 7 (alice@example.test, port 3995/TLS)"
        );
        assert_eq!(uid_list(&[store::Uid::new(12)]), "UID 12");
        assert_eq!(uid_list(&[1, 2].map(store::Uid::new)), "UIDs 1, 2");
    }
}
