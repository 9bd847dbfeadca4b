//! `bench nodes`: sled against PostgreSQL on one node, and 1, 2 and 4 nodes on one PostgreSQL
//! (loopback, a private cluster started like the tests' `testkit::postgres`), for SMTP ingest
//! (16 senders spread over the nodes, 4 KiB messages) and the IMAP stress mix (the
//! model-checking stress client's sessions spread over the nodes, checkpoints on, so the
//! figure is only reported when every check held). CPU seconds of the mailstack processes and
//! of PostgreSQL during each part say which side is the limit. Writes
//! bench/results/nodes.md (README "When one machine is not enough").

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::corpus::{DOMAIN, PASSWORD};
use crate::peers::Mailstack;
use crate::stress::runner::{self, Config, Target};

/// The stress client's account; SMTP ingest goes to another one, so the mix starts from the
/// same small mailbox on every store.
const USER: &str = "nodes";
const INGEST: &str = "ingest";
const SENDERS: usize = 16;
const SIZE: usize = 4 * 1024;

struct Args {
    mailstack: PathBuf,
    seconds: u64,
    sessions: usize,
    out: PathBuf,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        mailstack: "target/release/mailstack".into(),
        seconds: 10,
        sessions: 20,
        out: "bench/results/nodes.md".into(),
    };
    let mut it = std::env::args().skip(2);
    while let Some(k) = it.next() {
        let mut val = || it.next().with_context(|| format!("{k} needs a value"));
        match k.as_str() {
            "--mailstack" => a.mailstack = val()?.into(),
            "--seconds" => a.seconds = val()?.parse()?,
            "--sessions" => a.sessions = val()?.parse()?,
            "--out" => a.out = val()?.into(),
            _ => bail!(
                "usage: bench nodes [--mailstack BIN] [--seconds S (10)] [--sessions N (20)] \
                 [--out bench/results/nodes.md]"
            ),
        }
    }
    Ok(a)
}

fn config(dir: &Path, url: Option<&str>) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let store = url
        .map(|u| format!("[store]\nbackend = \"postgres\"\nurl = \"{u}\"\n"))
        .unwrap_or_default();
    let text = format!(
        "hostname = \"localhost\"\ndata_dir = \"data\"\ndomains = [\"{DOMAIN}\"]\n\
         outbound = \"reject\"\n[tls]\ncert = \"certs/server.crt\"\nkey = \"certs/server.key\"\n\
         generate = true\n[listeners]\nsmtp = \"127.0.0.1:0\"\nimap = \"127.0.0.1:0\"\n\
         [auth]\nargon2_memory_kib = 64\nargon2_iterations = 1\n\
         [limits]\nconnections_per_address = 5000\nconnections_total = 5000\n{store}"
    );
    let path = dir.join("mailstack.toml");
    std::fs::write(&path, text)?;
    Ok(path)
}

fn add_user(bin: &Path, config: &Path, user: &str) -> anyhow::Result<()> {
    let mut child = Command::new(bin)
        .arg("--config")
        .arg(config)
        .args([
            "user",
            "add",
            &format!("{user}@{DOMAIN}"),
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    use std::io::Write;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(format!("{PASSWORD}\n").as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("user add: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// CPU seconds (user + system) of the processes named `name`, or of `pids`.
fn cpu_seconds(pids: &[u32], name: Option<&str>) -> f64 {
    let tick = 100.0; // USER_HZ on Linux
    let mut total = 0u64;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let wanted = pids.contains(&pid) || name.is_some_and(|n| comm == n);
        if !wanted {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        // Fields 14 and 15 of stat (utime, stime), counted after the comm.
        let t: u64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
            .sum();
        total += t;
    }
    total as f64 / tick
}

struct Row {
    label: String,
    ingest_per_s: f64,
    ingest_cpu: (f64, f64),
    stress_per_s: f64,
    stress_errors: u64,
    stress_cpu: (f64, f64),
}

async fn one(a: &Args, label: &str, url: Option<String>, nodes: usize) -> anyhow::Result<Row> {
    let work = std::env::temp_dir().join(format!(
        "mailstack-nodes-{}-{}",
        std::process::id(),
        label.replace([' ', ','], "-")
    ));
    let mut configs = Vec::new();
    for i in 0..nodes {
        configs.push(config(&work.join(format!("node{i}")), url.as_deref())?);
    }
    add_user(&a.mailstack, &configs[0], USER)?;
    add_user(&a.mailstack, &configs[0], INGEST)?;
    let mut servers = Vec::new();
    for c in &configs {
        servers.push(Mailstack::start(&a.mailstack, c)?);
    }
    let pids: Vec<u32> = servers.iter().map(Mailstack::pid).collect();
    let limit = Duration::from_secs(a.seconds);

    // SMTP ingest: the senders spread over the nodes.
    let (m0, p0) = (cpu_seconds(&pids, None), cpu_seconds(&[], Some("postgres")));
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for s in &servers {
        let port = s.port("smtp")?;
        set.spawn(async move {
            crate::smtp::ingest(
                port,
                &[INGEST.to_string()],
                SENDERS / nodes,
                usize::MAX,
                SIZE,
                limit,
                None,
            )
            .await
        });
    }
    let mut sent = 0;
    while let Some(r) = set.join_next().await {
        sent += r??.sent;
    }
    let secs = start.elapsed().as_secs_f64();
    let ingest_cpu = (
        cpu_seconds(&pids, None) - m0,
        cpu_seconds(&[], Some("postgres")) - p0,
    );

    // The IMAP stress mix, sessions spread over the nodes.
    let imap: Vec<u16> = servers
        .iter()
        .map(|s| s.port("imap"))
        .collect::<anyhow::Result<_>>()?;
    let target = Target {
        name: label.to_string(),
        imap_port: imap[0],
        more_imap: imap[1..].to_vec(),
        pop3_port: None,
        deliver: None,
        user: format!("{USER}@{DOMAIN}"),
        pass: PASSWORD.into(),
    };
    let cfg = Config::standard(a.sessions, a.seconds);
    let (m0, p0) = (cpu_seconds(&pids, None), cpu_seconds(&[], Some("postgres")));
    let outcome = runner::run_target(target, cfg, None).await?;
    let stress_cpu = (
        cpu_seconds(&pids, None) - m0,
        cpu_seconds(&[], Some("postgres")) - p0,
    );
    for s in &mut servers {
        s.stop();
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(Row {
        label: label.into(),
        ingest_per_s: sent as f64 / secs,
        ingest_cpu,
        stress_per_s: outcome.per_s(),
        stress_errors: outcome.errors.iter().map(|e| e.1).sum(),
        stress_cpu,
    })
}

pub async fn run() -> anyhow::Result<()> {
    let a = parse_args()?;
    let cluster = testkit::postgres::Cluster::get()
        .context("PostgreSQL is not installed (apt-get install postgresql)")?;
    let mut rows = Vec::new();
    for (label, pg, nodes) in [
        ("sled, 1 node", false, 1),
        ("PostgreSQL, 1 node", true, 1),
        ("PostgreSQL, 2 nodes", true, 2),
        ("PostgreSQL, 4 nodes", true, 4),
    ] {
        eprintln!("nodes: {label}");
        let url = pg.then(|| cluster.database());
        rows.push(one(&a, label, url, nodes).await?);
    }
    let mut md = String::new();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    writeln!(
        md,
        "# Several nodes on one PostgreSQL\n\n`bench nodes` ({}, {cores} cores, PostgreSQL on a Unix socket \
         of the same machine): {SENDERS} SMTP senders of {} KiB messages for {} s, then the \
         model-checking stress client with {} IMAP sessions for {} s (checkpoints every 5 s), \
         both spread over the nodes. CPU: seconds used by the mailstack processes / by \
         PostgreSQL during that part.\n",
        crate::version(&a.mailstack.to_string_lossy(), &["--version"]),
        SIZE / 1024,
        a.seconds,
        a.sessions,
        a.seconds
    )?;
    md.push_str("| store | SMTP msgs/s | CPU mailstack / PostgreSQL | IMAP mix cmds/s | stress errors | CPU mailstack / PostgreSQL |\n|---|---:|---:|---:|---:|---:|\n");
    for r in &rows {
        writeln!(
            md,
            "| {} | {:.0} | {:.1} s / {:.1} s | {:.0} | {} | {:.1} s / {:.1} s |",
            r.label,
            r.ingest_per_s,
            r.ingest_cpu.0,
            r.ingest_cpu.1,
            r.stress_per_s,
            r.stress_errors,
            r.stress_cpu.0,
            r.stress_cpu.1
        )?;
    }
    print!("{md}");
    if let Some(dir) = a.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&a.out, &md)?;
    if rows.iter().any(|r| r.stress_errors > 0) {
        bail!("the stress client found errors (see above)");
    }
    Ok(())
}
