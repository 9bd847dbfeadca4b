//! Fuzz harnesses for mailstack, shared by the cargo-fuzz targets in `fuzz_targets/` and by the
//! corpus replay test (`tests/replay.rs`, plain `cargo test`, no libFuzzer needed).
//!
//! # Layout
//! - Codec targets: `pop3_command`, `smtp_command`, `imap_command` (one command through the
//!   crate's parser), `sasl` (the shared SASL decoder), `mime` (the delivery-time MIME parse
//!   plus IMAP's ENVELOPE/BODYSTRUCTURE builder), `sieve_parse` (a Sieve script parsed and,
//!   when valid, run on a message; vacation replies built).
//! - Session targets: `pop3_session`, `smtp_session`, `imap_session` feed the input to a real
//!   session over an in-memory stream, on a store with two accounts and a few messages. The
//!   first byte of the input picks a variant (login prefix, SMTP role) so the fuzzer reaches
//!   the states behind authentication without guessing passwords.
//!
//! # Invariants
//! - Sessions run on a paused-clock tokio runtime: throttling delays and idle timeouts cost no
//!   wall time, and every session ends (client EOF, or the idle timeout auto-advances).
//! - Each session gets a fresh loopback peer address, so failed-login throttling from earlier
//!   runs never hides the post-login code from the fuzzer.
//! - A harness only panics on a real bug: a parser panic, an offset outside the message, a
//!   serialization round trip that changes the structure.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use auth::sasl::{Exchange, Mechanism, Step};
use auth::{Auth, AuthConfig, Secret};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const USER: &str = "alice@example.test";
pub const PASS: &str = "fuzzing-password-1";

struct Env {
    rt: tokio::runtime::Runtime,
    auth: Auth,
    _dir: tempfile::TempDir,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let auth = rt.block_on(async {
            let store = store::Store::open(dir.path().join("db")).expect("store");
            store
                .set_domains(&["example.test".to_string()])
                .await
                .expect("domains");
            let auth = Auth::new(store, AuthConfig::for_tests()).expect("auth");
            for user in [USER, "bob@example.test"] {
                auth.add_user(user, &Secret::new(PASS.to_string()), None)
                    .await
                    .expect("user");
            }
            auth
        });
        Env {
            rt,
            auth,
            _dir: dir,
        }
    })
}

/// Keeps a few messages in alice's INBOX (sessions delete and expunge them), and empties any
/// mailbox that grew past 20 messages: the store outlives each run, and `COPY 1:* INBOX`
/// repeated over thousands of runs would otherwise double it every time (a harness artifact,
/// not a server bug: a user filling their own mailbox is what quotas are for).
async fn refill(auth: &Auth) {
    let store = auth.store();
    let Ok(Some(account)) = store.account(USER) else {
        return;
    };
    for mb in store.mailboxes(account.id).unwrap_or_default() {
        if mb.exists > 20 {
            let uids: Vec<store::Uid> = store
                .messages(mb.id)
                .unwrap_or_default()
                .iter()
                .map(|m| m.uid)
                .collect();
            let _ = store.expunge(account.id, mb.id, &uids).await;
        }
    }
    let Ok(Some(inbox)) = store.mailbox(account.id, "INBOX") else {
        return;
    };
    let have = store.messages(inbox.id).map(|m| m.len()).unwrap_or(0);
    for i in have..3 {
        let body = format!(
            "From: Bob <bob@example.test>\r\nTo: alice@example.test\r\nSubject: m{i}\r\n\
             Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
             hello {i}\r\n.dot line\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nbody\r\n--b--\r\n"
        );
        let req = store::AppendRequest {
            bytes: body.as_bytes(),
            ..Default::default()
        };
        let _ = store.append(account.id, inbox.id, req).await;
    }
}

/// A loopback address not used by an earlier session (127.0.0.0/8 has 2^24 of them).
fn next_peer() -> SocketAddr {
    static N: AtomicU32 = AtomicU32::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff;
    SocketAddr::new(IpAddr::from((0x7f00_0000 | n).to_be_bytes()), 40000)
}

/// Runs `serve` on the server end of an in-memory stream while `input` is written to the
/// client end (then EOF), draining everything the server says.
fn session<F, Fut>(input: &[u8], serve: F)
where
    F: FnOnce(net::Connection, Auth) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let env = env();
    env.rt.block_on(async {
        refill(&env.auth).await;
        let (client, server) = tokio::io::duplex(1 << 16);
        let local = SocketAddr::from(([127, 0, 0, 1], 143));
        let conn = net::Connection::new(server, next_peer(), local, false);
        let task = tokio::spawn(serve(conn, env.auth.clone()));
        let (mut rd, mut wr) = tokio::io::split(client);
        let input = input.to_vec();
        let writer = async move {
            let _ = wr.write_all(&input).await;
            let _ = wr.shutdown().await;
        };
        let reader = async move {
            let mut sink = [0u8; 8192];
            while let Ok(n) = rd.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        };
        tokio::join!(writer, reader);
        if let Err(e) = task.await {
            if e.is_panic() {
                std::panic::resume_unwind(e.into_panic());
            }
        }
    });
}

/// The login prefix chosen by the input's first byte, and the rest of the input.
fn split_prefix<'a>(data: &'a [u8], prefixes: &[String]) -> (Vec<u8>, &'a [u8]) {
    match data.split_first() {
        Some((&b, rest)) => {
            let p = prefixes[b as usize % prefixes.len()].as_bytes().to_vec();
            (p, rest)
        }
        None => (Vec::new(), data),
    }
}

// --- POP3 ---

pub fn pop3_command(data: &[u8]) {
    let _ = pop3d::command::parse(data);
}

pub fn pop3_session(data: &[u8]) {
    let prefixes = [
        String::new(),
        format!("USER {USER}\r\nPASS {PASS}\r\n"),
        format!(
            "AUTH PLAIN {}\r\n",
            auth::sasl::encode_base64(format!("\0{USER}\0{PASS}").as_bytes())
        ),
    ];
    let (mut input, rest) = split_prefix(data, &prefixes);
    input.extend_from_slice(rest);
    session(&input, |conn, auth| async move {
        let ctx = pop3d::Ctx::new(auth, "fuzz");
        let s = net::Session {
            conn,
            id: 1,
            shutdown: net::Shutdown::never(),
        };
        let shared = pop3d::session::Shared::new(ctx, pop3d::Limits::default());
        pop3d::session::run(Arc::new(shared), s).await
    });
}

// --- SMTP ---

pub fn smtp_command(data: &[u8]) {
    let _ = submission::fuzz_parse(data);
}

pub fn smtp_session(data: &[u8]) {
    let auth_line = format!(
        "EHLO fuzz\r\nAUTH PLAIN {}\r\n",
        auth::sasl::encode_base64(format!("\0{USER}\0{PASS}").as_bytes())
    );
    let (role, prefix) = match data.first().map(|b| b % 4) {
        Some(0) => (submission::Role::Inbound, String::new()),
        Some(1) => (
            submission::Role::Inbound,
            format!("EHLO fuzz\r\nMAIL FROM:<x@remote.test>\r\nRCPT TO:<{USER}>\r\n"),
        ),
        Some(2) => (submission::Role::Submission, auth_line),
        _ => (submission::Role::Submission, String::new()),
    };
    let mut input = prefix.into_bytes();
    input.extend_from_slice(data.get(1..).unwrap_or_default());
    session(&input, move |conn, auth| async move {
        let mut ctx = submission::Ctx::new(auth, "fuzz");
        ctx.max_message_size = 1 << 20;
        ctx.outbound = submission::Outbound::Capture(USER.into());
        submission::fuzz_session(conn, ctx, role, submission::Options::default()).await
    });
}

// --- IMAP ---

/// imap-codec plus our extension grammar (LIST-EXTENDED, CREATE USE, SEARCH RETURN) and the
/// conversion into `imapd::command::Command`.
pub fn imap_command(data: &[u8]) {
    if let Ok((cmd, used)) = imapd::command::parse(data) {
        assert!(used <= data.len(), "parser consumed past its input");
        // What follows a command cannot change it (pipelining).
        let again = imapd::command::parse(&data[..used]);
        assert_eq!(
            again,
            Ok((cmd, used)),
            "command depends on the bytes after it"
        );
    }
    let _ = imapd::command::literal_suffix(data);
}

pub fn imap_session(data: &[u8]) {
    let prefixes = [
        String::new(),
        format!("a LOGIN {USER} {PASS}\r\n"),
        format!("a LOGIN {USER} {PASS}\r\nb SELECT INBOX\r\n"),
        format!(
            "a AUTHENTICATE PLAIN {}\r\nb EXAMINE INBOX\r\n",
            auth::sasl::encode_base64(format!("\0{USER}\0{PASS}").as_bytes())
        ),
    ];
    let (mut input, rest) = split_prefix(data, &prefixes);
    input.extend_from_slice(rest);
    session(&input, |conn, auth| async move {
        let mut ctx = imapd::Ctx::new(auth, "fuzz");
        ctx.max_literal = 1 << 20;
        imapd::session::Session::new(
            conn,
            ctx,
            1,
            net::Shutdown::never(),
            imapd::Limits::default(),
        )
        .run()
        .await
    });
}

// --- SASL ---

pub fn sasl(data: &[u8]) {
    let _ = auth::sasl::decode_base64(data);
    let _ = auth::sasl::decode_plain(data);
    // An exchange driven by the input: first byte picks the mechanism, then CRLF-separated
    // responses (the first one as the initial response when the second byte is odd).
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let mech = if sel & 1 == 0 {
        Mechanism::Plain
    } else {
        Mechanism::Login
    };
    let mut lines = rest.split(|&b| b == b'\n');
    let initial = if sel & 2 != 0 { lines.next() } else { None };
    let (mut ex, mut step) = Exchange::start(mech, initial);
    for _ in 0..8 {
        match step {
            Step::Challenge(_) => match lines.next() {
                Some(l) => step = ex.respond(net::trim_eol(l)),
                None => return,
            },
            Step::Done(creds) => {
                assert!(!creds.username.is_empty(), "empty user name accepted");
                return;
            }
            Step::Failed(_) => return,
        }
    }
}

// --- MIME ---

fn check_part(p: &store::mime::Part, len: u32, depth: usize) {
    assert!(
        p.header_start <= p.body_start && p.body_start <= p.body_end && p.body_end <= len,
        "part offsets outside the message: {} {} {} (len {len})",
        p.header_start,
        p.body_start,
        p.body_end
    );
    assert!(depth < 10_000, "part tree deeper than 10000");
    match &p.kind {
        store::mime::PartKind::Leaf => {}
        store::mime::PartKind::Multipart(parts) => {
            for c in parts {
                check_part(c, len, depth + 1);
            }
        }
        store::mime::PartKind::Message(_, inner) => check_part(inner, len, depth + 1),
    }
}

pub fn mime(data: &[u8]) {
    let parsed = store::mime::parse(data);
    assert!(parsed.header_len as usize <= data.len());
    check_part(&parsed.root, data.len() as u32, 0);
    // The structure is cached with postcard: it must come back unchanged.
    let bytes = postcard::to_stdvec(&parsed).expect("serialize");
    let back: store::mime::ParsedMessage = postcard::from_bytes(&bytes).expect("deserialize");
    assert_eq!(back, parsed, "postcard round trip changed the structure");
    // IMAP's FETCH ENVELOPE / BODYSTRUCTURE builders on it.
    let mut out = Vec::new();
    imapd::bodystructure::envelope(&mut out, &parsed.envelope);
    imapd::bodystructure::body(&mut out, &parsed.root, true);
    imapd::bodystructure::body(&mut out, &parsed.root, false);
    for name in ["from", "subject", "content-type"] {
        let _ = store::mime::raw_header(data, 0, parsed.header_len as usize, name);
    }
}

// --- Sieve ---

/// The message a parsed script runs on when the input carries none.
const SIEVE_MSG: &[u8] = b"From: Bob <bob@example.test>\r\nTo: alice@example.test\r\n\
Subject: =?UTF-8?Q?caf=C3=A9?=\r\nDate: Tue, 01 Dec 2026 10:00:00 +0100\r\n\
Message-ID: <m1@example.test>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\n\
Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nbody\r\n--b--\r\n";

/// `sieve::parse` on the input up to its first NUL (lossy UTF-8). A script that parses runs
/// on the bytes after the NUL as the message (or on a fixed message), and each vacation
/// action goes through `reply_to` and `build_reply`.
pub fn sieve_parse(data: &[u8]) {
    let (script, msg) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, SIEVE_MSG),
    };
    let Ok(script) = sieve::parse(&String::from_utf8_lossy(script)) else {
        return;
    };
    let exists = |name: &str| name.len() % 2 == 0;
    let ctx = sieve::Context {
        now_unix: 1_797_336_000,
        zone_minutes: 60,
        mailbox_exists: &exists,
        max_actions: 8,
    };
    let env = sieve::Envelope {
        from: "bob@example.test",
        to: USER,
    };
    let out = sieve::execute(&script, &env, msg, &ctx);
    assert!(!out.actions.is_empty(), "an outcome without actions");
    if out.error.is_some() {
        assert_eq!(
            out.actions,
            [sieve::Action::Keep { flags: Vec::new() }],
            "a runtime error must keep"
        );
    }
    for a in &out.actions {
        if let sieve::Action::Vacation(v) = a {
            let _ = sieve::vacation::reply_to(v, &env, msg, &[USER]);
            let reply = sieve::vacation::build_reply(v, USER, "bob@example.test", msg, 0, "id@x");
            let bare = reply.iter().enumerate().any(|(i, &b)| match b {
                b'\n' => i == 0 || reply[i - 1] != b'\r',
                b'\r' => reply.get(i + 1) != Some(&b'\n'),
                _ => false,
            });
            assert!(!bare, "bare CR or LF in a vacation reply");
        }
    }
}
