//! The account, alias, delivery and mailbox verbs against a running server (docs/spec.md
//! §7.1): the server holds the store, so each verb is a call to its admin API
//! (`crate::live`) and takes effect at once — a new account can log in, a changed password
//! replaces the old one in the credential cache, a delivery reaches IDLE sessions. The
//! output is the same as offline (`crate::admin`).

use std::io::Read;

use anyhow::bail;
use serde_json::{json, Value};

use crate::admin::{
    normalized, not_local, print_mailboxes, print_users, read_password, MailboxRow, UserRow,
};
use crate::cli::{show_quota, AliasVerb, MailboxVerb, UserVerb, Verb};
use crate::config::Config;
use crate::live::{error_text, Live};

/// The running server `pid` that holds the store, through its admin API; an error naming it
/// when that cannot be reached.
pub(crate) fn connect(config: &Config, pid: &str) -> anyhow::Result<Live> {
    Live::find(config).map_err(|e| {
        anyhow::anyhow!(
            "the store {} is in use by a running server (pid {pid}) and its admin API cannot \
             be reached ({e}); stop it (kill {pid}) and run this command again",
            config.data_dir.display()
        )
    })
}

pub async fn run(config: &Config, verb: Verb, pid: &str) -> anyhow::Result<()> {
    let live = connect(config, pid)?;
    let api = Api { live: &live };
    match verb {
        Verb::User(v) => user(config, &api, v).await,
        Verb::Alias(AliasVerb::Add {
            alias,
            address,
            add_domain,
        }) => {
            let alias = normalized(&alias)?;
            let address = normalized(&address)?;
            let new_domain = api
                .local_domain(config, &alias, add_domain, "alias add")
                .await?;
            api.ok(
                "POST",
                "/api/aliases",
                json!({"alias": alias, "address": address}),
                &format!("alias {alias} → {address}"),
            )
            .await?;
            println!("alias {alias} → {address}");
            api.add_domain(new_domain).await
        }
        Verb::Alias(AliasVerb::Del { alias }) => {
            let alias = normalized(&alias)?;
            api.ok(
                "DELETE",
                &format!("/api/aliases/{alias}"),
                Value::Null,
                &alias,
            )
            .await?;
            println!("alias {alias} removed");
            Ok(())
        }
        Verb::Deliver { to, mailbox } => {
            let to = normalized(&to)?;
            let mut bytes = Vec::new();
            std::io::stdin().lock().read_to_end(&mut bytes)?;
            if bytes.is_empty() {
                bail!("no message on standard input");
            }
            // Without --mailbox: final delivery through the account's Sieve script.
            let path = match &mailbox {
                None => format!("/api/accounts/{to}/deliver"),
                Some(m) => format!(
                    "/api/accounts/{to}/messages?mailbox={}",
                    web::percent_encode(m)
                ),
            };
            let (status, body) = live.send("POST", &path, "message/rfc822", bytes).await?;
            match status {
                202 => {
                    println!(
                        "delivered to {} through its Sieve script",
                        body["account"].as_str().unwrap_or(&to)
                    );
                    Ok(())
                }
                201 => {
                    println!(
                        "delivered to {} {} uid {}",
                        body["account"].as_str().unwrap_or(&to),
                        body["mailbox"].as_str().unwrap_or_default(),
                        body["uid"]
                    );
                    Ok(())
                }
                507 => bail!("{to}'s mailbox is full (quota exceeded)"),
                _ => bail!("{to}: {}", error_text(&body)),
            }
        }
        Verb::Mailbox(MailboxVerb::List { address, json }) => {
            let address = normalized(&address)?;
            let body = api
                .ok(
                    "GET",
                    &format!("/api/accounts/{address}/mailboxes"),
                    Value::Null,
                    &address,
                )
                .await?;
            let rows: Vec<MailboxRow> = serde_json::from_value(body)?;
            print_mailboxes(&rows, json)
        }
        _ => bail!("internal: verb handled elsewhere"),
    }
}

async fn user(config: &Config, api: &Api<'_>, verb: UserVerb) -> anyhow::Result<()> {
    match verb {
        UserVerb::Add {
            address,
            password_stdin,
            quota,
            add_domain,
        } => {
            let address = normalized(&address)?;
            let new_domain = api
                .local_domain(config, &address, add_domain, "user add")
                .await?;
            let pw = read_password(password_stdin)?;
            let mut body = json!({"address": address, "password": pw.expose()});
            if let Some(q) = quota.filter(|q| *q > 0) {
                body["quota"] = q.into();
            }
            let a = api.ok("POST", "/api/accounts", body, &address).await?;
            println!(
                "created {} (INBOX, Sent, Drafts, Trash, Junk, Archive), quota {}",
                a["address"].as_str().unwrap_or(&address),
                show_quota(a["quota_bytes"].as_u64())
            );
            api.add_domain(new_domain).await
        }
        UserVerb::Passwd {
            address,
            password_stdin,
        } => {
            let address = normalized(&address)?;
            let path = format!("/api/accounts/{address}");
            api.ok("GET", &path, Value::Null, &address).await?;
            let pw = read_password(password_stdin)?;
            api.ok("PATCH", &path, json!({"password": pw.expose()}), &address)
                .await?;
            println!("password changed for {address}");
            Ok(())
        }
        UserVerb::Del { address } => {
            let address = normalized(&address)?;
            let path = format!("/api/accounts/{address}");
            api.ok("DELETE", &path, Value::Null, &address).await?;
            println!("deleted {address} and all its mail");
            Ok(())
        }
        UserVerb::List { json } => {
            let body = api
                .ok("GET", "/api/accounts", Value::Null, "accounts")
                .await?;
            let rows: Vec<UserRow> = serde_json::from_value(body)?;
            print_users(&rows, json)
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
            let mut change = serde_json::Map::new();
            if let Some(p) = pop3_policy {
                change.insert("pop3_policy".into(), p.as_str().into());
            }
            if let Some(q) = quota {
                change.insert("quota".into(), q.into());
            }
            if let Some(s) = save_sent {
                change.insert("save_sent".into(), s.into());
            }
            let path = format!("/api/accounts/{address}");
            let a = api
                .ok("PATCH", &path, Value::Object(change), &address)
                .await?;
            println!(
                "{}: pop3-policy {}, quota {}, save-sent {}",
                a["address"].as_str().unwrap_or(&address),
                a["pop3_policy"].as_str().unwrap_or_default(),
                show_quota(a["quota_bytes"].as_u64()),
                a["save_sent"]
            );
            Ok(())
        }
    }
}

pub(crate) struct Api<'a> {
    pub(crate) live: &'a Live,
}

impl Api<'_> {
    /// A call that must succeed; an error answer becomes `what: reason` (the offline wording).
    pub(crate) async fn ok(
        &self,
        method: &str,
        path: &str,
        body: Value,
        what: &str,
    ) -> anyhow::Result<Value> {
        let body = (!body.is_null()).then_some(body);
        let (status, answer) = self.live.call(method, path, body).await?;
        answered(status, answer, what)
    }

    /// docs/spec.md §4.1, as offline: refused outside the local domains unless `add`.
    async fn local_domain(
        &self,
        config: &Config,
        address: &str,
        add: bool,
        verb: &str,
    ) -> anyhow::Result<Option<String>> {
        let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
        let domains: Vec<String> = serde_json::from_value(
            self.ok("GET", "/api/domains", Value::Null, "domains")
                .await?,
        )?;
        if domains.iter().any(|d| d == domain) {
            return Ok(None);
        }
        if !add {
            return Err(not_local(config, address, &domains, verb));
        }
        // Before the account, so the server accepts it.
        self.ok("POST", "/api/domains", json!({"domain": domain}), domain)
            .await?;
        Ok(Some(domain.to_string()))
    }

    async fn add_domain(&self, domain: Option<String>) -> anyhow::Result<()> {
        if let Some(domain) = domain {
            println!(
                "added {domain} to the local domains of the running server (kept in its store; \
                 `domains` in the configuration is unchanged; the server merges both)"
            );
        }
        Ok(())
    }
}

/// A 2xx answer, or an error `what: reason` in the offline wording.
pub(crate) fn answered(status: u16, answer: Value, what: &str) -> anyhow::Result<Value> {
    if (200..300).contains(&status) {
        return Ok(answer);
    }
    let reason = error_text(&answer);
    // The API says "no account x@y"; the CLI says "x@y: no such account".
    let reason = if status == 404 && reason.starts_with("no account") {
        "no such account".to_string()
    } else {
        reason
    };
    bail!("{what}: {reason}")
}
