//! Delivery of an accepted message: trace headers (RFC 5321 §4.4), one shared stored copy in
//! the INBOX of every local recipient, the capture of outbound mail (docs/spec.md §6), and the
//! optional copy into the sender's Sent mailbox. Everything is durable before it returns,
//! so the final `250` is only sent for mail that is on disk.

use store::{Account, AccountId, AppendRequest, Flags, MailboxId, Store};

use crate::codes::{self, Reply};
use crate::dsn::Outcome;

/// A recipient accepted at RCPT time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// A local account (primary address or alias).
    Local { address: String, account: AccountId },
    /// A non-local address held in the capture account (never sent anywhere).
    Captured { address: String },
}

impl Recipient {
    pub fn address(&self) -> &str {
        match self {
            Recipient::Local { address, .. } | Recipient::Captured { address } => address,
        }
    }
}

/// Who handed us the message, for the `Received:` header.
pub struct Origin<'a> {
    pub helo: &'a str,
    pub peer: std::net::IpAddr,
    pub hostname: &'a str,
    /// RFC 3848 protocol name: ESMTP, ESMTPS, ESMTPA, ESMTPSA (or SMTP after HELO).
    pub with: &'static str,
    pub session_id: u64,
    /// Where captured mail goes (None: outbound is rejected, no capture).
    pub capture: Option<&'a str>,
    /// The authenticated account (Sent copy).
    pub account: Option<&'a Account>,
}

/// DSN trace headers (`dsn::trace_header`): one for the local copy (message-level fields
/// only, since every local recipient reads it), one for the captured copy (which names its
/// recipients anyway).
#[derive(Debug, Default)]
pub struct DsnTrace {
    pub local: Option<String>,
    pub captured: Option<String>,
}

/// The final reply, and when it is 250 what became of each recipient (same order as
/// `rcpts`): a copy can still fail after the check before delivery when a mailbox fills up
/// meanwhile (a delivery status notification then tells the sender, `dsn.rs`).
pub struct Delivery {
    pub reply: Reply,
    pub outcomes: Vec<Outcome>,
}

/// Delivers `body` from `from` to `rcpts`.
pub async fn deliver(
    store: &Store,
    origin: &Origin<'_>,
    from: &str,
    rcpts: &[Recipient],
    body: &[u8],
    dsn: &DsnTrace,
) -> Delivery {
    match deliver_inner(store, origin, from, rcpts, body, dsn).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("delivery failed: {e}");
            refused(codes::LOCAL_ERROR.reply())
        }
    }
}

fn refused(reply: Reply) -> Delivery {
    Delivery {
        reply,
        outcomes: Vec::new(),
    }
}

fn failed_copy(e: &store::Error) -> Outcome {
    let c = codes::OVER_QUOTA;
    Outcome::Failed {
        status: c.status,
        reply: format!("{} {} {} ({e})", c.code, c.status, c.text),
    }
}

async fn deliver_inner(
    store: &Store,
    origin: &Origin<'_>,
    from: &str,
    rcpts: &[Recipient],
    body: &[u8],
    dsn: &DsnTrace,
) -> store::Result<Delivery> {
    let single = match rcpts {
        [one] => Some(one.address()),
        _ => None,
    };
    let mut trace = trace_headers(origin, from, single, now_secs());
    // Each local INBOX once, with the recipients (indexes into `rcpts`) it stands for.
    let mut local: Vec<(AccountId, MailboxId)> = Vec::new();
    let mut owners: Vec<Vec<usize>> = Vec::new();
    let mut captured: Vec<&str> = Vec::new();
    let mut captured_idx: Vec<usize> = Vec::new();
    let mut outcomes = vec![Outcome::Delivered; rcpts.len()];
    // Accounts with an active Sieve script (docs/spec.md §6.5), each once, with the
    // recipients it stands for: delivered through `filter` rather than to INBOX.
    let mut filtered: Vec<(AccountId, &str, Vec<usize>)> = Vec::new();
    for (i, r) in rcpts.iter().enumerate() {
        match r {
            Recipient::Local { account, address } => {
                if let Some(f) = filtered.iter_mut().find(|f| f.0 == *account) {
                    f.2.push(i);
                    continue;
                }
                if store.active_sieve_script(*account)?.is_some() {
                    filtered.push((*account, address, vec![i]));
                    continue;
                }
                if let Some(inbox) = store.mailbox(*account, "INBOX")? {
                    match local.iter().position(|l| *l == (*account, inbox.id)) {
                        Some(at) => owners[at].push(i),
                        None => {
                            local.push((*account, inbox.id));
                            owners.push(vec![i]);
                        }
                    }
                }
            }
            Recipient::Captured { address } => {
                captured.push(address);
                captured_idx.push(i);
            }
        }
    }
    let capture_target = match (captured.is_empty(), origin.capture) {
        (false, Some(addr)) => match store.resolve(addr)? {
            Some(acct) => store.mailbox(acct.id, "INBOX")?.map(|mb| (acct.id, mb.id)),
            None => None,
        },
        _ => None,
    };
    if !captured.is_empty() && capture_target.is_none() {
        tracing::error!("capture account {:?} does not exist", origin.capture);
        return Ok(refused(
            codes::LOCAL_ERROR.with("Capture account missing; mail not accepted"),
        ));
    }
    // Check every quota first, so a message is accepted for all recipients or for none
    // (one DATA reply covers them all, RFC 5321 §3.3).
    let total =
        trace.len() as u64 + body.len() as u64 + dsn.local.as_ref().map_or(0, |h| h.len() as u64);
    let quota_checked = local
        .iter()
        .map(|l| l.0)
        .chain(capture_target.iter().map(|t| t.0))
        .chain(filtered.iter().map(|f| f.0));
    for account in quota_checked {
        if over_quota(store, account, total)? {
            return Ok(refused(codes::OVER_QUOTA.reply()));
        }
    }

    let mut delivered = 0usize;
    let mut failed = 0usize;
    // Return-Path first (RFC 5321 §4.4), then our DSN record.
    let mut bytes = trace.clone();
    if let Some(h) = &dsn.local {
        bytes.extend_from_slice(h.as_bytes());
    }
    bytes.extend_from_slice(body);
    if !local.is_empty() {
        let results = store.deliver(&local, req(&bytes, Flags::default())).await?;
        for (r, who) in results.into_iter().zip(&owners) {
            match r {
                Ok(_) => delivered += 1,
                Err(e) => {
                    failed += 1;
                    tracing::warn!("local delivery refused: {e}");
                    for &i in who {
                        outcomes[i] = failed_copy(&e);
                    }
                }
            }
        }
    }
    let out = crate::filter::Outbound {
        capture: origin.capture,
        hostname: origin.hostname,
    };
    for (account, address, who) in &filtered {
        let env = crate::filter::Envelope { from, to: address };
        let result = match store.account_by_id(*account)? {
            Some(acct) => crate::filter::deliver_to_account(store, out, env, &acct, &bytes).await,
            None => Err(store::Error::NoSuchAccount),
        };
        match result {
            Ok(()) => delivered += 1,
            Err(e) => {
                failed += 1;
                tracing::warn!("local delivery refused: {e}");
                for &i in who {
                    outcomes[i] = failed_copy(&e);
                }
            }
        }
    }
    if let Some(target) = capture_target {
        // docs/spec.md §6: captured mail names its real recipients; it is never sent anywhere.
        let mut bytes =
            format!("X-Mailstack-Captured-For: {}\r\n", captured.join(", ")).into_bytes();
        if let Some(h) = &dsn.captured {
            bytes.extend_from_slice(h.as_bytes());
        }
        bytes.append(&mut trace);
        bytes.extend_from_slice(body);
        let result = store
            .deliver(&[target], req(&bytes, Flags::default()))
            .await?
            .pop();
        let outcome = match result {
            Some(Ok(_)) => {
                delivered += 1;
                Outcome::Delivered
            }
            Some(Err(e)) => {
                failed += 1;
                tracing::warn!("capture refused: {e}");
                failed_copy(&e)
            }
            None => {
                failed += 1;
                failed_copy(&store::Error::Unavailable("no delivery result".into()))
            }
        };
        for &i in &captured_idx {
            outcomes[i] = outcome.clone();
        }
    }
    if delivered == 0 && failed > 0 {
        return Ok(refused(codes::OVER_QUOTA.reply()));
    }
    if let Some(account) = origin.account.filter(|a| a.save_sent) {
        save_sent(store, account, body).await;
    }
    Ok(Delivery {
        reply: codes::QUEUED.reply(),
        outcomes,
    })
}

/// Stores a delivery status notification in the INBOX of `to` when it is a local account
/// (docs/spec.md §6.2: nothing is sent out). A failure is logged, never fails the
/// transaction it reports on.
pub async fn deliver_report(store: &Store, to: &str, report: &[u8]) {
    let inbox = match store.resolve(to) {
        Ok(Some(acct)) => match store.mailbox(acct.id, "INBOX") {
            Ok(Some(mb)) => (acct.id, mb.id),
            _ => return,
        },
        Ok(None) => {
            tracing::info!(
                to,
                "delivery status notification not sent: sender is not local"
            );
            return;
        }
        Err(e) => {
            tracing::warn!("delivery status notification not stored: {e}");
            return;
        }
    };
    let mut bytes = b"Return-Path: <>\r\n".to_vec();
    bytes.extend_from_slice(report);
    match store.deliver(&[inbox], req(&bytes, Flags::default())).await {
        Ok(r) if r.iter().all(Result::is_ok) => {
            tracing::info!(to, "delivery status notification stored")
        }
        Ok(_) => tracing::warn!(to, "delivery status notification refused (quota)"),
        Err(e) => tracing::warn!("delivery status notification not stored: {e}"),
    }
}

/// The sender's own copy, as submitted, with \Seen. A failure here never fails the
/// submission (the mail itself is delivered); it is logged.
async fn save_sent(store: &Store, account: &Account, body: &[u8]) {
    let sent = match store.mailboxes(account.id) {
        Ok(boxes) => boxes
            .into_iter()
            .find(|m| m.special_use == Some(store::SpecialUse::Sent)),
        Err(e) => {
            tracing::warn!("Sent copy skipped: {e}");
            return;
        }
    };
    let Some(sent) = sent else {
        tracing::warn!(
            account = account.address,
            "Sent copy skipped: no Sent mailbox"
        );
        return;
    };
    let flags = Flags::from_names(["\\Seen"]);
    if let Err(e) = store.append(account.id, sent.id, req(body, flags)).await {
        tracing::warn!(account = account.address, "Sent copy failed: {e}");
    }
}

fn req(bytes: &[u8], flags: Flags) -> AppendRequest<'_> {
    AppendRequest {
        bytes,
        flags,
        internaldate: None,
    }
}

/// Whether `size` more bytes would exceed the account's quota (checked at RCPT time with the
/// declared SIZE, and before delivery with the real size).
pub fn over_quota(store: &Store, account: AccountId, size: u64) -> store::Result<bool> {
    let Some(acct) = store.account_by_id(account)? else {
        return Ok(false);
    };
    let used = store.usage(account)?;
    Ok(acct.quota_bytes.is_some_and(|q| used.bytes + size > q)
        || acct.quota_messages.is_some_and(|q| used.messages + 1 > q))
}

/// `Return-Path:` (RFC 5321 §4.4: the MAIL FROM reverse-path) and `Received:` (RFC 5321
/// §4.4 time stamp line; RFC 3848 `with` keywords).
pub fn trace_headers(origin: &Origin<'_>, from: &str, single: Option<&str>, now: i64) -> Vec<u8> {
    let helo = sanitize(origin.helo);
    let mut h = format!("Return-Path: <{}>\r\n", sanitize(from));
    h.push_str(&format!(
        "Received: from {helo} ({ip})\r\n\tby {host} (mailstack) with {with} id {id:x}",
        ip = bracket_ip(origin.peer),
        host = sanitize(origin.hostname),
        with = origin.with,
        id = origin.session_id,
    ));
    if let Some(rcpt) = single {
        // RFC 5321 §4.4: "for" only with a single recipient (no disclosure of Bcc).
        h.push_str(&format!("\r\n\tfor <{}>", sanitize(rcpt)));
    }
    h.push_str(&format!(";\r\n\t{}\r\n", rfc5322_date(now)));
    h.into_bytes()
}

fn bracket_ip(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => format!("[{v4}]"),
        std::net::IpAddr::V6(v6) => format!("[IPv6:{v6}]"),
    }
}

/// Client-supplied text in a header: no control characters, bounded.
fn sanitize(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(255).collect()
}

pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// RFC 5322 §3.3 date-time in UTC, e.g. `Tue, 1 Jul 2025 10:00:00 +0000`.
pub fn rfc5322_date(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {} {} {} {:02}:{:02}:{:02} +0000",
        DAYS[days.rem_euclid(7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_751_364_000),
            "Tue, 1 Jul 2025 10:00:00 +0000"
        );
    }

    #[test]
    fn received() {
        let origin = Origin {
            helo: "client.example\r\nX: y",
            peer: [127, 0, 0, 1].into(),
            hostname: "mx.example.test",
            with: "ESMTPSA",
            session_id: 255,
            capture: None,
            account: None,
        };
        let h = String::from_utf8(trace_headers(&origin, "a@b", Some("c@d"), 0)).expect("utf8");
        assert_eq!(
            h,
            "Return-Path: <a@b>\r\nReceived: from client.exampleX: y ([127.0.0.1])\r\n\tby \
             mx.example.test (mailstack) with ESMTPSA id ff\r\n\tfor <c@d>;\r\n\tThu, 1 Jan 1970 \
             00:00:00 +0000\r\n"
        );
    }
}
