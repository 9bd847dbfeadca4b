//! Validators of the commands other than `if` and `require`: stop, keep, discard (RFC 5228
//! §3.3, §4.3, §4.4), fileinto and redirect (RFC 5228 §4.1, §4.2, with RFC 3894 `:copy`,
//! RFC 5490 `:create`, RFC 5232 `:flags`), vacation (RFC 5230, RFC 6131 `:seconds`), set
//! (RFC 5229 §4) and setflag/addflag/removeflag (RFC 5232 §3).

use super::args::Args;
use crate::ast::{Caps, Command, Ext, FlagOp, Modifiers, Period, Str, VacationArgs};
use crate::lexer::Pos;
use crate::strings::is_identifier;
use crate::ParseError;

/// Fails for an unknown command or one whose extension was not required.
pub(super) fn check_name(name: &str, pos: Pos, caps: Caps) -> Result<(), ParseError> {
    let ext = match name {
        "stop" | "keep" | "discard" | "redirect" => None,
        "fileinto" => Some(Ext::Fileinto),
        "vacation" => Some(Ext::Vacation),
        "set" => Some(Ext::Variables),
        "setflag" | "addflag" | "removeflag" => Some(Ext::Imap4flags),
        "reject" | "ereject" | "notify" | "include" | "return" | "global" | "addheader"
        | "deleteheader" | "error" | "break" | "foreverypart" | "replace" | "enclose"
        | "extracttext" | "convert" => {
            return Err(pos.error(format!(
                "command '{name}' is not supported here (its extension is not available)"
            )))
        }
        _ => return Err(pos.error(format!("unknown command '{name}'"))),
    };
    match ext {
        Some(e) if !caps.has(e) => Err(pos.error(format!(
            "command '{name}' used without require \"{}\"",
            e.name()
        ))),
        _ => Ok(()),
    }
}

pub(super) fn command(mut a: Args) -> Result<Command, ParseError> {
    let cmd = match a.name.as_str() {
        "stop" => Command::Stop,
        "discard" => Command::Discard,
        "keep" => {
            let mut flags = None;
            while let Some((tag, pos)) = a.tag()? {
                match tag.as_str() {
                    "flags" => flags = Some(flags_tag(&mut a, pos)?),
                    _ => return Err(a.unknown_tag(&tag, pos)),
                }
            }
            Command::Keep { flags }
        }
        "fileinto" => {
            let (mut copy, mut create, mut flags) = (false, false, None);
            while let Some((tag, pos)) = a.tag()? {
                match tag.as_str() {
                    // RFC 3894 §3.
                    "copy" => {
                        a.need(Ext::Copy, pos, "tag ':copy'")?;
                        copy = true;
                    }
                    // RFC 5490 §3.2.
                    "create" => {
                        a.need(Ext::Mailbox, pos, "tag ':create'")?;
                        create = true;
                    }
                    "flags" => flags = Some(flags_tag(&mut a, pos)?),
                    _ => return Err(a.unknown_tag(&tag, pos)),
                }
            }
            let (mailbox, pos) = a.string("mailbox")?;
            if mailbox.constant() == Some("") {
                return Err(pos.error("fileinto: the mailbox name is empty"));
            }
            Command::FileInto {
                mailbox,
                copy,
                create,
                flags,
            }
        }
        "redirect" => {
            let mut copy = false;
            while let Some((tag, pos)) = a.tag()? {
                match tag.as_str() {
                    "copy" => {
                        a.need(Ext::Copy, pos, "tag ':copy'")?;
                        copy = true;
                    }
                    _ => return Err(a.unknown_tag(&tag, pos)),
                }
            }
            let (address, pos) = a.string("address")?;
            // RFC 5228 §4.2: a constant address must be a valid one.
            if let Some(s) = address.constant() {
                if crate::message::mailbox_address(s).is_none() {
                    return Err(pos.error(format!("redirect: invalid address \"{s}\"")));
                }
            }
            Command::Redirect { address, copy }
        }
        "vacation" => vacation(&mut a)?,
        "set" => set(&mut a)?,
        "setflag" | "addflag" | "removeflag" => {
            let op = match a.name.as_str() {
                "setflag" => FlagOp::Set,
                "addflag" => FlagOp::Add,
                _ => FlagOp::Remove,
            };
            if let Some((tag, pos)) = a.tag()? {
                return Err(a.unknown_tag(&tag, pos));
            }
            // RFC 5232 §3: [<variablename: string>] <list-of-flags: string-list>.
            let var = if a.remaining() == 2 {
                let (name, pos) = a.raw_string("variablename")?;
                a.need(Ext::Variables, pos, "a flag variable name")?;
                Some(variable_name(&a, &name, pos)?)
            } else {
                None
            };
            let flags = a.list("list-of-flags")?;
            Command::Flags { op, var, flags }
        }
        _ => return Err(a.pos.error(format!("unknown command '{}'", a.name))),
    };
    a.finish()?;
    Ok(cmd)
}

/// RFC 5232 §5: `:flags <list-of-flags: string-list>`.
fn flags_tag(a: &mut Args, pos: Pos) -> Result<Vec<Str>, ParseError> {
    a.need(Ext::Imap4flags, pos, "tag ':flags'")?;
    a.list("list-of-flags")
}

/// A variable name to assign: RFC 5229 §4 identifier, never a match variable.
pub(super) fn variable_name(a: &Args, name: &str, pos: Pos) -> Result<String, ParseError> {
    if !is_identifier(name) {
        return Err(pos.error(format!(
            "{}: invalid variable name \"{name}\" (letters, digits and '_', not starting with a digit)",
            a.name
        )));
    }
    Ok(name.to_ascii_lowercase())
}

/// RFC 5229 §4: set [MODIFIER...] <name: string> <value: string>.
fn set(a: &mut Args) -> Result<Command, ParseError> {
    let mut mods = Modifiers::default();
    while let Some((tag, pos)) = a.tag()? {
        // RFC 5229 §4.1: two modifiers of the same precedence conflict.
        let conflict = |other: &str| pos.error(format!("set: ':{tag}' conflicts with ':{other}'"));
        match tag.as_str() {
            "lower" | "upper" => {
                if let Some(u) = mods.upper {
                    return Err(conflict(if u { "upper" } else { "lower" }));
                }
                mods.upper = Some(tag == "upper");
            }
            "lowerfirst" | "upperfirst" => {
                if let Some(u) = mods.upper_first {
                    return Err(conflict(if u { "upperfirst" } else { "lowerfirst" }));
                }
                mods.upper_first = Some(tag == "upperfirst");
            }
            "quotewildcard" => mods.quote_wildcard = true,
            "length" => mods.length = true,
            _ => return Err(a.unknown_tag(&tag, pos)),
        }
    }
    let (name, pos) = a.raw_string("name")?;
    let name = variable_name(a, &name, pos)?;
    let (value, _) = a.string("value")?;
    Ok(Command::Set { name, mods, value })
}

/// RFC 5230 §4: vacation [":days" number | ":seconds" number] [":subject" string]
/// [":from" string] [":addresses" string-list] [":mime"] [":handle" string] <reason>.
fn vacation(a: &mut Args) -> Result<Command, ParseError> {
    let mut period: Option<(Period, Pos)> = None;
    let (mut subject, mut from, mut addresses, mut mime, mut handle) =
        (None, None, Vec::new(), false, None);
    while let Some((tag, pos)) = a.tag()? {
        match tag.as_str() {
            "days" | "seconds" => {
                if tag == "seconds" {
                    // RFC 6131 §2.
                    a.need(Ext::VacationSeconds, pos, "tag ':seconds'")?;
                }
                if let Some((_, first)) = period {
                    return Err(pos.error(format!(
                        "vacation: ':days' and ':seconds' conflict (first given at line {}, column {})",
                        first.line, first.col
                    )));
                }
                let n = a.number(&tag)?;
                period = Some((
                    if tag == "days" {
                        Period::Days(n)
                    } else {
                        Period::Seconds(n)
                    },
                    pos,
                ));
            }
            "subject" => subject = Some(a.string("subject")?.0),
            "from" => {
                let (f, fpos) = a.string("from")?;
                // RFC 5230 §4.3: :from must be a valid address.
                if let Some(s) = f.constant() {
                    if crate::message::mailbox_address(s).is_none() {
                        return Err(fpos.error(format!("vacation: invalid :from address \"{s}\"")));
                    }
                }
                from = Some(f);
            }
            "addresses" => addresses = a.list("addresses")?,
            "mime" => mime = true,
            "handle" => handle = Some(a.string("handle")?.0),
            _ => return Err(a.unknown_tag(&tag, pos)),
        }
    }
    let (reason, _) = a.string("reason")?;
    Ok(Command::Vacation(Box::new(VacationArgs {
        period: period.map_or(Period::Days(crate::vacation::DEFAULT_DAYS), |p| p.0),
        subject,
        from,
        addresses,
        mime,
        handle,
        reason,
    })))
}
