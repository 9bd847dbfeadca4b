//! Sampling the server during a soak: RSS, CPU, threads, descriptors and the data folder
//! from /proc, and the RSS verdict (growth after warm-up) with its table rows.

use std::path::{Path, PathBuf};
use std::time::Instant;

use stats::Stats;

use super::*;

/// One line of the sample table.
#[derive(Debug, Clone)]
pub(super) struct Sample {
    pub(super) t_s: f64,
    pub(super) rss_kib: u64,
    /// Server CPU use since the previous row, % of one core.
    pub(super) cpu_pct: f64,
    pub(super) fds: usize,
    pub(super) threads: u64,
    pub(super) ops: u64,
    pub(super) ops_per_s: f64,
    pub(super) errors: u64,
    pub(super) in_use: u64,
    pub(super) store_kib: u64,
}

pub(super) fn proc_field(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

pub(super) fn dir_kib(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total / 1024
}

/// utime + stime of a process in seconds (/proc/PID/stat fields 14 and 15, USER_HZ = 100).
pub(super) fn cpu_s(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|t| {
            // pid (comm) state ppid …: comm may hold spaces; count after the last ')'.
            let rest = t.rsplit_once(')')?.1.to_string();
            let f: Vec<u64> = rest
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|v| v.parse().ok())
                .collect();
            (f.len() == 2).then(|| (f[0] + f[1]) as f64 / 100.0)
        })
        .unwrap_or(0.0)
}

pub(super) struct Sampler<'a> {
    pub(super) pid: u32,
    pub(super) data: PathBuf,
    pub(super) stats: &'a Stats,
    pub(super) start: Instant,
    /// (t, ops, server CPU seconds) of the previous row.
    pub(super) last: (f64, u64, f64),
    pub(super) rows: Vec<Sample>,
    /// VmRSS every second: (t, KiB), for the verdict.
    pub(super) rss: Vec<(f64, u64)>,
}

impl Sampler<'_> {
    pub(super) fn tick(&mut self) {
        let t = self.start.elapsed().as_secs_f64();
        self.rss.push((t, proc_field(self.pid, "VmRSS:")));
    }

    pub(super) fn take(&mut self) -> Sample {
        let t_s = self.start.elapsed().as_secs_f64();
        let ops = self.stats.total();
        let cpu = cpu_s(self.pid);
        let dt = (t_s - self.last.0).max(1e-6);
        let s = Sample {
            t_s,
            rss_kib: proc_field(self.pid, "VmRSS:"),
            cpu_pct: (cpu - self.last.2) / dt * 100.0,
            fds: std::fs::read_dir(format!("/proc/{}/fd", self.pid))
                .map(|r| r.count())
                .unwrap_or(0),
            threads: proc_field(self.pid, "Threads:"),
            ops,
            ops_per_s: (ops - self.last.1) as f64 / dt,
            errors: self.stats.errors(),
            in_use: self.stats.races().0,
            store_kib: dir_kib(&self.data),
        };
        self.last = (t_s, ops, cpu);
        s
    }

    pub(super) fn record(&mut self) {
        let s = self.take();
        println!("{}", row(&s));
        self.rows.push(s);
    }
}

/// The RSS verdict (see the module docs).
#[derive(Debug, Clone, Copy)]
pub(super) struct RssVerdict {
    /// Median VmRSS over [20 %, 40 %] of the run.
    pub(super) warm_kib: u64,
    /// Median VmRSS over the last 20 % of the run.
    pub(super) end_kib: u64,
    pub(super) limit_kib: u64,
    /// Highest VmRSS after the start of the warm-up window.
    pub(super) peak_kib: u64,
    pub(super) flat: bool,
}

pub(super) fn median(mut v: Vec<u64>) -> Option<u64> {
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

pub(super) fn judge_rss(series: &[(f64, u64)], secs: f64) -> RssVerdict {
    let window = |from: f64, to: f64| -> Vec<u64> {
        series
            .iter()
            .filter(|(t, _)| *t >= from && *t <= to)
            .map(|&(_, k)| k)
            .collect()
    };
    let last = series.last().map(|&(_, k)| k).unwrap_or(0);
    let warm_kib = median(window(secs * WARMUP.0, secs * WARMUP.1)).unwrap_or(last);
    let end_kib = median(window(secs * END_WINDOW, secs + 1.0)).unwrap_or(last);
    let limit_kib = (warm_kib as f64 * RSS_FACTOR) as u64 + RSS_SLACK_KIB;
    RssVerdict {
        warm_kib,
        end_kib,
        limit_kib,
        peak_kib: window(secs * WARMUP.0, f64::MAX)
            .into_iter()
            .max()
            .unwrap_or(0),
        flat: end_kib <= limit_kib,
    }
}

pub(super) fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

pub(super) const HEADER: &str =
    "| t (s) | RSS (MiB) | CPU % | fds | threads | ops | ops/s | errors | IN-USE | store (MiB) |\n\
     |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

pub(super) fn row(s: &Sample) -> String {
    format!(
        "| {:.0} | {:.1} | {:.0} | {} | {} | {} | {:.0} | {} | {} | {:.1} |",
        s.t_s,
        mib(s.rss_kib),
        s.cpu_pct,
        s.fds,
        s.threads,
        s.ops,
        s.ops_per_s,
        s.errors,
        s.in_use,
        mib(s.store_kib)
    )
}
