//! `mailstack demo`: the text transcript against a golden file (volatile values masked), the
//! Markdown page's structure, and the temporary folder (gone unless `--keep`).
//!
//! Regenerate the golden file after an intended change with
//! `UPDATE_GOLDEN=1 cargo test -p e2e --test demo`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn demo(args: &[&str]) -> Output {
    let out = Command::new(testkit::process::binary())
        .arg("demo")
        .args(args)
        .output()
        .expect("run mailstack demo");
    assert!(
        out.status.success(),
        "mailstack demo {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The temporary folder the demo announced on stderr.
fn temp_folder(out: &Output) -> PathBuf {
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find_map(|l| l.strip_prefix("mailstack demo: temporary folder "))
        .unwrap_or_else(|| panic!("no temporary folder line on stderr:\n{err}"));
    PathBuf::from(line.trim())
}

/// Replaces the run of digits after each occurrence of `marker` with `with`.
fn mask_after(line: &str, marker: &str, with: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find(marker) {
        let after = i + marker.len();
        out.push_str(&rest[..after]);
        rest = &rest[after..];
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits > 0 {
            out.push_str(with);
            rest = &rest[digits..];
        }
    }
    out.push_str(rest);
    out
}

/// Replaces the run of digits right before each occurrence of `marker` with `with`.
fn mask_before(line: &str, marker: &str, with: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find(marker) {
        let head = &rest[..i];
        let kept = head.trim_end_matches(|c: char| c.is_ascii_digit());
        out.push_str(kept);
        if kept.len() < head.len() {
            out.push_str(with);
        }
        out.push_str(marker);
        rest = &rest[i + marker.len()..];
    }
    out.push_str(rest);
    out
}

/// Masks what legitimately changes between runs: ports, UIDVALIDITY (also inside POP3
/// UIDLs), HIGHESTMODSEQ, and message sizes (a message contains its delivery date, whose
/// day of the month has one or two digits).
fn mask(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut l = mask_after(line, "127.0.0.1:", "PORT");
        l = mask_after(&l, "UIDVALIDITY ", "N");
        l = mask_after(&l, "HIGHESTMODSEQ ", "N");
        l = mask_after(&l, "{", "N");
        l = mask_before(&l, " octets", "N");
        // POP3 STAT "+OK 1 279", scan listings "1 279" (LIST) and "1 1795388878.1" (UIDL).
        l = mask_after(&l, "S: +OK 1 ", "N");
        l = mask_after(&l, "S: 1 ", "N");
        out.push_str(&l);
        out.push('\n');
    }
    out
}

fn golden_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("golden")
        .join(name)
}

#[test]
fn masking_rules() {
    assert_eq!(
        mask("laptop  S: * OK [UIDVALIDITY 1795388878] UIDs valid"),
        "laptop  S: * OK [UIDVALIDITY N] UIDs valid\n"
    );
    assert_eq!(mask("x S: 1 1795388878.1"), "x S: 1 N.1\n");
    assert_eq!(
        mask("S: +OK maildrop has 1 message (279 octets)"),
        "S: +OK maildrop has 1 message (N octets)\n"
    );
    assert_eq!(
        mask("-- connected to 127.0.0.1:40123 (imap)"),
        "-- connected to 127.0.0.1:PORT (imap)\n"
    );
    assert_eq!(
        mask("S: * 1 FETCH (BODY[] {279}"),
        "S: * 1 FETCH (BODY[] {N}\n"
    );
    assert_eq!(mask("S: * 1 EXISTS"), "S: * 1 EXISTS\n");
}

#[test]
fn text_transcript_matches_golden_and_leaves_nothing_behind() {
    let out = demo(&["--format", "text"]);
    let text = String::from_utf8(out.stdout.clone()).expect("utf-8 transcript");
    let dir = temp_folder(&out);
    assert!(!dir.exists(), "{} was left behind", dir.display());

    // Secrets never appear: every login line is redacted.
    for l in text.lines().filter(|l| l.contains(" C: ")) {
        let upper = l.to_ascii_uppercase();
        if upper.contains(" LOGIN ") || upper.contains("AUTH PLAIN") || upper.contains("C: PASS") {
            assert!(l.ends_with("<redacted>"), "unredacted secret line: {l}");
        }
    }

    let masked = mask(&text);
    let path = golden_path("demo.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("golden dir")).expect("mkdir golden");
        std::fs::write(&path, &masked).expect("write golden");
        return;
    }
    let golden = std::fs::read_to_string(&path).expect("tests/golden/demo.txt");
    if masked != golden {
        let (n, (got, want)) = masked
            .lines()
            .zip(golden.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .unwrap_or((
                masked.lines().count().min(golden.lines().count()),
                ("<end>", "<end>"),
            ));
        panic!(
            "demo transcript differs from {} at line {}:\n  got:  {got}\n  want: {want}\n\
             (after an intended change: UPDATE_GOLDEN=1 cargo test -p e2e --test demo)\n\
             full masked output:\n{masked}",
            path.display(),
            n + 1
        );
    }
}

#[test]
fn markdown_page_is_well_formed() {
    let out = demo(&["pop-vs-imap", "--format", "markdown"]);
    let md = String::from_utf8(out.stdout.clone()).expect("utf-8 page");
    assert!(!temp_folder(&out).exists());
    assert!(md.starts_with("# "), "{md}");

    let mut in_fence = false;
    let mut fences = 0;
    let mut steps = 0;
    let mut table_widths = Vec::new();
    for l in md.lines() {
        if l.starts_with("```") {
            assert!(
                in_fence || l == "```text",
                "a fence must open as ```text: {l}"
            );
            in_fence = !in_fence;
            fences += 1;
            continue;
        }
        if in_fence {
            assert!(
                [" C: ", " S: ", " -- "].iter().any(|m| l.contains(m))
                    || l.ends_with(" C:")
                    || l.ends_with(" S:"),
                "transcript line without C:/S:/--: {l:?}"
            );
            continue;
        }
        if l.starts_with("## Step ") {
            steps += 1;
        }
        if l.starts_with('|') && !l.starts_with("|---") {
            assert!(l.ends_with('|'), "table row: {l}");
            table_widths.push(l.matches(" | ").count());
        }
    }
    assert!(!in_fence, "unbalanced code fences");
    assert_eq!(fences, steps * 2, "one fenced transcript per step");
    assert!(steps >= 7, "{steps} steps:\n{md}");
    assert!(md.contains("## Ports and security used"), "{md}");
    assert!(md.contains("|---|---|---|---|---|---|"), "{md}");
    // Header + one row per session (laptop, bob, phone, desktop, oldpc), same column count.
    assert_eq!(table_widths.len(), 1 + 5, "{md}");
    assert!(table_widths.iter().all(|w| *w == table_widths[0]), "{md}");
    // The scenario's key moments are there; the mailbox-full step is only in `all`.
    for needle in [
        "530 5.7.0",
        "* 1 EXISTS",
        "\\Seen",
        "RETR 1",
        "DELE 1",
        "* 1 EXPUNGE",
    ] {
        assert!(md.contains(needle), "missing {needle:?}:\n{md}");
    }
    assert!(!md.contains("OVERQUOTA"), "{md}");
}

#[test]
fn keep_leaves_an_inspectable_folder() {
    let out = demo(&["pop-vs-imap", "--keep"]);
    let dir = temp_folder(&out);
    assert!(dir.join("data").is_dir(), "{} has no store", dir.display());
    assert!(dir.join("certs/ca.crt").is_file());
    let config = dir.join("mailstack.toml");
    let listed = testkit::process::cli(&config, &["mailbox", "list", "alice@example.test"], "");
    let text = String::from_utf8_lossy(&listed.stdout).to_string();
    std::fs::remove_dir_all(&dir).expect("clean up the kept folder");
    assert!(listed.status.success(), "{text}");
    assert!(text.contains("INBOX"), "{text}");
}

/// One step of the text transcript: its title, its prose (explanation and outcome, one line
/// with single spaces) and its protocol lines as (session, marker, text).
struct Step {
    title: String,
    prose: String,
    lines: Vec<(String, String, String)>,
}

impl Step {
    /// What the server said to `who`.
    fn server(&self, who: &str) -> Vec<&str> {
        self.said(who, "S:")
    }

    fn said(&self, who: &str, marker: &str) -> Vec<&str> {
        self.lines
            .iter()
            .filter(|(w, m, _)| w == who && m == marker)
            .map(|(_, _, t)| t.as_str())
            .collect()
    }

    /// The server lines to `who` from the reply to `command` up to the next command.
    fn reply_to(&self, who: &str, command: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut inside = false;
        for (w, m, t) in self.lines.iter().filter(|(w, ..)| w == who) {
            if m == "C:" {
                if inside {
                    break;
                }
                inside = t == command;
            } else if inside && m == "S:" {
                out.push(t.as_str());
            }
            let _ = w;
        }
        assert!(
            inside,
            "{who} never sent {command:?} in step {:?}",
            self.title
        );
        out
    }

    /// The number right after `prefix` in the prose.
    fn number_after(&self, prefix: &str) -> u64 {
        let at = self
            .prose
            .find(prefix)
            .unwrap_or_else(|| panic!("{prefix:?} not in the prose of {:?}", self.title));
        let digits: String = self.prose[at + prefix.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits
            .parse()
            .unwrap_or_else(|_| panic!("no number after {prefix:?}"))
    }

    fn claims(&self, phrase: &str) {
        assert!(
            self.prose.contains(phrase),
            "step {:?} no longer says {phrase:?}: {}",
            self.title,
            self.prose
        );
    }
}

/// Splits the text transcript into its steps (up to the ports table).
fn steps(text: &str) -> Vec<Step> {
    let lines: Vec<&str> = text.lines().collect();
    let mut steps: Vec<Step> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        let underlined = lines.get(i + 1).is_some_and(|n| n.starts_with("---"));
        if underlined && !l.starts_with("Step ") {
            break; // "Ports and security used"
        }
        if underlined {
            let title = l.split_once(". ").map_or(l, |(_, t)| t).to_string();
            steps.push(Step {
                title,
                prose: String::new(),
                lines: Vec::new(),
            });
            i += 2;
            continue;
        }
        if let Some(step) = steps.last_mut() {
            if let Some(line) = l.strip_prefix("    ") {
                let (who, rest) = line.split_once(' ').expect("session name");
                let rest = rest.trim_start();
                let (marker, text) = rest.split_at(2);
                step.lines.push((
                    who.to_string(),
                    marker.to_string(),
                    text.trim_start().to_string(),
                ));
            } else if !l.trim().is_empty() {
                if !step.prose.is_empty() {
                    step.prose.push(' ');
                }
                step.prose.push_str(l.trim().trim_start_matches("=> "));
            }
        }
        i += 1;
    }
    steps
}

/// Every claim the narration makes is checked against what the server said in that step:
/// counts, sizes, flags, refusals. A change to the server's answers or to the story that
/// makes them disagree fails here, not in front of a class.
#[test]
fn the_narration_matches_what_the_server_said() {
    let out = demo(&["--format", "text"]);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let s = steps(&text);
    assert_eq!(s.len(), 9, "{text}");
    assert!(!text.contains("1 messages"), "plural with one: {text}");

    // Intro: plaintext from loopback is off in the demo, so it shows what a remote client sees.
    assert!(text.contains("this demo turns that off"), "{text}");

    // 1. LOGINDISABLED and no AUTH= before TLS; INBOX empty.
    let st = &s[0];
    st.claims("The greeting says \"LOGINDISABLED\" and offers no \"AUTH=\"");
    let greeting = st.server("laptop")[0];
    assert!(
        greeting.contains("LOGINDISABLED") && !greeting.contains("AUTH="),
        "{greeting}"
    );
    let login = st.reply_to("laptop", "a2 LOGIN alice@example.test <redacted>");
    assert!(login.iter().any(|l| l.starts_with("a2 OK")), "{login:?}");
    st.claims("INBOX is empty (\"* 0 EXISTS\")");
    assert!(st
        .reply_to("laptop", "a3 SELECT INBOX")
        .contains(&"* 0 EXISTS"));

    // 2. No AUTH before TLS; MAIL refused with 530.
    let st = &s[1];
    st.claims("offers \"STARTTLS\" but no \"AUTH\"");
    let ehlo = st.reply_to("bob", "EHLO bobs-pc.example.test");
    assert!(ehlo.iter().any(|l| l.ends_with("STARTTLS")), "{ehlo:?}");
    assert!(!ehlo.iter().any(|l| l.contains("AUTH")), "{ehlo:?}");
    assert!(!ehlo.iter().any(|l| l.contains("had me")), "{ehlo:?}");
    st.claims("refuses with 530");
    let refused = st.reply_to("bob", "MAIL FROM:<bob@example.test>");
    assert!(refused[0].starts_with("530 "), "{refused:?}");

    // 3. AUTH offered after STARTTLS, accepted; 250 after the data.
    let st = &s[2];
    st.claims("Now the EHLO answer offers \"AUTH PLAIN LOGIN\"");
    let ehlo = st.reply_to("bob", "EHLO bobs-pc.example.test");
    assert!(ehlo.contains(&"250-AUTH PLAIN LOGIN"), "{ehlo:?}");
    assert!(st.reply_to("bob", "AUTH PLAIN <redacted>")[0].starts_with("235 "));
    st.claims("The server said 250");
    assert!(st.reply_to("bob", ".")[0].starts_with("250 "));

    // 4. EXISTS pushed; PEEK leaves it unread; BODY[] sets \Seen and says so.
    let st = &s[3];
    st.claims("the server pushes \"* 1 EXISTS\"");
    assert_eq!(st.server("laptop")[0], "* 1 EXISTS");
    st.claims("no \"\\Seen\" in its flags");
    let peek = st.reply_to(
        "laptop",
        "a5 FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)])",
    );
    assert!(
        peek[0].starts_with("* 1 FETCH (FLAGS (") && !peek[0].contains("\\Seen"),
        "{peek:?}"
    );
    st.claims("which sets the \"\\Seen\" flag");
    let read = st.reply_to("laptop", "a6 FETCH 1 (FLAGS BODY[])");
    assert!(read[0].starts_with("* 1 FETCH (FLAGS (\\Seen"), "{read:?}");
    // The response's last line closes it; no line of it dangles after the message.
    assert_eq!(read[read.len() - 2], ")", "{read:?}");
    let imap_size: u64 = read[0]
        .rsplit_once('{')
        .and_then(|(_, n)| n.strip_suffix('}'))
        .and_then(|n| n.parse().ok())
        .expect("literal size");

    // 5. The phone: 1 message, no UNSEEN, \Seen.
    let st = &s[4];
    let select = st.reply_to("phone", "p2 SELECT INBOX");
    assert!(select.contains(&"* 1 EXISTS"), "{select:?}");
    st.claims("No \"UNSEEN\" in the SELECT answer");
    assert!(!select.iter().any(|l| l.contains("UNSEEN")), "{select:?}");
    st.claims("\"FLAGS (\\Seen)\"");
    assert!(st
        .reply_to("phone", "p3 FETCH 1 (FLAGS)")
        .contains(&"* 1 FETCH (FLAGS (\\Seen))"));

    // 6. POP3 leave a copy: no DELE, nothing deleted, one left, same size as over IMAP.
    let st = &s[5];
    st.claims("quits without DELE");
    assert!(!st
        .said("desktop", "C:")
        .iter()
        .any(|c| c.starts_with("DELE")));
    let pass = st.reply_to("desktop", "PASS <redacted>");
    assert_eq!(
        pass,
        [format!("+OK maildrop has 1 message ({imap_size} octets)")]
    );
    assert_eq!(
        st.reply_to("desktop", "STAT"),
        [format!("+OK 1 {imap_size}")]
    );
    assert_eq!(
        st.reply_to("desktop", "RETR 1")[0],
        format!("+OK {imap_size} octets")
    );
    assert_eq!(
        st.reply_to("desktop", "QUIT"),
        ["+OK mailstack POP3 server signing off (0 messages deleted, 1 left)"]
    );
    st.claims("the phone still sees the message");
    assert!(st.reply_to("phone", "p4 FETCH 1:* (UID FLAGS)")[0].starts_with("* 1 FETCH (UID 1 "));

    // 7. POP3 with delete: gone; the laptop told at once, the phone with its next command.
    let st = &s[6];
    st.claims("RETR, DELE, and QUIT");
    assert_eq!(
        st.reply_to("oldpc", "LIST")[0],
        format!("+OK 1 message ({imap_size} octets)")
    );
    assert_eq!(st.reply_to("oldpc", "DELE 1"), ["+OK message 1 deleted"]);
    assert_eq!(
        st.reply_to("oldpc", "QUIT"),
        ["+OK mailstack POP3 server signing off (1 message deleted, 0 left)"]
    );
    st.claims("The IDLE-ing laptop is told \"* 1 EXPUNGE\" immediately");
    assert_eq!(st.server("laptop")[0], "* 1 EXPUNGE");
    st.claims("learns it with its next command");
    assert_eq!(st.reply_to("phone", "p5 NOOP")[0], "* 1 EXPUNGE");

    // 8. The quota: its size as typed and as IMAP reports it, the empty mailbox, the
    //    offered size and the draft's, both larger than the quota, and both refusals.
    let st = &s[7];
    let kib = st.number_after("limits Alice's mailbox to ");
    st.claims(&format!("{kib} KiB"));
    assert_eq!(
        st.said("admin", "--"),
        [format!(
            "mailstack user set alice@example.test --quota {kib}KiB"
        )]
    );
    st.claims("Her INBOX is empty now");
    st.claims(&format!("\"STORAGE 0 {kib}\", 0 of {kib} KiB used"));
    assert!(st
        .reply_to("laptop", "a8 GETQUOTAROOT INBOX")
        .contains(&format!("* QUOTA \"\" (STORAGE 0 {kib})").as_str()));
    let offered = st.number_after("offers her a message of ");
    assert!(offered > kib * 1024, "{offered} fits in {kib} KiB");
    assert!(st
        .said("mx", "C:")
        .contains(&format!("MAIL FROM:<carol@elsewhere.test> SIZE={offered}").as_str()));
    st.claims("refuses the recipient at once with \"552 5.2.2\"");
    let rcpt = st.reply_to("mx", "RCPT TO:<alice@example.test>");
    assert!(
        rcpt[0].starts_with("552 5.2.2 ") && rcpt[0].contains("mailbox full"),
        "{rcpt:?}"
    );
    let draft = st.number_after("cannot save a draft of ");
    assert!(draft > kib * 1024, "the draft ({draft}) fits in {kib} KiB");
    let append = format!("a9 APPEND Drafts (\\Draft) {{{draft}}}");
    assert!(
        st.said("laptop", "C:").contains(&append.as_str()),
        "{append}"
    );
    st.claims("APPEND fails with \"[OVERQUOTA]\"");
    assert!(st
        .server("laptop")
        .iter()
        .any(|l| l.starts_with("a9 NO [OVERQUOTA]")));

    // 9. Logout.
    let st = &s[8];
    assert!(st
        .reply_to("laptop", "a10 LOGOUT")
        .contains(&"a10 OK LOGOUT completed"));
    assert!(st
        .reply_to("phone", "p6 LOGOUT")
        .contains(&"p6 OK LOGOUT completed"));
}
