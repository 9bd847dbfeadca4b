//! Thunderbird (Debian's `thunderbird`, 115 ESR or later) as a real IMAP client of
//! `mailstack serve`, once over plain IMAP and once with STARTTLS.
//!
//! Each test starts a server with `--trace-protocol`, delivers a message over inbound SMTP,
//! writes a fresh Thunderbird profile with `tests/thunderbird/profile.py` and starts
//! `thunderbird --headless --no-remote --profile DIR` (no X server needed). Then:
//!
//! - profile side: the message's unique Subject and body appear in the offline store
//!   `ImapMail/127.0.0.1/INBOX` (mbox), and a second message delivered over SMTP while
//!   Thunderbird runs reaches that file too. It is delivered once the trace shows Thunderbird
//!   in IDLE with INBOX selected (normally a few seconds after the first sync), so the path
//!   tested is IDLE's `* n EXISTS`, then the offline download; if Thunderbird never idles there
//!   within 30 s the message is delivered anyway and its one-minute new-mail check must find it;
//! - server side, from the protocol trace: Thunderbird logged in as the account (AUTHENTICATE or
//!   LOGIN answered `OK`, only after STARTTLS in the STARTTLS test), LISTed the folders, SELECTed
//!   INBOX and FETCHed whole message bodies; and no password appears in the log.
//!
//! The profile's `user.js` configures the account (plain or STARTTLS on the `imap` listener,
//! cleartext password authentication, which mailstack allows from loopback; "keep messages for
//! this account on this computer" so INBOX is synchronised) and turns off first-run UI,
//! updates, telemetry and every remote fetch (HTTP(S) goes to a closed loopback proxy port).
//! For STARTTLS the generated CA is imported into the profile's NSS database with
//! `certutil -A -t "C,,"`.
//!
//! The password: Thunderbird reads it from `logins.json`, encrypted with NSS's secret decoder
//! ring under the key in the profile's `key4.db`; there is no pref or command-line option for
//! it. The helper creates the NSS database with `certutil -N --empty-password` and encrypts the
//! user name and password with `PK11SDR_Encrypt` from the system libnss3 through Python's
//! ctypes (the same library `certutil` uses), checking the result with NSS's `pwdecrypt`. The
//! password reaches the helper through a file, never the command line.
//!
//! Thunderbird runs in its own process group, killed (with its content processes) when the test
//! ends, also on failure. Without Thunderbird or the NSS tools the test fails naming the
//! packages (`apt-get install thunderbird libnss3-tools`; `.ci/run` installs them), unless
//! `MAILSTACK_SKIP_THUNDERBIRD=1` is set.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testkit::{try_eventually_blocking, Mailstack, ALICE};

/// Thunderbird's first start (profile creation, first sync) on a loaded machine.
const FIRST_SYNC: Duration = Duration::from_secs(120);
/// A message delivered while Thunderbird runs reaches its offline store within this.
const NEW_MAIL: Duration = Duration::from_secs(90);
/// How long to wait for Thunderbird to IDLE on INBOX before the second delivery.
const SETTLE: Duration = Duration::from_secs(30);

/// `Some(reason)` when the test is skipped on request; panics naming the packages when a
/// prerequisite is missing.
fn prerequisites() -> Option<String> {
    let mut missing = Vec::new();
    for (program, package) in [
        ("thunderbird", "thunderbird"),
        ("certutil", "libnss3-tools"),
        ("pwdecrypt", "libnss3-tools"),
        ("python3", "python3"),
    ] {
        if !testkit::have(program) {
            missing.push(format!("{program} (package {package})"));
        }
    }
    if missing.is_empty() {
        return None;
    }
    let msg = format!(
        "thunderbird test needs {}: apt-get install -y thunderbird libnss3-tools \
         (or set MAILSTACK_SKIP_THUNDERBIRD=1 to skip it)",
        missing.join(", ")
    );
    if std::env::var_os("MAILSTACK_SKIP_THUNDERBIRD").is_some_and(|v| v == "1") {
        return Some(msg);
    }
    panic!("{msg}");
}

/// A running Thunderbird; dropping it kills its whole process group.
struct Thunderbird {
    child: Child,
    log: PathBuf,
}

impl Thunderbird {
    fn start(profile: &Path, home: &Path) -> Thunderbird {
        let log = home.join("thunderbird.log");
        let out = std::fs::File::create(&log).expect("thunderbird log");
        let err = out.try_clone().expect("thunderbird log");
        let child = Command::new("thunderbird")
            .arg("--headless")
            .arg("--no-remote")
            .arg("--profile")
            .arg(profile)
            // Nothing of the user's: no ~/.thunderbird, caches or desktop session.
            .env("HOME", home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("TMPDIR", home.join("tmp"))
            .env("MOZ_HEADLESS", "1")
            .env("MOZ_CRASHREPORTER_DISABLE", "1")
            .env("MOZ_DISABLE_AUTO_SAFE_MODE", "1")
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .expect("start thunderbird");
        Thunderbird { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal_group(&self, signal: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg("--")
            .arg(format!("-{}", self.child.id()))
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for Thunderbird {
    fn drop(&mut self) {
        self.signal_group("TERM");
        let _ = try_eventually_blocking(Duration::from_secs(10), || match self.child.try_wait() {
            Ok(Some(_)) => Ok(()),
            _ => Err("still running"),
        });
        // Whatever is left of the group (content processes, or Thunderbird itself).
        self.signal_group("KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One message over inbound SMTP (RFC 5321 §3.3) to `to`.
fn deliver(port: u16, to: &str, subject: &str, body: &str) {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect smtp");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut writer = stream;
    let mut reply = |expect: &str| {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("smtp reply");
            all.push_str(&line);
            // RFC 5321 §4.2.1: "NNN-" continues a reply, "NNN " ends it.
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                break;
            }
        }
        assert!(
            all.starts_with(expect),
            "SMTP: expected {expect}, got {all}"
        );
    };
    reply("220");
    for (cmd, expect) in [
        ("EHLO thunderbird-test.example".to_string(), "250"),
        ("MAIL FROM:<sender@example.org>".to_string(), "250"),
        (format!("RCPT TO:<{to}>"), "250"),
        ("DATA".to_string(), "354"),
    ] {
        writer
            .write_all(format!("{cmd}\r\n").as_bytes())
            .expect("smtp write");
        reply(expect);
    }
    let msg = format!(
        "From: Sender <sender@example.org>\r\nTo: <{to}>\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@example.org>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\
         \r\n{body}\r\n.\r\n"
    );
    writer.write_all(msg.as_bytes()).expect("smtp data");
    reply("250");
    writer.write_all(b"QUIT\r\n").expect("smtp quit");
    reply("221");
}

/// Waits until `file` contains every needle; returns whether it did before `limit`.
fn wait_for_store(file: &Path, needles: &[&str], limit: Duration) -> bool {
    try_eventually_blocking(limit, || {
        let text = std::fs::read(file).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        match needles.iter().find(|n| !text.contains(**n)) {
            None => Ok(()),
            Some(missing) => Err(*missing),
        }
    })
    .is_ok()
}

/// One line of the protocol trace: `session{id=N …}: mailstack::protocol: C: … tls=B`.
struct TraceLine {
    session: String,
    client: bool,
    text: String,
    tls: bool,
}

fn session_of(line: &str) -> Option<String> {
    let rest = &line[line.find("session{id=")? + "session{id=".len()..];
    Some(rest.split([' ', '}']).next()?.to_string())
}

fn parse_trace(log: &str) -> Vec<TraceLine> {
    let mut out = Vec::new();
    for line in log.lines() {
        let (Some(session), Some(at)) = (session_of(line), line.find("mailstack::protocol: "))
        else {
            continue;
        };
        let rest = &line[at + "mailstack::protocol: ".len()..];
        let (client, rest) = match (rest.strip_prefix("C: "), rest.strip_prefix("S: ")) {
            (Some(r), _) => (true, r),
            (_, Some(r)) => (false, r),
            _ => continue,
        };
        let (text, tls) = if let Some(t) = rest.strip_suffix(" tls=true") {
            (t, true)
        } else if let Some(t) = rest.strip_suffix(" tls=false") {
            (t, false)
        } else {
            (rest, false)
        };
        out.push(TraceLine {
            session,
            client,
            text: text.to_string(),
            tls,
        });
    }
    out
}

/// Client commands (tag, command name in upper case, arguments) that the server answered
/// `tag OK` in the same session, with the command's trace line.
fn completed(trace: &[TraceLine]) -> Vec<(&TraceLine, String, String)> {
    let mut out = Vec::new();
    for (i, line) in trace.iter().enumerate() {
        if !line.client {
            continue;
        }
        let mut words = line.text.splitn(3, ' ');
        let (Some(tag), Some(name)) = (words.next(), words.next()) else {
            continue;
        };
        let mut name = name.to_ascii_uppercase();
        let mut args = words.next().unwrap_or("").to_string();
        if name == "UID" {
            let (sub, rest) = args.split_once(' ').unwrap_or((&args, ""));
            name = format!("UID {}", sub.to_ascii_uppercase());
            args = rest.to_string();
        }
        let ok = format!("{tag} OK");
        let answered = trace[i + 1..]
            .iter()
            .filter(|l| !l.client && l.session == line.session)
            .any(|l| l.text.starts_with(&ok));
        if answered {
            out.push((line, name, args));
        }
    }
    out
}

/// The server-side checks on the log of `serve --trace-protocol`; an error names what is
/// missing.
fn check_trace(log: &str, starttls: bool) -> Result<(), String> {
    if log.contains(ALICE.1) {
        return Err("the password appears in the server log".into());
    }
    let trace = parse_trace(log);
    let done = completed(&trace);
    // The IMAP sessions whose server log says the account logged in (auth's DEBUG line, which
    // `run` turns on with RUST_LOG).
    let logged_in: Vec<String> = log
        .lines()
        .filter(|l| {
            l.contains("login succeeded") && l.contains(&format!("address=\"{}\"", ALICE.0))
        })
        .filter_map(session_of)
        .collect();
    let logins: Vec<&TraceLine> = done
        .iter()
        .filter(|(_, name, _)| name == "AUTHENTICATE" || name == "LOGIN")
        .map(|(l, _, _)| *l)
        .filter(|l| logged_in.contains(&l.session))
        .collect();
    if logins.is_empty() {
        return Err(format!("no AUTHENTICATE/LOGIN of {} answered OK", ALICE.0));
    }
    if starttls {
        if let Some(l) = logins.iter().find(|l| !l.tls) {
            return Err(format!("a login before STARTTLS: {}", l.text));
        }
        let upgraded = done.iter().any(|(l, name, _)| name == "STARTTLS" && !l.tls);
        if !upgraded {
            return Err("no STARTTLS answered OK".into());
        }
    } else if let Some(l) = logins.iter().find(|l| l.tls) {
        return Err(format!("TLS in the plain test: {}", l.text));
    }
    let logged_sessions: Vec<&String> = logins.iter().map(|l| &l.session).collect();
    let in_session = |l: &TraceLine| logged_sessions.contains(&&l.session);
    if !done
        .iter()
        .any(|(l, name, _)| in_session(l) && (name == "LIST" || name == "LSUB"))
    {
        return Err("no LIST answered OK".into());
    }
    if !done.iter().any(|(l, name, args)| {
        in_session(l)
            && (name == "SELECT" || name == "EXAMINE")
            && args.trim_matches('"').eq_ignore_ascii_case("INBOX")
    }) {
        return Err("no SELECT/EXAMINE INBOX answered OK".into());
    }
    let body_fetch = |args: &str| {
        let a = args.to_ascii_uppercase();
        a.contains("BODY.PEEK[]") || a.contains("BODY[]") || a.contains("RFC822)")
    };
    if !done.iter().any(|(l, name, args)| {
        in_session(l) && (name == "FETCH" || name == "UID FETCH") && body_fetch(args)
    }) {
        return Err("no FETCH of a whole message body answered OK".into());
    }
    Ok(())
}

/// Whether some session has INBOX selected and is in IDLE (RFC 2177: the server answered the
/// IDLE with a continuation and the client has not sent DONE), i.e. Thunderbird has settled and
/// new mail is pushed to it as `* n EXISTS`.
fn idle_on_inbox(log: &str) -> bool {
    // session → (selected mailbox, IDLE sent, idling)
    let mut state: std::collections::HashMap<String, (String, bool, bool)> = Default::default();
    for line in parse_trace(log) {
        let s = state.entry(line.session).or_default();
        if line.client {
            let mut words = line.text.splitn(3, ' ');
            let _tag = words.next();
            let name = words.next().unwrap_or("").to_ascii_uppercase();
            if line.text == "DONE" {
                (s.1, s.2) = (false, false);
            } else if name == "SELECT" || name == "EXAMINE" {
                s.0 = words
                    .next()
                    .unwrap_or("")
                    .trim_matches('"')
                    .to_ascii_uppercase();
                (s.1, s.2) = (false, false);
            } else if name == "IDLE" {
                (s.1, s.2) = (true, false);
            }
        } else if s.1 && line.text.starts_with('+') {
            s.2 = true;
        }
    }
    state
        .values()
        .any(|(mailbox, _, idling)| mailbox == "INBOX" && *idling)
}

fn run(starttls: bool) {
    if let Some(why) = prerequisites() {
        eprintln!("SKIPPED: {why}");
        return;
    }
    let started = Instant::now();
    let mode = if starttls { "starttls" } else { "plain" };
    // Successful logins are logged at DEBUG (docs/spec.md §7.4); check_trace needs them. Set
    // for the server process only.
    let server = Mailstack::builder()
        .args(&["--trace-protocol"])
        .env("RUST_LOG", "info,mailstack::auth=debug")
        .start();
    let first = format!("tb-{mode}-first-{}", std::process::id());
    let second = format!("tb-{mode}-second-{}", std::process::id());
    let first_body = format!("body line of {first}");
    let second_body = format!("body line of {second}");
    deliver(server.port("smtp"), ALICE.0, &first, &first_body);

    let work = tempfile::tempdir().expect("tempdir");
    let profile = work.path().join("profile");
    let home = work.path().join("home");
    std::fs::create_dir_all(home.join("tmp")).expect("home");
    let password_file = work.path().join("password");
    std::fs::write(&password_file, ALICE.1).expect("password file");
    let mut cmd = Command::new("python3");
    cmd.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/thunderbird/profile.py"
    ))
    .arg("--profile")
    .arg(&profile)
    .arg("--port")
    .arg(server.port("imap").to_string())
    .arg("--user")
    .arg(ALICE.0)
    .arg("--password-file")
    .arg(&password_file);
    if starttls {
        cmd.arg("--starttls").arg("--ca").arg(server.ca());
    }
    let out = cmd.output().expect("run tests/thunderbird/profile.py");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("profile: ok"),
        "profile helper failed: {text}"
    );
    std::fs::remove_file(&password_file).expect("remove password file");

    let tb = Thunderbird::start(&profile, &home);
    let inbox = profile.join("ImapMail/127.0.0.1/INBOX");
    let failure = |what: &str| -> String {
        let listing = Command::new("find")
            .arg(&profile)
            .arg("-path")
            .arg("*ImapMail*")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let log = server.stderr();
        let tail: Vec<&str> = log.lines().rev().take(150).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "{what} ({mode}, {:.0} s)\n----- ImapMail -----\n{listing}\n----- INBOX store -----\n{}\n\
             ----- thunderbird -----\n{}\n----- mailstack log (tail) -----\n{}",
            started.elapsed().as_secs_f64(),
            std::fs::read_to_string(&inbox).unwrap_or_else(|e| e.to_string()),
            tb.log(),
            tail.join("\n")
        )
    };

    assert!(
        wait_for_store(&inbox, &[&first, &first_body], FIRST_SYNC),
        "{}",
        failure("the delivered message did not reach Thunderbird's INBOX store")
    );
    let synced = started.elapsed();
    if let Err(e) = check_trace(&server.stderr(), starttls) {
        panic!("{}", failure(&e));
    }
    // RFC 4978: Thunderbird turns on COMPRESS=DEFLATE when offered, and the sync above ran
    // over it.
    assert!(
        server.stderr().contains("COMPRESS=DEFLATE active"),
        "{}",
        failure("Thunderbird did not use COMPRESS=DEFLATE")
    );

    // Deliver the second message once Thunderbird idles on INBOX (its startup goes on to the
    // other folders for a few seconds); if it never does, deliver anyway: its one-minute
    // new-mail check must find the message then.
    let idling = try_eventually_blocking(SETTLE, || {
        idle_on_inbox(&server.stderr())
            .then_some(())
            .ok_or("not idling on INBOX")
    })
    .is_ok();
    deliver(server.port("smtp"), ALICE.0, &second, &second_body);
    let delivered = Instant::now();
    assert!(
        wait_for_store(&inbox, &[&second, &second_body], NEW_MAIL),
        "{}",
        failure("a message delivered while Thunderbird runs did not reach its INBOX store")
    );
    eprintln!(
        "thunderbird {mode}: INBOX synced {:.1} s after start, new mail in the store {:.1} s \
         after delivery ({})",
        synced.as_secs_f64(),
        delivered.elapsed().as_secs_f64(),
        if idling {
            "delivered during IDLE on INBOX"
        } else {
            "no IDLE on INBOX seen: delivered anyway"
        }
    );
    drop(tb);
}

#[test]
fn thunderbird_plain_imap_logs_in_lists_and_syncs_inbox() {
    run(false);
}

#[test]
fn thunderbird_starttls_imap_logs_in_lists_and_syncs_inbox() {
    run(true);
}

/// The trace checks are not vacuous: a session that logs in without STARTTLS, or never
/// fetches a body, is refused.
#[test]
fn trace_checks_refuse_incomplete_sessions() {
    let line = |id: u32, dir: &str, text: &str, tls: bool| {
        format!(
            "2026-11-23T01:19:06.9Z  INFO session{{id={id} peer=127.0.0.1:5 service=\"imap\"}}: \
             mailstack::protocol: {dir}: {text} tls={tls}\n"
        )
    };
    let mut log = String::new();
    log += &line(1, "C", "1 STARTTLS", false);
    log += &line(1, "S", "1 OK Begin TLS negotiation now", false);
    log += &line(1, "C", "2 authenticate PLAIN", true);
    log += &format!(
        "2026-11-23T01:19:06.9Z DEBUG session{{id=1 peer=127.0.0.1:5 service=\"imap\"}}: \
         mailstack::auth: login succeeded address=\"{}\" ip=127.0.0.1 protocol=\"imap\" \
         mechanism=\"PLAIN\"\n",
        ALICE.0
    );
    log += &line(1, "S", "2 OK [CAPABILITY IMAP4rev1] Logged in", true);
    log += &line(1, "C", "3 list \"\" \"*\"", true);
    log += &line(1, "S", "3 OK LIST completed", true);
    log += &line(1, "C", "4 select \"INBOX\"", true);
    log += &line(1, "S", "4 OK [READ-WRITE] SELECT completed", true);
    let without_fetch = log.clone();
    log += &line(1, "C", "5 UID fetch 1 (UID RFC822.SIZE BODY.PEEK[])", true);
    log += &line(1, "S", "5 OK FETCH completed", true);
    assert_eq!(check_trace(&log, true), Ok(()));
    assert!(
        check_trace(&log, false).is_err(),
        "TLS login in the plain test"
    );
    assert!(check_trace(&without_fetch, true).is_err());
    let failed_select = log.replace("4 OK [READ-WRITE]", "4 NO [NONEXISTENT]");
    assert!(check_trace(&failed_select, true).is_err());
    let other_account = log.replace(ALICE.0, "bob@example.test");
    assert!(check_trace(&other_account, true).is_err());
    assert!(!idle_on_inbox(&log));
    let mut idle = log.clone();
    idle += &line(1, "C", "6 IDLE", true);
    idle += &line(1, "S", "+ idling", true);
    assert!(idle_on_inbox(&idle));
    assert!(!idle_on_inbox(
        &(idle.clone() + &line(1, "C", "DONE", true))
    ));
    let elsewhere = idle.replace("4 select \"INBOX\"", "4 select \"Sent\"");
    assert!(!idle_on_inbox(&elsewhere));
}
