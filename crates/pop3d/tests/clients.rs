//! End to end with real, independent POP3 clients against the in-process server: Python
//! poplib (plain, STLS, pop3s), curl (pop3://, STLS, pop3s://), fetchmail (keep and delete),
//! getmail6 (delete = false / true) and GNU mailutils movemail. Each is spawned on the
//! server's ephemeral port; `make deps` installs them.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use store::Account;
use testkit::{message, Daemon, Stack, StackBuilder, PASSWORD};
use tokio::process::Command;

const ALICE: &str = "alice@example.test";

/// POP3 alone (plain with STLS, and pop3s) on a temporary store, greeting as pop.example.test,
/// every session traced.
fn pop3() -> StackBuilder {
    Stack::builder()
        .only(&[Daemon::Pop3])
        .hostname("pop.example.test")
        .trace(true)
}

async fn start() -> Stack {
    pop3().start().await
}

/// Runs a client with a time limit; panics with its output when it cannot start.
async fn run(cmd: &mut Command) -> Output {
    cmd.kill_on_drop(true);
    let name = format!("{:?}", cmd.as_std().get_program());
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{name} timed out"))
        .unwrap_or_else(|e| panic!("{name} could not run ({e}); install it (`make deps`)"));
    eprintln!(
        "--- {name} exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A mailbox with two messages, one 8-bit with a dot-stuffed line.
async fn seeded() -> (Stack, Account, Vec<Vec<u8>>) {
    let srv = start().await;
    let a = srv.add_user(ALICE).await;
    let mut m1 = b"From: a@example.test\r\nSubject: first 8bit\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n".to_vec();
    m1.extend_from_slice("Grüße aus Köln\r\n.leading dot\r\n..two\r\nend\r\n".as_bytes());
    let m2 = message("second plain", "hello\r\n");
    srv.deliver(&a, &m1).await;
    srv.deliver(&a, &m2).await;
    (srv, a, vec![m1, m2])
}

fn script() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/poplib_client.py"
    ))
}

async fn poplib(srv: &Stack, mode: &str, delete: bool) -> serde_json::Value {
    let port = if mode == "pop3s" {
        srv.port("pop3s")
    } else {
        srv.port("pop3")
    };
    let out = run(Command::new("python3").arg(script()).args([
        mode,
        &port.to_string(),
        &srv.ca.display().to_string(),
        ALICE,
        PASSWORD,
        if delete { "1" } else { "0" },
    ]))
    .await;
    assert!(out.status.success(), "poplib {mode} failed");
    serde_json::from_slice(&out.stdout).expect("poplib JSON")
}

#[tokio::test]
async fn python_poplib_plain_stls_and_pop3s() {
    let (srv, a, msgs) = seeded().await;
    let before = srv.uids(&a);
    for mode in ["plain", "stls", "pop3s"] {
        let v = poplib(&srv, mode, false).await;
        assert!(
            v["welcome"].as_str().unwrap_or("").starts_with("+OK"),
            "{v}"
        );
        let capa: Vec<&str> = v["capa"]
            .as_array()
            .expect("capa")
            .iter()
            .filter_map(|c| c.as_str())
            .collect();
        for want in [
            "TOP",
            "UIDL",
            "USER",
            "SASL",
            "RESP-CODES",
            "PIPELINING",
            "IMPLEMENTATION",
        ] {
            assert!(capa.contains(&want), "{mode}: {want} not in {capa:?}");
        }
        assert_eq!(capa.contains(&"STLS"), mode == "plain", "{mode}: {capa:?}");
        let total: usize = msgs.iter().map(Vec::len).sum();
        assert_eq!(v["stat"], serde_json::json!([2, total]));
        for (i, m) in msgs.iter().enumerate() {
            // poplib decodes nothing: compare the bytes (sent as latin-1 text).
            let got: Vec<u8> = v["messages"][i]
                .as_str()
                .expect("msg")
                .chars()
                .map(|c| c as u32 as u8)
                .collect();
            assert!(got == *m, "{mode}: message {} differs", i + 1);
        }
        assert_eq!(v["uidl"].as_array().map(Vec::len), Some(2));
    }
    assert_eq!(srv.uids(&a), before, "poplib without DELE keeps everything");
    let v = poplib(&srv, "pop3s", true).await;
    assert!(v["dele"].as_str().unwrap_or("").starts_with("+OK"), "{v}");
    assert_eq!(
        srv.uids(&a),
        before[1..].to_vec(),
        "DELE + QUIT removed message 1"
    );
}

fn curl(srv: &Stack, url: &str) -> Command {
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "60", "--cacert"])
        .arg(&srv.ca)
        .args(["-u", &format!("{ALICE}:{PASSWORD}"), url]);
    let _ = srv;
    c
}

#[tokio::test]
async fn curl_pop3_stls_and_pop3s() {
    let (srv, a, msgs) = seeded().await;
    let plain = format!("pop3://127.0.0.1:{}", srv.port("pop3"));
    let secure = format!("pop3s://127.0.0.1:{}", srv.port("pop3s"));

    let out = run(&mut curl(&srv, &format!("{plain}/"))).await;
    assert!(out.status.success());
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        listing,
        format!("1 {}\r\n2 {}\r\n", msgs[0].len(), msgs[1].len())
    );

    let out = run(&mut curl(&srv, &format!("{plain}/1"))).await;
    assert!(out.status.success());
    assert!(
        out.stdout == msgs[0],
        "curl RETR over plain POP3 is byte-exact"
    );

    let out = run(curl(&srv, &format!("{plain}/2")).arg("--ssl-reqd")).await;
    assert!(out.status.success(), "curl with STLS");
    assert!(out.stdout == msgs[1]);

    let out = run(&mut curl(&srv, &format!("{secure}/1"))).await;
    assert!(out.status.success(), "curl pop3s");
    assert!(out.stdout == msgs[0]);

    // A wrong password: curl fails (login denied), nothing changes.
    let out = run(Command::new("curl").args([
        "-sS",
        "--max-time",
        "60",
        "-u",
        &format!("{ALICE}:wrong password 99"),
        &format!("{plain}/1"),
    ]))
    .await;
    assert!(!out.status.success());
    assert_eq!(srv.uids(&a).len(), 2);
}

fn local_user() -> String {
    std::process::Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "root".into())
}

async fn fetchmail(srv: &Stack, keep: bool, stls: bool) -> String {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let out_file = dir.path().join("delivered.txt");
    let tls = if stls {
        format!(
            "sslproto 'tls1.2+' sslcertck sslcommonname localhost sslcertfile \"{}\"",
            srv.ca.display()
        )
    } else {
        "sslproto ''".to_string()
    };
    let rc = format!(
        "set no bouncemail\nset postmaster \"{user}\"\n\
         poll 127.0.0.1 with protocol POP3 port {port} timeout 60:\n  \
         user \"{ALICE}\" there with password \"{PASSWORD}\" is \"{user}\" here\n  \
         options {keep} {tls} mda \"cat >> {out}\"\n",
        user = local_user(),
        port = srv.port("pop3"),
        keep = if keep { "keep" } else { "no keep" },
        out = out_file.display(),
    );
    let rc_path = dir.path().join("fetchmailrc");
    std::fs::write(&rc_path, rc).expect("rc");
    std::fs::set_permissions(&rc_path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let out = run(Command::new("fetchmail")
        .args(["-v", "--nosyslog", "-f"])
        .arg(&rc_path)
        .env("HOME", dir.path())
        .env("FETCHMAILHOME", dir.path()))
    .await;
    assert_eq!(out.status.code(), Some(0), "fetchmail retrieved mail");
    std::fs::read_to_string(&out_file).unwrap_or_default()
}

#[tokio::test]
async fn fetchmail_keep_over_stls_then_default_delete() {
    let (srv, a, _) = seeded().await;
    let got = fetchmail(&srv, true, true).await;
    assert!(
        got.contains("Subject: first 8bit") && got.contains("Subject: second plain"),
        "{got}"
    );
    assert!(
        got.contains("\n.leading dot\n") || got.contains("\r\n.leading dot\r\n"),
        "unstuffed: {got}"
    );
    assert_eq!(
        srv.uids(&a).len(),
        2,
        "keep leaves the messages on the server"
    );
    // fetchmail's default (no keep) deletes what it fetched.
    let got = fetchmail(&srv, false, false).await;
    assert!(got.contains("Subject: second plain"), "{got}");
    assert!(srv.uids(&a).is_empty(), "fetchmail deleted the messages");
}

async fn getmail(srv: &Stack, delete: bool, ssl: bool) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    // MDA_external: getmail refuses mbox delivery as root, and CI runs as root.
    let mbox = dir.path().join("delivered.txt");
    let retriever = if ssl {
        format!(
            "type = SimplePOP3SSLRetriever\nserver = localhost\nport = {}\nca_certs = {}\n",
            srv.port("pop3s"),
            srv.ca.display()
        )
    } else {
        format!(
            "type = SimplePOP3Retriever\nserver = 127.0.0.1\nport = {}\n",
            srv.port("pop3")
        )
    };
    let rc = format!(
        "[retriever]\n{retriever}username = {ALICE}\npassword = {PASSWORD}\n\n\
         [destination]\ntype = MDA_external\npath = /bin/sh\narguments = (\"-c\", \"cat >> {}\")\n\
         allow_root_commands = true\n\n\
         [options]\ndelete = {delete}\nread_all = true\nverbose = 2\n",
        mbox.display()
    );
    let rc_path = dir.path().join("getmailrc");
    std::fs::write(&rc_path, rc).expect("rc");
    let out = run(Command::new("getmail")
        .arg("--getmaildir")
        .arg(dir.path())
        .arg("--rcfile")
        .arg(&rc_path))
    .await;
    assert!(out.status.success(), "getmail succeeded");
    std::fs::read_to_string(&mbox).unwrap_or_default()
}

#[tokio::test]
async fn getmail6_keep_and_delete() {
    let (srv, a, _) = seeded().await;
    let got = getmail(&srv, false, false).await;
    assert!(
        got.contains("Subject: first 8bit") && got.contains("Subject: second plain"),
        "{got}"
    );
    assert_eq!(srv.uids(&a).len(), 2, "delete = false keeps the messages");
    let got = getmail(&srv, true, true).await;
    assert!(got.contains("Subject: second plain"), "{got}");
    assert!(srv.uids(&a).is_empty(), "delete = true removed them");
}

#[tokio::test]
async fn mailutils_movemail() {
    let (srv, a, _) = seeded().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mbox = dir.path().join("moved.mbox");
    let url = format!(
        "pop://{}:{}@127.0.0.1:{}",
        ALICE.replace('@', "%40"),
        PASSWORD.replace(' ', "%20"),
        srv.port("pop3")
    );
    let out = run(Command::new("movemail")
        .arg("--preserve")
        .arg(&url)
        .arg(&mbox)
        .env("HOME", dir.path()))
    .await;
    assert!(out.status.success(), "movemail --preserve");
    let got = std::fs::read_to_string(&mbox).unwrap_or_default();
    assert!(
        got.contains("Subject: first 8bit") && got.contains("Subject: second plain"),
        "{got}"
    );
    assert_eq!(srv.uids(&a).len(), 2, "--preserve keeps the messages");
    let mbox2 = dir.path().join("moved2.mbox");
    let out = run(Command::new("movemail")
        .arg(&url)
        .arg(&mbox2)
        .env("HOME", dir.path()))
    .await;
    assert!(out.status.success(), "movemail");
    assert!(std::fs::read_to_string(&mbox2)
        .unwrap_or_default()
        .contains("Subject: second plain"));
    assert!(srv.uids(&a).is_empty(), "movemail removed the messages");
}
