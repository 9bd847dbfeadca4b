//! The backup and cleanup routes of the admin API (docs/spec.md §7.8):
//! `GET /api/accounts/{addr}/export?mailbox=&format=`, `POST /api/accounts/{addr}/import?mailbox=`
//! (an mbox file as the body) and `POST /api/accounts/{addr}/purge?mailbox=&older_than=&
//! larger_than=&dry_run=` (without parameters: every message of every mailbox, as before).

use std::io::{self, Write};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::HeaderValue;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use tokio::sync::mpsc;

use super::tar::TarWriter;
use super::{mbox, Criteria, Error, Format, Sink};
use crate::api::resolve;
use crate::error::{ApiBytes, ApiError, ApiPath, ApiQuery};
use crate::messages::MailboxQuery;
use crate::App;

/// Body limit of `POST …/import`: the CLI sends a large mailbox in parts of at most 32 MiB
/// (or one message, at most 50 MiB).
pub const IMPORT_LIMIT: usize = 128 << 20;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::Store(e) => e.into(),
            Error::Invalid(why) => ApiError::BadRequest(why),
            Error::Io(e) => ApiError::Internal(e.to_string()),
        }
    }
}

/// The mailbox `name` of `a`, or 404.
fn mailbox(app: &App, a: &store::Account, name: &str) -> Result<store::Mailbox, ApiError> {
    app.ctx
        .auth
        .store()
        .mailbox(a.id, name)?
        .ok_or_else(|| ApiError::NotFound(format!("{} has no mailbox {name:?}", a.address)))
}

/// `?mailbox=` when given and not empty.
fn given(name: &Option<String>) -> Option<&str> {
    name.as_deref().filter(|n| !n.is_empty())
}

#[derive(Deserialize, Default)]
pub(crate) struct ExportQuery {
    /// One mailbox; every mailbox when absent.
    mailbox: Option<String>,
    /// `mbox` (default) or `maildir`.
    format: Option<Format>,
}

/// `GET /api/accounts/{addr}/export`: one mailbox as mbox (`application/mbox`, RFC 4155), or
/// a tar archive (every mailbox as mbox files, or Maildir / Maildir++). Streamed while it is
/// written, so a large mailbox is never held whole (an mbox in an archive is: the tar header
/// needs its size first).
pub(crate) async fn export(
    State(app): State<App>,
    ApiPath(addr): ApiPath<String>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let a = resolve(&app, &addr)?;
    let mb = given(&q.mailbox)
        .map(|name| mailbox(&app, &a, name))
        .transpose()?;
    let format = q.format.unwrap_or(Format::Mbox);
    let what = mb
        .as_ref()
        .map_or("all", |m| m.name.as_str())
        .replace('/', ".");
    let (content_type, file) = match (format, &mb) {
        (Format::Mbox, Some(_)) => ("application/mbox", format!("{}-{what}.mbox", a.address)),
        (Format::Mbox, None) => (
            "application/x-tar",
            format!("{}-{what}-mbox.tar", a.address),
        ),
        (Format::Maildir, _) => (
            "application/x-tar",
            format!("{}-{what}-maildir.tar", a.address),
        ),
    };
    let store = app.ctx.auth.store().clone();
    let (tx, rx) = mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut out = Channel {
            tx,
            buf: Vec::new(),
        };
        let written = match (format, &mb) {
            (Format::Mbox, Some(mb)) => super::write_mbox(&store, mb, &mut out).map(drop),
            _ => {
                let mut tar = TarSink(TarWriter::new(&mut out));
                super::export(&store, &a, mb.as_ref(), format, &mut tar)
                    .and_then(|_| Ok(tar.0.finish().map(drop)?))
            }
        };
        if let Err(e) = written.and_then(|()| Ok(out.flush()?)) {
            // The status line is out already: breaking the body off tells the client.
            tracing::warn!(account = %a.address, error = %e, "export broken off");
            let _ = out.tx.blocking_send(Err(io::Error::other(e.to_string())));
        }
    });
    let chunks = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let mut r = Response::new(Body::from_stream(chunks));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(
        CONTENT_DISPOSITION,
        HeaderValue::from_str(&crate::attachment_disposition(&file))
            .map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(r)
}

/// The response body while it is written: 64 KiB chunks into a channel the response streams.
struct Channel {
    tx: mpsc::Sender<io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl Write for Channel {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 << 10 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

/// An export into a tar archive.
struct TarSink<W: Write>(TarWriter<W>);

impl<W: Write> Sink for TarSink<W> {
    fn folder(&mut self, path: &str) -> super::Result<()> {
        Ok(self.0.folder(path, super::now())?)
    }

    fn file(
        &mut self,
        path: &str,
        mtime: i64,
        fill: &mut dyn FnMut(&mut dyn Write) -> super::Result<()>,
    ) -> super::Result<()> {
        let mut data = Vec::new();
        fill(&mut data)?;
        Ok(self.0.file(path, mtime, &data)?)
    }
}

/// `POST /api/accounts/{addr}/import[?mailbox=]` with an mbox file as the body: its messages
/// into the mailbox (INBOX by default; created when missing), duplicates skipped. 200 with
/// the counts; 400 not an mbox or a bad mailbox name; 507 over quota (saying how many went in).
pub(crate) async fn import(
    State(app): State<App>,
    ApiPath(addr): ApiPath<String>,
    ApiQuery(q): ApiQuery<MailboxQuery>,
    ApiBytes(body): ApiBytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let a = resolve(&app, &addr)?;
    let name = given(&q.mailbox).unwrap_or("INBOX").to_string();
    let items = tokio::task::spawn_blocking(move || mbox::parse(&body))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(ApiError::BadRequest)?;
    let done =
        match super::import(app.ctx.auth.store(), &a, &name, items).await {
            Ok(done) => done,
            Err(failed) => {
                return Err(match failed.error {
                    Error::Store(store::Error::OverQuota) => ApiError::OverQuota(
                        super::over_quota(&a.address, failed.done.imported, &failed.done.mailbox),
                    ),
                    e => e.into(),
                })
            }
        };
    tracing::info!(account = %a.address, mailbox = %done.mailbox, imported = done.imported,
        skipped = done.skipped, "mbox imported over http");
    Ok(Json(serde_json::json!({
        "account": a.address, "mailbox": done.mailbox,
        "imported": done.imported, "skipped": done.skipped,
    })))
}

#[derive(Deserialize, Default)]
pub(crate) struct PurgeQuery {
    mailbox: Option<String>,
    older_than: Option<String>,
    larger_than: Option<String>,
    dry_run: Option<bool>,
}

/// `POST /api/accounts/{addr}/purge`: removes the messages that match every criterion given
/// (every message without criteria) of one mailbox, or of all without `mailbox`; with
/// `dry_run=true` only lists them. Without any parameter it empties the account, as it
/// always did; the answer keeps its `deleted` count.
pub(crate) async fn purge(
    State(app): State<App>,
    ApiPath(addr): ApiPath<String>,
    ApiQuery(q): ApiQuery<PurgeQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let a = resolve(&app, &addr)?;
    let bad = ApiError::BadRequest;
    let criteria = Criteria {
        older_than: (q.older_than.as_deref().map(super::parse_age).transpose()).map_err(bad)?,
        larger_than: (q.larger_than.as_deref())
            .map(super::parse_larger_than)
            .transpose()
            .map_err(bad)?,
    };
    let store = app.ctx.auth.store();
    let mailboxes = match given(&q.mailbox) {
        Some(name) => vec![mailbox(&app, &a, name)?],
        None => store.mailboxes(a.id)?,
    };
    let dry_run = q.dry_run.unwrap_or(false);
    let removed = super::purge(store, &a, &mailboxes, criteria, dry_run).await?;
    let bytes: u64 = removed.iter().map(|r| r.size).sum();
    if !dry_run {
        tracing::info!(account = %a.address, deleted = removed.len(), bytes, "purged over http");
    }
    Ok(Json(serde_json::json!({
        "dry_run": dry_run,
        "count": removed.len(),
        "deleted": if dry_run { 0 } else { removed.len() },
        "bytes": bytes,
        "messages": removed,
    })))
}
