//! Row 8, churn (issue 18 "bounded disk"): three rounds of 1,000 × 100 KiB delivered over SMTP
//! and then deleted over POP3 (DELE all + QUIT); after each round the data folder's size
//! against the store's live bytes (the sum of every account's usage, from the admin API), with
//! the target ≤ 2 × live + 64 MiB; then the idle server's RSS and CPU. mailstack only: Postfix
//! and Dovecot keep one file per message, which a delete removes, so there is no peer figure.

use std::path::Path;
use std::time::{Duration, Instant};

use super::{note, row, say, target, Ctx};
use crate::client::Conn;
use crate::corpus::{DOMAIN, PASSWORD};
use crate::report::Better;
use crate::smtp;

/// The churn account (created with the others).
pub(super) const USER: &str = "churn";
const ROUNDS: usize = 3;
const MIB: f64 = 1024.0 * 1024.0;

fn du(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => du(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of proc(5), counted after the command name.
    f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// The folder size once the compactor is done: sampled every 500 ms until it has not shrunk
/// for 5 s (at most 120 s).
async fn settled_size(data: &Path) -> u64 {
    let start = Instant::now();
    let mut best = du(data);
    let mut since = Instant::now();
    while since.elapsed() < Duration::from_secs(5) && start.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = du(data);
        if now < best {
            best = now;
            since = Instant::now();
        }
    }
    best
}

pub(super) async fn churn(c: &mut Ctx<'_>) -> anyhow::Result<()> {
    let ms = &c.s.mailstack;
    let (smtp_port, pop_port, pid) = (ms.port("smtp")?, ms.port("pop3")?, ms.pid());
    let data = c.data_dir.clone();
    let (count, size) = (1000, 100 * 1024);
    let mut notes = Vec::new();
    for round in 1..=ROUNDS {
        smtp::ingest(
            smtp_port,
            &[USER.to_string()],
            16,
            count,
            size,
            Duration::from_secs(900),
            None,
        )
        .await?;
        let full = du(&data);
        let mut pop = Conn::connect(pop_port)
            .await?
            .pop_login(&format!("{USER}@{DOMAIN}"), PASSWORD)
            .await?;
        for i in 1..=count {
            pop.pop(&format!("DELE {i}")).await?;
        }
        pop.pop("QUIT").await?;
        let after = settled_size(&data).await;
        let live = c.live_bytes().await?;
        let limit = 2.0 * live as f64 + 64.0 * MIB;
        say(&format!(
            "[8] round {round}: {:.0} MiB with the messages, {:.0} MiB after DELE all ({:.0} MiB live)",
            full as f64 / MIB,
            after as f64 / MIB,
            live as f64 / MIB
        ));
        c.rows.push(note(
            target(
                row(
                    &format!("8 churn round {round}"),
                    "data dir MiB after DELE all (limit 2 × live + 64)",
                    Some(after as f64 / MIB),
                    Some(limit / MIB),
                    "limit",
                    Better::Lower,
                ),
                1.0,
            ),
            format!(
                "{:.0} MiB live; {:.0} MiB while the {count} messages were there",
                live as f64 / MIB,
                full as f64 / MIB
            ),
        ));
        notes.push(format!("{:.0}", after as f64 / MIB));
    }
    // The idle server afterwards: CPU over 10 s, and RSS.
    let ticks = cpu_ticks(pid);
    let t = Instant::now();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let hz = 100.0;
    let cpu = (cpu_ticks(pid) - ticks) as f64 / hz / t.elapsed().as_secs_f64() * 100.0;
    c.rows.push(row(
        "8 churn, idle after",
        "server CPU % (10 s)",
        Some(cpu),
        None,
        "—",
        Better::Lower,
    ));
    c.rows.push(row(
        "8 churn, idle after",
        "server RSS MiB",
        Some(rss_mib(pid)),
        None,
        "—",
        Better::Lower,
    ));
    c.notes.push(format!(
        "8 churn: {ROUNDS} rounds of {count} × {} KiB to one account over SMTP (16 senders), then \
         POP3 DELE of all + QUIT; the data folder is measured once the compactor is done (no \
         shrink for 5 s); live = the sum of every account's usage (GET /api/accounts), i.e. \
         the benchmark's whole corpus; target ≤ 2 × live + 64 MiB (the advantage column is \
         limit ÷ size). Sizes after each round (MiB): {}. The peers keep a file per message, \
         which a delete removes: no peer figure.",
        size / 1024,
        notes.join(", ")
    ));
    Ok(())
}
