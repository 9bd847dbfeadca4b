//! The conversion of imap-codec's search criteria (RFC 3501 §6.4.4, RFC 7162 §3.1.5, RFC 5032)
//! and sort criteria (RFC 5256 §3, RFC 5957) to ours; the SEARCH / SORT / THREAD charset rule.

use imap_codec::imap_types::core::AString;
use imap_codec::imap_types::datetime::NaiveDate;
use imap_codec::imap_types::search::SearchKey as ImapKey;
use store::{Flags, ModSeq};

use super::command_codec::{seq_set, utf8, Conv};
use crate::response::Code;
use crate::search::{DateCmp, DateOf, SearchKey};

/// RFC 3501 §6.4.4 (and RFC 5256 §3 for SORT/THREAD): US-ASCII and UTF-8 are supported;
/// a charset we lack is NO [BADCHARSET] (not BAD).
pub(super) fn check_charset(cs: &str) -> Result<(), Conv> {
    if cs.eq_ignore_ascii_case("UTF-8") || cs.eq_ignore_ascii_case("US-ASCII") {
        return Ok(());
    }
    Err(Conv::Refused(
        Some(Code::Other("BADCHARSET (UTF-8 US-ASCII)".into())),
        format!("unsupported charset {}", cs.to_ascii_uppercase()),
    ))
}

pub(super) fn sort_criterion(
    k: &imap_codec::imap_types::extensions::sort::SortKey,
) -> crate::sort::Criterion {
    use crate::sort::Criterion as C;
    use imap_codec::imap_types::extensions::sort::SortKey as K;
    match k {
        K::Arrival => C::Arrival,
        K::Cc => C::Cc,
        K::Date => C::Date,
        K::From => C::From,
        K::Size => C::Size,
        K::Subject => C::Subject,
        K::To => C::To,
        K::DisplayFrom => C::DisplayFrom,
        K::DisplayTo => C::DisplayTo,
    }
}

/// Search criteria: one key, or the AND of several (RFC 3501 §6.4.4).
pub(super) fn search_keys(mut keys: Vec<ImapKey<'_>>) -> Result<SearchKey, String> {
    if keys.len() == 1 {
        return search_key(keys.remove(0));
    }
    Ok(SearchKey::And(
        keys.into_iter().map(search_key).collect::<Result<_, _>>()?,
    ))
}

fn astr(a: &AString<'_>) -> Result<String, String> {
    utf8(a.as_ref())
}

fn days(d: &NaiveDate) -> i64 {
    i64::from(d.as_ref().to_epoch_days())
}

fn search_key(k: ImapKey<'_>) -> Result<SearchKey, String> {
    use SearchKey as K;
    let hdr = |name: &str, v: &AString<'_>| Ok::<_, String>(K::Header(name.into(), astr(v)?));
    Ok(match k {
        ImapKey::And(v) => search_keys(v.into_inner())?,
        ImapKey::SequenceSet(s) => K::Seq(seq_set(s)),
        ImapKey::All => K::All,
        ImapKey::Answered => K::Flag(Flags::ANSWERED, true),
        ImapKey::Deleted => K::Flag(Flags::DELETED, true),
        ImapKey::Draft => K::Flag(Flags::DRAFT, true),
        ImapKey::Flagged => K::Flag(Flags::FLAGGED, true),
        ImapKey::Seen => K::Flag(Flags::SEEN, true),
        ImapKey::Unanswered => K::Flag(Flags::ANSWERED, false),
        ImapKey::Undeleted => K::Flag(Flags::DELETED, false),
        ImapKey::Undraft => K::Flag(Flags::DRAFT, false),
        ImapKey::Unflagged => K::Flag(Flags::FLAGGED, false),
        ImapKey::Unseen => K::Flag(Flags::SEEN, false),
        ImapKey::Recent => K::Recent(true),
        ImapKey::Old => K::Recent(false),
        ImapKey::New => K::New,
        ImapKey::Keyword(a) => K::Keyword(a.inner().to_string(), true),
        ImapKey::Unkeyword(a) => K::Keyword(a.inner().to_string(), false),
        ImapKey::Bcc(v) => hdr("Bcc", &v)?,
        ImapKey::Cc(v) => hdr("Cc", &v)?,
        ImapKey::From(v) => hdr("From", &v)?,
        ImapKey::Subject(v) => hdr("Subject", &v)?,
        ImapKey::To(v) => hdr("To", &v)?,
        ImapKey::Header(name, v) => K::Header(astr(&name)?, astr(&v)?),
        ImapKey::Body(v) => K::Body(astr(&v)?),
        ImapKey::Text(v) => K::Text(astr(&v)?),
        ImapKey::Before(d) => K::Date(DateCmp::Before, days(&d), DateOf::Internal),
        ImapKey::On(d) => K::Date(DateCmp::On, days(&d), DateOf::Internal),
        ImapKey::Since(d) => K::Date(DateCmp::Since, days(&d), DateOf::Internal),
        ImapKey::SentBefore(d) => K::Date(DateCmp::Before, days(&d), DateOf::Sent),
        ImapKey::SentOn(d) => K::Date(DateCmp::On, days(&d), DateOf::Sent),
        ImapKey::SentSince(d) => K::Date(DateCmp::Since, days(&d), DateOf::Sent),
        ImapKey::Larger(n) => K::Larger(n.into()),
        ImapKey::Smaller(n) => K::Smaller(n.into()),
        ImapKey::Uid(s) => K::Uid(seq_set(s)),
        // RFC 7162 §3.1.5: one MODSEQ per message, so the entry name is ignored.
        ImapKey::ModSequence { modseq, .. } => K::ModSeq(ModSeq::new(modseq)),
        // RFC 5032 §3.
        ImapKey::Older(n) => K::Within {
            older: true,
            seconds: n.get(),
        },
        ImapKey::Younger(n) => K::Within {
            older: false,
            seconds: n.get(),
        },
        ImapKey::Not(k) => K::Not(Box::new(search_key(*k)?)),
        ImapKey::Or(a, b) => K::Or(Box::new(search_key(*a)?), Box::new(search_key(*b)?)),
    })
}
