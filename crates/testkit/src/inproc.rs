//! [`Stack`]: the daemons in this process, each listener on `127.0.0.1:0`, over one temporary
//! store, with the knobs the binary does not expose: short timeouts, small connection limits,
//! loopback treated as remote for the plaintext-password rule, a small maximum literal.
//!
//! # Invariants
//! - Same wiring as `mailstack serve` (docs/architecture.md §2, §10): one store, one `Auth`,
//!   one `net::ServiceConfig` (certificate, hostname, shared `Limiter`, trace, plaintext rule,
//!   session `Registry`) embedded in every daemon's `Ctx`, STARTTLS on the plain ports and
//!   implicit TLS on imaps/pop3s/submissions/https. A hole proved here is a hole in the binary.
//! - Every listener is bound before any daemon starts, so the HTTP service advertises the
//!   ports actually bound (unless a test sets [`StackBuilder::advertised`]).
//! - Dropping a [`Stack`] stops its listeners (the shutdown trigger goes with it).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use auth::{Auth, AuthConfig, Secret};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::{ALICE, BOB, DOMAIN, PASSWORD, TOKEN};

/// A daemon a [`Stack`] can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Daemon {
    /// `imap` (STARTTLS) and `imaps`.
    Imap,
    /// `pop3` (STLS) and `pop3s`.
    Pop3,
    /// The SMTP server's three roles: `smtp` (inbound MX), `submission`, `submissions`.
    Smtp,
    /// `http` and `https` (the web service over the same store).
    Http,
    /// `managesieve` (STARTTLS), with the `sieve` crate's language.
    Sieve,
}

impl Daemon {
    /// Every daemon, the default of [`Stack::builder`].
    pub const ALL: [Daemon; 5] = [
        Daemon::Imap,
        Daemon::Pop3,
        Daemon::Smtp,
        Daemon::Http,
        Daemon::Sieve,
    ];

    /// Its listeners' service names, as `mailstack serve` names them.
    pub fn services(self) -> &'static [&'static str] {
        match self {
            Daemon::Imap => &["imap", "imaps"],
            Daemon::Pop3 => &["pop3", "pop3s"],
            Daemon::Smtp => &["smtp", "submission", "submissions"],
            Daemon::Http => &["http", "https"],
            Daemon::Sieve => &["managesieve"],
        }
    }
}

/// The listeners that speak TLS from the first byte.
const IMPLICIT_TLS: [&str; 4] = ["imaps", "pop3s", "submissions", "https"];

/// What a test changes from the defaults; [`StackBuilder::start`] runs it.
#[must_use]
pub struct StackBuilder {
    service: net::ServiceConfig,
    daemons: Vec<Daemon>,
    domains: Vec<String>,
    accounts: Vec<(String, String)>,
    pop3: pop3d::Limits,
    imap: imapd::Limits,
    smtp: submission::Options,
    max_literal: u64,
    max_message_size: u64,
    outbound: submission::Outbound,
    advertised: Option<web::Advertised>,
    capture_account: Option<String>,
    tls: bool,
    registry: net::Registry,
}

impl StackBuilder {
    /// Our name in greetings, EHLO, `Received:` and the certificate (default `localhost`).
    pub fn hostname(mut self, name: &str) -> Self {
        self.service.hostname = name.to_string();
        self
    }

    /// Runs only these daemons (default: all of them).
    pub fn only(mut self, daemons: &[Daemon]) -> Self {
        self.daemons = daemons.to_vec();
        self
    }

    /// The local domains (default `example.test`).
    pub fn domains(mut self, domains: &[&str]) -> Self {
        self.domains = domains.iter().map(|d| d.to_string()).collect();
        self
    }

    /// Creates an account with this password at start.
    pub fn account(mut self, address: &str, password: &str) -> Self {
        self.accounts.push((address.into(), password.into()));
        self
    }

    /// Creates an account with [`PASSWORD`] at start.
    pub fn user(self, address: &str) -> Self {
        self.account(address, PASSWORD)
    }

    /// Creates the demo accounts [`ALICE`] and [`BOB`] (with their own passwords) at start.
    pub fn demo_accounts(self) -> Self {
        self.account(ALICE.0, ALICE.1).account(BOB.0, BOB.1)
    }

    /// `ServiceConfig::allow_plaintext_from_loopback` of every daemon (default true; false
    /// makes the test's 127.0.0.1 connections count as remote).
    pub fn plaintext_from_loopback(mut self, allowed: bool) -> Self {
        self.service.allow_plaintext_from_loopback = allowed;
        self
    }

    /// The protocol trace of every session (`--trace-protocol`; default off).
    pub fn trace(mut self, on: bool) -> Self {
        self.service.trace = on;
        self
    }

    /// TLS on (default): a generated certificate, STARTTLS on the plain ports and the
    /// implicit-TLS listeners. Off: no certificate, no STARTTLS, and no imaps, pop3s,
    /// submissions or https listener.
    pub fn tls(mut self, on: bool) -> Self {
        self.tls = on;
        self
    }

    /// The session registry the daemons register with and the dashboard reads (default: a
    /// new one, [`Stack::registry`]).
    pub fn registry(mut self, registry: net::Registry) -> Self {
        self.registry = registry;
        self
    }

    /// Connection limits shared by every listener.
    pub fn limiter(mut self, limiter: net::Limiter) -> Self {
        self.service.limiter = limiter;
        self
    }

    /// Any other change to the `ServiceConfig` every daemon shares.
    pub fn service(mut self, change: impl FnOnce(&mut net::ServiceConfig)) -> Self {
        change(&mut self.service);
        self
    }

    /// POP3 session limits (line length, bad commands, timeouts).
    pub fn pop3_limits(mut self, limits: pop3d::Limits) -> Self {
        self.pop3 = limits;
        self
    }

    /// IMAP timeouts (pre-login autologout, autologout, IDLE re-check).
    pub fn imap_limits(mut self, limits: imapd::Limits) -> Self {
        self.imap = limits;
        self
    }

    /// IMAP APPENDLIMIT / largest literal.
    pub fn max_literal(mut self, bytes: u64) -> Self {
        self.max_literal = bytes;
        self
    }

    /// SMTP idle limit (the same before and after AUTH).
    pub fn smtp_idle(mut self, idle: Duration) -> Self {
        self.smtp.idle_timeout = idle;
        self
    }

    /// SMTP SIZE.
    pub fn max_message_size(mut self, bytes: u64) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// What SMTP does with non-local recipients (default: reject).
    pub fn outbound(mut self, outbound: submission::Outbound) -> Self {
        self.outbound = outbound;
        self
    }

    /// The listeners the HTTP service advertises (autoconfig), instead of the bound ones.
    pub fn advertised(mut self, advertised: web::Advertised) -> Self {
        self.advertised = Some(advertised);
        self
    }

    /// The account `/api/captured` reads (default `catchall@example.test`).
    pub fn capture_account(mut self, address: &str) -> Self {
        self.capture_account = Some(address.to_string());
        self
    }

    /// Creates the store, the accounts and the certificate, binds every listener, starts the
    /// daemons.
    pub async fn start(self) -> Stack {
        let dir = tempfile::tempdir().expect("tempdir");
        // `MAILSTACK_TEST_STORE=postgres` runs the same stack on a private PostgreSQL
        // (`crate::postgres`; `make test` runs the protocol suites both ways).
        let store = match std::env::var("MAILSTACK_TEST_STORE").as_deref() {
            Ok("postgres") => {
                crate::postgres::store().expect("PostgreSQL for MAILSTACK_TEST_STORE")
            }
            _ => store::Store::open(dir.path().join("store")).expect("store"),
        };
        store.set_domains(&self.domains).await.expect("domains");
        let auth = Auth::new(store.clone(), AuthConfig::for_tests()).expect("auth");
        for (address, password) in &self.accounts {
            auth.add_user(address, &Secret::new(password.clone()), None)
                .await
                .unwrap_or_else(|e| panic!("add {address}: {e}"));
        }
        let certs_dir = dir.path().join("certs");
        let certs = self.tls.then(|| {
            crate::tls::generate(&certs_dir, std::slice::from_ref(&self.service.hostname))
        });
        let registry = self.registry.clone();
        let mut service = self.service.clone();
        service.tls = certs.as_ref().map(|c| c.acceptor.clone());
        service.registry = Some(registry.clone());

        let mut listeners = Vec::new();
        for daemon in &self.daemons {
            for name in daemon.services() {
                if certs.is_none() && IMPLICIT_TLS.contains(name) {
                    continue;
                }
                let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
                listeners.push((*name, l));
            }
        }
        let addrs: HashMap<&'static str, SocketAddr> = listeners
            .iter()
            .map(|(name, l)| (*name, l.local_addr().expect("addr")))
            .collect();
        // As `mailstack serve` does: the bound mail listeners, and the generated CA (DER) for
        // the Apple profile.
        let advertised = self.advertised.clone().unwrap_or_else(|| web::Advertised {
            hostname: self.service.hostname.clone(),
            ports: addrs
                .iter()
                .filter(|(s, _)| !s.starts_with("http"))
                .map(|(s, a)| (s.to_string(), a.port()))
                .collect(),
            ca_certificate: certs.as_ref().map(|c| crate::tls::der(&c.ca)),
        });
        let web = web::Ctx {
            auth: auth.clone(),
            advertised,
            admin_token: Secret::new(TOKEN.to_string()),
            capture_account: self.capture_account.clone(),
            registry: registry.clone(),
            faults: service.faults.clone(),
            accept_any_domain: false,
        };
        let (trigger, shutdown) = net::ShutdownTrigger::new();
        let mut tasks = Vec::new();
        for (name, l) in listeners {
            let down = shutdown.clone();
            let task = self.spawn(name, l, &auth, &service, &web, down);
            tasks.push((name, task));
        }
        Stack {
            store,
            auth,
            ca: certs.map_or_else(|| certs_dir.join("ca.crt"), |c| c.ca),
            registry,
            limiter: service.limiter.clone(),
            web,
            addrs,
            trigger,
            tasks,
            dir,
        }
    }

    /// Starts the daemon behind one listener.
    #[allow(clippy::too_many_arguments)]
    fn spawn(
        &self,
        name: &'static str,
        l: TcpListener,
        auth: &Auth,
        service: &net::ServiceConfig,
        web: &web::Ctx,
        down: net::Shutdown,
    ) -> JoinHandle<std::io::Result<()>> {
        let mut service = service.clone();
        // submission::serve_with sets it for submissions from the role.
        service.implicit_tls = matches!(name, "imaps" | "pop3s");
        match name {
            "imap" | "imaps" => {
                let ctx = imapd::Ctx {
                    auth: auth.clone(),
                    service,
                    max_literal: self.max_literal,
                    sort_cache: Default::default(),
                };
                tokio::spawn(imapd::serve_with_limits(l, ctx, self.imap, down))
            }
            "pop3" | "pop3s" => {
                let ctx = pop3d::Ctx {
                    auth: auth.clone(),
                    service,
                };
                tokio::spawn(pop3d::serve_with_limits(l, ctx, self.pop3.clone(), down))
            }
            "smtp" | "submission" | "submissions" => {
                let role = match name {
                    "smtp" => submission::Role::Inbound,
                    "submission" => submission::Role::Submission,
                    _ => submission::Role::Submissions,
                };
                let mut ctx = submission::Ctx::new(auth.clone(), service.hostname.clone());
                ctx.service = service;
                ctx.max_message_size = self.max_message_size;
                ctx.outbound = self.outbound.clone();
                tokio::spawn(submission::serve_with(l, ctx, role, down, self.smtp))
            }
            "managesieve" => {
                let ctx = managesieve::Ctx {
                    auth: auth.clone(),
                    service,
                    language: managesieve::Language::default(),
                };
                tokio::spawn(managesieve::serve(l, ctx, down))
            }
            "http" => tokio::spawn(web::serve(l, web.clone(), service.limiter, down)),
            "https" => tokio::spawn(web::serve_tls(
                l,
                service.tls.clone().expect("https only with TLS"),
                web.clone(),
                service.limiter,
                down,
            )),
            other => unreachable!("no daemon serves {other}"),
        }
    }
}

/// Running daemons and the store behind them.
pub struct Stack {
    pub store: store::Store,
    pub auth: Auth,
    /// The CA certificate the servers' certificate chains to (no file with `tls(false)`).
    pub ca: PathBuf,
    /// Sessions of the mail listeners (what the dashboard shows).
    pub registry: net::Registry,
    /// The connection limiter every listener shares.
    pub limiter: net::Limiter,
    /// The HTTP service's context (also for `web::router` tests without a listener).
    pub web: web::Ctx,
    addrs: HashMap<&'static str, SocketAddr>,
    trigger: net::ShutdownTrigger,
    tasks: Vec<(&'static str, JoinHandle<std::io::Result<()>>)>,
    /// The temporary folder: store, certificates; free for a test's own files.
    pub dir: tempfile::TempDir,
}

impl Stack {
    /// Every daemon with the defaults, no accounts.
    pub fn builder() -> StackBuilder {
        StackBuilder {
            service: net::ServiceConfig::new("localhost"),
            daemons: Daemon::ALL.to_vec(),
            domains: vec![DOMAIN.to_string()],
            accounts: Vec::new(),
            pop3: pop3d::Limits::default(),
            imap: imapd::Limits::default(),
            smtp: submission::Options::default(),
            max_literal: imapd::DEFAULT_MAX_LITERAL,
            max_message_size: submission::DEFAULT_MAX_MESSAGE_SIZE,
            outbound: submission::Outbound::Reject,
            advertised: None,
            capture_account: Some(format!("catchall@{DOMAIN}")),
            tls: true,
            registry: net::Registry::new(),
        }
    }

    /// Every daemon with the defaults and the demo accounts [`ALICE`] and [`BOB`].
    pub async fn start() -> Stack {
        Stack::builder().demo_accounts().start().await
    }

    /// The bound address of a listener (`"imap"`, `"pop3s"`, `"submission"`, `"http"`, …);
    /// panics if that daemon does not run.
    pub fn addr(&self, service: &str) -> SocketAddr {
        *self
            .addrs
            .get(service)
            .unwrap_or_else(|| panic!("no {service} listener in this stack"))
    }

    /// Whether a listener of that name runs.
    pub fn serves(&self, service: &str) -> bool {
        self.addrs.contains_key(service)
    }

    /// The bound port of a listener (see [`Stack::addr`]).
    pub fn port(&self, service: &str) -> u16 {
        self.addr(service).port()
    }

    /// Stops the listeners; sessions get their protocol's goodbye.
    pub fn stop(&self) {
        self.trigger.trigger();
    }

    /// Stops the listeners and waits (60 s at most) until every accept loop has returned;
    /// panics if one failed.
    pub async fn stopped(&mut self) {
        self.stop();
        for (name, task) in self.tasks.drain(..) {
            tokio::time::timeout(Duration::from_secs(60), task)
                .await
                .unwrap_or_else(|_| panic!("{name} did not stop within 60 s"))
                .expect("join")
                .unwrap_or_else(|e| panic!("{name} failed: {e}"));
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.trigger.trigger();
    }
}
