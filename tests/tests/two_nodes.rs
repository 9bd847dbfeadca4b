//! Two `mailstack serve` processes on one PostgreSQL database (README "When one machine is not
//! enough", docs/architecture.md §12.3): mail delivered through node A is pushed to an IDLE
//! session on node B and the other way round; a STORE on B reaches A's idler; POP3 DELE + QUIT
//! on A is an EXPUNGE on B; concurrent SMTP deliveries through both nodes get strictly
//! increasing UIDs with nothing lost, even when one node is killed (-9) under that load; the
//! other node keeps serving and the killed one rejoins. Python's imaplib idles on B as a
//! third-party client. Skipped where PostgreSQL is not installed (except under CI).

use std::time::Instant;

use testkit::postgres::Cluster;
use testkit::{Imap, Mailstack, Pop3};

const USER: &str = "dana@example.test";
const PASS: &str = "a long enough secret";

fn node(url: &str) -> Mailstack {
    Mailstack::builder()
        .persistent()
        .config(&format!(
            "[store]\nbackend = \"postgres\"\nurl = \"{url}\"\n"
        ))
        .start()
}

fn two_nodes() -> Option<(Mailstack, Mailstack)> {
    let url = Cluster::get()?.database();
    let a = node(&url);
    let b = node(&url);
    let said = a.cli(
        &["user", "add", USER, "--password-stdin"],
        &format!("{PASS}\n"),
    );
    assert!(
        said.status.success(),
        "{}",
        testkit::process::output_text(&said)
    );
    Some((a, b))
}

async fn send(node: &Mailstack, subject: &str) {
    let reply = testkit::client::smtp_send(
        node.port("smtp"),
        USER,
        format!("Subject: {subject}\r\n\r\nbody of {subject}\r\n").as_bytes(),
    )
    .await;
    assert!(reply.starts_with("250"), "{reply}");
}

/// Runs a Python script; its stdout line by line (the script says when it is ready).
fn python(
    script: &str,
) -> (
    tokio::process::Child,
    tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
) {
    let mut child = tokio::process::Command::new("python3")
        .args(["-c", script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3");
    let stdout = child.stdout.take().expect("stdout");
    let lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    (child, lines)
}

/// An IMAP session on `node` with INBOX selected and IDLE started; returns it and the tag.
async fn idler(node: &Mailstack) -> (Imap, String) {
    let mut imap = Imap::login_to(node.port("imap"), USER, PASS).await;
    imap.ok("SELECT INBOX").await;
    let tag = imap.idle().await;
    (imap, tag)
}

#[tokio::test]
async fn push_goes_both_ways_between_nodes() {
    let Some((a, b)) = two_nodes() else { return };
    let (mut on_b, _) = idler(&b).await;
    let (mut on_a, _) = idler(&a).await;

    // Delivery through A → B's idler.
    let t = Instant::now();
    send(&a, "via A").await;
    assert_eq!(on_b.pushed().await, "* 1 EXISTS");
    eprintln!("SMTP on A → EXISTS on B: {:?}", t.elapsed());
    assert_eq!(on_a.pushed().await, "* 1 EXISTS");
    on_a.pushed().await; // RECENT
    on_b.pushed().await;

    // Delivery through B → A's idler.
    send(&b, "via B").await;
    assert_eq!(on_a.pushed().await, "* 2 EXISTS");
    assert_eq!(on_b.pushed().await, "* 2 EXISTS");
    on_a.pushed().await;
    on_b.pushed().await;

    // STORE on B (another session) → FETCH FLAGS on A's idler.
    let mut actor = Imap::login_to(b.port("imap"), USER, PASS).await;
    actor.ok("SELECT INBOX").await;
    actor.ok("STORE 1 +FLAGS (\\Flagged)").await;
    let fetch = on_a.pushed().await;
    assert!(
        fetch.starts_with("* 1 FETCH") && fetch.contains("\\Flagged"),
        "{fetch}"
    );
    drop(actor);

    // POP3 DELE + QUIT on A → EXPUNGE on B (RFC 1939 §6: deleted at QUIT).
    let mut pop = Pop3::login_to(a.port("pop3"), USER, PASS).await;
    assert!(pop.cmd("DELE 2").await.starts_with("+OK"));
    assert!(pop.cmd("QUIT").await.starts_with("+OK"));
    let mut lines = vec![on_b.pushed().await];
    while !lines.iter().any(|l| l == "* 2 EXPUNGE") {
        lines.push(on_b.pushed().await);
    }
}

#[tokio::test]
async fn python_imaplib_on_b_is_pushed_what_a_delivers() {
    let Some((a, b)) = two_nodes() else { return };
    // imaplib has no IDLE before Python 3.14: the script sends it on imaplib's socket and
    // reads the pushed line, as a client library of that era does.
    let script = format!(
        r#"
import imaplib, sys
m = imaplib.IMAP4("127.0.0.1", {port})
m.login("{USER}", "{PASS}")
typ, data = m.select("INBOX")
assert typ == "OK" and data == [b"0"], data
tag = m._new_tag()
m.send(tag + b" IDLE\r\n")
assert m.readline().startswith(b"+"), "continuation"
print("idling", flush=True)
line = m.readline()
print(line.decode().strip(), flush=True)
m.send(b"DONE\r\n")
while not m.readline().startswith(tag):
    pass
typ, data = m.fetch("1", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
print(data[0][1].decode().strip(), flush=True)
m.logout()
"#,
        port = b.port("imap")
    );
    let (child, mut lines) = python(&script);
    let first = lines.next_line().await.expect("read").unwrap_or_default();
    assert_eq!(first, "idling");
    send(&a, "for imaplib").await;
    let out = child.wait_with_output().await.expect("python3 ends");
    let rest = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut all = vec![];
    while let Ok(Some(l)) = lines.next_line().await {
        all.push(l);
    }
    all.push(rest);
    let all = all.join("\n");
    assert!(
        out.status.success(),
        "{all}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("* 1 EXISTS"), "{all}");
    assert!(all.contains("Subject: for imaplib"), "{all}");
}

#[tokio::test]
async fn concurrent_smtp_through_both_nodes_survives_killing_one() {
    let Some((mut a, b)) = two_nodes() else {
        return;
    };
    let ports = [a.port("smtp"), b.port("smtp")];
    let mut watch = Imap::login_to(b.port("imap"), USER, PASS).await;
    watch.ok("SELECT INBOX").await;
    let tag = watch.idle().await;
    // 16 senders, half on each node, each sending until told to stop; A is killed meanwhile.
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut senders = Vec::new();
    for s in 0..16 {
        let port = ports[s % 2];
        let mut stop = stop.clone();
        senders.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0.. {
                if *stop.borrow_and_update() {
                    break;
                }
                let subject = format!("load {s}-{i}");
                let msg = format!("Subject: {subject}\r\n\r\nx\r\n");
                let sent = tokio::spawn(async move {
                    testkit::client::smtp_send(port, USER, msg.as_bytes()).await
                })
                .await;
                match sent {
                    Ok(reply) if reply.starts_with("250") => acked.push(subject),
                    // The node went away mid-transaction (the client panics on a closed
                    // connection): not acknowledged, so not promised.
                    _ => break,
                }
            }
            acked
        }));
    }
    // Let some mail through both nodes, then kill A.
    loop {
        let l = watch.pushed().await;
        if let Some(n) = l.strip_prefix("* ").and_then(|r| r.strip_suffix(" EXISTS")) {
            if n.parse::<u32>().unwrap_or(0) >= 40 {
                break;
            }
        }
    }
    a.kill();
    // B keeps serving: its senders go on; a few more land.
    let before = b_count(&b).await;
    send(&b, "after the kill").await;
    assert!(b_count(&b).await > before);
    stop_tx.send(true).expect("stop");
    let mut acked = Vec::new();
    for s in senders {
        acked.extend(s.await.expect("join"));
    }
    watch.done(&tag).await;
    acked.push("after the kill".into());

    // A rejoins and sees exactly what B sees; every acknowledged message is there once, and
    // UIDs are strictly increasing (no UID given twice by the two nodes).
    a.restart();
    for node in [&a, &b] {
        let mut imap = Imap::login_to(node.port("imap"), USER, PASS).await;
        imap.ok("SELECT INBOX").await;
        let lines = imap
            .ok("UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            .await;
        // Each response carries its header literal: "… {n}\r\nSubject: load 3-7\r\n…".
        let subjects: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.split("Subject: ").nth(1))
            .filter_map(|r| r.split(['\r', '\n']).next())
            .map(str::trim)
            .collect();
        for s in &acked {
            assert_eq!(
                subjects.iter().filter(|x| *x == s).count(),
                1,
                "acknowledged {s} is there exactly once"
            );
        }
        let uids: Vec<u32> = lines
            .iter()
            .filter_map(|l| l.split("UID ").nth(1))
            .filter_map(|r| r.split([' ', ')']).next()?.parse().ok())
            .collect();
        assert!(
            uids.windows(2).all(|w| w[0] < w[1]),
            "UIDs increase: {uids:?}"
        );
    }
    eprintln!(
        "{} messages acknowledged through two nodes, node A killed mid-load",
        acked.len()
    );
}

/// How many messages B's INBOX has now.
async fn b_count(b: &Mailstack) -> u64 {
    let mut imap = Imap::login_to(b.port("imap"), USER, PASS).await;
    let lines = imap.ok("STATUS INBOX (MESSAGES)").await;
    lines
        .iter()
        .find_map(|l| l.split("MESSAGES ").nth(1))
        .and_then(|r| r.trim_end_matches(')').parse().ok())
        .expect("STATUS")
}

/// The model-checking stress client (`bench stress`, bench/results/stress.md) with its IMAP
/// sessions spread over both nodes, POP3 on A and SMTP deliveries through B: every check
/// holds (no stale flags, no MODSEQ going back, no lost message) across nodes.
#[tokio::test]
async fn the_stress_client_over_two_nodes_finds_no_error() {
    let bench = testkit::process::binary().with_file_name("bench");
    if !bench.exists() {
        // make test builds it (stress-smoke) before this suite runs.
        assert!(
            std::env::var_os("CI").is_none(),
            "{} not built",
            bench.display()
        );
        eprintln!(
            "skipped: {} not built (cargo build -p bench)",
            bench.display()
        );
        return;
    }
    let Some((a, b)) = two_nodes() else { return };
    let imap = format!("127.0.0.1:{},127.0.0.1:{}", a.port("imap"), b.port("imap"));
    let (pop3, smtp) = (a.port("pop3").to_string(), b.port("smtp").to_string());
    let out = tokio::process::Command::new(&bench)
        .args(["stress", "--imap", &imap, "--user", USER, "--pass", PASS])
        .args([
            "--pop3-port",
            &pop3,
            "--pop3",
            "1",
            "--smtp-port",
            &smtp,
            "--smtp-rate",
            "2",
        ])
        .args(["--sessions", "6", "--seconds", "10", "--checkpoint", "3"])
        .kill_on_drop(true)
        .output()
        .await
        .expect("run bench stress");
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    eprintln!("{text}");
}

/// mutt on node A and Python's imaplib idling on node B share one mailbox: mutt's flag and
/// delete are pushed live to imaplib on B; imaplib's \Seen on B is what mutt shows next.
#[tokio::test]
async fn mutt_on_a_and_imaplib_on_b_share_a_mailbox() {
    let Some((a, b)) = two_nodes() else { return };
    send(&b, "mx-one").await;
    send(&b, "mx-two").await;
    let work = tempfile::tempdir().expect("tmp");
    let url = format!(
        "imaps://{}@localhost:{}",
        USER.replace('@', "%40"),
        a.port("imaps")
    );
    let rc = work.path().join("muttrc");
    let ca = a.ca();
    std::fs::write(
        &rc,
        format!(
            "set folder = \"{url}/\"\nset imap_pass = \"{PASS}\"\n\
             set ssl_ca_certificates_file = \"{ca}\"\nset certificate_file = \"{ca}\"\n\
             set delete = yes\nset quit = yes\nset wait_key = no\n",
            ca = ca.display()
        ),
    )
    .expect("muttrc");
    let home = work.path().to_path_buf();
    let mutt = move |keys: &str| {
        let out = std::process::Command::new("script")
            .args(["-qec"])
            .arg(format!(
                "mutt -n -F {} -f {url}/INBOX -e 'push \"{keys}\"'",
                rc.display()
            ))
            .arg("/dev/null")
            .env("HOME", &home)
            .env("TERM", "xterm")
            .output()
            .expect("script mutt");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // imaplib on B idles until it has seen mutt's flag and expunge, then marks mx-two read.
    let script = format!(
        r#"
import imaplib
m = imaplib.IMAP4("127.0.0.1", {port})
m.login("{USER}", "{PASS}")
m.select("INBOX")
tag = m._new_tag()
m.send(tag + b" IDLE\r\n")
assert m.readline().startswith(b"+")
print("idling", flush=True)
flagged = expunged = False
while not (flagged and expunged):
    line = m.readline()
    print(line.decode().strip(), flush=True)
    flagged = flagged or (b"FETCH" in line and b"\\Flagged" in line)
    expunged = expunged or line.endswith(b"EXPUNGE\r\n")
m.send(b"DONE\r\n")
while not m.readline().startswith(tag):
    pass
typ, data = m.search(None, "FLAGGED")
assert typ == "OK" and data == [b"1"], data
m.store("1", "+FLAGS", "(\\Seen)")
m.logout()
print("done", flush=True)
"#,
        port = b.port("imap")
    );
    let (child, mut lines) = python(&script);
    assert_eq!(
        lines.next_line().await.expect("read").as_deref(),
        Some("idling")
    );
    let keys = "/mx-two<enter><flag-message>/mx-one<enter><delete-message><sync-mailbox><quit>";
    let screen = tokio::task::spawn_blocking({
        let mutt = mutt.clone();
        move || mutt(keys)
    })
    .await
    .expect("mutt");
    let mut seen = Vec::new();
    while let Ok(Some(l)) = lines.next_line().await {
        seen.push(l);
    }
    let out = child.wait_with_output().await.expect("python3 ends");
    assert!(
        out.status.success() && seen.last().map(String::as_str) == Some("done"),
        "imaplib on B: {seen:?}\n{}\nmutt: {}",
        String::from_utf8_lossy(&out.stderr),
        &screen[screen.len().saturating_sub(400)..]
    );
    // mutt on A shows what imaplib did on B: one message, flagged, read.
    let screen = tokio::task::spawn_blocking(move || mutt("<quit>"))
        .await
        .expect("mutt");
    assert!(
        screen.contains("Msgs:1"),
        "mutt status: {}",
        &screen[screen.len().saturating_sub(400)..]
    );
    assert!(
        !screen.contains("Msgs:1 New:1"),
        "mx-two read on B shows read in mutt"
    );
}
