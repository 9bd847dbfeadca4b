//! The inbox page's view of one message (docs/spec.md §6.4): its HTML part for a sandboxed
//! frame, its source, and its attachments as downloads. Same readers as the rest of the
//! dashboard (`may_read`: loopback with an own `Host`, or the admin token — in the query for
//! frames and links, which cannot send headers).
//!
//! # Invariants
//! - The HTML part is served with `Content-Security-Policy: sandbox` and `default-src 'none'`
//!   (inline styles and `data:` images only): no script runs, nothing is fetched from anywhere
//!   (no tracking pixels), forms cannot submit; only this server's own pages may frame it.
//! - Attachments are always `Content-Disposition: attachment` as `application/octet-stream`
//!   with `nosniff`: a browser saves them, never renders them here.

use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use mail_parser::{MessageParser, MimeHeaders, PartType};
use serde::Serialize;
use store::Uid;

use crate::error::{ApiError, ApiPath, ApiQuery};
use crate::messages::MailboxQuery;
use crate::{App, ClientIp};

use super::may_read;

/// What the HTML frame may do: nothing but show inline styles and `data:` images.
const FRAME_CSP: &str = "sandbox; default-src 'none'; style-src 'unsafe-inline'; \
                         img-src data:; font-src data:; frame-ancestors 'self'";

/// An attachment as the page lists it.
#[derive(Serialize, Debug, PartialEq)]
pub(crate) struct Attachment {
    /// Its number in the message's attachment list (the download path).
    pub index: usize,
    pub name: String,
    pub content_type: String,
    pub size: usize,
}

/// A dashboard read request about one message: who asks (checked by [`may_read`]) and in
/// which mailbox (`?mailbox=`, INBOX by default).
pub(crate) struct Reader {
    app: App,
    ip: std::net::IpAddr,
    headers: HeaderMap,
    query: Option<String>,
    mailbox: Option<String>,
}

impl axum::extract::FromRequestParts<App> for Reader {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        app: &App,
    ) -> Result<Self, ApiError> {
        let Ok(ClientIp(ip)) = ClientIp::from_request_parts(parts, app).await;
        let ApiQuery(q) = ApiQuery::<MailboxQuery>::from_request_parts(parts, app).await?;
        Ok(Reader {
            app: app.clone(),
            ip,
            headers: parts.headers.clone(),
            query: parts.uri.query().map(str::to_string),
            mailbox: q.mailbox,
        })
    }
}

impl Reader {
    /// The raw message `addr` `uid`, after the read check.
    fn raw(&self, addr: &str, uid: Uid) -> Result<Vec<u8>, ApiError> {
        Ok(self.message(addr, uid)?.2)
    }

    /// The message `addr` `uid` (its mailbox, record and bytes), after the read check.
    pub(crate) fn message(
        &self,
        addr: &str,
        uid: Uid,
    ) -> Result<(store::Mailbox, store::MessageMeta, Vec<u8>), ApiError> {
        let app = &self.app;
        may_read(app, self.ip, &self.headers, self.query.as_deref())?;
        let a = crate::api::account(app, addr)?;
        let store = app.ctx.auth.store();
        let name = self
            .mailbox
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or("INBOX".into());
        let mb = store
            .mailbox(a.id, &name)?
            .ok_or_else(|| ApiError::NotFound(format!("{} has no mailbox {name:?}", a.address)))?;
        let meta = store
            .message(mb.id, uid)?
            .ok_or_else(|| ApiError::NotFound(format!("no message uid {uid} in {}", mb.name)))?;
        let raw = store.read_blob(meta.blob)?;
        Ok((mb, meta, raw))
    }
}

/// The first HTML part, decoded (`None` when the message has none).
pub(crate) fn html_part(raw: &[u8]) -> Option<String> {
    let m = MessageParser::default().parse(raw)?;
    m.html_body
        .iter()
        .find_map(|&id| match &m.parts.get(usize::try_from(id).ok()?)?.body {
            PartType::Html(h) => Some(h.to_string()),
            _ => None,
        })
}

/// The attachments (parts with a file name or not inline), in order.
pub(crate) fn attachments(raw: &[u8]) -> Vec<Attachment> {
    let Some(m) = MessageParser::default().parse(raw) else {
        return Vec::new();
    };
    m.attachments()
        .enumerate()
        .map(|(index, p)| Attachment {
            index,
            name: p.attachment_name().unwrap_or("attachment").to_string(),
            content_type: p
                .content_type()
                .map(|c| match c.subtype() {
                    Some(s) => format!("{}/{s}", c.ctype()),
                    None => c.ctype().to_string(),
                })
                .unwrap_or_else(|| "application/octet-stream".into()),
            size: p.contents().len(),
        })
        .collect()
}

/// A message's content as a response: `content_type`, never sniffed, never cached, under
/// `csp` (every one of these routes serves mail, which is hostile until proven otherwise).
fn content(body: Vec<u8>, content_type: &'static str, csp: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert("content-security-policy", HeaderValue::from_static(csp));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `GET /api/dashboard/messages/{addr}/{uid}/html`: the HTML part for a sandboxed frame.
pub(crate) async fn html(
    reader: Reader,
    ApiPath((addr, uid)): ApiPath<(String, Uid)>,
) -> Result<Response, ApiError> {
    let raw = reader.raw(&addr, uid)?;
    let html = html_part(&raw).ok_or_else(|| ApiError::NotFound("no HTML part".into()))?;
    let mut r = content(html.into_bytes(), "text/html; charset=utf-8", FRAME_CSP);
    r.headers_mut()
        .insert("x-frame-options", HeaderValue::from_static("SAMEORIGIN"));
    Ok(r)
}

/// `GET /api/dashboard/messages/{addr}/{uid}/attachments/{index}`: one attachment, as a
/// download.
pub(crate) async fn attachment(
    reader: Reader,
    ApiPath((addr, uid, index)): ApiPath<(String, Uid, usize)>,
) -> Result<Response, ApiError> {
    let raw = reader.raw(&addr, uid)?;
    let m = MessageParser::default()
        .parse(&raw)
        .ok_or_else(|| ApiError::NotFound("no attachments".into()))?;
    let part = m
        .attachments()
        .nth(index)
        .ok_or_else(|| ApiError::NotFound(format!("no attachment {index}")))?;
    let name = part.attachment_name().unwrap_or("attachment");
    let disposition = crate::attachment_disposition(name);
    let mut r = content(
        part.contents().to_vec(),
        "application/octet-stream",
        "sandbox; default-src 'none'",
    );
    r.headers_mut().insert(
        CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    Ok(r)
}

/// `GET /api/dashboard/messages/{addr}/{uid}/raw`: the message source as plain text.
pub(crate) async fn source(
    reader: Reader,
    ApiPath((addr, uid)): ApiPath<(String, Uid)>,
) -> Result<Response, ApiError> {
    let raw = reader.raw(&addr, uid)?;
    Ok(content(
        raw,
        "text/plain; charset=utf-8",
        "sandbox; default-src 'none'",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIXED: &[u8] = b"From: a@example.test\r\nSubject: x\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n\
--c\r\nContent-Type: text/plain\r\n\r\nplain text\r\n--c\r\nContent-Type: text/html\r\n\r\n\
<p>rich <script>window.x=1</script></p>\r\n--c--\r\n--b\r\nContent-Type: application/pdf\r\n\
Content-Disposition: attachment; filename=\"r\xc3\xa9sum\xc3\xa9.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n";

    #[test]
    fn html_part_and_attachments() {
        assert!(html_part(MIXED).is_some_and(|h| h.contains("<p>rich")));
        assert_eq!(
            attachments(MIXED),
            vec![Attachment {
                index: 0,
                name: "résumé.pdf".into(),
                content_type: "application/pdf".into(),
                size: 5,
            }]
        );
        assert!(html_part(b"Subject: plain\r\n\r\nno html\r\n").is_none());
        assert!(attachments(b"Subject: plain\r\n\r\nno html\r\n").is_empty());
    }
}
