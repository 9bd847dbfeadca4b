//! `mailstack serve --ephemeral` driven from Python, as a harness in another language would.

use std::process::Command;

#[test]
fn python_harness_uses_ephemeral_server() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/clients/ephemeral.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(testkit::process::binary())
        .output()
        .expect("python3");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("ephemeral: ok"),
        "{text}"
    );
}
