//! Final delivery to one local account through its active Sieve script (docs/spec.md §6.5):
//! keep and fileinto (with imap4flags), redirect (local accounts get it delivered, other
//! domains go the outbound path: captured, never sent), discard, vacation replies (RFC 5230,
//! RFC 3834). A script that fails to parse or run never loses mail: the message is kept in
//! INBOX, the error is logged and reported to the account (at most once an hour).

use std::collections::BTreeMap;

use store::{Account, AccountId, AppendRequest, Flags, MailboxId, Store};

/// Redirects a message may go through before delivery gives up on forwarding (a loop that
/// `Delivered-To` did not catch, e.g. through aliases).
pub const MAX_HOPS: u8 = 5;
/// Actions one script may take for one message (redirects and fileintos; RFC 5228 §2.10.4
/// lets an implementation limit them).
pub const MAX_ACTIONS: usize = 32;
/// `Received:` lines above this count mean a mail loop (RFC 5321 §6.3).
const MAX_RECEIVED: usize = 50;
/// At most one error report per account per this period.
const REPORT_PERIOD: u64 = 3600;

/// Where delivery sends mail that leaves the account.
#[derive(Clone, Copy)]
pub struct Outbound<'a> {
    /// The capture account for other domains (`None`: nothing may leave; a redirect there is
    /// refused and the message kept).
    pub capture: Option<&'a str>,
    /// Our host name (Message-ID of vacation replies).
    pub hostname: &'a str,
}

/// The envelope of the message being delivered.
#[derive(Clone, Copy)]
pub struct Envelope<'a> {
    /// MAIL FROM (empty for `<>`).
    pub from: &'a str,
    /// The recipient address as given (an alias or the account's address).
    pub to: &'a str,
}

/// Delivers `bytes` (trace headers included) to `account` as its active script says, or to
/// INBOX without one. An `Err` is a store failure (quota, storage): the caller reports it.
pub async fn deliver_to_account(
    store: &Store,
    out: Outbound<'_>,
    env: Envelope<'_>,
    account: &Account,
    bytes: &[u8],
) -> store::Result<()> {
    deliver_hop(store, out, env, account, bytes, 0).await
}

fn deliver_hop<'a>(
    store: &'a Store,
    out: Outbound<'a>,
    env: Envelope<'a>,
    account: &'a Account,
    bytes: &'a [u8],
    hops: u8,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = store::Result<()>> + Send + 'a>> {
    Box::pin(async move {
        let Some((name, text)) = store.active_sieve_script(account.id)? else {
            return keep(store, account.id, bytes, Flags::default()).await;
        };
        let script = match sieve::parse(&text) {
            Ok(s) => s,
            Err(e) => {
                let why = format!("script \"{name}\" does not parse: {e}");
                report(store, account, &why).await;
                return keep(store, account.id, bytes, Flags::default()).await;
            }
        };
        // The interpreter is synchronous; its context (a `dyn Fn`) lives in this block only.
        let outcome = {
            let exists = |mailbox: &str| matches!(store.mailbox(account.id, mailbox), Ok(Some(_)));
            let ctx = sieve::Context {
                now_unix: crate::deliver::now_secs(),
                zone_minutes: 0,
                mailbox_exists: &exists,
                max_actions: MAX_ACTIONS,
            };
            let senv = sieve::Envelope {
                from: env.from,
                to: env.to,
            };
            sieve::execute(&script, &senv, bytes, &ctx)
        };
        drop(script);
        if let Some(e) = &outcome.error {
            report(store, account, &format!("script \"{name}\" failed: {e}")).await;
        }
        // Stored copies grouped by their flags: one shared body per group.
        let mut targets: BTreeMap<Vec<String>, Vec<MailboxId>> = BTreeMap::new();
        let mut fallback = false;
        for action in outcome.actions {
            match action {
                sieve::Action::Keep { flags } => {
                    targets
                        .entry(flags)
                        .or_default()
                        .push(inbox(store, account.id)?);
                }
                sieve::Action::FileInto {
                    mailbox,
                    flags,
                    create,
                } => {
                    let target = file_target(store, account, &mailbox, create).await?;
                    targets.entry(flags).or_default().push(target);
                }
                sieve::Action::Redirect { address } => {
                    if let Err(why) =
                        redirect(store, out, env, account, &address, bytes, hops).await
                    {
                        report(store, account, &why).await;
                        fallback = true;
                    }
                }
                sieve::Action::Discard => {
                    tracing::info!(account = account.address, "message discarded by Sieve");
                }
                sieve::Action::Vacation(v) => vacation(store, out, env, account, &v, bytes).await,
            }
        }
        if fallback && targets.is_empty() {
            // RFC 5228 §2.10.6: a failed action keeps the message.
            targets
                .entry(Vec::new())
                .or_default()
                .push(inbox(store, account.id)?);
        }
        for (flags, mut boxes) in targets {
            boxes.sort_unstable();
            boxes.dedup();
            let list: Vec<(AccountId, MailboxId)> =
                boxes.iter().map(|b| (account.id, *b)).collect();
            let req = AppendRequest {
                bytes,
                flags: Flags::from_names(flags.iter().map(String::as_str)),
                internaldate: None,
            };
            for r in store.deliver(&list, req).await? {
                r?;
            }
        }
        Ok(())
    })
}

fn inbox(store: &Store, account: AccountId) -> store::Result<MailboxId> {
    Ok(store
        .mailbox(account, "INBOX")?
        .ok_or(store::Error::NoSuchMailbox)?
        .id)
}

async fn keep(store: &Store, account: AccountId, bytes: &[u8], flags: Flags) -> store::Result<()> {
    let req = AppendRequest {
        bytes,
        flags,
        internaldate: None,
    };
    store
        .append(account, inbox(store, account)?, req)
        .await
        .map(|_| ())
}

/// RFC 5228 §4.1 fileinto: the named mailbox; `:create` (RFC 5490 §3.2) makes it when
/// missing, otherwise a missing (or invalid) mailbox files into INBOX.
async fn file_target(
    store: &Store,
    account: &Account,
    mailbox: &str,
    create: bool,
) -> store::Result<MailboxId> {
    if let Some(mb) = store.mailbox(account.id, mailbox)? {
        return Ok(mb.id);
    }
    if create {
        match store.create_mailbox(account.id, mailbox, None).await {
            Ok(mb) => return Ok(mb.id),
            Err(store::Error::MailboxExists) => {
                if let Some(mb) = store.mailbox(account.id, mailbox)? {
                    return Ok(mb.id);
                }
            }
            Err(e) => tracing::warn!(account = account.address, mailbox, "fileinto :create: {e}"),
        }
    }
    tracing::info!(
        account = account.address,
        mailbox,
        "fileinto: no such mailbox, kept in INBOX"
    );
    inbox(store, account.id)
}

/// RFC 5228 §4.2 redirect. Loops stop on a `Delivered-To:` naming the target or this
/// recipient, too many `Received:` lines, or [`MAX_HOPS`] redirects. The copy gets a
/// `Delivered-To:` of the redirecting recipient. `Err` is the reason it did not go.
async fn redirect(
    store: &Store,
    out: Outbound<'_>,
    env: Envelope<'_>,
    account: &Account,
    address: &str,
    bytes: &[u8],
    hops: u8,
) -> Result<(), String> {
    let target = address.trim().to_ascii_lowercase();
    let delivered_to: Vec<String> = sieve::header_values(bytes, "delivered-to")
        .iter()
        .map(|d| d.trim().trim_matches(['<', '>']).to_string())
        .collect();
    if hops >= MAX_HOPS
        || delivered_to.iter().any(|d| d.eq_ignore_ascii_case(&target))
        || delivered_to.iter().any(|d| d.eq_ignore_ascii_case(env.to))
        || sieve::header_values(bytes, "received").len() > MAX_RECEIVED
        || target.eq_ignore_ascii_case(&account.address)
    {
        return Err(format!("redirect to {target} stopped: mail loop"));
    }
    let mut copy = format!("Delivered-To: {}\r\n", env.to).into_bytes();
    copy.extend_from_slice(bytes);
    match store.resolve(&target) {
        Ok(Some(other)) => {
            let next = Envelope {
                from: env.from,
                to: &target,
            };
            deliver_hop(store, out, next, &other, &copy, hops + 1)
                .await
                .map_err(|e| format!("redirect to {target} failed: {e}"))
        }
        Ok(None) => send_out(store, out, &target, &copy)
            .await
            .map_err(|e| format!("redirect to {target} failed: {e}")),
        Err(e) => Err(format!("redirect to {target} failed: {e}")),
    }
}

/// Mail for another domain: into the capture account with the real recipient named
/// (docs/spec.md §6: never sent anywhere).
async fn send_out(store: &Store, out: Outbound<'_>, to: &str, bytes: &[u8]) -> Result<(), String> {
    let Some(capture) = out.capture else {
        return Err("outbound mail is disabled (outbound = \"reject\")".into());
    };
    let acct = store
        .resolve(capture)
        .map_err(|e| e.to_string())?
        .ok_or("the capture account does not exist")?;
    let mut copy = format!("X-Mailstack-Captured-For: {to}\r\n").into_bytes();
    copy.extend_from_slice(bytes);
    keep(store, acct.id, &copy, Flags::default())
        .await
        .map_err(|e| e.to_string())
}

/// RFC 5230 vacation: the RFC 3834 checks, once per sender per period, the reply from `<>`
/// (RFC 5230 §5.1) delivered locally or captured.
async fn vacation(
    store: &Store,
    out: Outbound<'_>,
    env: Envelope<'_>,
    account: &Account,
    v: &sieve::Vacation,
    bytes: &[u8],
) {
    let mut mine: Vec<&str> = vec![account.address.as_str(), env.to];
    mine.extend(account.aliases.iter().map(String::as_str));
    let senv = sieve::Envelope {
        from: env.from,
        to: env.to,
    };
    let to = match sieve::vacation::reply_to(v, &senv, bytes, &mine) {
        Ok(to) => to,
        Err(skip) => {
            tracing::debug!(account = account.address, ?skip, "no vacation reply");
            return;
        }
    };
    let now = crate::deliver::now_secs();
    let secs = u64::try_from(now).unwrap_or(0);
    match store
        .vacation_reply_due(account.id, &v.handle, &to, v.period_secs, secs)
        .await
    {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(account = account.address, "vacation record: {e}");
            return;
        }
    }
    let unique = auth::random_token(8).unwrap_or_else(|_| format!("{now:x}"));
    let id = format!("<vacation.{now}.{unique}@{}>", out.hostname);
    let mut reply = b"Return-Path: <>\r\n".to_vec();
    reply.extend_from_slice(&sieve::vacation::build_reply(
        v, env.to, &to, bytes, now, &id,
    ));
    let sent = match store.resolve(&to) {
        Ok(Some(local)) => keep(store, local.id, &reply, Flags::default())
            .await
            .map_err(|e| e.to_string()),
        Ok(None) => send_out(store, out, &to, &reply).await,
        Err(e) => Err(e.to_string()),
    };
    match sent {
        Ok(()) => tracing::info!(account = account.address, to, "vacation reply sent"),
        Err(e) => tracing::warn!(
            account = account.address,
            to,
            "vacation reply not sent: {e}"
        ),
    }
}

/// Tells the account its script failed (a message in INBOX), at most once per
/// [`REPORT_PERIOD`]; always logged.
async fn report(store: &Store, account: &Account, why: &str) {
    tracing::warn!(
        account = account.address,
        "Sieve: {why}; message kept in INBOX"
    );
    let now = crate::deliver::now_secs();
    let due = store
        .vacation_reply_due(
            account.id,
            "\u{0}sieve-error",
            "",
            REPORT_PERIOD,
            u64::try_from(now).unwrap_or(0),
        )
        .await;
    if !matches!(due, Ok(true)) {
        return;
    }
    let text = format!(
        "Return-Path: <>\r\nFrom: Mail Delivery System <MAILER-DAEMON@localhost>\r\nTo: <{to}>\r\n\
         Subject: Your Sieve filter failed\r\nDate: {date}\r\nAuto-Submitted: auto-generated\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         A message for you was kept in your INBOX because your Sieve filter failed:\r\n\r\n  {why}\r\n\r\n\
         Fix the script (ManageSieve, or `mailstack forward`/`mailstack vacation`). This notice is\r\n\
         sent at most once an hour.\r\n",
        to = account.address,
        date = crate::deliver::rfc5322_date(now),
        why = why.replace(['\r', '\n'], " "),
    );
    if let Err(e) = keep(store, account.id, text.as_bytes(), Flags::default()).await {
        tracing::warn!(
            account = account.address,
            "Sieve error report not stored: {e}"
        );
    }
}
