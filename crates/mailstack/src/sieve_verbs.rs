//! `mailstack forward` and `mailstack vacation` (docs/spec.md §6.5): the settings of the
//! account's Sieve script "mailstack" (`web::sieve_settings`), written directly into the store
//! when no server runs, or through the running server's REST API (`/api/accounts/{addr}/
//! forward`, `…/vacation`) when one holds it, so the change acts on the next delivery.

use anyhow::{bail, Context};
use web::sieve_settings::{self, Forward, Settings, Vacation};

use crate::admin::normalized;
use crate::cli::Verb;
use crate::config::Config;
use crate::live::{error_text, Live};

/// What the verb asks for.
enum Change {
    Show,
    Off,
    Forward(Forward),
    Vacation(Vacation),
}

pub async fn run(config: &Config, verb: Verb) -> anyhow::Result<()> {
    let (kind, address, change) = match verb {
        Verb::Forward {
            address,
            to,
            keep_copy,
            off,
        } => {
            let change = match (to, off) {
                (Some(to), _) => Change::Forward(Forward { to, keep_copy }),
                (None, true) => Change::Off,
                (None, false) => Change::Show,
            };
            ("forward", address, change)
        }
        Verb::Vacation {
            address,
            from,
            until,
            subject,
            message,
            internal_message,
            days,
            off,
        } => {
            let change = match (message, off) {
                (Some(message), _) => Change::Vacation(Vacation {
                    from,
                    until,
                    subject,
                    message: unescape(&message),
                    internal_message: internal_message.as_deref().map(unescape),
                    days,
                }),
                (None, true) => Change::Off,
                (None, false) => Change::Show,
            };
            ("vacation", address, change)
        }
        _ => bail!("internal: verb handled elsewhere"),
    };
    let address = normalized(&address)?;
    let settings = match config.open_store() {
        Err(store::Error::Locked { .. }) => live(config, kind, &address, change).await?,
        opened => {
            let store =
                opened.with_context(|| format!("cannot open store {}", config.store_name()))?;
            store.set_domains(&config.domains).await?;
            offline(&store, kind, &address, change).await?
        }
    };
    print(kind, &address, &settings);
    Ok(())
}

/// `--message 'line one\nline two'`: `\n` in a shell argument is a line break.
fn unescape(text: &str) -> String {
    text.replace("\\n", "\n")
}

async fn offline(
    store: &store::Store,
    kind: &str,
    address: &str,
    change: Change,
) -> anyhow::Result<Settings> {
    let Some(a) = store.resolve(address)? else {
        bail!("{address}: no such account")
    };
    let result = match &change {
        Change::Show => Ok(String::new()),
        Change::Off if kind == "forward" => sieve_settings::set_forward(store, a.id, None).await,
        Change::Off => sieve_settings::set_vacation(store, a.id, None).await,
        Change::Forward(f) => sieve_settings::set_forward(store, a.id, Some(f)).await,
        Change::Vacation(v) => sieve_settings::set_vacation(store, a.id, Some(v)).await,
    };
    result.map_err(|e| anyhow::anyhow!("{address}: {e}"))?;
    Ok(sieve_settings::settings(store, a.id)?)
}

async fn live(
    config: &Config,
    kind: &str,
    address: &str,
    change: Change,
) -> anyhow::Result<Settings> {
    let api = Live::find(config)?;
    let path = format!("/api/accounts/{address}/{kind}");
    let (method, body) = match change {
        Change::Show => ("GET", None),
        Change::Off => ("DELETE", None),
        Change::Forward(f) => ("PUT", Some(serde_json::to_value(f)?)),
        Change::Vacation(v) => ("PUT", Some(serde_json::to_value(v)?)),
    };
    let (status, answer) = api.call(method, &path, body).await?;
    if !(200..300).contains(&status) {
        bail!("{address}: {}", error_text(&answer));
    }
    let (_, answer) = api.call("GET", &path, None).await?;
    Ok(serde_json::from_value(answer)?)
}

fn print(kind: &str, address: &str, s: &Settings) {
    match kind {
        "forward" => match &s.forward {
            Some(f) if f.keep_copy => {
                println!("{address}: forwarding to {} (a copy stays in INBOX)", f.to)
            }
            Some(f) => println!("{address}: forwarding to {} (no copy kept)", f.to),
            None => println!("{address}: not forwarding"),
        },
        _ => match &s.vacation {
            Some(v) => {
                let window = match (&v.from, &v.until) {
                    (Some(f), Some(u)) => format!(" from {f} until {u}"),
                    (Some(f), None) => format!(" from {f}"),
                    (None, Some(u)) => format!(" until {u}"),
                    (None, None) => String::new(),
                };
                println!(
                    "{address}: vacation replies{window}, once per sender per {} day(s){}",
                    v.days,
                    if v.internal_message.is_some() {
                        ", another text for the local domains"
                    } else {
                        ""
                    }
                );
            }
            None => println!("{address}: no vacation replies"),
        },
    }
    if (s.forward.is_some() || s.vacation.is_some()) && !s.active {
        println!(
            "note: the script \"{}\" is not the active one, so this does nothing until it is \
             activated (ManageSieve SETACTIVE)",
            sieve_settings::SCRIPT
        );
    }
}
