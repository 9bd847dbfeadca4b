//! `bench stress` (`make stress`, and a short run in `make test`): the model-checking stress
//! client. N concurrent IMAP sessions (optionally plus POP3 sessions and deliveries) work on
//! one mailbox (or a few) with a random mix of APPEND, FETCH (flags, headers, ENVELOPE, body
//! parts, BODYSTRUCTURE), STORE (flags and keywords, .SILENT, UNCHANGEDSINCE), SEARCH/ESEARCH,
//! COPY/MOVE, EXPUNGE/UID EXPUNGE, IDLE, NOOP, CHECK, re-SELECT and LOGOUT/re-login. Each
//! session keeps a model built only from what the server told it and checks every response
//! against it; checkpoints compare every session's view with a fresh SELECT. It prints
//! commands/s and the errors by kind with the first failing exchange of each kind, and exits
//! non-zero on any error.
//!
//! Run against Dovecot (same account settings as the bench peers) it must report 0 errors:
//! that is what shows a check is right. `--target both` runs mailstack, then Dovecot, with the
//! same workload and reports the throughput ratio.
//!
//! # Layout
//! - `parse`: values and their lexer (canonical form for comparisons); `response`: IMAP
//!   responses → [`response::Resp`].
//! - `wire`: the connection, one complete response at a time, and the exchange transcript.
//! - `model`: a session's view of its mailbox and the checks of every untagged response.
//! - `errors`: error kinds, violations, counters; `registry`: what the server said about each
//!   UID; `history`: flag changes and expunging commands in flight (what may explain a change).
//! - `session`: connect/login/ENABLE/SELECT, command execution, the loop, checkpoint duty.
//! - `ops`: the mix and one step; `reads`: FETCH, SEARCH, IDLE; `store`: STORE;
//!   `writes`: APPEND, COPY/MOVE, EXPUNGE.
//! - `checkpoint`: pausing everyone, draining, comparing with a fresh SELECT.
//! - `extra`: POP3 sessions and deliveries (SMTP to mailstack, dovecot-lda to Dovecot).
//! - `servers`: starting mailstack and Dovecot; `runner`: one run; `report`: the output.
//!
//! # Which checks are valid under concurrency
//! Only what the server cannot legitimately change between two responses is compared
//! exactly while sessions run: immutable message data, MODSEQ order, UID order, message
//! counts, flags announced before use, the effect of a session's own EXPUNGE/MOVE. A flag
//! state may go back only if some session sent a STORE that could have caused it, sent before
//! the state was reported and answered after the state it replaces was established. SEARCH
//! results on flags, and the equality of all views, are only compared at checkpoints, when no
//! write is in flight and every session has drained its notifications.

mod checkpoint;
mod errors;
mod extra;
mod fetch;
mod history;
mod model;
#[cfg(test)]
mod model_tests;
mod ops;
mod parse;
mod reads;
mod registry;
mod report;
mod response;
pub(crate) mod runner;
mod servers;
mod session;
mod store;
mod wire;
mod writes;

use std::path::PathBuf;

use anyhow::{bail, Context};

use runner::{Config, Outcome};

struct Args {
    target: String,
    mailstack: PathBuf,
    scripts: PathBuf,
    out: Option<PathBuf>,
    latest: Option<PathBuf>,
    cfg: Config,
    /// `--imap`: the first port, the ports of other nodes, user, password.
    external: Option<(u16, Vec<u16>, String, String)>,
    pop3_port: Option<u16>,
    smtp_port: Option<u16>,
    keep: bool,
    trace: Option<PathBuf>,
}

const USAGE: &str = "usage: bench stress [--target mailstack|dovecot|both] [--sessions N (50)] \
[--seconds S (60)] [--checkpoint K (5; 0 = off)] [--seed N (1)] [--mailboxes N (1)] \
[--messages N (30)] [--pop3 N (0)] [--smtp-rate R (0)] [--mailstack BIN] [--scripts DIR] \
[--out FILE.md] [--latest bench/results/latest.md] [--trace FILE] [--keep]\n       \
bench stress --imap 127.0.0.1:PORT[,127.0.0.1:PORT2…] --user U --pass P [--pop3-port P] \
[--smtp-port P] [...] (several IMAP addresses: nodes of one store, sessions spread over them)";

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        target: "both".into(),
        mailstack: "target/release/mailstack".into(),
        scripts: "bench/scripts".into(),
        out: None,
        latest: None,
        cfg: Config::standard(50, 60),
        external: None,
        pop3_port: None,
        smtp_port: None,
        keep: false,
        trace: None,
    };
    let (mut imap, mut user, mut pass) = (None, None, None);
    let mut it = std::env::args().skip(2);
    while let Some(arg) = it.next() {
        let mut val = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--target" => a.target = val()?,
            "--sessions" => a.cfg.sessions = val()?.parse()?,
            "--seconds" => a.cfg.seconds = val()?.parse()?,
            "--checkpoint" => a.cfg.checkpoint = val()?.parse()?,
            "--seed" => a.cfg.seed = val()?.parse()?,
            "--mailboxes" => {
                let n: usize = val()?.parse()?;
                a.cfg.mailboxes = std::iter::once("INBOX".to_string())
                    .chain((2..=n.max(1)).map(|i| format!("stress-{i}")))
                    .collect();
            }
            "--messages" => a.cfg.initial = val()?.parse()?,
            "--pop3" => a.cfg.pop3 = val()?.parse()?,
            "--smtp-rate" => a.cfg.smtp_rate = val()?.parse()?,
            "--mailstack" => a.mailstack = val()?.into(),
            "--scripts" => a.scripts = val()?.into(),
            "--out" => a.out = Some(val()?.into()),
            "--latest" => a.latest = Some(val()?.into()),
            "--keep" => a.keep = true,
            "--trace" => a.trace = Some(val()?.into()),
            "--imap" => imap = Some(val()?),
            "--user" => user = Some(val()?),
            "--pass" => pass = Some(val()?),
            "--pop3-port" => a.pop3_port = Some(val()?.parse()?),
            "--smtp-port" => a.smtp_port = Some(val()?.parse()?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other} (see bench stress --help)"),
        }
    }
    if let Some(addrs) = imap {
        // Several addresses (comma-separated): nodes of one shared store, sessions spread
        // over them.
        let mut ports = Vec::new();
        for addr in addrs.split(',') {
            let port: u16 = addr
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .with_context(|| format!("--imap {addr}: expected 127.0.0.1:PORT"))?;
            ports.push(port);
        }
        let first = ports.remove(0);
        a.external = Some((
            first,
            ports,
            user.context("--imap needs --user")?,
            pass.context("--imap needs --pass")?,
        ));
    }
    anyhow::ensure!(a.cfg.sessions >= 1, "at least one session");
    anyhow::ensure!(
        ["mailstack", "dovecot", "both"].contains(&a.target.as_str()),
        "--target mailstack|dovecot|both"
    );
    a.cfg.low = (a.cfg.initial as u32 / 2).max(4);
    a.cfg.high = (a.cfg.initial as u32 * 2).max(a.cfg.low + 8);
    Ok(a)
}

/// The run's folder, removed when dropped unless `--keep`.
struct WorkDir(PathBuf, bool);

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.1 {
            eprintln!("stress: kept {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub async fn run() -> anyhow::Result<()> {
    let a = parse_args()?;
    let mut outs: Vec<Outcome> = Vec::new();
    if let Some((port, more, user, pass)) = &a.external {
        let (mut t, _running) = servers::external(*port, a.pop3_port, a.smtp_port, user, pass);
        t.more_imap = more.clone();
        outs.push(runner::run_target(t, a.cfg.clone(), a.trace.as_deref()).await?);
    } else {
        let work = WorkDir(
            std::env::temp_dir().join(format!("mailstack-stress-{}", std::process::id())),
            a.keep,
        );
        let prepared = servers::prepare(&a.mailstack, &work.0).await?;
        if a.target != "dovecot" {
            let (t, running) = servers::start_mailstack(&prepared, &a.mailstack)?;
            let trace = a.trace.as_ref().map(|p| p.with_extension("mailstack.log"));
            let o = runner::run_target(t, a.cfg.clone(), trace.as_deref()).await;
            drop(running);
            outs.push(o?);
        }
        if a.target != "mailstack" {
            let (t, running) = servers::start_dovecot(&prepared, &a.scripts)?;
            let trace = a.trace.as_ref().map(|p| p.with_extension("dovecot.log"));
            let o = runner::run_target(t, a.cfg.clone(), trace.as_deref()).await;
            drop(running);
            outs.push(o?);
        }
    }
    println!("\n{}", report::text(&a.cfg, &outs));
    let date = crate::version("date", &["-u", "+%Y-%m-%d %H:%M UTC"]);
    if let Some(out) = &a.out {
        let header = format!(
            "- date: {date}\n- machine: {}\n- versions: {}; Dovecot {}\n",
            crate::machine(),
            crate::version(&a.mailstack.to_string_lossy(), &["--version"]),
            crate::version("dovecot", &["--version"]),
        );
        if let Some(dir) = out.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(out, report::markdown(&a.cfg, &outs, &header))
            .with_context(|| format!("write {}", out.display()))?;
        eprintln!("stress: wrote {}", out.display());
    }
    if let (Some(latest), Some(section)) = (&a.latest, report::latest_section(&a.cfg, &outs, &date))
    {
        let doc = std::fs::read_to_string(latest).unwrap_or_default();
        std::fs::write(latest, report::splice(&doc, &section))
            .with_context(|| format!("write {}", latest.display()))?;
        eprintln!("stress: updated {}", latest.display());
    }
    let errors: u64 = outs.iter().map(Outcome::error_count).sum();
    if errors > 0 {
        bail!("{errors} errors (see above)");
    }
    Ok(())
}
