//! The files of `mailbox export|import` (docs/spec.md §7.8): the folder an export writes
//! (from the store offline, from the running server's tar archive live — the same
//! [`Folder`] either way, so the output is the same), and what an import reads from a path.
//! The formats themselves are `web::backup`'s.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use web::backup::{maildir, mbox, Format, Item, Sink};

/// A folder an export writes into, counting the messages of each mailbox as they go by.
pub struct Folder {
    root: PathBuf,
    format: Format,
    /// The mailbox of a one-mailbox export (at the root of the folder).
    single: Option<String>,
    /// Mailbox → messages written.
    pub counts: BTreeMap<String, usize>,
}

impl Folder {
    /// A folder that does not exist yet or is empty (so no earlier export's files mix in);
    /// made when the first file is written.
    pub fn new(root: &Path, format: Format, single: Option<String>) -> anyhow::Result<Folder> {
        if let Ok(mut entries) = fs::read_dir(root) {
            if entries.next().is_some() {
                bail!(
                    "{} is not empty: export into a new (or empty) folder",
                    root.display()
                );
            }
        } else if root.exists() {
            bail!("{} exists and is not a folder", root.display());
        }
        Ok(Folder {
            root: root.to_path_buf(),
            format,
            single,
            counts: BTreeMap::new(),
        })
    }

    /// The mailbox a path of this export belongs to.
    fn mailbox_of(&self, path: &str) -> Option<String> {
        match (self.format, &self.single) {
            (_, Some(name)) => Some(name.clone()),
            (Format::Mbox, None) => maildir::mailbox_of_mbox_path(path),
            (Format::Maildir, None) => match path.split('/').next() {
                Some(dir) if dir.starts_with('.') => maildir::mailbox_of_folder(dir),
                _ => Some("INBOX".into()),
            },
        }
    }

    /// Writes what a tar archive holds (a live export) into this folder.
    pub fn unpack(&mut self, archive: &mut dyn Read) -> anyhow::Result<()> {
        web::backup::tar::read(archive, &mut |e| {
            let done = if e.folder {
                self.folder(&e.path)
            } else {
                self.file(
                    &e.path,
                    e.mtime,
                    &mut |w| Ok(io::copy(e.data, w).map(drop)?),
                )
            };
            done.map_err(|e| io::Error::other(e.to_string()))
        })
        .context("cannot read the server's archive")
    }
}

impl Sink for Folder {
    fn folder(&mut self, path: &str) -> web::backup::Result<()> {
        fs::create_dir_all(self.root.join(path))?;
        if self.format == Format::Maildir && (path == "cur" || path.ends_with("/cur")) {
            if let Some(name) = self.mailbox_of(path) {
                self.counts.entry(name).or_insert(0);
            }
        }
        Ok(())
    }

    fn file(
        &mut self,
        path: &str,
        mtime: i64,
        fill: &mut dyn FnMut(&mut dyn Write) -> web::backup::Result<()>,
    ) -> web::backup::Result<()> {
        let target = self.root.join(path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut w = Counting::new(BufWriter::new(fs::File::create(&target)?));
        fill(&mut w)?;
        let file = w
            .inner
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        // Dovecot takes a maildir message's INTERNALDATE from its mtime.
        file.set_modified(system_time(mtime))?;
        let messages = match self.format {
            Format::Mbox => w.froms,
            Format::Maildir => usize::from(path.split('/').rev().nth(1) == Some("cur")),
        };
        if self.format == Format::Mbox || messages > 0 {
            if let Some(name) = self.mailbox_of(path) {
                *self.counts.entry(name).or_insert(0) += messages;
            }
        }
        Ok(())
    }
}

fn system_time(secs: i64) -> SystemTime {
    let magnitude = Duration::from_secs(secs.unsigned_abs());
    if secs >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

/// A writer that counts the messages of the mboxrd it passes on: lines starting with
/// `From ` (every other such line of a message is quoted, RFC 4155 mboxrd).
pub struct Counting<W> {
    pub inner: W,
    pub froms: usize,
    /// How much of `From ` the current line has matched from its start (`None`: no match).
    matched: Option<usize>,
}

impl<W: Write> Counting<W> {
    pub fn new(inner: W) -> Self {
        Counting {
            inner,
            froms: 0,
            matched: Some(0),
        }
    }
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(data)?;
        for &b in &data[..n] {
            self.matched = match self.matched {
                Some(k) if b == b"From "[k] && k == 4 => {
                    self.froms += 1;
                    None
                }
                Some(k) if b == b"From "[k] => Some(k + 1),
                _ => None,
            };
            if b == b'\n' {
                self.matched = Some(0);
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Where an import's messages come from.
#[derive(Debug)]
pub enum Source {
    Mbox(PathBuf),
    Maildir(PathBuf),
}

impl Source {
    pub fn path(&self) -> &Path {
        match self {
            Source::Mbox(p) | Source::Maildir(p) => p,
        }
    }
}

/// What `import PATH [--mailbox M]` reads, mailbox by mailbox: an mbox file (into M, default
/// INBOX), a maildir or Maildir++ tree (root into M or INBOX, `.X.Y` into `[M/]X/Y`), or a
/// folder of mbox files (`X.sbd/Y` into `[M/]X/Y`). Every mbox file is checked before
/// anything is imported.
pub fn plan(path: &Path, into: Option<&str>) -> anyhow::Result<Vec<(String, Source)>> {
    let under = |name: String| match into {
        Some(m) => format!("{m}/{name}"),
        None => name,
    };
    let meta = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_file() {
        check_mbox(path)?;
        let name = into.unwrap_or("INBOX").to_string();
        return Ok(vec![(name, Source::Mbox(path.to_path_buf()))]);
    }
    let mut out = Vec::new();
    if is_maildir(path) {
        out.push((
            into.unwrap_or("INBOX").to_string(),
            Source::Maildir(path.into()),
        ));
        for entry in sorted(path)? {
            let name = file_name(&entry);
            if name.starts_with('.') && is_maildir(&entry) {
                let Some(mailbox) = maildir::mailbox_of_folder(&name) else {
                    bail!("{}: not a Maildir++ folder name", entry.display());
                };
                out.push((under(mailbox), Source::Maildir(entry)));
            }
        }
        return Ok(out);
    }
    mbox_tree(path, path, &mut out)?;
    if out.is_empty() {
        bail!("{} holds no mbox file and is no maildir", path.display());
    }
    Ok(out.into_iter().map(|(m, s)| (under(m), s)).collect())
}

/// The mbox files below `dir` (hidden files and Thunderbird's `.msf` summaries left out).
fn mbox_tree(root: &Path, dir: &Path, out: &mut Vec<(String, Source)>) -> anyhow::Result<()> {
    for entry in sorted(dir)? {
        let name = file_name(&entry);
        if name.starts_with('.') || name.ends_with(".msf") {
            continue;
        }
        if entry.is_dir() {
            mbox_tree(root, &entry, out)?;
            continue;
        }
        check_mbox(&entry)?;
        let rel = entry.strip_prefix(root).unwrap_or(&entry).to_string_lossy();
        let Some(mailbox) = maildir::mailbox_of_mbox_path(&rel) else {
            bail!("{}: not a mailbox file name", entry.display());
        };
        out.push((mailbox, Source::Mbox(entry)));
    }
    Ok(())
}

fn sorted(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<io::Result<_>>()?;
    entries.sort();
    Ok(entries)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() || dir.join("new").is_dir()
}

/// An empty file, or one that starts with a From_ line (RFC 4155 §2).
fn check_mbox(path: &Path) -> anyhow::Result<()> {
    let mut head = Vec::with_capacity(5);
    fs::File::open(path)
        .and_then(|f| f.take(5).read_to_end(&mut head))
        .with_context(|| format!("cannot read {}", path.display()))?;
    if !head.is_empty() && head != b"From " {
        bail!(
            "{}: not an mbox file (it does not start with a \"From \" line, RFC 4155 §2)",
            path.display()
        );
    }
    Ok(())
}

/// The messages of one source, in order.
pub fn load(source: &Source) -> anyhow::Result<Vec<Item>> {
    match source {
        Source::Mbox(path) => {
            let bytes =
                fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            mbox::parse(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
        Source::Maildir(dir) => load_maildir(dir),
    }
}

/// A maildir's messages (`cur/` and `new/`), ordered by the UID in their names (ours), then
/// by date and name; flags and keywords from the names and `dovecot-keywords`, the date from
/// the name or else the mtime.
fn load_maildir(dir: &Path) -> anyhow::Result<Vec<Item>> {
    let keywords = fs::read_to_string(dir.join("dovecot-keywords"))
        .map(|t| maildir::Keywords::parse(&t))
        .unwrap_or_default();
    let mut found = Vec::new();
    for sub in ["cur", "new"] {
        let Ok(files) = sorted(&dir.join(sub)) else {
            continue;
        };
        for file in files {
            let name = file_name(&file);
            if name.starts_with('.') || !file.is_file() {
                continue;
            }
            let meta = maildir::parse_file_name(&name, &keywords);
            let raw = fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let mut bytes = web::backup::to_crlf(&raw);
            // Flag headers are metadata in every format (web::backup's module doc).
            mbox::take_flag_headers(&mut bytes);
            let mtime = fs::metadata(&file)?
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .and_then(|d| i64::try_from(d.as_secs()).ok());
            let item = Item {
                bytes,
                flags: meta.flags,
                internaldate: meta.time.or(mtime),
                recent: sub == "new",
            };
            found.push((
                (meta.uid.unwrap_or(u64::MAX), item.internaldate, name),
                item,
            ));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(found.into_iter().map(|(_, item)| item).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_sees_every_from_line() {
        let mut c = Counting::new(Vec::new());
        for chunk in [
            &b"From a\nx\n>From b\nFr"[..],
            b"om c\nFrom",
            b" d\nFrozen\n",
        ] {
            c.write_all(chunk).expect("write to a Vec");
        }
        assert_eq!(c.froms, 3);
        assert_eq!(c.inner.len(), 38);
    }

    #[test]
    fn plans_of_paths() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path();
        fs::create_dir_all(root.join("tree/Archive.sbd")).expect("mkdir");
        fs::write(
            root.join("tree/INBOX"),
            b"From a Thu Jan  1 00:00:00 1970\n\nx\n\n",
        )
        .expect("write");
        fs::write(root.join("tree/Archive"), b"").expect("write");
        fs::write(root.join("tree/Archive.msf"), b"junk").expect("write");
        fs::write(root.join("tree/Archive.sbd/2024"), b"").expect("write");
        let names = |p: Vec<(String, Source)>| p.into_iter().map(|(m, _)| m).collect::<Vec<_>>();
        assert_eq!(
            names(plan(&root.join("tree"), None).expect("plan")),
            ["Archive", "Archive/2024", "INBOX"]
        );
        assert_eq!(
            names(plan(&root.join("tree"), Some("Old")).expect("plan")),
            ["Old/Archive", "Old/Archive/2024", "Old/INBOX"]
        );
        assert_eq!(
            names(plan(&root.join("tree/INBOX"), None).expect("plan")),
            ["INBOX"]
        );
        fs::write(root.join("tree/notes.txt"), b"hello").expect("write");
        let e = plan(&root.join("tree"), None).unwrap_err().to_string();
        assert!(e.contains("notes.txt: not an mbox file"), "{e}");
        for d in [
            "md/cur",
            "md/new",
            "md/.Sent/cur",
            "md/.Archive.2024/new",
            "md/.junk",
        ] {
            fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        assert_eq!(
            names(plan(&root.join("md"), None).expect("plan")),
            ["INBOX", "Archive/2024", "Sent"]
        );
        assert!(plan(&root.join("nothing"), None).is_err());
    }
}
