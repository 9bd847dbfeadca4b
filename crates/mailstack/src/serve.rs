//! `mailstack serve`: every configured listener as tokio tasks in one process over one store
//! (docs/architecture.md §2 "One process, one store"), and a clean stop on SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::time::Duration;

use crate::stop::{stdin_is_a_pipe, stop_requested, Watch};

use anyhow::{bail, Context};
use auth::{Auth, Secret};
use net::{Limiter, ShutdownTrigger, TlsAcceptor};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::admin::open_store;
use crate::config::{Config, OutboundMode};

/// `mailstack certs`: create the development CA + server certificate if missing (renew them
/// when they expire soon) and say where they are. With `[tls] generate = false` it writes
/// nothing, anywhere: it checks the configured certificate (docs/spec.md §7.3).
pub fn certs(config: &Config) -> anyhow::Result<()> {
    let setup = tls_setup(config)?;
    drop(setup.acceptor);
    let until = setup
        .validity
        .map(|v| format!(", valid until {}", net::date(v.not_after)))
        .unwrap_or_default();
    match (&setup.generated_ca, &setup.renewed) {
        (Some(ca), None) => println!(
            "generated {} and {}{until}; import the CA {} into your mail client",
            config.tls.cert.display(),
            config.tls.key.display(),
            ca.display()
        ),
        (_, Some(renewed)) => println!("{renewed}{until}"),
        (None, None) => println!(
            "certificate {} and key {} are in place{until}",
            config.tls.cert.display(),
            config.tls.key.display(),
        ),
    }
    if let Some(w) = &setup.warning {
        println!("warning: {w}");
    }
    Ok(())
}

/// The certificate of `config`: loaded, generated when missing and allowed, renewed when it
/// expires soon and is ours (net::load_or_generate).
fn tls_setup(config: &Config) -> anyhow::Result<net::TlsSetup> {
    net::load_or_generate(
        &config.tls.cert,
        &config.tls.key,
        config.tls.generate,
        std::slice::from_ref(&config.hostname),
    )
    .map_err(|e| anyhow::anyhow!("TLS certificate: {e}"))
}

/// The local CA beside the certificate (DER), when mailstack generated it: the Apple profile
/// carries it (docs/spec.md §3.1).
fn generated_ca(config: &Config) -> Option<Vec<u8>> {
    use rustls::pki_types::pem::PemObject;
    if !config.tls.generate {
        return None;
    }
    let ca = config.tls.cert.parent()?.join("ca.crt");
    rustls::pki_types::CertificateDer::from_pem_file(ca)
        .ok()
        .map(|c| c.to_vec())
}

fn init_logging(trace: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if trace {
        "info,mailstack::protocol=info"
    } else {
        "info,mailstack::protocol=off"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    use std::io::IsTerminal;
    // Colours only on a terminal: a log file or a test harness gets plain text.
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .finish();
    if tracing::subscriber::set_global_default(subscriber).is_ok() {
        crate::logbridge::install();
    }
}

/// The client-facing listeners of a config, for `dns-records`.
pub fn advertised_from_config(config: &Config) -> web::Advertised {
    web::Advertised {
        hostname: config.hostname.clone(),
        ports: config
            .listeners
            .all()
            .into_iter()
            .filter(|(s, _)| *s != "http" && *s != "https")
            .map(|(s, a)| (s.to_string(), a.port()))
            .collect(),
        ca_certificate: None,
    }
}

/// What `serve --ephemeral` adds to a run (docs/spec.md §7.2).
pub struct Ephemeral {
    /// The temporary folder (store, certificates), deleted when [`run`] returns.
    pub dir: tempfile::TempDir,
    /// `--accept-any`: every domain local, recipients created at their first RCPT TO.
    pub accept_any: bool,
    /// Any non-empty password (not `--real-passwords`).
    pub test_passwords: bool,
    /// Our parent when we started: the server stops when it changes (the parent died).
    pub parent: u32,
}

/// Runs every listener until SIGTERM/SIGINT. `ephemeral` (`--ephemeral`) holds the temporary
/// folder (deleted when this returns), switches stdout to one JSON line and stops the server
/// when its parent dies or a piped stdin closes; `json` (`--json`) adds that line after the
/// usual ones.
///
/// Order matters for a failed start: the store (its lock names a running server), then every
/// listener is bound, and only then are certificates, accounts and the admin token made, so a
/// busy port leaves nothing behind.
pub async fn run(
    config: Config,
    trace_flag: bool,
    ephemeral: Option<Ephemeral>,
    json: bool,
) -> anyhow::Result<()> {
    let trace = trace_flag || config.log.trace_protocol;
    init_logging(trace);
    let quiet = ephemeral.is_some();
    // Not println!: a closed stdout (the parent stopped reading) must not panic the server
    // on its way down.
    let say = |line: String| {
        if !quiet {
            use std::io::Write;
            let _ = writeln!(std::io::stdout(), "mailstack: {line}");
        }
    };
    let store = open_store(&config)?;
    let bound = bind_listeners(&config).await?;

    let tls = tls_setup(&config)?;
    if let Some(renewed) = &tls.renewed {
        tracing::info!("{renewed}");
    } else if let Some(ca) = &tls.generated_ca {
        say(format!(
            "generated a local CA and server certificate; import {} into your mail client to \
             trust it",
            ca.display()
        ));
    }
    if let Some(w) = &tls.warning {
        tracing::warn!("{w}");
    }
    store.set_domains(&config.domains).await?;
    let mut auth_config = config.auth_config();
    if let Some(e) = &ephemeral {
        // docs/spec.md §7.2: tests pick passwords like `secret`.
        auth_config.test_password_policy = e.test_passwords;
    }
    let auth = Auth::new(store.clone(), auth_config)?;
    for line in ensure_accounts(&config, &auth).await? {
        say(line);
    }
    let token_file = crate::token::path(&config.data_dir);
    let (admin_token, token_note) = match &config.http.admin_token {
        Some(t) if !t.is_empty() => (t.clone(), None),
        _ => {
            let (token, made) = crate::token::load_or_create(&config.data_dir)?;
            let note = if made {
                // docs/spec.md §7.1: shown once, when it is made.
                format!(
                    "http admin token (Authorization: Bearer …): {token} (saved in {}; \
                     `mailstack admin-token` shows it, `--rotate` replaces it)",
                    token_file.display()
                )
            } else {
                format!(
                    "http admin token: the one saved in {} (`mailstack admin-token` shows it)",
                    token_file.display()
                )
            };
            (token, Some(note))
        }
    };
    let options = Options {
        trace,
        admin_token: admin_token.clone(),
        ca_certificate: generated_ca(&config),
        plaintext_from_loopback: true,
        accept_any: ephemeral.as_ref().is_some_and(|e| e.accept_any),
    };
    let started = bound.start(&config, &auth, &tls.acceptor, options);
    let mut ports = serde_json::Map::new();
    for (service, local, mode) in &started.listeners {
        // One line per listener (stdout; with --ephemeral the JSON line below says it all).
        let what = if *service == "http" || *service == "https" {
            format!("{mode}; dashboard {service}://{local}/")
        } else {
            mode.to_string()
        };
        if quiet {
            tracing::info!(service, address = %local, tls = mode, "listening");
        } else {
            say(format!("{service} listening on {local} ({what})"));
        }
        ports.insert(service.to_string(), local.port().into());
        if *service == "http" {
            // docs/spec.md §7.1: CLI verbs find the running server's admin API here.
            crate::live::write_endpoint(&config.data_dir, *local)?;
        }
    }
    if let (Some(note), true) = (token_note, config.listeners.http.is_some()) {
        say(note);
    }
    // Before anything says "ready": a SIGTERM right after it must stop us cleanly.
    let signals = crate::stop::Signals::install();
    let watch = Watch {
        parent: ephemeral.as_ref().map(|e| e.parent).filter(|p| *p > 1),
        stdin: ephemeral.is_some() && stdin_is_a_pipe(),
    };
    if ephemeral.is_none() {
        say(format!(
            "ready (store {}, pid {})",
            config.data_dir.display(),
            std::process::id()
        ));
    }
    if json {
        // The CA `load_or_generate` writes next to the certificate.
        let ca = config
            .tls
            .cert
            .parent()
            .unwrap_or(std::path::Path::new("."))
            .join("ca.crt");
        let mut line = serde_json::json!({
            "pid": std::process::id(),
            "host": "127.0.0.1",
            "ports": ports,
            "ca": ca,
            "admin_token": admin_token,
            "data_dir": config.data_dir,
            "hostname": config.hostname,
            "domains": store.domains()?,
            "capture_account": match config.outbound {
                OutboundMode::Capture => config.capture_account.clone(),
                OutboundMode::Reject => None,
            },
            "dashboard": ports.get("http").map(|p| format!("http://127.0.0.1:{p}/")),
        });
        if let Some(e) = &ephemeral {
            // docs/spec.md §7.2: what a harness needs to know about this throwaway server.
            line["ephemeral"] = serde_json::json!({
                "dir": e.dir.path(),
                "accept_any": e.accept_any,
                "password_policy": if e.test_passwords { "test" } else { "real" },
                "exit_with_parent": watch.parent,
                "exit_on_stdin_eof": watch.stdin,
            });
        }
        use std::io::Write;
        let mut out = std::io::stdout();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    let why = stop_requested(watch, signals).await;
    tracing::info!("stopping: {why}");
    say("stopping".into());
    started.stop().await;
    store.sync().await?;
    drop(store);
    drop(auth);
    say("stopped".into());
    drop(ephemeral);
    Ok(())
}

/// What `Bound::start` needs besides the config.
pub(crate) struct Options {
    /// Log every protocol line.
    pub trace: bool,
    pub admin_token: String,
    /// The generated CA, DER, for the Apple profile.
    pub ca_certificate: Option<Vec<u8>>,
    /// docs/spec.md §4.4: plaintext passwords from loopback (on for `serve`; the demo turns it
    /// off to show what a client elsewhere sees).
    pub plaintext_from_loopback: bool,
    /// `serve --ephemeral --accept-any` (docs/spec.md §7.2).
    pub accept_any: bool,
}

/// Every listener of a config, bound and serving (see [`start_listeners`]).
pub(crate) struct Started {
    /// (service, bound address, TLS mode) in the config's listener order.
    pub listeners: Vec<(&'static str, SocketAddr, &'static str)>,
    /// Stops every accept loop and tells live sessions to say goodbye.
    pub trigger: ShutdownTrigger,
    /// The accept loops; they end after `trigger`.
    pub tasks: JoinSet<std::io::Result<()>>,
}

impl Started {
    /// Triggers shutdown and waits for every accept loop to end.
    pub async fn stop(mut self) {
        self.trigger.trigger();
        while let Some(r) = self.tasks.join_next().await {
            if let Ok(Err(e)) = r {
                tracing::warn!("listener ended with an error: {e}");
            }
        }
    }
}

/// Every listener of a config, bound but not serving yet.
pub(crate) struct Bound {
    listeners: Vec<(&'static str, TcpListener, SocketAddr)>,
}

/// Binds every listener of `config` (all of them first: autoconfig must name the ports
/// actually bound, and a port in use must fail the start before anything is created).
pub(crate) async fn bind_listeners(config: &Config) -> anyhow::Result<Bound> {
    let mut listeners = Vec::new();
    for (service, addr) in config.listeners.all() {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| bind_error(config, service, addr, &e))?;
        let local = listener.local_addr().unwrap_or(addr);
        listeners.push((service, listener, local));
    }
    if listeners.is_empty() {
        bail!("no listeners configured: add a [listeners] table");
    }
    Ok(Bound { listeners })
}

/// Why `service` cannot listen on `addr`, with what to do about it.
fn bind_error(
    config: &Config,
    service: &str,
    addr: SocketAddr,
    e: &std::io::Error,
) -> anyhow::Error {
    let file = if config.file.as_os_str().is_empty() {
        "the config".to_string()
    } else {
        config.file.display().to_string()
    };
    let hint = match e.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "another program (another mailstack?) uses port {}; stop it or change [listeners] \
             {service} in {file}",
            addr.port()
        ),
        std::io::ErrorKind::PermissionDenied => format!(
            "ports below 1024 need root or CAP_NET_BIND_SERVICE; or change [listeners] {service} \
             in {file}"
        ),
        std::io::ErrorKind::AddrNotAvailable => format!(
            "{} is not an address of this machine; change [listeners] {service} in {file}",
            addr.ip()
        ),
        _ => format!("change [listeners] {service} in {file}"),
    };
    anyhow::anyhow!("cannot listen on {addr} for {service}: {e}; {hint}")
}

/// Binds every listener of `config` and runs each protocol server (the demo's entry point).
pub(crate) async fn start_listeners(
    config: &Config,
    auth: &Auth,
    tls: &TlsAcceptor,
    options: Options,
) -> anyhow::Result<Started> {
    Ok(bind_listeners(config)
        .await?
        .start(config, auth, tls, options))
}

impl Bound {
    /// Runs each protocol server over `auth`'s store on its bound listener.
    pub(crate) fn start(
        self,
        config: &Config,
        auth: &Auth,
        tls: &TlsAcceptor,
        options: Options,
    ) -> Started {
        let limiter = Limiter::new(net::ConnLimits {
            per_address: config.limits.connections_per_address,
            total: config.limits.connections_total,
        });
        let advertised = web::Advertised {
            hostname: config.hostname.clone(),
            ports: self
                .listeners
                .iter()
                .filter(|(s, ..)| *s != "http" && *s != "https")
                .map(|(s, _, a)| (s.to_string(), a.port()))
                .collect(),
            ca_certificate: options.ca_certificate.clone(),
        };
        let (trigger, shutdown) = ShutdownTrigger::new();
        let mut tasks = JoinSet::new();
        let mut listeners = Vec::new();
        // Every session of every listener, for the dashboard.
        let registry = net::Registry::new();
        // Fault rules (docs/spec.md §7.7): from the config now, from the API later.
        let faults = net::faults::Faults::new();
        faults.set_allow_non_loopback(config.faults.allow_non_loopback);
        for rule in &config.faults.rules {
            if let Err(e) = faults.add(rule.clone()) {
                tracing::warn!("fault rule refused: {e}");
            }
        }
        for (service, listener, local) in self.listeners {
            let mode = if service == "http" || service == "https" {
                let ctx = web::Ctx {
                    auth: auth.clone(),
                    advertised: advertised.clone(),
                    admin_token: Secret::new(options.admin_token.clone()),
                    capture_account: match config.outbound {
                        OutboundMode::Capture => config.capture_account.clone(),
                        OutboundMode::Reject => None,
                    },
                    registry: registry.clone(),
                    faults: faults.clone(),
                    accept_any_domain: options.accept_any,
                };
                if service == "https" {
                    let acceptor = tls.clone();
                    tasks.spawn(web::serve_tls(
                        listener,
                        acceptor,
                        ctx,
                        limiter.clone(),
                        shutdown.clone(),
                    ));
                    "HTTPS, same certificate"
                } else {
                    tasks.spawn(web::serve(listener, ctx, limiter.clone(), shutdown.clone()));
                    "HTTP"
                }
            } else {
                let common = net::ServiceConfig {
                    tls: Some(tls.clone()),
                    implicit_tls: matches!(service, "pop3s" | "imaps" | "submissions"),
                    hostname: config.hostname.clone(),
                    limiter: limiter.clone(),
                    trace: options.trace,
                    allow_plaintext_from_loopback: options.plaintext_from_loopback,
                    registry: Some(registry.clone()),
                    faults: faults.clone(),
                };
                let daemon = Daemon {
                    config,
                    auth,
                    accept_any: options.accept_any,
                    shutdown: shutdown.clone(),
                };
                spawn_service(service, listener, &daemon, common, &mut tasks)
            };
            listeners.push((service, local, mode));
        }
        Started {
            listeners,
            trigger,
            tasks,
        }
    }
}

/// What every mail daemon of one server shares besides its `net::ServiceConfig`.
struct Daemon<'a> {
    config: &'a Config,
    auth: &'a Auth,
    /// `serve --ephemeral --accept-any` (docs/spec.md §7.2).
    accept_any: bool,
    shutdown: net::Shutdown,
}

/// Spawns the mail protocol server of `service` on `listener`; returns its TLS mode.
fn spawn_service(
    service: &'static str,
    listener: TcpListener,
    daemon: &Daemon<'_>,
    common: net::ServiceConfig,
    tasks: &mut JoinSet<std::io::Result<()>>,
) -> &'static str {
    let Daemon {
        config,
        auth,
        accept_any,
        ref shutdown,
    } = *daemon;
    let shutdown = shutdown.clone();
    let implicit = common.implicit_tls;
    match service {
        "pop3" | "pop3s" => {
            let ctx = pop3d::Ctx {
                auth: auth.clone(),
                service: common,
            };
            let limits = pop3d::Limits {
                login_delay: Duration::from_secs(config.limits.pop3_login_delay),
                ..pop3d::Limits::default()
            };
            tasks.spawn(pop3d::serve_with_limits(listener, ctx, limits, shutdown));
            if implicit {
                "implicit TLS"
            } else {
                "plain + STLS"
            }
        }
        "imap" | "imaps" => {
            let ctx = imapd::Ctx {
                auth: auth.clone(),
                service: common,
                max_literal: config.limits.max_message_size,
                sort_cache: Default::default(),
            };
            tasks.spawn(imapd::serve(listener, ctx, shutdown));
            if implicit {
                "implicit TLS"
            } else {
                "plain + STARTTLS"
            }
        }
        "smtp" | "submission" | "submissions" => {
            let role = match service {
                "smtp" => submission::Role::Inbound,
                "submission" => submission::Role::Submission,
                _ => submission::Role::Submissions,
            };
            let outbound = match (accept_any, config.outbound, &config.capture_account) {
                (true, ..) => submission::Outbound::AcceptAny,
                (false, OutboundMode::Capture, Some(a)) => submission::Outbound::Capture(a.clone()),
                _ => submission::Outbound::Reject,
            };
            let ctx = submission::Ctx {
                auth: auth.clone(),
                service: common,
                max_message_size: config.limits.max_message_size,
                outbound,
            };
            tasks.spawn(submission::serve(listener, ctx, role, shutdown));
            match role {
                submission::Role::Submissions => "implicit TLS",
                _ => "plain + STARTTLS",
            }
        }
        "managesieve" => {
            let ctx = managesieve::Ctx {
                auth: auth.clone(),
                service: common,
                language: managesieve::Language::default(),
            };
            tasks.spawn(managesieve::serve(listener, ctx, shutdown));
            "plain + STARTTLS"
        }
        // Listeners::all names only the services above.
        _ => "not served",
    }
}

/// Creates the demo accounts and the capture account when they are missing; returns what to
/// tell the user.
async fn ensure_accounts(config: &Config, auth: &Auth) -> anyhow::Result<Vec<String>> {
    let mut said = Vec::new();
    for d in &config.demo_account {
        let address = auth::normalize_address(&d.address)?;
        if auth.store().account(&address)?.is_none() {
            auth.add_user(&address, &Secret::new(d.password.clone()), d.quota)
                .await
                .with_context(|| format!("demo account {address}"))?;
            said.push(format!("created demo account {address}"));
        }
    }
    if let (OutboundMode::Capture, Some(cap)) = (config.outbound, &config.capture_account) {
        let cap = auth::normalize_address(cap)?;
        if auth.store().resolve(&cap)?.is_none() {
            // A random password nobody knows; `mailstack user passwd` sets a real one.
            let pw = auth::random_token(16)?;
            auth.add_user(&cap, &Secret::new(pw), None)
                .await
                .with_context(|| format!("capture account {cap}"))?;
            said.push(format!(
                "created capture account {cap} (set its password with `mailstack user passwd {cap}`)"
            ));
        }
    }
    Ok(said)
}
