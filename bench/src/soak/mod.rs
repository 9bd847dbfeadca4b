//! `bench soak` (`make soak`): many concurrent mixed sessions against one release
//! `mailstack serve` for a fixed time, checking every reply and watching the server's memory.
//!
//! # Layout
//! - this file: arguments, the server's config and accounts, starting the sessions, the
//!   verdict.
//! - `sample`: the sampler (every `--sample` seconds: VmRSS, open descriptors, threads, store
//!   size, op counts) and the RSS verdict.
//! - `report`: `bench/results/soak.md` and the scan of the server log.
//! - `stats`: op counters, expected races, protocol errors (the first 20 kept in full).
//! - `smtp`, `imap`, `pop3`: the session loops, one task per session.
//!
//! # The mix (N sessions)
//! - N/4 SMTP sessions (inbound, submission + STARTTLS / implicit TLS / plain loopback, AUTH
//!   PLAIN/LOGIN), delivering to the IMAP and POP3 accounts.
//! - N/5 POP3 sessions, two per POP3 account (so `-ERR [IN-USE]` is a regular, expected
//!   answer).
//! - N/10 IMAP watchers: read-only (EXAMINE) on the POP3 accounts, mostly IDLE.
//! - the rest IMAP workers, four per IMAP account, the only writers of those INBOXes.
//!
//! Protocol accounts are disjoint (IMAP workers never touch a POP3 maildrop and vice versa),
//! so the only legitimate races are a locked maildrop and a UID expunged by another session
//! of the same account; both are counted apart. Anything else unexpected (NO, BAD, -ERR, a
//! 4xx/5xx reply, a disconnect, a timeout, an inconsistent response) is a protocol error.
//!
//! # Invariants
//! - Mailboxes stay bounded: IMAP workers trim INBOX to 20 messages above 40, POP3 sessions
//!   DELE down to 8 above 20, so the store does not grow with the run time.
//! - The server is stopped whenever the run ends, also on error or Ctrl-C ([`ServerGuard`]).
//! - Pass: zero protocol errors and flat RSS. VmRSS is read every second; "flat" means the
//!   median over the last 20 % of the run ≤ the median over 20–40 % of the run (after the
//!   warm-up: sled's page cache, allocator arenas, TLS buffers) × 1.25 + 16 MiB. Medians over
//!   windows, not single samples: under this load VmRSS swings by tens of percent within
//!   seconds and in slow waves of up to a minute (large messages in flight, sled's buffers),
//!   and a leak shows as a trend across the run.

mod imap;
mod pop3;
mod report;
mod sample;
mod smtp;
mod stats;

use report::*;
use sample::*;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::corpus;
use crate::imap::Rng;
use crate::peers::Mailstack;
use stats::{Fail, Stats};

/// Domain of every soak account.
pub const DOMAIN: &str = "example.test";
/// Password of every soak account.
pub const PASSWORD: &str = "soak-Password-2026";
/// RSS growth allowed after warm-up: factor and constant (see the module docs).
const RSS_FACTOR: f64 = 1.25;
const RSS_SLACK_KIB: u64 = 16 * 1024;
/// The warm-up window (fractions of the run) whose median VmRSS is the reference...
const WARMUP: (f64, f64) = (0.2, 0.4);
/// ...and where the end window (median VmRSS up to the deadline) starts.
const END_WINDOW: f64 = 0.8;
/// How long sessions may take to finish after the deadline.
const GRACE: Duration = Duration::from_secs(120);

type Res<T> = Result<T, Fail>;

/// How a session reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    StartTls,
    Implicit,
}

impl Mode {
    /// 50 % plain, 25 % STARTTLS/STLS, 25 % implicit TLS.
    fn pick(rng: &mut Rng) -> Mode {
        match rng.pick(4) {
            1 => Mode::StartTls,
            2 => Mode::Implicit,
            _ => Mode::Plain,
        }
    }
}

/// Listener ports of the server.
struct Ports {
    smtp: u16,
    submission: u16,
    submissions: u16,
    imap: u16,
    imaps: u16,
    pop3: u16,
    pop3s: u16,
}

/// What every session shares.
struct Env {
    ports: Ports,
    tls: tokio_rustls::TlsConnector,
    stats: Stats,
    deadline: Instant,
    /// Message templates, ascending size.
    msgs: Vec<Vec<u8>>,
    /// SMTP recipients: every IMAP and POP3 account (local parts).
    recipients: Vec<String>,
}

/// Message sizes of the templates (bytes): mostly small, some large.
const SIZES: [usize; 14] = [
    1024,
    2 * 1024,
    3 * 1024,
    5 * 1024,
    8 * 1024,
    12 * 1024,
    20 * 1024,
    32 * 1024,
    48 * 1024,
    64 * 1024,
    100 * 1024,
    128 * 1024,
    160 * 1024,
    200 * 1024,
];

impl Env {
    fn seed(&self, session: usize) -> u64 {
        0x50a4_0000 + session as u64
    }

    /// A message: 60 % 1–8 KiB, 30 % 12–64 KiB, 10 % 100–200 KiB.
    fn message(&self, rng: &mut Rng) -> &[u8] {
        let i = match rng.pick(10) {
            1 => 9 + rng.pick(4),
            2..=4 => 4 + rng.pick(5),
            _ => rng.pick(5) - 1,
        };
        &self.msgs[i]
    }

    /// A message of at most 8 KiB (IMAP APPEND).
    fn small_message(&self, rng: &mut Rng) -> &[u8] {
        &self.msgs[rng.pick(5) - 1]
    }

    fn recipient(&self, rng: &mut Rng) -> &str {
        &self.recipients[rng.pick(self.recipients.len()) - 1]
    }
}

/// Standard base64 (RFC 4648 §4) for SASL.
fn b64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(A[(n >> (18 - 6 * k)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

struct Args {
    mailstack: PathBuf,
    out: PathBuf,
    sessions: usize,
    seconds: u64,
    sample: u64,
    keep: bool,
}

fn env_num(name: &str, default: u64) -> anyhow::Result<u64> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .with_context(|| format!("{name}={v} is not a number")),
        _ => Ok(default),
    }
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        mailstack: "target/release/mailstack".into(),
        out: "bench/results/soak.md".into(),
        sessions: env_num("SOAK_SESSIONS", 200)? as usize,
        seconds: env_num("SOAK_SECONDS", 600)?,
        sample: 10,
        keep: false,
    };
    let mut it = std::env::args().skip(2);
    while let Some(arg) = it.next() {
        let mut val = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--mailstack" => a.mailstack = val()?.into(),
            "--out" => a.out = val()?.into(),
            "--sessions" => a.sessions = val()?.parse()?,
            "--seconds" => a.seconds = val()?.parse()?,
            "--sample" => a.sample = val()?.parse::<u64>()?.max(1),
            "--keep" => a.keep = true,
            "-h" | "--help" => {
                println!(
                    "usage: bench soak [--sessions N (SOAK_SESSIONS, 200)] [--seconds S \
                     (SOAK_SECONDS, 600)] [--sample S (10)] [--mailstack BIN] [--out FILE] [--keep]"
                );
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown argument {other} (see bench soak --help)"),
        }
    }
    anyhow::ensure!(a.sessions >= 4, "at least 4 sessions (one of each kind)");
    anyhow::ensure!(a.seconds >= 10, "at least 10 seconds");
    Ok(a)
}

/// Sessions of each kind and the accounts they use.
struct Plan {
    smtp: usize,
    pop: usize,
    watch: usize,
    imap: usize,
    imap_accounts: Vec<String>,
    pop_accounts: Vec<String>,
    senders: Vec<String>,
}

impl Plan {
    fn new(n: usize) -> Plan {
        let smtp = (n / 4).max(1);
        let pop = (n / 5).max(1);
        let watch = (n / 10).max(1);
        let imap = n - smtp - pop - watch;
        let names = |prefix: &str, k: usize| -> Vec<String> {
            (1..=k.max(1)).map(|i| format!("{prefix}{i:02}")).collect()
        };
        Plan {
            smtp,
            pop,
            watch,
            imap,
            imap_accounts: names("imap", imap.div_ceil(4)),
            pop_accounts: names("pop", pop.div_ceil(2)),
            senders: names("sender", smtp.div_ceil(5)),
        }
    }

    fn accounts(&self) -> impl Iterator<Item = &String> {
        self.imap_accounts
            .iter()
            .chain(&self.pop_accounts)
            .chain(&self.senders)
    }
}

/// The server's config: every mail listener on a free loopback port, cheap argon2id (logins
/// are not what this run measures), connection limits above the session count, the accounts
/// as `[[demo_account]]` (allowed: loopback only).
fn write_config(dir: &Path, plan: &Plan, sessions: usize) -> anyhow::Result<PathBuf> {
    let limit = (sessions * 4).max(1000);
    let mut text = format!(
        r#"# generated by `bench soak`
hostname = "localhost"
data_dir = "data"
domains = ["{DOMAIN}"]
outbound = "reject"
[tls]
cert = "certs/server.crt"
key = "certs/server.key"
generate = true
[listeners]
smtp = "127.0.0.1:0"
submission = "127.0.0.1:0"
submissions = "127.0.0.1:0"
pop3 = "127.0.0.1:0"
pop3s = "127.0.0.1:0"
imap = "127.0.0.1:0"
imaps = "127.0.0.1:0"
[auth]
argon2_memory_kib = 64
argon2_iterations = 1
[limits]
connections_per_address = {limit}
connections_total = {limit}
"#
    );
    for a in plan.accounts() {
        let _ = write!(
            text,
            "[[demo_account]]\naddress = \"{a}@{DOMAIN}\"\npassword = \"{PASSWORD}\"\n"
        );
    }
    let path = dir.join("mailstack.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Stops the server when dropped (end of run, error, Ctrl-C).
struct ServerGuard(Mailstack);

impl Drop for ServerGuard {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// Runs the soak; `Err` when it could not run or did not pass (after writing the results).
pub async fn run() -> anyhow::Result<()> {
    let args = parse_args()?;
    let plan = Plan::new(args.sessions);
    let work = WorkDir {
        path: std::env::temp_dir().join(format!("mailstack-soak-{}", std::process::id())),
        keep: args.keep,
    };
    std::fs::create_dir_all(&work.path)?;
    soak(&args, &plan, &work.path).await
}

/// The store's size against the mail it holds (issue "Store engine": ≤ 2 × live + 64 MiB).
pub(super) struct Disk {
    /// Bytes of every message still in a mailbox when the run ended.
    pub(super) live: u64,
    /// The data folder at the end, and its largest sample during the run.
    pub(super) end: u64,
    pub(super) peak: u64,
}

impl Disk {
    pub(super) fn bound(&self) -> u64 {
        2 * self.live + 64 * 1024 * 1024
    }

    pub(super) fn within(&self) -> bool {
        self.end <= self.bound()
    }
}

/// The bytes of every message in every mailbox of the (stopped) server's store.
fn live_bytes(data: &Path) -> anyhow::Result<u64> {
    let store = store::Store::open(data).context("open the soak's store")?;
    let mut total = 0;
    for account in store.accounts()? {
        for mb in store.mailboxes(account.id)? {
            total += mb.size;
        }
    }
    Ok(total)
}

/// The run's folder (config, certificates, store, server log): removed when dropped, also on
/// error or Ctrl-C, unless `--keep`.
struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.keep {
            eprintln!("soak: kept {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

async fn soak(args: &Args, plan: &Plan, work: &Path) -> anyhow::Result<()> {
    let config = write_config(work, plan, args.sessions)?;
    eprintln!(
        "soak: {} sessions for {} s: {} SMTP, {} IMAP on {} accounts, {} IMAP watchers, {} POP3 on {} accounts",
        args.sessions,
        args.seconds,
        plan.smtp,
        plan.imap,
        plan.imap_accounts.len(),
        plan.watch,
        plan.pop,
        plan.pop_accounts.len()
    );
    let server = ServerGuard(Mailstack::start(&args.mailstack, &config)?);
    let pid = server.0.pid();
    let port = |s: &str| server.0.port(s);
    let ports = Ports {
        smtp: port("smtp")?,
        submission: port("submission")?,
        submissions: port("submissions")?,
        imap: port("imap")?,
        imaps: port("imaps")?,
        pop3: port("pop3")?,
        pop3s: port("pop3s")?,
    };
    let tls = crate::client::connector(&work.join("certs/ca.crt"))?;
    let msgs = SIZES
        .iter()
        .enumerate()
        .map(|(i, &size)| {
            let subject = format!("Soak test message {i}");
            corpus::message(i, "soak", &subject, size, i % 3 == 1)
        })
        .collect();
    let recipients = plan
        .imap_accounts
        .iter()
        .chain(&plan.pop_accounts)
        .cloned()
        .collect();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.seconds);
    let env = Arc::new(Env {
        ports,
        tls,
        stats: Stats::new(start),
        deadline,
        msgs,
        recipients,
    });
    let mut sampler = Sampler {
        pid,
        data: work.join("data"),
        stats: &env.stats,
        start,
        last: (0.0, 0, cpu_s(pid)),
        rows: Vec::new(),
        rss: Vec::new(),
    };
    println!("{HEADER}");
    sampler.record();
    let idle_rss = sampler.rows[0].rss_kib;
    let idle_fds = sampler.rows[0].fds;

    let mut tasks = tokio::task::JoinSet::new();
    let mut id = 0;
    let mut spawn = |kind: usize, local: &str| {
        let env = env.clone();
        let account = match kind {
            0 => local.to_string(),
            _ => format!("{local}@{DOMAIN}"),
        };
        let n = id;
        id += 1;
        tasks.spawn(async move {
            match kind {
                0 => smtp::session(&env, n, account).await,
                1 => pop3::session(&env, n, account).await,
                2 => imap::session(&env, n, account, true).await,
                _ => imap::session(&env, n, account, false).await,
            }
        });
    };
    for i in 0..plan.smtp {
        spawn(0, &plan.senders[i % plan.senders.len()]);
    }
    for i in 0..plan.pop {
        spawn(1, &plan.pop_accounts[i % plan.pop_accounts.len()]);
    }
    for i in 0..plan.watch {
        spawn(2, &plan.pop_accounts[i % plan.pop_accounts.len()]);
    }
    for i in 0..plan.imap {
        spawn(3, &plan.imap_accounts[i % plan.imap_accounts.len()]);
    }

    let every = Duration::from_secs(args.sample);
    let mut next_row = start + every;
    let mut next_tick = start + Duration::from_secs(1);
    while next_tick < deadline {
        tokio::time::sleep_until(next_tick.into()).await;
        sampler.tick();
        if next_tick >= next_row {
            sampler.record();
            next_row += every;
        }
        next_tick += Duration::from_secs(1);
    }
    tokio::time::sleep_until(deadline.into()).await;
    sampler.tick();
    sampler.record();

    // Sessions finish their current iteration (LOGOUT/QUIT) after the deadline.
    let grace_end = tokio::time::Instant::now() + GRACE;
    let mut stuck = 0;
    while !tasks.is_empty() {
        match tokio::time::timeout_at(grace_end, tasks.join_next()).await {
            Ok(Some(Err(e))) if e.is_panic() => env.stats.error(
                usize::MAX,
                "harness",
                Fail::new("(session task)", format!("panicked: {e}")),
            ),
            Ok(_) => {}
            Err(_) => {
                stuck = tasks.len();
                tasks.abort_all();
                break;
            }
        }
    }
    if stuck > 0 {
        env.stats.error(
            usize::MAX,
            "harness",
            Fail::new(
                "(end of run)",
                format!("{stuck} sessions still waiting for a reply {GRACE:?} after the deadline"),
            ),
        );
    }
    let elapsed = start.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let closed = sampler.take();
    let rows = sampler.rows.clone();
    drop(server);
    let log = server_log(&work.join("mailstack.stderr"));
    // Issue "Store engine": the data folder stays within 2 × the live message bytes + 64 MiB.
    let live = live_bytes(&work.join("data"))?;
    let disk = Disk {
        live,
        end: closed.store_kib * 1024,
        peak: rows.iter().map(|r| r.store_kib * 1024).max().unwrap_or(0),
    };

    let rss = judge_rss(&sampler.rss, args.seconds as f64);
    let errors = env.stats.errors();
    let pass = errors == 0 && rss.flat && disk.within();
    let ops = env.stats.total();

    let r = Report {
        args,
        plan,
        rows: &rows,
        stats: &env.stats,
        rss,
        closed: &closed,
        idle_rss,
        idle_fds,
        elapsed,
        log: &log,
        disk: &disk,
        pass,
    };
    let md = r.markdown();
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, &md).with_context(|| format!("write {}", args.out.display()))?;
    println!("\n{}", r.summary());
    eprintln!("soak: wrote {}", args.out.display());
    let secs = args.seconds as f64;
    if !pass {
        anyhow::bail!(
            "soak FAILED: {errors} protocol errors; RSS {:.1} MiB at the end vs {:.1} MiB after warm-up (limit {:.1} MiB){}; store {:.1} MiB for {:.1} MiB of live mail (bound {:.1} MiB)",
            mib(rss.end_kib),
            mib(rss.warm_kib),
            mib(rss.limit_kib),
            if rss.flat { "" } else { ": not flat" },
            disk.end as f64 / 1048576.0,
            disk.live as f64 / 1048576.0,
            disk.bound() as f64 / 1048576.0,
        );
    }
    eprintln!(
        "soak: PASS — {ops} ops ({:.0}/s), 0 protocol errors, RSS flat",
        ops as f64 / secs
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{b64, judge_rss, Plan};

    #[test]
    fn rss_verdict_uses_window_medians() {
        // 100 s at 100 MiB with one spike in each window: flat.
        let mut series: Vec<(f64, u64)> = (0..=100).map(|t| (t as f64, 100 * 1024)).collect();
        series[25].1 = 400 * 1024;
        series[95].1 = 400 * 1024;
        let v = judge_rss(&series, 100.0);
        assert_eq!((v.warm_kib, v.end_kib), (100 * 1024, 100 * 1024));
        assert!(v.flat);
        assert_eq!(v.peak_kib, 400 * 1024);
        // Steady growth of 1 MiB/s: 125 MiB at 25 s, 195 MiB at 95 s > 125 × 1.25 + 16.
        let series: Vec<(f64, u64)> = (0..=100).map(|t| (t as f64, (100 + t) * 1024)).collect();
        assert!(!judge_rss(&series, 100.0).flat);
    }

    #[test]
    fn base64() {
        assert_eq!(b64(b""), "");
        assert_eq!(b64(b"f"), "Zg==");
        assert_eq!(b64(b"fo"), "Zm8=");
        assert_eq!(b64(b"foo"), "Zm9v");
        assert_eq!(b64(b"\0a\0b"), "AGEAYg==");
    }

    #[test]
    fn plan_of_200() {
        let p = Plan::new(200);
        assert_eq!(p.smtp + p.pop + p.watch + p.imap, 200);
        assert_eq!((p.smtp, p.pop, p.watch, p.imap), (50, 40, 20, 90));
        assert_eq!(p.pop_accounts.len(), 20);
        assert_eq!(p.imap_accounts.len(), 23);
    }
}
