//! `mailstack serve`: every configured listener as tokio tasks in one process over one store
//! (docs/architecture.md §2 "One process, one store"), and a clean stop on SIGTERM/SIGINT.

use std::net::SocketAddr;

use anyhow::{bail, Context};
use auth::{Auth, Secret};
use net::{Limiter, ShutdownTrigger, TlsAcceptor};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::admin::open_store;
use crate::config::{Config, OutboundMode};

/// `mailstack certs`: create the development CA + server certificate if missing.
pub fn certs(config: &Config) -> anyhow::Result<()> {
    let setup = net::load_or_generate(
        &config.tls.cert,
        &config.tls.key,
        true,
        std::slice::from_ref(&config.hostname),
    )?;
    drop(setup.acceptor);
    match setup.generated_ca {
        Some(ca) => println!(
            "generated {} and {}; import the CA {} into your mail client",
            config.tls.cert.display(),
            config.tls.key.display(),
            ca.display()
        ),
        None => println!(
            "certificates already exist: {} {}",
            config.tls.cert.display(),
            config.tls.key.display()
        ),
    }
    Ok(())
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
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
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
    }
}

/// Runs every listener until SIGTERM/SIGINT. `ephemeral` holds the temporary folder of
/// `--ephemeral` (deleted when this returns) and switches stdout to one JSON line; `json`
/// (`--json`) adds that line after the usual ones.
pub async fn run(
    config: Config,
    trace_flag: bool,
    ephemeral: Option<tempfile::TempDir>,
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
    store.set_domains(&config.domains).await?;
    let auth = Auth::new(store.clone(), config.auth_config())?;
    for line in ensure_accounts(&config, &auth).await? {
        say(line);
    }

    let tls = net::load_or_generate(
        &config.tls.cert,
        &config.tls.key,
        config.tls.generate,
        std::slice::from_ref(&config.hostname),
    )
    .context("TLS certificates")?;
    if let Some(ca) = &tls.generated_ca {
        say(format!("generated a local CA and server certificate; import {} into your mail client to trust it", ca.display()));
    }
    let (admin_token, generated_token) = match &config.http.admin_token {
        Some(t) if !t.is_empty() => (t.clone(), false),
        _ => (auth::random_token(16)?, true),
    };
    let mut started = start_listeners(&config, &auth, &tls.acceptor, trace, &admin_token).await?;
    let mut ports = serde_json::Map::new();
    for (service, local, mode) in std::mem::take(&mut started.listeners) {
        say(format!("{service} listening on {local} ({mode})"));
        if service == "http" || service == "https" {
            let scheme = service;
            say(format!("dashboard: {scheme}://{local}/ (live sessions, mailboxes, events; read-only without the admin token)"));
        }
        tracing::info!(service, address = %local, tls = mode, "listening");
        ports.insert(service.to_string(), local.port().into());
    }
    if generated_token && config.listeners.http.is_some() {
        say(format!(
            "http admin token (Authorization: Bearer …): {admin_token}"
        ));
    }
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
        let line = serde_json::json!({
            "pid": std::process::id(),
            "host": "127.0.0.1",
            "ports": ports,
            "ca": ca,
            "admin_token": admin_token,
            "data_dir": config.data_dir,
        });
        use std::io::Write;
        let mut out = std::io::stdout();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    wait_for_signal().await;
    say("stopping".into());
    started.stop().await;
    store.sync().await?;
    drop(store);
    drop(auth);
    say("stopped".into());
    drop(ephemeral);
    Ok(())
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

/// Binds every listener of `config` (all of them first: autoconfig must name the ports
/// actually bound), then runs each protocol server over `auth`'s store. Used by `serve` and
/// by `demo` (which passes a config with every listener on `127.0.0.1:0`).
pub(crate) async fn start_listeners(
    config: &Config,
    auth: &Auth,
    tls: &TlsAcceptor,
    trace: bool,
    admin_token: &str,
) -> anyhow::Result<Started> {
    let limiter = Limiter::new(net::ConnLimits {
        per_address: config.limits.connections_per_address,
        total: config.limits.connections_total,
    });
    let mut bound = Vec::new();
    for (service, addr) in config.listeners.all() {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} for {service}"))?;
        let local = listener.local_addr().unwrap_or(addr);
        bound.push((service, listener, local));
    }
    if bound.is_empty() {
        bail!("no listeners configured: add a [listeners] table");
    }
    let advertised = web::Advertised {
        hostname: config.hostname.clone(),
        ports: bound
            .iter()
            .filter(|(s, ..)| *s != "http" && *s != "https")
            .map(|(s, _, a)| (s.to_string(), a.port()))
            .collect(),
    };
    let (trigger, shutdown) = ShutdownTrigger::new();
    let mut tasks = JoinSet::new();
    let mut listeners = Vec::new();
    // Every session of every listener, for the dashboard.
    let registry = net::Registry::new();
    for (service, listener, local) in bound {
        let mode = if service == "http" || service == "https" {
            let ctx = web::Ctx {
                auth: auth.clone(),
                advertised: advertised.clone(),
                admin_token: Secret::new(admin_token.to_string()),
                capture_account: match config.outbound {
                    OutboundMode::Capture => config.capture_account.clone(),
                    OutboundMode::Reject => None,
                },
                registry: registry.clone(),
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
            spawn_service(
                service,
                listener,
                config,
                auth,
                tls,
                &limiter,
                trace,
                &registry,
                shutdown.clone(),
                &mut tasks,
            )?
        };
        listeners.push((service, local, mode));
    }
    Ok(Started {
        listeners,
        trigger,
        tasks,
    })
}

#[allow(clippy::too_many_arguments)]
fn spawn_service(
    service: &str,
    listener: TcpListener,
    config: &Config,
    auth: &Auth,
    tls: &TlsAcceptor,
    limiter: &Limiter,
    trace: bool,
    registry: &net::Registry,
    shutdown: net::Shutdown,
    tasks: &mut JoinSet<std::io::Result<()>>,
) -> anyhow::Result<&'static str> {
    // What every daemon's listener shares (net::ServiceConfig).
    let common = net::ServiceConfig {
        tls: Some(tls.clone()),
        implicit_tls: matches!(service, "pop3s" | "imaps" | "submissions"),
        hostname: config.hostname.clone(),
        limiter: limiter.clone(),
        trace,
        allow_plaintext_from_loopback: true,
        registry: Some(registry.clone()),
    };
    let implicit = common.implicit_tls;
    Ok(match service {
        "pop3" | "pop3s" => {
            let ctx = pop3d::Ctx {
                auth: auth.clone(),
                service: common,
            };
            tasks.spawn(pop3d::serve(listener, ctx, shutdown));
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
            let outbound = match (config.outbound, &config.capture_account) {
                (OutboundMode::Capture, Some(a)) => submission::Outbound::Capture(a.clone()),
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
        other => bail!("unknown service {other}"),
    })
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

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}
