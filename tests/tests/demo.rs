//! `mailstack demo`: the text transcript against a golden file (volatile values masked), the
//! Markdown page's structure, and the temporary folder (gone unless `--keep`).
//!
//! Regenerate the golden file after an intended change with
//! `UPDATE_GOLDEN=1 cargo test -p e2e --test demo`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn demo(args: &[&str]) -> Output {
    let out = Command::new(e2e::binary())
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
    let listed = e2e::cli(&config, &["mailbox", "list", "alice@example.test"], "");
    let text = String::from_utf8_lossy(&listed.stdout).to_string();
    std::fs::remove_dir_all(&dir).expect("clean up the kept folder");
    assert!(listed.status.success(), "{text}");
    assert!(text.contains("INBOX"), "{text}");
}
