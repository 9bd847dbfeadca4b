//! `mailstack mailbox export|import|purge` (docs/spec.md §7.8). Without a server the verbs
//! open the store; while one runs they go through its admin API (`…/export`, `…/import`,
//! `…/purge`), as the other verbs do (docs/spec.md §7.1), and print the same. The formats and
//! the store side are `web::backup`'s, the files `backup_files`'.

use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::Value;
use store::Store;
use web::backup::{self as b, Criteria, Format, Removed};

use crate::admin::normalized;
use crate::admin_live::{answered, connect};
use crate::backup_files::{load, plan, Counting, Folder};
use crate::cli::MailboxVerb;
use crate::config::Config;
use crate::live::Live;

pub async fn run(config: &Config, verb: MailboxVerb) -> anyhow::Result<()> {
    let server = match config.open_store() {
        // docs/spec.md §7.1: a running server holds the store; the verb goes to it.
        Err(store::Error::Locked { pid }) => Err(connect(config, &pid)?),
        opened => Ok(opened.with_context(|| format!("cannot open store {}", config.store_name()))?),
    };
    match verb {
        MailboxVerb::Export {
            address,
            mailbox,
            format,
            out,
        } => export(&server, &normalized(&address)?, mailbox, format.into(), out).await,
        MailboxVerb::Import {
            address,
            path,
            mailbox,
        } => import(&server, &normalized(&address)?, &path, mailbox.as_deref()).await,
        MailboxVerb::Purge {
            address,
            mailbox,
            older_than,
            larger_than,
            dry_run,
        } => {
            let address = normalized(&address)?;
            let criteria = Criteria {
                older_than,
                larger_than,
            };
            let removed = match &server {
                Ok(store) => purge_offline(store, &address, &mailbox, criteria, dry_run).await?,
                Err(live) => purge_live(live, &address, &mailbox, criteria, dry_run).await?,
            };
            print_purged(&address, &mailbox, &removed, dry_run);
            Ok(())
        }
        MailboxVerb::List { .. } => bail!("internal: verb handled elsewhere"),
    }
}

/// The store (no server runs) or the running server that holds it.
type Server = Result<Store, Live>;

fn account(store: &Store, address: &str) -> anyhow::Result<store::Account> {
    store
        .resolve(address)?
        .ok_or_else(|| anyhow::anyhow!("{address}: no such account"))
}

fn mailbox_of(store: &Store, a: &store::Account, name: &str) -> anyhow::Result<store::Mailbox> {
    store
        .mailbox(a.id, name)
        .map_err(|e| anyhow::anyhow!("{name:?}: {e}"))?
        .ok_or_else(|| anyhow::anyhow!("{} has no mailbox {name:?}", a.address))
}

/// Where an export goes: one mailbox's mbox file (or standard output), or a folder.
enum Out {
    File(Option<PathBuf>),
    Folder(Folder, PathBuf),
}

async fn export(
    server: &Server,
    address: &str,
    mailbox: Option<String>,
    format: Format,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let target = match (format, &mailbox, out) {
        (Format::Mbox, Some(_), out) => Out::File(out),
        (_, _, Some(dir)) => Out::Folder(Folder::new(&dir, format, mailbox.clone())?, dir),
        (_, _, None) => bail!(
            "give --out FOLDER: every mailbox, or a maildir, is several files (only one \
             mailbox as mbox goes to standard output)"
        ),
    };
    let what = match format {
        Format::Mbox => "mbox",
        Format::Maildir => "maildir",
    };
    match target {
        Out::File(path) => {
            let name = mailbox.unwrap_or_default();
            let (count, name) = export_file(server, address, &name, what, path.as_deref()).await?;
            let line = format!("exported {count} messages of {address} {name} as mbox");
            match path {
                Some(p) => println!("{line} to {}", p.display()),
                None => eprintln!("{line}"),
            }
        }
        Out::Folder(mut folder, dir) => {
            match server {
                Ok(store) => {
                    let a = account(store, address)?;
                    let mb = mailbox.map(|m| mailbox_of(store, &a, &m)).transpose()?;
                    let done = b::export(store, &a, mb.as_ref(), format, &mut folder)?;
                    if done.dropped_keywords > 0 {
                        eprintln!(
                            "mailstack: {} keywords not kept: Maildir (dovecot-keywords) names \
                             at most 26 per folder",
                            done.dropped_keywords
                        );
                    }
                }
                Err(live) => {
                    let mut archive = tempfile::tempfile()?;
                    download(
                        live,
                        address,
                        &export_path(address, mailbox.as_deref(), what),
                        &mut archive,
                    )
                    .await?;
                    archive.rewind()?;
                    folder.unpack(&mut std::io::BufReader::new(archive))?;
                }
            }
            let total: usize = folder.counts.values().sum();
            for (name, n) in &folder.counts {
                println!("exported {address} {name}: {n} messages");
            }
            println!(
                "exported {total} messages in {} mailboxes of {address} to {} ({what})",
                folder.counts.len(),
                dir.display()
            );
        }
    }
    Ok(())
}

fn export_path(address: &str, mailbox: Option<&str>, format: &str) -> String {
    let mut path = format!("/api/accounts/{address}/export?format={format}");
    if let Some(m) = mailbox {
        path.push_str(&format!("&mailbox={}", web::percent_encode(m)));
    }
    path
}

/// One mailbox as mbox into `path` (written beside it, then renamed: a failed export leaves
/// no half file) or standard output; the message count and the mailbox's name.
async fn export_file(
    server: &Server,
    address: &str,
    name: &str,
    format: &str,
    path: Option<&Path>,
) -> anyhow::Result<(usize, String)> {
    let mut file = match path {
        Some(p) => {
            let dir = p.parent().filter(|d| !d.as_os_str().is_empty());
            Some(tempfile::NamedTempFile::new_in(
                dir.unwrap_or(Path::new(".")),
            )?)
        }
        None => None,
    };
    let sink: Box<dyn Write + Send> = match &mut file {
        Some(f) => Box::new(f.as_file_mut()),
        None => Box::new(std::io::stdout()),
    };
    let mut w = Counting::new(std::io::BufWriter::new(sink));
    let name = match server {
        Ok(store) => {
            let a = account(store, address)?;
            let mb = mailbox_of(store, &a, name)?;
            b::write_mbox(store, &mb, &mut w)?;
            mb.name
        }
        Err(live) => {
            download(
                live,
                address,
                &export_path(address, Some(name), format),
                &mut w,
            )
            .await?;
            name.to_string()
        }
    };
    w.flush()?;
    let count = w.froms;
    drop(w);
    if let (Some(f), Some(p)) = (file, path) {
        f.persist(p)
            .with_context(|| format!("cannot write {}", p.display()))?;
    }
    Ok((count, name))
}

/// A live answer, or its error as the offline verbs word it: the server's reasons name the
/// account already ("… has no mailbox …"), else `address: reason`.
fn said(status: u16, answer: Value, address: &str) -> anyhow::Result<Value> {
    let reason = crate::live::error_text(&answer);
    if !(200..300).contains(&status)
        && reason.contains(address)
        && !reason.starts_with("no account")
    {
        bail!("{reason}");
    }
    answered(status, answer, address)
}

/// A live export's body into `out`; an error answer as the offline wording.
async fn download(
    live: &Live,
    address: &str,
    path: &str,
    out: &mut (dyn Write + Send),
) -> anyhow::Result<()> {
    let (status, answer) = live.download(path, out).await?;
    said(status, answer, address).map(drop)
}

async fn import(
    server: &Server,
    address: &str,
    path: &Path,
    into: Option<&str>,
) -> anyhow::Result<()> {
    let sources = plan(path, into)?;
    let account = match server {
        Ok(store) => Some(account(store, address)?),
        Err(live) => {
            let (status, answer) = live
                .call("GET", &format!("/api/accounts/{address}"), None)
                .await?;
            said(status, answer, address)?;
            None
        }
    };
    let (mut imported, mut skipped) = (0, 0);
    for (mailbox, source) in &sources {
        let items = load(source)?;
        let done = match (server, &account) {
            (Ok(store), Some(a)) => {
                b::import(store, a, mailbox, items)
                    .await
                    .map_err(|f| match f.error {
                        b::Error::Store(store::Error::OverQuota) => {
                            anyhow::anyhow!(b::over_quota(address, f.done.imported, mailbox))
                        }
                        e => anyhow::anyhow!("{mailbox}: {e}"),
                    })?
            }
            (Err(live), _) => import_live(live, address, mailbox, &items).await?,
            _ => bail!("internal: no account"),
        };
        println!(
            "imported {}, skipped {} duplicates: {address} {} (from {})",
            done.imported,
            done.skipped,
            done.mailbox,
            source.path().display()
        );
        imported += done.imported;
        skipped += done.skipped;
    }
    if sources.len() > 1 {
        println!(
            "imported {imported}, skipped {skipped} duplicates in {} mailboxes of {address}",
            sources.len()
        );
    }
    Ok(())
}

/// One mailbox's messages through `POST …/import`, as mbox in parts (`web::backup::batches`).
async fn import_live(
    live: &Live,
    address: &str,
    mailbox: &str,
    items: &[b::Item],
) -> anyhow::Result<b::Imported> {
    let mut done = b::Imported {
        mailbox: mailbox.to_string(),
        ..Default::default()
    };
    let path = format!(
        "/api/accounts/{address}/import?mailbox={}",
        web::percent_encode(mailbox)
    );
    for part in b::batches(items) {
        let mut body = Vec::new();
        for item in &items[part] {
            b::mbox::write(&mut body, item)?;
        }
        let (status, answer) = live.send("POST", &path, "application/mbox", body).await?;
        if status == 507 {
            bail!(b::over_quota(address, done.imported, &done.mailbox));
        }
        let answer = said(status, answer, address)?;
        done.mailbox = answer["mailbox"].as_str().unwrap_or(mailbox).to_string();
        let count = |k: &str| answer[k].as_u64().and_then(|n| usize::try_from(n).ok());
        done.imported += count("imported").unwrap_or(0);
        done.skipped += count("skipped").unwrap_or(0);
    }
    Ok(done)
}

async fn purge_offline(
    store: &Store,
    address: &str,
    name: &str,
    criteria: Criteria,
    dry_run: bool,
) -> anyhow::Result<Vec<Removed>> {
    let a = account(store, address)?;
    let mb = mailbox_of(store, &a, name)?;
    Ok(b::purge(store, &a, &[mb], criteria, dry_run).await?)
}

async fn purge_live(
    live: &Live,
    address: &str,
    name: &str,
    criteria: Criteria,
    dry_run: bool,
) -> anyhow::Result<Vec<Removed>> {
    let mut path = format!(
        "/api/accounts/{address}/purge?mailbox={}&dry_run={dry_run}",
        web::percent_encode(name)
    );
    // parse_age counts whole hours: they travel as hours.
    if let Some(secs) = criteria.older_than {
        path.push_str(&format!("&older_than={}h", secs / 3600));
    }
    if let Some(bytes) = criteria.larger_than {
        path.push_str(&format!("&larger_than={bytes}"));
    }
    let (status, answer) = live.call("POST", &path, None).await?;
    let answer = said(status, answer, address)?;
    Ok(serde_json::from_value(answer["messages"].clone())?)
}

/// The list of what a purge removed (or would), then one line saying so.
fn print_purged(address: &str, mailbox: &str, removed: &[Removed], dry_run: bool) {
    if !removed.is_empty() {
        println!("{:>8}  {:<29}  {:>10}  SUBJECT", "UID", "DATE", "SIZE");
    }
    for r in removed {
        println!(
            "{:>8}  {:<29}  {:>10}  {}",
            r.uid,
            b::mbox::imf_date(r.received),
            r.size,
            r.subject.as_deref().unwrap_or("(no subject)")
        );
    }
    let bytes: u64 = removed.iter().map(|r| r.size).sum();
    let n = removed.len();
    if dry_run {
        println!(
            "would remove {n} messages ({bytes} bytes) from {address} {mailbox} (dry run: \
             nothing changed)"
        );
    } else {
        println!("removed {n} messages ({bytes} bytes) from {address} {mailbox}");
    }
}
