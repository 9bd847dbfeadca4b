//! Validators of the tests: true, false, not, allof, anyof, address, header, exists, size
//! (RFC 5228 §5), envelope (§5.4), body (RFC 5173 §4, §5), date and currentdate (RFC 5260
//! §4, §5), string (RFC 5229 §5), hasflag (RFC 5232 §4) and mailboxexists (RFC 5490 §3.1).

use super::actions::variable_name;
use super::args::{Args, MatchTags};
use crate::ast::{AddrPart, BodyTransform, Caps, Ext, Str, Test, Zone};
use crate::lexer::Pos;
use crate::ParseError;

/// Fails for an unknown test or one whose extension was not required.
pub(super) fn check_name(name: &str, pos: Pos, caps: Caps) -> Result<(), ParseError> {
    let ext = match name {
        "true" | "false" | "not" | "allof" | "anyof" | "address" | "header" | "exists" | "size" => {
            None
        }
        "envelope" => Some(Ext::Envelope),
        "body" => Some(Ext::Body),
        "date" | "currentdate" => Some(Ext::Date),
        "string" => Some(Ext::Variables),
        "hasflag" => Some(Ext::Imap4flags),
        "mailboxexists" => Some(Ext::Mailbox),
        "environment"
        | "duplicate"
        | "spamtest"
        | "virustest"
        | "ihave"
        | "valid_notify_method"
        | "notify_method_capability"
        | "metadata"
        | "metadataexists"
        | "servermetadata"
        | "servermetadataexists"
        | "valid_ext_list"
        | "specialuse_exists" => {
            return Err(pos.error(format!(
                "test '{name}' is not supported here (its extension is not available)"
            )))
        }
        _ => return Err(pos.error(format!("unknown test '{name}'"))),
    };
    match ext {
        Some(e) if !caps.has(e) => Err(pos.error(format!(
            "test '{name}' used without require \"{}\"",
            e.name()
        ))),
        _ => Ok(()),
    }
}

pub(super) fn test(mut a: Args, mut subtests: Vec<Test>) -> Result<Test, ParseError> {
    let t = match a.name.as_str() {
        "true" => Test::True,
        "false" => Test::False,
        "not" => Test::Not(Box::new(subtests.remove(0))),
        "allof" => Test::AllOf(subtests),
        "anyof" => Test::AnyOf(subtests),
        "address" | "envelope" => {
            let mut m = MatchTags::default();
            let mut part: Option<AddrPart> = None;
            while let Some((tag, pos)) = a.tag()? {
                if m.take(&tag, pos, &mut a)? {
                    continue;
                }
                // RFC 5228 §2.7.4: one address part.
                let p = match tag.as_str() {
                    "all" => AddrPart::All,
                    "localpart" => AddrPart::Localpart,
                    "domain" => AddrPart::Domain,
                    _ => return Err(a.unknown_tag(&tag, pos)),
                };
                if part.is_some() {
                    return Err(pos.error(format!("{}: more than one address part", a.name)));
                }
                part = Some(p);
            }
            let m = m.finish(&a)?;
            let part = part.unwrap_or(AddrPart::All);
            if a.name == "address" {
                let headers = header_names(&mut a)?;
                let keys = a.list("key-list")?;
                Test::Address {
                    m,
                    part,
                    headers,
                    keys,
                }
            } else {
                let fields = a.raw_list("envelope-part")?;
                for (f, pos) in &fields {
                    // RFC 5228 §5.4: "from" and "to"; others are errors.
                    if !f.eq_ignore_ascii_case("from") && !f.eq_ignore_ascii_case("to") {
                        return Err(pos.error(format!(
                            "envelope: unsupported envelope part \"{f}\" (\"from\" or \"to\")"
                        )));
                    }
                }
                let fields = fields
                    .iter()
                    .map(|(f, p)| a.convert(&f.to_ascii_lowercase(), *p))
                    .collect::<Result<_, _>>()?;
                let keys = a.list("key-list")?;
                Test::Envelope {
                    m,
                    part,
                    fields,
                    keys,
                }
            }
        }
        "header" => {
            let m = match_only(&mut a)?;
            let headers = header_names(&mut a)?;
            let keys = a.list("key-list")?;
            Test::Header { m, headers, keys }
        }
        "exists" => {
            no_tags(&mut a)?;
            Test::Exists(header_names(&mut a)?)
        }
        "size" => {
            // RFC 5228 §5.9: exactly one of :over / :under.
            let mut over = None;
            while let Some((tag, pos)) = a.tag()? {
                match tag.as_str() {
                    "over" | "under" if over.is_none() => over = Some(tag == "over"),
                    "over" | "under" => {
                        return Err(pos.error("size: ':over' and ':under' conflict"))
                    }
                    _ => return Err(a.unknown_tag(&tag, pos)),
                }
            }
            let Some(over) = over else {
                return Err(a.pos.error("size: needs ':over' or ':under'"));
            };
            Test::Size {
                over,
                limit: a.number("limit")?,
            }
        }
        "body" => {
            let mut m = MatchTags::default();
            let mut transform: Option<BodyTransform> = None;
            while let Some((tag, pos)) = a.tag()? {
                if m.take(&tag, pos, &mut a)? {
                    continue;
                }
                // RFC 5173 §5: one transform, :text by default.
                let t = match tag.as_str() {
                    "raw" => BodyTransform::Raw,
                    "text" => BodyTransform::Text,
                    "content" => BodyTransform::Content(a.list("content-types")?),
                    _ => return Err(a.unknown_tag(&tag, pos)),
                };
                if transform.is_some() {
                    return Err(pos.error("body: more than one of :raw, :content, :text"));
                }
                transform = Some(t);
            }
            let m = m.finish(&a)?;
            Test::Body {
                m,
                transform: transform.unwrap_or(BodyTransform::Text),
                keys: a.list("key-list")?,
            }
        }
        "date" | "currentdate" => {
            let mut m = MatchTags::default();
            let mut zone = Zone::Local;
            let mut zone_seen = false;
            while let Some((tag, pos)) = a.tag()? {
                if m.take(&tag, pos, &mut a)? {
                    continue;
                }
                let z = match tag.as_str() {
                    // RFC 5260 §4.1.
                    "zone" => {
                        let (z, zpos) = a.string("time-zone")?;
                        if let Some(s) = z.constant() {
                            if crate::date::parse_zone(s).is_none() {
                                return Err(zpos.error(format!(
                                    "{}: invalid time zone \"{s}\" (+hhmm or -hhmm)",
                                    a.name
                                )));
                            }
                        }
                        Zone::Fixed(z)
                    }
                    "originalzone" if a.name == "date" => Zone::Original,
                    _ => return Err(a.unknown_tag(&tag, pos)),
                };
                if zone_seen {
                    return Err(
                        pos.error(format!("{}: ':zone' and ':originalzone' conflict", a.name))
                    );
                }
                zone_seen = true;
                zone = z;
            }
            let m = m.finish(&a)?;
            let header = if a.name == "date" {
                let (h, hpos) = a.string("header-name")?;
                check_header_name(&a, &h, hpos)?;
                Some(h)
            } else {
                None
            };
            let (part, ppos) = a.string("date-part")?;
            if let Some(s) = part.constant() {
                // RFC 5260 §4.2: an unknown date-part is an error.
                if crate::date::DatePart::parse(s).is_none() {
                    return Err(ppos.error(format!("{}: unknown date-part \"{s}\"", a.name)));
                }
            }
            let keys = a.list("key-list")?;
            match header {
                Some(header) => Test::Date {
                    m,
                    zone,
                    header,
                    part,
                    keys,
                },
                None => Test::CurrentDate {
                    m,
                    zone,
                    part,
                    keys,
                },
            }
        }
        "string" => {
            let m = match_only(&mut a)?;
            let sources = a.list("source")?;
            Test::String {
                m,
                sources,
                keys: a.list("key-list")?,
            }
        }
        "hasflag" => {
            let m = match_only(&mut a)?;
            // RFC 5232 §4: [<variable-list: string-list>] <list-of-flags: string-list>.
            let mut vars = Vec::new();
            if a.remaining() == 2 {
                for (name, pos) in a.raw_list("variable-list")? {
                    a.need(Ext::Variables, pos, "a hasflag variable list")?;
                    vars.push(variable_name(&a, &name, pos)?);
                }
            }
            Test::HasFlag {
                m,
                vars,
                keys: a.list("list-of-flags")?,
            }
        }
        "mailboxexists" => {
            no_tags(&mut a)?;
            Test::MailboxExists(a.list("mailbox-names")?)
        }
        _ => return Err(a.pos.error(format!("unknown test '{}'", a.name))),
    };
    a.finish()?;
    Ok(t)
}

/// Tags of a test that takes only a match type and a comparator.
fn match_only(a: &mut Args) -> Result<crate::ast::Match, ParseError> {
    let mut m = MatchTags::default();
    while let Some((tag, pos)) = a.tag()? {
        if !m.take(&tag, pos, a)? {
            return Err(a.unknown_tag(&tag, pos));
        }
    }
    m.finish(a)
}

fn no_tags(a: &mut Args) -> Result<(), ParseError> {
    match a.tag()? {
        Some((tag, pos)) => Err(a.unknown_tag(&tag, pos)),
        None => Ok(()),
    }
}

fn header_names(a: &mut Args) -> Result<Vec<Str>, ParseError> {
    let raw = a.raw_list("header-names")?;
    raw.iter()
        .map(|(s, pos)| {
            let name = a.convert(s, *pos)?;
            check_header_name(a, &name, *pos)?;
            Ok(name)
        })
        .collect()
}

/// RFC 5228 §2.4.2.2 / RFC 5322 §3.6.8: a field name is printable ASCII without ':'.
fn check_header_name(a: &Args, name: &Str, pos: Pos) -> Result<(), ParseError> {
    match name.constant() {
        Some(s) if !crate::message::valid_field_name(s) => {
            Err(pos.error(format!("{}: invalid header name \"{s}\"", a.name)))
        }
        _ => Ok(()),
    }
}
