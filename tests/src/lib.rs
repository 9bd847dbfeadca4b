//! End-to-end harness: starts the real `mailstack` binary on a temporary store with every
//! listener on an ephemeral loopback port, and runs its CLI verbs.
//!
//! # Invariants
//! - Never a fixed port: the config asks for `127.0.0.1:0` and the harness reads the bound
//!   ports from the server's `… listening on ADDR` lines.
//! - Each [`Server`] has its own temporary folder (store, certs, config) and is stopped with
//!   SIGTERM when dropped, so tests run in parallel and leave nothing behind.
#![forbid(unsafe_code)]

pub mod inproc;
pub mod wire;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Demo accounts every test server has.
pub const ALICE: (&str, &str) = ("alice@example.test", "rabbit-hole-2026");
pub const BOB: (&str, &str) = ("bob@example.test", "builder-of-things");

/// The `mailstack` binary built by this workspace (or `$MAILSTACK_BIN`).
pub fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("MAILSTACK_BIN") {
        return p.into();
    }
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/e2e-… → target/<profile>/mailstack
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .unwrap_or(Path::new("target/debug"));
    profile_dir.join("mailstack")
}

/// A config for a test server in `dir`: every listener on an ephemeral loopback port.
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

/// A running `mailstack serve`.
pub struct Server {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    /// service name → bound port
    pub ports: HashMap<String, u16>,
    /// Lines the server printed on stdout.
    pub stdout: Vec<String>,
    stderr_path: PathBuf,
}

impl Server {
    pub fn start() -> Server {
        Self::start_with("", &[])
    }

    /// Starts with extra config text appended and extra `serve` arguments.
    pub fn start_with(extra_config: &str, serve_args: &[&str]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = test_config(dir.path(), extra_config);
        let stderr_path = dir.path().join("stderr.log");
        let (child, ports, stdout) = launch(&config, &stderr_path, serve_args);
        Server {
            child: Some(child),
            dir,
            config,
            ports,
            stdout,
            stderr_path,
        }
    }

    /// SIGKILL: the server dies at once, mid-write if it was writing (crash tests).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts `serve` again on the same folder and config (after [`Server::kill`] or
    /// [`Server::stop`]); the listeners get new ephemeral ports.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart of a running server");
        let (child, ports, stdout) = launch(&self.config, &self.stderr_path, &[]);
        self.child = Some(child);
        self.ports = ports;
        self.stdout = stdout;
    }

    /// The store folder (`data_dir` of the test config).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn port(&self, service: &str) -> u16 {
        *self
            .ports
            .get(service)
            .unwrap_or_else(|| panic!("no {service} listener"))
    }

    /// The generated CA certificate clients should trust.
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("certs/ca.crt")
    }

    pub fn cli(&self, args: &[&str], stdin: &str) -> Output {
        cli(&self.config, args, stdin)
    }

    /// What the server logged so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// SIGTERM, then wait; returns the exit status code.
    pub fn stop(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Spawns `mailstack serve` and waits for its `ready` line; returns the child, the bound ports
/// and the stdout lines so far (stderr is appended to `stderr_path`).
fn launch(
    config: &Path,
    stderr_path: &Path,
    serve_args: &[&str],
) -> (Child, HashMap<String, u16>, Vec<String>) {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(stderr_path)
        .expect("stderr file");
    let mut child = Command::new(binary())
        .arg("--config")
        .arg(config)
        .arg("serve")
        .args(serve_args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("start mailstack serve");
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
    let mut ports = HashMap::new();
    let mut stdout = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                let err = std::fs::read_to_string(stderr_path).unwrap_or_default();
                panic!("server did not become ready; stdout {stdout:?}; stderr:\n{err}");
            }
        };
        if let Some((service, rest)) = line
            .strip_prefix("mailstack: ")
            .and_then(|l| l.split_once(" listening on "))
        {
            let addr = rest.split_whitespace().next().unwrap_or("");
            let port = addr
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .expect("port");
            ports.insert(service.to_string(), port);
        }
        let ready = line.starts_with("mailstack: ready");
        stdout.push(line);
        if ready {
            break;
        }
    }
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || while rx.recv().is_ok() {});
    (child, ports, stdout)
}

/// Whether an external program is installed (tests of third-party clients skip loudly
/// otherwise: `.ci/run` installs them all).
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .is_ok_and(|o| o.status.success())
}
