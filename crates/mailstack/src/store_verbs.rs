//! `mailstack store migrate` and `mailstack store copy` (docs/architecture.md §12): the
//! store as a whole — its schema, and moving it between sled and PostgreSQL.

use anyhow::{bail, Context};
use store::Store;

use crate::cli::StoreVerb;
use crate::config::{url_has_password, Config, StoreBackend};

pub async fn run(config: &Config, verb: StoreVerb) -> anyhow::Result<()> {
    match verb {
        StoreVerb::Migrate => {
            drop(crate::admin::open_store(config)?);
            match config.store.backend {
                StoreBackend::Postgres => println!(
                    "store {}: schema version {} (up to date)",
                    config.store_name(),
                    store::POSTGRES_SCHEMA_VERSION
                ),
                StoreBackend::Sled => println!(
                    "store {}: sled, nothing to migrate (its records are migrated when opened)",
                    config.store_name()
                ),
            }
            Ok(())
        }
        StoreVerb::Copy { from, to } => {
            let (from, to) = (shown(&from), shown(&to));
            let src = open(&from.0).with_context(|| format!("cannot open {}", from.1))?;
            let dest = open(&to.0).with_context(|| format!("cannot open {}", to.1))?;
            let (from, to) = (from.1, to.1);
            let stats = src
                .copy_into(&dest)
                .await
                .with_context(|| format!("copying {from} to {to}"))?;
            println!(
                "copied {} records and {} message bodies ({} bytes) from {from} to {to}",
                stats.records, stats.bodies, stats.body_bytes
            );
            Ok(())
        }
    }
}

/// The spec, and how to show it: a password in a URL is never printed.
fn shown(spec: &str) -> (String, String) {
    let show = if url_has_password(spec) || spec.contains("password=") {
        "the PostgreSQL URL given (password not shown)".to_string()
    } else {
        spec.to_string()
    };
    (spec.to_string(), show)
}

/// `sled:PATH`, `postgres://…` / `postgresql://…`, or `postgres:KEY=VALUE …`.
fn open(spec: &str) -> anyhow::Result<Store> {
    if let Some(path) = spec.strip_prefix("sled:") {
        return match Store::open(path) {
            Err(store::Error::Locked { pid }) => {
                bail!("{path} is in use by a running server (pid {pid}); stop it first")
            }
            r => Ok(r?),
        };
    }
    let url = if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
        spec
    } else if let Some(kv) = spec.strip_prefix("postgres:") {
        kv
    } else {
        bail!("{spec:?}: write sled:PATH or postgres://user@host/db");
    };
    if url_has_password(url) || url.contains("password=") {
        bail!("the password must not be in the URL (it would reach logs): set MAILSTACK_STORE_PASSWORD");
    }
    let password = std::env::var("MAILSTACK_STORE_PASSWORD").ok();
    // TLS (sslmode=require in the URL): the CA from MAILSTACK_STORE_CA_FILE.
    let ca_pem = match std::env::var_os("MAILSTACK_STORE_CA_FILE") {
        Some(f) => Some(std::fs::read(&f).with_context(|| format!("{}", f.to_string_lossy()))?),
        None => None,
    };
    Ok(Store::open_postgres_opts(
        url,
        &store::PgOptions { password, ca_pem },
    )?)
}
