//! The optional non-IMAP load of a stress run, on the first mailbox (INBOX):
//! - POP3 sessions (`--pop3 N`): USER/PASS, STAT, UIDL, RETR of one or two messages, DELE of
//!   one message in three sessions, QUIT (which commits the DELE, RFC 1939 §6); the IMAP
//!   sessions then see the message expunged. RETR must return the bytes the checker APPENDed
//!   for that UID (the UIDL names the UID: mailstack `<uidvalidity>.<uid>`, Dovecot
//!   `pop3_uidl_format = %08Xu%08Xv`).
//! - deliveries (`--smtp-rate R` per second): to mailstack over SMTP (its inbound listener),
//!   to Dovecot through `dovecot-lda` (what Postfix would run), one process per message.
//!
//! Both take part in checkpoints between sessions/deliveries (never mid-session: a POP3
//! session's DELE takes effect at QUIT).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;

use super::checkpoint::Phase;
use super::errors::{FirstError, Kind};
use super::history::Change;
use super::registry::digest;
use super::runner::Env;
use crate::client::Conn;
use crate::imap::Rng;

/// How deliveries reach the server.
#[derive(Debug, Clone)]
pub enum Deliver {
    /// SMTP to 127.0.0.1:port (mailstack's inbound listener: no AUTH for local recipients).
    Smtp(u16),
    /// `dovecot-lda -c CONF -d USER` with the message on stdin.
    Lda { lda: PathBuf, conf: PathBuf },
}

fn record(env: &Env, who: &str, kind: Kind, detail: String, exchange: Vec<String>) {
    env.errors.record(
        kind,
        FirstError {
            at_s: env.start.elapsed().as_secs_f64(),
            session: who.to_string(),
            detail,
            exchange,
        },
    );
}

/// Takes part in a pending checkpoint, if any (`last`: the last one taken part in).
async fn checkpoint(env: &Env, last: &mut u64) -> bool {
    if let Phase::Pause(e) = env.cp.phase() {
        if e > *last {
            *last = e;
            env.cp.take_part(e).await;
            return true;
        }
    }
    false
}

/// Until the deadline, then the final checkpoint.
async fn run_loop<F, Fut>(env: &Env, mut body: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    env.cp.join();
    let mut last = 0;
    while Instant::now() < env.deadline {
        if !checkpoint(env, &mut last).await {
            body().await;
        }
    }
    if env.cfg.checkpoint > 0 {
        let wait = Instant::now() + Duration::from_secs(120);
        while Instant::now() < wait && !env.cp.finished() {
            if checkpoint(env, &mut last).await {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    env.cp.leave();
}

/// The UID a UIDL names.
fn uid_of(uidl: &str) -> Option<u32> {
    match uidl.split_once('.') {
        Some((_, uid)) => uid.parse().ok(),
        None if uidl.len() == 16 => u32::from_str_radix(&uidl[..8], 16).ok(),
        None => None,
    }
}

pub async fn pop3(env: Arc<Env>, id: usize) {
    let Some(port) = env.target.pop3_port else {
        return;
    };
    let who = format!("pop{id}");
    let mut rng = Rng::new(env.cfg.seed ^ (0x9090 + id as u64));
    let inbox = env.cfg.mailboxes[0].clone();
    run_loop(&env, || {
        let (env, who, inbox) = (env.clone(), who.clone(), inbox.clone());
        let pick = rng.next();
        async move {
            let mut log = Vec::new();
            // A POP3 session's DELE takes effect at QUIT (RFC 1939 §6): an expunging command.
            let e = env.reg.expunger(&inbox);
            let r = pop3_session(&env, &inbox, port, pick, &mut log).await;
            env.reg.expunger_done(&e);
            if let Err(e) = r {
                record(&env, &who, Kind::Pop3, format!("{e:#}"), log);
            }
            tokio::time::sleep(Duration::from_millis(100 + pick % 200)).await;
        }
    })
    .await;
}

async fn pop_cmd(c: &mut Conn, cmd: &str, log: &mut Vec<String>) -> anyhow::Result<String> {
    log.push(format!("C: {cmd}"));
    c.send(format!("{cmd}\r\n").as_bytes()).await?;
    let line = String::from_utf8_lossy(c.line().await?)
        .trim_end()
        .to_string();
    log.push(format!("S: {line}"));
    Ok(line)
}

/// The lines of a multi-line answer, dot-unstuffed (RFC 1939 §3), with their CRLF.
async fn pop_body(c: &mut Conn) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line = c.line().await?;
        if line == b".\r\n" {
            return Ok(out);
        }
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
}

async fn pop3_session(
    env: &Env,
    inbox: &str,
    port: u16,
    pick: u64,
    log: &mut Vec<String>,
) -> anyhow::Result<()> {
    let mut c = Conn::connect(port).await?;
    let greet = String::from_utf8_lossy(c.line().await?)
        .trim_end()
        .to_string();
    log.push(format!("S: {greet}"));
    pop_cmd(&mut c, &format!("USER {}", env.target.user), log).await?;
    let pass = pop_cmd(&mut c, &format!("PASS {}", env.target.pass), log).await?;
    if pass.contains("[IN-USE]") {
        env.counters.race("POP3 maildrop in use (RFC 2449 §8.1.2)");
        return Ok(());
    }
    if !pass.starts_with("+OK") {
        bail!("PASS refused");
    }
    env.counters.op("POP3 session");
    if !pop_cmd(&mut c, "UIDL", log).await?.starts_with("+OK") {
        bail!("UIDL refused");
    }
    let listing = String::from_utf8_lossy(&pop_body(&mut c).await?).into_owned();
    let msgs: Vec<(u32, String)> = listing
        .lines()
        .filter_map(|l| {
            let (n, u) = l.trim().split_once(' ')?;
            Some((n.parse().ok()?, u.to_string()))
        })
        .collect();
    let mut seen = Vec::new();
    if !msgs.is_empty() {
        for k in 0..1 + pick % 2 {
            let (n, uidl) = &msgs[((pick >> (8 * k)) % msgs.len() as u64) as usize];
            // Dovecot sets \Seen on RETR (`pop3_no_flag_updates = no`), mailstack with the
            // `mark-seen` policy: a flag change until the session ends.
            seen.push(
                env.reg
                    .flag_op(inbox, &[uid_of(uidl)], Change::Add(vec!["\\seen".into()])),
            );
            let reply = pop_cmd(&mut c, &format!("RETR {n}"), log).await?;
            env.counters.op("POP3 RETR");
            if !reply.starts_with("+OK") {
                // Expunged by IMAP since the POP3 session started (ARCHITECTURE: -ERR).
                env.counters.race("POP3 RETR -ERR (expunged meanwhile)");
                continue;
            }
            let body = pop_body(&mut c).await?;
            let Some(uid) = uid_of(uidl) else { continue };
            if let Some(e) = env.reg.expected(inbox, uid) {
                if digest(&body) != e.all {
                    bail!(
                        "RETR {n} (UIDL {uidl}, UID {uid}): {} bytes, not the {} bytes {} appended",
                        body.len(),
                        e.len,
                        e.origin
                    );
                }
            }
        }
        if pick.is_multiple_of(3) {
            let (n, _) = &msgs[(pick >> 24) as usize % msgs.len()];
            if pop_cmd(&mut c, &format!("DELE {n}"), log)
                .await?
                .starts_with("+OK")
            {
                env.counters.op("POP3 DELE");
            } else {
                env.counters.race("POP3 DELE -ERR (expunged meanwhile)");
            }
        }
    }
    let quit = pop_cmd(&mut c, "QUIT", log).await?;
    let now = env.reg.ms_since_start(Instant::now());
    for s in seen {
        s.store(now, std::sync::atomic::Ordering::Relaxed);
    }
    if !quit.starts_with("+OK") {
        bail!("QUIT (commit) refused");
    }
    Ok(())
}

pub async fn deliveries(env: Arc<Env>) {
    let Some(how) = env.target.deliver.clone() else {
        return;
    };
    let gap = Duration::from_secs_f64(1.0 / env.cfg.smtp_rate.max(0.01));
    let mut n = 0u64;
    run_loop(&env, || {
        n += 1;
        let (env, how) = (env.clone(), how.clone());
        let k = n;
        async move {
            let t = Instant::now();
            let msg = crate::corpus::message(
                (900_000_000 + k) as usize,
                "stress",
                &format!("delivered {} {k}", super::ops::WORDS[k as usize % 5]),
                2048 + 1024 * (k as usize % 8),
                k.is_multiple_of(3),
            );
            let to = env.target.user.clone();
            let r = match how {
                Deliver::Smtp(port) => smtp(port, &to, &msg).await,
                Deliver::Lda { lda, conf } => {
                    tokio::task::spawn_blocking(move || lda_deliver(&lda, &conf, &to, &msg))
                        .await
                        .map_err(anyhow::Error::from)
                        .and_then(|r| r)
                }
            };
            match r {
                Ok(()) => env.counters.op("delivery"),
                Err(e) => record(&env, "deliveries", Kind::Smtp, format!("{e:#}"), Vec::new()),
            }
            tokio::time::sleep(gap.saturating_sub(t.elapsed())).await;
        }
    })
    .await;
}

async fn smtp(port: u16, to: &str, msg: &[u8]) -> anyhow::Result<()> {
    let mut c = Conn::connect(port).await?;
    if c.smtp_reply().await? != 220 {
        bail!("SMTP greeting");
    }
    c.smtp("EHLO stress.test", 2).await?;
    c.smtp_send("sender@remote.test", to, msg).await?;
    c.smtp("QUIT", 2).await?;
    Ok(())
}

fn lda_deliver(
    lda: &std::path::Path,
    conf: &std::path::Path,
    to: &str,
    msg: &[u8],
) -> anyhow::Result<()> {
    use std::io::Write;
    let mut child = std::process::Command::new(lda)
        .arg("-c")
        .arg(conf)
        .args(["-d", to, "-f", "sender@remote.test"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    if let Some(mut i) = child.stdin.take() {
        i.write_all(msg)?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "dovecot-lda: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
