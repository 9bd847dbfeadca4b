//! The extensions of issue 17 ("Protocol breadth") against Dovecot: SEARCHRES (RFC 5182),
//! ESORT and PARTIAL (RFC 5267), MULTIAPPEND (RFC 3502), then PREVIEW (RFC 8970) and
//! Dovecot's THREAD=REFS, I18NLEVEL=1 (RFC 5255), CATENATE / URL-PARTIAL (RFC 4469,
//! RFC 5550) and CONTEXT=SEARCH (RFC 5267 §4) on messages of their own. Each command runs on both
//! servers in the same order; the untagged answers are compared byte for byte except for the
//! tag inside an ESEARCH (the main run sends Dovecot more commands, so the tags differ) and
//! the quoting of a STATUS mailbox name (an atom for Dovecot, a quoted string for us: both
//! astrings); the tagged one by its status and response code (the text is each server's
//! own; a NO by its status only, the UIDVALIDITY of an APPENDUID masked).

use super::wire::{diff, show, Imap};

/// Run on the corpus mailbox (INBOX, selected). No SIZE order: one message's size differs on
/// purpose (`LF_ONLY` in the main file).
const ON_CORPUS: &[&str] = &[
    // RFC 5182 §2.1: nothing saved yet, `$` is empty.
    "SEARCH $",
    "FETCH $ (UID)",
    "SEARCH RETURN (SAVE) SUBJECT lunch",
    "FETCH $ (UID)",
    "SEARCH $",
    "UID SEARCH UID $",
    "SEARCH OR $ 1:3",
    "SEARCH RETURN (SAVE MIN MAX) ALL",
    "SEARCH $",
    "SEARCH RETURN (SAVE MIN COUNT) ALL",
    "SEARCH $",
    "SEARCH RETURN (SAVE) CHARSET FOO ALL",
    "SEARCH $",
    "SEARCH RETURN (SAVE) SUBJECT nothing-matches-this",
    "SEARCH $",
    "SEARCH RETURN (SAVE ALL) SUBJECT minutes",
    "SORT (SUBJECT) UTF-8 $",
    "THREAD REFERENCES UTF-8 $",
    // RFC 5267 §3 ESORT.
    "SORT RETURN (MIN MAX ALL COUNT) (ARRIVAL) UTF-8 ALL",
    "SORT RETURN (MIN MAX ALL COUNT) (DATE) UTF-8 ALL",
    "SORT RETURN (MIN MAX ALL COUNT) (SUBJECT) UTF-8 ALL",
    "SORT RETURN (MIN MAX ALL COUNT) (REVERSE FROM) UTF-8 ALL",
    "SORT RETURN (MIN MAX ALL) (DISPLAYFROM) UTF-8 ALL",
    "UID SORT RETURN (MIN MAX) (REVERSE DATE) UTF-8 ALL",
    "SORT RETURN () (SUBJECT REVERSE DATE) UTF-8 ALL",
    "SORT RETURN (COUNT) (DATE) UTF-8 SUBJECT nothing-matches-this",
    "SORT RETURN (MIN) (DATE) UTF-8 SUBJECT nothing-matches-this",
    "SORT RETURN (FOO) (DATE) UTF-8 ALL",
    // RFC 5267 §4.4 PARTIAL.
    "SORT RETURN (PARTIAL 1:10) (SUBJECT) UTF-8 ALL",
    "SORT RETURN (PARTIAL 45:60 COUNT) (REVERSE ARRIVAL) UTF-8 ALL",
    "SORT RETURN (PARTIAL 3:1) (FROM) UTF-8 ALL",
    "SORT RETURN (PARTIAL 100:200) (FROM) UTF-8 ALL",
    "SEARCH RETURN (PARTIAL 2:20) ALL",
    "UID SEARCH RETURN (PARTIAL 5:9 MIN MAX) ALL",
    "SORT RETURN (PARTIAL 0:2) (SUBJECT) UTF-8 ALL",
    "SORT RETURN (PARTIAL 1:2 PARTIAL 3:4) (SUBJECT) UTF-8 ALL",
    "SORT RETURN (SAVE MIN) (REVERSE SUBJECT) UTF-8 ALL",
    "SEARCH $",
    "SORT RETURN (SAVE) (DATE) UTF-8 SUBJECT lunch",
    "SEARCH $",
];

/// Two messages for MULTIAPPEND (RFC 3502 §6.3.11's example, shortened).
const FIRST: &str =
    "From: Fred Foobar <foobar@example.com>\r\nSubject: afternoon meeting\r\n\r\nHello Joe\r\n";
const SECOND: &str =
    "From: Joe Mooch <mooch@example.net>\r\nSubject: Re: afternoon meeting\r\n\r\n3:30 is fine\r\n";

/// Messages for PREVIEW (RFC 8970 §3) beside the corpus: white space, quotations, HTML
/// with entities, a style sheet and a comment, the 200-character limit, a byte-order mark.
const PREVIEWS: &[&str] = &[
    "Subject: x\r\n\r\nA b c  d\r\ne\r\n",
    "Subject: x\r\n\r\n> quoted only\r\n>more\r\n",
    "Subject: x\r\n\r\nline\r\n> quoted\r\n\r\n\t tail \"q\" \\ x\r\n",
    "Content-Type: text/html\r\n\r\n<b>a</b>b&amp;c&lt;x<style>p{}</style>y<!-- c -->z&bogus;k\r\n",
    "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n77u/SGVsbG8gd29ybGQ=\r\n",
    "Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--b\r\nContent-Type: text/plain\r\n\r\nplain\r\n--b--\r\n",
    "Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: image/gif\r\n\r\nx\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>only&nbsp;html</p>\r\n--b--\r\n",
];

/// The PREVIEW probes: appended to their own mailbox, fetched, then INBOX selected again.
fn preview_commands() -> Vec<String> {
    let mut out = vec!["CREATE previews".to_string()];
    for m in PREVIEWS {
        out.push(format!("APPEND previews {{{}+}}\r\n{m}", m.len()));
    }
    let long = format!("Subject: x\r\n\r\n{}", "abcdefghi ".repeat(30));
    out.push(format!("APPEND previews {{{}+}}\r\n{long}", long.len()));
    out.extend(
        [
            "EXAMINE previews",
            "FETCH 1:* (PREVIEW)",
            "FETCH 1:* (PREVIEW (LAZY))",
            "UID FETCH 2 (FLAGS PREVIEW)",
            "FETCH 1 (PREVIEW (FOO))",
            "FETCH 1 (PREVIEW ())",
            "SELECT INBOX",
        ]
        .map(String::from),
    );
    out
}

/// Messages where THREAD=REFS and REFERENCES differ (threads by their latest message, no
/// gathering by subject): (Message-ID, References, date, subject).
const THREADS: &[(&str, &str, &str, &str)] = &[
    ("a@x", "", "Wed, 1 Jan 2025 10:00:00 +0000", "A"),
    ("b@x", "", "Sun, 5 Jan 2025 10:00:00 +0000", "B"),
    ("c@x", "<a@x>", "Fri, 10 Jan 2025 10:00:00 +0000", "Re: A"),
    ("d@x", "", "Tue, 7 Jan 2025 10:00:00 +0000", "Re: B"),
    ("e@x", "<zz@x>", "Thu, 2 Jan 2025 10:00:00 +0000", "E"),
    ("f@x", "<zz@x>", "Fri, 3 Jan 2025 10:00:00 +0000", "F"),
    ("g@x", "", "Fri, 3 Jan 2025 10:00:00 +0000", "G"),
    ("h@x", "<a@x>", "Thu, 2 Jan 2025 10:00:00 +0000", "Re: A"),
];

/// The THREAD=REFS probes, in a mailbox of their own.
fn thread_commands() -> Vec<String> {
    let mut out = vec!["CREATE threads".to_string()];
    for (id, refs, date, subject) in THREADS {
        let mut m = format!("Message-ID: <{id}>\r\nDate: {date}\r\nSubject: {subject}\r\n");
        if !refs.is_empty() {
            m.push_str(&format!("References: {refs}\r\n"));
        }
        m.push_str("\r\nx\r\n");
        out.push(format!("APPEND threads {{{}+}}\r\n{m}", m.len()));
    }
    out.extend(
        [
            "SELECT threads",
            "THREAD REFERENCES UTF-8 ALL",
            "THREAD REFS UTF-8 ALL",
            "UID THREAD REFS UTF-8 ALL",
            "THREAD REFS UTF-8 1:6",
            "THREAD REFS UTF-8 5:7",
            "THREAD REFS US-ASCII SUBJECT a",
            "THREAD REFS FOO ALL",
            "THREAD REFSX UTF-8 ALL",
        ]
        .map(String::from),
    );
    out
}

/// Subjects for I18NLEVEL=1 (RFC 5255 §4: i;unicode-casemap, RFC 5051), and the searches
/// and sorts over them.
const I18N_SUBJECTS: &[&str] = &[
    "café crème",
    "Straße",
    "=?utf-8?q?gr=C3=BC=C3=9Fe?=",
    "ﬁle Ǆ",
    "CAFE",
    "Ｆｕｌｌ",
    "ΣΊΣΥΦΟΣ",
    "İstanbul ı",
];
const I18N_COMMANDS: &[&str] = &[
    "SELECT i18n",
    "SEARCH CHARSET UTF-8 SUBJECT cafe",
    "SEARCH CHARSET UTF-8 SUBJECT \"CAFÉ\"",
    "SEARCH CHARSET UTF-8 SUBJECT strasse",
    "SEARCH CHARSET UTF-8 SUBJECT \"straße\"",
    "SEARCH CHARSET UTF-8 SUBJECT file",
    "SEARCH CHARSET UTF-8 SUBJECT \"ǆ\"",
    "SEARCH CHARSET UTF-8 SUBJECT \"dž\"",
    "SEARCH CHARSET UTF-8 SUBJECT \"σίσυφος\"",
    "SEARCH CHARSET UTF-8 SUBJECT istanbul",
    "SEARCH CHARSET UTF-8 SUBJECT I",
    "SEARCH CHARSET UTF-8 SUBJECT full",
    "SEARCH CHARSET UTF-8 SUBJECT \"GRÜSSE\"",
    "SEARCH CHARSET UTF-8 SUBJECT \"grüße\"",
    "SEARCH CHARSET UTF-8 TEXT \"CRÈME\"",
    "SORT (SUBJECT) UTF-8 ALL",
    "SORT (REVERSE SUBJECT) UTF-8 ALL",
    "THREAD ORDEREDSUBJECT UTF-8 ALL",
];

/// The I18NLEVEL=1 probes, in a mailbox of their own.
fn i18n_commands() -> Vec<String> {
    let mut out = vec!["CREATE i18n".to_string()];
    for (i, subject) in I18N_SUBJECTS.iter().enumerate() {
        let m = format!(
            "Subject: {subject}\r\nDate: Wed, 1 Jan 2025 10:00:0{i} +0000\r\n\r\n{subject}\r\n"
        );
        out.push(format!("APPEND i18n {{{}+}}\r\n{m}", m.len()));
    }
    out.extend(I18N_COMMANDS.iter().map(|c| c.to_string()));
    out
}

/// CATENATE (RFC 4469) and URL-PARTIAL (RFC 5550) with relative URLs (Dovecot refuses
/// `imap://` ones, which mailstack takes for the user's own account), then the messages made.
const CATENATE: &[&str] = &[
    "CREATE cat",
    "APPEND cat {148+}\r\nSubject: src\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\none\r\n--b\r\nContent-Type: text/html\r\n\r\n<b>two</b>\r\n--b--\r\n",
    "SELECT cat",
    "APPEND cat CATENATE (URL \"/cat/;UID=1/;SECTION=HEADER\" TEXT {4+}\r\nbody)",
    "APPEND cat (\\Seen) CATENATE (URL \"/cat/;UID=1/;SECTION=1/;PARTIAL=1.2\" TEXT {2+}\r\nxx)",
    "APPEND cat CATENATE (URL \"/cat/;UID=1/;SECTION=1/;PARTIAL=100.2\" TEXT {2+}\r\nxx)",
    "APPEND cat CATENATE (URL \"/cat/;UID=1/;SECTION=2.MIME\" URL \"/cat/;UID=1/;SECTION=2/;PARTIAL=3\")",
    "APPEND cat CATENATE (URL \";UID=1\")",
    "APPEND cat CATENATE (URL \"/cat/;UID=1/;SECTION=9\" TEXT {1+}\r\nx)",
    "APPEND cat CATENATE (URL \"/cat;UIDVALIDITY=1/;UID=1\")",
    "APPEND cat CATENATE (URL \"/cat/;UID=99\")",
    "APPEND cat CATENATE (URL \"/nosuch/;UID=1\")",
    "APPEND cat CATENATE (URL \"imap://other@localhost/cat/;UID=1\")",
    "APPEND cat CATENATE ()",
    "APPEND cat CATENATE (FOO \"x\")",
    "APPEND cat (\\Flagged) CATENATE (TEXT {12+}\r\nSubject: a\r\n) CATENATE (URL \"/cat/;UID=1/;SECTION=1\")",
    "APPEND nosuch CATENATE (TEXT {12+}\r\nSubject: a\r\n)",
    "FETCH 2:* (FLAGS BODY.PEEK[])",
];

/// CONTEXT=SEARCH (RFC 5267 §4) on the mailbox CATENATE filled: kept searches, and the
/// updates this session's own changes cause (the tags are masked, see [`answer`]).
const CONTEXT: &[&str] = &[
    "SEARCH RETURN (UPDATE) UNSEEN",
    "UID SEARCH RETURN (UPDATE ALL COUNT) UNSEEN",
    "SEARCH RETURN (UPDATE MIN) SUBJECT a",
    "SEARCH RETURN (UPDATE SAVE) ALL",
    "SORT RETURN (UPDATE) (SUBJECT) UTF-8 ALL",
    "STORE 2 +FLAGS (\\Seen)",
    "STORE 2:3 -FLAGS (\\Seen)",
    "APPEND cat {12+}\r\nSubject: a\r\n",
    "STORE 1 +FLAGS.SILENT (\\Deleted)",
    "EXPUNGE",
    "CANCELUPDATE \"nosuch\"",
    "CANCELUPDATE",
    "SEARCH RETURN (UPDATE FOO) ALL",
    "SELECT INBOX",
];

/// `APPEND multi` with the messages as LITERAL+ literals, each with its flags.
fn multiappend(messages: &[(&str, &str)]) -> String {
    let mut cmd = String::from("APPEND multi");
    for (flags, m) in messages {
        cmd.push_str(&format!(" {flags}{{{}+}}\r\n{m}", m.len()));
    }
    cmd
}

/// The tagged line as compared: status, and the response code of an OK with the
/// UIDVALIDITY of APPENDUID masked.
fn tagged(t: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(t);
    let mut words = text.split(' ').skip(1);
    let status = words.next().unwrap_or_default().trim_end().to_string();
    if status != "OK" {
        return status.into_bytes();
    }
    let rest: Vec<&str> = words.collect();
    let rest = rest.join(" ");
    let code = match (rest.strip_prefix('['), rest.find(']')) {
        (Some(_), Some(end)) => rest[..=end].to_string(),
        _ => String::new(),
    };
    let code = match code.strip_prefix("[APPENDUID ") {
        Some(r) => format!("[APPENDUID v {}", r.split_once(' ').map_or("", |x| x.1)),
        None => code,
    };
    format!("{status} {code}").into_bytes()
}

fn answer(c: &mut Imap, cmd: &str) -> Vec<u8> {
    let (untagged, t) = c.run(cmd);
    let mut out = Vec::new();
    // A SELECT / EXAMINE is compared by its tagged line: the untagged ones carry each
    // server's UIDVALIDITY and texts.
    let switch = cmd.starts_with("SELECT ") || cmd.starts_with("EXAMINE ");
    // Dovecot 2.3 reads the line end after a MULTIAPPEND of CATENATE messages as a command
    // of its own and answers it `* BAD Error in IMAP tag`: its quirk, not compared.
    // Dovecot also repeats `* n RECENT` after an EXPUNGE, which RFC 3501 §7.3.2 does not
    // ask for and mailstack does not send: not compared either.
    let stray = |u: &Vec<u8>| {
        u.starts_with(b"* BAD Error in IMAP tag")
            || (cmd == "EXPUNGE" && u.ends_with(b" RECENT\r\n"))
    };
    for u in untagged.into_iter().filter(|u| !switch && !stray(u)) {
        let line = String::from_utf8_lossy(&u).into_owned();
        let line = match line.strip_prefix("* ESEARCH (TAG \"") {
            Some(rest) => format!(
                "* ESEARCH (TAG){}",
                rest.split_once("\")").map_or("", |x| x.1)
            ),
            None => line.replacen("* STATUS \"multi\" ", "* STATUS multi ", 1),
        };
        out.extend_from_slice(line.as_bytes());
    }
    out.extend_from_slice(b"=> ");
    out.extend_from_slice(&tagged(&t));
    out
}

/// Runs the commands on both servers: (compared, matching, differences).
pub(crate) fn compare(theirs: &mut Imap, ours: &mut Imap) -> (usize, usize, Vec<String>) {
    let mut commands: Vec<String> = ON_CORPUS.iter().map(|c| c.to_string()).collect();
    commands.extend([
        "CREATE multi".to_string(),
        multiappend(&[("(\\Seen) ", FIRST), ("(\\Flagged) ", SECOND)]),
        "STATUS multi (MESSAGES)".to_string(),
        // All or nothing: the third message is empty.
        multiappend(&[("", FIRST), ("", SECOND), ("", "")]),
        "STATUS multi (MESSAGES)".to_string(),
        multiappend(&[("", FIRST), ("(\\Seen \\Flagged) ", SECOND), ("", FIRST)]),
        "STATUS multi (MESSAGES UNSEEN)".to_string(),
        "APPEND nosuch {1+}\r\na {1+}\r\nb".to_string(),
    ]);
    commands.extend(preview_commands());
    commands.extend(thread_commands());
    commands.extend(i18n_commands());
    commands.extend(CATENATE.iter().map(|c| c.to_string()));
    commands.extend(CONTEXT.iter().map(|c| c.to_string()));
    let (mut compared, mut matching, mut report) = (0, 0, Vec::new());
    for cmd in &commands {
        let (a, b) = (answer(theirs, cmd), answer(ours, cmd));
        compared += 1;
        if a == b {
            matching += 1;
        } else {
            let shown = show(&cmd.as_bytes()[..cmd.len().min(60)]);
            report.push(format!("{shown}\n{}", diff(&a, &b)));
        }
    }
    (compared, matching, report)
}
