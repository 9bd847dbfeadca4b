//! Scenario 9: IMAP COMPRESS=DEFLATE (RFC 4978) — the bytes a client receives for a typical
//! header sync of one folder, with and without compression, from mailstack and from Dovecot.

use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::ensure;

use super::{note, row, target, Ctx};
use crate::client::Conn;
use crate::corpus::{self, DOMAIN};
use crate::report::{fmt_num, median, Better};

/// The account whose INBOX is synchronised.
pub const USER: &str = "sync";

/// A caching client's first look at a folder: flags, dates, sizes and headers of every message.
const SYNC: &str = "UID FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER])";

/// One sync, as the client saw it.
#[derive(Debug, Clone, Copy)]
struct Sync {
    /// Bytes read from the TCP socket for the FETCH (compressed when COMPRESS is on).
    wire: u64,
    /// Bytes of the IMAP response the client parsed (inflated).
    stream: usize,
    ms: f64,
}

/// A new connection: LOGIN, COMPRESS DEFLATE if `compress`, SELECT INBOX, then [`SYNC`],
/// whose response alone is counted; `count` FETCH responses must come back.
async fn sync(port: u16, user: &str, compress: bool, count: usize) -> anyhow::Result<Sync> {
    let (mut c, received) = Conn::connect_counted(port).await?;
    c.line().await?;
    c.imap_ok(&format!("LOGIN \"{user}\" \"{}\"", corpus::PASSWORD))
        .await?;
    if compress {
        c = c.compress().await?;
    }
    c.imap_ok("SELECT INBOX").await?;
    let before = received.load(Ordering::Relaxed);
    let mut fetched = 0;
    let t = Instant::now();
    let tagged = c
        .imap_each_line(SYNC, |l| {
            if l.starts_with(b"* ") && l.windows(7).any(|w| w == b" FETCH ") {
                fetched += 1;
            }
        })
        .await?;
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let wire = received.load(Ordering::Relaxed) - before;
    let _ = c.imap("LOGOUT").await;
    ensure!(
        fetched == count,
        "{SYNC} gave {fetched} FETCH responses, the mailbox holds {count}"
    );
    // Without COMPRESS the socket carries exactly the stream: a check of the counter.
    ensure!(
        compress || wire == tagged.bytes as u64,
        "byte counter: {wire} on the socket, {} in the stream",
        tagged.bytes
    );
    Ok(Sync {
        wire,
        stream: tagged.bytes,
        ms,
    })
}

/// Medians of `f` over the syncs.
fn med(v: &[Sync], f: impl Fn(&Sync) -> f64) -> Option<f64> {
    median(&v.iter().map(f).collect::<Vec<_>>())
}

pub(super) async fn compress_sync(c: &mut Ctx<'_>) -> anyhow::Result<()> {
    let n = c.scale.sync_count;
    let user = format!("{USER}@{DOMAIN}");
    let ports = [c.s.mailstack.port("imap")?, c.s.peer.imap];
    // Untimed warm-up: Dovecot fills its cache with the headers, both fill the page cache.
    for port in ports {
        sync(port, &user, false, n).await?;
    }
    // [server][compress]
    let mut runs: [[Vec<Sync>; 2]; 2] = Default::default();
    for _ in 0..c.scale.reps {
        for (s, port) in ports.into_iter().enumerate() {
            for (k, compress) in [false, true].into_iter().enumerate() {
                runs[s][k].push(sync(port, &user, compress, n).await?);
            }
        }
    }
    let wire = |s: usize, k: usize| med(&runs[s][k], |x| x.wire as f64);
    let stream = |s: usize, k: usize| med(&runs[s][k], |x| x.stream as f64);
    let ms = |s: usize, k: usize| med(&runs[s][k], |x| x.ms).unwrap_or(0.0);
    let f = |x: Option<f64>| x.map(fmt_num).unwrap_or_else(|| "—".into());
    let ratio = |s: usize| match (wire(s, 0), wire(s, 1)) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "—".into(),
    };
    let scenario = format!("9 COMPRESS=DEFLATE, header sync of {n} messages");
    c.rows.push(note(
        target(
            row(
                &scenario,
                "bytes received, COMPRESS vs without",
                wire(0, 1),
                wire(0, 0),
                "mailstack without COMPRESS",
                Better::Lower,
            ),
            3.0,
        ),
        format!(
            "Dovecot: {} without, {} with COMPRESS ({})",
            f(wire(1, 0)),
            f(wire(1, 1)),
            ratio(1)
        ),
    ));
    c.rows.push(note(
        row(
            &scenario,
            "bytes received with COMPRESS",
            wire(0, 1),
            wire(1, 1),
            "Dovecot",
            Better::Lower,
        ),
        format!(
            "without COMPRESS: mailstack {}, Dovecot {}",
            f(wire(0, 0)),
            f(wire(1, 0))
        ),
    ));
    c.notes.push(format!(
        "9 COMPRESS=DEFLATE: the account `{USER}` holds {n} messages (~6 KiB, 1 in 3 multipart, 1 in \
         5 unseen, threads as in row 4). Each sync is a new connection: LOGIN, `COMPRESS DEFLATE` \
         (RFC 4978) or not, SELECT INBOX, then `{SYNC}`; only that FETCH's response is counted, as \
         the bytes read from the TCP socket under the client's own raw-DEFLATE layer \
         (bench/src/deflate.rs, flate2). One untimed plain sync per server first, then per \
         repetition mailstack plain, compressed, Dovecot plain, compressed; medians. The IMAP \
         stream the client parsed (inflated): mailstack {} / {} bytes, Dovecot {} / {} (plain / \
         compressed session). Both compress at zlib level 6 (flate2's default; Dovecot's \
         imap_zlib plugin, loaded for the whole run, imap_zlib_compress_level default). Sync time \
         (ms, plain / compressed, loopback, so compression only costs): mailstack {:.0} / {:.0}, \
         Dovecot {:.0} / {:.0}. The corpus's headers are short and alike (no Received, \
         DKIM-Signature or list headers), so real mail compresses less than this.",
        f(stream(0, 0)),
        f(stream(0, 1)),
        f(stream(1, 0)),
        f(stream(1, 1)),
        ms(0, 0),
        ms(0, 1),
        ms(1, 0),
        ms(1, 1),
    ));
    Ok(())
}
