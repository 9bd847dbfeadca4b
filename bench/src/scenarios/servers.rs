//! Scenarios 4–7: large mailbox, IDLE scale, POP3 download, login storm.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;

use super::{note, row, target, Ctx};
use crate::client::Conn;
use crate::corpus::{self, DOMAIN, NEEDLE};
use crate::imap::{self, Listing};
use crate::peers;
use crate::pop3::{self, Transport};
use crate::report::{median, Better};

pub(super) async fn large_mailbox(c: &mut Ctx<'_>) -> anyhow::Result<()> {
    let sc = c.scale.clone();
    let user = format!("large@{DOMAIN}");
    let ms_port = c.s.mailstack.port("imap")?;
    let mut mc = Conn::imap_login(ms_port, &user, corpus::PASSWORD).await?;
    let mut pc = Conn::imap_login(c.s.peer.imap, &user, corpus::PASSWORD).await?;
    let search = format!("SEARCH SUBJECT {NEEDLE}");
    let mut warm = Vec::new();
    for cmd in [
        "SELECT INBOX",
        "UID FETCH 1:* (FLAGS)",
        "UID SEARCH UNSEEN",
        search.as_str(),
    ] {
        // One untimed warm-up each (Dovecot builds its index and cache on the first).
        let wm = imap::timed(&mut mc, cmd).await?;
        let wp = imap::timed(&mut pc, cmd).await?;
        warm.push(format!("{cmd}: mailstack {wm:.0} ms, Dovecot {wp:.0} ms"));
        let (mut m, mut p) = (Vec::new(), Vec::new());
        for _ in 0..sc.reps {
            m.push(imap::timed(&mut mc, cmd).await?);
            p.push(imap::timed(&mut pc, cmd).await?);
        }
        c.rows.push(target(
            row(
                &format!("4 large mailbox {}", sc.large),
                &format!("`{cmd}` ms"),
                median(&m),
                median(&p),
                "Dovecot",
                Better::Lower,
            ),
            2.0,
        ));
    }
    sort_thread(c, &mut mc, &mut pc, &mut warm).await?;
    let _ = mc.imap("LOGOUT").await;
    let _ = pc.imap("LOGOUT").await;
    let ms_t = Transport::Plain(c.s.mailstack.port("pop3")?);
    let pf_t = Transport::Plain(c.s.peer.pop3);
    let wm = pop3::stat_uidl(&ms_t, &user).await?;
    let wp = pop3::stat_uidl(&pf_t, &user).await?;
    warm.push(format!("POP3: mailstack {wm:.0} ms, Dovecot {wp:.0} ms"));
    let (mut m, mut p) = (Vec::new(), Vec::new());
    for _ in 0..sc.reps {
        m.push(pop3::stat_uidl(&ms_t, &user).await?);
        p.push(pop3::stat_uidl(&pf_t, &user).await?);
    }
    c.rows.push(note(
        target(
            row(
                &format!("4 large mailbox {}", sc.large),
                "POP3 login+STAT+UIDL ms",
                median(&m),
                median(&p),
                "Dovecot",
                Better::Lower,
            ),
            2.0,
        ),
        "includes one argon2id login",
    ));
    c.notes.push(format!(
        "4 Large mailbox: {} messages (~1.2 KiB, 10% unseen, 1% with \"{NEEDLE}\" in Subject) in one \
         INBOX; of every {} messages three form a thread (a root, a reply, a reply to the reply: \
         `Re:` subjects, In-Reply-To and References) and one stands alone, so the mailbox holds {} \
         threads; Date headers repeat every 25,200 messages, so SORT (DATE) breaks ties. Each \
         command once untimed first (first-run times: {}), then timed on the same selected \
         session. SORT and THREAD (RFC 5256; target: within 2× of Dovecot, ≥0.5×): every answer, \
         untimed ones included, must list all {} UIDs on both servers, or the row shows no time and \
         says ✘; THREAD rows give both servers' thread counts.",
        sc.large,
        corpus::THREAD_BLOCK,
        corpus::thread_count(sc.large),
        warm.join("; "),
        sc.large,
    ));
    Ok(())
}

/// Row 4's SORT and THREAD commands (RFC 5256): the orders clients ask for most.
const LISTINGS: [&str; 5] = [
    "UID SORT (DATE) UTF-8 ALL",
    "UID SORT (SUBJECT) UTF-8 ALL",
    "UID SORT (FROM) UTF-8 ALL",
    "UID THREAD REFERENCES UTF-8 ALL",
    "UID THREAD ORDEREDSUBJECT UTF-8 ALL",
];

/// SORT and THREAD on the large mailbox, selected on both sessions: each command once untimed,
/// then `reps` times alternately. A row whose answers do not all list every message — the same
/// count on both servers — is failed loudly (✘, no time) instead of timed.
async fn sort_thread(
    c: &mut Ctx<'_>,
    mc: &mut Conn,
    pc: &mut Conn,
    warm: &mut Vec<String>,
) -> anyhow::Result<()> {
    let sc = c.scale.clone();
    let scenario = format!("4 large mailbox {}", sc.large);
    for cmd in LISTINGS {
        let (wm, lm) = imap::timed_listing(mc, cmd).await?;
        let (wp, lp) = imap::timed_listing(pc, cmd).await?;
        warm.push(format!("{cmd}: mailstack {wm:.0} ms, Dovecot {wp:.0} ms"));
        let (mut m, mut p) = (Vec::new(), Vec::new());
        let (mut ml, mut pl) = (vec![lm], vec![lp]);
        for _ in 0..sc.reps {
            let (t, l) = imap::timed_listing(mc, cmd).await?;
            m.push(t);
            ml.push(l);
            let (t, l) = imap::timed_listing(pc, cmd).await?;
            p.push(t);
            pl.push(l);
        }
        let metric = format!("`{cmd}` ms");
        if !ml.iter().chain(&pl).all(|l| l.uids == sc.large) {
            let msg = format!(
                "UIDs listed: mailstack {}, Dovecot {} (the mailbox holds {})",
                distinct(&ml, |l| l.uids),
                distinct(&pl, |l| l.uids),
                sc.large
            );
            super::say(&format!("[4] {cmd}: result mismatch: {msg}"));
            c.rows.push(note(
                target(
                    row(&scenario, &metric, None, None, "Dovecot", Better::Lower),
                    0.5,
                ),
                format!("✘ result mismatch, not timed: {msg}"),
            ));
            continue;
        }
        let mut r = target(
            row(
                &scenario,
                &metric,
                median(&m),
                median(&p),
                "Dovecot",
                Better::Lower,
            ),
            0.5,
        );
        if cmd.contains(" THREAD ") {
            let (tm, tp) = (distinct(&ml, |l| l.threads), distinct(&pl, |l| l.threads));
            let odd = if tm == tp {
                ""
            } else {
                " ⚠ the servers differ"
            };
            r = note(
                r,
                format!(
                    "threads: mailstack {tm}, Dovecot {tp} (the corpus has {}){odd}",
                    corpus::thread_count(sc.large)
                ),
            );
        }
        c.rows.push(r);
    }
    Ok(())
}

/// The distinct values of `f` over the answers, in order of first appearance ("a/b" if the
/// answers did not agree with each other).
fn distinct(ls: &[Listing], f: impl Fn(&Listing) -> usize) -> String {
    let mut seen: Vec<usize> = Vec::new();
    for l in ls {
        if !seen.contains(&f(l)) {
            seen.push(f(l));
        }
    }
    seen.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join("/")
}

pub(super) async fn idle_scale(c: &mut Ctx<'_>) -> anyhow::Result<()> {
    let sc = c.scale.clone();
    let user = format!("idle@{DOMAIN}");
    let min_avail = 3 * 1024 * 1024;
    let limit = Duration::from_secs(150);
    let ms_pid = c.s.mailstack.pid();
    let ms_smtp = c.s.mailstack.port("smtp")?;
    let before = peers::tree_memory_kib(ms_pid);
    let mut ms_mem = (0, 0, 0);
    let msg = corpus::message(1, "idle", "You have mail", 2048, false);
    let m = imap::idle_scale(
        c.s.mailstack.port("imap")?,
        &user,
        sc.idle,
        sc.reps,
        min_avail,
        limit,
        || ms_mem = peers::tree_memory_kib(ms_pid),
        |_| {
            let (msg, user) = (msg.clone(), user.clone());
            async move {
                let mut s = Conn::connect(ms_smtp).await?;
                s.smtp_reply().await?;
                s.smtp("EHLO bench.test", 2).await?;
                s.smtp_send("bench@remote.test", &user, &msg).await?;
                s.smtp("QUIT", 2).await
            }
        },
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let dv_pid = c.s.dovecot_pid()?;
    let dv_before = peers::tree_memory_kib(dv_pid);
    let mut dv_mem = (0, 0, 0);
    let conf: PathBuf = c.s.dovecot_dir.join("dovecot.conf");
    let p = imap::idle_scale(
        c.s.peer.imap,
        &user,
        sc.idle,
        sc.reps,
        min_avail,
        limit,
        || dv_mem = peers::tree_memory_kib(dv_pid),
        |_| {
            let (msg, user, conf) = (msg.clone(), user.clone(), conf.clone());
            async move {
                tokio::task::spawn_blocking(move || {
                    use std::io::Write;
                    let mut child = Command::new("/usr/lib/dovecot/dovecot-lda")
                        .arg("-c")
                        .arg(&conf)
                        .args(["-d", &user, "-f", "bench@remote.test"])
                        .stdin(std::process::Stdio::piped())
                        .spawn()
                        .context("dovecot-lda")?;
                    child.stdin.take().context("stdin")?.write_all(&msg)?;
                    let st = child.wait()?;
                    anyhow::ensure!(st.success(), "dovecot-lda failed: {st}");
                    Ok(())
                })
                .await?
            }
        },
    )
    .await?;
    let mib = |k: u64| k as f64 / 1024.0;
    let name = format!("5 IDLE scale, {} asked", sc.idle);
    c.rows.push(note(
        row(
            &name,
            "IDLE connections held",
            Some(m.connected as f64),
            Some(p.connected as f64),
            "Dovecot",
            Better::Higher,
        ),
        format!("mailstack: {}; Dovecot: {}", m.stop_reason, p.stop_reason),
    ));
    c.rows.push(note(
        row(&name, "server memory MiB (PSS sum)", Some(mib(ms_mem.1)), Some(mib(dv_mem.1)), "Dovecot", Better::Lower),
        format!(
            "mailstack VmRSS {:.0} MiB (1 process; {:.0} MiB before the IDLE clients); Dovecot VmRSS \
             sum {:.0} MiB over {} processes ({:.0} MiB PSS before)",
            mib(ms_mem.0),
            mib(before.0),
            mib(dv_mem.0),
            dv_mem.2,
            mib(dv_before.1)
        ),
    ));
    let per = |after: (u64, u64, usize), before: (u64, u64, usize), n: usize| {
        (n > 0).then(|| after.1.saturating_sub(before.1) as f64 / n as f64)
    };
    c.rows.push(row(
        &name,
        "KiB per IDLE connection (PSS growth)",
        per(ms_mem, before, m.connected),
        per(dv_mem, dv_before, p.connected),
        "Dovecot",
        Better::Lower,
    ));
    let limit_ms = imap::PUSH_LIMIT.as_secs_f64() * 1e3;
    let mut push_row = note(
        row(
            &name,
            "ms to push EXISTS to all",
            median(&m.push_ms),
            median(&p.push_ms),
            "Dovecot",
            Better::Lower,
        ),
        format!(
            "per delivery (ms / clients reached): mailstack {}; Dovecot {}",
            pushes(&m),
            pushes(&p)
        ),
    );
    push_row.peer_capped = median(&p.push_ms).is_some_and(|v| v >= limit_ms);
    c.rows.push(push_row);
    c.notes.push(format!(
        "5 IDLE scale: up to {} connections (LOGIN, SELECT INBOX, IDLE), 64 connecting at a time, \
         stopping early if the machine's available memory falls under 3 GiB or after {} s. Memory is \
         read from /proc (VmRSS, and Pss from smaps_rollup summed over the server's process tree, \
         which is the fair sum for Dovecot's process-per-connection imap). Push time runs from the \
         start of one delivery (mailstack: inbound SMTP; Dovecot: dovecot-lda) to the last client's \
         `* n EXISTS`; {} deliveries, median; a delivery that has not reached every client after {} s \
         counts as {} s. Dovecot's idle account uses a cheap argon2id hash \
         (m=8 KiB, t=1) so its {} logins take seconds, not minutes; mailstack hashes once and then \
         hits its credential cache. Dovecot runs without imap_hibernate (one imap process per \
         connection, its default).",
        sc.idle,
        limit.as_secs(),
        sc.reps,
        imap::PUSH_LIMIT.as_secs(),
        imap::PUSH_LIMIT.as_secs(),
        sc.idle
    ));
    Ok(())
}

fn pushes(r: &imap::IdleResult) -> String {
    r.push_ms
        .iter()
        .zip(&r.clients_notified)
        .map(|(ms, n)| format!("{ms:.0}/{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) async fn pop3_download(c: &mut Ctx<'_>) -> anyhow::Result<()> {
    let sc = c.scale.clone();
    let user = format!("pop@{DOMAIN}");
    for (label, ms_t, pf_t) in [
        (
            "plain",
            Transport::Plain(c.s.mailstack.port("pop3")?),
            Transport::Plain(c.s.peer.pop3),
        ),
        (
            "TLS",
            Transport::Tls(c.s.mailstack.port("pop3s")?, c.tls.clone()),
            Transport::Tls(c.s.peer.pop3s, c.tls.clone()),
        ),
    ] {
        // Untimed warm-up (Dovecot indexes the Maildir, both fill the page cache).
        pop3::download(&ms_t, &user, sc.pop_count).await?;
        pop3::download(&pf_t, &user, sc.pop_count).await?;
        let (mut m, mut p) = (Vec::new(), Vec::new());
        for _ in 0..sc.reps {
            m.push(pop3::download(&ms_t, &user, sc.pop_count).await?);
            p.push(pop3::download(&pf_t, &user, sc.pop_count).await?);
        }
        c.rows.push(row(
            &format!("6 POP3 RETR {} × {} KiB", sc.pop_count, sc.pop_size / 1024),
            &format!("MB/s {label}"),
            median(&m),
            median(&p),
            "Dovecot",
            Better::Higher,
        ));
    }
    c.notes.push("6 POP3: one session, RETR 1..n in lockstep after USER/PASS (not timed), MB = 10^6 bytes of message data; TLS is implicit TLS (pop3s) with the same certificate on both sides, verified against mailstack's generated CA.".into());
    Ok(())
}

pub(super) async fn login_storm(c: &mut Ctx<'_>) -> anyhow::Result<()> {
    let sc = c.scale.clone();
    let user = format!("storm@{DOMAIN}");
    let ms_port = c.s.mailstack.port("imap")?;
    let mut counts = Vec::new();
    for (label, parallel) in [("sequential", 1), ("16-way concurrent", 16)] {
        // One login first on each side: fills mailstack's credential cache and Dovecot's auth cache.
        imap::login_storm(ms_port, &user, 1, 1, sc.storm_limit).await?;
        imap::login_storm(c.s.peer.imap, &user, 1, 1, sc.storm_limit).await?;
        let (mut m, mut p) = (Vec::new(), Vec::new());
        for _ in 0..sc.reps {
            let (r, n) =
                imap::login_storm(ms_port, &user, sc.storm, parallel, sc.storm_limit).await?;
            m.push(r);
            counts.push(format!("mailstack {n}"));
            let (r, n) =
                imap::login_storm(c.s.peer.imap, &user, sc.storm, parallel, sc.storm_limit).await?;
            p.push(r);
            counts.push(format!("Dovecot {n}"));
        }
        c.rows.push(target(
            row(
                "7 login storm",
                &format!("LOGIN/LOGOUT per s, {label}"),
                median(&m),
                median(&p),
                "Dovecot",
                Better::Higher,
            ),
            10.0,
        ));
    }
    c.notes.push(format!(
        "7 Login storm: each login a new TCP connection, greeting, LOGIN, LOGOUT; {} logins or {} s per \
         repetition, whichever comes first (logins done per repetition: {}). argon2id m=64 MiB, t=3 on \
         both sides; Dovecot with auth_cache_size = 10M and auth_cache_verify_password_with_worker = yes \
         (its cache still runs argon2 on every hit), mailstack with its verified-credential cache.",
        sc.storm,
        sc.storm_limit.as_secs(),
        counts.join(", ")
    ));
    Ok(())
}
