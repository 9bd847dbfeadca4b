//! The APPEND forms imap-codec 2.0 lacks: several messages (RFC 3502 MULTIAPPEND:
//! `APPEND mailbox 1*(SP [flag-list SP] [date-time SP] append-data)`) and CATENATE messages
//! (RFC 4469). Each message is cut out here and its flags, date and literal are handed to
//! imap-codec as a one-message APPEND (a CATENATE message with an empty literal), so they are
//! checked by the same grammar as a plain APPEND; the CATENATE parts are parsed here and their
//! URLs resolved by the handler (`cmd/catenate.rs`). `None` (imap-codec's failure and its BAD
//! reason stand) for a single plain message, and when the first message already fails.
//!
//! ```text
//! append-data =/ "CATENATE" SP "(" cat-part *(SP cat-part) ")"   ; RFC 4469 §5
//! cat-part    = text-literal / url
//! text-literal = "TEXT" SP literal
//! url         = "URL" SP astring
//! ```

use super::command_cursor::{syn, Fail, Parser, R};
use super::{command_codec, AppendMsg, CatPart, Command, Kind, ParseError};

/// `APPEND` after its name (`at`): see the module doc.
pub(super) fn append(
    input: &[u8],
    at: usize,
    tag: &str,
) -> Option<Result<(Command, usize), ParseError>> {
    let mut p = Parser { s: input, pos: at };
    match p.sp().and_then(|()| p.astring()) {
        Ok(_) => {}
        Err(Fail::Incomplete) => return Some(Err(ParseError::Incomplete)),
        Err(_) => return None,
    }
    let mailbox = &input[at + 1..p.pos];
    let mut messages: Vec<AppendMsg> = Vec::new();
    let mut refused = None;
    let mut name = None;
    let mut any = false;
    while p.at_sp() {
        p.pos += 1;
        let start = p.pos;
        let mut opts_end = start;
        let parsed = p.append_options().and_then(|()| {
            opts_end = p.pos;
            p.catenate()
        });
        // A CATENATE keyword makes the message ours, errors included.
        let ours = any || is_catenate(&input[opts_end..]);
        let parts = match parsed {
            Ok(x) => x,
            // The input ends inside this message (whatever kind it is): wait for more.
            Err(Fail::Incomplete) => return Some(Err(ParseError::Incomplete)),
            Err(_) if !ours && messages.is_empty() => return None,
            Err(Fail::Syntax(reason) | Fail::Unknown(reason)) => {
                return Some(Err(syntax(tag, reason)))
            }
        };
        any |= parts.is_some();
        // Flags and date (and the literal of a plain message) through imap-codec.
        let mut one = format!("{tag} APPEND ").into_bytes();
        one.extend_from_slice(mailbox);
        one.push(b' ');
        match &parts {
            Some(_) => {
                one.extend_from_slice(&input[start..opts_end]);
                one.extend_from_slice(b"{0}\r\n");
            }
            None => one.extend_from_slice(&input[start..p.pos]),
        }
        one.extend_from_slice(b"\r\n");
        match command_codec::parse(&one) {
            command_codec::Outcome::Parsed(cmd, _) => match cmd.kind {
                Kind::Append {
                    mailbox,
                    messages: mut m,
                } => {
                    name = Some(mailbox);
                    for msg in &mut m {
                        msg.catenate.clone_from(&parts);
                    }
                    messages.append(&mut m);
                }
                other => refused = Some(other),
            },
            command_codec::Outcome::Invalid(e) => return Some(Err(e)),
            _ if messages.is_empty() && parts.is_none() => return None,
            _ => {
                return Some(Err(syntax(
                    tag,
                    format!("APPEND: message {} is not valid", messages.len() + 1),
                )))
            }
        }
    }
    if !any && messages.len() < 2 && refused.is_none() {
        return None;
    }
    let kind = refused.unwrap_or(Kind::Append {
        mailbox: name.unwrap_or_default(),
        messages,
    });
    Some(match p.crlf() {
        Ok(()) => Ok((
            Command {
                tag: tag.to_string(),
                kind,
            },
            p.pos,
        )),
        Err(Fail::Incomplete) => Err(ParseError::Incomplete),
        Err(Fail::Syntax(r) | Fail::Unknown(r)) => Err(syntax(tag, r)),
    })
}

fn syntax(tag: &str, reason: String) -> ParseError {
    ParseError::Syntax {
        tag: Some(tag.to_string()),
        reason,
    }
}

/// Whether a message's data starts with the CATENATE keyword.
fn is_catenate(data: &[u8]) -> bool {
    data.get(..9)
        .is_some_and(|w| w.eq_ignore_ascii_case(b"CATENATE "))
}

impl Parser<'_> {
    /// `[flag-list SP] [date-time SP]` before an APPEND message (skipped, not read).
    pub(super) fn append_options(&mut self) -> R<()> {
        if self.eat(b'(') {
            while self.peek()? != b')' {
                if matches!(self.peek()?, b'\r' | b'\n') {
                    return syn("unterminated flag list");
                }
                self.pos += 1;
            }
            self.pos += 1;
            self.sp()?;
        }
        if self.peek()? == b'"' {
            self.quoted_raw()?;
            self.sp()?;
        }
        Ok(())
    }

    /// After the options: `CATENATE (parts)` → the parts, or a plain literal → `None`.
    fn catenate(&mut self) -> R<Option<Vec<CatPart>>> {
        const KW: &[u8] = b"CATENATE";
        let rest = &self.s[self.pos..];
        let n = rest.len().min(KW.len());
        if n == 0 {
            return Err(Fail::Incomplete);
        }
        if !rest[..n].eq_ignore_ascii_case(&KW[..n]) {
            self.eat(b'~');
            self.literal()?;
            return Ok(None);
        }
        if n < KW.len() {
            return Err(Fail::Incomplete);
        }
        self.pos += KW.len();
        self.sp()?;
        self.expect(b'(')?;
        let mut parts = Vec::new();
        loop {
            match self.word()?.as_str() {
                // RFC 4469 §5 text-literal.
                "TEXT" => {
                    self.sp()?;
                    parts.push(CatPart::Text(self.literal()?.to_vec()));
                }
                // RFC 4469 §5 url.
                "URL" => {
                    self.sp()?;
                    parts.push(CatPart::Url(self.astring()?));
                }
                other => return syn(format!("CATENATE: expected TEXT or URL, got {other}")),
            }
            if self.eat(b')') {
                return Ok(Some(parts));
            }
            self.sp()?;
        }
    }
}
