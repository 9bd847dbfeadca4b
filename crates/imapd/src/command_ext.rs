//! The extension grammar imap-codec 2.0 lacks, parsed here: LIST-EXTENDED selection and
//! return options with several patterns (RFC 5258 §3, RFC 5819 §2, RFC 6154 §3) and XLIST
//! (the pre-RFC 6154 LIST of older Apple and Microsoft clients, answered as LIST as Dovecot
//! does), CREATE parameters (RFC 6154 §3 `USE`), STATUS with the APPENDLIMIT item (RFC 7889
//! §3), SEARCH `RETURN (...)` (RFC 4731 §3.1), whose search keys are handed back to
//! imap-codec; APPEND with several messages or CATENATE goes to `command_append.rs`. Only
//! tried after imap-codec failed on the command. An unknown option or item
//! is [`ParseError::Unknown`]; a mailbox name that is not modified UTF-7 a [`Kind::Refused`].

use super::command_cursor::{syn, unknown, R};
use super::*;

/// Parses `input` if it is one of the commands above; `None` for any other command.
pub(super) fn parse(input: &[u8], tag: &str) -> Option<Result<(Command, usize), ParseError>> {
    let mut p = Parser { s: input, pos: 0 };
    p.tag().ok()?;
    if !p.eat(b' ') {
        return None;
    }
    let rest = &input[p.pos..];
    let names: [&[u8]; 2] = [b"CANCELUPDATE", b"XLIST"];
    let cut = rest.iter().all(u8::is_ascii_alphabetic)
        && names
            .iter()
            .any(|n| n.len() >= rest.len() && n[..rest.len()].eq_ignore_ascii_case(rest));
    if cut {
        // The input stops inside the name of a command only we parse.
        return Some(Err(ParseError::Incomplete));
    }
    let name = p.word().ok()?;
    let uid = name == "UID";
    let name = if uid {
        p.sp().ok()?;
        format!("UID {}", p.word().ok()?)
    } else {
        name
    };
    let res = match name.as_str() {
        "LIST" | "XLIST" => p.list(),
        "CREATE" => p.create(),
        "STATUS" => p.status(),
        "SEARCH" | "UID SEARCH" | "SORT" | "UID SORT" => {
            return search_return(input, p.pos, tag, &name)
        }
        "APPEND" => return super::command_append::append(input, p.pos, tag),
        "CANCELUPDATE" => p.cancel_update(),
        _ => return None,
    };
    let res = res.and_then(|kind| {
        p.crlf()?;
        Ok(kind)
    });
    Some(match res {
        Ok(kind) => Ok((
            Command {
                tag: tag.to_string(),
                kind,
            },
            p.pos,
        )),
        Err(fail) => Err(error(fail, tag)),
    })
}

fn error(fail: Fail, tag: &str) -> ParseError {
    match fail {
        Fail::Incomplete => ParseError::Incomplete,
        Fail::Syntax(reason) => ParseError::Syntax {
            tag: Some(tag.to_string()),
            reason,
        },
        Fail::Unknown(reason) => ParseError::Unknown {
            tag: tag.to_string(),
            reason,
        },
    }
}

/// `SEARCH RETURN (options) keys` (RFC 4731 §3.1) and `SORT RETURN (options) (criteria)
/// charset keys` (RFC 5267 §3): the options here, then imap-codec parses the command
/// without them (`at` is just after the command name).
fn search_return(
    input: &[u8],
    at: usize,
    tag: &str,
    name: &str,
) -> Option<Result<(Command, usize), ParseError>> {
    const KW: &[u8] = b" RETURN ";
    let rest = input.get(at..)?;
    let n = rest.len().min(KW.len());
    if !rest[..n].eq_ignore_ascii_case(&KW[..n]) {
        return None;
    }
    if n < KW.len() {
        return Some(Err(ParseError::Incomplete));
    }
    let mut p = Parser {
        s: input,
        pos: at + KW.len(),
    };
    // RFC 4731 §3.1: RETURN () means ALL.
    let ret = match p.search_return().and_then(|r| p.sp().map(|()| r)) {
        Ok(r) => r,
        Err(fail) => return Some(Err(error(fail, tag))),
    };
    // Drop " RETURN (...)", keep the space before the keys.
    let keys = p.pos - 1;
    let removed = keys - at;
    let mut rebuilt = input[..at].to_vec();
    rebuilt.extend_from_slice(&input[keys..]);
    Some(match command_codec::parse(&rebuilt) {
        command_codec::Outcome::Parsed(mut cmd, used) => {
            match &mut cmd.kind {
                Kind::Search { ret: r, .. } | Kind::Sort { ret: r, .. } => *r = Some(ret),
                Kind::Refused { clears_saved, .. } => *clears_saved = ret.save,
                _ => {}
            }
            Ok((cmd, used + removed))
        }
        command_codec::Outcome::Incomplete => Err(ParseError::Incomplete),
        command_codec::Outcome::Invalid(e) => Err(e),
        command_codec::Outcome::Failed => Err(failed(&rebuilt, tag.to_string(), name, at)),
    })
}

impl Parser<'_> {
    /// RFC 5267 §4.3 `CANCELUPDATE tag-string *(SP tag-string)`.
    fn cancel_update(&mut self) -> R<Kind> {
        let mut tags = Vec::new();
        loop {
            self.sp()?;
            tags.push(self.string()?);
            if !self.at_sp() {
                return Ok(Kind::CancelUpdate(tags));
            }
        }
    }

    /// `CREATE mailbox [SP (USE (attrs))]`: returns the command.
    fn create(&mut self) -> R<Kind> {
        self.sp()?;
        let mailbox = self.mailbox()?;
        let mut special_use = Vec::new();
        if self.eat(b' ') {
            special_use = self.create_params()?;
        }
        Ok(match mailbox {
            Some(mailbox) => Kind::Create {
                mailbox,
                special_use,
            },
            None => refused_name(),
        })
    }

    /// `STATUS mailbox (items)` with items imap-codec does not know: RFC 7889 §3
    /// APPENDLIMIT (we advertise APPENDLIMIT). Other items are unknown.
    fn status(&mut self) -> R<Kind> {
        self.sp()?;
        let mailbox = self.mailbox()?;
        self.sp()?;
        let items = self.word_list()?;
        if items.is_empty() {
            return syn("STATUS needs at least one item");
        }
        if let Some(other) = items.iter().find(|i| !STATUS_ITEMS.contains(&i.as_str())) {
            return unknown(format!("unknown STATUS item {other}"));
        }
        Ok(match mailbox {
            Some(mailbox) => Kind::Status { mailbox, items },
            None => refused_name(),
        })
    }

    /// RFC 6154 §3: `(USE (\Sent ...))`; returns the attributes.
    fn create_params(&mut self) -> R<Vec<String>> {
        let mut out = Vec::new();
        self.expect(b'(')?;
        if self.eat(b')') {
            return Ok(out);
        }
        loop {
            match self.word()?.as_str() {
                "USE" => {
                    self.sp()?;
                    out.extend(self.flag_list()?);
                }
                other => return unknown(format!("unknown CREATE parameter {other}")),
            }
            if self.eat(b')') {
                return Ok(out);
            }
            self.sp()?;
        }
    }

    /// A parenthesised list of words, `()` allowed.
    fn word_list(&mut self) -> R<Vec<String>> {
        let mut out = Vec::new();
        self.expect(b'(')?;
        if self.eat(b')') {
            return Ok(out);
        }
        loop {
            out.push(self.word()?);
            if self.eat(b')') {
                return Ok(out);
            }
            self.sp()?;
        }
    }

    /// LIST arguments in the RFC 5258 extended syntax (the basic form is imap-codec's).
    fn list(&mut self) -> R<Kind> {
        self.sp()?;
        let mut opts = ListOpts::default();
        if self.peek()? == b'(' {
            // RFC 5258 §3.1 selection options.
            opts.extended = true;
            for o in self.word_list()? {
                match o.as_str() {
                    "SUBSCRIBED" => opts.select_subscribed = true,
                    "RECURSIVEMATCH" => opts.recursive_match = true,
                    "REMOTE" => {}
                    // RFC 6154 §3: only special-use mailboxes.
                    "SPECIAL-USE" => opts.select_special_use = true,
                    other => return unknown(format!("unknown LIST selection option {other}")),
                }
            }
            // RFC 5258 §3.1: RECURSIVEMATCH needs another selection option.
            if opts.recursive_match && !opts.select_subscribed {
                return syn("RECURSIVEMATCH needs SUBSCRIBED");
            }
            self.sp()?;
        }
        // A reference or pattern that is not modified UTF-7 matches no name: left out (as
        // `command_codec::list_kind` does).
        let reference = self.mailbox()?;
        self.sp()?;
        let mut patterns = Vec::new();
        if self.eat(b'(') {
            // RFC 5258 §3: several patterns.
            opts.extended = true;
            loop {
                patterns.extend(self.list_mailbox()?);
                if self.eat(b')') {
                    break;
                }
                self.sp()?;
            }
        } else {
            patterns.extend(self.list_mailbox()?);
        }
        if reference.is_none() {
            patterns.clear();
        }
        if self.eat(b' ') {
            if self.word()? != "RETURN" {
                return syn("expected RETURN");
            }
            opts.extended = true;
            self.sp()?;
            self.expect(b'(')?;
            if !self.eat(b')') {
                loop {
                    match self.word()?.as_str() {
                        // RFC 5258 §3.2.
                        "SUBSCRIBED" => opts.return_subscribed = true,
                        "CHILDREN" => opts.return_children = true,
                        // RFC 6154 §3.
                        "SPECIAL-USE" => opts.return_special_use = true,
                        // RFC 5819 §2.
                        "STATUS" => {
                            self.sp()?;
                            opts.return_status = Some(self.word_list()?);
                        }
                        other => return unknown(format!("unknown LIST return option {other}")),
                    }
                    if self.eat(b')') {
                        break;
                    }
                    self.sp()?;
                }
            }
        }
        Ok(Kind::List {
            reference: reference.unwrap_or_default(),
            patterns,
            lsub: false,
            opts,
        })
    }

    /// RFC 4731 §3.1: `RETURN (MIN MAX ALL COUNT)` after "RETURN" and a space; RFC 5182
    /// §2.1 SAVE; RFC 5267 §4.4 `PARTIAL low:high`.
    fn search_return(&mut self) -> R<SearchReturn> {
        let mut r = SearchReturn::default();
        self.expect(b'(')?;
        if self.eat(b')') {
            return Ok(r);
        }
        loop {
            match self.word()?.as_str() {
                "MIN" => r.min = true,
                "MAX" => r.max = true,
                "ALL" => r.all = true,
                "COUNT" => r.count = true,
                // RFC 5182 §2.1.
                "SAVE" => r.save = true,
                // RFC 5267 §4.2.
                "UPDATE" => r.update = true,
                "PARTIAL" if r.partial.is_some() => return syn("PARTIAL can be used only once"),
                "PARTIAL" => {
                    self.sp()?;
                    r.partial = Some(self.partial_range()?);
                }
                other => return unknown(format!("unknown SEARCH return option {other}")),
            }
            if self.eat(b')') {
                return Ok(r);
            }
            self.sp()?;
        }
    }

    /// RFC 5267 §4.4 `low:high`, both from 1 (in either order); a 0 or a negative
    /// position (RFC 9394's counting from the end, which Dovecot 2.3 refuses too) is BAD.
    fn partial_range(&mut self) -> R<(u32, u32)> {
        if self.peek()? == b'-' {
            return syn("PARTIAL range broken: negative positions are not supported");
        }
        let a = self.number()?;
        self.expect(b':')?;
        if self.peek()? == b'-' {
            return syn("PARTIAL range broken: negative positions are not supported");
        }
        let b = self.number()?;
        if a == 0 || b == 0 {
            return syn("PARTIAL range broken: positions start at 1");
        }
        Ok((a.min(b), a.max(b)))
    }
}

/// A command naming a mailbox that is not modified UTF-7: NO ([`invalid_name`]).
fn refused_name() -> Kind {
    let (code, text) = invalid_name();
    Kind::Refused {
        code,
        text,
        selected_only: false,
        clears_saved: false,
    }
}
