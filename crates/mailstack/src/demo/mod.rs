//! `mailstack demo`: the teaching demo (docs/spec.md §1 "teacher / learner"). It starts its own
//! server in this process on a temporary store with every listener on a free loopback port,
//! creates alice@ and bob@example.test, and plays a narrated scenario with real protocol
//! sessions over TCP, printing every client and server line.
//!
//! # Layout
//! - `client`: the scripted line client (plain, implicit TLS, STARTTLS/STLS upgrade).
//! - `transcript`: what was said, rendered as text or Markdown.
//! - `scenario`: the POP3-vs-IMAP steps; `quota`: the mailbox-full step.
//!
//! # Invariants
//! - No config and no fixed port: the server is `serve::start_listeners` over a config for
//!   `127.0.0.1:0`, with cheap argon2 parameters and certificates generated into the
//!   temporary folder, which is deleted at the end unless `--keep`.
//! - Passwords are random, sent only on the wire, and recorded as `<redacted>`.
//! - The transcript depends only on the scenario, apart from dates, UIDVALIDITY, message
//!   sizes (they contain a date), session ids and port numbers.

mod client;
mod quota;
mod scenario;
mod transcript;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use auth::{Auth, AuthConfig, Secret};
use store::Store;

use crate::cli::{DemoFormat, DemoScenario};
use crate::config::{Config, OutboundMode};

/// The server's name in greetings and in its certificate.
pub(crate) const HOSTNAME: &str = "mail.example.test";
pub(crate) const ALICE: &str = "alice@example.test";
pub(crate) const BOB: &str = "bob@example.test";

/// What the scenario needs from the running demo server.
pub(crate) struct Env {
    /// service name → bound address.
    addrs: HashMap<&'static str, SocketAddr>,
    pub tls: client::Tls,
    pub store: Store,
    pub alice_pw: Secret<String>,
    pub bob_pw: Secret<String>,
}

impl Env {
    pub fn addr(&self, service: &str) -> anyhow::Result<SocketAddr> {
        self.addrs
            .get(service)
            .copied()
            .with_context(|| format!("the demo server has no {service} listener"))
    }
}

/// Runs the demo and prints its transcript on stdout; the temporary folder's path goes to
/// stderr (so a test can check it is gone afterwards).
pub async fn run(scenario: DemoScenario, format: DemoFormat, keep: bool) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("mailstack-demo-")
        .tempdir()
        .context("cannot create a temporary folder")?;
    eprintln!("mailstack demo: temporary folder {}", dir.path().display());
    let played = play(dir.path(), scenario).await;
    if keep {
        let path = dir.keep();
        write_config(&path)?;
        eprintln!(
            "mailstack demo: kept {p}; look inside with `mailstack --config {p}/mailstack.toml \
             mailbox list {ALICE}`",
            p = path.display()
        );
    } else {
        dir.close().context("cannot remove the temporary folder")?;
    }
    let transcript = played?;
    print!(
        "{}",
        match format {
            DemoFormat::Text => transcript.render_text(),
            DemoFormat::Markdown => transcript.render_markdown(),
        }
    );
    Ok(())
}

/// The demo server's configuration: everything inside `dir`, every listener except HTTP on
/// a free loopback port, no capture account (nothing here sends to other domains).
fn demo_config(dir: &Path) -> Config {
    let mut config = Config::ephemeral_default(dir);
    config.hostname = HOSTNAME.into();
    config.outbound = OutboundMode::Reject;
    config.capture_account = None;
    config.listeners.http = None;
    config
}

/// Starts the server, plays the scenario, stops the server.
async fn play(dir: &Path, scenario: DemoScenario) -> anyhow::Result<transcript::Transcript> {
    let config = demo_config(dir);
    let store = Store::open(&config.data_dir).context("cannot open the demo store")?;
    store.set_domains(&config.domains).await?;
    let auth = Auth::new(store.clone(), AuthConfig::for_tests())?;
    let alice_pw = Secret::new(auth::random_token(12)?);
    let bob_pw = Secret::new(auth::random_token(12)?);
    auth.add_user(ALICE, &alice_pw, None).await?;
    auth.add_user(BOB, &bob_pw, None).await?;
    let tls = net::load_or_generate(
        &config.tls.cert,
        &config.tls.key,
        true,
        &[HOSTNAME.to_string()],
    )
    .context("TLS certificates")?;
    let ca = config.tls.cert.parent().unwrap_or(dir).join("ca.crt");
    let options = crate::serve::Options {
        trace: false,
        admin_token: auth::random_token(16)?,
        ca_certificate: None,
        // Show what a mail program on another machine sees: no AUTH before TLS
        // (docs/spec.md §4.4). `serve` accepts plaintext logins from loopback for local tests.
        plaintext_from_loopback: false,
        accept_any: false,
    };
    let mut started = crate::serve::start_listeners(&config, &auth, &tls.acceptor, options).await?;
    let env = Env {
        addrs: std::mem::take(&mut started.listeners)
            .into_iter()
            .map(|(service, addr, _)| (service, addr))
            .collect(),
        tls: client::Tls::from_ca(&ca, HOSTNAME)?,
        store: store.clone(),
        alice_pw,
        bob_pw,
    };
    let result = scenario::play(&env, scenario).await;
    started.stop().await;
    store.sync().await?;
    result
}

/// With `--keep`: a config next to the kept store, so the CLI verbs can inspect it.
fn write_config(dir: &Path) -> anyhow::Result<()> {
    let text = format!(
        "# Written by `mailstack demo --keep`.\nhostname = \"{HOSTNAME}\"\ndata_dir = \
         \"data\"\ndomains = [\"example.test\"]\noutbound = \"reject\"\n\n[tls]\ncert = \
         \"certs/server.crt\"\nkey = \"certs/server.key\"\n\n[listeners]\nsmtp = \
         \"127.0.0.1:0\"\nsubmission = \"127.0.0.1:0\"\nsubmissions = \"127.0.0.1:0\"\npop3 = \
         \"127.0.0.1:0\"\npop3s = \"127.0.0.1:0\"\nimap = \"127.0.0.1:0\"\nimaps = \
         \"127.0.0.1:0\"\n"
    );
    let path = dir.join("mailstack.toml");
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))
}
