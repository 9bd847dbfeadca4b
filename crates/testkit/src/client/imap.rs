//! [`Imap`]: a scripted IMAP client that understands literals in responses (a response line
//! ending in `{N}` is followed by N bytes, then the rest of the response), tags its commands
//! `t1`, `t2`, … and knows IDLE.

use std::path::Path;
use std::time::Duration;

use super::Line;

/// How long [`Imap::pushed`] waits for an unsolicited update.
pub const PUSH_LIMIT: Duration = Duration::from_secs(10);

/// One IMAP connection.
pub struct Imap {
    line: Line,
    n: u32,
    /// The server's greeting, read on connect.
    pub greeting: String,
}

impl Imap {
    /// Connects to `127.0.0.1:port` in clear and reads the greeting.
    pub async fn connect(port: u16) -> Imap {
        Self::over(Line::connect(port).await).await
    }

    /// Connects to an imaps port (implicit TLS) and reads the greeting.
    pub async fn connect_tls(port: u16, ca: &Path) -> Imap {
        Self::over(Line::connect_tls(port, ca).await).await
    }

    async fn over(line: Line) -> Imap {
        let mut c = Imap {
            line,
            n: 0,
            greeting: String::new(),
        };
        c.greeting = c.response().await;
        c
    }

    /// Connects and logs in with LOGIN (the password quoted).
    pub async fn login_to(port: u16, user: &str, pass: &str) -> Imap {
        let mut c = Imap::connect(port).await;
        c.ok(&format!("LOGIN {user} \"{pass}\"")).await;
        c
    }

    /// The underlying line client (STARTTLS: `wire().upgrade(ca)` after the tagged OK).
    pub fn wire(&mut self) -> &mut Line {
        &mut self.line
    }

    pub async fn send(&mut self, raw: &str) {
        self.send_bytes(raw.as_bytes()).await;
    }

    pub async fn send_bytes(&mut self, raw: &[u8]) {
        self.line.send(raw).await.expect("write");
    }

    /// One response: a line plus any literals it announces (inline). Empty on EOF.
    pub async fn response(&mut self) -> String {
        let mut out = Vec::new();
        while let Some(line) = self.line.raw_line().await {
            out.extend_from_slice(&line);
            let t = String::from_utf8_lossy(&line);
            let t = t.trim_end();
            if let Some((x, i)) = t
                .strip_suffix('}')
                .and_then(|x| x.rfind('{').map(|i| (x, i)))
            {
                if let Ok(len) = x[i + 1..].parse::<usize>() {
                    out.extend_from_slice(&self.line.read_exact(len).await);
                    continue;
                }
            }
            break;
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Sends `tagN text` and reads until the tagged reply; returns (untagged, tagged line).
    pub async fn cmd(&mut self, text: &str) -> (Vec<String>, String) {
        let tag = self.next_tag();
        self.send(&format!("{tag} {text}\r\n")).await;
        self.until(&tag).await
    }

    /// Reads responses until the one tagged `tag`: (untagged, tagged line); the tagged line is
    /// empty when the server closed first.
    pub async fn until(&mut self, tag: &str) -> (Vec<String>, String) {
        let mut untagged = Vec::new();
        loop {
            let r = self.response().await;
            if r.is_empty() {
                return (untagged, String::new());
            }
            if r.starts_with(&format!("{tag} ")) {
                return (untagged, r.trim_end().to_string());
            }
            untagged.push(r.trim_end().to_string());
        }
    }

    /// Runs a command that must succeed; returns its untagged responses.
    pub async fn ok(&mut self, text: &str) -> Vec<String> {
        let (u, t) = self.cmd(text).await;
        assert!(
            t.split(' ').nth(1) == Some("OK"),
            "{text:?} → {t:?} (untagged {u:?})"
        );
        u
    }

    /// The tag of the next command (for commands a test sends by hand).
    pub fn next_tag(&mut self) -> String {
        self.n += 1;
        format!("t{}", self.n)
    }

    /// The next untagged response, within [`PUSH_LIMIT`] (pushed updates, IDLE).
    pub async fn pushed(&mut self) -> String {
        tokio::time::timeout(PUSH_LIMIT, self.response())
            .await
            .unwrap_or_else(|_| panic!("update pushed within {PUSH_LIMIT:?}"))
            .trim_end()
            .to_string()
    }

    /// Starts IDLE and reads the continuation; returns the IDLE's tag.
    pub async fn idle(&mut self) -> String {
        let tag = self.next_tag();
        self.send(&format!("{tag} IDLE\r\n")).await;
        let r = self.response().await;
        assert!(r.starts_with("+ "), "RFC 2177 §3 continuation: {r}");
        tag
    }

    /// Ends IDLE with DONE and returns (untagged, tagged) until the IDLE's tagged reply.
    pub async fn done(&mut self, tag: &str) -> (Vec<String>, String) {
        self.send("DONE\r\n").await;
        self.until(tag).await
    }
}

/// The number in `[CODE n]` of an untagged OK, e.g. HIGHESTMODSEQ.
pub fn code_value(lines: &[String], code: &str) -> u64 {
    lines
        .iter()
        .find_map(|l| {
            l.split_once(&format!("[{code} "))
                .and_then(|(_, r)| r.split(']').next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or_else(|| panic!("no {code} in {lines:?}"))
}
