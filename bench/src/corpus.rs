//! The benchmark's mail: deterministic RFC 5322 messages, the accounts of each scenario, and
//! the two ways they are loaded before the servers start — mailstack's store through the
//! `store`/`auth` crates (what `mailstack user add` and `mailstack deliver` do, without a
//! process per message), Dovecot's Maildir as files written directly (what an MDA does).
//!
//! Both servers get the same bytes, the same flags and the same argon2id PHC strings: the
//! Dovecot passwd-file carries mailstack's own hashes under `{ARGON2ID}`, so a login costs the
//! same on both sides.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use anyhow::Context;
use auth::{Auth, AuthConfig, Secret};
use store::{AppendRequest, Flags, Store};

/// Domain of every benchmark account.
pub const DOMAIN: &str = "example.test";
/// The one password of every benchmark account (policy: ≥12 characters, not the address).
pub const PASSWORD: &str = "bench-Password-2026";
/// Subject word that 1 in 100 messages of the large mailbox carries (SEARCH SUBJECT).
pub const NEEDLE: &str = "xylophone";

/// A mailbox to load: account local part, message count, sizes, seen ratio.
#[derive(Debug, Clone)]
pub struct Mailbox {
    pub user: String,
    pub count: usize,
    /// Message size in bytes (approximate: headers + body lines).
    pub size: usize,
    /// Every n-th message is unseen (0: all seen).
    pub unseen_every: usize,
    /// Every n-th message carries [`NEEDLE`] in its Subject (0: none).
    pub needle_every: usize,
    /// Every n-th message is multipart/mixed with a small attachment (0: none).
    pub multipart_every: usize,
    /// Messages come in blocks of [`THREAD_BLOCK`]: a thread of three (a root, a reply to it, a
    /// reply to that reply, with `Re:` subjects, In-Reply-To and References) and one message on
    /// its own, so SORT (SUBJECT) and THREAD have work to do. `false`: every message stands alone.
    pub threads: bool,
}

/// Block of messages in a mailbox with [`Mailbox::threads`]: positions 0, 1, 2 form one thread,
/// position 3 stands alone (so 1 in 2 messages is a reply and a mailbox of n messages holds
/// n / 2 threads).
pub const THREAD_BLOCK: usize = 4;

/// Threads (RFC 5256 REFERENCES and ORDEREDSUBJECT alike) in a mailbox of `n` messages with
/// [`Mailbox::threads`]: two per full block, one for a partial block.
pub fn thread_count(n: usize) -> usize {
    2 * (n / THREAD_BLOCK) + usize::from(!n.is_multiple_of(THREAD_BLOCK))
}

impl Mailbox {
    pub fn message(&self, i: usize) -> Vec<u8> {
        let multipart = self.multipart_every > 0 && i % self.multipart_every == 1;
        let pos = i % THREAD_BLOCK;
        if !self.threads || pos == 0 || pos == 3 {
            return message(i, &self.user, &self.subject(i), self.size, multipart);
        }
        // A reply: to the root (position 1) or to the first reply (position 2).
        let root = i - pos;
        let id = |n: usize| format!("<{n}.{}@bench.test>", self.user);
        let refs: Vec<String> = (root..i).map(id).collect();
        let extra = format!(
            "In-Reply-To: {}\r\nReferences: {}\r\n",
            id(i - 1),
            refs.join(" ")
        );
        let subject = format!("Re: {}", self.subject(root));
        message_with(i, &self.user, &subject, &extra, self.size, multipart)
    }

    /// The subject of a message that is not a reply.
    fn subject(&self, i: usize) -> String {
        if self.needle_every > 0 && i % self.needle_every == 7 {
            format!("Quarterly {NEEDLE} report {i}")
        } else {
            format!("Status update number {i}")
        }
    }

    pub fn seen(&self, i: usize) -> bool {
        !(self.unseen_every > 0 && i.is_multiple_of(self.unseen_every))
    }
}

/// One message of about `size` bytes with CRLF line ends and no line starting with ".".
pub fn message(i: usize, user: &str, subject: &str, size: usize, multipart: bool) -> Vec<u8> {
    message_with(i, user, subject, "", size, multipart)
}

/// [`message`] with `extra` header lines (each ending in CRLF) after the Message-ID.
pub fn message_with(
    i: usize,
    user: &str,
    subject: &str,
    extra: &str,
    size: usize,
    multipart: bool,
) -> Vec<u8> {
    let mut m = String::with_capacity(size + 512);
    let day = 1 + i % 28;
    let _ = write!(
        m,
        "From: Sender {n} <sender{n}@remote.test>\r\nTo: {user}@{DOMAIN}\r\n\
         Subject: {subject}\r\nDate: Mon, {day} Jun 2025 10:{mm:02}:{ss:02} +0000\r\n\
         Message-ID: <{i}.{user}@bench.test>\r\n{extra}MIME-Version: 1.0\r\n",
        n = i % 97,
        mm = i % 60,
        ss = (i / 60) % 60,
    );
    let boundary = "=-=bench-boundary=-=";
    if multipart {
        let _ = write!(
            m,
            "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n"
        );
    } else {
        m.push_str("Content-Type: text/plain; charset=utf-8\r\n\r\n");
    }
    let words = [
        "mail",
        "server",
        "benchmark",
        "delivery",
        "message",
        "folder",
        "quota",
        "network",
        "loopback",
        "storage",
        "latency",
        "throughput",
        "client",
        "session",
        "mailbox",
    ];
    let body_target = if multipart { size * 2 / 3 } else { size };
    let mut k = i;
    while m.len() + 2 < body_target {
        let mut line = String::with_capacity(80);
        while line.len() < 70 {
            k = k
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            line.push_str(words[(k >> 33) % words.len()]);
            line.push(' ');
        }
        m.push_str(line.trim_end());
        m.push_str("\r\n");
    }
    if multipart {
        let _ = write!(
            m,
            "--{boundary}\r\nContent-Type: application/octet-stream; name=\"data{i}.bin\"\r\n\
             Content-Disposition: attachment; filename=\"data{i}.bin\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n"
        );
        while m.len() + 2 < size + 200 {
            m.push_str(
                "QmVuY2htYXJrIGF0dGFjaG1lbnQgZGF0YSAwMTIzNDU2Nzg5QUJDREVGR0hJSktMTU5PUFFS\r\n",
            );
        }
        let _ = write!(m, "--{boundary}--\r\n");
    }
    m.into_bytes()
}

/// Creates `users` in mailstack's store (argon2id with `memory_kib`/`iterations`) and loads
/// every mailbox; returns (address, PHC hash) for each account, for Dovecot's passwd-file.
pub async fn load_mailstack(
    data_dir: &Path,
    memory_kib: u32,
    iterations: u32,
    users: &[String],
    boxes: &[Mailbox],
) -> anyhow::Result<Vec<(String, String)>> {
    let store = Store::open(data_dir).context("open mailstack store")?;
    store.set_domains(&[DOMAIN.to_string()]).await?;
    let auth = Auth::new(
        store.clone(),
        AuthConfig {
            argon2_memory_kib: memory_kib,
            argon2_iterations: iterations,
            ..AuthConfig::default()
        },
    )?;
    // Two hashes at a time: both cores, bounded memory (argon2 memory per hash).
    let mut hashes = Vec::new();
    for chunk in users.chunks(2) {
        let mut set = tokio::task::JoinSet::new();
        for u in chunk {
            let auth = auth.clone();
            let address = format!("{u}@{DOMAIN}");
            set.spawn(async move {
                let a = auth
                    .add_user(&address, &Secret::new(PASSWORD.to_string()), None)
                    .await;
                a.map(|a| (a.address, a.password))
            });
        }
        while let Some(r) = set.join_next().await {
            hashes.push(r??);
        }
    }
    for mb in boxes {
        let account = store
            .account(&format!("{}@{DOMAIN}", mb.user))?
            .with_context(|| format!("account {} missing", mb.user))?;
        let inbox = store
            .mailbox(account.id, "INBOX")?
            .context("INBOX missing")?;
        // Appends are durable one by one; many in flight share each fsync (group commit).
        let lanes = 128;
        let mut set = tokio::task::JoinSet::new();
        for lane in 0..lanes {
            let store = store.clone();
            let mb = mb.clone();
            let (acc, mbx) = (account.id, inbox.id);
            set.spawn(async move {
                let mut i = lane;
                while i < mb.count {
                    let bytes = mb.message(i);
                    let flags = if mb.seen(i) {
                        Flags::from_names(["\\Seen"])
                    } else {
                        Flags::default()
                    };
                    store
                        .append(
                            acc,
                            mbx,
                            AppendRequest {
                                bytes: &bytes,
                                flags,
                                internaldate: None,
                            },
                        )
                        .await?;
                    i += lanes;
                }
                Ok::<_, store::Error>(())
            });
        }
        while let Some(r) = set.join_next().await {
            r??;
        }
    }
    store.sync().await?;
    drop(auth);
    drop(store);
    Ok(hashes)
}

/// Writes Dovecot's passwd-file: `user:{ARGON2ID}<phc>::::::` per account.
pub fn write_dovecot_users(path: &Path, hashes: &[(String, String)]) -> anyhow::Result<()> {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for (address, phc) in hashes {
        writeln!(f, "{address}:{{ARGON2ID}}{phc}::::::")?;
    }
    f.flush()?;
    Ok(())
}

/// A cheap argon2id PHC string (m = 8 KiB, t = 1): only the IDLE-scale account uses it on
/// Dovecot, whose 10,000 logins would otherwise take minutes of argon2 (mailstack's
/// credential cache hashes that account once).
pub fn cheap_phc(password: &str) -> anyhow::Result<String> {
    use argon2::password_hash::PasswordHasher;
    let params = argon2::Params::new(8, 1, 1, None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let h = a
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    Ok(h.to_string())
}

/// Writes every mailbox as Maildir files under `root/example.test/<user>/` (flags in the file
/// name, size in `S=`/`W=` so Dovecot need not stat), creating empty Maildirs for `users`.
pub fn write_maildirs(root: &Path, users: &[String], boxes: &[Mailbox]) -> anyhow::Result<()> {
    for u in users {
        let base = root.join(DOMAIN).join(u);
        for sub in ["cur", "new", "tmp"] {
            std::fs::create_dir_all(base.join(sub))?;
        }
    }
    let t0 = 1_750_000_000u64;
    for mb in boxes {
        let cur = root.join(DOMAIN).join(&mb.user).join("cur");
        for i in 0..mb.count {
            let bytes = mb.message(i);
            let flags = if mb.seen(i) { "S" } else { "" };
            let name = format!(
                "{}.M{i}P1.bench,S={n},W={n}:2,{flags}",
                t0 + i as u64,
                n = bytes.len()
            );
            std::fs::write(cur.join(name), &bytes)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threaded_mailbox() {
        let mb = Mailbox {
            user: "t".into(),
            count: 10,
            size: 600,
            unseen_every: 0,
            needle_every: 0,
            multipart_every: 0,
            threads: true,
        };
        let text = |i| String::from_utf8(mb.message(i)).unwrap();
        assert!(!text(4).contains("In-Reply-To"));
        assert!(text(6).contains(
            "Subject: Re: Status update number 4\r\n\
             Date: Mon, 7 Jun 2025 10:06:00 +0000\r\n\
             Message-ID: <6.t@bench.test>\r\n\
             In-Reply-To: <5.t@bench.test>\r\n\
             References: <4.t@bench.test> <5.t@bench.test>\r\n\
             MIME-Version: 1.0\r\n"
        ));
        assert!(text(7).contains("Subject: Status update number 7\r\n"));
        assert_eq!(
            (thread_count(8), thread_count(9), thread_count(11)),
            (4, 5, 5)
        );
    }
}
