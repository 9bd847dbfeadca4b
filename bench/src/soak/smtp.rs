//! SMTP sessions of the soak: each iteration is one connection that sends one to four
//! messages (1 KiB–200 KiB) to one to three local recipients (the IMAP and POP3 accounts) and
//! QUITs. A fifth of the connections are inbound (port 25 role, no AUTH, remote sender); the
//! rest are submission with AUTH PLAIN or LOGIN (RFC 4954) as the sender's own account, over
//! STARTTLS, implicit TLS (RFC 8314) or plain loopback. Messages go by DATA or BDAT (RFC
//! 3030), the envelope sometimes pipelined (RFC 2920); NOOP and RSET in between. Every reply
//! must have the expected code.

use std::time::{Duration, Instant};

use super::stats::{Fail, Op};
use super::{b64, Env, Mode, Res, DOMAIN, PASSWORD};
use crate::client::Conn;
use crate::imap::Rng;

pub async fn session(env: &Env, id: usize, sender: String) {
    let mut rng = Rng::new(env.seed(id));
    while Instant::now() < env.deadline {
        if let Err(f) = iteration(env, &mut rng, &sender).await {
            env.stats.error(id, "smtp", f);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Reads one reply (all lines of a multi-line one, RFC 5321 §4.2.1); returns its code and
/// text.
async fn reply(c: &mut Conn, label: &str) -> Res<(u16, String)> {
    let mut text = String::new();
    loop {
        let line = c.line().await.map_err(|e| Fail::io(label, e))?;
        let l = String::from_utf8_lossy(line).trim_end().to_string();
        let code = l
            .get(..3)
            .and_then(|d| d.parse::<u16>().ok())
            .filter(|_| matches!(l.as_bytes().get(3), None | Some(b' ' | b'-')))
            .ok_or_else(|| Fail::new(label, format!("malformed reply line {l:?}")))?;
        let more = l.as_bytes().get(3) == Some(&b'-');
        if !text.is_empty() {
            text.push_str(" / ");
        }
        text.push_str(&l);
        if !more {
            return Ok((code, text));
        }
    }
}

/// Reads a reply that must carry `want`.
async fn expect(c: &mut Conn, label: &str, want: u16) -> Res<String> {
    let (code, text) = reply(c, label).await?;
    if code != want {
        return Err(Fail::new(label, text));
    }
    Ok(text)
}

/// Sends a command line and expects `want`.
async fn cmd(c: &mut Conn, label: &str, line: &str, want: u16) -> Res<String> {
    c.send(format!("{line}\r\n").as_bytes())
        .await
        .map_err(|e| Fail::io(label, e))?;
    expect(c, label, want).await
}

async fn iteration(env: &Env, rng: &mut Rng, sender: &str) -> Res<()> {
    let inbound = rng.pick(5) == 1;
    let mode = if inbound {
        if rng.pick(2) == 1 {
            Mode::StartTls
        } else {
            Mode::Plain
        }
    } else {
        Mode::pick(rng)
    };
    let mut c = match (inbound, mode) {
        (true, _) => Conn::connect(env.ports.smtp).await,
        (false, Mode::Implicit) => Conn::connect_tls(env.ports.submissions, &env.tls).await,
        (false, _) => Conn::connect(env.ports.submission).await,
    }
    .map_err(|e| Fail::io("connect", e))?;
    expect(&mut c, "<greeting>", 220).await?;
    env.stats.op(Op::SmtpConnect);
    let mut ehlo = cmd(&mut c, "EHLO", "EHLO soak.test", 250).await?;
    env.stats.op(Op::SmtpEhlo);
    if mode == Mode::StartTls {
        cmd(&mut c, "STARTTLS", "STARTTLS", 220).await?;
        c = c
            .starttls(&env.tls)
            .await
            .map_err(|e| Fail::io("STARTTLS handshake", e))?;
        env.stats.op(Op::SmtpStarttls);
        // RFC 3207 §4.2: the client must EHLO again; the capabilities may differ.
        ehlo = cmd(&mut c, "EHLO", "EHLO soak.test", 250).await?;
        env.stats.op(Op::SmtpEhlo);
    }
    for ext in ["PIPELINING", "CHUNKING"] {
        if !ehlo.contains(ext) {
            return Err(Fail::new("EHLO", format!("{ext} not advertised: {ehlo}")));
        }
    }
    let from = if inbound {
        "soak-sender@remote.test".to_string()
    } else {
        let address = format!("{sender}@{DOMAIN}");
        if rng.pick(3) == 1 {
            cmd(&mut c, "AUTH LOGIN", "AUTH LOGIN", 334).await?;
            cmd(&mut c, "AUTH LOGIN <user>", &b64(address.as_bytes()), 334).await?;
            cmd(
                &mut c,
                "AUTH LOGIN <password>",
                &b64(PASSWORD.as_bytes()),
                235,
            )
            .await?;
        } else {
            let ir = b64(format!("\0{address}\0{PASSWORD}").as_bytes());
            cmd(
                &mut c,
                "AUTH PLAIN <redacted>",
                &format!("AUTH PLAIN {ir}"),
                235,
            )
            .await?;
        }
        env.stats.op(Op::SmtpAuth);
        address
    };
    for _ in 0..rng.pick(4) {
        if Instant::now() >= env.deadline {
            break;
        }
        if rng.pick(8) == 1 {
            cmd(&mut c, "NOOP", "NOOP", 250).await?;
            env.stats.op(Op::SmtpNoop);
        }
        let mut rcpts: Vec<&str> = Vec::new();
        for _ in 0..rng.pick(3) {
            let r = env.recipient(rng);
            if !rcpts.contains(&r) {
                rcpts.push(r);
            }
        }
        let msg = env.message(rng);
        let mail = format!("MAIL FROM:<{from}> SIZE={}", msg.len());
        if rng.pick(3) == 1 {
            // RFC 2920 §3.1: MAIL and RCPTs in one group, the replies read in order.
            let mut group = format!("{mail}\r\n");
            for r in &rcpts {
                group.push_str(&format!("RCPT TO:<{r}@{DOMAIN}>\r\n"));
            }
            c.send(group.as_bytes())
                .await
                .map_err(|e| Fail::io("MAIL (pipelined)", e))?;
            expect(&mut c, &mail, 250).await?;
            env.stats.op(Op::SmtpMail);
            for r in &rcpts {
                expect(&mut c, &format!("RCPT TO:<{r}@{DOMAIN}> (pipelined)"), 250).await?;
                env.stats.op(Op::SmtpRcpt);
            }
        } else {
            cmd(&mut c, &mail, &mail, 250).await?;
            env.stats.op(Op::SmtpMail);
            for r in &rcpts {
                let line = format!("RCPT TO:<{r}@{DOMAIN}>");
                cmd(&mut c, &line, &line, 250).await?;
                env.stats.op(Op::SmtpRcpt);
            }
        }
        if rng.pick(10) == 1 {
            // Abandon this transaction.
            cmd(&mut c, "RSET", "RSET", 250).await?;
            env.stats.op(Op::SmtpRset);
            continue;
        }
        if rng.pick(5) == 1 {
            // RFC 3030 §2: BDAT in one or two chunks, each acknowledged.
            let cut = if rng.pick(2) == 1 { msg.len() / 2 } else { 0 };
            let io = |e| Fail::io("BDAT", e);
            if cut > 0 {
                let label = format!("BDAT {cut}");
                c.queue(format!("{label}\r\n").as_bytes())
                    .await
                    .map_err(io)?;
                c.send(&msg[..cut]).await.map_err(io)?;
                expect(&mut c, &label, 250).await?;
            }
            let label = format!("BDAT {} LAST", msg.len() - cut);
            c.queue(format!("{label}\r\n").as_bytes())
                .await
                .map_err(io)?;
            c.send(&msg[cut..]).await.map_err(io)?;
            expect(&mut c, &label, 250).await?;
            env.stats.op(Op::SmtpBdat);
        } else {
            cmd(&mut c, "DATA", "DATA", 354).await?;
            let io = |e| Fail::io("DATA message", e);
            c.queue(msg).await.map_err(io)?;
            c.send(b".\r\n").await.map_err(io)?;
            // RFC 5321 §4.1.1.4: 250 once the message is accepted (here: durable).
            expect(&mut c, &format!("DATA ({} octets) .", msg.len()), 250).await?;
            env.stats.op(Op::SmtpData);
        }
    }
    cmd(&mut c, "QUIT", "QUIT", 221).await?;
    env.stats.op(Op::SmtpQuit);
    Ok(())
}
