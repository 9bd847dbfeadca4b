//! What the demo saw, in order: steps (title, explanation, protocol lines, outcome) and the
//! sessions with the port and TLS mode each used; rendered as terminal text or as a Markdown
//! page a teacher can hand out.

use std::fmt::Write as _;
use std::net::SocketAddr;

/// Who wrote a transcript line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `C:` — sent by the mail program.
    Client,
    /// `S:` — sent by the server.
    Server,
    /// `--` — what happened that is not a protocol line (connect, TLS handshake, admin action).
    Note,
}

impl Kind {
    fn marker(self) -> &'static str {
        match self {
            Kind::Client => "C:",
            Kind::Server => "S:",
            Kind::Note => "--",
        }
    }
}

/// One line of a session.
#[derive(Debug, Clone)]
pub(crate) struct Line {
    /// The session's short name (`laptop`, `bob`, …).
    pub who: &'static str,
    pub kind: Kind,
    pub text: String,
}

/// One narrated step.
#[derive(Debug, Clone, Default)]
pub(crate) struct Step {
    pub title: String,
    /// What is about to happen and why (shown before the lines).
    pub explain: String,
    pub lines: Vec<Line>,
    /// What to notice (shown after the lines).
    pub outcome: Option<String>,
}

/// A client session, for the ports table.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub who: &'static str,
    /// Which program it plays, e.g. "Alice's phone".
    pub program: &'static str,
    /// The service name as in the config (`imaps`, `submission`, …).
    pub service: &'static str,
    /// How the session was secured, updated on STARTTLS/STLS.
    pub security: String,
    /// The address this demo's listener was bound to.
    pub addr: SocketAddr,
}

/// The whole demo.
#[derive(Debug, Default)]
pub(crate) struct Transcript {
    pub title: String,
    pub intro: String,
    pub steps: Vec<Step>,
    pub sessions: Vec<Session>,
    /// Shown after the ports table.
    pub ports_note: String,
    pub conclusion: String,
}

/// The standard (production) port of a service (docs/spec.md §3).
pub(crate) fn standard_port(service: &str) -> u16 {
    match service {
        "smtp" => 25,
        "submission" => 587,
        "submissions" => 465,
        "pop3" => 110,
        "pop3s" => 995,
        "imap" => 143,
        "imaps" => 993,
        _ => 0,
    }
}

impl Transcript {
    /// Starts a new step; lines recorded from now on belong to it.
    pub fn step(&mut self, title: &str, explain: &str) {
        self.steps.push(Step {
            title: title.into(),
            explain: explain.into(),
            ..Step::default()
        });
    }

    /// Sets the current step's outcome sentence.
    pub fn outcome(&mut self, text: &str) {
        if let Some(s) = self.steps.last_mut() {
            s.outcome = Some(text.into());
        }
    }

    pub fn record(&mut self, who: &'static str, kind: Kind, text: impl Into<String>) {
        if self.steps.is_empty() {
            self.step("", "");
        }
        if let Some(s) = self.steps.last_mut() {
            s.lines.push(Line {
                who,
                kind,
                text: text.into(),
            });
        }
    }

    /// Records a block of message text (a literal, a RETR body, DATA): short blocks in full,
    /// long ones as their first line and a count of the rest.
    pub fn block(&mut self, who: &'static str, kind: Kind, lines: &[String]) {
        const SHOW_WHOLE: usize = 6;
        if lines.len() <= SHOW_WHOLE {
            for l in lines {
                self.record(who, kind, l.clone());
            }
            return;
        }
        self.record(who, kind, lines[0].clone());
        self.record(
            who,
            kind,
            format!("[… {} more lines not shown]", lines.len() - 1),
        );
    }

    pub fn session_mut(&mut self, who: &str) -> Option<&mut Session> {
        self.sessions.iter_mut().rev().find(|s| s.who == who)
    }

    fn who_width(&self) -> usize {
        self.steps
            .iter()
            .flat_map(|s| &s.lines)
            .map(|l| l.who.len())
            .max()
            .unwrap_or(0)
    }

    fn line_text(&self, l: &Line) -> String {
        let w = self.who_width();
        format!("{:<w$}  {} {}", l.who, l.kind.marker(), l.text)
            .trim_end()
            .to_string()
    }

    /// The ports table: header row, then one row per session.
    fn ports_rows(&self) -> Vec<[String; 6]> {
        let mut rows = vec![[
            "session".to_string(),
            "program".into(),
            "service".into(),
            "standard port".into(),
            "security".into(),
            "address in this demo".into(),
        ]];
        for s in &self.sessions {
            rows.push([
                s.who.to_string(),
                s.program.to_string(),
                s.service.to_string(),
                standard_port(s.service).to_string(),
                s.security.clone(),
                s.addr.to_string(),
            ]);
        }
        rows
    }

    /// Plain text for a terminal (78 columns of prose, protocol lines as they were).
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.title);
        let _ = writeln!(out, "{}", "=".repeat(self.title.chars().count()));
        let _ = writeln!(out);
        out.push_str(&wrap(&plain(&self.intro), 78, ""));
        for (i, step) in self.steps.iter().enumerate() {
            let heading = format!("Step {}. {}", i + 1, step.title);
            let _ = writeln!(out);
            let _ = writeln!(out, "{heading}");
            let _ = writeln!(out, "{}", "-".repeat(heading.chars().count()));
            out.push_str(&wrap(&plain(&step.explain), 78, ""));
            let _ = writeln!(out);
            for l in &step.lines {
                let _ = writeln!(out, "    {}", self.line_text(l));
            }
            if let Some(o) = &step.outcome {
                let _ = writeln!(out);
                out.push_str(&wrap(&plain(&format!("=> {o}")), 78, "   "));
            }
        }
        let heading = "Ports and security used";
        let _ = writeln!(out);
        let _ = writeln!(out, "{heading}");
        let _ = writeln!(out, "{}", "-".repeat(heading.len()));
        let rows = self.ports_rows();
        let widths: Vec<usize> = (0..6)
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        for (n, r) in rows.iter().enumerate() {
            let mut line = String::from("    ");
            for (c, cell) in r.iter().enumerate() {
                // The last column (volatile port numbers) is not padded.
                if c == 5 {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell:<w$}  ", w = widths[c]);
                }
            }
            let _ = writeln!(out, "{}", line.trim_end());
            if n == 0 {
                let total: usize = widths[..5].iter().map(|w| w + 2).sum::<usize>() + widths[5];
                let _ = writeln!(out, "    {}", "-".repeat(total));
            }
        }
        let _ = writeln!(out);
        out.push_str(&wrap(&plain(&self.ports_note), 78, ""));
        let _ = writeln!(out);
        out.push_str(&wrap(&plain(&self.conclusion), 78, ""));
        out
    }

    /// A Markdown page: a heading per step, the explanation as prose, the transcript in a
    /// fenced block, the ports as a table.
    pub fn render_markdown(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# {}\n", self.title);
        let _ = writeln!(out, "{}\n", self.intro);
        for (i, step) in self.steps.iter().enumerate() {
            let _ = writeln!(out, "## Step {}. {}\n", i + 1, step.title);
            let _ = writeln!(out, "{}\n", step.explain);
            let _ = writeln!(out, "```text");
            for l in &step.lines {
                // A fence inside the transcript would end the block early.
                let _ = writeln!(out, "{}", self.line_text(l).replace("```", "'''"));
            }
            let _ = writeln!(out, "```\n");
            if let Some(o) = &step.outcome {
                let _ = writeln!(out, "**What to notice:** {o}\n");
            }
        }
        let _ = writeln!(out, "## Ports and security used\n");
        for (n, r) in self.ports_rows().iter().enumerate() {
            let cells: Vec<String> = r.iter().map(|c| c.replace('|', "\\|")).collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
            if n == 0 {
                let _ = writeln!(out, "|{}", "---|".repeat(r.len()));
            }
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "{}\n", self.ports_note);
        let _ = writeln!(out, "## POP3 or IMAP?\n");
        let _ = writeln!(out, "{}", self.conclusion);
        out
    }
}

/// Prose is written with Markdown code spans; a terminal shows them in double quotes.
fn plain(text: &str) -> String {
    text.replace('`', "\"")
}

/// Word-wraps `text` at `width` columns; continuation lines start with `indent`.
fn wrap(text: &str, width: usize, indent: &str) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line = indent.to_string();
        }
        if !line.trim().is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.trim().is_empty() {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Transcript {
        let mut t = Transcript {
            title: "Demo".into(),
            intro: "Intro.".into(),
            ports_note: "Note.".into(),
            conclusion: "Done.".into(),
            ..Transcript::default()
        };
        t.step("First", "Why it matters.");
        t.record("laptop", Kind::Client, "a1 NOOP");
        t.record("laptop", Kind::Server, "a1 OK done");
        let body: Vec<String> = (0..10).map(|i| format!("line {i}")).collect();
        t.block("pop", Kind::Server, &body);
        t.outcome("It worked.");
        t.sessions.push(Session {
            who: "laptop",
            program: "Alice's laptop",
            service: "imap",
            security: "STARTTLS".into(),
            addr: SocketAddr::from(([127, 0, 0, 1], 40000)),
        });
        t
    }

    #[test]
    fn text_aligns_sessions_and_elides_long_blocks() {
        let text = sample().render_text();
        assert!(text.contains("    laptop  C: a1 NOOP\n"), "{text}");
        assert!(text.contains("    pop     S: line 0\n"), "{text}");
        assert!(text.contains("[… 9 more lines not shown]"), "{text}");
        assert!(!text.contains("line 5"), "{text}");
        assert!(text.contains("127.0.0.1:40000"), "{text}");
        assert!(text.contains("=> It worked."), "{text}");
    }

    #[test]
    fn markdown_has_headings_fences_and_table() {
        let md = sample().render_markdown();
        assert!(md.starts_with("# Demo\n"));
        assert!(md.contains("## Step 1. First\n"));
        assert_eq!(md.matches("```").count() % 2, 0);
        assert!(
            md.contains("| laptop | Alice's laptop | imap | 143 | STARTTLS | 127.0.0.1:40000 |")
        );
        assert!(md.contains("|---|---|---|---|---|---|"));
    }

    #[test]
    fn wrap_breaks_at_width() {
        let w = wrap("aaa bbb ccc", 7, "  ");
        assert_eq!(w, "aaa bbb\n  ccc\n");
    }
}
