//! Message bytes in append-only segment files, outside sled.
//!
//! sled 0.34 writes every page over ~128 KiB into a file of its own under `db/blobs/` and does
//! not reliably delete them once the page is rewritten: three rounds of "deliver 1,000 ×
//! 100 KiB, expunge all" left 224 MiB on disk for an empty mailbox, and the files survive a
//! restart (docs/architecture.md §5, "Blob store"). So message bytes live here and sled keeps
//! only small records (a blob's [`Loc`] in the `blob_locs` tree).
//!
//! # Format
//! `segments/NNNNNNNN.seg`, appended to and never rewritten. Each record is a 24-byte header —
//! `MSB1`, blob id (u64 BE), length (u64 BE), CRC-32 of the bytes (u32 BE) — then the bytes.
//! A [`Loc`] points at the bytes. The process writes to one segment at a time and starts a
//! new one at every open and when the current one passes [`SEGMENT_SIZE`].
//!
//! # Durability
//! Bytes are written (to the page cache) before the transaction that records their [`Loc`];
//! the group commit fdatasyncs every segment written since the last flush, and the folder
//! when a segment was created, before it flushes sled. A power loss can still leave sled's
//! record of an unacknowledged write on disk without its bytes: at open, the records the last
//! segment holds are verified (header and CRC) and messages whose bytes are not intact are
//! removed (they were never acknowledged).
//!
//! # Space
//! Deleting a message drops its [`Loc`]; its bytes become dead space. The compactor
//! (`compact.rs`) copies the live records of a sealed segment that is mostly dead into the
//! current one and deletes the old file, so the folder stays within about twice the live
//! bytes plus one segment.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::model::BlobId;
use crate::{Error, Result};

/// A segment is sealed (no more appends) once it is this large.
pub const SEGMENT_SIZE: u64 = 32 * 1024 * 1024;
const MAGIC: &[u8; 4] = b"MSB1";
/// Record header: magic, blob id, length, CRC-32.
const HEADER_LEN: usize = 24;
const HEADER: u64 = HEADER_LEN as u64;

/// Where a blob's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Loc {
    pub seg: u32,
    /// Offset of the bytes (after the record header).
    pub off: u64,
    pub len: u64,
}

pub(crate) struct Segments {
    dir: PathBuf,
    state: Mutex<State>,
}

struct State {
    /// The segment appended to.
    current: u32,
    current_len: u64,
    /// Open files by segment number (the current one included).
    files: HashMap<u32, Arc<File>>,
    /// Files written since the last sync.
    unsynced: HashMap<u32, Arc<File>>,
    /// A segment file was created or removed since the last sync (sync the folder too).
    dir_dirty: bool,
    /// Puts whose transaction has not finished yet, by segment: the compactor must not take
    /// those segments (their records' locations are not recorded yet).
    inflight: std::collections::BTreeMap<u32, usize>,
}

/// Held from [`Segments::put`] until the transaction that records the location has committed
/// or failed; dropping it lets the compactor consider the segment.
pub(crate) struct PutGuard<'a> {
    segments: &'a Segments,
    seg: u32,
}

impl Drop for PutGuard<'_> {
    fn drop(&mut self) {
        let mut st = crate::lock(&self.segments.state);
        if let Some(n) = st.inflight.get_mut(&self.seg) {
            *n -= 1;
            if *n == 0 {
                st.inflight.remove(&self.seg);
            }
        }
    }
}

fn name(seg: u32) -> String {
    format!("{seg:08}.seg")
}

impl Segments {
    /// Opens the folder (creating it) and starts a new segment after the last one. Returns
    /// the store and the number of the last segment of the previous run, if any (the one to
    /// verify).
    pub(crate) fn open(dir: &Path) -> Result<(Segments, Option<u32>)> {
        std::fs::create_dir_all(dir)?;
        let last = Self::list(dir)?.into_iter().max();
        let current = last.map_or(1, |l| l + 1);
        let file = Arc::new(
            OpenOptions::new()
                .create(true)
                .truncate(true)
                .read(true)
                .write(true)
                .open(dir.join(name(current)))?,
        );
        let mut files = HashMap::new();
        files.insert(current, file.clone());
        let mut unsynced = HashMap::new();
        unsynced.insert(current, file);
        Ok((
            Segments {
                dir: dir.to_path_buf(),
                state: Mutex::new(State {
                    current,
                    current_len: 0,
                    files,
                    unsynced,
                    dir_dirty: true,
                    inflight: Default::default(),
                }),
            },
            last,
        ))
    }

    /// Segment numbers present in the folder.
    pub(crate) fn list(dir: &Path) -> Result<Vec<u32>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir)? {
            let n = e?.file_name();
            let n = n.to_string_lossy();
            if let Some(num) = n.strip_suffix(".seg").and_then(|s| s.parse().ok()) {
                out.push(num);
            }
        }
        Ok(out)
    }

    /// The segment being appended to (never compacted).
    #[cfg(test)]
    pub(crate) fn current(&self) -> u32 {
        crate::lock(&self.state).current
    }

    /// The lowest segment the compactor may not touch: the current one, or one with a put
    /// whose location is not committed yet.
    pub(crate) fn busy_from(&self) -> u32 {
        let st = crate::lock(&self.state);
        st.inflight
            .keys()
            .next()
            .copied()
            .unwrap_or(st.current)
            .min(st.current)
    }

    /// Appends a blob; the bytes are in the page cache when this returns, durable after the
    /// next [`Segments::sync`]. Keep the guard until the location is committed (or not).
    pub(crate) fn put(&self, id: BlobId, bytes: &[u8]) -> Result<(Loc, PutGuard<'_>)> {
        let len = bytes.len() as u64;
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(MAGIC);
        header[4..12].copy_from_slice(&id.to_be_bytes());
        header[12..20].copy_from_slice(&len.to_be_bytes());
        header[20..24].copy_from_slice(&crc32fast::hash(bytes).to_be_bytes());
        let mut st = crate::lock(&self.state);
        if st.current_len > 0 && st.current_len + HEADER + len > SEGMENT_SIZE {
            self.rotate(&mut st)?;
        }
        let file = st
            .files
            .get(&st.current)
            .cloned()
            .ok_or_else(|| Error::Corrupt("current segment not open".into()))?;
        let at = st.current_len;
        file.write_all_at(&header, at)?;
        file.write_all_at(bytes, at + HEADER)?;
        st.current_len = at + HEADER + len;
        let seg = st.current;
        st.unsynced.insert(seg, file);
        *st.inflight.entry(seg).or_insert(0) += 1;
        Ok((
            Loc {
                seg,
                off: at + HEADER,
                len,
            },
            PutGuard {
                segments: self,
                seg,
            },
        ))
    }

    /// Seals the current segment and starts the next one.
    fn rotate(&self, st: &mut State) -> Result<()> {
        let next = st.current + 1;
        let file = Arc::new(
            OpenOptions::new()
                .create(true)
                .truncate(true)
                .read(true)
                .write(true)
                .open(self.dir.join(name(next)))?,
        );
        st.files.insert(next, file.clone());
        st.unsynced.insert(next, file);
        st.current = next;
        st.current_len = 0;
        st.dir_dirty = true;
        Ok(())
    }

    /// fdatasyncs every segment written since the last call, then the folder if segments
    /// were created or removed. Called by the group commit before it flushes sled.
    pub(crate) fn sync(&self) -> std::io::Result<()> {
        let (files, dir_dirty) = {
            let mut st = crate::lock(&self.state);
            let files: Vec<(u32, Arc<File>)> = st.unsynced.drain().collect();
            (files, std::mem::take(&mut st.dir_dirty))
        };
        let r = (|| {
            for (_, f) in &files {
                f.sync_data()?;
            }
            if dir_dirty {
                File::open(&self.dir)?.sync_all()?;
            }
            Ok(())
        })();
        if r.is_err() {
            // Try again at the next sync (the caller reports the failure).
            let mut st = crate::lock(&self.state);
            st.dir_dirty |= dir_dirty;
            st.unsynced.extend(files);
        }
        r
    }

    fn file(&self, seg: u32) -> std::io::Result<Arc<File>> {
        let mut st = crate::lock(&self.state);
        if let Some(f) = st.files.get(&seg) {
            return Ok(f.clone());
        }
        let f = Arc::new(File::open(self.dir.join(name(seg)))?);
        st.files.insert(seg, f.clone());
        Ok(f)
    }

    /// `len` bytes from `start` within the blob at `loc` (fewer at its end).
    pub(crate) fn read(&self, loc: Loc, start: u64, len: u64) -> std::io::Result<Vec<u8>> {
        let start = start.min(loc.len);
        let len = len.min(loc.len - start);
        let mut buf = vec![0u8; usize::try_from(len).map_err(std::io::Error::other)?];
        self.file(loc.seg)?
            .read_exact_at(&mut buf, loc.off + start)?;
        Ok(buf)
    }

    /// Whether the record at `loc` is intact: its header names `id` and its CRC matches.
    pub(crate) fn verify(&self, id: BlobId, loc: Loc) -> bool {
        let Some(hstart) = loc.off.checked_sub(HEADER) else {
            return false;
        };
        let Ok(f) = self.file(loc.seg) else {
            return false;
        };
        let mut h = [0u8; HEADER_LEN];
        if f.read_exact_at(&mut h, hstart).is_err() {
            return false;
        }
        let ok_header =
            &h[..4] == MAGIC && h[4..12] == id.to_be_bytes() && h[12..20] == loc.len.to_be_bytes();
        if !ok_header {
            return false;
        }
        let crc = u32::from_be_bytes([h[20], h[21], h[22], h[23]]);
        let Ok(len) = usize::try_from(loc.len) else {
            return false;
        };
        let mut bytes = vec![0u8; len];
        f.read_exact_at(&mut bytes, loc.off).is_ok() && crc32fast::hash(&bytes) == crc
    }

    /// Every record of a sealed segment, in file order: (blob id, loc). Stops at the first
    /// damaged header (the rest of the file is unreachable garbage).
    pub(crate) fn records(&self, seg: u32) -> std::io::Result<Vec<(BlobId, Loc)>> {
        let f = self.file(seg)?;
        let size = f.metadata()?.len();
        let mut out = Vec::new();
        let mut at = 0u64;
        let mut h = [0u8; HEADER_LEN];
        while at + HEADER <= size {
            f.read_exact_at(&mut h, at)?;
            if &h[..4] != MAGIC {
                break;
            }
            let mut id = [0u8; 8];
            id.copy_from_slice(&h[4..12]);
            let mut len = [0u8; 8];
            len.copy_from_slice(&h[12..20]);
            let len = u64::from_be_bytes(len);
            if at + HEADER + len > size {
                break;
            }
            out.push((
                u64::from_be_bytes(id),
                Loc {
                    seg,
                    off: at + HEADER,
                    len,
                },
            ));
            at += HEADER + len;
        }
        Ok(out)
    }

    /// Size of every segment file: (number, bytes).
    pub(crate) fn sizes(&self) -> Result<Vec<(u32, u64)>> {
        let mut out = Vec::new();
        for seg in Self::list(&self.dir)? {
            match std::fs::metadata(self.dir.join(name(seg))) {
                Ok(m) => out.push((seg, m.len())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(out)
    }

    /// Deletes a sealed segment whose records are all dead or moved. Readers that still hold
    /// the open file keep reading it (the inode lives until they close it).
    pub(crate) fn remove(&self, seg: u32) -> Result<()> {
        let mut st = crate::lock(&self.state);
        if seg >= st.current || st.inflight.contains_key(&seg) {
            return Ok(());
        }
        st.files.remove(&seg);
        st.unsynced.remove(&seg);
        match std::fs::remove_file(self.dir.join(name(seg))) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        st.dir_dirty = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_read_verify_rotate_and_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (s, last) = Segments::open(dir.path()).expect("open");
        assert_eq!(last, None);
        let (a, g) = s.put(7, b"hello world").expect("put");
        assert_eq!(s.busy_from(), a.seg, "in flight");
        drop(g);
        assert_eq!(s.read(a, 0, 100).expect("read"), b"hello world");
        assert_eq!(s.read(a, 6, 3).expect("range"), b"wor");
        assert_eq!(s.read(a, 20, 3).expect("past end"), b"");
        assert!(s.verify(7, a));
        assert!(!s.verify(8, a), "another blob's id");
        // A blob larger than the segment size starts a new segment after a non-empty one.
        let big = vec![1u8; usize::try_from(SEGMENT_SIZE).expect("64-bit")];
        let (b, _) = s.put(9, &big).expect("big");
        assert_eq!(b.seg, a.seg + 1);
        let (c, _) = s.put(10, b"after").expect("after");
        assert_eq!(c.seg, b.seg + 1);
        s.sync().expect("sync");
        assert_eq!(
            s.records(a.seg).expect("records"),
            vec![(7, a)],
            "the sealed segment's records"
        );
        drop(s);
        let (s, last) = Segments::open(dir.path()).expect("reopen");
        assert_eq!(last, Some(c.seg));
        assert_eq!(s.current(), c.seg + 1);
        assert_eq!(s.read(c, 0, 5).expect("read"), b"after");
        s.remove(a.seg).expect("remove");
        assert!(s.read(a, 0, 1).is_err());
        // A torn record fails verification.
        let f = OpenOptions::new()
            .write(true)
            .open(dir.path().join(name(c.seg)))
            .expect("open");
        f.write_all_at(b"X", c.off).expect("damage");
        let (s, _) = Segments::open(dir.path()).expect("reopen");
        assert!(!s.verify(10, c));
    }
}
