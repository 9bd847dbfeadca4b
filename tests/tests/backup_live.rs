//! Backup and cleanup (docs/spec.md §7.8) while the server runs: `mailstack mailbox
//! export|import|purge` go through its admin API, IMAP sessions see what they do at once, and
//! they write and say what they do offline (`backup.rs`).

use std::collections::BTreeMap;
use std::path::Path;

use testkit::process::output_text as out;
use testkit::{Imap, Mailstack, ALICE};

fn ok(cfg: &Path, args: &[&str]) -> String {
    let o = testkit::process::cli(cfg, args, "");
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", out(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

/// While the server runs the verbs go through its admin API: an IDLE session sees a purge's
/// EXPUNGEs, a session on INBOX sees an import as EXISTS, and the files and the output are
/// those of the offline verbs.
#[tokio::test]
async fn backup_verbs_on_a_running_server_reach_imap_sessions() {
    let mut server = Mailstack::builder().persistent().start();
    let config = server.config.clone();
    let run = |args: &[&str]| ok(&config, args);
    for (mailbox, subject) in [("Trash", "one"), ("Trash", "two"), ("INBOX", "kept")] {
        let o = server.cli(
            &["deliver", "--to", ALICE.0, "--mailbox", mailbox],
            &format!("Subject: {subject}\r\n\r\nbody\r\n"),
        );
        assert!(o.status.success(), "{}", out(&o));
    }
    let imap = server.port("imap");
    let mut trash = Imap::login_to(imap, ALICE.0, ALICE.1).await;
    trash.ok("SELECT Trash").await;
    let tag = trash.idle().await;
    let dry = run(&[
        "mailbox",
        "purge",
        ALICE.0,
        "--mailbox",
        "Trash",
        "--dry-run",
    ]);
    assert!(dry.contains("would remove 2 messages"), "{dry}");
    let done = run(&["mailbox", "purge", ALICE.0, "--mailbox", "Trash"]);
    assert!(
        done.contains("removed 2 messages") && done.contains("one") && done.contains("two"),
        "{done}"
    );
    let mut pushed = [trash.pushed().await, trash.pushed().await];
    pushed.sort();
    assert_eq!(
        pushed,
        ["* 1 EXPUNGE", "* 2 EXPUNGE"],
        "the IDLE session is told"
    );
    trash.done(&tag).await;

    let dir = tempfile::tempdir().expect("tmp");
    let mbox = dir.path().join("in.mbox");
    std::fs::write(
        &mbox,
        "From a@b Thu Jan  1 00:00:00 2015\nSubject: imported\nStatus: RO\n\nhello\n\n",
    )
    .expect("write");
    let mut inbox = Imap::login_to(imap, ALICE.0, ALICE.1).await;
    inbox.ok("SELECT INBOX").await;
    let said = run(&["mailbox", "import", ALICE.0, path(&mbox)]);
    assert!(
        said.contains(&format!(
            "imported 1, skipped 0 duplicates: {} INBOX",
            ALICE.0
        )),
        "{said}"
    );
    let noop = inbox.ok("NOOP").await;
    assert!(noop.iter().any(|l| l.contains("* 2 EXISTS")), "{noop:?}");
    let said = run(&["mailbox", "import", ALICE.0, path(&mbox)]);
    assert!(said.contains("imported 0, skipped 1 duplicates"), "{said}");
    let fetched = inbox.ok("FETCH 2 (FLAGS INTERNALDATE)").await;
    assert!(
        fetched
            .iter()
            .any(|l| l.contains("\\Seen") && l.contains("01-Jan-2015 00:00:00 +0000")),
        "{fetched:?}"
    );

    // Errors name what is wrong, as offline.
    let o = server.cli(&["mailbox", "purge", ALICE.0, "--mailbox", "Nope"], "");
    let said = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        (o.status.code(), said.trim()),
        (
            Some(1),
            "mailstack: alice@example.test has no mailbox \"Nope\""
        )
    );
    let o = server.cli(
        &[
            "mailbox",
            "export",
            "ghost@example.test",
            "--mailbox",
            "INBOX",
        ],
        "",
    );
    assert!(
        !o.status.success() && out(&o).contains("ghost@example.test: no such account"),
        "{}",
        out(&o)
    );

    // Live exports write what offline ones write, and say the same.
    let export_all = |at: &str| -> Vec<String> {
        let out = |name: String| dir.path().join(format!("{at}{name}"));
        let mut said: Vec<String> = ["mbox", "maildir"]
            .iter()
            .map(|f| {
                let to = out(format!("-{f}"));
                run(&[
                    "mailbox",
                    "export",
                    ALICE.0,
                    "--format",
                    f,
                    "--out",
                    path(&to),
                ])
            })
            .collect();
        let to = out(".mbox".into());
        said.push(run(&[
            "mailbox",
            "export",
            ALICE.0,
            "--mailbox",
            "INBOX",
            "--out",
            path(&to),
        ]));
        said.into_iter().map(|s| s.replace(at, "AT")).collect()
    };
    let live = export_all("live");
    drop((trash, inbox));
    server.stop();
    assert_eq!(export_all("offline"), live);
    for f in ["-mbox", "-maildir"] {
        let at = |name: &str| dir.path().join(format!("{name}{f}"));
        assert_eq!(tree(&at("live")), tree(&at("offline")), "{f}");
    }
    let read = |name: &str| std::fs::read(dir.path().join(name)).expect("read");
    assert_eq!(read("live.mbox"), read("offline.mbox"));
}

/// Every file below `root`: relative path → (bytes, mtime for message files).
fn tree(root: &Path) -> BTreeMap<String, (Vec<u8>, Option<std::time::SystemTime>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read dir") {
            let p = e.expect("entry").path();
            let rel = p
                .strip_prefix(root)
                .expect("below")
                .to_string_lossy()
                .into_owned();
            if p.is_dir() {
                out.insert(format!("{rel}/"), (Vec::new(), None));
                stack.push(p);
            } else {
                let message = rel.contains("cur/");
                let mtime = message.then(|| {
                    std::fs::metadata(&p)
                        .and_then(|m| m.modified())
                        .expect("mtime")
                });
                out.insert(rel, (std::fs::read(&p).expect("read"), mtime));
            }
        }
    }
    out
}
