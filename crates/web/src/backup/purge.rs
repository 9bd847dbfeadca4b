//! Purge (docs/spec.md §7.8): the messages of some mailboxes that match every criterion
//! given — INTERNALDATE older than a duration, RFC822.SIZE over a size — listed, and unless
//! it is a dry run expunged through `Store::expunge` like IMAP EXPUNGE (sessions are told,
//! quota usage drops, POP3 follows docs/spec.md §5.7).

use std::collections::HashSet;

use store::{Account, Mailbox, Store, Uid};

use super::{now, Result};

/// Which messages a purge removes: all of these that are given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Criteria {
    /// INTERNALDATE more than this many seconds ago.
    pub older_than: Option<u64>,
    /// RFC822.SIZE over this many bytes.
    pub larger_than: Option<u64>,
}

/// A message a purge removed (or, dry, would remove).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Removed {
    pub mailbox: String,
    pub uid: Uid,
    /// INTERNALDATE, unix seconds.
    pub received: i64,
    pub size: u64,
    pub subject: Option<String>,
}

/// Removes the messages of `mailboxes` that match `criteria` (every message when none is
/// given), or with `dry_run` only lists them. Returns what went, in mailbox and UID order.
pub async fn purge(
    store: &Store,
    account: &Account,
    mailboxes: &[Mailbox],
    criteria: Criteria,
    dry_run: bool,
) -> Result<Vec<Removed>> {
    let cutoff = criteria
        .older_than
        .map(|age| now().saturating_sub(i64::try_from(age).unwrap_or(i64::MAX)));
    let mut out = Vec::new();
    for mb in mailboxes {
        let chosen: Vec<store::MessageMeta> = store
            .messages_shared(mb.id)?
            .iter()
            .filter(|m| cutoff.is_none_or(|c| m.internaldate < c))
            .filter(|m| criteria.larger_than.is_none_or(|s| m.size > s))
            .cloned()
            .collect();
        if chosen.is_empty() {
            continue;
        }
        // Subjects are read first: an expunge may take the structure with the blob.
        let listed: Vec<Removed> = chosen
            .iter()
            .map(|m| Removed {
                mailbox: mb.name.clone(),
                uid: m.uid,
                received: m.internaldate,
                size: m.size,
                subject: store
                    .structure(m.blob)
                    .ok()
                    .and_then(|s| s.envelope.subject)
                    .map(crate::messages::decode_subject),
            })
            .collect();
        if dry_run {
            out.extend(listed);
            continue;
        }
        let uids: Vec<Uid> = chosen.iter().map(|m| m.uid).collect();
        let gone: HashSet<Uid> = store
            .expunge(account.id, mb.id, &uids)
            .await?
            .into_iter()
            .collect();
        out.extend(listed.into_iter().filter(|r| gone.contains(&r.uid)));
    }
    Ok(out)
}

/// `--older-than` / `older_than`: a number and a unit, `h` (hours), `d` (days) or `w` (weeks):
/// `90d`, `12h`, `2w`. Seconds.
pub fn parse_age(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let bad =
        || format!("invalid duration {text:?}: give a number and h, d or w, like 90d, 12h or 2w");
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let n: u64 = t[..split].parse().map_err(|_| bad())?;
    let unit: u64 = match t[split..].trim().to_ascii_lowercase().as_str() {
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(unit)
        .ok_or_else(|| format!("duration {text:?} is too long"))
}

/// Why [`parse_size`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeError {
    Invalid,
    TooLarge,
}

/// A size a person types: bytes, or a number with a unit (`500MB`, `1.5GB`, `2GiB`; KB/MB/GB
/// count in 1000s, KiB/MiB/GiB in 1024s), as `--quota` takes it.
pub fn parse_size(text: &str) -> Result<u64, SizeError> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = (&t[..split], t[split..].trim());
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" | "byte" | "bytes" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => return Err(SizeError::Invalid),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return Err(SizeError::Invalid);
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| SizeError::Invalid)?
    };
    // The fraction as an exact decimal: 1.5 GB is 1,500,000,000 bytes, no float rounding.
    let fraction_bytes = if fraction.is_empty() {
        0
    } else {
        let digits = u32::try_from(fraction.len()).map_err(|_| SizeError::Invalid)?;
        let scale = 10u128.checked_pow(digits).ok_or(SizeError::Invalid)?;
        let f: u128 = fraction.parse().map_err(|_| SizeError::Invalid)?;
        u64::try_from(f * u128::from(multiplier) / scale).map_err(|_| SizeError::Invalid)?
    };
    whole
        .checked_mul(multiplier)
        .and_then(|b| b.checked_add(fraction_bytes))
        .ok_or(SizeError::TooLarge)
}

/// `--larger-than` / `larger_than`: [`parse_size`] with a message that names the input.
pub fn parse_larger_than(text: &str) -> Result<u64, String> {
    parse_size(text).map_err(|e| match e {
        SizeError::Invalid => format!(
            "invalid size {text:?}: give bytes or a number with a unit, like 5MiB or 500KB \
             (KB/MB/GB = 1000-based, KiB/MiB/GiB = 1024-based)"
        ),
        SizeError::TooLarge => format!("size {text:?} is too large"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_sizes() {
        assert_eq!(parse_age("90d"), Ok(90 * 86_400));
        assert_eq!(parse_age("12h"), Ok(12 * 3600));
        assert_eq!(parse_age("2W"), Ok(14 * 86_400));
        assert_eq!(parse_age("0d"), Ok(0));
        for bad in [
            "",
            "d",
            "90",
            "90s",
            "-1d",
            "1.5d",
            "ninety days",
            "99999999999999999999d",
        ] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
        assert!(parse_age("9999999999999999999w")
            .unwrap_err()
            .contains("too long"));
        assert_eq!(parse_larger_than("5MiB"), Ok(5 << 20));
        assert_eq!(parse_larger_than("500KB"), Ok(500_000));
        assert_eq!(parse_larger_than("1024"), Ok(1024));
        assert!(parse_larger_than("5 parsecs")
            .unwrap_err()
            .contains("\"5 parsecs\""));
        assert_eq!(parse_size("99999999999TB"), Err(SizeError::TooLarge));
    }
}
