//! [`Mailstack`]: the real `mailstack` binary on a temporary store, and its CLI verbs.
//!
//! Two ways to start it, both reading the bound ports, the CA, the admin token and the data
//! dir from the one JSON line the binary prints when it is ready (never from its log):
//! - [`Mailstack::start`] / the default builder: `mailstack --config GENERATED serve
//!   --ephemeral` — a temporary store the binary deletes at exit, every listener. Its stdin is
//!   /dev/null (not watched); the binary stops by itself if the test process dies (it checks
//!   its parent, docs/spec.md §7.2).
//! - [`MailstackBuilder::persistent`]: `mailstack --config GENERATED serve --json` — the store
//!   lives in the test's folder, so a test can stop, kill and restart the server on the same
//!   store, run CLI verbs, and open the store after a stop.
//!
//! The generated config ([`test_config`]) has the domain `example.test`, the demo accounts
//! [`ALICE`] and [`BOB`], cheap argon2 parameters, outbound mail captured for
//! `catchall@example.test`, and whatever config text the test adds.
//!
//! # Invariants
//! - Every listener on port 0 (`--ephemeral` forces it; the generated config asks for it).
//! - Dropping a [`Mailstack`] stops the server with SIGTERM (SIGKILL after 30 s).
//! - stdout is drained for the server's whole life, so it never blocks on a full pipe; stderr
//!   (the log) goes to a file ([`Mailstack::stderr`]).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::{ALICE, BOB};

/// How long the binary may take to print its JSON line.
const START_LIMIT: Duration = Duration::from_secs(120);
/// How long a SIGTERM may take before the server is killed.
const STOP_LIMIT: Duration = Duration::from_secs(30);

/// The `mailstack` binary built by this workspace (or `$MAILSTACK_BIN`): the same lookup as
/// the Rust test API's.
pub fn binary() -> PathBuf {
    mailstack_test::binary()
}

/// Writes a config for a test server into `dir`: every listener on an ephemeral loopback
/// port, the demo accounts, cheap argon2; `extra` is appended (e.g. `[limits]` or `[http]`).
pub fn test_config(dir: &Path, extra: &str) -> PathBuf {
    let text = format!(
        r#"hostname = "localhost"
data_dir = "data"
domains = ["example.test"]
outbound = "capture"
capture_account = "catchall@example.test"
[tls]
cert = "certs/server.crt"
key = "certs/server.key"
generate = true
[listeners]
smtp = "127.0.0.1:0"
submission = "127.0.0.1:0"
submissions = "127.0.0.1:0"
pop3 = "127.0.0.1:0"
pop3s = "127.0.0.1:0"
imap = "127.0.0.1:0"
imaps = "127.0.0.1:0"
managesieve = "127.0.0.1:0"
http = "127.0.0.1:0"
https = "127.0.0.1:0"
[auth]
min_password_length = 12
argon2_memory_kib = 64
argon2_iterations = 1
[[demo_account]]
address = "{}"
password = "{}"
[[demo_account]]
address = "{}"
password = "{}"
{extra}
"#,
        ALICE.0, ALICE.1, BOB.0, BOB.1
    );
    let path = dir.join("mailstack.toml");
    std::fs::write(&path, text).expect("write config");
    path
}

/// Runs a CLI verb against `config`, with `stdin` as standard input.
pub fn cli(config: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(binary())
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mailstack");
    if let Some(mut i) = child.stdin.take() {
        let _ = i.write_all(stdin.as_bytes());
    }
    child.wait_with_output().expect("wait mailstack")
}

/// Resident set size and its peak (VmRSS, VmHWM) of a process, in KiB.
pub fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// What the binary's JSON line says.
#[derive(Clone, Debug)]
pub struct Ready {
    pub pid: u32,
    /// service name → bound port
    pub ports: HashMap<String, u16>,
    /// The CA certificate clients should trust.
    pub ca: PathBuf,
    pub admin_token: String,
    pub data_dir: PathBuf,
    /// The line itself, for a helper in another language (`mailstack_test.Server.attach`).
    pub json: String,
}

impl Ready {
    fn parse(line: &str) -> Ready {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not the JSON line ({e}): {line}"));
        let text = |k: &str| {
            v[k].as_str()
                .unwrap_or_else(|| panic!("no {k} in {line}"))
                .to_string()
        };
        Ready {
            pid: v["pid"]
                .as_u64()
                .and_then(|p| p.try_into().ok())
                .unwrap_or(0),
            ports: v["ports"]
                .as_object()
                .unwrap_or_else(|| panic!("no ports in {line}"))
                .iter()
                .filter_map(|(k, p)| Some((k.clone(), p.as_u64()?.try_into().ok()?)))
                .collect(),
            ca: text("ca").into(),
            admin_token: text("admin_token"),
            data_dir: text("data_dir").into(),
            json: line.to_string(),
        }
    }
}

/// How to start the binary.
#[must_use]
pub struct MailstackBuilder {
    config: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    persistent: bool,
}

impl MailstackBuilder {
    /// Config text appended to the generated config.
    pub fn config(mut self, extra: &str) -> Self {
        self.config.push_str(extra);
        self.config.push('\n');
        self
    }

    /// Extra `serve` arguments (`--trace-protocol`, `--trace-bodies`).
    pub fn args(mut self, args: &[&str]) -> Self {
        self.args.extend(args.iter().map(|a| a.to_string()));
        self
    }

    /// An environment variable of the server process only (e.g. `RUST_LOG`), never of the
    /// test process, so tests running in parallel do not see it.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The store in the test's folder (`serve --json`), so it outlives a stop or a kill:
    /// needed for [`Mailstack::restart`], [`Mailstack::cli`] and opening the store afterwards.
    pub fn persistent(mut self) -> Self {
        self.persistent = true;
        self
    }

    pub fn start(self) -> Mailstack {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = test_config(dir.path(), &self.config);
        let stderr_path = dir.path().join("stderr.log");
        let mut serve = vec!["serve".to_string()];
        serve.push(
            if self.persistent {
                "--json"
            } else {
                "--ephemeral"
            }
            .into(),
        );
        serve.extend(self.args);
        let (child, ready, stdout) = launch(&config, &stderr_path, &serve, &self.env);
        Mailstack {
            child: Some(child),
            dir,
            config,
            ready,
            stdout,
            stderr_path,
            serve,
            env: self.env,
            persistent: self.persistent,
        }
    }
}

/// A running `mailstack serve`.
pub struct Mailstack {
    child: Option<Child>,
    /// The test's folder: config, log, and (persistent) store and certificates.
    pub dir: tempfile::TempDir,
    /// The generated config file.
    pub config: PathBuf,
    /// The JSON line of the current run.
    pub ready: Ready,
    /// Lines the server printed on stdout before its JSON line (the human `mailstack: …`
    /// lines of a persistent server; nothing for an ephemeral one).
    pub stdout: Vec<String>,
    stderr_path: PathBuf,
    serve: Vec<String>,
    env: Vec<(String, String)>,
    persistent: bool,
}

impl Mailstack {
    /// `serve --ephemeral` on the generated config, no extra options.
    pub fn start() -> Mailstack {
        Mailstack::builder().start()
    }

    pub fn builder() -> MailstackBuilder {
        MailstackBuilder {
            config: String::new(),
            args: Vec::new(),
            env: Vec::new(),
            persistent: false,
        }
    }

    /// The bound port of a listener (`"imap"`, `"smtp"`, `"http"`, …).
    pub fn port(&self, service: &str) -> u16 {
        *self
            .ready
            .ports
            .get(service)
            .unwrap_or_else(|| panic!("no {service} listener"))
    }

    /// The generated CA certificate clients should trust.
    pub fn ca(&self) -> PathBuf {
        self.ready.ca.clone()
    }

    /// The admin token (`Authorization: Bearer …`).
    pub fn admin_token(&self) -> &str {
        &self.ready.admin_token
    }

    /// The store folder.
    pub fn data_dir(&self) -> PathBuf {
        self.ready.data_dir.clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Resident set size and its peak of the server, in KiB.
    pub fn memory_kib(&self) -> (u64, u64) {
        memory_kib(self.pid())
    }

    /// What the server logged so far (every run).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// Runs a CLI verb on this server's config and store (persistent servers only).
    pub fn cli(&self, args: &[&str], stdin: &str) -> Output {
        assert!(
            self.persistent,
            "CLI verbs need Mailstack::builder().persistent(): an ephemeral store is elsewhere"
        );
        cli(&self.config, args, stdin)
    }

    /// Creates an account through the admin API (`POST /api/accounts`).
    pub async fn add_account(&self, address: &str, password: &str) {
        let body = serde_json::json!({ "address": address, "password": password });
        let r = crate::http::request_json(
            self.port("http"),
            "POST",
            "/api/accounts",
            Some(self.admin_token()),
            &body,
        )
        .await;
        assert!(r.status.is_success(), "add {address}: {}", r.text());
    }

    /// SIGKILL: the server dies at once, mid-write if it was writing (crash tests).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts `serve` again on the same folder and config (after [`Mailstack::kill`] or
    /// [`Mailstack::stop`]); the listeners get new ephemeral ports.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart of a running server");
        assert!(self.persistent, "restart needs a persistent server");
        let (child, ready, stdout) =
            launch(&self.config, &self.stderr_path, &self.serve, &self.env);
        self.child = Some(child);
        self.ready = ready;
        self.stdout = stdout;
    }

    /// SIGTERM, then wait; returns the exit status code (`None`: killed after 30 s).
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + STOP_LIMIT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Mailstack {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Spawns `mailstack --config CONFIG <serve…>` and reads stdout up to its JSON line; returns
/// the child, the JSON line and the lines before it (stderr is appended to `stderr_path`).
fn launch(
    config: &Path,
    stderr_path: &Path,
    serve: &[String],
    env: &[(String, String)],
) -> (Child, Ready, Vec<String>) {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(stderr_path)
        .expect("stderr file");
    let mut child = Command::new(binary())
        .arg("--config")
        .arg(config)
        .args(serve)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("start {} ({e})", binary().display()));
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stdout = Vec::new();
    let deadline = Instant::now() + START_LIMIT;
    let ready = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.starts_with('{') => break Ready::parse(&line),
            Ok(line) => stdout.push(line),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let err = std::fs::read_to_string(stderr_path).unwrap_or_default();
                panic!("server printed no JSON line; stdout {stdout:?}; stderr:\n{err}");
            }
        }
    };
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || while rx.recv().is_ok() {});
    (child, ready, stdout)
}

/// A finished command's stdout and stderr, one after the other, as text (for assertions on
/// what a CLI verb said).
pub fn output_text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
