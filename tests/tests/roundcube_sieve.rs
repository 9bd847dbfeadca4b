//! Roundcube's `managesieve` plugin (Debian's `roundcube-plugins` with `php-net-sieve`) drives
//! a real `mailstack serve` over ManageSieve (RFC 5804, STARTTLS verified against the server's
//! CA): its Out of Office page sets a vacation reply with a start and an end date, its
//! Forwarding page a redirect that keeps a copy; the script it stores is active and readable
//! over ManageSieve; then mail to alice is kept, forwarded to bob and answered once (RFC 5230,
//! `Auto-Submitted: auto-replied`), and turning Out of Office off stops the replies.
//!
//! The browser side is `tests/roundcube/drive_sieve.py`, built on `tests/roundcube/drive.py`
//! (same private config, `php -S` on a free loopback port, cookie-jar browser); it prints the
//! script Roundcube generated and the time of each step. Install the packages with
//! `tests/roundcube/install.sh` (CI does). Without `php`, Roundcube, its managesieve plugin or
//! `php-net-sieve` the test is skipped with a message, except under CI, where it fails.

use std::path::Path;
use std::process::Command;

/// Debian's Roundcube `INSTALL_PATH` (its `public_html/index.php` is the web entry point).
const ROUNDCUBE: &str = "/var/lib/roundcube";

/// What is missing to run Roundcube's managesieve plugin here, if anything.
fn missing_prerequisites() -> Vec<&'static str> {
    let mut missing = Vec::new();
    if !testkit::have("php") {
        missing.push("php (package php-cli)");
    }
    if !Path::new(ROUNDCUBE).join("public_html/index.php").exists() {
        missing.push("Roundcube (package roundcube-core)");
    }
    if !Path::new(ROUNDCUBE)
        .join("plugins/managesieve/managesieve.php")
        .exists()
    {
        missing.push("Roundcube's managesieve plugin (package roundcube-plugins)");
    }
    if !Path::new("/usr/share/php/Net/Sieve.php").exists() {
        missing.push("PEAR Net_Sieve (package php-net-sieve)");
    }
    if !testkit::have("python3") {
        missing.push("python3");
    }
    missing
}

#[test]
fn roundcube_sets_vacation_and_forward_over_managesieve() {
    let missing = missing_prerequisites();
    if !missing.is_empty() {
        let msg = format!(
            "roundcube_sieve test needs {}: run tests/roundcube/install.sh (as root)",
            missing.join(", ")
        );
        assert!(std::env::var_os("CI").is_none(), "{msg}");
        eprintln!("SKIPPED: {msg}");
        return;
    }

    let server = testkit::Mailstack::start();
    let work = tempfile::tempdir().expect("tempdir");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/roundcube/drive_sieve.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script)
        .arg("--roundcube")
        .arg(ROUNDCUBE)
        .arg("--server")
        .arg(&server.ready.json)
        .arg("--workdir")
        .arg(work.path());
    let out = cmd
        .output()
        .expect("run python3 tests/roundcube/drive_sieve.py");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(
        out.status.success() && text.contains("roundcube-sieve: ok"),
        "Roundcube managesieve driver failed (status {:?}):\n{text}\n----- mailstack log -----\n{}",
        out.status.code(),
        server.stderr()
    );
}
