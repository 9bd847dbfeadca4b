//! The mailbox-full step (docs/spec.md §2 "a full mailbox refuses new mail with a clear error",
//! §5 quota): a tiny quota, a delivery refused at RCPT with 552 5.2.2 (RFC 3463 §3.3 "mailbox
//! full", announced size from RFC 1870 SIZE) and an APPEND refused with [OVERQUOTA]
//! (RFC 9208 §4.4).

use anyhow::bail;

use super::client::Client;
use super::scenario::expect_continuation;
use super::transcript::{Kind, Transcript};
use super::{Env, ALICE};

/// Alice's quota for this step: deliberately tiny so that the example is short.
const QUOTA: u64 = 1024;
/// What `user set --quota` is given for [`QUOTA`].
const QUOTA_TYPED: &str = "1KiB";
/// The size the other mail server announces (RFC 1870 SIZE).
const OFFERED: u64 = 20_000;

/// A draft larger than [`QUOTA`], as the APPEND literal's lines.
fn draft() -> Vec<String> {
    let mut lines: Vec<String> = [
        "From: Alice <alice@example.test>",
        "To: Bob <bob@example.test>",
        "Subject: Re: Lunch on Friday?",
        "",
    ]
    .map(String::from)
    .to_vec();
    for day in 1..=20 {
        lines.push(format!(
            "Trip notes, day {day}: a long draft that no longer fits into the mailbox."
        ));
    }
    lines
}

/// Plays the mailbox-full step; `laptop` is logged in with INBOX selected (not IDLE).
pub(crate) async fn mailbox_full(
    env: &Env,
    t: &mut Transcript,
    laptop: &mut Client,
) -> anyhow::Result<()> {
    let draft = draft();
    // The literal is the lines joined by CRLF; the CRLF after the last line ends the command.
    let size: usize = draft.iter().map(|l| l.len() + 2).sum::<usize>() - 2;
    t.step(
        "The mailbox is full: what does not fit is refused",
        &format!(
            "The administrator limits Alice's mailbox to {kib} KiB (real mailboxes get \
             gigabytes; the answers are the same). Her INBOX is empty now (the old PC deleted \
             the only message), but a quota is about what the mailbox would hold after the \
             delivery: a message larger than the room left is refused, however empty the \
             mailbox is. `GETQUOTAROOT` shows the limit: `STORAGE 0 {kib}`, 0 of {kib} KiB \
             used. Another mail server then offers her a message of {OFFERED} bytes on port 25: \
             it announces the size, so the server refuses the recipient at once with `552 \
             5.2.2`, \"mailbox full\", the standard answer for \"over quota\". Alice's laptop \
             cannot save a draft of {size} bytes either: APPEND fails with `[OVERQUOTA]`.",
            kib = QUOTA / 1024
        ),
    );
    t.record(
        "admin",
        Kind::Note,
        format!("mailstack user set {ALICE} --quota {QUOTA_TYPED}"),
    );
    env.store
        .update_account(ALICE, |a| a.quota_bytes = Some(QUOTA))
        .await?;
    // RFC 9208 §4.3: the quota root of INBOX and its usage and limit (STORAGE in KiB).
    laptop.imap_ok(t, "a8", "GETQUOTAROOT INBOX").await?;

    let mut mx = Client::connect(
        t,
        "mx",
        "another mail server (SMTP)",
        "smtp",
        env.addr("smtp")?,
        false,
        &env.tls,
    )
    .await?;
    mx.smtp_expect(t, "220").await?;
    mx.send(t, "EHLO mx.elsewhere.test").await?;
    mx.smtp_expect(t, "250").await?;
    // RFC 1870 §6: the client declares the size, so the server can refuse before the data.
    mx.send(
        t,
        &format!("MAIL FROM:<carol@elsewhere.test> SIZE={OFFERED}"),
    )
    .await?;
    mx.smtp_expect(t, "250").await?;
    mx.send(t, "RCPT TO:<alice@example.test>").await?;
    mx.smtp_expect(t, "552").await?;
    mx.send(t, "QUIT").await?;
    mx.smtp_expect(t, "221").await?;

    laptop
        .send(t, &format!("a9 APPEND Drafts (\\Draft) {{{size}}}"))
        .await?;
    expect_continuation(laptop, t).await?;
    laptop.send_block(t, &draft).await?;
    let r = laptop.imap_tagged(t, "a9").await?;
    if !r.starts_with("a9 NO [OVERQUOTA]") {
        bail!("expected APPEND to fail with [OVERQUOTA], got {r:?}");
    }
    t.outcome(
        "A full mailbox refuses new mail with a clear reason: the other server returns Carol's \
         message to her, and Alice must delete or archive mail (or get a bigger quota) first.",
    );
    Ok(())
}
