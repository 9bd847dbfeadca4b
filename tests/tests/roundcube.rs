//! Roundcube webmail (Debian's `roundcube-core` with the `password` plugin) drives a real
//! `mailstack serve`: log in, list INBOX, send (recipient's INBOX + sender's Sent), change the
//! password through the `httpapi` driver (`POST /api/password`), then the new password works
//! over IMAP, POP3 and SMTP and the old one does not.
//!
//! Its `managesieve` plugin (with `php-net-sieve`) drives the same server over ManageSieve
//! (RFC 5804, STARTTLS verified against the server's CA): its Out of Office page sets a vacation
//! reply with a start and an end date, its Forwarding page a redirect that keeps a copy; the
//! script it stores is active and readable over ManageSieve; then mail to alice is kept,
//! forwarded to bob and answered once (RFC 5230, `Auto-Submitted: auto-replied`), and turning
//! Out of Office off stops the replies (`tests/roundcube/drive_sieve.py`, built on drive.py).
//!
//! The browser side is `tests/roundcube/drive.py` (Python's urllib with a cookie jar); it writes
//! a private Roundcube config (`ROUNDCUBE_CONFIG_DIR`) into a temporary folder and runs Roundcube
//! with `php -S` on a free loopback port, so no system web server or database is involved.
//! Install the packages with `tests/roundcube/install.sh` (CI does). Without `php` or Roundcube
//! the test is skipped with a message, except under CI, where it fails.

use std::path::Path;
use std::process::Command;

/// Debian's Roundcube `INSTALL_PATH` (its `public_html/index.php` is the web entry point).
const ROUNDCUBE: &str = "/var/lib/roundcube";

/// What is missing to run Roundcube here, if anything.
fn missing_prerequisites() -> Vec<&'static str> {
    let mut missing = Vec::new();
    if !testkit::have("php") {
        missing.push("php (package php-cli)");
    }
    if !Path::new(ROUNDCUBE).join("public_html/index.php").exists() {
        missing.push("Roundcube (package roundcube-core)");
    }
    if !Path::new(ROUNDCUBE).join("plugins/password").exists() {
        missing.push("Roundcube's password plugin (package roundcube-plugins)");
    }
    if !testkit::have("python3") {
        missing.push("python3");
    }
    missing
}

/// Runs a driver script against a fresh `mailstack serve` and checks it says `{name}: ok`;
/// skipped (failed under CI) when something it needs is missing.
fn drive(script: &str, name: &str, missing: Vec<&'static str>) {
    if !missing.is_empty() {
        let msg = format!(
            "{name} test needs {}: run tests/roundcube/install.sh (as root)",
            missing.join(", ")
        );
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        eprintln!("SKIPPED: {msg}");
        return;
    }
    let server = testkit::Mailstack::start();
    let work = tempfile::tempdir().expect("tempdir");
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("roundcube")
        .join(script);
    let mut cmd = Command::new("python3");
    cmd.arg(&script)
        .arg("--roundcube")
        .arg(ROUNDCUBE)
        .arg("--server")
        .arg(&server.ready.json)
        .arg("--workdir")
        .arg(work.path());
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("run python3 {}: {e}", script.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(
        out.status.success() && text.contains(&format!("{name}: ok")),
        "{name} driver failed (status {:?}):\n{text}\n----- mailstack log -----\n{}",
        out.status.code(),
        server.stderr()
    );
}

#[test]
fn roundcube_logs_in_lists_sends_and_changes_the_password() {
    drive("drive.py", "roundcube", missing_prerequisites());
}

#[test]
fn roundcube_sets_vacation_and_forward_over_managesieve() {
    let mut missing = missing_prerequisites();
    if !Path::new(ROUNDCUBE)
        .join("plugins/managesieve/managesieve.php")
        .exists()
    {
        missing.push("Roundcube's managesieve plugin (package roundcube-plugins)");
    }
    if !Path::new("/usr/share/php/Net/Sieve.php").exists() {
        missing.push("PEAR Net_Sieve (package php-net-sieve)");
    }
    drive("drive_sieve.py", "roundcube-sieve", missing);
}
