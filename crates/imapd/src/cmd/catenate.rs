//! CATENATE (RFC 4469) and URL-PARTIAL (RFC 5550): the parts of a CATENATE message put
//! together before APPEND writes it. A `URL` part names a message, or a section of one, in a
//! mailbox of the session's own account by an IMAP URL (RFC 5092 §6):
//!
//! ```text
//! /mailbox[;UIDVALIDITY=n]/;UID=n[/;SECTION=s][/;PARTIAL=o[.l]]     absolute path
//! ;UID=n[/;SECTION=s][/;PARTIAL=o[.l]]                              the selected mailbox
//! imap://user@host/mailbox…                                         user must be this one
//! ```
//!
//! Anything else — another user, a mailbox or message that does not exist (an expunged one
//! included), a UIDVALIDITY that changed, URLAUTH parameters, a section or range that does not
//! parse — is `NO [BADURL url]` (RFC 4469 §6) and nothing is appended. A section beyond the
//! message's parts is empty, as for FETCH BODY[section] (and as Dovecot answers).

use store::{MailboxId, Uid, UidValidity};

use crate::cmd::sections::section_bytes;
use crate::command::{CatPart, FetchAtt, Kind, Section};
use crate::response::Code;
use crate::session::{no, CmdError, Session, State};

/// The octets of a CATENATE message: its parts in order (RFC 4469 §5).
pub fn assemble(s: &Session, parts: &[CatPart]) -> Result<Vec<u8>, CmdError> {
    let mut out = Vec::new();
    for part in parts {
        match part {
            CatPart::Text(t) => out.extend_from_slice(t),
            CatPart::Url(url) => out.extend(resolve(s, url)?),
        }
        if out.len() as u64 > s.ctx.max_literal {
            // RFC 4469 §6: the result would be larger than we accept.
            return Err(no(
                Some(Code::Other("TOOBIG".into())),
                "the message would be too big",
            ));
        }
    }
    Ok(out)
}

/// What a URL names (RFC 5092 §6 imessagepart, with RFC 5550 ipartial).
#[derive(Debug, PartialEq, Eq)]
struct Target {
    /// `None`: the selected mailbox.
    mailbox: Option<String>,
    uidvalidity: Option<u32>,
    uid: u32,
    section: Option<String>,
    /// RFC 5550 §4 `;PARTIAL=offset[.length]`.
    partial: Option<(u32, Option<u32>)>,
}

/// The octets `url` names, or `NO [BADURL url]`.
fn resolve(s: &Session, url: &str) -> Result<Vec<u8>, CmdError> {
    let bad = |why: &str| {
        // RFC 4469 §6 url-resp-text: no "]" in the code.
        let shown: String = url.chars().filter(|&c| c != ']' && c >= ' ').collect();
        no(Some(Code::Other(format!("BADURL {shown}"))), why)
    };
    let (user, target) = parse(url).ok_or_else(|| bad("not an IMAP URL this server serves"))?;
    let account = crate::cmd::mailbox::account(s)?;
    if user.is_some_and(|u| !u.eq_ignore_ascii_case(&account.address)) {
        return Err(bad("the URL names another user's mailbox"));
    }
    let store = s.store();
    let (mbid, validity): (MailboxId, UidValidity) = match &target.mailbox {
        Some(name) => {
            let mb = store
                .mailbox(account.id, name)?
                .ok_or_else(|| bad("no such mailbox"))?;
            (mb.id, mb.uidvalidity)
        }
        None => match &s.state {
            State::Selected { sel, .. } => (sel.mailbox.id, sel.mailbox.uidvalidity),
            _ => return Err(bad("a relative URL needs a selected mailbox")),
        },
    };
    if target.uidvalidity.is_some_and(|v| v != validity.get()) {
        return Err(bad("UIDVALIDITY does not match"));
    }
    // An expunged message is gone for URLs, whatever a session has not yet been told.
    let meta = store
        .message(mbid, Uid::new(target.uid))?
        .ok_or_else(|| bad("no such message"))?;
    let raw = store.read_blob(meta.blob)?;
    let data = match &target.section {
        None => raw,
        Some(text) => {
            let section = section_of(text).ok_or_else(|| bad("invalid section"))?;
            let parsed = store.structure(meta.blob)?;
            section_bytes(&raw, &parsed, &section).unwrap_or_default()
        }
    };
    Ok(match target.partial {
        None => data,
        Some((offset, len)) => {
            let a = (offset as usize).min(data.len());
            let b = len.map_or(data.len(), |l| a.saturating_add(l as usize).min(data.len()));
            data[a..b].to_vec()
        }
    })
}

/// A section spec (RFC 5092 §6 enc-section, percent-decoded) read by the FETCH grammar.
fn section_of(text: &str) -> Option<Section> {
    let cmd = format!("x FETCH 1 (BODY.PEEK[{text}])\r\n");
    match crate::command::parse(cmd.as_bytes()).ok()?.0.kind {
        Kind::Fetch { items, .. } => match items.as_slice() {
            [FetchAtt::Section {
                section,
                partial: None,
                ..
            }] => Some(section.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// RFC 5092 §6 (the parts CATENATE needs): the URL's user, if any, and what it names.
fn parse(url: &str) -> Option<(Option<String>, Target)> {
    let (user, path) = match strip_prefix_ci(url, "imap://") {
        Some(rest) => {
            let (server, path) = rest.split_at(rest.find('/')?);
            // iuserinfo "@" host [":" port]; ;AUTH= is allowed and ignored.
            let (userinfo, _host) = server.rsplit_once('@')?;
            let user = userinfo.split(';').next()?;
            (Some(decode(user)?), path)
        }
        None => (None, url),
    };
    let mut fields = path.split("/;");
    let head = fields.next()?;
    let mut target = Target {
        mailbox: None,
        uidvalidity: None,
        uid: 0,
        section: None,
        partial: None,
    };
    let mut rest: Vec<&str> = fields.collect();
    if let Some(mailbox) = head.strip_prefix('/') {
        let (name, validity) = match mailbox.split_once(';') {
            Some((n, v)) => (n, Some(strip_prefix_ci(v, "UIDVALIDITY=")?.parse().ok()?)),
            None => (mailbox, None),
        };
        let name = decode(name)?;
        target.mailbox = Some(crate::mutf7::decode(&name).unwrap_or(name));
        target.uidvalidity = validity;
    } else if let Some(uid) = head.strip_prefix(';') {
        // A relative URL: ";UID=n…" in the selected mailbox.
        if user.is_some() {
            return None;
        }
        rest.insert(0, uid);
    } else {
        return None;
    }
    let mut rest = rest.into_iter();
    target.uid = strip_prefix_ci(rest.next()?, "UID=")?.parse().ok()?;
    if target.uid == 0 {
        return None;
    }
    for field in rest {
        if let Some(v) = strip_prefix_ci(field, "SECTION=") {
            target.section = Some(decode(v)?);
        } else if let Some(v) = strip_prefix_ci(field, "PARTIAL=") {
            // RFC 5550 §4 partial-range = number ["." nz-number].
            let (o, l) = match v.split_once('.') {
                Some((o, l)) => (o, Some(l.parse::<u32>().ok().filter(|&l| l > 0)?)),
                None => (v, None),
            };
            target.partial = Some((o.parse().ok()?, l));
        } else {
            // URLAUTH (;EXPIRE=, ;URLAUTH=) and anything else: not served.
            return None;
        }
    }
    Some((user, target))
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// RFC 3986 §2.1 percent-decoding to UTF-8.
fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(url: &str) -> Option<Target> {
        parse(url).map(|(_, t)| t)
    }

    /// RFC 4469 §4's URLs, RFC 5092 §7's forms and RFC 5550 §4's PARTIAL.
    #[test]
    fn urls() {
        let t = target("/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1.MIME").unwrap();
        assert_eq!(t.mailbox.as_deref(), Some("Drafts"));
        assert_eq!((t.uidvalidity, t.uid), (Some(385_759_045), 20));
        assert_eq!(t.section.as_deref(), Some("1.MIME"));
        let t = target("/INBOX/;UID=7/;PARTIAL=5.10").unwrap();
        assert_eq!(t.partial, Some((5, Some(10))));
        assert_eq!(target(";UID=3").unwrap().mailbox, None);
        let t = target("/My%20Mail/;UID=1/;SECTION=HEADER.FIELDS%20(SUBJECT)").unwrap();
        assert_eq!(t.mailbox.as_deref(), Some("My Mail"));
        assert_eq!(t.section.as_deref(), Some("HEADER.FIELDS (SUBJECT)"));
        let (user, t) = parse("imap://bob%40example.org;AUTH=*@mail.example/INBOX/;UID=2").unwrap();
        assert_eq!(user.as_deref(), Some("bob@example.org"));
        assert_eq!(t.uid, 2);
        assert_eq!(
            target("/INBOX/;uid=4/;partial=0").unwrap().partial,
            Some((0, None))
        );
    }

    #[test]
    fn bad_urls() {
        for url in [
            "",
            "INBOX/;UID=1",
            "/INBOX",
            "/INBOX/;UID=0",
            "/INBOX/;UID=x",
            "/INBOX;UIDVALIDITY=x/;UID=1",
            "/INBOX/;UID=1/;PARTIAL=1.0",
            "/INBOX/;UID=1/;PARTIAL=a",
            "/INBOX/;UID=1/;EXPIRE=2030-01-01T00:00:00Z",
            "/INBOX/;UID=1/;URLAUTH=anonymous",
            "/IN%ZZBOX/;UID=1",
            "imap://host/INBOX/;UID=1",
            "imap://bob@host;UID=1",
            "http://x/INBOX/;UID=1",
        ] {
            assert_eq!(target(url), None, "{url}");
        }
        assert_eq!(section_of("1.MIME").map(|s| s.part), Some(vec![1]));
        assert!(section_of("NOPE]").is_none());
        assert!(section_of("1]<0.5>").is_none());
    }
}
