//! Rows of the result table, medians, and the Markdown written to `bench/results/latest.md`.

use std::fmt::Write as _;

/// Whether a bigger figure is better (throughput) or a smaller one (time, memory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub scenario: String,
    pub metric: String,
    pub mailstack: Option<f64>,
    pub peer: Option<f64>,
    pub peer_name: String,
    pub better: Better,
    /// docs/spec.md §9 target as an advantage factor (≥), if any.
    pub target: Option<f64>,
    pub note: String,
    /// The peer's figure is a time limit it did not finish within: the real value (and so the
    /// advantage) is at least what is shown.
    pub peer_capped: bool,
}

impl Row {
    /// How many times better mailstack is (>1: ahead, <1: behind).
    pub fn advantage(&self) -> Option<f64> {
        let (m, p) = (self.mailstack?, self.peer?);
        if m <= 0.0 || p <= 0.0 {
            return None;
        }
        Some(match self.better {
            Better::Higher => m / p,
            Better::Lower => p / m,
        })
    }
}

/// Median of the samples (mean of the two middle ones for an even count).
pub fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    Some(if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    })
}

/// The q-quantile (0..=1) of sorted samples.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

pub fn fmt_num(x: f64) -> String {
    if x >= 1000.0 {
        let s = format!("{x:.0}");
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else if x >= 1.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

/// The Markdown table of `rows`.
pub fn table(rows: &[Row]) -> String {
    let mut t = String::new();
    t.push_str(
        "| scenario | metric | mailstack | peer | peer value | advantage | target | note |\n",
    );
    t.push_str("|---|---|---:|---|---:|---:|---|---|\n");
    for r in rows {
        let f = |x: Option<f64>| x.map(fmt_num).unwrap_or_else(|| "—".into());
        let ge = if r.peer_capped { "≥ " } else { "" };
        let adv = r.advantage();
        let verdict = match (adv, r.target) {
            (Some(a), Some(t)) if a >= t => format!("≥{t}× ✔"),
            (Some(_), Some(t)) => format!("≥{t}× ✘"),
            (_, Some(t)) => format!("≥{t}×"),
            _ => String::new(),
        };
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {ge}{} | {} | {} | {} |",
            r.scenario,
            r.metric,
            f(r.mailstack),
            r.peer_name,
            f(r.peer),
            adv.map(|a| format!("{ge}{a:.2}×"))
                .unwrap_or_else(|| "—".into()),
            verdict,
            r.note
        );
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_advantage() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
        let mut r = Row {
            scenario: "s".into(),
            metric: "m".into(),
            mailstack: Some(10.0),
            peer: Some(40.0),
            peer_name: "p".into(),
            better: Better::Lower,
            target: Some(2.0),
            note: String::new(),
            peer_capped: true,
        };
        assert_eq!(r.advantage(), Some(4.0));
        let t = table(std::slice::from_ref(&r));
        assert!(t.contains("| ≥ 40.0 | ≥ 4.00× | ≥2× ✔ |"), "{t}");
        r.better = Better::Higher;
        assert_eq!(r.advantage(), Some(0.25));
        assert_eq!(fmt_num(12345.6), "12,346");
    }
}
