//! The `e2e` crate: end-to-end, abuse and real-client tests (`tests/*.rs`) through the real
//! `mailstack` binary and the daemons in-process. It has no harness of its own: servers,
//! accounts, the CA, clients and `eventually` come from the test kit (`crates/testkit`,
//! docs/conventions.md §11).
//!
//! # Layout
//! - `tests/abuse_*.rs`: the abuse suite (limits, floods, slowloris, STARTTLS injection,
//!   cross-account access, brute force, plaintext rule, SMTP smuggling).
//! - `tests/sieve_delivery.rs`: Sieve at final delivery through SMTP (vacation, redirect,
//!   fileinto with IDLE, broken scripts).
//! - `tests/cli.rs`, `cli_sieve.rs`, `demo.rs`, `ephemeral.rs`, `crash.rs`, `shutdown.rs`, `trace.rs`,
//!   `https.rs`, `dashboard.rs`: the binary end to end.
//! - `tests/thunderbird.rs`, `roundcube.rs` (with its managesieve plugin),
//!   `managesieve.rs` (sieve-connect), `dashboard_browser.rs`, `dovecot_diff.rs`: real
//!   third-party programs (skipped with `SKIPPED: …` where missing); `clients/` holds the
//!   Python client matrix and `mailstack_test.py`, the Python side of the kit.
//! - `tests/doc_citations.rs`: every `docs/… §N` citation names an existing section.
//!
//! # Invariants
//! - Never a fixed port, every server on its own temporary store (the kit's invariants).
#![forbid(unsafe_code)]
