//! Message routes of the admin API: list (with filters and a long-poll wait), raw download,
//! delete, inject, and the captured outbound mail (purge: `backup::routes`).
//!
//! Header fields in listings are the raw (unfolded) values cached at delivery in
//! `store.structure(blob).envelope`, except the subject, whose RFC 2047 encoded words are
//! decoded so a test can look for `Grüße` as it wrote it. Filters match case-insensitively as
//! substrings.

use std::time::Duration;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use store::Uid;
use tokio::sync::broadcast::error::RecvError;

use crate::api::{account, resolve};
use crate::error::{ApiBytes, ApiError, ApiPath, ApiQuery};
use crate::App;

/// Longest accepted `wait` (a longer one is shortened, not refused).
pub const MAX_WAIT: Duration = Duration::from_secs(120);

/// Query of the listing routes.
#[derive(Deserialize, Default)]
pub(crate) struct ListQuery {
    /// Mailbox name (default INBOX, case-insensitive).
    mailbox: Option<String>,
    /// Long-poll: `10s`, `500ms`, `2m` or plain seconds; at most [`MAX_WAIT`].
    wait: Option<String>,
    subject: Option<String>,
    from: Option<String>,
    to: Option<String>,
    /// Only messages with a higher UID (with `wait`: wait for any new message).
    after_uid: Option<u32>,
}

/// `?mailbox=` of the single-message routes.
#[derive(Deserialize, Default)]
pub(crate) struct MailboxQuery {
    pub(crate) mailbox: Option<String>,
}

/// One message in a listing.
#[derive(Serialize, Debug)]
pub(crate) struct MessageView {
    uid: Uid,
    mailbox: String,
    flags: Vec<String>,
    from: Option<String>,
    to: Option<String>,
    subject: Option<String>,
    /// The Date: header as written.
    date: Option<String>,
    size: u64,
    /// INTERNALDATE, unix seconds.
    received: i64,
}

/// Parses a wait duration: `10s`, `250ms`, `2m`, `10` (seconds).
pub(crate) fn parse_wait(s: &str) -> Result<Duration, ApiError> {
    let s = s.trim();
    let bad = || ApiError::BadRequest(format!("invalid wait {s:?}: use e.g. 10s, 500ms or 2m"));
    let (digits, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        _ => return Err(bad()),
    };
    Ok(d.min(MAX_WAIT))
}

fn mailbox_of(
    app: &App,
    a: &store::Account,
    name: Option<&str>,
) -> Result<store::Mailbox, ApiError> {
    let name = name.filter(|n| !n.is_empty()).unwrap_or("INBOX");
    app.ctx
        .auth
        .store()
        .mailbox(a.id, name)?
        .ok_or_else(|| ApiError::NotFound(format!("{} has no mailbox {name:?}", a.address)))
}

fn contains(field: &Option<String>, needle: &Option<String>) -> bool {
    match needle.as_deref().filter(|n| !n.is_empty()) {
        None => true,
        Some(n) => field
            .as_deref()
            .is_some_and(|f| f.to_lowercase().contains(&n.to_lowercase())),
    }
}

/// The messages of `mb` that pass the filters.
fn matching(app: &App, mb: &store::Mailbox, q: &ListQuery) -> Result<Vec<MessageView>, ApiError> {
    let store = app.ctx.auth.store();
    let mut out = Vec::new();
    let after = q.after_uid.unwrap_or(0);
    for m in store.messages(mb.id)? {
        if m.uid.get() <= after {
            continue;
        }
        let mut env = store.structure(m.blob)?.envelope;
        env.subject = env.subject.map(decode_subject);
        if !(contains(&env.subject, &q.subject)
            && contains(&env.from, &q.from)
            && contains(&env.to, &q.to))
        {
            continue;
        }
        out.push(MessageView {
            uid: m.uid,
            mailbox: mb.name.clone(),
            flags: m.flags.names().into_iter().map(String::from).collect(),
            from: env.from,
            to: env.to,
            subject: env.subject,
            date: env.date,
            size: m.size,
            received: m.internaldate,
        });
    }
    Ok(out)
}

/// RFC 2047 §6: decodes encoded words in a raw Subject value (unchanged when there are none or
/// mail-parser cannot read it).
pub(crate) fn decode_subject(raw: String) -> String {
    if !raw.contains("=?") {
        return raw;
    }
    let header = format!("Subject: {raw}\r\n\r\n");
    match mail_parser::MessageParser::default().parse(header.as_bytes()) {
        Some(m) => m.subject().map(str::to_string).unwrap_or(raw),
        None => raw,
    }
}

/// Lists, and with `wait` long-polls until a matching message exists or the time is up.
///
/// Subscribing happens before the first look, so a message appended between the look and the
/// wait is still seen. Only appends to this mailbox (or a lagged channel) trigger a new look.
async fn list_or_wait(
    app: &App,
    a: &store::Account,
    q: &ListQuery,
) -> Result<Vec<MessageView>, ApiError> {
    let wait = q.wait.as_deref().map(parse_wait).transpose()?;
    let mb = mailbox_of(app, a, q.mailbox.as_deref())?;
    let Some(wait) = wait.filter(|w| !w.is_zero()) else {
        return matching(app, &mb, q);
    };
    let deadline = tokio::time::Instant::now() + wait;
    let mut changes = app.ctx.auth.store().subscribe(a.id);
    let mut shutdown = app.shutdown.clone();
    loop {
        let found = matching(app, &mb, q)?;
        if !found.is_empty() {
            return Ok(found);
        }
        loop {
            tokio::select! {
                change = changes.recv() => match change {
                    Ok(store::Change::Appended { mailbox, .. }) if mailbox == mb.id => break,
                    Ok(store::Change::Resync) => break,
                    Ok(_) => continue,
                    Err(RecvError::Lagged(_)) => break,
                    // The channel is gone (account deleted): nothing more will arrive.
                    Err(RecvError::Closed) => return Ok(found),
                },
                _ = tokio::time::sleep_until(deadline) => return Ok(found),
                _ = shutdown.wait() => return Ok(found),
            }
        }
    }
}

/// `GET /api/accounts/{addr}/messages?mailbox=&wait=&subject=&from=&to=&after_uid=`
pub(crate) async fn list(
    State(app): State<App>,
    ApiPath(addr): ApiPath<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<MessageView>>, ApiError> {
    let a = resolve(&app, &addr)?;
    Ok(Json(list_or_wait(&app, &a, &q).await?))
}

/// `GET /api/captured`: outbound mail held by `outbound = "capture"` (the capture account's
/// mailbox, INBOX by default); same filters and wait as the account listing.
pub(crate) async fn captured(
    State(app): State<App>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<MessageView>>, ApiError> {
    let Some(addr) = app.ctx.capture_account.clone() else {
        return Err(ApiError::NotFound(
            "outbound capture is off (outbound = \"reject\")".into(),
        ));
    };
    let a = account(&app, &addr)?;
    Ok(Json(list_or_wait(&app, &a, &q).await?))
}

/// `GET /api/accounts/{addr}/messages/{uid}/raw[?mailbox=]`: the stored RFC 5322 bytes.
pub(crate) async fn raw(
    State(app): State<App>,
    ApiPath((addr, uid)): ApiPath<(String, Uid)>,
    ApiQuery(q): ApiQuery<MailboxQuery>,
) -> Result<Response, ApiError> {
    let a = resolve(&app, &addr)?;
    let mb = mailbox_of(&app, &a, q.mailbox.as_deref())?;
    let store = app.ctx.auth.store();
    let Some(meta) = store.message(mb.id, uid)? else {
        return Err(ApiError::NotFound(format!(
            "no message uid {uid} in {}",
            mb.name
        )));
    };
    let bytes = store.read_blob(meta.blob)?;
    Ok(([(CONTENT_TYPE, "message/rfc822")], bytes).into_response())
}

/// `DELETE /api/accounts/{addr}/messages/{uid}[?mailbox=]`: expunged at once (IMAP sessions
/// see EXPUNGE, POP3 sessions get -ERR on RETR).
pub(crate) async fn delete(
    State(app): State<App>,
    ApiPath((addr, uid)): ApiPath<(String, Uid)>,
    ApiQuery(q): ApiQuery<MailboxQuery>,
) -> Result<StatusCode, ApiError> {
    let a = resolve(&app, &addr)?;
    let mb = mailbox_of(&app, &a, q.mailbox.as_deref())?;
    let removed = app.ctx.auth.store().expunge(a.id, mb.id, &[uid]).await?;
    if removed.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no message uid {uid} in {}",
            mb.name
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/accounts/{addr}/messages[?mailbox=]` with the raw message as body: stored like
/// `mailstack deliver` (no Received: added, quota enforced → 507). 201 with the new UID.
pub(crate) async fn inject(
    State(app): State<App>,
    ApiPath(addr): ApiPath<String>,
    ApiQuery(q): ApiQuery<MailboxQuery>,
    ApiBytes(body): ApiBytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let a = resolve(&app, &addr)?;
    let mb = mailbox_of(&app, &a, q.mailbox.as_deref())?;
    if body.is_empty() {
        return Err(ApiError::BadRequest(
            "empty body: send the raw RFC 5322 message".into(),
        ));
    }
    store_message(&app, &a, &mb, &body).await
}

/// Stores `body` in `mb` as it is (no Received:, quota enforced → 507): 201 with the UID.
/// `POST …/messages`, and `POST …/deliver` for an account without a Sieve script.
pub(crate) async fn store_message(
    app: &App,
    a: &store::Account,
    mb: &store::Mailbox,
    body: &[u8],
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let req = store::AppendRequest {
        bytes: body,
        ..Default::default()
    };
    let (uidvalidity, uid) = app
        .ctx
        .auth
        .store()
        .append(a.id, mb.id, req)
        .await
        .map_err(|e| over_quota(a, e))?;
    Ok((
        StatusCode::CREATED,
        Json(
            serde_json::json!({ "account": a.address, "mailbox": mb.name, "uid": uid, "uidvalidity": uidvalidity }),
        ),
    ))
}

/// A store error, with a full mailbox named as the account's (507).
pub(crate) fn over_quota(a: &store::Account, e: store::Error) -> ApiError {
    match e {
        store::Error::OverQuota => {
            ApiError::OverQuota(format!("{}'s mailbox is full (quota exceeded)", a.address))
        }
        e => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_decoded() {
        assert_eq!(
            decode_subject("=?UTF-8?Q?Gr=C3=BC=C3=9Fe?= aus Bern".into()),
            "Grüße aus Bern"
        );
        assert_eq!(decode_subject("=?utf-8?b?SGFsbG8=?=".into()), "Hallo");
        assert_eq!(decode_subject("plain =? text".into()), "plain =? text");
        assert_eq!(decode_subject("no words".into()), "no words");
    }

    #[test]
    fn wait_durations() {
        assert_eq!(parse_wait("10s").ok(), Some(Duration::from_secs(10)));
        assert_eq!(parse_wait("10").ok(), Some(Duration::from_secs(10)));
        assert_eq!(parse_wait("250ms").ok(), Some(Duration::from_millis(250)));
        assert_eq!(parse_wait("2m").ok(), Some(MAX_WAIT));
        assert_eq!(parse_wait("1m").ok(), Some(Duration::from_secs(60)));
        assert_eq!(parse_wait("99999999999999999999m").ok(), None);
        assert_eq!(parse_wait("18446744073709551615m").ok(), Some(MAX_WAIT));
        for bad in ["", "s", "10h", "-1s", "1.5s", "ten"] {
            assert!(parse_wait(bad).is_err(), "{bad}");
        }
    }
}
