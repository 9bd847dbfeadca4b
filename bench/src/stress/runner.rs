//! One stress run against one server: set up the mailboxes (CREATE, the initial messages by
//! APPEND), start the IMAP sessions, the checkpoint coordinator, the sink cleaner and the
//! optional POP3/SMTP sessions, wait for all of them, and sum up.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::checkpoint::{self, Checkpoints};
use super::errors::{Counters, Errors, FirstError, Kind};
use super::extra;
use super::registry::{Expected, Registry};
use super::response::Code;
use super::session::{Flavor, Session};
use super::wire::{Trace, Wire};
use crate::imap::Rng;

/// The server under test.
#[derive(Debug, Clone)]
pub struct Target {
    /// `mailstack` or `dovecot` (or `external`).
    pub name: String,
    pub imap_port: u16,
    /// Further IMAP ports serving the same mailbox (other nodes of one shared store):
    /// sessions are spread over `imap_port` and these, round robin.
    pub more_imap: Vec<u16>,
    pub pop3_port: Option<u16>,
    /// How SMTP-like deliveries reach the server (`None`: not available).
    pub deliver: Option<extra::Deliver>,
    pub user: String,
    pub pass: String,
}

impl Target {
    /// The IMAP port session `id` uses.
    pub fn imap_for(&self, id: usize) -> u16 {
        match id % (1 + self.more_imap.len()) {
            0 => self.imap_port,
            i => self.more_imap[i - 1],
        }
    }
}

/// The workload (the same for every target of a run).
#[derive(Debug, Clone)]
pub struct Config {
    pub sessions: usize,
    pub seconds: u64,
    /// Seconds between checkpoints; 0: none.
    pub checkpoint: u64,
    pub seed: u64,
    /// The mailboxes the sessions select (session i: mailbox i mod n).
    pub mailboxes: Vec<String>,
    /// Where MOVE/COPY put messages that leave the selected mailboxes; emptied regularly.
    pub sink: String,
    pub initial: usize,
    /// The mix keeps each mailbox between these counts.
    pub low: u32,
    pub high: u32,
    /// Keywords of the run, introduced one by one over the run.
    pub keywords: Vec<String>,
    /// Keywords usable from the start.
    pub keywords_at_start: usize,
    pub pop3: usize,
    /// SMTP deliveries per second (0: none).
    pub smtp_rate: f64,
}

impl Config {
    /// The workload of `bench stress` without options: `sessions` IMAP sessions on INBOX for
    /// `seconds`, checkpoints every 5 s, 30 messages to start with, no POP3, no deliveries.
    pub fn standard(sessions: usize, seconds: u64) -> Config {
        Config {
            sessions,
            seconds,
            checkpoint: 5,
            seed: 1,
            mailboxes: vec!["INBOX".into()],
            sink: "stress-sink".into(),
            initial: 30,
            low: 15,
            high: 60,
            keywords: Config::keywords(),
            keywords_at_start: 5,
            pop3: 0,
            smtp_rate: 0.0,
        }
    }

    pub fn keywords() -> Vec<String> {
        let mut k: Vec<String> = ["$Label1", "$Label2", "$Label3"].map(String::from).to_vec();
        k.extend((0..12).map(|i| format!("kw{i:02}")));
        k
    }

    /// A mailbox other than `current`: another selected one, or the sink.
    pub fn other_mailbox(&self, current: &str, rng: &mut Rng) -> String {
        let mut choices: Vec<&String> = self.mailboxes.iter().filter(|m| *m != current).collect();
        choices.push(&self.sink);
        choices[rng.pick(choices.len()) - 1].clone()
    }
}

/// Everything the tasks of one run share.
pub struct Env {
    pub target: Target,
    pub cfg: Config,
    pub reg: Registry,
    pub errors: Errors,
    pub counters: Counters,
    pub cp: Checkpoints,
    pub start: Instant,
    pub deadline: Instant,
    pub trace: Option<Arc<Trace>>,
}

impl Env {
    /// How many keywords may be used now: the first few at once, then one more every
    /// 1/(n+1) of the run, so new keywords keep appearing (RFC 3501 §7.2.6 announcements).
    pub fn keywords_now(&self) -> usize {
        let n = self.cfg.keywords.len();
        let extra = n - self.cfg.keywords_at_start;
        let frac = self.start.elapsed().as_secs_f64() / self.cfg.seconds.max(1) as f64;
        (self.cfg.keywords_at_start + (frac * (extra + 1) as f64) as usize).min(n)
    }
}

/// What a run measured.
pub struct Outcome {
    pub target: String,
    pub commands: u64,
    /// Wall time minus time in checkpoints.
    pub active_s: f64,
    pub checkpoints: u64,
    pub errors: Vec<(Kind, u64, FirstError)>,
    pub ops: Vec<(&'static str, u64)>,
    pub races: Vec<(&'static str, u64)>,
}

impl Outcome {
    pub fn per_s(&self) -> f64 {
        self.commands as f64 / self.active_s.max(1e-9)
    }

    pub fn error_count(&self) -> u64 {
        self.errors.iter().map(|e| e.1).sum()
    }
}

/// CREATE the mailboxes (an existing one is fine) and APPEND `initial` messages to each
/// selected mailbox; their bytes become the registry's expected content.
async fn setup(env: &Arc<Env>) -> anyhow::Result<()> {
    let mut s = Session::new(env.clone(), 0);
    s.name = "setup".into();
    s.counting = false;
    s.flavor = Flavor::Plain;
    s.wire = Some(Wire::connect(env.target.imap_port, "setup", env.trace.clone()).await?);
    let login = format!("LOGIN \"{}\" \"{}\"", env.target.user, env.target.pass);
    let d = s.exec(&login, None, s.pending("LOGIN", false)).await?;
    anyhow::ensure!(d.ok(), "setup LOGIN refused: {}", d.text);
    for m in env.cfg.mailboxes.iter().chain([&env.cfg.sink]) {
        if !m.eq_ignore_ascii_case("INBOX") {
            // NO [ALREADYEXISTS] is fine (RFC 5530).
            s.exec(&format!("CREATE \"{m}\""), None, s.pending("CREATE", false))
                .await?;
        }
    }
    s.appended = 999;
    for m in &env.cfg.mailboxes {
        for k in 0..env.cfg.initial {
            let msg = s.new_message();
            let flags = if k % 3 == 0 { "\\Seen" } else { "" };
            let cmd = format!("APPEND \"{m}\" ({flags}) {{{}}}", msg.len());
            let d = s.exec(&cmd, Some(&msg), s.pending(&cmd, false)).await?;
            anyhow::ensure!(d.ok(), "setup APPEND refused: {}", d.text);
            if let Some(Code::AppendUid { validity, uids }) = d.code {
                let uid = uids.0.first().map_or(0, |r| r.0);
                env.reg.uidvalidity(m, validity);
                let v = env.reg.expect(
                    m,
                    uid,
                    Arc::new(Expected::of(&msg, format!("setup APPEND {k}"))),
                );
                s.report(v);
            }
        }
    }
    let _ = s.exec("LOGOUT", None, s.pending("LOGOUT", false)).await;
    Ok(())
}

/// Empties the sink every 10 s: its messages' sizes are checked against their sources first.
async fn clean_sink(env: Arc<Env>) {
    let mut s = Session::new(env.clone(), 0);
    s.name = "sink".into();
    s.counting = false;
    s.flavor = Flavor::Plain;
    s.mailbox = env.cfg.sink.clone();
    while Instant::now() + Duration::from_secs(10) < env.deadline {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let round = async {
            if s.wire.is_none() {
                s.connect().await?;
            } else {
                s.select().await?;
            }
            if s.view.as_ref().is_some_and(|v| v.count() > 0) {
                for cmd in [
                    "UID FETCH 1:* (UID RFC822.SIZE)",
                    "STORE 1:* +FLAGS.SILENT (\\Deleted)",
                    "EXPUNGE",
                ] {
                    s.exec_ok(cmd, s.pending(cmd, false)).await?;
                }
            }
            anyhow::Ok(())
        };
        if let Err(e) = round.await {
            s.fail(Kind::Protocol, format!("sink cleaner: {e:#}"));
            s.wire = None;
        }
    }
    if s.wire.is_some() {
        let _ = s.exec("LOGOUT", None, s.pending("LOGOUT", false)).await;
    }
}

/// Runs the workload against `target`.
pub async fn run_target(
    target: Target,
    cfg: Config,
    trace: Option<&std::path::Path>,
) -> anyhow::Result<Outcome> {
    let now = Instant::now();
    let trace = match trace {
        Some(p) => Some(Arc::new(Trace::create(p, now)?)),
        None => None,
    };
    let env = Env {
        target,
        cfg,
        reg: Registry::new(now),
        errors: Errors::default(),
        counters: Counters::default(),
        cp: Checkpoints::default(),
        start: now,
        deadline: now,
        trace,
    };
    let env0 = Arc::new(env);
    setup(&env0).await?;
    // The clock starts after the setup.
    let mut env = Arc::try_unwrap(env0).map_err(|_| anyhow::anyhow!("setup still running"))?;
    env.start = Instant::now();
    env.deadline = env.start + Duration::from_secs(env.cfg.seconds);
    let env = Arc::new(env);
    println!(
        "stress: {}: {} IMAP sessions for {} s on {:?}, checkpoints every {} s",
        env.target.name, env.cfg.sessions, env.cfg.seconds, env.cfg.mailboxes, env.cfg.checkpoint
    );
    let mut tasks = tokio::task::JoinSet::new();
    for id in 1..=env.cfg.sessions {
        let s = Session::new(env.clone(), id);
        tasks.spawn(s.run());
    }
    for id in 0..env.cfg.pop3 {
        tasks.spawn(extra::pop3(env.clone(), id));
    }
    if env.cfg.smtp_rate > 0.0 {
        tasks.spawn(extra::deliveries(env.clone()));
    }
    tasks.spawn(clean_sink(env.clone()));
    tasks.spawn(checkpoint::coordinate(env.clone()));
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r {
            anyhow::bail!("a stress task failed: {e}");
        }
    }
    env.reg
        .settle_nils(&env.errors, &env.counters, Instant::now());
    if let Some(t) = &env.trace {
        t.flush();
    }
    let wall_s = env.start.elapsed().as_secs_f64();
    let paused = env.cp.paused_ms.load(Ordering::SeqCst) as f64 / 1000.0;
    Ok(Outcome {
        target: env.target.name.clone(),
        commands: env.counters.total.load(Ordering::SeqCst),
        active_s: (wall_s - paused).max(0.001),
        checkpoints: env.cp.count.load(Ordering::SeqCst),
        errors: env.errors.snapshot(),
        ops: env.counters.ops(),
        races: env.counters.races(),
    })
}
