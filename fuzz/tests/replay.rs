//! Corpus replay without libFuzzer: every file under `corpus/<target>/` (the committed seeds
//! and whatever a fuzzing run added) and `regressions/<target>/` (inputs that once crashed)
//! goes through its harness. Runs on stable: `cargo test --manifest-path fuzz/Cargo.toml`.

use std::path::Path;

type Harness = fn(&[u8]);

const TARGETS: &[(&str, Harness)] = &[
    ("pop3_command", mailstack_fuzz::pop3_command),
    ("pop3_session", mailstack_fuzz::pop3_session),
    ("smtp_command", mailstack_fuzz::smtp_command),
    ("smtp_session", mailstack_fuzz::smtp_session),
    ("imap_command", mailstack_fuzz::imap_command),
    ("imap_session", mailstack_fuzz::imap_session),
    ("sasl", mailstack_fuzz::sasl),
    ("mime", mailstack_fuzz::mime),
    ("sieve_parse", mailstack_fuzz::sieve_parse),
];

#[test]
fn replay_corpora_and_regressions() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut total = 0;
    for (name, harness) in TARGETS {
        for dir in ["corpus", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(dir).join(name)) else {
                continue;
            };
            for e in entries.flatten() {
                let data = std::fs::read(e.path()).expect("read input");
                harness(&data);
                total += 1;
            }
        }
        // The empty input and a few degenerate ones, always.
        for data in [&b""[..], b"\r\n", b"\0", &[0xff; 64]] {
            harness(data);
        }
    }
    eprintln!("replayed {total} inputs");
}
