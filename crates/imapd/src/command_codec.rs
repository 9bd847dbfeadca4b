//! imap-codec adapter: runs imap-codec's `CommandCodec` (RFC 3501 §9 grammar plus the
//! extensions enabled in Cargo.toml) on one command and converts its `Command` into ours.
//!
//! Conversions that can fail are checked here: strings that are not UTF-8 become
//! [`ParseError::Syntax`]; commands imap-codec knows but we do not serve become
//! [`ParseError::Unknown`]; mailbox names that are not modified UTF-7 (RFC 3501 §5.1.3) and
//! SEARCH charsets we lack (RFC 3501 §6.4.4) are valid commands that become
//! [`Kind::Refused`] (answered NO). A command imap-codec cannot parse at all goes to
//! `command_failure.rs`, which finds where and how badly it failed.

use std::borrow::Cow;

use imap_codec::decode::{CommandDecodeError, Decoder};
use imap_codec::imap_types::command::{CommandBody, FetchModifier, SelectParameter, StoreModifier};
use imap_codec::imap_types::core::AString;
use imap_codec::imap_types::fetch::{
    Macro, MacroOrMessageDataItemNames, MessageDataItemName, Part, Section as ImapSection,
};
use imap_codec::imap_types::flag::{Flag, StoreType};
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox};
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};
use imap_codec::imap_types::status::StatusDataItemName;
use imap_codec::CommandCodec;

use super::command_search::{check_charset, search_keys, sort_criterion};
use super::*;

/// What imap-codec made of the input.
pub(super) enum Outcome {
    /// Parsed and converted, with the bytes consumed.
    Parsed(Command, usize),
    /// More input is needed (a cut line, or a literal announced but not there yet).
    Incomplete,
    /// Not in imap-codec's grammar.
    Failed,
    /// Parsed, but not something we accept.
    Invalid(ParseError),
}

/// Why a command imap-codec parsed is not one we run as it is.
pub(super) enum Conv {
    /// Not valid after all (text that must be UTF-8 is not, VANISHED without CHANGEDSINCE).
    Bad(String),
    /// Valid, but can only fail: answered NO ([`Kind::Refused`]).
    Refused(Option<Code>, String),
}

impl From<String> for Conv {
    fn from(reason: String) -> Self {
        Conv::Bad(reason)
    }
}

pub(super) fn parse(input: &[u8]) -> Outcome {
    match CommandCodec::default().decode(input) {
        Ok((rest, cmd)) => {
            let used = input.len() - rest.len();
            let tag = cmd.tag.inner().to_string();
            // COPY, MOVE and SEARCH are valid only with a mailbox selected (RFC 3501 §6.4).
            let selected_only = matches!(
                cmd.body,
                CommandBody::Copy { .. }
                    | CommandBody::Move { .. }
                    | CommandBody::Search { .. }
                    | CommandBody::Sort { .. }
                    | CommandBody::Thread { .. }
            );
            match convert(cmd.body) {
                Ok(kind) => Outcome::Parsed(Command { tag, kind }, used),
                Err(Conv::Bad(reason)) => Outcome::Invalid(ParseError::Syntax {
                    tag: Some(tag),
                    reason,
                }),
                Err(Conv::Refused(code, text)) => {
                    let kind = Kind::Refused {
                        code,
                        text,
                        selected_only,
                        clears_saved: false,
                    };
                    Outcome::Parsed(Command { tag, kind }, used)
                }
            }
        }
        Err(CommandDecodeError::Incomplete | CommandDecodeError::LiteralFound { .. }) => {
            Outcome::Incomplete
        }
        Err(CommandDecodeError::Failed) => Outcome::Failed,
    }
}

fn convert(body: CommandBody<'_>) -> Result<Kind, Conv> {
    use CommandBody as B;
    Ok(match body {
        B::Capability => Kind::Capability,
        B::Noop => Kind::Noop,
        B::Logout => Kind::Logout,
        B::StartTLS => Kind::StartTls,
        B::Login { username, password } => Kind::Login {
            user: utf8(username.as_ref())?,
            pass: auth::Secret::new(utf8(password.declassify().as_ref())?),
        },
        B::Authenticate {
            mechanism,
            initial_response,
        } => Kind::Authenticate {
            mechanism: mechanism.to_string().to_ascii_uppercase(),
            // imap-codec decodes the base64; the SASL exchange takes it encoded (RFC 4959 §3:
            // "=" is an empty response, encoded as "").
            initial: initial_response
                .map(|r| auth::Secret::new(auth::sasl::encode_base64(r.declassify()).into_bytes())),
        },
        B::Select {
            mailbox,
            parameters,
        } => Kind::Select {
            mailbox: mailbox_name(mailbox)?,
            read_only: false,
            params: select_params(parameters)?,
        },
        B::Examine {
            mailbox,
            parameters,
        } => Kind::Select {
            mailbox: mailbox_name(mailbox)?,
            read_only: true,
            params: select_params(parameters)?,
        },
        B::Create { mailbox } => Kind::Create {
            mailbox: mailbox_name(mailbox)?,
            special_use: Vec::new(),
        },
        B::Delete { mailbox } => Kind::Delete(mailbox_name(mailbox)?),
        B::Rename { from, to } => Kind::Rename(mailbox_name(from)?, mailbox_name(to)?),
        B::Subscribe { mailbox } => Kind::Subscribe(mailbox_name(mailbox)?),
        B::Unsubscribe { mailbox } => Kind::Unsubscribe(mailbox_name(mailbox)?),
        B::List {
            reference,
            mailbox_wildcard,
        } => list_kind(reference, mailbox_wildcard, false)?,
        // RFC 3501 §6.3.9: LSUB is LIST restricted to subscribed names.
        B::Lsub {
            reference,
            mailbox_wildcard,
        } => list_kind(reference, mailbox_wildcard, true)?,
        B::Status {
            mailbox,
            item_names,
        } => {
            // RFC 3501 §9: status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")".
            if item_names.is_empty() {
                return Err(Conv::Bad("STATUS needs at least one item".into()));
            }
            Kind::Status {
                mailbox: mailbox_name(mailbox)?,
                items: item_names.iter().map(status_item).collect(),
            }
        }
        B::Append {
            mailbox,
            flags,
            date,
            message,
        } => Kind::Append {
            mailbox: mailbox_name(mailbox)?,
            messages: vec![AppendMsg {
                catenate: None,
                flags: flags.iter().map(Flag::to_string).collect(),
                date: date.map(|d| {
                    let d = d.as_ref();
                    (d.timestamp(), (d.offset().local_minus_utc() / 60) as i16)
                }),
                message: match message {
                    // RFC 3516 literal8 accepted too.
                    imap_codec::imap_types::extensions::binary::LiteralOrLiteral8::Literal(l) => {
                        l.into_inner().into_owned()
                    }
                    imap_codec::imap_types::extensions::binary::LiteralOrLiteral8::Literal8(l) => {
                        l.data.into_owned()
                    }
                },
            }],
        },
        B::Namespace => Kind::Namespace,
        B::Enable { capabilities } => Kind::Enable(
            capabilities
                .as_ref()
                .iter()
                .map(|c| c.to_string().to_ascii_uppercase())
                .collect(),
        ),
        B::Id { .. } => Kind::Id,
        B::Idle => Kind::Idle,
        B::Check => Kind::Check,
        B::Close => Kind::Close,
        B::Unselect => Kind::Unselect,
        B::Expunge => Kind::Expunge { uids: None },
        B::ExpungeUid { sequence_set } => Kind::Expunge {
            uids: Some(seq_set(sequence_set)),
        },
        B::Search {
            charset,
            criteria,
            uid,
        } => {
            if let Some(cs) = charset {
                check_charset(cs.as_ref())?;
            }
            Kind::Search {
                uid,
                key: search_keys(criteria.into_inner())?,
                ret: None,
            }
        }
        B::Sort {
            sort_criteria,
            charset,
            search_criteria,
            uid,
        } => {
            // RFC 5256 §3: the charset is required here.
            check_charset(charset.as_ref())?;
            let keys = sort_criteria
                .into_inner()
                .into_iter()
                .map(|c| crate::sort::Key {
                    criterion: sort_criterion(&c.key),
                    reverse: c.reverse,
                })
                .collect();
            Kind::Sort {
                uid,
                keys,
                key: search_keys(search_criteria.into_inner())?,
                ret: None,
            }
        }
        B::Thread {
            algorithm,
            charset,
            search_criteria,
            uid,
        } => {
            // RFC 5256 §3: an algorithm we do not offer is BAD.
            let name = algorithm.to_string();
            let Some(algorithm) = crate::thread::Algorithm::parse(&name) else {
                return Err(Conv::Bad(format!(
                    "unknown threading algorithm {name} (ORDEREDSUBJECT, REFERENCES, REFS)"
                )));
            };
            check_charset(charset.as_ref())?;
            Kind::Thread {
                uid,
                algorithm,
                key: search_keys(search_criteria.into_inner())?,
            }
        }
        B::Fetch {
            sequence_set,
            macro_or_item_names,
            uid,
            modifiers,
        } => {
            let (mut changed_since, mut vanished) = (None, false);
            for m in modifiers {
                match m {
                    // RFC 7162 §3.1.4.1.
                    FetchModifier::ChangedSince(n) => changed_since = Some(ModSeq::new(n.get())),
                    // RFC 7162 §3.2.6.
                    FetchModifier::Vanished => vanished = true,
                }
            }
            // RFC 7162 §3.2.6: VANISHED needs CHANGEDSINCE.
            if vanished && changed_since.is_none() {
                return Err(Conv::Bad("VANISHED needs CHANGEDSINCE".into()));
            }
            Kind::Fetch {
                uid,
                set: seq_set(sequence_set),
                items: fetch_items(macro_or_item_names)?,
                changed_since,
                vanished,
            }
        }
        B::Store {
            sequence_set,
            kind,
            response,
            flags,
            uid,
            modifiers,
        } => Kind::Store {
            uid,
            set: seq_set(sequence_set),
            op: match kind {
                StoreType::Replace => StoreOp::Set,
                StoreType::Add => StoreOp::Add,
                StoreType::Remove => StoreOp::Remove,
            },
            silent: response == imap_codec::imap_types::flag::StoreResponse::Silent,
            flags: flags.iter().map(Flag::to_string).collect(),
            // RFC 7162 §3.1.3 (a single UNCHANGEDSINCE; the last one wins).
            unchanged_since: modifiers
                .into_iter()
                .map(|StoreModifier::UnchangedSince(n)| ModSeq::new(n))
                .next_back(),
        },
        B::Copy {
            sequence_set,
            mailbox,
            uid,
        } => Kind::Copy {
            uid,
            set: seq_set(sequence_set),
            mailbox: mailbox_name(mailbox)?,
            is_move: false,
        },
        B::Move {
            sequence_set,
            mailbox,
            uid,
        } => Kind::Copy {
            uid,
            set: seq_set(sequence_set),
            mailbox: mailbox_name(mailbox)?,
            is_move: true,
        },
        B::GetQuota { root } => Kind::GetQuota(utf8(root.as_ref())?),
        B::GetQuotaRoot { mailbox } => Kind::GetQuotaRoot(mailbox_name(mailbox)?),
        B::SetQuota { root, .. } => Kind::SetQuota(utf8(root.as_ref())?),
        // RFC 4978 §3: DEFLATE is the only algorithm imap-codec knows (and the only one).
        B::Compress { .. } => Kind::Compress,
    })
}

pub(super) fn utf8(b: &[u8]) -> Result<String, String> {
    String::from_utf8(b.to_vec()).map_err(|_| "string is not UTF-8".to_string())
}

/// Plain RFC 3501 LIST / LSUB (no LIST-EXTENDED options). A reference or pattern that is not
/// modified UTF-7 can match no name (every stored name has a valid spelling): it is left out,
/// so the command lists nothing, as Dovecot does.
fn list_kind(reference: Mailbox<'_>, wildcard: ListMailbox<'_>, lsub: bool) -> Result<Kind, Conv> {
    let reference = mailbox_name(reference).ok();
    let pattern = list_pattern(wildcard).ok();
    Ok(Kind::List {
        reference: reference.clone().unwrap_or_default(),
        patterns: reference.and(pattern).into_iter().collect(),
        lsub,
        opts: ListOpts::default(),
    })
}

/// A mailbox name, decoded from modified UTF-7 (RFC 3501 §5.1.3). imap-codec spells any case
/// of INBOX as `Mailbox::Inbox` (RFC 3501 §5.1: INBOX is case-insensitive). A name that is
/// not modified UTF-7 is a valid command that fails: [`Conv::Refused`] (NO, as Dovecot).
fn mailbox_name(m: Mailbox<'_>) -> Result<String, Conv> {
    match m {
        Mailbox::Inbox => Ok("INBOX".into()),
        Mailbox::Other(o) => mutf7(o.as_ref()).ok_or_else(refused_name),
    }
}

fn list_pattern(m: ListMailbox<'_>) -> Result<String, Conv> {
    let raw: Cow<'_, [u8]> = match &m {
        ListMailbox::Token(t) => Cow::Borrowed(t.as_ref()),
        ListMailbox::String(s) => Cow::Borrowed(s.as_ref()),
    };
    mutf7(&raw).ok_or_else(refused_name)
}

fn refused_name() -> Conv {
    let (code, text) = invalid_name();
    Conv::Refused(code, text)
}

fn mutf7(raw: &[u8]) -> Option<String> {
    crate::mutf7::decode(std::str::from_utf8(raw).ok()?)
}

fn select_params(params: Vec<SelectParameter>) -> Result<SelectParams, Conv> {
    let mut p = SelectParams::default();
    for param in params {
        match param {
            // RFC 7162 §3.1.8.
            SelectParameter::CondStore => p.condstore = true,
            // RFC 7162 §3.2.5.
            SelectParameter::QResync {
                uid_validity,
                mod_sequence_value,
                known_uids,
                seq_match_data,
            } => {
                let known_uids = known_uids.map(seq_set);
                // RFC 7162 §7: known-uids is a sequence-set where "*" is not allowed (Dovecot
                // rejects it too).
                if known_uids.as_ref().is_some_and(|k| {
                    k.0.iter()
                        .any(|(a, b)| *a == Bound::Star || *b == Bound::Star)
                }) {
                    return Err(Conv::Bad("QRESYNC known-uids may not contain *".into()));
                }
                p.qresync = Some(Qresync {
                    uidvalidity: UidValidity::new(uid_validity.get()),
                    modseq: ModSeq::new(mod_sequence_value.get()),
                    known_uids,
                    seq_match: seq_match_data.map(|(a, b)| (seq_set(a), seq_set(b))),
                })
            }
        }
    }
    Ok(p)
}

fn status_item(i: &StatusDataItemName) -> String {
    match i {
        StatusDataItemName::Messages => "MESSAGES",
        StatusDataItemName::Recent => "RECENT",
        StatusDataItemName::UidNext => "UIDNEXT",
        StatusDataItemName::UidValidity => "UIDVALIDITY",
        StatusDataItemName::Unseen => "UNSEEN",
        StatusDataItemName::Deleted => "DELETED",
        StatusDataItemName::DeletedStorage => "DELETED-STORAGE",
        // RFC 8438 §3.
        StatusDataItemName::Size => "SIZE",
        // RFC 7162 §3.1.7.
        StatusDataItemName::HighestModSeq => "HIGHESTMODSEQ",
    }
    .to_string()
}

pub(super) fn seq_set(s: SequenceSet) -> SeqSet {
    let b = |x: SeqOrUid| match x {
        SeqOrUid::Value(n) => Bound::Num(n.get()),
        SeqOrUid::Asterisk => Bound::Star,
    };
    SeqSet(
        s.0.into_inner()
            .into_iter()
            .map(|q| match q {
                Sequence::Single(x) => (b(x), b(x)),
                Sequence::Range(x, y) => (b(x), b(y)),
            })
            .collect(),
    )
}

fn fetch_items(m: MacroOrMessageDataItemNames<'_>) -> Result<Vec<FetchAtt>, Conv> {
    let names = match m {
        // RFC 3501 §6.4.5 macros.
        MacroOrMessageDataItemNames::Macro(mac) => {
            let mut v = vec![
                FetchAtt::Flags,
                FetchAtt::InternalDate,
                FetchAtt::Rfc822Size,
            ];
            if mac != Macro::Fast {
                v.push(FetchAtt::Envelope);
            }
            if mac == Macro::Full {
                v.push(FetchAtt::Body);
            }
            return Ok(v);
        }
        MacroOrMessageDataItemNames::MessageDataItemNames(v) => v,
    };
    names
        .into_iter()
        .map(|n| {
            use MessageDataItemName as N;
            Ok(match n {
                N::Body => FetchAtt::Body,
                N::BodyStructure => FetchAtt::BodyStructure,
                N::Envelope => FetchAtt::Envelope,
                N::Flags => FetchAtt::Flags,
                N::InternalDate => FetchAtt::InternalDate,
                N::Rfc822 => FetchAtt::Rfc822,
                N::Rfc822Header => FetchAtt::Rfc822Header,
                N::Rfc822Size => FetchAtt::Rfc822Size,
                N::Rfc822Text => FetchAtt::Rfc822Text,
                N::Uid => FetchAtt::Uid,
                // RFC 7162 §3.1.4.
                N::ModSeq => FetchAtt::ModSeq,
                N::BodyExt {
                    section,
                    partial,
                    peek,
                } => FetchAtt::Section {
                    peek,
                    section: section.map(convert_section).unwrap_or_default(),
                    partial: partial.map(|(a, b)| (a, b.get())),
                },
                // RFC 3516 §4.2.
                N::Binary {
                    section,
                    partial,
                    peek,
                } => FetchAtt::Binary {
                    peek,
                    part: section.iter().map(|n| n.get()).collect(),
                    partial: partial.map(|(a, b)| (a, b.get())),
                },
                N::BinarySize { section } => FetchAtt::BinarySize {
                    part: section.iter().map(|n| n.get()).collect(),
                },
            })
        })
        .collect()
}

fn convert_section(s: ImapSection<'_>) -> Section {
    let part = |p: Option<Part>| -> Vec<u32> {
        p.map(|p| p.0.as_ref().iter().map(|n| n.get()).collect())
            .unwrap_or_default()
    };
    let names = |v: imap_codec::imap_types::core::Vec1<AString<'_>>| -> Vec<String> {
        v.as_ref()
            .iter()
            .map(|a| String::from_utf8_lossy(a.as_ref()).into_owned())
            .collect()
    };
    match s {
        ImapSection::Part(p) => Section {
            part: part(Some(p)),
            text: None,
        },
        ImapSection::Header(p) => Section {
            part: part(p),
            text: Some(SectionText::Header),
        },
        ImapSection::HeaderFields(p, n) => Section {
            part: part(p),
            text: Some(SectionText::HeaderFields(names(n))),
        },
        ImapSection::HeaderFieldsNot(p, n) => Section {
            part: part(p),
            text: Some(SectionText::HeaderFieldsNot(names(n))),
        },
        ImapSection::Text(p) => Section {
            part: part(p),
            text: Some(SectionText::Text),
        },
        ImapSection::Mime(p) => Section {
            part: part(Some(p)),
            text: Some(SectionText::Mime),
        },
    }
}
