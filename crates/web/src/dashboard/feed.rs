//! The dashboard's event streams: store changes with the session that made them and how many
//! IMAP sessions were told, session arrivals and departures, and one session's live trace.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use net::registry::{family, RegistryEvent, SessionInfo, TraceLine, TraceWatch};
use serde_json::{json, Value};
use store::{Activity, Change, Uid};
use tokio::sync::broadcast::error::RecvError;

use crate::error::{ApiError, ApiPath};
use crate::{App, ClientIp};

use super::state::{mailboxes_json, row, session_json};
use super::*;

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

pub(super) fn uid_list(uids: &[Uid]) -> String {
    let shown: Vec<String> = uids.iter().take(20).map(Uid::to_string).collect();
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
        // The feed turns it into a resync before it gets here.
        Change::Resync => return None,
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
            ev["uid"] = uid.get().into();
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
            ev["uid"] = uid.get().into();
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

pub(super) fn sse(name: &str, data: &Value) -> Event {
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
                    // Changes were lost between nodes (store::Change::Resync): as lagged.
                    Ok(act) if act.change == Change::Resync => return Some(resync()),
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

pub(super) fn session_event(kind: &str, s: &SessionInfo) -> Event {
    sse(
        "session",
        &json!({"kind": kind, "session": session_json(s)}),
    )
}

pub(super) fn resync() -> Event {
    sse(
        "resync",
        &json!({"reason": "the feed fell behind; re-read the state"}),
    )
}

/// `GET /api/dashboard/events`: sessions and changes as they happen (SSE).
pub(super) async fn events(
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

pub(super) fn line_event(l: &TraceLine) -> Event {
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
pub(super) async fn trace(
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
