//! IMAP scenarios: the caching-client mix (2), the non-caching webmail mix (3), the large
//! mailbox operations (4), IDLE scale (5) and the login storm (7). Each function measures one
//! server on one port; the caller runs mailstack and the peer alternately and takes medians.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::sync::{mpsc, Semaphore};

use crate::client::Conn;
use crate::corpus::{self, PASSWORD};
use crate::report::quantile;

/// Throughput and latency of a mix.
#[derive(Debug, Clone, Copy)]
pub struct MixResult {
    pub ops_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// A tiny deterministic PRNG (xorshift64*), one per client.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in 1..=n.
    pub fn pick(&mut self, n: usize) -> usize {
        1 + (self.next() % n.max(1) as u64) as usize
    }
}

/// Logs in `users` with at most `parallel` logins in flight (argon2 memory stays bounded).
pub async fn login_all(port: u16, users: &[String], parallel: usize) -> anyhow::Result<Vec<Conn>> {
    let sem = Arc::new(Semaphore::new(parallel));
    let mut set = tokio::task::JoinSet::new();
    for (i, u) in users.iter().enumerate() {
        let sem = sem.clone();
        let user = format!("{u}@{}", corpus::DOMAIN);
        set.spawn(async move {
            let _permit = sem.acquire_owned().await?;
            let c = Conn::imap_login(port, &user, PASSWORD).await?;
            Ok::<_, anyhow::Error>((i, c))
        });
    }
    let mut conns: Vec<Option<Conn>> = (0..users.len()).map(|_| None).collect();
    while let Some(r) = set.join_next().await {
        let (i, c) = r??;
        conns[i] = Some(c);
    }
    Ok(conns.into_iter().flatten().collect())
}

fn fetch_uid(conn_bytes: &[u8]) -> Option<u32> {
    // "* 12 FETCH (UID 345 ..." → 345
    let s = std::str::from_utf8(conn_bytes).ok()?;
    if !s.starts_with("* ") || !s.contains(" FETCH (") {
        return None;
    }
    let i = s.find("UID ")?;
    s[i + 4..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// One caching client (Thunderbird, Apple Mail) for `window`: per cycle SELECT, UID FETCH 1:*
/// (FLAGS), sometimes APPEND, fetch the headers then the bodies of new messages once, STORE a
/// flag, EXPUNGE what it appended, and a brief IDLE. Returns per-operation latencies (ms).
async fn caching_client(
    mut c: Conn,
    seed: u64,
    initial: usize,
    window: Duration,
) -> anyhow::Result<(Conn, Vec<f64>)> {
    let mut rng = Rng::new(seed);
    let mut lat = Vec::with_capacity(4096);
    let end = Instant::now() + window;
    let mut max_uid = 0u32;
    let append = corpus::message(seed as usize, "mix", "Re: appended draft", 6 * 1024, false);
    macro_rules! op {
        ($e:expr) => {{
            let t = Instant::now();
            let r = $e;
            lat.push(t.elapsed().as_secs_f64() * 1e3);
            r
        }};
    }
    // The client's cache is warm: it knows every UID up to the current UIDNEXT - 1.
    c.imap_ok("SELECT INBOX").await?;
    c.imap_each("UID FETCH 1:* (UID)", |l| {
        if let Some(u) = fetch_uid(l) {
            max_uid = max_uid.max(u);
        }
    })
    .await?;
    let mut cycle = 0u64;
    while Instant::now() < end {
        cycle += 1;
        op!(c.imap_ok("SELECT INBOX").await?);
        op!(c.imap_ok("UID FETCH 1:* (FLAGS)").await?);
        if cycle % 4 == 1 {
            op!(c.imap_append("INBOX", "\\Seen", &append).await?);
        }
        // New messages: headers first, then bodies, each once.
        let mut new = Vec::new();
        let cmd = format!(
            "UID FETCH {}:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER])",
            max_uid + 1
        );
        // The header FETCH lines end with the literal's `{n}`: read them as lines too (the
        // plain `imap_each` skips them, and the client then never saw new messages).
        op!(c
            .imap_each_line(&cmd, |l| match fetch_uid(l) {
                Some(u) if u > max_uid => new.push(u),
                _ => {}
            })
            .await?);
        if !new.is_empty() {
            let set = new.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
            op!(c.imap_ok(&format!("UID FETCH {set} (BODY.PEEK[])")).await?);
            max_uid = max_uid.max(*new.iter().max().unwrap_or(&0));
        }
        let uid = rng.pick(initial);
        let sign = if rng.next().is_multiple_of(2) {
            '+'
        } else {
            '-'
        };
        op!(c
            .imap_ok(&format!("UID STORE {uid} {sign}FLAGS (\\Seen)"))
            .await?);
        if !new.is_empty() {
            let set = new.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
            op!(c
                .imap_ok(&format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)"))
                .await?);
            op!(c.imap_ok("EXPUNGE").await?);
        }
        let t = Instant::now();
        let tag = c.imap_idle_start().await?;
        let done = c.imap_idle_done(&tag).await?;
        if !done.ok {
            bail!("IDLE failed");
        }
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok((c, lat))
}

/// Runs `conns` caching clients for `window`; returns the connections for the next repetition.
pub async fn caching_mix(
    conns: Vec<Conn>,
    initial: usize,
    window: Duration,
    rep: u64,
) -> anyhow::Result<(Vec<Conn>, MixResult)> {
    let mut set = tokio::task::JoinSet::new();
    let start = Instant::now();
    for (i, c) in conns.into_iter().enumerate() {
        set.spawn(caching_client(
            c,
            rep * 1000 + i as u64 + 1,
            initial,
            window,
        ));
    }
    collect(set, start).await
}

/// One webmail client: random FETCH ENVELOPE / BODYSTRUCTURE / BODY[] of random messages.
async fn webmail_client(
    mut c: Conn,
    seed: u64,
    exists: usize,
    window: Duration,
) -> anyhow::Result<(Conn, Vec<f64>)> {
    let mut rng = Rng::new(seed);
    let mut lat = Vec::with_capacity(8192);
    c.imap_ok("SELECT INBOX").await?;
    let end = Instant::now() + window;
    while Instant::now() < end {
        let n = rng.pick(exists);
        let item = match rng.next() % 3 {
            0 => "ENVELOPE",
            1 => "BODYSTRUCTURE",
            _ => "BODY.PEEK[]",
        };
        let t = Instant::now();
        c.imap_ok(&format!("FETCH {n} ({item})")).await?;
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    Ok((c, lat))
}

pub async fn webmail_mix(
    conns: Vec<Conn>,
    exists: usize,
    window: Duration,
    rep: u64,
) -> anyhow::Result<(Vec<Conn>, MixResult)> {
    let mut set = tokio::task::JoinSet::new();
    let start = Instant::now();
    for (i, c) in conns.into_iter().enumerate() {
        set.spawn(webmail_client(c, rep * 1000 + i as u64 + 7, exists, window));
    }
    collect(set, start).await
}

async fn collect(
    mut set: tokio::task::JoinSet<anyhow::Result<(Conn, Vec<f64>)>>,
    start: Instant,
) -> anyhow::Result<(Vec<Conn>, MixResult)> {
    let mut conns = Vec::new();
    let mut all = Vec::new();
    while let Some(r) = set.join_next().await {
        let (c, lat) = r??;
        conns.push(c);
        all.extend(lat);
    }
    let secs = start.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    Ok((
        conns,
        MixResult {
            ops_per_s: all.len() as f64 / secs,
            p50_ms: quantile(&all, 0.5),
            p99_ms: quantile(&all, 0.99),
        },
    ))
}

/// Wall time (ms) of one IMAP command on an open connection.
pub async fn timed(c: &mut Conn, command: &str) -> anyhow::Result<f64> {
    let t = Instant::now();
    c.imap_ok(command).await?;
    Ok(t.elapsed().as_secs_f64() * 1e3)
}

/// What the `* SORT` / `* THREAD` answers of one command held (RFC 5256 §4).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Listing {
    /// Numbers (UIDs) listed.
    pub uids: usize,
    /// Threads: parenthesised groups at the top level of `* THREAD` (0 for SORT).
    pub threads: usize,
}

impl Listing {
    /// Adds one response line; lines other than `* SORT` and `* THREAD` are ignored.
    pub fn add(&mut self, line: &[u8]) {
        let Some(rest) = line
            .strip_prefix(b"* SORT")
            .or_else(|| line.strip_prefix(b"* THREAD"))
        else {
            return;
        };
        let (mut depth, mut in_number) = (0usize, false);
        for &b in rest {
            match b {
                b'(' => {
                    if depth == 0 {
                        self.threads += 1;
                    }
                    depth += 1;
                }
                b')' => depth = depth.saturating_sub(1),
                _ => {}
            }
            if b.is_ascii_digit() {
                if !in_number {
                    self.uids += 1;
                }
                in_number = true;
            } else {
                in_number = false;
            }
        }
    }
}

/// Wall time (ms) of one SORT or THREAD command on an open connection, and what it listed.
pub async fn timed_listing(c: &mut Conn, command: &str) -> anyhow::Result<(f64, Listing)> {
    let mut listing = Listing::default();
    let t = Instant::now();
    c.imap_each(command, |l| listing.add(l)).await?;
    Ok((t.elapsed().as_secs_f64() * 1e3, listing))
}

/// Logins per second: `total` LOGIN/LOGOUT cycles (each a new connection) by `parallel`
/// workers, stopping early at `limit`. Returns (logins/s, logins done).
pub async fn login_storm(
    port: u16,
    user: &str,
    total: usize,
    parallel: usize,
    limit: Duration,
) -> anyhow::Result<(f64, usize)> {
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let end = start + limit;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..parallel {
        let (next, done, user) = (next.clone(), done.clone(), user.to_string());
        set.spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < total && Instant::now() < end {
                let mut c = Conn::imap_login(port, &user, PASSWORD).await?;
                c.imap_ok("LOGOUT").await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let n = done.load(Ordering::Relaxed);
    Ok((n as f64 / start.elapsed().as_secs_f64(), n))
}

/// How long one delivery may take to reach every IDLE client.
pub const PUSH_LIMIT: Duration = Duration::from_secs(30);

/// IDLE scale result.
#[derive(Debug, Clone)]
pub struct IdleResult {
    pub connected: usize,
    /// Milliseconds from the start of each delivery to the last client's EXISTS.
    pub push_ms: Vec<f64>,
    pub clients_notified: Vec<usize>,
    pub stop_reason: String,
}

/// Opens up to `n` IDLE connections to `port` as `user` (stopping early when the machine's
/// available memory drops under `min_avail_kib`), then for each of `deliveries` runs
/// `deliver` and times until every client saw EXISTS. `measure` runs once all are idle.
#[allow(clippy::too_many_arguments)]
pub async fn idle_scale<D, F, M>(
    port: u16,
    user: &str,
    n: usize,
    deliveries: usize,
    min_avail_kib: u64,
    connect_limit: Duration,
    mut measure: M,
    mut deliver: D,
) -> anyhow::Result<IdleResult>
where
    D: FnMut(usize) -> F,
    F: std::future::Future<Output = anyhow::Result<()>>,
    M: FnMut(),
{
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Instant)>();
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<anyhow::Result<()>>();
    let sem = Arc::new(Semaphore::new(64));
    let mut tasks = tokio::task::JoinSet::new();
    let start = Instant::now();
    let mut launched = 0;
    let mut connected = 0;
    let mut stop_reason = String::from("all connected");
    let mut failures = 0usize;
    while launched < n {
        if launched % 250 == 0 {
            // Wait for the previous batch, then look at the machine's free memory.
            while connected + failures < launched {
                match tokio::time::timeout(Duration::from_secs(60), ready_rx.recv()).await {
                    Ok(Some(Ok(()))) => connected += 1,
                    Ok(Some(Err(_))) => failures += 1,
                    _ => bail!("IDLE clients stopped answering while connecting"),
                }
            }
            if failures > 0 {
                stop_reason = format!("{failures} connections failed");
                break;
            }
            if mem_available_kib() < min_avail_kib {
                stop_reason = "stopped: machine memory low".into();
                break;
            }
            if start.elapsed() > connect_limit {
                stop_reason = "stopped: connect time limit".into();
                break;
            }
        }
        let (tx, ready_tx, sem, user) =
            (tx.clone(), ready_tx.clone(), sem.clone(), user.to_string());
        tasks.spawn(async move {
            let setup = async {
                let _permit = sem.acquire_owned().await?;
                let mut c = Conn::imap_login_with(port, &user, PASSWORD, 2048).await?;
                c.imap_ok("SELECT INBOX").await?;
                let tag = c.imap_idle_start().await?;
                Ok::<_, anyhow::Error>((c, tag))
            };
            let (mut c, _tag) = match setup.await {
                Ok(x) => {
                    let _ = ready_tx.send(Ok(()));
                    x
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(anyhow::anyhow!("{e}")));
                    return;
                }
            };
            for k in 0..deliveries {
                if c.imap_wait(|l| l.ends_with(b" EXISTS\r\n")).await.is_err() {
                    return;
                }
                let _ = tx.send((k, Instant::now()));
            }
        });
        launched += 1;
    }
    while connected + failures < launched {
        match tokio::time::timeout(Duration::from_secs(60), ready_rx.recv()).await {
            Ok(Some(Ok(()))) => connected += 1,
            Ok(Some(Err(_))) => failures += 1,
            _ => bail!("IDLE clients stopped answering while connecting"),
        }
    }
    if failures > 0 && stop_reason == "all connected" {
        stop_reason = format!("{failures} connections failed");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    measure();
    let mut push_ms = Vec::new();
    let mut notified = Vec::new();
    for k in 0..deliveries {
        let t0 = Instant::now();
        deliver(k).await.context("delivery to the IDLE account")?;
        let mut got = 0;
        let mut last = t0;
        let deadline = t0 + PUSH_LIMIT;
        while got < connected {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, rx.recv()).await {
                Ok(Some((kk, at))) if kk == k => {
                    got += 1;
                    last = last.max(at);
                }
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        // A delivery that did not reach every client in time counts as the whole limit.
        let took = if got < connected {
            PUSH_LIMIT
        } else {
            last.duration_since(t0)
        };
        push_ms.push(took.as_secs_f64() * 1e3);
        notified.push(got);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    Ok(IdleResult {
        connected,
        push_ms,
        clients_notified: notified,
        stop_reason,
    })
}

/// MemAvailable of /proc/meminfo in KiB.
pub fn mem_available_kib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("MemAvailable:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::Listing;

    #[test]
    fn sort_and_thread_listings() {
        let mut l = Listing::default();
        l.add(b"* SORT 2 84 882\r\n");
        assert_eq!(
            l,
            Listing {
                uids: 3,
                threads: 0
            }
        );
        let mut l = Listing::default();
        l.add(b"* THREAD (2)(3 6 (4 23)(44 7 96))\r\n");
        assert_eq!(
            l,
            Listing {
                uids: 8,
                threads: 2
            }
        );
        let mut l = Listing::default();
        l.add(b"* THREAD\r\n");
        l.add(b"* 3 EXISTS\r\n");
        l.add(b"* SORT\r\n");
        assert_eq!(l, Listing::default());
    }
}
