//! IMAP sessions of the soak. A worker logs in to its account (several workers share one),
//! SELECTs INBOX and runs a random mix of FETCH (FLAGS, ENVELOPE, BODY.PEEK[] with a size
//! check, header fields, partial text), UID STORE, SEARCH, APPEND, STATUS, NOOP and single
//! UID EXPUNGEs, trims INBOX back to [`KEEP`] messages once it holds more than [`HIGH`], IDLEs
//! for a few seconds now and then, and logs out; then it reconnects. A watcher EXAMINEs the
//! INBOX of a POP3 account (read-only) and mostly IDLEs, seeing SMTP deliveries and POP3
//! deletions arrive.
//!
//! Every tagged answer must be OK. Untagged responses must be consistent with the session's
//! view: `* n EXPUNGE` and `* n FETCH` only for n ≤ the messages the session was told about
//! (RFC 3501 §7.4.1), no `* BYE` before LOGOUT, no line that is neither untagged nor a
//! continuation request.

use std::time::{Duration, Instant};

use super::stats::{Fail, Op, Race, Stats};
use super::{b64, Env, Mode, Res, PASSWORD};
use crate::client::{literal_len, Conn};
use crate::imap::Rng;

/// INBOX is trimmed once it holds more than this many messages...
const HIGH: usize = 40;
/// ...down to this many (the newest).
const KEEP: usize = 20;

/// One connection and the session's view of the selected mailbox.
struct Imap<'a> {
    c: Conn,
    tag: u32,
    exists: u32,
    logout: bool,
    stats: &'a Stats,
}

/// Runs IMAP iterations on `user` until the deadline; every failure is recorded and the
/// session starts over on a new connection.
pub async fn session(env: &Env, id: usize, user: String, watcher: bool) {
    let mut rng = Rng::new(env.seed(id));
    let role = if watcher { "imap watcher" } else { "imap" };
    while Instant::now() < env.deadline {
        if let Err(f) = iteration(env, &mut rng, &user, watcher).await {
            env.stats.error(id, role, f);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

async fn iteration(env: &Env, rng: &mut Rng, user: &str, watcher: bool) -> Res<()> {
    let mode = Mode::pick(rng);
    let mut s = Imap::connect(env, mode).await?;
    if rng.pick(4) == 1 {
        // RFC 4959: SASL-IR, the PLAIN response on the command line.
        let ir = b64(format!("\0{user}\0{PASSWORD}").as_bytes());
        s.run(Op::ImapLogin, &format!("AUTHENTICATE PLAIN {ir}"))
            .await?;
    } else {
        s.run(Op::ImapLogin, &format!("LOGIN \"{user}\" \"{PASSWORD}\""))
            .await?;
    }
    let verb = if watcher { "EXAMINE" } else { "SELECT" };
    s.run(Op::ImapSelect, &format!("{verb} INBOX")).await?;
    let mut uids = s.uids().await?;
    let steps = 3 + rng.pick(8);
    for _ in 0..steps {
        if Instant::now() >= env.deadline {
            break;
        }
        let choice = rng.pick(if watcher { 5 } else { 11 });
        step(env, rng, &mut s, &mut uids, choice).await?;
    }
    if !watcher && s.exists as usize > HIGH {
        // Keep INBOX bounded: flag all but the newest KEEP and expunge them.
        let all = s.uids().await?;
        let cut = all.len().saturating_sub(KEEP);
        if cut > 0 {
            s.run(
                Op::ImapStore,
                &format!(
                    "UID STORE {}:{} +FLAGS.SILENT (\\Deleted)",
                    all[0],
                    all[cut - 1]
                ),
            )
            .await?;
            s.run(Op::ImapExpunge, "EXPUNGE").await?;
        }
    }
    if watcher || rng.pick(3) == 1 {
        let secs = if watcher {
            2 + rng.pick(4)
        } else {
            rng.pick(4)
        };
        s.idle(Duration::from_secs(secs as u64)).await?;
    }
    match rng.pick(4) {
        1 => {
            s.run(Op::ImapClose, "CLOSE").await?;
        }
        2 => {
            s.run(Op::ImapClose, "UNSELECT").await?;
        }
        _ => {}
    }
    s.logout = true;
    let bye = s.run(Op::ImapLogout, "LOGOUT").await?;
    if !bye.iter().any(|r| r.starts_with("* BYE")) {
        return Err(Fail::new(
            "LOGOUT",
            "tagged OK without * BYE (RFC 3501 §6.1.3)",
        ));
    }
    Ok(())
}

/// One random operation on the selected INBOX.
async fn step(
    env: &Env,
    rng: &mut Rng,
    s: &mut Imap<'_>,
    uids: &mut Vec<u32>,
    choice: usize,
) -> Res<()> {
    let any_uid = |rng: &mut Rng| (!uids.is_empty()).then(|| uids[rng.pick(uids.len()) - 1]);
    match choice {
        1 => {
            if s.exists > 0 {
                s.run(Op::ImapFetch, "FETCH 1:* (FLAGS)").await?;
            } else {
                s.run(Op::ImapNoop, "NOOP").await?;
            }
        }
        2 => {
            let (lo, hi) = match (any_uid(rng), any_uid(rng)) {
                (Some(a), Some(b)) => (a.min(b), a.max(b)),
                _ => (1, 1),
            };
            s.run(
                Op::ImapFetch,
                &format!("UID FETCH {lo}:{hi} (UID FLAGS ENVELOPE RFC822.SIZE INTERNALDATE)"),
            )
            .await?;
        }
        3 => {
            if let Some(uid) = any_uid(rng) {
                let cmd = format!("UID FETCH {uid} (RFC822.SIZE BODY.PEEK[])");
                let got = s.run(Op::ImapFetch, &cmd).await?;
                // Unsolicited FETCH responses (flag changes by other sessions, RFC 3501
                // §7.4.2) may come along; the one asked for carries BODY[].
                let fetches: Vec<&String> = got
                    .iter()
                    .filter(|r| is_fetch(r) && r.contains("BODY[]"))
                    .collect();
                if fetches.is_empty() {
                    // Expunged by another session of the account since our UID SEARCH.
                    s.stats.race(Race::ImapGone);
                }
                for f in fetches {
                    check_body_size(&cmd, f)?;
                }
            }
        }
        4 => {
            let key = match rng.pick(4) {
                1 => "UNSEEN",
                2 => "LARGER 50000",
                3 => "SUBJECT \"soak\"",
                _ => "SINCE 1-Jan-2020 NOT DELETED",
            };
            let cmd = format!("UID SEARCH {key}");
            s.run(Op::ImapSearch, &cmd).await?;
        }
        5 => {
            if rng.pick(2) == 1 {
                s.run(Op::ImapNoop, "NOOP").await?;
            } else {
                s.run(
                    Op::ImapStatus,
                    "STATUS INBOX (MESSAGES UNSEEN UIDNEXT UIDVALIDITY)",
                )
                .await?;
            }
        }
        6 | 7 => {
            if let Some(uid) = any_uid(rng) {
                let flag = if choice == 6 { "\\Seen" } else { "\\Flagged" };
                let sign = if rng.pick(3) == 1 { '-' } else { '+' };
                s.run(
                    Op::ImapStore,
                    &format!("UID STORE {uid} {sign}FLAGS ({flag})"),
                )
                .await?;
            }
        }
        8 => {
            if s.exists > 0 {
                let hi = s.exists;
                let lo = hi.saturating_sub(4).max(1);
                s.run(
                    Op::ImapFetch,
                    &format!(
                        "FETCH {lo}:{hi} (UID BODY.PEEK[HEADER.FIELDS (FROM SUBJECT DATE)] BODY.PEEK[TEXT]<0.200>)"
                    ),
                )
                .await?;
            }
        }
        9 | 10 => {
            let msg = env.small_message(rng);
            if let Some(uid) = s.append(msg, rng.pick(2) == 1).await? {
                uids.push(uid);
            }
        }
        _ => {
            if let Some(uid) = any_uid(rng) {
                // RFC 4315 §2.1: UID EXPUNGE removes only this message.
                s.run(
                    Op::ImapStore,
                    &format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"),
                )
                .await?;
                s.run(Op::ImapExpunge, &format!("UID EXPUNGE {uid}"))
                    .await?;
                uids.retain(|&u| u != uid);
            }
        }
    }
    Ok(())
}

fn is_fetch(r: &str) -> bool {
    r.split(' ').nth(2) == Some("FETCH")
}

/// `* n FETCH (... RFC822.SIZE s ... BODY[] {m} ...)`: the literal must be exactly the size.
fn check_body_size(cmd: &str, r: &str) -> Res<()> {
    let num_after = |key: &str| -> Option<u64> {
        let i = r.find(key)? + key.len();
        let digits: String = r[i..].chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    match (num_after("RFC822.SIZE "), num_after("BODY[] {")) {
        (Some(size), Some(lit)) if size == lit => Ok(()),
        (size, lit) => Err(Fail::new(
            cmd,
            format!("RFC822.SIZE {size:?} but BODY[] literal of {lit:?} octets: {r}"),
        )),
    }
}

impl<'a> Imap<'a> {
    async fn connect(env: &'a Env, mode: Mode) -> Res<Imap<'a>> {
        let c = match mode {
            Mode::Implicit => Conn::connect_tls(env.ports.imaps, &env.tls).await,
            _ => Conn::connect(env.ports.imap).await,
        }
        .map_err(|e| Fail::io("connect", e))?;
        let mut s = Imap {
            c,
            tag: 0,
            exists: 0,
            logout: false,
            stats: &env.stats,
        };
        let greeting = s.read("<greeting>").await?;
        if !greeting.starts_with("* OK") {
            return Err(Fail::new("<greeting>", greeting));
        }
        s.stats.op(Op::ImapConnect);
        if mode == Mode::StartTls {
            s.run(Op::ImapStarttls, "STARTTLS").await?;
            let Imap { c, tag, stats, .. } = s;
            let c = c
                .starttls(&env.tls)
                .await
                .map_err(|e| Fail::io("STARTTLS handshake", e))?;
            s = Imap {
                c,
                tag,
                exists: 0,
                logout: false,
                stats,
            };
        }
        Ok(s)
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("s{}", self.tag)
    }

    /// One response with its literals (skipped, the `{n}` marker kept in the text).
    async fn read(&mut self, cmd: &str) -> Res<String> {
        let mut text = String::new();
        loop {
            let line = self.c.line().await.map_err(|e| Fail::io(cmd, e))?;
            let lit = literal_len(line);
            text.push_str(String::from_utf8_lossy(line).trim_end_matches(['\r', '\n']));
            match lit {
                Some(n) => self.c.skip(n).await.map_err(|e| Fail::io(cmd, e))?,
                None => return Ok(text),
            }
        }
    }

    /// Sends `tag cmd` and reads through its tagged answer, which must be OK; returns the
    /// untagged responses.
    async fn run(&mut self, op: Op, cmd: &str) -> Res<Vec<String>> {
        let tag = self.next_tag();
        let line = format!("{tag} {cmd}");
        self.c
            .send(format!("{line}\r\n").as_bytes())
            .await
            .map_err(|e| Fail::io(&line, e))?;
        let out = self.until(&tag, &line).await?;
        self.stats.op(op);
        Ok(out)
    }

    async fn until(&mut self, tag: &str, line: &str) -> Res<Vec<String>> {
        let mut out = Vec::new();
        loop {
            let r = self.read(line).await?;
            if let Some(rest) = r.strip_prefix(tag).and_then(|x| x.strip_prefix(' ')) {
                if rest.starts_with("OK") {
                    return Ok(out);
                }
                return Err(Fail::new(line, r));
            }
            self.untagged(line, &r)?;
            out.push(r);
        }
    }

    /// Checks an untagged response against the session's view and applies EXISTS/EXPUNGE.
    fn untagged(&mut self, line: &str, r: &str) -> Res<()> {
        let Some(rest) = r.strip_prefix("* ") else {
            return Err(Fail::new(line, format!("unexpected line: {r}")));
        };
        if rest.starts_with("BYE") && !self.logout {
            return Err(Fail::new(line, r));
        }
        let mut w = rest.splitn(3, ' ');
        if let (Some(n), Some(kind)) = (w.next(), w.next()) {
            if let Ok(n) = n.parse::<u32>() {
                match kind {
                    "EXISTS" => self.exists = n,
                    "EXPUNGE" | "FETCH" if n == 0 || n > self.exists => {
                        return Err(Fail::new(
                            line,
                            format!("{r} (the session knows {} messages)", self.exists),
                        ))
                    }
                    "EXPUNGE" => self.exists -= 1,
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// Every UID of the selected mailbox (UID SEARCH ALL).
    async fn uids(&mut self) -> Res<Vec<u32>> {
        let got = self.run(Op::ImapSearch, "UID SEARCH ALL").await?;
        let mut uids: Vec<u32> = got
            .iter()
            .filter_map(|r| r.strip_prefix("* SEARCH"))
            .flat_map(|r| r.split_whitespace().filter_map(|u| u.parse().ok()))
            .collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// APPEND to INBOX with a synchronizing literal (waiting for `+`) or LITERAL+ (RFC 7888);
    /// returns the new UID from APPENDUID (RFC 4315 §3) when given.
    async fn append(&mut self, msg: &[u8], sync: bool) -> Res<Option<u32>> {
        let tag = self.next_tag();
        let plus = if sync { "" } else { "+" };
        let line = format!("{tag} APPEND INBOX (\\Seen) {{{}{plus}}}", msg.len());
        let io = |e| Fail::io(&line, e);
        if sync {
            self.c
                .send(format!("{line}\r\n").as_bytes())
                .await
                .map_err(io)?;
            loop {
                let r = self.read(&line).await?;
                if r.starts_with('+') {
                    break;
                }
                if r.starts_with(&format!("{tag} ")) {
                    return Err(Fail::new(&line, r));
                }
                self.untagged(&line, &r)?;
            }
        } else {
            self.c
                .queue(format!("{line}\r\n").as_bytes())
                .await
                .map_err(io)?;
        }
        self.c.queue(msg).await.map_err(io)?;
        self.c.send(b"\r\n").await.map_err(io)?;
        // The tagged line is not returned by `until`; read it back from the last response.
        let mut uid = None;
        loop {
            let r = self.read(&line).await?;
            if let Some(rest) = r.strip_prefix(&tag).and_then(|x| x.strip_prefix(' ')) {
                if !rest.starts_with("OK") {
                    return Err(Fail::new(&line, r));
                }
                if let Some(i) = rest.find("[APPENDUID ") {
                    uid = rest[i + 11..]
                        .split([' ', ']'])
                        .nth(1)
                        .and_then(|u| u.parse().ok());
                }
                break;
            }
            self.untagged(&line, &r)?;
        }
        self.stats.op(Op::ImapAppend);
        Ok(uid)
    }

    /// IDLE for `dur` (RFC 2177), accepting any untagged update, then DONE.
    async fn idle(&mut self, dur: Duration) -> Res<()> {
        let tag = self.next_tag();
        let line = format!("{tag} IDLE");
        self.c
            .send(format!("{line}\r\n").as_bytes())
            .await
            .map_err(|e| Fail::io(&line, e))?;
        loop {
            let r = self.read(&line).await?;
            if r.starts_with('+') {
                break;
            }
            if r.starts_with(&format!("{tag} ")) {
                return Err(Fail::new(&line, r));
            }
            self.untagged(&line, &r)?;
        }
        let end = Instant::now() + dur;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match self.c.wait_readable(left).await {
                Ok(false) => break,
                Ok(true) => {
                    let r = self.read("(idling)").await?;
                    self.untagged("(idling)", &r)?;
                }
                Err(e) => return Err(Fail::io("(idling)", e)),
            }
        }
        self.c
            .send(b"DONE\r\n")
            .await
            .map_err(|e| Fail::io("DONE", e))?;
        self.until(&tag, &format!("{line} … DONE")).await?;
        self.stats.op(Op::ImapIdle);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{check_body_size, is_fetch};

    #[test]
    fn body_size_check() {
        assert!(check_body_size("c", "* 3 FETCH (UID 9 RFC822.SIZE 12 BODY[] {12})").is_ok());
        assert!(check_body_size("c", "* 3 FETCH (UID 9 RFC822.SIZE 12 BODY[] {11})").is_err());
        assert!(check_body_size("c", "* 3 FETCH (UID 9 BODY[] {12} RFC822.SIZE 12)").is_ok());
        assert!(is_fetch("* 3 FETCH (FLAGS ())"));
        assert!(!is_fetch("* SEARCH 1 2"));
    }
}
