//! Account, alias, delivery and mailbox verbs. They open the store directly; when a running
//! server holds it, they stop with a message naming its PID.

use std::io::{BufRead, Read};

use anyhow::{bail, Context};
use auth::{Auth, Secret};
use store::{AppendRequest, Store};

use crate::cli::{show_quota, AliasVerb, MailboxVerb, UserVerb, Verb};
use crate::config::Config;

/// Opens the store, turning "locked" into an actionable message.
pub fn open_store(config: &Config) -> anyhow::Result<Store> {
    match config.open_store() {
        Ok(s) => Ok(s),
        Err(store::Error::Locked { pid }) => bail!(
            "the store {} is in use by a running server (pid {pid}); stop it (kill {pid}) and \
             run this command again",
            config.data_dir.display()
        ),
        Err(e) => Err(e).with_context(|| format!("cannot open store {}", config.store_name())),
    }
}

pub async fn run(config: Config, verb: Verb) -> anyhow::Result<()> {
    let store = match config.open_store() {
        // docs/spec.md §7.1: a running server holds the store; the verb goes to it.
        Err(store::Error::Locked { pid }) => {
            return crate::admin_live::run(&config, verb, &pid).await
        }
        opened => opened.with_context(|| format!("cannot open store {}", config.store_name()))?,
    };
    store.set_domains(&config.domains).await?;
    let auth = Auth::new(store.clone(), config.auth_config())?;
    match verb {
        Verb::User(v) => user(&config, &auth, v).await,
        Verb::Alias(AliasVerb::Add {
            alias,
            address,
            add_domain,
        }) => {
            let alias = normalized(&alias)?;
            let address = normalized(&address)?;
            let new_domain = local_domain(&config, &store, &alias, add_domain, "alias add")?;
            store
                .add_alias(&alias, &address)
                .await
                .map_err(about(&format!("alias {alias} → {address}")))?;
            println!("alias {alias} → {address}");
            add_local_domain(&config, &store, new_domain).await
        }
        Verb::Alias(AliasVerb::Del { alias }) => {
            let alias = normalized(&alias)?;
            store.remove_alias(&alias).await.map_err(about(&alias))?;
            println!("alias {alias} removed");
            Ok(())
        }
        Verb::Deliver { to, mailbox } => deliver(&config, &store, &to, mailbox.as_deref()).await,
        Verb::Mailbox(MailboxVerb::List { address, json }) => mailbox_list(&store, &address, json),
        Verb::Mailbox(_)
        | Verb::Serve { .. }
        | Verb::Certs
        | Verb::DnsRecords
        | Verb::Demo { .. }
        | Verb::Fault(_)
        | Verb::Forward { .. }
        | Verb::Store(_)
        | Verb::Vacation { .. }
        | Verb::AdminToken { .. } => unreachable_verb(),
    }
}

fn unreachable_verb() -> anyhow::Result<()> {
    bail!("internal: verb handled elsewhere")
}

/// The address as the store keys it, or an error that names what was typed.
pub(crate) fn normalized(address: &str) -> anyhow::Result<String> {
    auth::normalize_address(address).map_err(about(address.trim()))
}

/// An error about `what` (an address, an alias): one line that names it, e.g.
/// `bob@example.test: no such account`.
pub(crate) fn about<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("{what}: {e}")
}

/// docs/spec.md §4.1: an account or alias outside the local domains would never receive
/// mail (inbound refuses it as relay, submission captures it). Refused with the domain and the
/// config key to change, unless `add` (`--add-domain`) asks to make the domain local; then the
/// domain to add once the account or alias exists ([`add_local_domain`]).
fn local_domain(
    config: &Config,
    store: &Store,
    address: &str,
    add: bool,
    verb: &str,
) -> anyhow::Result<Option<String>> {
    let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
    if store.is_local_domain(domain)? {
        return Ok(None);
    }
    if !add {
        return Err(not_local(config, address, &store.domains()?, verb));
    }
    Ok(Some(domain.to_string()))
}

/// The refusal of an address outside the local `domains`, naming the key to change.
pub(crate) fn not_local(
    config: &Config,
    address: &str,
    domains: &[String],
    verb: &str,
) -> anyhow::Error {
    let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
    let file = if config.file.as_os_str().is_empty() {
        "the configuration".to_string()
    } else {
        config.file.display().to_string()
    };
    anyhow::anyhow!(
        "{address}: {domain} is not a local domain (local: {}); add \"{domain}\" to \
         `domains` in {file}, or run `mailstack {verb} … --add-domain` to make it local",
        listed(domains)
    )
}

/// `--add-domain`: the store keeps the local domains (the configured `domains`, recorded at
/// every start, plus these), so the server treats `domain` as local from its next start on;
/// the configuration file is not rewritten.
async fn add_local_domain(
    config: &Config,
    store: &Store,
    domain: Option<String>,
) -> anyhow::Result<()> {
    let Some(domain) = domain else { return Ok(()) };
    store.set_domains(std::slice::from_ref(&domain)).await?;
    println!(
        "added {domain} to the local domains kept in the store {} (`domains` in {} is \
         unchanged; the server merges both)",
        config.data_dir.display(),
        config.file.display()
    );
    Ok(())
}

fn listed(domains: &[String]) -> String {
    if domains.is_empty() {
        "none".into()
    } else {
        domains.join(", ")
    }
}

async fn user(config: &Config, auth: &Auth, verb: UserVerb) -> anyhow::Result<()> {
    let store = auth.store();
    match verb {
        UserVerb::Add {
            address,
            password_stdin,
            quota,
            add_domain,
        } => {
            let address = normalized(&address)?;
            let new_domain = local_domain(config, store, &address, add_domain, "user add")?;
            let pw = read_password(password_stdin)?;
            // docs/spec.md §5.6: 0 is no quota, like `user set --quota 0`.
            let a = auth
                .add_user(&address, &pw, quota.filter(|q| *q > 0))
                .await
                .map_err(about(&address))?;
            println!(
                "created {} (INBOX, Sent, Drafts, Trash, Junk, Archive), quota {}",
                a.address,
                show_quota(a.quota_bytes)
            );
            add_local_domain(config, store, new_domain).await?;
        }
        UserVerb::Passwd {
            address,
            password_stdin,
        } => {
            let address = normalized(&address)?;
            if store.account(&address)?.is_none() {
                bail!("{address}: no such account");
            }
            let pw = read_password(password_stdin)?;
            auth.set_password(&address, &pw)
                .await
                .map_err(about(&address))?;
            println!("password changed for {address}");
        }
        UserVerb::Del { address } => {
            let address = normalized(&address)?;
            store
                .delete_account(&address)
                .await
                .map_err(about(&address))?;
            println!("deleted {address} and all its mail");
        }
        UserVerb::List { json } => {
            let mut rows = Vec::new();
            for a in store.accounts()? {
                let u = store.usage(a.id)?;
                rows.push(UserRow {
                    address: a.address,
                    used_messages: u.messages,
                    used_bytes: u.bytes,
                    quota_bytes: a.quota_bytes,
                    pop3_policy: a.pop3_policy.as_str().to_string(),
                    save_sent: a.save_sent,
                    aliases: a.aliases,
                });
            }
            print_users(&rows, json)?;
        }
        UserVerb::Set {
            address,
            pop3_policy,
            quota,
            save_sent,
        } => {
            let address = normalized(&address)?;
            if pop3_policy.is_none() && quota.is_none() && save_sent.is_none() {
                bail!("nothing to change: give --pop3-policy, --quota or --save-sent");
            }
            let a = store
                .update_account(&address, |a| {
                    if let Some(p) = pop3_policy {
                        a.pop3_policy = p;
                    }
                    if let Some(q) = quota {
                        // docs/spec.md §5.6: 0 removes the limit.
                        a.quota_bytes = (q > 0).then_some(q);
                    }
                    if let Some(s) = save_sent {
                        a.save_sent = s;
                    }
                })
                .await
                .map_err(about(&address))?;
            println!(
                "{}: pop3-policy {}, quota {}, save-sent {}",
                a.address,
                a.pop3_policy.as_str(),
                show_quota(a.quota_bytes),
                a.save_sent
            );
        }
    }
    Ok(())
}

pub(crate) fn read_password(from_stdin: bool) -> anyhow::Result<Secret<String>> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let pw = line.trim_end_matches(['\r', '\n']).to_string();
        if pw.is_empty() {
            bail!("no password on standard input");
        }
        return Ok(Secret::new(pw));
    }
    let first = rpassword::prompt_password("Password: ")
        .context("cannot read password (use --password-stdin without a terminal)")?;
    let second = rpassword::prompt_password("Again: ")?;
    if first != second {
        bail!("the two passwords differ");
    }
    Ok(Secret::new(first))
}

async fn deliver(
    config: &Config,
    store: &Store,
    to: &str,
    mailbox: Option<&str>,
) -> anyhow::Result<()> {
    let to = normalized(to)?;
    let Some(account) = store.resolve(&to)? else {
        bail!("{to}: no such account or alias")
    };
    // Without --mailbox and without an active Sieve script: INBOX, with its UID.
    let filtered = mailbox.is_none() && store.active_sieve_script(account.id)?.is_some();
    let mb = match (mailbox, filtered) {
        (_, true) => None,
        (m, false) => {
            let m = m.unwrap_or("INBOX");
            match store.mailbox(account.id, m)? {
                Some(mb) => Some(mb),
                None => bail!("{} has no mailbox {m:?}", account.address),
            }
        }
    };
    let mut bytes = Vec::new();
    std::io::stdin().lock().read_to_end(&mut bytes)?;
    if bytes.is_empty() {
        bail!("no message on standard input");
    }
    let Some(mb) = mb else {
        // docs/spec.md §6.5: final delivery runs the account's active Sieve script.
        let out = submission::filter::Outbound {
            capture: match config.outbound {
                crate::config::OutboundMode::Capture => config.capture_account.as_deref(),
                crate::config::OutboundMode::Reject => None,
            },
            hostname: &config.hostname,
        };
        let env = submission::filter::Envelope { from: "", to: &to };
        submission::filter::deliver_to_account(store, out, env, &account, &bytes)
            .await
            .map_err(|e| delivery_error(&account, e))?;
        println!("delivered to {} through its Sieve script", account.address);
        return Ok(());
    };
    let req = AppendRequest {
        bytes: &bytes,
        ..Default::default()
    };
    let (_, uid) = store
        .append(account.id, mb.id, req)
        .await
        .map_err(|e| delivery_error(&account, e))?;
    println!("delivered to {} {} uid {uid}", account.address, mb.name);
    Ok(())
}

/// A failed delivery, a full mailbox said in words.
fn delivery_error(account: &store::Account, e: store::Error) -> anyhow::Error {
    match e {
        store::Error::OverQuota => {
            anyhow::anyhow!("{}'s mailbox is full (quota exceeded)", account.address)
        }
        e => about(&account.address)(e),
    }
}

fn mailbox_list(store: &Store, address: &str, json: bool) -> anyhow::Result<()> {
    let address = normalized(address)?;
    let Some(a) = store.account(&address)? else {
        bail!("{address}: no such account")
    };
    let rows: Vec<MailboxRow> = store
        .mailboxes(a.id)?
        .into_iter()
        .map(|mb| MailboxRow {
            name: mb.name,
            messages: mb.exists,
            unseen: mb.unseen,
            bytes: mb.size,
        })
        .collect();
    print_mailboxes(&rows, json)
}

/// One line of `user list` (the fields of `GET /api/accounts`, which `--json` prints).
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct UserRow {
    pub address: String,
    pub used_messages: u64,
    pub used_bytes: u64,
    pub quota_bytes: Option<u64>,
    pub pop3_policy: String,
    pub save_sent: bool,
    pub aliases: Vec<String>,
}

pub(crate) fn print_users(rows: &[UserRow], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(rows)?);
        return Ok(());
    }
    println!(
        "{:<40} {:>10} {:>12} {:>12} {:<10} {:<9} ALIASES",
        "ADDRESS", "MESSAGES", "BYTES", "QUOTA", "POP3", "SAVE-SENT"
    );
    for r in rows {
        println!(
            "{:<40} {:>10} {:>12} {:>12} {:<10} {:<9} {}",
            r.address,
            r.used_messages,
            r.used_bytes,
            r.quota_bytes
                .map_or("unlimited".to_string(), |q| q.to_string()),
            r.pop3_policy,
            r.save_sent,
            r.aliases.join(",")
        );
    }
    Ok(())
}

/// One line of `mailbox list` (as `GET /api/accounts/{addr}/mailboxes` names them).
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct MailboxRow {
    pub name: String,
    pub messages: u32,
    pub unseen: u32,
    pub bytes: u64,
}

pub(crate) fn print_mailboxes(rows: &[MailboxRow], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(rows)?);
        return Ok(());
    }
    println!(
        "{:<30} {:>9} {:>7} {:>12}",
        "NAME", "MESSAGES", "UNSEEN", "BYTES"
    );
    for r in rows {
        println!(
            "{:<30} {:>9} {:>7} {:>12}",
            r.name, r.messages, r.unseen, r.bytes
        );
    }
    Ok(())
}
