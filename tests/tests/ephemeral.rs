//! `mailstack serve --ephemeral` as a harness in any language sees it (docs/spec.md §7.2):
//! driven from Python; reading no configuration it was not given; any non-empty password;
//! `--accept-any` capture-all; exiting (and removing its temporary folder) when its parent
//! dies or its piped stdin closes; bad flag combinations.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};
use testkit::http::{request, request_json};
use testkit::process::binary;
use testkit::{eventually_blocking, Imap, Line, Smtp};

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

/// Time for the server to print its JSON line, and to notice a dead parent (polled every
/// second) or a closed stdin and stop.
const LIMIT: Duration = Duration::from_secs(60);

/// A started `serve --ephemeral` (or the shell around it) and its JSON line.
struct Started {
    child: Child,
    ready: Value,
}

impl Started {
    fn port(&self, service: &str) -> u16 {
        self.ready["ports"][service]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or_else(|| panic!("no {service} port in {}", self.ready))
    }

    fn token(&self) -> &str {
        self.ready["admin_token"].as_str().expect("admin_token")
    }

    fn pid(&self) -> u32 {
        self.ready["pid"]
            .as_u64()
            .and_then(|p| u32::try_from(p).ok())
            .expect("pid")
    }

    /// Waits for the server (our child) to exit; it must exit 0 and have removed `dir`.
    fn stopped_cleanly(&mut self, dir: &Path) {
        let status = eventually_blocking(LIMIT, || {
            self.child
                .try_wait()
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "still running".to_string())
        });
        assert_eq!(status.code(), Some(0));
        assert!(!dir.exists(), "{} left behind", dir.display());
    }

    fn dir(&self) -> PathBuf {
        self.ready["ephemeral"]["dir"]
            .as_str()
            .expect("ephemeral.dir")
            .into()
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A server whose parent was the killed shell: stop it too.
        if let Some(pid) = self.ready["pid"].as_u64() {
            if running(pid as u32) {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
        }
    }
}

/// Spawns `program args` in `cwd` with `stdin`, and reads stdout up to the JSON line.
fn start(program: &Path, args: &[&str], cwd: &Path, stdin: Stdio) -> Started {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let ready = loop {
        match rx.recv_timeout(LIMIT) {
            Ok(line) if line.starts_with('{') => {
                break serde_json::from_str(&line).expect("JSON line");
            }
            Ok(_) => continue,
            Err(e) => {
                let _ = child.kill();
                panic!("no JSON line from {args:?}: {e}");
            }
        }
    };
    Started { child, ready }
}

/// Whether process `pid` still runs (a zombie waiting for its reaper has exited).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().to_string())
        })
        .is_some_and(|rest| !rest.starts_with('Z') && !rest.starts_with('X'))
}

/// A folder with `config/mailstack.toml` whose settings a server must not pick up.
fn cwd_with_a_weird_config() -> tempfile::TempDir {
    let cwd = tempfile::tempdir().expect("tmp");
    std::fs::create_dir(cwd.path().join("config")).expect("mkdir");
    std::fs::write(
        cwd.path().join("config/mailstack.toml"),
        "hostname = \"weird.invalid\"\ndomains = [\"weird.invalid\"]\noutbound = \"reject\"\n\
         data_dir = \"weird-data\"\n[http]\nadmin_token = \"weird-token\"\n",
    )
    .expect("write");
    cwd
}

/// docs/spec.md §7.2: no configuration it was not given (not ./config/mailstack.toml); the
/// JSON line lists every port, the token, the CA and what kind of server this is; any
/// non-empty password; accounts only in local domains (docs/spec.md §4.1); stdin /dev/null
/// is not watched, SIGTERM removes the temporary folder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_reads_no_config_from_cwd_and_takes_test_passwords() {
    let cwd = cwd_with_a_weird_config();
    let mut s = start(
        &binary(),
        &["serve", "--ephemeral"],
        cwd.path(),
        Stdio::null(),
    );
    let r = &s.ready;
    assert_eq!(r["hostname"], "localhost", "{r}");
    assert_eq!(r["domains"], json!(["example.test"]), "{r}");
    assert_ne!(r["admin_token"], "weird-token", "{r}");
    assert!(!cwd.path().join("weird-data").exists());
    for service in testkit::MAIL_SERVICES.into_iter().chain(["http", "https"]) {
        assert!(s.port(service) > 0, "{service}: {r}");
    }
    assert!(Path::new(r["ca"].as_str().expect("ca")).exists(), "{r}");
    assert_eq!(r["ephemeral"]["password_policy"], "test", "{r}");
    assert_eq!(r["ephemeral"]["accept_any"], false, "{r}");
    assert_eq!(r["ephemeral"]["exit_on_stdin_eof"], false, "{r}");
    assert_eq!(
        r["dashboard"],
        format!("http://127.0.0.1:{}/", s.port("http")),
        "{r}"
    );
    let dir = s.dir();
    assert!(dir.join("data").exists());

    let http = s.port("http");
    let add = |address: &str, password: &str| {
        let body = json!({ "address": address, "password": password });
        let token = s.token().to_string();
        async move { request_json(http, "POST", "/api/accounts", Some(&token), &body).await }
    };
    // The test policy: `secret` is fine, even a password that is the user name; empty is not.
    let resp = add("tester@example.test", "secret").await;
    assert_eq!(resp.status.as_u16(), 201, "{}", resp.text());
    let resp = add("tester2@example.test", "tester2").await;
    assert_eq!(resp.status.as_u16(), 201, "{}", resp.text());
    let resp = add("tester3@example.test", "").await;
    assert_eq!(resp.status.as_u16(), 400, "{}", resp.text());
    assert!(resp.error().contains("empty"), "{}", resp.text());
    let mut imap = Imap::login_to(s.port("imap"), "tester@example.test", "secret").await;
    imap.ok("LOGOUT").await;
    // docs/spec.md §4.1: a domain that is not local is refused with a 4xx naming it and the
    // `domains` key (the weird config's domain is not local either).
    for address in ["x@not-configured.example", "x@weird.invalid"] {
        let resp = add(address, "secret").await;
        assert_eq!(resp.status.as_u16(), 422, "{}", resp.text());
        let domain = address.split('@').nth(1).expect("domain");
        let e = resp.error();
        assert!(
            e.contains(&format!("{domain} is not a local domain")) && e.contains("`domains`"),
            "{e}"
        );
    }
    // The OpenAPI document the server serves says so.
    let doc = request(http, "GET", "/api/openapi.json", None, None)
        .await
        .json();
    assert!(
        doc["paths"]["/api/accounts"]["post"]["responses"]["422"]["description"]
            .as_str()
            .is_some_and(|d| d.contains("`domains`")),
        "{doc}"
    );

    // stdin was /dev/null: not watched, so the server is still serving.
    assert!(running(s.pid()));
    let _ = Command::new("kill")
        .args(["-TERM", &s.pid().to_string()])
        .status();
    s.stopped_cleanly(&dir);
}

/// `--real-passwords` asks for the real policy; `--ephemeral --config FILE` reads FILE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_real_passwords_and_a_given_config() {
    let cwd = cwd_with_a_weird_config();
    let config = cwd.path().join("config/mailstack.toml");
    let config = config.to_str().expect("utf-8 path");
    let s = start(
        &binary(),
        &[
            "--config",
            config,
            "serve",
            "--ephemeral",
            "--real-passwords",
        ],
        cwd.path(),
        Stdio::null(),
    );
    assert_eq!(s.ready["hostname"], "weird.invalid", "{}", s.ready);
    assert_eq!(s.ready["admin_token"], "weird-token", "{}", s.ready);
    assert_eq!(
        s.ready["ephemeral"]["password_policy"], "real",
        "{}",
        s.ready
    );
    // The store and certificates are still temporary.
    assert!(!cwd.path().join("weird-data").exists());
    let body = json!({ "address": "tester@weird.invalid", "password": "secret" });
    let resp = request_json(
        s.port("http"),
        "POST",
        "/api/accounts",
        Some(s.token()),
        &body,
    )
    .await;
    assert_eq!(resp.status.as_u16(), 400, "{}", resp.text());
    assert!(resp.error().contains("at least 12"), "{}", resp.text());
}

/// `--accept-any`: capture-all. Mail to an address nobody created, in a domain nobody
/// configured, is accepted on port 25 and kept in an account made for it; the REST API reads
/// it, and once a password is set the account logs in over IMAP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_accept_any_creates_recipients_on_first_delivery() {
    let cwd = tempfile::tempdir().expect("tmp");
    let s = start(
        &binary(),
        &["serve", "--ephemeral", "--accept-any"],
        cwd.path(),
        Stdio::null(),
    );
    assert_eq!(s.ready["ephemeral"]["accept_any"], true, "{}", s.ready);
    let rcpt = "Someone@Never-Created.example";
    drop(
        Line::smtp_deliver(
            s.port("smtp"),
            "sender@example.org",
            rcpt,
            "Subject: first delivery\r\n\r\nhello",
        )
        .await,
    );
    let http = s.port("http");
    let r = request(
        http,
        "GET",
        "/api/accounts/someone@never-created.example/messages",
        Some(s.token()),
        None,
    )
    .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text());
    let list = r.json();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["subject"], "first delivery", "{list}");
    // Submission too, to a second new address, with several recipients in one transaction.
    let body = json!({ "address": "sender@anything.example", "password": "secret" });
    let resp = request_json(http, "POST", "/api/accounts", Some(s.token()), &body).await;
    assert_eq!(resp.status.as_u16(), 201, "{}", resp.text());
    let mut w = Smtp::greeted(s.port("submission")).await;
    w.ehlo().await;
    w.login_as("sender@anything.example", "secret").await;
    let (code, text) = w
        .send_mail(
            "sender@anything.example",
            &["a@new-one.example", "b@new-two.example"],
            "Subject: two\r\n\r\nbody\r\n",
        )
        .await;
    assert_eq!(code, 250, "{text}");
    for who in ["a@new-one.example", "b@new-two.example"] {
        let r = request(
            http,
            "GET",
            &format!("/api/accounts/{who}/messages"),
            Some(s.token()),
            None,
        )
        .await;
        assert_eq!(
            r.json().as_array().map(Vec::len),
            Some(1),
            "{who}: {}",
            r.text()
        );
    }
    // No password is known for a created account; set one, then IMAP sees the message.
    let patch = json!({ "password": "secret" });
    let r = request_json(
        http,
        "PATCH",
        "/api/accounts/someone@never-created.example",
        Some(s.token()),
        &patch,
    )
    .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text());
    let mut imap = Imap::login_to(s.port("imap"), "someone@never-created.example", "secret").await;
    let untagged = imap.ok("SELECT INBOX").await;
    assert!(untagged.iter().any(|l| l == "* 1 EXISTS"), "{untagged:?}");
}

/// docs/spec.md §7.2: `kill -9` of the process that started the server (here a shell between
/// the test and the server) → the server notices within about a second, stops and removes its
/// temporary folder.
#[test]
fn ephemeral_exits_when_its_parent_dies() {
    let cwd = tempfile::tempdir().expect("tmp");
    // `; exit` keeps the shell as the server's parent (no exec of the last command).
    let script = "\"$0\" serve --ephemeral; exit 0";
    let mut s = start(
        Path::new("/bin/sh"),
        &["-c", script, binary().to_str().expect("utf-8 path")],
        cwd.path(),
        Stdio::null(),
    );
    let (pid, dir) = (s.pid(), s.dir());
    assert_ne!(pid, s.child.id(), "the shell stays the server's parent");
    assert!(running(pid) && dir.exists());
    s.child.kill().expect("kill -9 the shell");
    s.child.wait().expect("reap the shell");
    eventually_blocking(LIMIT, || {
        if running(pid) || dir.exists() {
            Err(format!(
                "pid {pid} running {}, {} exists {}",
                running(pid),
                dir.display(),
                dir.exists()
            ))
        } else {
            Ok(())
        }
    });
}

/// docs/spec.md §7.2: a harness that holds the server's stdin as a pipe stops it by closing
/// it (or by dying, which closes it).
#[test]
fn ephemeral_exits_when_its_stdin_closes() {
    let cwd = tempfile::tempdir().expect("tmp");
    let mut s = start(
        &binary(),
        &["serve", "--ephemeral"],
        cwd.path(),
        Stdio::piped(),
    );
    assert_eq!(
        s.ready["ephemeral"]["exit_on_stdin_eof"], true,
        "{}",
        s.ready
    );
    let dir = s.dir();
    // Input is read and ignored; only the end of it counts.
    let mut stdin = s.child.stdin.take().expect("stdin");
    std::io::Write::write_all(&mut stdin, b"anything\n").expect("write");
    assert!(running(s.pid()));
    drop(stdin);
    s.stopped_cleanly(&dir);
}

/// docs/spec.md §7.2: a server killed with SIGKILL leaves its temporary folder; the next
/// ephemeral server removes such folders (their PID file names a process that is gone) and
/// leaves the others alone: a live server's, one still starting (no PID file yet), and any
/// folder not named like ours.
#[test]
fn ephemeral_removes_the_folders_of_killed_servers() {
    let tmp = tempfile::tempdir().expect("tmp");
    let mut gone = Command::new("true").spawn().expect("spawn");
    let dead = gone.id();
    gone.wait().expect("reap");
    let folder = |name: &str, pid: Option<u32>| {
        let data = tmp.path().join(name).join("data");
        std::fs::create_dir_all(&data).expect("mkdir");
        if let Some(pid) = pid {
            std::fs::write(data.join("mailstack.pid"), pid.to_string()).expect("write");
        }
        tmp.path().join(name)
    };
    let killed = folder("mailstack-ephemeral-killed", Some(dead));
    let live = folder("mailstack-ephemeral-live", Some(std::process::id()));
    let starting = folder("mailstack-ephemeral-starting", None);
    let other = folder("someone-else", Some(dead));
    // A store held open (here by this process) whose PID file names a dead process, as a
    // server in another PID namespace would look: its lock keeps it.
    let locked = folder("mailstack-ephemeral-locked", None);
    let held = store::Store::open(locked.join("data")).expect("open");
    std::fs::write(locked.join("data").join("mailstack.pid"), dead.to_string()).expect("write");
    let cwd = tempfile::tempdir().expect("tmp");
    let tmpdir = format!("TMPDIR={}", tmp.path().display());
    let mut s = start(
        Path::new("/usr/bin/env"),
        &[
            &tmpdir,
            binary().to_str().expect("utf-8 path"),
            "serve",
            "--ephemeral",
        ],
        cwd.path(),
        Stdio::piped(),
    );
    let dir = s.dir();
    assert!(dir.starts_with(tmp.path()), "{}", dir.display());
    assert!(
        !killed.exists(),
        "the killed server's folder is still there"
    );
    for kept in [&live, &starting, &other, &locked] {
        assert!(kept.exists(), "{} removed", kept.display());
    }
    drop(held);
    drop(s.child.stdin.take());
    s.stopped_cleanly(&dir);
}

/// Bad input: the ephemeral-only flags without `--ephemeral` are usage errors (exit 2); a
/// given config that does not exist is named (exit 1).
#[test]
fn ephemeral_flags_need_ephemeral() {
    let cwd = tempfile::tempdir().expect("tmp");
    for args in [
        &["serve", "--accept-any"][..],
        &["serve", "--real-passwords"],
        &["serve", "--json", "--accept-any"],
    ] {
        let o = Command::new(binary())
            .args(args)
            .current_dir(cwd.path())
            .stdin(Stdio::null())
            .output()
            .expect("run");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("--ephemeral"), "{args:?}: {err}");
    }
    let o = Command::new(binary())
        .args(["--config", "no-such.toml", "serve", "--ephemeral"])
        .current_dir(cwd.path())
        .stdin(Stdio::null())
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("no-such.toml"), "{err}");
    assert!(
        o.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
}
