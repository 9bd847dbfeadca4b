//! POP3 sessions of the soak. Two workers share each POP3 account, so one of them regularly
//! finds the maildrop locked: `-ERR [IN-USE]` at login is the expected answer then (RFC 2449
//! §8.1.2), counted as a race, and the worker retries shortly after. Otherwise: STAT, LIST
//! (count must match STAT), sometimes UIDL (unique, one per message), RETR of a few messages
//! (the octets received, dot-unstuffed, must equal the LIST size), TOP, DELE of all but the
//! newest [`KEEP`] once there are more than [`HIGH`] plus a random one, sometimes RSET, QUIT.
//! Every other -ERR is a protocol error.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use super::stats::{Fail, Op, Race};
use super::{b64, Env, Mode, Res, PASSWORD};
use crate::client::Conn;
use crate::imap::Rng;

/// The maildrop is trimmed once it holds more than this many messages...
const HIGH: usize = 20;
/// ...down to this many.
const KEEP: usize = 8;

pub async fn session(env: &Env, id: usize, user: String) {
    let mut rng = Rng::new(env.seed(id));
    while Instant::now() < env.deadline {
        if let Err(f) = iteration(env, &mut rng, &user).await {
            env.stats.error(id, "pop3", f);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Sends a command and reads its status line, which must be +OK.
async fn cmd(c: &mut Conn, label: &str, line: &str) -> Res<String> {
    c.send(format!("{line}\r\n").as_bytes())
        .await
        .map_err(|e| Fail::io(label, e))?;
    status(c, label).await
}

async fn status(c: &mut Conn, label: &str) -> Res<String> {
    let reply = c.line().await.map_err(|e| Fail::io(label, e))?;
    let reply = String::from_utf8_lossy(reply).trim_end().to_string();
    if !reply.starts_with("+OK") {
        return Err(Fail::new(label, reply));
    }
    Ok(reply)
}

/// The lines of a multi-line answer (RFC 1939 §3), dot-unstuffed, CRLF kept.
async fn body(c: &mut Conn, label: &str) -> Res<Vec<Vec<u8>>> {
    let mut lines = Vec::new();
    loop {
        let line = c.line().await.map_err(|e| Fail::io(label, e))?;
        if line == b".\r\n" {
            return Ok(lines);
        }
        let line = line.strip_prefix(b".").unwrap_or(line);
        lines.push(line.to_vec());
    }
}

async fn iteration(env: &Env, rng: &mut Rng, user: &str) -> Res<()> {
    let mode = Mode::pick(rng);
    let mut c = match mode {
        Mode::Implicit => Conn::connect_tls(env.ports.pop3s, &env.tls).await,
        _ => Conn::connect(env.ports.pop3).await,
    }
    .map_err(|e| Fail::io("connect", e))?;
    status(&mut c, "<greeting>").await?;
    env.stats.op(Op::PopConnect);
    if mode == Mode::StartTls {
        cmd(&mut c, "STLS", "STLS").await?;
        c = c
            .starttls(&env.tls)
            .await
            .map_err(|e| Fail::io("STLS handshake", e))?;
        env.stats.op(Op::PopStls);
    }
    let login = if rng.pick(4) == 1 {
        // RFC 5034 §4: AUTH PLAIN with the initial response.
        let ir = b64(format!("\0{user}\0{PASSWORD}").as_bytes());
        cmd(&mut c, "AUTH PLAIN <redacted>", &format!("AUTH PLAIN {ir}")).await
    } else {
        cmd(&mut c, &format!("USER {user}"), &format!("USER {user}")).await?;
        cmd(&mut c, "PASS <redacted>", &format!("PASS {PASSWORD}")).await
    };
    if let Err(f) = login {
        if f.reply.starts_with("-ERR [IN-USE]") {
            env.stats.race(Race::PopInUse);
            cmd(&mut c, "QUIT", "QUIT").await?;
            env.stats.op(Op::PopQuit);
            let pause = 20 + rng.pick(200) as u64;
            tokio::time::sleep(Duration::from_millis(pause)).await;
            return Ok(());
        }
        return Err(f);
    }
    env.stats.op(Op::PopLogin);

    let stat = cmd(&mut c, "STAT", "STAT").await?;
    env.stats.op(Op::PopStat);
    let count: usize = stat
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| Fail::new("STAT", format!("unparsable: {stat}")))?;
    cmd(&mut c, "LIST", "LIST").await?;
    let list = body(&mut c, "LIST").await?;
    env.stats.op(Op::PopList);
    let mut sizes = vec![0u64; count];
    for l in &list {
        let l = String::from_utf8_lossy(l);
        let mut w = l.split_whitespace();
        match (
            w.next().and_then(|n| n.parse::<usize>().ok()),
            w.next().and_then(|s| s.parse::<u64>().ok()),
        ) {
            (Some(n), Some(size)) if (1..=count).contains(&n) => sizes[n - 1] = size,
            _ => return Err(Fail::new("LIST", format!("bad line {l:?} (STAT: {count})"))),
        }
    }
    if list.len() != count {
        return Err(Fail::new(
            "LIST",
            format!("{} lines but STAT said {count}", list.len()),
        ));
    }
    if rng.pick(2) == 1 {
        cmd(&mut c, "UIDL", "UIDL").await?;
        let uidl = body(&mut c, "UIDL").await?;
        env.stats.op(Op::PopUidl);
        let unique: HashSet<&Vec<u8>> = uidl.iter().collect();
        if uidl.len() != count || unique.len() != count {
            return Err(Fail::new(
                "UIDL",
                format!(
                    "{} lines, {} unique, STAT said {count}",
                    uidl.len(),
                    unique.len()
                ),
            ));
        }
    }
    if count > 0 {
        for _ in 0..rng.pick(3) {
            let n = rng.pick(count);
            let label = format!("RETR {n}");
            cmd(&mut c, &label, &label).await?;
            let got: usize = body(&mut c, &label).await?.iter().map(Vec::len).sum();
            env.stats.op(Op::PopRetr);
            if got as u64 != sizes[n - 1] {
                return Err(Fail::new(
                    &label,
                    format!("{got} octets, LIST said {}", sizes[n - 1]),
                ));
            }
        }
        if rng.pick(3) == 1 {
            let n = rng.pick(count);
            let label = format!("TOP {n} 3");
            cmd(&mut c, &label, &label).await?;
            body(&mut c, &label).await?;
            env.stats.op(Op::PopTop);
        }
        let mut doomed: Vec<usize> = Vec::new();
        if count > HIGH {
            doomed.extend(1..=count - KEEP);
        }
        if rng.pick(3) == 1 {
            let n = rng.pick(count);
            if !doomed.contains(&n) {
                doomed.push(n);
            }
        }
        for n in doomed {
            let label = format!("DELE {n}");
            cmd(&mut c, &label, &label).await?;
            env.stats.op(Op::PopDele);
        }
    }
    if rng.pick(10) == 1 {
        cmd(&mut c, "RSET", "RSET").await?;
        env.stats.op(Op::PopRset);
    }
    // RFC 1939 §6: the deletions are committed at QUIT; +OK only once they are durable.
    cmd(&mut c, "QUIT", "QUIT").await?;
    env.stats.op(Op::PopQuit);
    Ok(())
}
