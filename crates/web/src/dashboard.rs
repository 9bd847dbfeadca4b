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

use std::convert::Infallible;
use std::net::IpAddr;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::Stream;
use net::registry::{family, RegistryEvent, SessionInfo, TraceLine, TraceWatch};
use serde::Serialize;
use serde_json::{json, Value};
use store::{Activity, Change};
use tokio::sync::broadcast::error::RecvError;

use crate::error::{ApiError, ApiPath, ApiQuery};
use crate::{App, ClientIp};

/// INBOX rows in the state snapshot (the newest ones).
pub const MAX_ROWS: usize = 500;
/// Text of a message in the plain-text view.
pub const MAX_TEXT: usize = 256 * 1024;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
                   form-action 'self'";
const HTML: &str = include_str!("../assets/dashboard.html");
const JS: &str = include_str!("../assets/dashboard.js");
const CSS: &str = include_str!("../assets/dashboard.css");

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

/// One INBOX row.
#[derive(Serialize, Debug, Clone)]
pub(crate) struct Row {
    uid: u32,
    flags: Vec<String>,
    from: Option<String>,
    subject: Option<String>,
    size: u64,
    date: Option<String>,
}

fn row(store: &store::Store, m: &store::MessageMeta) -> Result<Row, ApiError> {
    let env = store.structure(m.blob)?.envelope;
    Ok(Row {
        uid: m.uid,
        flags: m.flags.names().into_iter().map(String::from).collect(),
        from: env.from,
        subject: env.subject.map(crate::messages::decode_subject),
        size: m.size,
        date: env.date,
    })
}

fn session_json(s: &SessionInfo) -> Value {
    json!({
        "id": s.id,
        "protocol": s.protocol,
        "port": s.port,
        "tls": s.tls,
        "peer": s.peer.to_string(),
        "user": s.user,
        "mailbox": s.mailbox,
        "idle": s.idle,
        "started": s.started,
        "ended": s.ended,
    })
}

fn mailboxes_json(store: &store::Store, account: &store::Account) -> Result<Value, ApiError> {
    let mut out = Vec::new();
    for mb in store.mailboxes(account.id)? {
        out.push(json!({
            "name": mb.name,
            "messages": mb.exists,
            "unseen": mb.unseen,
            "special_use": mb.special_use.map(|s| s.attribute()),
        }));
    }
    Ok(Value::Array(out))
}

/// `GET /api/dashboard/state`: everything the page shows, as of now.
async fn state(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let admin = may_read(&app, ip, &headers, query.as_deref())?;
    let store = app.ctx.auth.store();
    let mut accounts = Vec::new();
    for a in store.accounts()? {
        let mut inbox = Vec::new();
        if let Some(mb) = store.mailbox(a.id, "INBOX")? {
            let metas = store.messages(mb.id)?;
            let skip = metas.len().saturating_sub(MAX_ROWS);
            for m in &metas[skip..] {
                inbox.push(row(store, m)?);
            }
        }
        accounts.push(json!({
            "address": a.address,
            "mailboxes": mailboxes_json(store, &a)?,
            "inbox": inbox,
        }));
    }
    let sessions: Vec<Value> = app
        .ctx
        .registry
        .sessions()
        .iter()
        .map(session_json)
        .collect();
    Ok(Json(json!({
        "admin": admin,
        "server": {
            "hostname": app.ctx.advertised.hostname,
            "ports": app.ctx.advertised.ports,
        },
        "accounts": accounts,
        "sessions": sessions,
    })))
}

#[derive(serde::Deserialize, Default)]
pub(crate) struct MailboxQuery {
    mailbox: Option<String>,
}

/// `GET /api/dashboard/messages/{addr}/{uid}`: header and body as plain text.
async fn message(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiPath((addr, uid)): ApiPath<(String, u32)>,
    ApiQuery(q): ApiQuery<MailboxQuery>,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    may_read(&app, ip, &headers, query.as_deref())?;
    let a = crate::api::account(&app, &addr)?;
    let store = app.ctx.auth.store();
    let name = q
        .mailbox
        .filter(|m| !m.is_empty())
        .unwrap_or("INBOX".into());
    let mb = store
        .mailbox(a.id, &name)?
        .ok_or_else(|| ApiError::NotFound(format!("{} has no mailbox {name:?}", a.address)))?;
    let meta = store
        .message(mb.id, uid)?
        .ok_or_else(|| ApiError::NotFound(format!("no message uid {uid} in {}", mb.name)))?;
    let raw = store.read_blob(meta.blob)?;
    let (header, text) = plain_text(&raw);
    Ok(Json(json!({
        "uid": uid,
        "mailbox": mb.name,
        "flags": meta.flags.names(),
        "header": header,
        "text": text,
    })))
}

/// The header block as text, and the first text/plain body decoded (else the raw body),
/// both capped at [`MAX_TEXT`].
fn plain_text(raw: &[u8]) -> (String, String) {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i + 2, i + 4))
        .or_else(|| {
            raw.windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i + 1, i + 2))
        });
    let (head, body) = match split {
        Some((h, b)) => (&raw[..h], &raw[b..]),
        None => (raw, &b""[..]),
    };
    // The first text part, decoded; an HTML-only message shows its source, never a
    // rendering (the page puts it in the DOM as text).
    let decoded = mail_parser::MessageParser::default()
        .parse(raw)
        .and_then(|m| {
            let id = *m.text_body.first()? as usize;
            match &m.parts.get(id)?.body {
                mail_parser::PartType::Text(t) | mail_parser::PartType::Html(t) => {
                    Some(t.to_string())
                }
                _ => None,
            }
        });
    let text = decoded.unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    (cap(String::from_utf8_lossy(head).into_owned()), cap(text))
}

fn cap(mut s: String) -> String {
    if s.len() > MAX_TEXT {
        let mut end = MAX_TEXT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("\n… (cut)");
    }
    s
}

/// How the feed names a session: `POP3 session 7 (alice@example.test, port 3995/TLS)`.
pub(crate) fn describe(s: &SessionInfo) -> String {
    let who = s.user.clone().unwrap_or_else(|| s.peer.to_string());
    let tls = if s.tls { "/TLS" } else { "" };
    format!(
        "{} session {} ({who}, port {}{tls})",
        s.family(),
        s.id,
        s.port
    )
}

fn uid_list(uids: &[u32]) -> String {
    let shown: Vec<String> = uids.iter().take(20).map(u32::to_string).collect();
    let more = if uids.len() > 20 {
        format!(" and {} more", uids.len() - 20)
    } else {
        String::new()
    };
    let noun = if uids.len() == 1 { "UID" } else { "UIDs" };
    format!("{noun} {}{more}", shown.join(", "))
}

/// Turns a store change into the feed's `change` event (None: the account is gone).
pub(crate) fn change_event(app: &App, act: &Activity) -> Option<Value> {
    let store = app.ctx.auth.store();
    let account = store.account_by_id(act.account).ok().flatten()?;
    let origin = (act.origin != 0)
        .then(|| app.ctx.registry.session(act.origin))
        .flatten();
    let who = origin
        .as_ref()
        .map(describe)
        .unwrap_or_else(|| "The server (REST API or command line)".into());
    let fam = origin.as_ref().map(|o| family(o.protocol));
    let mailbox_name = |id| {
        store
            .mailbox_by_id(id)
            .ok()
            .flatten()
            .map(|m| m.name)
            .unwrap_or_default()
    };
    let mut ev = json!({
        "account": account.address,
        "origin": origin.as_ref().map(session_json),
    });
    let (mailbox, what) = match &act.change {
        Change::Appended { mailbox, uid, .. } => {
            let name = mailbox_name(*mailbox);
            let r = store
                .message(*mailbox, *uid)
                .ok()
                .flatten()
                .and_then(|m| row(store, &m).ok());
            let verb = match fam {
                Some("SMTP") => "delivered",
                Some("IMAP") => "appended",
                _ => "added",
            };
            let subject = r
                .as_ref()
                .and_then(|r| r.subject.clone())
                .map(|s| format!(" “{s}”"))
                .unwrap_or_default();
            ev["kind"] = "appended".into();
            ev["uid"] = (*uid).into();
            ev["row"] = serde_json::to_value(&r).unwrap_or(Value::Null);
            let what = format!("{verb} UID {uid}{subject} to {} {name}", account.address);
            (name, what)
        }
        Change::FlagsChanged {
            mailbox,
            uid,
            flags,
            ..
        } => {
            let name = mailbox_name(*mailbox);
            let names = flags.names();
            ev["kind"] = "flags".into();
            ev["uid"] = (*uid).into();
            ev["flags"] = json!(names);
            let what = format!(
                "set flags ({}) on UID {uid} in {} {name}",
                names.join(" "),
                account.address
            );
            (name, what)
        }
        Change::Expunged { mailbox, uids, .. } => {
            let name = mailbox_name(*mailbox);
            ev["kind"] = "expunged".into();
            ev["uids"] = json!(uids);
            let what = match fam {
                // RFC 1939 §6: POP3 deletes in the UPDATE state, i.e. at QUIT.
                Some("POP3") => format!("deleted {} at QUIT", uid_list(uids)),
                Some("IMAP") => format!("expunged {}", uid_list(uids)),
                _ => format!("deleted {}", uid_list(uids)),
            };
            let what = format!("{what} from {} {name}", account.address);
            (name, what)
        }
        Change::MailboxCreated { name, .. } => {
            ev["kind"] = "mailbox_created".into();
            (
                name.clone(),
                format!("created mailbox {name} of {}", account.address),
            )
        }
        Change::MailboxRenamed { from, to, .. } => {
            ev["kind"] = "mailbox_renamed".into();
            ev["from"] = from.clone().into();
            (
                to.clone(),
                format!("renamed {from} to {to} of {}", account.address),
            )
        }
        Change::MailboxDeleted { name, .. } => {
            ev["kind"] = "mailbox_deleted".into();
            (
                name.clone(),
                format!("deleted mailbox {name} of {}", account.address),
            )
        }
    };
    // RFC 3501 §7: IMAP sessions with the mailbox selected get untagged EXISTS/EXPUNGE/FETCH;
    // the session that made the change is not counted.
    let notified = app
        .ctx
        .registry
        .watching("IMAP", &account.address, &mailbox)
        .iter()
        .filter(|s| s.id != act.origin)
        .count();
    let plural = if notified == 1 { "" } else { "s" };
    ev["mailbox"] = mailbox.into();
    ev["notified"] = notified.into();
    ev["text"] = format!("{who} {what} → {notified} IMAP session{plural} notified").into();
    Some(ev)
}

fn sse(name: &str, data: &Value) -> Event {
    Event::default().event(name).data(data.to_string())
}

struct Feed {
    app: App,
    sessions: tokio::sync::broadcast::Receiver<RegistryEvent>,
    changes: tokio::sync::broadcast::Receiver<Activity>,
    shutdown: net::Shutdown,
    /// Events produced but not yet handed out (a change yields `change` and `mailboxes`).
    queued: std::collections::VecDeque<Event>,
}

impl Feed {
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.queued.pop_front() {
                return Some(e);
            }
            tokio::select! {
                _ = self.shutdown.wait() => return None,
                ev = self.sessions.recv() => match ev {
                    Ok(RegistryEvent::Opened(s)) => return Some(session_event("opened", &s)),
                    Ok(RegistryEvent::Updated(s)) => return Some(session_event("updated", &s)),
                    Ok(RegistryEvent::Closed(s)) => return Some(session_event("closed", &s)),
                    Err(RecvError::Lagged(_)) => return Some(resync()),
                    Err(RecvError::Closed) => return None,
                },
                ev = self.changes.recv() => match ev {
                    Ok(act) => self.on_change(&act),
                    Err(RecvError::Lagged(_)) => return Some(resync()),
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    }

    fn on_change(&mut self, act: &Activity) {
        let Some(ev) = change_event(&self.app, act) else {
            return;
        };
        self.queued.push_back(sse("change", &ev));
        let store = self.app.ctx.auth.store();
        if let Ok(Some(account)) = store.account_by_id(act.account) {
            if let Ok(mbs) = mailboxes_json(store, &account) {
                self.queued.push_back(sse(
                    "mailboxes",
                    &json!({"account": account.address, "mailboxes": mbs}),
                ));
            }
        }
    }
}

fn session_event(kind: &str, s: &SessionInfo) -> Event {
    sse(
        "session",
        &json!({"kind": kind, "session": session_json(s)}),
    )
}

fn resync() -> Event {
    sse(
        "resync",
        &json!({"reason": "the feed fell behind; re-read the state"}),
    )
}

/// `GET /api/dashboard/events`: sessions and changes as they happen (SSE).
async fn events(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    may_read(&app, ip, &headers, query.as_deref())?;
    let feed = Feed {
        sessions: app.ctx.registry.subscribe(),
        changes: app.ctx.auth.store().subscribe_all(),
        shutdown: app.shutdown.clone(),
        queued: Default::default(),
        app,
    };
    let stream =
        futures_util::stream::unfold(
            feed,
            |mut f| async move { f.next().await.map(|e| (Ok(e), f)) },
        );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

fn line_event(l: &TraceLine) -> Event {
    sse(
        "line",
        &json!({"dir": l.dir.as_str(), "text": l.text, "tls": l.tls, "at": l.at}),
    )
}

struct TraceFeed {
    id: u64,
    backlog: std::collections::VecDeque<TraceLine>,
    rx: Option<TraceWatch>,
    shutdown: net::Shutdown,
    ended: bool,
}

impl TraceFeed {
    async fn next(&mut self) -> Option<Event> {
        if let Some(l) = self.backlog.pop_front() {
            return Some(line_event(&l));
        }
        if self.ended {
            return None;
        }
        let Some(rx) = self.rx.as_mut() else {
            self.ended = true;
            return Some(sse("end", &json!({"reason": "closed"})));
        };
        loop {
            tokio::select! {
                _ = self.shutdown.wait() => return None,
                ev = rx.sessions.recv() => match ev {
                    Ok(RegistryEvent::Closed(s)) if s.id == self.id => {
                        self.ended = true;
                        return Some(sse("end", &json!({"reason": "closed"})));
                    }
                    Ok(_) | Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                },
                ev = rx.lines.recv() => match ev {
                    Ok((id, line)) if id == self.id => return Some(line_event(&line)),
                    Ok(_) => continue,
                    Err(RecvError::Lagged(n)) => {
                        return Some(sse(
                            "line",
                            &json!({"dir": "-", "text": format!("({n} events skipped: the viewer fell behind)"),
                                    "tls": false, "at": net::registry::now_ms()}),
                        ))
                    }
                    Err(RecvError::Closed) => return None,
                },
            }
        }
    }
}

/// `GET /api/dashboard/sessions/{id}/trace`: the kept trace, then live lines (SSE).
async fn trace(
    State(app): State<App>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    ApiPath(id): ApiPath<u64>,
    RawQuery(query): RawQuery,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    may_read(&app, ip, &headers, query.as_deref())?;
    let Some((_, lines, rx)) = app.ctx.registry.trace(id) else {
        return Err(ApiError::NotFound(format!(
            "no session {id} (it may have ended long ago)"
        )));
    };
    let feed = TraceFeed {
        id,
        backlog: lines.into(),
        rx,
        shutdown: app.shutdown.clone(),
        ended: false,
    };
    let stream =
        futures_util::stream::unfold(
            feed,
            |mut f| async move { f.next().await.map(|e| (Ok(e), f)) },
        );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(uid_list(&[12]), "UID 12");
        assert_eq!(uid_list(&[1, 2]), "UIDs 1, 2");
    }
}
