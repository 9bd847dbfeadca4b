//! Maildir (maildir(5), D. J. Bernstein's "Using maildir format"), Maildir++ folders (Courier)
//! and Dovecot's keyword file, plus the file names of mailboxes in an mbox tree.
//!
//! - A message is a file in `cur/` named `<INTERNALDATE>.M<uid>V<uidvalidity>.mailstack,
//!   S=<file size>,W=<RFC822.SIZE>:2,<flags>`; its mtime is the INTERNALDATE too (Dovecot
//!   reads the date from there). Import takes the date from the name, else the mtime, and
//!   orders the messages by the UID in the name (files without one after, by name).
//! - Info flags after `:2,` in ASCII order: `D` \Draft, `F` \Flagged, `R` \Answered (replied),
//!   `S` \Seen, `T` \Deleted (trashed), then keywords as the letters `a`–`z` that
//!   `dovecot-keywords` (lines `<index> <keyword>`) names — at most 26 per folder, as in
//!   Dovecot; export drops further keywords and says how many.
//! - Maildir++: INBOX at the root, every other mailbox in `.<levels joined by .>`
//!   (`.Sent`, `.Archive.2024`) holding an empty `maildirfolder` file.
//! - mbox tree: one file per mailbox, a mailbox's children in `<name>.sbd/` (as Thunderbird
//!   keeps its Local Folders): `Archive`, `Archive.sbd/2024`.
//! - In folder and file names a level's `%` and `.` are written `%25` and `%2E`, so a name
//!   never holds a separator, `.` or `..`; names are UTF-8 (Dovecot's `UTF-8` layout option).

use store::{Flags, MessageMeta, UidValidity};

/// The file name of a message in `cur/`.
pub fn file_name(
    m: &MessageMeta,
    uidvalidity: UidValidity,
    file_size: usize,
    keywords: &Keywords,
) -> String {
    format!(
        "{}.M{}V{}.mailstack,S={file_size},W={}:2,{}",
        m.internaldate,
        m.uid,
        uidvalidity,
        m.size,
        info(&m.flags, keywords)
    )
}

/// maildir(5) info flags: draft, flagged, replied, seen, trashed.
const INFO: [(u8, char); 5] = [
    (Flags::DRAFT, 'D'),
    (Flags::FLAGGED, 'F'),
    (Flags::ANSWERED, 'R'),
    (Flags::SEEN, 'S'),
    (Flags::DELETED, 'T'),
];

/// maildir(5) info flags of `flags`, in ASCII order as the format requires.
fn info(flags: &Flags, keywords: &Keywords) -> String {
    let mut out: Vec<char> = (INFO.iter())
        .filter(|(bit, _)| flags.has(*bit))
        .map(|(_, c)| *c)
        .collect();
    out.extend(flags.keywords.iter().filter_map(|k| keywords.letter(k)));
    out.sort_unstable();
    out.dedup();
    out.into_iter().collect()
}

/// What a message's file name says.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FileName {
    /// The leading number: the INTERNALDATE (ours), or the delivery time (any writer).
    pub time: Option<i64>,
    /// The UID this exporter wrote into the name.
    pub uid: Option<u64>,
    pub flags: Flags,
}

/// Reads a file name of `cur/` or `new/` (a name without `:2,` has no flags).
pub fn parse_file_name(name: &str, keywords: &Keywords) -> FileName {
    let (base, info) = name.rsplit_once(":2,").unwrap_or((name, ""));
    let mut parts = base.split('.');
    let time = parts.next().and_then(|t| t.parse().ok());
    let uid = parts
        .next()
        .and_then(|u| u.strip_prefix('M'))
        .and_then(|u| u.split_once('V'))
        .and_then(|(uid, v)| {
            v.bytes()
                .all(|b| b.is_ascii_digit())
                .then_some(uid)?
                .parse()
                .ok()
        });
    let mut flags = Flags::default();
    for c in info.chars() {
        if let Some((bit, _)) = INFO.iter().find(|(_, l)| *l == c) {
            flags.system |= bit;
        } else if let Some(k) = keywords.name(c) {
            flags.insert(k);
        }
    }
    FileName { time, uid, flags }
}

/// Letters `a`–`z` are 26 keywords.
const MAX_KEYWORDS: usize = 26;

/// The keywords of one maildir folder: index (letter) → name (Dovecot's `dovecot-keywords`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Keywords {
    names: Vec<String>,
}

impl Keywords {
    /// The first 26 distinct keywords of `flags`, and how many others there were.
    pub fn of<'a>(flags: impl Iterator<Item = &'a Flags>) -> (Keywords, usize) {
        let mut k = Keywords::default();
        let mut dropped: Vec<&str> = Vec::new();
        for name in flags.flat_map(|f| f.keywords.iter()) {
            if k.letter(name).is_some() || dropped.iter().any(|d| d.eq_ignore_ascii_case(name)) {
                continue;
            }
            if k.names.len() < MAX_KEYWORDS {
                k.names.push(name.clone());
            } else {
                dropped.push(name);
            }
        }
        (k, dropped.len())
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    fn letter(&self, name: &str) -> Option<char> {
        let i = self
            .names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(name))?;
        Some(char::from(b'a' + u8::try_from(i).ok()?))
    }

    fn name(&self, letter: char) -> Option<&str> {
        let i = (letter as usize).checked_sub('a' as usize)?;
        self.names.get(i).map(String::as_str)
    }

    /// The `dovecot-keywords` file.
    pub fn render(&self) -> String {
        (self.names.iter().enumerate())
            .map(|(i, n)| format!("{i} {n}\n"))
            .collect()
    }

    /// Reads a `dovecot-keywords` file; lines that are not `<0–25> <keyword>` are ignored.
    pub fn parse(text: &str) -> Keywords {
        let mut names = vec![String::new(); MAX_KEYWORDS];
        for line in text.lines() {
            let Some((i, name)) = line.split_once(' ') else {
                continue;
            };
            if let Some(slot) = i.parse::<usize>().ok().and_then(|i| names.get_mut(i)) {
                *slot = name.trim().to_string();
            }
        }
        while names.last().is_some_and(String::is_empty) {
            names.pop();
        }
        Keywords { names }
    }
}

/// The Maildir++ folder of a mailbox: `""` for INBOX, `.Sent`, `.Archive.2024`.
pub fn folder_of(mailbox: &str) -> String {
    if mailbox == "INBOX" {
        return String::new();
    }
    let levels: Vec<String> = mailbox.split('/').map(encode_level).collect();
    format!(".{}", levels.join("."))
}

/// The mailbox of a Maildir++ folder name (`.Archive.2024` → `Archive/2024`); `None` for a
/// name that is not a folder (no leading `.`, an empty level).
pub fn mailbox_of_folder(dir: &str) -> Option<String> {
    let levels: Vec<String> = dir
        .strip_prefix('.')?
        .split('.')
        .map(decode_level)
        .collect::<Option<_>>()?;
    Some(levels.join("/"))
}

/// The path of a mailbox's file in an mbox tree: `Sent`, `Archive.sbd/2024`.
pub fn mbox_path(mailbox: &str) -> String {
    let levels: Vec<String> = mailbox.split('/').map(encode_level).collect();
    let (last, parents) = levels.split_last().map_or(("", &[][..]), |(l, p)| (l, p));
    let mut path: String = parents.iter().map(|p| format!("{p}.sbd/")).collect();
    path.push_str(last);
    path
}

/// The mailbox of a file in an mbox tree, from its path relative to the tree's root
/// (`Archive.sbd/2024` → `Archive/2024`; a folder without `.sbd` counts as a level too).
pub fn mailbox_of_mbox_path(path: &str) -> Option<String> {
    let levels: Vec<String> = path
        .split('/')
        .map(|l| decode_level(l.strip_suffix(".sbd").unwrap_or(l)))
        .collect::<Option<_>>()?;
    Some(levels.join("/"))
}

fn encode_level(level: &str) -> String {
    level.replace('%', "%25").replace('.', "%2E")
}

/// `%XX` escapes decoded; `None` for an empty level.
fn decode_level(level: &str) -> Option<String> {
    if level.is_empty() {
        return None;
    }
    let b = level.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::{ModSeq, Uid};

    #[test]
    fn folder_and_file_names() {
        for (name, folder, file) in [
            ("INBOX", "", "INBOX"),
            ("Sent", ".Sent", "Sent"),
            ("Archive/2024", ".Archive.2024", "Archive.sbd/2024"),
            (
                "Mr. 100%/..",
                ".Mr%2E 100%25.%2E%2E",
                "Mr%2E 100%25.sbd/%2E%2E",
            ),
            ("Grüße/ü", ".Grüße.ü", "Grüße.sbd/ü"),
        ] {
            assert_eq!(folder_of(name), folder);
            assert_eq!(mbox_path(name), file);
            if name != "INBOX" {
                assert_eq!(mailbox_of_folder(folder).as_deref(), Some(name));
            }
            assert_eq!(mailbox_of_mbox_path(file).as_deref(), Some(name));
        }
        assert_eq!(mailbox_of_folder("cur"), None);
        assert_eq!(mailbox_of_folder(".a..b"), None);
        assert_eq!(
            mailbox_of_mbox_path("Archive/2024").as_deref(),
            Some("Archive/2024")
        );
        assert_eq!(mailbox_of_mbox_path("bad%zz").as_deref(), Some("bad%zz"));
    }

    #[test]
    fn flags_and_keywords_in_names() {
        let mut flags = Flags::from_names(["\\Seen", "\\Deleted", "\\Draft", "Work", "$Label1"]);
        let (kw, dropped) = Keywords::of([&flags].into_iter());
        assert_eq!((kw.render().as_str(), dropped), ("0 Work\n1 $Label1\n", 0));
        let m = MessageMeta {
            uid: Uid::new(7),
            blob: 1,
            flags: flags.clone(),
            internaldate: 1_700_000_000,
            tz_minutes: 0,
            size: 120,
            modseq: ModSeq::new(1),
            saved: 1_700_000_000,
        };
        let name = file_name(&m, UidValidity::new(42), 115, &kw);
        assert_eq!(name, "1700000000.M7V42.mailstack,S=115,W=120:2,DSTab");
        let read = parse_file_name(&name, &Keywords::parse(&kw.render()));
        assert_eq!((read.time, read.uid), (Some(1_700_000_000), Some(7)));
        assert_eq!(read.flags, flags);
        // Someone else's name: no UID, flags R and F, an unknown letter ignored.
        let other = parse_file_name("1234567890.M1P2.host,S=10:2,FRz", &kw);
        assert_eq!((other.time, other.uid), (Some(1_234_567_890), None));
        assert_eq!(other.flags.names(), ["\\Answered", "\\Flagged"]);
        assert_eq!(parse_file_name("new-file", &kw), FileName::default());
        // 27 keywords: one cannot get a letter.
        flags.keywords = (0..27).map(|i| format!("k{i}")).collect();
        let (kw, dropped) = Keywords::of([&flags].into_iter());
        assert_eq!((kw.names.len(), dropped), (26, 1));
        assert_eq!(
            Keywords::parse("25 z\nbad line\n99 x\n").name('z'),
            Some("z")
        );
    }
}
