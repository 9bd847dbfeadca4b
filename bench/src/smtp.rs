//! SMTP ingest (1): 16 concurrent senders, each on its own connection, one transaction per
//! message to a local recipient; and `smtp-source` from the postfix package as a third-party
//! load tool. For Postfix, "delivered" means the message file is in the recipient's Maildir
//! (`new/`): Postfix answers 250 once the queue file is durable and delivers afterwards, while
//! mailstack answers 250 only once the message is durable in the mailbox.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::client::Conn;
use crate::corpus::{self, DOMAIN};

/// Counts delivered files in the Maildirs `new/` of Postfix's virtual(8) base.
pub struct MaildirCounter {
    dirs: Vec<PathBuf>,
}

impl MaildirCounter {
    pub fn new(vmail: &Path, users: &[String]) -> MaildirCounter {
        MaildirCounter {
            dirs: users
                .iter()
                .map(|u| vmail.join(DOMAIN).join(u).join("new"))
                .collect(),
        }
    }

    pub fn count(&self) -> usize {
        self.dirs
            .iter()
            .map(|d| std::fs::read_dir(d).map(|r| r.count()).unwrap_or(0))
            .sum()
    }

    /// Waits until `target` files are there or `limit` passes; returns the count seen.
    pub async fn wait_for(&self, target: usize, limit: Duration) -> usize {
        let end = Instant::now() + limit;
        loop {
            let n = self.count();
            if n >= target || Instant::now() >= end {
                return n;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Result of one ingest run.
#[derive(Debug, Clone, Copy)]
pub struct Ingest {
    /// Messages per second until the last 250.
    pub accepted_per_s: f64,
    /// Messages per second until the last one is in its mailbox (equal to accepted for
    /// mailstack and smtp-sink).
    pub delivered_per_s: f64,
    pub sent: usize,
}

/// Sends up to `total` messages of `size` bytes with `senders` connections, recipient
/// `rcpts[sender % len]`, stopping at `limit`. `delivered` (Postfix) waits for the Maildir.
pub async fn ingest(
    port: u16,
    rcpts: &[String],
    senders: usize,
    total: usize,
    size: usize,
    limit: Duration,
    delivered: Option<(&MaildirCounter, usize)>,
) -> anyhow::Result<Ingest> {
    // One message body per recipient, built before the clock starts.
    let msgs: Arc<Vec<Vec<u8>>> = Arc::new(
        rcpts
            .iter()
            .enumerate()
            .map(|(i, r)| corpus::message(i, r, "Ingest benchmark", size, false))
            .collect(),
    );
    let mut conns = Vec::new();
    for _ in 0..senders {
        let mut c = Conn::connect(port).await?;
        if c.smtp_reply().await? != 220 {
            bail!("no SMTP greeting");
        }
        c.smtp("EHLO bench.test", 2).await?;
        conns.push(c);
    }
    let next = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let end = start + limit;
    let mut set = tokio::task::JoinSet::new();
    for (i, mut c) in conns.into_iter().enumerate() {
        let (next, sent, msgs) = (next.clone(), sent.clone(), msgs.clone());
        let rcpt = format!("{}@{DOMAIN}", rcpts[i % rcpts.len()]);
        set.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < total && Instant::now() < end {
                c.smtp_send("bench@remote.test", &rcpt, &msgs[i % msgs.len()])
                    .await?;
                sent.fetch_add(1, Ordering::Relaxed);
            }
            let _ = c.smtp("QUIT", 2).await;
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let accepted = start.elapsed().as_secs_f64();
    let n = sent.load(Ordering::Relaxed);
    let delivered_secs = match delivered {
        Some((counter, before)) => {
            let got = counter.wait_for(before + n, Duration::from_secs(300)).await;
            if got < before + n {
                bail!(
                    "Postfix delivered {} of {n} messages within 300 s",
                    got - before
                );
            }
            start.elapsed().as_secs_f64()
        }
        None => accepted,
    };
    Ok(Ingest {
        accepted_per_s: n as f64 / accepted,
        delivered_per_s: n as f64 / delivered_secs,
        sent: n,
    })
}

/// `smtp-source -s senders -m count -l size` against `port` to one recipient; messages/s
/// (until every message is in the Maildir when `delivered` is given).
pub async fn smtp_source(
    port: u16,
    rcpt: &str,
    senders: usize,
    count: usize,
    size: usize,
    delivered: Option<(&MaildirCounter, usize)>,
) -> anyhow::Result<f64> {
    let args = vec![
        "-d".to_string(),
        "-s".into(),
        senders.to_string(),
        "-m".into(),
        count.to_string(),
        "-l".into(),
        size.to_string(),
        "-f".into(),
        "bench@remote.test".into(),
        "-t".into(),
        format!("{rcpt}@{DOMAIN}"),
        format!("127.0.0.1:{port}"),
    ];
    let start = Instant::now();
    let out = tokio::task::spawn_blocking(move || Command::new("smtp-source").args(&args).output())
        .await??;
    if !out.status.success() {
        bail!(
            "smtp-source failed: {}",
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    if let Some((counter, before)) = delivered {
        let got = counter
            .wait_for(before + count, Duration::from_secs(300))
            .await;
        if got < before + count {
            bail!(
                "Postfix delivered {} of {count} smtp-source messages",
                got - before
            );
        }
    }
    Ok(count as f64 / start.elapsed().as_secs_f64())
}
