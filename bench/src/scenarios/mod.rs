//! The scenarios: the seven of issue 8 / docs/spec.md §9, churn (8) and COMPRESS=DEFLATE's
//! bytes on the wire (9, issue "Protocol breadth"). Each returns table rows (mailstack, peer,
//! advantage) plus notes on how it was measured; a failing scenario becomes a row that says
//! so and the run goes on.

mod churn;
mod compress;
mod ingest;
mod servers;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::corpus::{self, Mailbox, DOMAIN};
use crate::peers::{self, Mailstack, Servers};
use crate::report::{Better, Row};
use crate::Scale;

/// What a run produced.
pub struct RunOutput {
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
    pub postfix_version: String,
}

/// Everything the scenarios need.
struct Ctx<'a> {
    s: &'a Servers,
    scale: &'a Scale,
    tls: tokio_rustls::TlsConnector,
    smtp_users: Vec<String>,
    mix_users: Vec<String>,
    mix_msgs: usize,
    rows: Vec<Row>,
    notes: Vec<String>,
    /// mailstack's data folder (row 8 measures it).
    data_dir: std::path::PathBuf,
}

impl Ctx<'_> {
    /// The store's live bytes: the sum of every account's usage, from the admin API.
    async fn live_bytes(&self) -> anyhow::Result<u64> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.s.mailstack.port("http")?));
        let api = web::client::AdminClient::new(addr, peers::ADMIN_TOKEN);
        let (status, body) = api.call("GET", "/api/accounts", None).await?;
        anyhow::ensure!(status == 200, "GET /api/accounts: {status} {body}");
        Ok(body
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["used_bytes"].as_u64()).sum())
            .unwrap_or(0))
    }
}

fn row(
    scenario: &str,
    metric: &str,
    m: Option<f64>,
    p: Option<f64>,
    peer: &str,
    better: Better,
) -> Row {
    Row {
        scenario: scenario.into(),
        metric: metric.into(),
        mailstack: m,
        peer: p,
        peer_name: peer.into(),
        better,
        target: None,
        note: String::new(),
        peer_capped: false,
    }
}

fn target(mut r: Row, t: f64) -> Row {
    r.target = Some(t);
    r
}

fn note(mut r: Row, n: impl Into<String>) -> Row {
    r.note = n.into();
    r
}

/// Lines of each server's log quoted in the results when a row fails.
const LOG_TAIL: usize = 8;

/// A message fit for one table cell or note line.
fn one_line(s: &str) -> String {
    s.replace('|', "/").replace('\n', " ")
}

fn say(msg: &str) {
    eprintln!("bench: {msg}");
}

pub async fn run_all(
    bin: &Path,
    scripts: &Path,
    work: &Path,
    scale: &Scale,
    only: Option<&[u32]>,
) -> anyhow::Result<RunOutput> {
    let smtp_users: Vec<String> = (1..=16).map(|i| format!("rcpt{i:02}")).collect();
    let mix_users: Vec<String> = (1..=scale.mix_users).map(|i| format!("u{i:03}")).collect();
    let mut boxes: Vec<Mailbox> = mix_users
        .iter()
        .enumerate()
        .map(|(i, u)| Mailbox {
            user: u.clone(),
            count: scale.mix_msgs,
            size: 4096 + (i % 4) * 4096,
            unseen_every: 5,
            needle_every: 0,
            multipart_every: 3,
            threads: false,
        })
        .collect();
    let mb = |user: &str, count, size, unseen_every, needle_every| Mailbox {
        user: user.into(),
        count,
        size,
        unseen_every,
        needle_every,
        multipart_every: 0,
        threads: false,
    };
    // The large mailbox has threads for row 4's SORT and THREAD.
    boxes.push(Mailbox {
        threads: true,
        ..mb("large", scale.large, 1200, 10, 100)
    });
    boxes.push(mb("pop", scale.pop_count, scale.pop_size, 0, 0));
    boxes.push(mb("idle", 5, 2048, 0, 0));
    boxes.push(Mailbox {
        multipart_every: 3,
        threads: true,
        ..mb(compress::USER, scale.sync_count, 6 * 1024, 5, 0)
    });
    let mut users: Vec<String> = smtp_users.clone();
    users.extend(mix_users.iter().cloned());
    users.extend(["large", "pop", "idle", "storm", churn::USER, compress::USER].map(String::from));

    let mut notes = Vec::new();
    let config =
        peers::write_mailstack_config(work, scale.argon2_memory_kib, scale.argon2_iterations)?;
    peers::run(Command::new(bin).arg("--config").arg(&config).arg("certs"))?;
    say(&format!(
        "loading mailstack's store ({} accounts, {} messages)…",
        users.len(),
        boxes.iter().map(|b| b.count).sum::<usize>()
    ));
    let t = Instant::now();
    let mut hashes = corpus::load_mailstack(
        &work.join("data"),
        scale.argon2_memory_kib,
        scale.argon2_iterations,
        &users,
        &boxes,
    )
    .await?;
    let load_ms = t.elapsed().as_secs_f64();
    say("writing Dovecot's Maildirs…");
    let t = Instant::now();
    let dovecot_dir = work.join("dovecot");
    std::fs::create_dir_all(&dovecot_dir)?;
    let idle_addr = format!("idle@{DOMAIN}");
    for (a, h) in &mut hashes {
        if *a == idle_addr {
            *h = corpus::cheap_phc(corpus::PASSWORD)?;
        }
    }
    corpus::write_dovecot_users(&dovecot_dir.join("users"), &hashes)?;
    corpus::write_maildirs(&dovecot_dir.join("mail"), &users, &boxes)?;
    peers::run(
        Command::new("chown")
            .args(["-R", "nobody:nogroup"])
            .arg(dovecot_dir.join("mail")),
    )?;
    notes.push(format!(
        "Setup (not timed): mailstack's store loaded through the store crate in {load_ms:.0} s \
         (argon2id hashing of {} accounts included); Dovecot's Maildir files written in {:.0} s.",
        users.len(),
        t.elapsed().as_secs_f64()
    ));

    let ms = Mailstack::start(bin, &config)?;
    let servers = Servers::start(ms, scripts, work, &work.join("certs"), &smtp_users)?;
    let postfix_version = peers::run(
        Command::new("postconf")
            .arg("-c")
            .arg(servers.postfix_dir.join("etc"))
            .args(["-h", "mail_version"]),
    )
    .map(|s| s.trim().to_string())
    .unwrap_or_else(|_| "unknown".into());
    let mut ctx = Ctx {
        s: &servers,
        scale,
        tls: crate::client::connector(&work.join("certs/ca.crt"))?,
        smtp_users,
        mix_users,
        mix_msgs: scale.mix_msgs,
        rows: Vec::new(),
        notes,
        data_dir: work.join("data"),
    };
    let want = |n: u32| only.is_none_or(|o| o.contains(&n));
    type Step = for<'b, 'c> fn(
        &'b mut Ctx<'c>,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = anyhow::Result<()>> + 'b>,
    >;
    let steps: [(u32, &str, Step); 9] = [
        (1, "SMTP ingest", |c| Box::pin(ingest::smtp_ingest(c))),
        (2, "IMAP caching-client mix", |c| {
            Box::pin(ingest::caching_mix(c))
        }),
        (3, "IMAP non-caching mix", |c| {
            Box::pin(ingest::webmail_mix(c))
        }),
        (4, "large mailbox", |c| Box::pin(servers::large_mailbox(c))),
        (5, "IDLE scale", |c| Box::pin(servers::idle_scale(c))),
        (6, "POP3 download", |c| Box::pin(servers::pop3_download(c))),
        (7, "login storm", |c| Box::pin(servers::login_storm(c))),
        (8, "churn", |c| Box::pin(churn::churn(c))),
        (9, "COMPRESS=DEFLATE", |c| {
            Box::pin(compress::compress_sync(c))
        }),
    ];
    for (n, name, step) in steps {
        if !want(n) {
            continue;
        }
        say(&format!("[{n}] {name}…"));
        let t = Instant::now();
        // A row that fails is run once more before it is given up (a peer's transient
        // failure, e.g. Dovecot's `-ERR [SYS/TEMP]` at PASS, should not lose the row).
        let mut outcome = step(&mut ctx).await;
        if let Err(e) = &outcome {
            say(&format!("[{n}] {name} failed ({e:#}); retrying once"));
            ctx.notes.push(format!(
                "Row {n} ({name}) failed once and was run again: {}. {}",
                one_line(&format!("{e:#}")),
                servers.log_tails(LOG_TAIL)
            ));
            outcome = step(&mut ctx).await;
        }
        if let Err(e) = outcome {
            say(&format!("[{n}] {name} failed: {e:#}"));
            let kept = servers.keep_logs(n);
            ctx.rows.push(note(
                row(
                    &format!("{n} {name}"),
                    "error",
                    None,
                    None,
                    "—",
                    Better::Higher,
                ),
                one_line(&format!("scenario failed twice: {e:#}")),
            ));
            ctx.notes.push(format!(
                "Row {n} ({name}) failed twice. {} Logs kept in {kept}.",
                servers.log_tails(LOG_TAIL)
            ));
        }
        say(&format!("[{n}] done in {:.0} s", t.elapsed().as_secs_f64()));
    }
    let Ctx { rows, notes, .. } = ctx;
    drop(servers);
    Ok(RunOutput {
        rows,
        notes,
        postfix_version,
    })
}
