//! The stress run's report: a summary on stdout, the Markdown file (`--out`), and the section
//! it keeps in `bench/results/latest.md` (`--latest`) between two markers, with the same row
//! format as the other scenarios (mailstack ÷ Dovecot commands/s, target ≥ 5×).

use std::fmt::Write as _;

use super::errors::Kind;
use super::runner::{Config, Outcome};
use crate::report::{table, Better, Row};

pub const BEGIN: &str = "<!-- stress:begin -->";
pub const END: &str = "<!-- stress:end -->";
/// docs/spec.md §9: a multi-session stress mix on one mailbox ≥ 5× Dovecot with 0 state errors.
pub const TARGET_RATIO: f64 = 5.0;

pub fn workload(cfg: &Config) -> String {
    let plain = (1..=cfg.sessions).filter(|i| i % 4 == 0).count();
    let qresync = (1..=cfg.sessions).filter(|i| i % 4 == 3).count();
    let mut s = format!(
        "{} IMAP sessions ({plain} IMAP4rev1 only, {} CONDSTORE, {qresync} QRESYNC) on {} \
         ({} messages to start with, kept between {} and {}), {} s, ",
        cfg.sessions,
        cfg.sessions - plain - qresync,
        cfg.mailboxes.join(", "),
        cfg.initial,
        cfg.low,
        cfg.high,
        cfg.seconds,
    );
    if cfg.checkpoint > 0 {
        let _ = write!(s, "checkpoints every {} s and at the end", cfg.checkpoint);
    } else {
        s.push_str("no checkpoints");
    }
    if cfg.pop3 > 0 {
        let _ = write!(s, ", {} POP3 session(s)", cfg.pop3);
    }
    if cfg.smtp_rate > 0.0 {
        let _ = write!(s, ", {} deliveries/s", cfg.smtp_rate);
    }
    let _ = write!(s, ", seed {}", cfg.seed);
    s
}

/// The summary table (one row per target).
fn summary(outs: &[Outcome]) -> String {
    let mut s = String::from(
        "| server | commands | active s | commands/s | checkpoints | state errors | server failures |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    for o in outs {
        let failures: u64 = o
            .errors
            .iter()
            .filter(|e| e.0 == Kind::ServerFailure)
            .map(|e| e.1)
            .sum();
        let _ = writeln!(
            s,
            "| {} | {} | {:.0} | {:.0} | {} | {} | {failures} |",
            o.target,
            o.commands,
            o.active_s,
            o.per_s(),
            o.checkpoints,
            o.error_count() - failures,
        );
    }
    s
}

/// mailstack ÷ Dovecot commands/s, when both ran.
pub fn ratio(outs: &[Outcome]) -> Option<f64> {
    let m = outs.iter().find(|o| o.target == "mailstack")?;
    let d = outs.iter().find(|o| o.target == "Dovecot")?;
    Some(m.per_s() / d.per_s().max(1e-9))
}

/// Printed after the run.
pub fn text(cfg: &Config, outs: &[Outcome]) -> String {
    let mut s = format!("stress: {}\n{}", workload(cfg), summary(outs));
    if let Some(r) = ratio(outs) {
        let _ = writeln!(s, "mailstack ÷ Dovecot: {r:.2}× (target ≥ {TARGET_RATIO}×)");
    }
    for o in outs {
        for (k, n, f) in &o.errors {
            let _ = writeln!(
                s,
                "\n{} error {} × {n} — first at {:.1} s, {}:\n  {}",
                o.target,
                k.label(),
                f.at_s,
                f.session,
                f.detail
            );
            for l in &f.exchange {
                let _ = writeln!(s, "    {l}");
            }
        }
    }
    s
}

fn errors_md(o: &Outcome) -> String {
    let mut s = String::new();
    if o.errors.is_empty() {
        let _ = writeln!(s, "{}: **0 errors**.\n", o.target);
        return s;
    }
    let _ = writeln!(s, "{}: **{} errors**.\n", o.target, o.error_count());
    s.push_str("| kind | count | first at | check |\n|---|---:|---:|---|\n");
    for (k, n, f) in &o.errors {
        let _ = writeln!(
            s,
            "| {} | {n} | {:.1} s | {} |",
            k.label(),
            f.at_s,
            k.what()
        );
    }
    for (k, _, f) in &o.errors {
        let _ = writeln!(
            s,
            "\n#### {} `{}` — first failing exchange\n",
            o.target,
            k.label()
        );
        let _ = writeln!(s, "{} at {:.1} s: {}\n", f.session, f.at_s, f.detail);
        s.push_str("```\n");
        for l in &f.exchange {
            s.push_str(l);
            s.push('\n');
        }
        s.push_str("```\n");
    }
    s.push('\n');
    s
}

/// What differs between the targets' workloads.
pub const DIFFERENCES: &str = "Same seed, same mix, same messages and flags on both servers; each \
     session's choices follow the server's answers (message counts, UIDs), so the command streams \
     are the same in kind and proportion, not byte for byte. Deliveries (if any) go to mailstack \
     over SMTP and to Dovecot through `dovecot-lda` (one process per message, as Postfix would \
     run it). Both servers verify the same argon2id PHC string (m = 64 KiB, t = 1). Dovecot runs \
     with `bench/scripts/dovecot.sh` (Maildir, fsync defaults), mailstack with its defaults (sled, \
     durable before OK).";

/// The whole Markdown report.
pub fn markdown(cfg: &Config, outs: &[Outcome], header: &str) -> String {
    let mut md = String::from("# mailstack stress (model-checking client) results\n\n");
    md.push_str(
        "Generated by `bench stress` (bench/src/stress): concurrent IMAP sessions on one mailbox, \
         each checking every response against a model built only from what the server told it, \
         with checkpoints comparing every session's view with a fresh SELECT. The same run \
         against Dovecot must give 0 errors: that is what shows the checks are right.\n\n",
    );
    md.push_str(header);
    let _ = writeln!(md, "- workload: {}\n", workload(cfg));
    md.push_str("## Summary\n\n");
    md.push_str(&summary(outs));
    if let Some(r) = ratio(outs) {
        let _ = writeln!(
            md,
            "\nmailstack ÷ Dovecot commands/s: **{r:.2}×** (docs/spec.md §9 target ≥ {TARGET_RATIO}× with 0 errors).\n"
        );
        let _ = writeln!(md, "{DIFFERENCES}\n");
    }
    md.push_str("\n## Errors\n\n");
    for o in outs {
        md.push_str(&errors_md(o));
    }
    md.push_str("## Commands by kind\n\n| command |");
    for o in outs {
        let _ = write!(md, " {} |", o.target);
    }
    md.push_str("\n|---|");
    md.push_str(&"---:|".repeat(outs.len()));
    md.push('\n');
    let mut labels: Vec<&str> = outs
        .iter()
        .flat_map(|o| o.ops.iter().map(|x| x.0))
        .collect();
    labels.sort();
    labels.dedup();
    for l in labels {
        let _ = write!(md, "| {l} |");
        for o in outs {
            let n = o.ops.iter().find(|x| x.0 == l).map_or(0, |x| x.1);
            let _ = write!(md, " {n} |");
        }
        md.push('\n');
    }
    md.push_str(
        "\n## Counted, not errors\n\nLegitimate races (a message expunged by another session meanwhile), and answers that \
         differ from what an RFC asks but that the checker tolerates because Dovecot, the \
         reference, gives them (each line says which).\n\n",
    );
    for o in outs {
        if o.races.is_empty() {
            let _ = writeln!(md, "- {}: none", o.target);
        }
        for (l, n) in &o.races {
            let _ = writeln!(md, "- {}: {l}: {n}", o.target);
        }
    }
    md.push_str("\n## The checks\n\n");
    for &k in Kind::ALL {
        let _ = writeln!(md, "- `{}`: {}", k.label(), k.what());
    }
    md
}

/// The section of `latest.md`: the row in the table format of the other scenarios.
pub fn latest_section(cfg: &Config, outs: &[Outcome], date: &str) -> Option<String> {
    let m = outs.iter().find(|o| o.target == "mailstack")?;
    let d = outs.iter().find(|o| o.target == "Dovecot")?;
    let row = Row {
        scenario: format!(
            "8 multi-session stress, {} sessions × {} s",
            cfg.sessions, cfg.seconds
        ),
        metric: "commands/s, checked, one mailbox".into(),
        mailstack: Some(m.per_s()),
        peer: Some(d.per_s()),
        peer_name: "Dovecot".into(),
        better: Better::Higher,
        target: Some(TARGET_RATIO),
        note: format!(
            "errors: mailstack {}, Dovecot {}; {} / {} checkpoints",
            m.error_count(),
            d.error_count(),
            m.checkpoints,
            d.checkpoints
        ),
        peer_capped: false,
    };
    let mut s = format!("{BEGIN}\n## Multi-session stress (model-checking client)\n\n");
    let _ = writeln!(
        s,
        "`bench stress --target both` ({date}): {}. Details, errors by kind with their first \
         failing exchange: [stress.md](stress.md).\n",
        workload(cfg)
    );
    s.push_str(&table(&[row]));
    let _ = writeln!(s, "\n{DIFFERENCES}\n{END}");
    Some(s)
}

/// Puts `section` into `doc` between the markers (replacing an older one), or at the end.
pub fn splice(doc: &str, section: &str) -> String {
    match (doc.find(BEGIN), doc.find(END)) {
        (Some(a), Some(b)) if b > a => {
            format!(
                "{}{}{}",
                &doc[..a],
                section.trim_end(),
                &doc[b + END.len()..]
            )
        }
        _ => format!("{}\n\n{}\n", doc.trim_end(), section.trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::splice;

    #[test]
    fn splice_replaces_or_appends() {
        let s = "<!-- stress:begin -->\nnew\n<!-- stress:end -->";
        assert_eq!(splice("# t\n", s), format!("# t\n\n{s}\n"));
        let doc =
            "# t\n\n<!-- stress:begin -->\nold\n<!-- stress:end -->\n\n## after\n".to_string();
        assert_eq!(splice(&doc, s), format!("# t\n\n{s}\n\n## after\n"));
    }
}
