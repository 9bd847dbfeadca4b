//! The live dashboard: a static page (`/`, `/assets/*`) and its JSON + Server-Sent Events
//! API under `/api/dashboard/`: accounts with their mailboxes and INBOX rows, the connected
//! sessions (from the [`net::Registry`]), a feed of store changes naming the session that made
//! each and how many IMAP sessions were told, and the live protocol trace of one session.
//!
//! # Invariants
//! - Read routes answer a loopback client without a token; anyone else needs the admin
//!   bearer token (401). Nothing here writes: the page's actions use the admin REST API.
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
//! - `feed`: the change feed (`events`) and a session's live trace (`trace`).

use std::net::IpAddr;

use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;
use crate::App;

mod feed;
mod state;

use feed::{events, trace};
use state::{message, state};

/// INBOX rows in the state snapshot (the newest ones).
pub const MAX_ROWS: usize = 500;
/// Text of a message in the plain-text view.
pub const MAX_TEXT: usize = 256 * 1024;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
                   form-action 'self'";
const HTML: &str = include_str!("../../assets/dashboard.html");
const JS: &str = include_str!("../../assets/dashboard.js");
const CSS: &str = include_str!("../../assets/dashboard.css");

pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/", get(page))
        .route("/assets/dashboard.js", get(script))
        .route("/assets/dashboard.css", get(style))
        .route("/api/dashboard/state", get(state))
        .route("/api/dashboard/events", get(events))
        .route("/api/dashboard/messages/{addr}/{uid}", get(message))
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

/// Loopback clients read freely; others need the admin token.
fn may_read(
    app: &App,
    ip: IpAddr,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<bool, ApiError> {
    let admin = is_admin(app, headers, query);
    if admin || ip.is_loopback() {
        Ok(admin)
    } else {
        Err(ApiError::Unauthorized)
    }
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
