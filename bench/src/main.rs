//! `bench`: the load generator and harness of `make bench`. It builds the accounts and mail of
//! every scenario, starts mailstack (release binary) and the peers — Dovecot 2.3 for IMAP/POP3,
//! Postfix → Maildir and smtp-sink for SMTP — on loopback ports from private folders, runs the
//! scenarios of docs/spec.md §9 alternately against both, and writes the Markdown table to
//! `bench/results/latest.md` (and stdout).
//!
//! # Layout
//! - `client`: line clients (IMAP, POP3, SMTP) over TCP or TLS with read deadlines.
//! - `corpus`: messages, accounts, loading mailstack's store and Dovecot's Maildirs.
//! - `peers`: starting/stopping mailstack, Dovecot, Postfix, smtp-sink; memory of a process tree.
//! - `smtp`, `imap`, `pop3`: the measurements, one server at a time.
//! - `scenarios`: the scenarios (`--only N` picks some), each producing table rows.
//! - `deflate`: the client side of IMAP COMPRESS=DEFLATE and a byte counter under it (row 9).
//! - `report`: rows, medians and the Markdown table.
//! - `soak`: `bench soak` (`make soak`), the long mixed-load run with its own report
//!   (`bench/results/soak.md`).
//! - `stress`: `bench stress` (`make stress`; a short run in `make test`), the model-checking
//!   stress client: many IMAP sessions on one mailbox, every response checked against a model
//!   built only from what the server said, checkpoints comparing every session's view with a
//!   fresh SELECT; side by side with Dovecot, which must give 0 errors
//!   (`bench/results/stress.md`, and its row in `latest.md`).
//!
//! # Invariants
//! - All traffic goes to 127.0.0.1; every loop is bounded by a count and a time limit.
//! - Every figure is a median of `--reps` (≥3) repetitions, mailstack and peer alternating, and
//!   every row compares two figures of the same run.
//! - Both sides store the same bytes with the same flags and verify the same argon2id PHC
//!   strings (Dovecot's passwd-file holds mailstack's hashes), except where a row says so.
//! - Whatever was started is stopped when the run ends, also on error ([`peers::Servers`]'s
//!   `Drop`).
#![forbid(unsafe_code)]

mod client;
mod corpus;
mod deflate;
mod imap;
mod nodes;
mod peers;
mod pop3;
mod report;
mod scenarios;
mod smtp;
mod soak;
mod stress;

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use anyhow::Context;

/// Sizes and limits of a run (`--quick` shrinks them for a smoke test).
#[derive(Debug, Clone)]
pub struct Scale {
    pub reps: usize,
    pub smtp_senders: usize,
    pub smtp_small: usize,
    pub smtp_large: usize,
    pub smtp_limit: Duration,
    pub source_count: usize,
    pub mix_users: usize,
    pub mix_msgs: usize,
    pub mix_window: Duration,
    pub web_clients: usize,
    pub large: usize,
    pub idle: usize,
    pub pop_count: usize,
    pub pop_size: usize,
    pub storm: usize,
    pub storm_limit: Duration,
    /// Messages of the mailbox that row 9 (COMPRESS=DEFLATE) synchronises.
    pub sync_count: usize,
    /// argon2id parameters of both sides (Dovecot's `doveadm pw -s ARGON2ID`: m=64 MiB, t=3).
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
}

impl Scale {
    fn full() -> Scale {
        Scale {
            reps: 3,
            smtp_senders: 16,
            smtp_small: 4000,
            smtp_large: 1000,
            smtp_limit: Duration::from_secs(60),
            source_count: 2000,
            mix_users: 100,
            mix_msgs: 100,
            mix_window: Duration::from_secs(3),
            web_clients: 16,
            large: 100_000,
            idle: 10_000,
            pop_count: 1000,
            pop_size: 100 * 1024,
            storm: 1000,
            storm_limit: Duration::from_secs(6),
            sync_count: 2000,
            argon2_memory_kib: 65536,
            argon2_iterations: 3,
        }
    }

    fn quick() -> Scale {
        Scale {
            smtp_small: 300,
            smtp_large: 100,
            source_count: 200,
            mix_users: 12,
            mix_msgs: 40,
            mix_window: Duration::from_secs(1),
            web_clients: 4,
            large: 3000,
            idle: 300,
            pop_count: 100,
            storm: 50,
            storm_limit: Duration::from_secs(3),
            sync_count: 1000,
            ..Scale::full()
        }
    }
}

struct Args {
    mailstack: PathBuf,
    scripts: PathBuf,
    out: PathBuf,
    analysis: PathBuf,
    scale: Scale,
    keep: bool,
    only: Option<Vec<u32>>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        mailstack: "target/release/mailstack".into(),
        scripts: "bench/scripts".into(),
        out: "bench/results/latest.md".into(),
        analysis: "bench/results/analysis.md".into(),
        scale: Scale::full(),
        keep: false,
        only: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--mailstack" => a.mailstack = val()?.into(),
            "--scripts" => a.scripts = val()?.into(),
            "--out" => a.out = val()?.into(),
            "--analysis" => a.analysis = val()?.into(),
            "--quick" => {
                let reps = a.scale.reps;
                a.scale = Scale::quick();
                a.scale.reps = reps;
            }
            "--reps" => a.scale.reps = val()?.parse::<usize>()?.max(1),
            "--idle" => a.scale.idle = val()?.parse()?,
            "--large" => a.scale.large = val()?.parse()?,
            "--keep" => a.keep = true,
            "--only" => {
                a.only = Some(
                    val()?
                        .split(',')
                        .map(|s| s.trim().parse())
                        .collect::<Result<_, _>>()?,
                )
            }
            "-h" | "--help" => {
                println!(
                    "usage: bench [--quick] [--reps N] [--only 1,2,..] [--idle N] [--large N] \
                     [--mailstack BIN] [--scripts DIR] [--out FILE] [--analysis FILE] [--keep]\n       \
                     bench soak --help\n       bench stress --help"
                );
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown argument {other} (see --help)"),
        }
    }
    Ok(a)
}

fn main() -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    // SIGINT/SIGTERM drop the run, whose guards stop every server it started.
    let sub = std::env::args().nth(1).unwrap_or_default();
    let outcome = rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let work = async {
            match sub.as_str() {
                "soak" => soak::run().await,
                "stress" => stress::run().await,
                "nodes" => nodes::run().await,
                _ => run().await,
            }
        };
        tokio::select! {
            r = work => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
            _ = term.recv() => Err(anyhow::anyhow!("terminated")),
        }
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn version(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|x| x.1.trim().to_string())
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{cpus} CPUs ({cpu}), {:.1} GiB RAM, Linux {}",
        mem_kib as f64 / 1048576.0,
        kernel.trim()
    )
}

async fn run() -> anyhow::Result<()> {
    let args = parse_args()?;
    let started = Instant::now();
    let work = std::env::temp_dir().join(format!("mailstack-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let result = scenarios::run_all(
        &args.mailstack,
        &args.scripts,
        &work,
        &args.scale,
        args.only.as_deref(),
    )
    .await;
    if !args.keep {
        let _ = std::fs::remove_dir_all(&work);
    } else {
        eprintln!("bench: kept {}", work.display());
    }
    let run = result?;
    let mut md = String::new();
    md.push_str("# mailstack benchmark results\n\n");
    md.push_str("Generated by `make bench` (bench/ crate). Every figure is the median of ");
    md.push_str(&format!(
        "{} repetitions, mailstack and the peer measured alternately in the same run, all traffic on \
         127.0.0.1. **advantage** = how many times better mailstack is (throughput: mailstack ÷ peer; \
         time and memory: peer ÷ mailstack) — below 1.00× mailstack loses that row.\n\n",
        args.scale.reps
    ));
    md.push_str(&format!(
        "- date: {}\n",
        version("date", &["-u", "+%Y-%m-%d %H:%M UTC"])
    ));
    md.push_str(&format!("- machine: {}\n", machine()));
    md.push_str(&format!(
        "- versions: {}; Dovecot {}; Postfix {}; {}\n",
        version(&args.mailstack.to_string_lossy(), &["--version"]),
        version("dovecot", &["--version"]),
        run.postfix_version,
        version("rustc", &["--version"]),
    ));
    md.push_str(&format!(
        "- argon2id on both sides: m = {} KiB, t = {}, p = 1 (Dovecot's `doveadm pw -s ARGON2ID` defaults; \
         mailstack `[auth] argon2_memory_kib`/`argon2_iterations` set to match, and Dovecot's passwd-file \
         holds mailstack's own PHC strings)\n",
        args.scale.argon2_memory_kib, args.scale.argon2_iterations
    ));
    md.push_str(&format!(
        "- run time: {:.0} s\n\n",
        started.elapsed().as_secs_f64()
    ));
    md.push_str(&report::table(&run.rows));
    md.push_str("\n## How each row was measured\n\n");
    for n in &run.notes {
        md.push_str(&format!("- {n}\n"));
    }
    if let Ok(analysis) = std::fs::read_to_string(&args.analysis) {
        md.push('\n');
        md.push_str(&analysis);
    }
    println!("\n{md}");
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, md).with_context(|| format!("write {}", args.out.display()))?;
    eprintln!("bench: wrote {}", args.out.display());
    Ok(())
}
