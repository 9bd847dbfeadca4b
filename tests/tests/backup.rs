//! Backup and cleanup (docs/spec.md §7.8): `mailstack mailbox export|import|purge` with the
//! server stopped (the store opened directly), and their bad input. With the server running:
//! `backup_live.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use store::{AppendRequest, Flags, Store};
use testkit::process::output_text as out;
use testkit::process::{cli, test_config};

const CAROL: &str = "carol@example.test";

/// Messages as a mailbox holds them: bytes, flag names (sorted), INTERNALDATE.
type Messages = Vec<(Vec<u8>, Vec<String>, i64)>;

/// Every mailbox of `address` with its messages, read from the store at `data`.
fn snapshot(data: &Path, address: &str) -> BTreeMap<String, Messages> {
    let store = Store::open(data).expect("open the store");
    let a = store.account(address).expect("read").expect("account");
    (store.mailboxes(a.id).expect("mailboxes").into_iter())
        .map(|mb| {
            let messages = (store.messages(mb.id).expect("messages").into_iter())
                .map(|m| {
                    let mut flags: Vec<String> =
                        m.flags.names().into_iter().map(String::from).collect();
                    flags.sort();
                    (
                        store.read_blob(m.blob).expect("blob"),
                        flags,
                        m.internaldate,
                    )
                })
                .collect();
            (mb.name, messages)
        })
        .collect()
}

/// A store with carol and mail in several folders: flags, keywords, old dates, bodies with
/// From lines, two identical copies, an empty nested folder and a non-ASCII name.
async fn populated(dir: &Path) -> PathBuf {
    let cfg = test_config(dir, "");
    ok(
        &cfg,
        &["user", "add", CAROL, "--password-stdin"],
        "a long password 1\n",
    );
    let store = Store::open(dir.join("data")).expect("open");
    let a = store.account(CAROL).expect("read").expect("carol");
    for name in ["Archive/2024", "Grüße", "Empty/Nested"] {
        store
            .create_mailbox(a.id, name, None)
            .await
            .expect("create");
    }
    let copy = b"Return-Path: <bob@remote.test>\r\nSubject: copy\r\n\r\nsame bytes\r\n".to_vec();
    let mail: [(&str, Vec<u8>, &[&str], i64); 6] = [
        ("INBOX", b"Return-Path: <bob@remote.test>\r\nFrom: bob@remote.test\r\nSubject: hello\r\n\r\nFrom the start\r\n>From quoted\r\n\r\nbye\r\n".to_vec(), &["\\Seen", "\\Flagged", "Work", "$Label1"], 1_500_000_000),
        ("INBOX", b"Subject: unread\r\n\r\nplain\r\n".to_vec(), &[], 1_600_000_000),
        ("INBOX", copy.clone(), &["\\Answered"], 1_600_000_100),
        ("INBOX", copy, &["\\Answered"], 1_600_000_100),
        ("Archive/2024", b"Subject: old\r\n\r\ndraft\r\n".to_vec(), &["\\Draft", "\\Deleted", "\\Seen"], 1_700_000_000),
        ("Grüße", "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=\r\n\r\nü\r\n".as_bytes().to_vec(), &["$Forwarded"], 86_400),
    ];
    for (mailbox, bytes, flags, date) in &mail {
        let mb = store
            .mailbox(a.id, mailbox)
            .expect("read")
            .expect("mailbox");
        let req = AppendRequest {
            bytes,
            flags: Flags::from_names(flags.iter().copied()),
            internaldate: Some((*date, 120)),
        };
        store.append(a.id, mb.id, req).await.expect("append");
    }
    cfg
}

fn ok(cfg: &Path, args: &[&str], stdin: &str) -> String {
    let o = cli(cfg, args, stdin);
    assert_eq!(o.status.code(), Some(0), "{args:?}: {}", out(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails(cfg: &Path, args: &[&str], code: i32, needle: &str) {
    let o = cli(cfg, args, "");
    assert_eq!(o.status.code(), Some(code), "{args:?}: {}", out(&o));
    assert!(
        out(&o).contains(needle),
        "{args:?}: {} lacks {needle:?}",
        out(&o)
    );
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 temp path")
}

/// Export, delete the account, import: the same folders, bytes, flags, keywords and dates;
/// a second import adds nothing. For mbox and Maildir.
#[tokio::test]
async fn backup_round_trips_through_mbox_and_maildir() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = populated(dir.path()).await;
    let data = dir.path().join("data");
    let before = snapshot(&data, CAROL);
    assert_eq!(before["INBOX"].len(), 4);
    for format in ["mbox", "maildir"] {
        let backup = dir.path().join(format!("backup-{format}"));
        let said = ok(
            &cfg,
            &[
                "mailbox",
                "export",
                CAROL,
                "--format",
                format,
                "--out",
                path(&backup),
            ],
            "",
        );
        assert!(
            said.contains(&format!(
                "exported 6 messages in 10 mailboxes of {CAROL} to"
            )),
            "{said}"
        );
        assert!(
            said.contains(&format!("exported {CAROL} INBOX: 4 messages")),
            "{said}"
        );
        ok(&cfg, &["user", "del", CAROL], "");
        ok(
            &cfg,
            &["user", "add", CAROL, "--password-stdin"],
            "a long password 1\n",
        );
        let said = ok(&cfg, &["mailbox", "import", CAROL, path(&backup)], "");
        assert!(
            said.contains(&format!("imported 4, skipped 0 duplicates: {CAROL} INBOX")),
            "{said}"
        );
        assert!(
            said.contains("imported 6, skipped 0 duplicates in 10 mailboxes"),
            "{said}"
        );
        assert_eq!(snapshot(&data, CAROL), before, "{format}");
        let said = ok(&cfg, &["mailbox", "import", CAROL, path(&backup)], "");
        assert!(
            said.contains("imported 0, skipped 6 duplicates in 10 mailboxes"),
            "{said}"
        );
        assert_eq!(
            snapshot(&data, CAROL),
            before,
            "{format}: the second import added nothing"
        );
    }
    // What the files look like: Maildir++ folders, info flags, Dovecot's keyword file.
    let md = dir.path().join("backup-maildir");
    let keywords = std::fs::read_to_string(md.join("dovecot-keywords")).expect("keywords");
    assert_eq!(keywords, "0 Work\n1 $Label1\n");
    let cur: Vec<String> = std::fs::read_dir(md.join("cur"))
        .expect("cur")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        cur.iter()
            .any(|n| n.starts_with("1500000000.M1V") && n.ends_with(":2,FSab")),
        "{cur:?}"
    );
    assert!(
        md.join(".Archive.2024/maildirfolder").exists() && md.join(".Empty.Nested/cur").is_dir()
    );
    assert!(dir.path().join("backup-mbox/Archive.sbd/2024").is_file());
}

/// mboxrd: `From ` and `>From ` lines of a body are quoted on export and come back exactly.
#[tokio::test]
async fn backup_mboxrd_quoting_round_trips() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = populated(dir.path()).await;
    let o = cli(
        &cfg,
        &["mailbox", "export", CAROL, "--mailbox", "INBOX"],
        "",
    );
    assert!(o.status.success(), "{}", out(&o));
    let mbox = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        mbox.starts_with("From bob@remote.test Fri Jul 14 02:40:00 2017\n"),
        "{mbox}"
    );
    // No session has seen these yet: \Recent, so no `O` (old) in Status.
    assert!(mbox.contains("\nStatus: R\nX-Status: F\nX-Keywords: Work $Label1\n\n>From the start\n>>From quoted\n\nbye\n\n"), "{mbox}");
    assert!(
        mbox.contains(
            "\nFrom MAILER-DAEMON Sun Sep 13 12:26:40 2020\nSubject: unread\n\nplain\n\n"
        ),
        "{mbox}"
    );
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains(&format!("exported 4 messages of {CAROL} INBOX as mbox")));
    let file = dir.path().join("inbox.mbox");
    std::fs::write(&file, &o.stdout).expect("write");
    let said = ok(
        &cfg,
        &["mailbox", "import", CAROL, path(&file), "--mailbox", "Copy"],
        "",
    );
    assert!(
        said.contains(&format!("imported 4, skipped 0 duplicates: {CAROL} Copy")),
        "{said}"
    );
    let now = snapshot(&dir.path().join("data"), CAROL);
    assert_eq!(now["Copy"], now["INBOX"]);
    // --out FILE writes the same bytes.
    ok(
        &cfg,
        &[
            "mailbox",
            "export",
            CAROL,
            "--mailbox",
            "Copy",
            "--out",
            path(&dir.path().join("copy.mbox")),
        ],
        "",
    );
    assert_eq!(
        std::fs::read(dir.path().join("copy.mbox")).expect("read"),
        o.stdout
    );
}

/// A purge removes exactly what its dry run listed, nothing else, and quota usage drops.
#[tokio::test]
async fn backup_purge_removes_what_its_dry_run_listed() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = test_config(dir.path(), "");
    ok(
        &cfg,
        &["user", "add", CAROL, "--password-stdin"],
        "a long password 1\n",
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (old, new) = (now - 200 * 86_400, now - 86_400);
    let big = format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(6 << 20));
    {
        let store = Store::open(dir.path().join("data")).expect("open");
        let a = store.account(CAROL).expect("read").expect("carol");
        for (mailbox, subject, date, big_one) in [
            ("Trash", "old small", old, false),
            ("Trash", "old big", old, true),
            ("Trash", "new big", new, true),
            ("Trash", "new small", new, false),
            ("INBOX", "old big in INBOX", old, true),
        ] {
            let mb = store
                .mailbox(a.id, mailbox)
                .expect("read")
                .expect("mailbox");
            let small = format!("Subject: {subject}\r\n\r\nsmall\r\n");
            let bytes = if big_one {
                big.replace("Subject: big", &format!("Subject: {subject}"))
            } else {
                small
            };
            let req = AppendRequest {
                bytes: bytes.as_bytes(),
                flags: Flags::default(),
                internaldate: Some((date, 0)),
            };
            store.append(a.id, mb.id, req).await.expect("append");
        }
    }
    let used = |cfg: &Path| {
        let list: serde_json::Value =
            serde_json::from_str(&ok(cfg, &["user", "list", "--json"], "")).expect("json");
        list.as_array()
            .expect("array")
            .iter()
            .find(|u| u["address"] == CAROL)
            .expect("carol")["used_bytes"]
            .as_u64()
            .expect("bytes")
    };
    let before = used(&cfg);
    let data = dir.path().join("data");
    let stored = snapshot(&data, CAROL);
    let criteria = [
        "--mailbox",
        "Trash",
        "--older-than",
        "90d",
        "--larger-than",
        "5MiB",
    ];
    let dry = ok(
        &cfg,
        &[&["mailbox", "purge", CAROL, "--dry-run"][..], &criteria].concat(),
        "",
    );
    assert!(
        dry.contains("would remove 1 messages")
            && dry.contains("old big")
            && !dry.contains("new big"),
        "{dry}"
    );
    assert_eq!(snapshot(&data, CAROL), stored, "a dry run changes nothing");
    let done = ok(
        &cfg,
        &[&["mailbox", "purge", CAROL][..], &criteria].concat(),
        "",
    );
    let rows = |text: &str| {
        text.lines()
            .filter(|l| !l.contains("remove"))
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        rows(&done),
        rows(&dry),
        "the purge lists what its dry run listed"
    );
    let after = snapshot(&data, CAROL);
    let subjects = |name: &str| -> Vec<String> {
        after[name]
            .iter()
            .map(|(b, _, _)| {
                String::from_utf8_lossy(&b[9..b.iter().position(|c| *c == b'\r').unwrap_or(9)])
                    .into_owned()
            })
            .collect()
    };
    assert_eq!(subjects("Trash"), ["old small", "new big", "new small"]);
    assert_eq!(subjects("INBOX"), ["old big in INBOX"]);
    let freed = before - used(&cfg);
    assert_eq!(
        freed,
        stored["Trash"][1].0.len() as u64,
        "quota usage dropped by what went"
    );
    // Emptying the trash: --mailbox alone.
    let done = ok(&cfg, &["mailbox", "purge", CAROL, "--mailbox", "Trash"], "");
    assert!(done.contains("removed 3 messages"), "{done}");
    assert!(snapshot(&data, CAROL)["Trash"].is_empty());
}

/// Bad input gets a clear error and changes nothing.
#[tokio::test]
async fn backup_bad_input_is_refused_and_nothing_is_lost() {
    let dir = tempfile::tempdir().expect("tmp");
    let cfg = populated(dir.path()).await;
    let data = dir.path().join("data");
    let before = snapshot(&data, CAROL);
    fails(&cfg, &["mailbox", "purge", CAROL], 2, "--mailbox");
    fails(
        &cfg,
        &["mailbox", "purge", CAROL, "--mailbox", "Nope"],
        1,
        "has no mailbox \"Nope\"",
    );
    fails(
        &cfg,
        &[
            "mailbox",
            "purge",
            "ghost@example.test",
            "--mailbox",
            "INBOX",
        ],
        1,
        "ghost@example.test: no such account",
    );
    for age in ["5y", "-1d", "d", "1.5d"] {
        let arg = format!("--older-than={age}");
        fails(
            &cfg,
            &["mailbox", "purge", CAROL, "--mailbox", "INBOX", &arg],
            2,
            "invalid duration",
        );
    }
    for size in ["5 parsecs", "MB", "-1"] {
        let arg = format!("--larger-than={size}");
        fails(
            &cfg,
            &["mailbox", "purge", CAROL, "--mailbox", "INBOX", &arg],
            2,
            "invalid size",
        );
    }
    std::fs::write(dir.path().join("notes.txt"), "Subject: not an mbox\n\nhi\n").expect("write");
    fails(
        &cfg,
        &[
            "mailbox",
            "import",
            CAROL,
            path(&dir.path().join("notes.txt")),
        ],
        1,
        "not an mbox file",
    );
    // A folder with one bad file among good ones: nothing is imported.
    let tree = dir.path().join("tree");
    ok(
        &cfg,
        &["mailbox", "export", CAROL, "--out", path(&tree)],
        "",
    );
    std::fs::copy(dir.path().join("notes.txt"), tree.join("zz-notes")).expect("copy");
    fails(
        &cfg,
        &["mailbox", "import", CAROL, path(&tree), "--mailbox", "New"],
        1,
        "zz-notes: not an mbox file",
    );
    fails(
        &cfg,
        &[
            "mailbox",
            "import",
            CAROL,
            path(&dir.path().join("missing")),
        ],
        1,
        "cannot read",
    );
    fails(&cfg, &["mailbox", "export", CAROL], 1, "give --out");
    fails(
        &cfg,
        &["mailbox", "export", CAROL, "--out", path(&tree)],
        1,
        "is not empty",
    );
    fails(
        &cfg,
        &[
            "mailbox",
            "export",
            CAROL,
            "--mailbox",
            "Nope",
            "--out",
            path(&dir.path().join("x")),
        ],
        1,
        "has no mailbox",
    );
    assert!(
        !dir.path().join("x").exists(),
        "a failed export leaves no file"
    );
    fails(
        &cfg,
        &["mailbox", "export", CAROL, "--format", "zip"],
        2,
        "invalid value",
    );
    assert_eq!(snapshot(&data, CAROL), before);
}
