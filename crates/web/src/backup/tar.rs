//! The archive of a multi-file export: tar in the POSIX.1-1988 `ustar` format, with a pax
//! extended header (POSIX.1-2001 `x` record `path=`) for a path over 100 bytes. GNU tar,
//! bsdtar and Python's tarfile read it. The reader takes back what the writer writes (and
//! plain ustar from elsewhere); it refuses absolute paths and `..`.

use std::io::{self, Read, Write};

const BLOCK: usize = 512;

/// Writes an archive to `out`.
pub struct TarWriter<W: Write> {
    out: W,
}

impl<W: Write> TarWriter<W> {
    pub fn new(out: W) -> Self {
        TarWriter { out }
    }

    /// A folder entry (`path` without the trailing `/`).
    pub fn folder(&mut self, path: &str, mtime: i64) -> io::Result<()> {
        self.header(&format!("{path}/"), 0, mtime, b'5')
    }

    /// A regular file.
    pub fn file(&mut self, path: &str, mtime: i64, data: &[u8]) -> io::Result<()> {
        self.header(path, data.len() as u64, mtime, b'0')?;
        self.out.write_all(data)?;
        self.pad(data.len())
    }

    /// The end-of-archive marker (two zero blocks); the writer back.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0; 2 * BLOCK])?;
        Ok(self.out)
    }

    fn pad(&mut self, len: usize) -> io::Result<()> {
        let rest = (BLOCK - len % BLOCK) % BLOCK;
        self.out.write_all(&[0; BLOCK][..rest])
    }

    fn header(&mut self, path: &str, size: u64, mtime: i64, kind: u8) -> io::Result<()> {
        if path.len() > 100 {
            // POSIX.1-2001 pax: a record "<length> path=<path>\n", the length counting itself.
            let body = format!(" path={path}\n");
            let mut len = body.len() + 1;
            while len.to_string().len() + body.len() != len {
                len += 1;
            }
            let record = format!("{len}{body}");
            self.header("PaxHeader", record.len() as u64, mtime, b'x')?;
            self.out.write_all(record.as_bytes())?;
            self.pad(record.len())?;
        }
        if size >= 1 << 33 {
            return Err(io::Error::other(
                "a file of 8 GiB or more does not fit in ustar",
            ));
        }
        let mut h = [0u8; BLOCK];
        let name = &path.as_bytes()[..path.len().min(100)];
        h[..name.len()].copy_from_slice(name);
        let mode = if kind == b'5' { "0000755" } else { "0000644" };
        octal(&mut h[100..108], mode);
        octal(&mut h[108..116], "0000000");
        octal(&mut h[116..124], "0000000");
        octal(&mut h[124..136], &format!("{size:011o}"));
        octal(
            &mut h[136..148],
            &format!("{:011o}", mtime.clamp(0, 0o77777777777)),
        );
        h[156] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].fill(b' ');
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        octal(&mut h[148..155], &format!("{sum:06o}"));
        self.out.write_all(&h)
    }
}

/// An octal field: the digits, then NUL.
fn octal(field: &mut [u8], digits: &str) {
    let n = digits.len().min(field.len() - 1);
    field[..n].copy_from_slice(&digits.as_bytes()[..n]);
    field[n] = 0;
}

/// One entry of an archive being read.
pub struct Entry<'a> {
    /// Relative, `/`-separated, without a trailing `/`.
    pub path: String,
    pub mtime: i64,
    pub folder: bool,
    /// The file's bytes (nothing for a folder).
    pub data: &'a mut dyn Read,
}

fn invalid(why: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why.into())
}

/// Reads an archive, calling `each` for every folder and file, in order.
pub fn read(r: &mut dyn Read, each: &mut dyn FnMut(Entry<'_>) -> io::Result<()>) -> io::Result<()> {
    let mut long_path: Option<String> = None;
    loop {
        let mut h = [0u8; BLOCK];
        if !fill(r, &mut h)? || h.iter().all(|b| *b == 0) {
            return Ok(());
        }
        let stored: u32 = number(&h[148..156])
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| invalid("not a tar archive"))?;
        let sum: u32 = h
            .iter()
            .enumerate()
            .map(|(i, b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u32::from(*b)
                }
            })
            .sum();
        if stored != sum {
            return Err(invalid("not a tar archive (header checksum)"));
        }
        let size = number(&h[124..136]).ok_or_else(|| invalid("tar: bad size"))?;
        let mtime = number(&h[136..148])
            .and_then(|t| i64::try_from(t).ok())
            .unwrap_or(0);
        let mut path = text(&h[..100]);
        if &h[257..262] == b"ustar" && h[345] != 0 {
            path = format!("{}/{path}", text(&h[345..500]));
        }
        let mut data = (&mut *r).take(size);
        match h[156] {
            b'x' => {
                let mut record = String::new();
                data.read_to_string(&mut record)?;
                long_path = record
                    .lines()
                    .find_map(|l| l.split_once(" path=").map(|(_, p)| p.to_string()));
            }
            kind @ (b'0' | 0 | b'5') => {
                let path = safe_path(&long_path.take().unwrap_or(path))?;
                each(Entry {
                    path,
                    mtime,
                    folder: kind == b'5',
                    data: &mut data,
                })?;
            }
            _ => long_path = None,
        }
        io::copy(&mut data, &mut io::sink())?;
        let rest = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
        io::copy(&mut (&mut *r).take(rest), &mut io::sink())?;
    }
}

/// A whole block, or `false` at the end of the input.
fn fill(r: &mut dyn Read, block: &mut [u8]) -> io::Result<bool> {
    let mut got = 0;
    while got < block.len() {
        match r.read(&mut block[got..])? {
            0 if got == 0 => return Ok(false),
            0 => return Err(invalid("tar: truncated header")),
            n => got += n,
        }
    }
    Ok(true)
}

fn number(field: &[u8]) -> Option<u64> {
    let t = text(field);
    let t = t.trim();
    if t.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(t, 8).ok()
}

fn text(field: &[u8]) -> String {
    let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// A relative path without `.`/`..` components or a trailing `/`.
fn safe_path(path: &str) -> io::Result<String> {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if path.starts_with('/') || parts.contains(&"..") || parts.is_empty() {
        return Err(invalid(format!("tar: refusing the path {path:?}")));
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (path, mtime, folder, data) of each entry.
    type Entries = Vec<(String, i64, bool, Vec<u8>)>;

    fn entries(archive: &[u8]) -> io::Result<Entries> {
        let mut out = Vec::new();
        read(&mut &archive[..], &mut |e| {
            let mut data = Vec::new();
            e.data.read_to_end(&mut data)?;
            out.push((e.path, e.mtime, e.folder, data));
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn what_is_written_is_read() {
        let long = format!("{}/cur/1.M1V1.mailstack:2,S", "Ä".repeat(80));
        let mut w = TarWriter::new(Vec::new());
        w.folder(".Sent/cur", 0).expect("write");
        w.file(".Sent/cur/a", 1_700_000_000, b"hello\n")
            .expect("write");
        w.file(&long, 5, &[7u8; 1000]).expect("write");
        w.file("empty", 0, b"").expect("write");
        let archive = w.finish().expect("write");
        assert_eq!(archive.len() % BLOCK, 0);
        let got = entries(&archive).expect("read");
        assert_eq!(got[0], (".Sent/cur".into(), 0, true, vec![]));
        assert_eq!(
            got[1],
            (
                ".Sent/cur/a".into(),
                1_700_000_000,
                false,
                b"hello\n".to_vec()
            )
        );
        assert_eq!(got[2], (long, 5, false, vec![7u8; 1000]));
        assert_eq!(got[3], ("empty".into(), 0, false, vec![]));
    }

    #[test]
    fn bad_archives_are_refused() {
        let mut w = TarWriter::new(Vec::new());
        w.file("../escape", 0, b"x").expect("write");
        let archive = w.finish().expect("write");
        assert!(entries(&archive)
            .unwrap_err()
            .to_string()
            .contains("refusing"));
        assert!(entries(b"From a@b Thu Jan  1 00:00:00 1970\n").is_err());
        let mut garbage = vec![b'x'; BLOCK];
        garbage.extend([0u8; BLOCK]);
        assert!(entries(&garbage)
            .unwrap_err()
            .to_string()
            .contains("not a tar"));
        assert_eq!(entries(b"").expect("empty input").len(), 0);
    }
}
