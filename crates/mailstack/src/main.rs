//! `mailstack`: the binary. Config loading, the CLI, `serve` wiring and signals; the protocol
//! servers are libraries (`pop3d`, `imapd`, `submission`) over one `store` and one `auth`.
//!
//! # Layout
//! - `config`: the TOML configuration and its validation.
//! - `cli`: clap definitions of every verb.
//! - `admin`: account, alias, delivery and mailbox verbs on the store.
//! - `serve`: binds the listeners, runs every protocol server in this process, stops cleanly.
//! - `demo`: the teaching demo; its own server on a temporary store, scripted client sessions.
//!
//! # Invariants
//! - One process opens the store; CLI verbs run while a server holds it fail with a message that
//!   names the server's PID instead of hanging.
//! - Exit codes: 0 success, 1 a user error (one line on stderr), 2 a usage error (clap).
#![forbid(unsafe_code)]

mod admin;
mod cli;
mod config;
mod demo;
mod serve;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mailstack: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mailstack: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(cli: cli::Cli) -> anyhow::Result<()> {
    use cli::Verb;
    // The demo needs no config: it brings its own server on a temporary store.
    if let Verb::Demo {
        scenario,
        format,
        keep,
    } = cli.verb
    {
        return demo::run(scenario, format, keep).await;
    }
    if let Verb::Serve {
        trace_protocol,
        trace_bodies,
        ephemeral: true,
        ..
    } = cli.verb
    {
        net::conn::set_trace_bodies(trace_bodies);
        let dir = tempfile::Builder::new()
            .prefix("mailstack-ephemeral-")
            .tempdir()?;
        let config = if cli.config.exists() {
            let mut c = config::Config::load(&cli.config)?;
            c.make_ephemeral(dir.path());
            c
        } else {
            config::Config::ephemeral_default(dir.path())
        };
        return serve::run(config, trace_protocol, Some(dir), true).await;
    }
    let config = config::Config::load(&cli.config)?;
    match cli.verb {
        Verb::Serve {
            trace_protocol,
            trace_bodies,
            json,
            ..
        } => {
            net::conn::set_trace_bodies(trace_bodies || config.log.trace_bodies);
            serve::run(config, trace_protocol, None, json).await
        }
        Verb::Certs => serve::certs(&config),
        Verb::DnsRecords => {
            print!(
                "{}",
                web::dns_records(&serve::advertised_from_config(&config), &config.domains)
            );
            Ok(())
        }
        other => admin::run(config, other).await,
    }
}
