//! Scenarios 1–3: SMTP ingest (with smtp-source), the IMAP caching-client and webmail mixes.

use super::{note, row, target, Ctx};
use crate::imap;
use crate::report::{median, Better};
use crate::smtp::{self, MaildirCounter};

fn maildir_counter(c: &Ctx) -> MaildirCounter {
    MaildirCounter::new(&c.s.postfix_dir.join("vmail"), &c.smtp_users)
}

pub(super) async fn smtp_ingest(c: &mut Ctx<'_>) -> anyhow::Result<()> {
    let ms_port = c.s.mailstack.port("smtp")?;
    let counter = maildir_counter(c);
    let sc = c.scale.clone();
    for (label, size, count) in [
        ("4 KiB", 4096, sc.smtp_small),
        ("100 KiB", 100 * 1024, sc.smtp_large),
    ] {
        let (mut m, mut p, mut pa, mut k) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut sent = 0;
        for _ in 0..sc.reps {
            let r = smtp::ingest(
                ms_port,
                &c.smtp_users,
                sc.smtp_senders,
                count,
                size,
                sc.smtp_limit,
                None,
            )
            .await?;
            m.push(r.delivered_per_s);
            sent = r.sent;
            let before = counter.count();
            let r = smtp::ingest(
                c.s.peer.postfix,
                &c.smtp_users,
                sc.smtp_senders,
                count,
                size,
                sc.smtp_limit,
                Some((&counter, before)),
            )
            .await?;
            p.push(r.delivered_per_s);
            pa.push(r.accepted_per_s);
            let r = smtp::ingest(
                c.s.peer.sink,
                &c.smtp_users,
                sc.smtp_senders,
                count,
                size,
                sc.smtp_limit,
                None,
            )
            .await?;
            k.push(r.accepted_per_s);
        }
        let sc1 = format!("1 SMTP ingest {label}");
        c.rows.push(note(
            target(
                row(
                    &sc1,
                    "msgs/s, durable in mailbox",
                    median(&m),
                    median(&p),
                    "Postfix → Maildir",
                    Better::Higher,
                ),
                4.0,
            ),
            format!(
                "{sent} msgs/rep; Postfix 250-accepted {} msgs/s",
                median(&pa).map(crate::report::fmt_num).unwrap_or_default()
            ),
        ));
        c.rows.push(target(
            row(
                &sc1,
                "msgs/s vs do-nothing sink",
                median(&m),
                median(&k),
                "smtp-sink",
                Better::Higher,
            ),
            0.5,
        ));
    }
    let (mut m, mut p) = (Vec::new(), Vec::new());
    for _ in 0..sc.reps {
        m.push(
            smtp::smtp_source(
                ms_port,
                &c.smtp_users[0],
                sc.smtp_senders,
                sc.source_count,
                4096,
                None,
            )
            .await?,
        );
        let before = counter.count();
        p.push(
            smtp::smtp_source(
                c.s.peer.postfix,
                &c.smtp_users[0],
                sc.smtp_senders,
                sc.source_count,
                4096,
                Some((&counter, before)),
            )
            .await?,
        );
    }
    c.rows.push(note(
        row(
            "1 SMTP smtp-source",
            "msgs/s, 16 sessions, 4 KiB, one rcpt",
            median(&m),
            median(&p),
            "Postfix → Maildir",
            Better::Higher,
        ),
        format!("{} msgs/rep", sc.source_count),
    ));
    c.notes.push(format!(
        "1 SMTP: {} concurrent connections, one transaction per message (EHLO once, MAIL/RCPT/DATA \
         in lockstep), 16 local recipients. Counts scaled down from 20,000 to {} × 4 KiB and {} × 100 KiB \
         per repetition to fit the 20-minute budget. mailstack's 250 means durable in the mailbox; \
         Postfix's figure runs until the last file is in Maildir/new (virtual(8), Postfix's normal \
         fsyncs), its 250-accepted rate is in the note. smtp-source: `smtp-source -d -s 16 -m {} -l 4096`.",
        sc.smtp_senders, sc.smtp_small, sc.smtp_large, sc.source_count
    ));
    Ok(())
}

fn push_mix(
    c: &mut Ctx,
    name: &str,
    peer: &str,
    m: &[imap::MixResult],
    p: &[imap::MixResult],
    note_text: String,
) {
    let f = |v: &[imap::MixResult], g: fn(&imap::MixResult) -> f64| {
        median(&v.iter().map(g).collect::<Vec<_>>())
    };
    c.rows.push(note(
        target(
            row(
                name,
                "ops/s",
                f(m, |r| r.ops_per_s),
                f(p, |r| r.ops_per_s),
                peer,
                Better::Higher,
            ),
            1.5,
        ),
        note_text,
    ));
    c.rows.push(row(
        name,
        "p50 latency ms",
        f(m, |r| r.p50_ms),
        f(p, |r| r.p50_ms),
        peer,
        Better::Lower,
    ));
    c.rows.push(row(
        name,
        "p99 latency ms",
        f(m, |r| r.p99_ms),
        f(p, |r| r.p99_ms),
        peer,
        Better::Lower,
    ));
}

pub(super) async fn caching_mix(c: &mut Ctx<'_>) -> anyhow::Result<()> {
    let ms_port = c.s.mailstack.port("imap")?;
    let sc = c.scale.clone();
    let mut sizes = vec![10.min(c.mix_users.len())];
    if c.mix_users.len() > 10 {
        sizes.push(c.mix_users.len());
    }
    for n in sizes {
        let users = &c.mix_users[..n];
        let mut mc = imap::login_all(ms_port, users, 4).await?;
        let mut pc = imap::login_all(c.s.peer.imap, users, 4).await?;
        let (mut m, mut p) = (Vec::new(), Vec::new());
        for rep in 0..sc.reps as u64 {
            let (conns, r) = imap::caching_mix(mc, c.mix_msgs, sc.mix_window, rep).await?;
            mc = conns;
            m.push(r);
            let (conns, r) = imap::caching_mix(pc, c.mix_msgs, sc.mix_window, rep).await?;
            pc = conns;
            p.push(r);
        }
        push_mix(
            c,
            &format!("2 IMAP caching mix N={n}"),
            "Dovecot",
            &m,
            &p,
            format!("{n} clients × {:.0} s", sc.mix_window.as_secs_f64()),
        );
    }
    c.notes.push(format!(
        "2 IMAP caching mix: each client its own account ({} messages, 4–16 KiB, a third multipart), \
         logged in before the clock (logins are row 7). One cycle: SELECT INBOX, UID FETCH 1:* (FLAGS), \
         every 4th cycle APPEND 6 KiB, UID FETCH new:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER]), \
         UID FETCH of the new bodies once, UID STORE ±FLAGS (\\Seen) on a random message, UID STORE \
         +FLAGS.SILENT (\\Deleted) + EXPUNGE of what was appended, IDLE + DONE. Every command is one op; \
         latency per op.",
        c.mix_msgs
    ));
    Ok(())
}

pub(super) async fn webmail_mix(c: &mut Ctx<'_>) -> anyhow::Result<()> {
    let ms_port = c.s.mailstack.port("imap")?;
    let sc = c.scale.clone();
    let n = sc.web_clients.min(c.mix_users.len());
    let users = &c.mix_users[..n];
    let mut mc = imap::login_all(ms_port, users, 4).await?;
    let mut pc = imap::login_all(c.s.peer.imap, users, 4).await?;
    let (mut m, mut p) = (Vec::new(), Vec::new());
    for rep in 0..sc.reps as u64 {
        let (conns, r) = imap::webmail_mix(mc, c.mix_msgs, sc.mix_window, rep).await?;
        mc = conns;
        m.push(r);
        let (conns, r) = imap::webmail_mix(pc, c.mix_msgs, sc.mix_window, rep).await?;
        pc = conns;
        p.push(r);
    }
    push_mix(
        c,
        &format!("3 IMAP non-caching mix N={n}"),
        "Dovecot",
        &m,
        &p,
        format!("{n} clients × {:.0} s", sc.mix_window.as_secs_f64()),
    );
    c.notes.push(
        "3 IMAP non-caching (webmail) mix: SELECT, then FETCH n (ENVELOPE) / (BODYSTRUCTURE) / \
         (BODY.PEEK[]) of random messages, one third each, same accounts as row 2."
            .into(),
    );
    Ok(())
}
