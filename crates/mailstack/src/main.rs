//! `mailstack`: the binary. Config loading, the CLI, `serve` wiring and signals; the protocol
//! servers are libraries (`pop3d`, `imapd`, `submission`) over one `store` and one `auth`.
//!
//! # Layout
//! - `config`: the TOML configuration and its validation.
//! - `cli`: clap definitions of every verb.
//! - `admin`: account, alias, delivery and mailbox verbs on the store.
//! - `backup`, `backup_files`: `mailbox export|import|purge` (offline or through the running
//!   server) and the files they read and write.
//! - `serve`: binds the listeners, runs every protocol server in this process, stops cleanly.
//! - `token`: the HTTP admin token kept in the data folder.
//! - `logbridge`: `log` records (rustls, sled) into `tracing`, rustls' warnings at DEBUG.
//! - `demo`: the teaching demo; its own server on a temporary store, scripted client sessions.
//!
//! # Invariants
//! - One process opens the store; CLI verbs run while a server holds it fail with a message that
//!   names the server's PID instead of hanging.
//! - Exit codes: 0 success, 1 a user error (one line on stderr), 2 a usage error (clap).
#![forbid(unsafe_code)]

mod admin;
mod admin_live;
mod backup;
mod backup_files;
mod cli;
mod config;
mod demo;
mod fault;
mod live;
mod logbridge;
mod serve;
mod sieve_verbs;
mod stop;
mod store_verbs;
mod token;

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
            eprintln!("mailstack: {}", one_line(&e));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes on one line, each said once: many errors already include their
/// cause's text, which `{:#}` would print again ("File exists (os error 17): File exists (os
/// error 17)").
fn one_line(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
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
        accept_any,
        real_passwords,
        ..
    } = cli.verb
    {
        // Before anything else: a parent that dies during start-up is noticed too.
        let parent = std::os::unix::process::parent_id();
        net::conn::set_trace_bodies(trace_bodies);
        sweep_killed_ephemeral(&std::env::temp_dir());
        let dir = tempfile::Builder::new()
            .prefix("mailstack-ephemeral-")
            .tempdir()?;
        // docs/spec.md §7.2: only a configuration it was given, never ./config/mailstack.toml.
        let mut config = match &cli.config {
            Some(file) => config::Config::load(file)?,
            None => config::Config::ephemeral_default(dir.path()),
        };
        config.make_ephemeral(dir.path());
        let ephemeral = serve::Ephemeral {
            dir,
            accept_any,
            test_passwords: !real_passwords,
            parent,
        };
        return serve::run(config, trace_protocol, Some(ephemeral), true).await;
    }
    let config = config::Config::load(&cli.config_path())?;
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
        Verb::AdminToken { rotate } => admin_token(&config, rotate),
        Verb::DnsRecords => {
            print!(
                "{}",
                web::dns_records(&serve::advertised_from_config(&config), &config.domains)
            );
            Ok(())
        }
        Verb::Fault(v) => fault::run(&config, v).await,
        Verb::Store(v) => store_verbs::run(&config, v).await,
        v @ (Verb::Forward { .. } | Verb::Vacation { .. }) => sieve_verbs::run(&config, v).await,
        Verb::Mailbox(
            v @ (cli::MailboxVerb::Export { .. }
            | cli::MailboxVerb::Import { .. }
            | cli::MailboxVerb::Purge { .. }),
        ) => backup::run(&config, v).await,
        other => admin::run(config, other).await,
    }
}

/// `mailstack admin-token [--rotate]`.
fn admin_token(config: &config::Config, rotate: bool) -> anyhow::Result<()> {
    if config
        .http
        .admin_token
        .as_deref()
        .is_some_and(|t| !t.is_empty())
    {
        anyhow::bail!(
            "{} sets [http] admin_token; that token is used (change it there)",
            config.file.display()
        );
    }
    if rotate {
        // Like the other verbs, not while a server holds the data folder: it would go on
        // accepting the old token until restarted.
        drop(admin::open_store(config)?);
        let token = token::rotate(&config.data_dir)?;
        println!("{token}");
        eprintln!(
            "mailstack: new admin token saved in {}; the old one no longer works",
            token::path(&config.data_dir).display()
        );
    } else {
        let (token, _) = token::load_or_create(&config.data_dir)?;
        println!("{token}");
    }
    Ok(())
}

/// Removes the temporary folders of `serve --ephemeral` servers that were killed (SIGKILL
/// gives them no chance to clean up; docs/spec.md §7.2): a `mailstack-ephemeral-*` folder in
/// `tmp` whose store names, in `data/mailstack.pid`, a process that no longer exists and
/// whose store is not locked. A folder without that file (a server starting), with a live
/// process or a held lock is left alone, and so is one this user may not remove.
fn sweep_killed_ephemeral(tmp: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .starts_with("mailstack-ephemeral-")
        {
            continue;
        }
        let path = entry.path();
        let Some(pid) = std::fs::read_to_string(path.join("data").join("mailstack.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        else {
            continue;
        };
        // The store's lock says "in use" across PID namespaces (a /tmp shared by containers).
        if pid == 0
            || std::path::Path::new(&format!("/proc/{pid}")).exists()
            || store::Store::folder_in_use(path.join("data"))
        {
            continue;
        }
        if std::fs::remove_dir_all(&path).is_ok() {
            tracing::info!(
                "removed {} (its server, PID {pid}, was killed)",
                path.display()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_each_cause_once() {
        let io = std::io::Error::from_raw_os_error(17);
        let e = anyhow::Error::new(io).context("cannot create data");
        assert_eq!(
            one_line(&e),
            "cannot create data: File exists (os error 17)"
        );
        // A cause whose text the message already includes is not repeated.
        let io = std::io::Error::from_raw_os_error(17);
        let text = format!("i/o error: {io}");
        let e = anyhow::Error::new(io).context(text);
        assert_eq!(one_line(&e), "i/o error: File exists (os error 17)");
    }
}
