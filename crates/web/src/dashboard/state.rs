//! The dashboard's state snapshot (accounts, mailboxes, INBOX rows, sessions) and the
//! plain-text view of one message.

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::Json;
use net::registry::SessionInfo;
use serde::Serialize;
use serde_json::{json, Value};
use store::Uid;

use crate::error::{ApiError, ApiPath};
use crate::{App, ClientIp};

use super::*;

/// One INBOX row.
#[derive(Serialize, Debug, Clone)]
pub(crate) struct Row {
    uid: Uid,
    flags: Vec<String>,
    from: Option<String>,
    pub(super) subject: Option<String>,
    size: u64,
    date: Option<String>,
}

pub(super) fn row(store: &store::Store, m: &store::MessageMeta) -> Result<Row, ApiError> {
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

pub(super) fn session_json(s: &SessionInfo) -> Value {
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

pub(super) fn mailboxes_json(
    store: &store::Store,
    account: &store::Account,
) -> Result<Value, ApiError> {
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

/// What the account's Sieve script does (docs/spec.md §6.5): the active script's name and the
/// forward / vacation settings of `mailstack forward` / `mailstack vacation`.
pub(super) fn sieve_json(
    store: &store::Store,
    account: &store::Account,
) -> Result<Value, ApiError> {
    let active = store.active_sieve_script(account.id)?.map(|(name, _)| name);
    let settings = crate::sieve_settings::settings(store, account.id)?;
    Ok(json!({
        "active": active,
        "forward": settings.forward,
        "vacation": settings.vacation,
    }))
}

/// `GET /api/dashboard/state`: everything the page shows, as of now.
pub(super) async fn state(
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
            "sieve": sieve_json(store, &a)?,
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

/// `GET /api/dashboard/messages/{addr}/{uid}`: header and body as plain text.
pub(super) async fn message(
    reader: super::view::Reader,
    ApiPath((addr, uid)): ApiPath<(String, Uid)>,
) -> Result<Json<Value>, ApiError> {
    let (mb, meta, raw) = reader.message(&addr, uid)?;
    let (header, text) = plain_text(&raw);
    Ok(Json(json!({
        "uid": uid,
        "mailbox": mb.name,
        "flags": meta.flags.names(),
        "header": header,
        "text": text,
        "html": super::view::html_part(&raw).is_some(),
        "attachments": super::view::attachments(&raw),
        "size": raw.len(),
    })))
}

/// The header block as text, and the first text/plain body decoded (else the raw body),
/// both capped at [`MAX_TEXT`].
pub(super) fn plain_text(raw: &[u8]) -> (String, String) {
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

pub(super) fn cap(mut s: String) -> String {
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
