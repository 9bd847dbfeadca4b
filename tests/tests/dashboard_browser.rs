//! The dashboard (`GET /` of the http listener) in headless Chromium: starts a real server,
//! creates an account over the admin REST API, then runs `tests/browser/dashboard.test.mjs`
//! (playwright-core driving Debian's chromium), which speaks SMTP, IMAP and POP3 over raw
//! sockets and checks that the page follows live, never runs markup from a message, shows the
//! protocol trace, and acts only with the admin token. Its output is printed; a screenshot
//! lands in `target/dashboard-screenshot.png`.
//!
//! Needs `node` (20 or later), the `chromium` package and `npm ci --prefix tests/browser`
//! (`make deps` does all three); fails naming what is missing, unless `MAILSTACK_SKIP_BROWSER=1`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use testkit::Mailstack;

const ACCOUNT: (&str, &str) = ("carol@example.test", "browser-test-secret-2026");

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_browser_in_headless_chromium() {
    if std::env::var("MAILSTACK_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        eprintln!("dashboard_browser: skipped (MAILSTACK_SKIP_BROWSER=1)");
        return;
    }
    let root = workspace_root();
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    // playwright-core needs Node.js 20; where the system's is older (Debian 12: 18),
    // `make deps` (scripts/deps.sh) puts one in tests/browser/.node.
    let local_node = root.join("tests/browser/.node/bin/node");
    let node = if local_node.exists() {
        local_node.into_os_string()
    } else {
        "node".into()
    };
    assert!(
        testkit::have("node") || Path::new(&node).exists(),
        "dashboard_browser needs node: `make deps`, or apt-get install nodejs npm (or \
         MAILSTACK_SKIP_BROWSER=1)"
    );
    assert!(
        Path::new(&chromium).exists(),
        "dashboard_browser needs Debian's chromium at {chromium}: apt-get install chromium \
         (or MAILSTACK_SKIP_BROWSER=1)"
    );
    assert!(
        root.join("tests/browser/node_modules/playwright-core")
            .is_dir(),
        "dashboard_browser needs playwright-core: run `npm ci --prefix tests/browser` \
         (or MAILSTACK_SKIP_BROWSER=1)"
    );

    // Ports and the admin token come from the server's JSON line.
    let server = Mailstack::start();
    let http_port = server.port("http");
    let created = testkit::http::request_json(
        http_port,
        "POST",
        "/api/accounts",
        Some(server.admin_token()),
        &serde_json::json!({ "address": ACCOUNT.0, "password": ACCOUNT.1 }),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text());

    // target/<profile>/mailstack → target/
    let target = testkit::process::binary()
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| root.join("target"));
    let screenshot = target.join("dashboard-screenshot.png");
    let _ = std::fs::remove_file(&screenshot);

    let t0 = Instant::now();
    let out = Command::new(&node)
        .arg(root.join("tests/browser/dashboard.test.mjs"))
        .current_dir(&root)
        .env("DASHBOARD_URL", format!("http://127.0.0.1:{http_port}/"))
        .env("SMTP_PORT", server.port("smtp").to_string())
        .env("IMAP_PORT", server.port("imap").to_string())
        .env("POP3_PORT", server.port("pop3").to_string())
        .env("ACCOUNT", ACCOUNT.0)
        .env("PASSWORD", ACCOUNT.1)
        .env("ADMIN_TOKEN", server.admin_token())
        .env("SCREENSHOT", &screenshot)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("run node");
    println!(
        "--- node tests/browser/dashboard.test.mjs ({:.1} s) ---\n{}{}",
        t0.elapsed().as_secs_f64(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the browser test failed ({}); its output is above; server log:\n{}",
        out.status,
        server.stderr()
    );
    assert!(
        screenshot.is_file(),
        "no screenshot at {}",
        screenshot.display()
    );
}
