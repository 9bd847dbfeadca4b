//! The checker's IMAP connection: sends tagged commands, reads one complete response at a time
//! (lines and literals, exactly as received) and keeps the transcript of the command in flight,
//! which is what an error report shows as "the failing exchange".

use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;

use super::response::{self, Resp};
use crate::client::{literal_len, Conn};

/// Lines kept per exchange; longer exchanges keep their first lines and their last lines.
const KEEP_HEAD: usize = 40;
const KEEP_TAIL: usize = 20;
/// Characters kept per line and per literal preview.
const LINE_CHARS: usize = 400;
const LITERAL_CHARS: usize = 80;

/// One line of a transcript: what the checker sent, or a server response kept as received
/// (rendered only when a report needs it: most exchanges are never shown).
#[derive(Debug, Clone)]
enum Entry {
    Sent(String),
    Received(Vec<u8>),
}

impl Entry {
    fn render(&self) -> String {
        match self {
            Entry::Sent(s) => shorten(s, LINE_CHARS),
            Entry::Received(raw) => format!("S: {}", shorten(&render_response(raw), LINE_CHARS)),
        }
    }
}

/// A response's lines without CRLF, each literal shown shortened in `<…>`.
fn render_response(raw: &[u8]) -> String {
    let mut shown = String::new();
    let mut rest = raw;
    while !rest.is_empty() {
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |p| p + 1);
        let line = &rest[..end];
        shown.push_str(String::from_utf8_lossy(line).trim_end_matches(['\r', '\n']));
        rest = &rest[end..];
        if let Some(n) = literal_len(line) {
            let n = n.min(rest.len());
            shown.push_str(&format!(
                "<{}>",
                shorten(&printable(&rest[..n]), LITERAL_CHARS)
            ));
            rest = &rest[n..];
        }
    }
    shown
}

/// The transcript of one command: its first lines and its last lines.
#[derive(Debug, Clone, Default)]
pub struct Exchange {
    head: Vec<Entry>,
    tail: std::collections::VecDeque<Entry>,
    dropped: usize,
}

impl Exchange {
    fn push(&mut self, e: Entry) {
        if self.head.len() < KEEP_HEAD {
            self.head.push(e);
            return;
        }
        self.tail.push_back(e);
        if self.tail.len() > KEEP_TAIL {
            self.tail.pop_front();
            self.dropped += 1;
        }
    }

    /// `C: ...` and `S: ...` lines, shortened.
    pub fn lines(&self) -> Vec<String> {
        let mut v: Vec<String> = self.head.iter().map(Entry::render).collect();
        if self.dropped > 0 {
            v.push(format!("   … {} lines not shown …", self.dropped));
        }
        v.extend(self.tail.iter().map(Entry::render));
        v
    }

    pub fn clear(&mut self) {
        self.head.clear();
        self.tail.clear();
        self.dropped = 0;
    }
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let cut: String = s.chars().take(max).collect();
    format!("{cut}…")
}

fn printable(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .chars()
        .map(|c| match c {
            '\r' => "\\r".to_string(),
            '\n' => "\\n".to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// `--trace FILE`: every line of every connection, with the time since the start.
pub struct Trace {
    start: Instant,
    out: Mutex<std::io::BufWriter<std::fs::File>>,
}

impl Trace {
    pub fn create(path: &std::path::Path, start: Instant) -> anyhow::Result<Trace> {
        Ok(Trace {
            start,
            out: Mutex::new(std::io::BufWriter::new(std::fs::File::create(path)?)),
        })
    }

    fn line(&self, who: &str, text: &str) {
        let t = self.start.elapsed().as_secs_f64();
        let mut o = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(o, "{t:9.4} {who} {text}");
    }

    pub fn flush(&self) {
        let _ = self.out.lock().unwrap_or_else(|e| e.into_inner()).flush();
    }
}

/// One IMAP connection of the checker.
pub struct Wire {
    conn: Conn,
    tag: u32,
    /// Tag prefix (distinct per session, so a transcript names its session).
    prefix: String,
    pub exchange: Exchange,
    trace: Option<Arc<Trace>>,
}

impl Wire {
    /// Connects to 127.0.0.1:`port` and reads the greeting (which must be `* OK`).
    pub async fn connect(
        port: u16,
        prefix: &str,
        trace: Option<Arc<Trace>>,
    ) -> anyhow::Result<Wire> {
        let conn = Conn::connect(port).await?;
        let mut w = Wire {
            conn,
            tag: 0,
            prefix: prefix.to_string(),
            exchange: Exchange::default(),
            trace,
        };
        let greeting = w.read().await?;
        match greeting {
            Resp::Cond {
                status: response::Status::Ok,
                ..
            } => Ok(w),
            other => bail!("IMAP greeting: {other:?}"),
        }
    }

    /// Sends `tag text` (a new exchange starts) and returns the tag.
    pub async fn send(&mut self, text: &str) -> anyhow::Result<String> {
        self.tag += 1;
        let tag = format!("{}.{}", self.prefix, self.tag);
        self.exchange.clear();
        self.log(format!("C: {tag} {text}"));
        self.conn
            .send(format!("{tag} {text}\r\n").as_bytes())
            .await?;
        Ok(tag)
    }

    /// Sends a line that is not a command (IDLE's DONE), or literal data with its CRLF.
    pub async fn send_raw(&mut self, bytes: &[u8], shown: &str) -> anyhow::Result<()> {
        self.log(format!("C: {shown}"));
        self.conn.send(bytes).await
    }

    fn log(&mut self, line: String) {
        if let Some(t) = &self.trace {
            t.line(&self.prefix, &line);
        }
        self.exchange.push(Entry::Sent(line));
    }

    /// Reads one complete response (lines and literals) and parses it. A response the parser
    /// refuses is an error of the connection (the report shows its bytes).
    pub async fn read(&mut self) -> anyhow::Result<Resp> {
        let mut raw = Vec::with_capacity(256);
        loop {
            let line = self.conn.line().await?;
            raw.extend_from_slice(line);
            match literal_len(line) {
                Some(n) => self.conn.read_into(n, &mut raw).await?,
                None => break,
            }
        }
        if let Some(t) = &self.trace {
            t.line(&self.prefix, &format!("S: {}", render_response(&raw)));
        }
        let resp = response::parse(&raw).map_err(|e| {
            anyhow::anyhow!(
                "unparsable response ({e}): {}",
                shorten(&render_response(&raw), LINE_CHARS)
            )
        });
        self.exchange.push(Entry::Received(raw));
        resp
    }

    /// Whether the server sends something within `limit` (nothing is consumed).
    pub async fn readable(&mut self, limit: Duration) -> anyhow::Result<bool> {
        self.conn.wait_readable(limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::{Entry, Exchange};

    #[test]
    fn exchange_keeps_head_and_tail() {
        let mut e = Exchange::default();
        for i in 0..100 {
            e.push(Entry::Sent(format!("C: {i}")));
        }
        let l = e.lines();
        assert_eq!(l.len(), 40 + 1 + 20);
        assert_eq!(l[0], "C: 0");
        assert_eq!(l[40], "   … 40 lines not shown …");
        assert_eq!(l[60], "C: 99");
    }

    #[test]
    fn responses_render_with_literals_shortened() {
        let e = Entry::Received(b"* 1 FETCH (BODY[] {5}\r\nab\r\nc)\r\n".to_vec());
        assert_eq!(e.render(), "S: * 1 FETCH (BODY[] {5}<ab\\r\\nc>)");
    }
}
