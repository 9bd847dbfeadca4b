//! The POP3-vs-IMAP scenario (docs/spec.md §1 "teacher / learner", §2 facts): Bob submits a
//! message, Alice's laptop (IMAP IDLE) and phone (IMAP) see it and its \Seen flag, a POP3
//! client leaves a copy, another POP3 client deletes it and the IMAP sessions get EXPUNGE.
//! `all` adds the mailbox-full case (`quota.rs`).

use anyhow::bail;
use auth::sasl::encode_base64;

use super::client::Client;
use super::transcript::Transcript;
use super::{Env, ALICE, BOB};
use crate::cli::DemoScenario;

/// Bob's message, as his mail program hands it over in DATA.
fn bobs_message() -> Vec<String> {
    [
        "From: Bob <bob@example.test>",
        "To: Alice <alice@example.test>",
        "Subject: Lunch on Friday?",
        "",
        "Hi Alice, lunch on Friday at noon? Bob",
    ]
    .map(String::from)
    .to_vec()
}

/// Plays the scenario against the demo's server; every line ends up in the returned
/// transcript.
pub(crate) async fn play(env: &Env, scenario: DemoScenario) -> anyhow::Result<Transcript> {
    let mut t = Transcript {
        title: "mailstack demo: POP3 or IMAP?".into(),
        intro: format!(
            "Alice ({ALICE}) and Bob ({BOB}) have mailboxes on {host}. Everything below really \
             happened: a mailstack server was started just for this demo on free local ports, \
             and each mail program is a real network session. `C:` lines are what a mail \
             program sent, `S:` lines what the server answered, `--` lines are remarks. \
             Passwords are shown as `<redacted>`; long messages are cut after their first line. \
             (mailstack accepts passwords without TLS from the same machine, 127.0.0.1, to make \
             local tests easy; this demo turns that off, so you see what a mail program on \
             another computer sees.)",
            host = super::HOSTNAME
        ),
        ..Transcript::default()
    };
    let t = &mut t;

    // Step 1: the laptop goes IDLE on INBOX.
    t.step(
        "Alice's laptop opens her INBOX and waits (IMAP IDLE)",
        "Alice's laptop mail program connects to IMAP (port 143). The greeting says \
         `LOGINDISABLED` and offers no `AUTH=` mechanism: the server takes no password before \
         TLS. So the laptop switches to TLS with STARTTLS, logs in with her full address, opens \
         INBOX and sends IDLE: the connection stays open so the server can tell the laptop about \
         new mail the moment it arrives.",
    );
    let mut laptop = Client::connect(
        t,
        "laptop",
        "Alice's laptop (IMAP)",
        "imap",
        env.addr("imap")?,
        false,
        &env.tls,
    )
    .await?;
    laptop.imap_response(t).await?;
    laptop.imap_ok(t, "a1", "STARTTLS").await?;
    laptop.start_tls(t, "STARTTLS").await?;
    imap_login(&mut laptop, t, "a2", &env.alice_pw).await?;
    laptop.imap_ok(t, "a3", "SELECT INBOX").await?;
    laptop.send(t, "a4 IDLE").await?;
    expect_continuation(&mut laptop, t).await?;
    t.outcome("INBOX is empty (`* 0 EXISTS`) and the laptop is now listening.");

    // Step 2: submission without AUTH is refused.
    t.step(
        "Bob tries to send without logging in",
        "Bob's mail program connects to the submission port (587). Before TLS the EHLO answer \
         offers `STARTTLS` but no `AUTH`: passwords are taken only over TLS. Bob's program starts \
         a message without authenticating, and the server refuses with 530: outgoing mail always \
         needs SMTP authentication, and \"POP-before-SMTP\" (having fetched mail a moment ago) \
         is not supported.",
    );
    let mut bob = Client::connect(
        t,
        "bob",
        "Bob's mail program (SMTP)",
        "submission",
        env.addr("submission")?,
        false,
        &env.tls,
    )
    .await?;
    bob.smtp_expect(t, "220").await?;
    bob.send(t, "EHLO bobs-pc.example.test").await?;
    bob.smtp_expect(t, "250").await?;
    bob.send(t, "MAIL FROM:<bob@example.test>").await?;
    bob.smtp_expect(t, "530").await?;
    t.outcome("Nothing was sent: the server insists on a login first.");

    // Step 3: STARTTLS + AUTH PLAIN + the message.
    t.step(
        "Bob switches to TLS, logs in and sends the message",
        "In the same session Bob's program upgrades to TLS with STARTTLS. Now the EHLO answer \
         offers `AUTH PLAIN LOGIN`; the program authenticates with AUTH PLAIN (user name = full \
         address, same password as for IMAP and POP3) and hands over the message for Alice.",
    );
    bob.send(t, "STARTTLS").await?;
    bob.smtp_expect(t, "220").await?;
    bob.start_tls(t, "STARTTLS").await?;
    bob.send(t, "EHLO bobs-pc.example.test").await?;
    bob.smtp_expect(t, "250").await?;
    let plain = encode_base64(format!("\0{BOB}\0{}", env.bob_pw.expose()).as_bytes());
    bob.send_secret(t, "AUTH PLAIN <redacted>", &format!("AUTH PLAIN {plain}"))
        .await?;
    bob.smtp_expect(t, "235").await?;
    bob.send(t, "MAIL FROM:<bob@example.test>").await?;
    bob.smtp_expect(t, "250").await?;
    bob.send(t, "RCPT TO:<alice@example.test>").await?;
    bob.smtp_expect(t, "250").await?;
    bob.send(t, "DATA").await?;
    bob.smtp_expect(t, "354").await?;
    bob.send_block(t, &bobs_message()).await?;
    bob.send(t, ".").await?;
    bob.smtp_expect(t, "250").await?;
    bob.send(t, "QUIT").await?;
    bob.smtp_expect(t, "221").await?;
    t.outcome("The server said 250 only after the message was safely on disk in Alice's INBOX.");

    // Step 4: the laptop is told at once, reads the message → \Seen.
    t.step(
        "Alice's laptop sees the new message at once and reads it",
        "Because the laptop was IDLE, the server pushes `* 1 EXISTS` as soon as the message is \
         stored. The laptop ends IDLE with DONE, fetches only the sender and subject for its \
         message list (`BODY.PEEK` does not mark anything read: no `\\Seen` in its flags), then \
         opens the message with `BODY[]`, which sets the `\\Seen` flag on the server; the answer \
         shows the flags as they are now.",
    );
    laptop
        .imap_until(t, |r| r.starts_with("* ") && r.ends_with(" EXISTS"))
        .await?;
    laptop.send(t, "DONE").await?;
    laptop.imap_tagged(t, "a4").await?;
    laptop
        .imap_ok(
            t,
            "a5",
            "FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)])",
        )
        .await?;
    laptop.imap_ok(t, "a6", "FETCH 1 (FLAGS BODY[])").await?;
    laptop.send(t, "a7 IDLE").await?;
    expect_continuation(&mut laptop, t).await?;
    t.outcome(
        "The read/unread state is stored on the server, not in the laptop; the laptop goes \
         back to IDLE.",
    );

    // Step 5: the phone sees the same state.
    t.step(
        "Alice's phone sees the same message, already read",
        "A second IMAP session, Alice's phone, connects to port 993 (TLS from the first byte), \
         logs in and opens INBOX: it finds the same message, already marked `\\Seen`. With IMAP, \
         messages and their flags live on the server and every device shows the same state.",
    );
    let mut phone = Client::connect(
        t,
        "phone",
        "Alice's phone (IMAP)",
        "imaps",
        env.addr("imaps")?,
        true,
        &env.tls,
    )
    .await?;
    phone.imap_response(t).await?;
    imap_login(&mut phone, t, "p1", &env.alice_pw).await?;
    phone.imap_ok(t, "p2", "SELECT INBOX").await?;
    phone.imap_ok(t, "p3", "FETCH 1 (FLAGS)").await?;
    t.outcome("No `UNSEEN` in the SELECT answer, and `FLAGS (\\Seen)`: read on the laptop means read everywhere.");

    // Step 6: POP3, leave a copy on the server.
    t.step(
        "A POP3 program downloads the message and leaves a copy",
        "Alice's desktop mail program uses POP3 (port 110, upgraded with STLS) with \"leave a \
         copy of messages on the server\": it lists the unique ids (to remember what it already \
         has), downloads the message with RETR and quits without DELE, so nothing changes on \
         the server.",
    );
    let mut desktop = Client::connect(
        t,
        "desktop",
        "Alice's desktop (POP3, leave a copy)",
        "pop3",
        env.addr("pop3")?,
        false,
        &env.tls,
    )
    .await?;
    desktop.pop_ok(t).await?;
    desktop.send(t, "STLS").await?;
    desktop.pop_ok(t).await?;
    desktop.start_tls(t, "STLS (STARTTLS)").await?;
    pop_login(&mut desktop, t, &env.alice_pw).await?;
    desktop.send(t, "STAT").await?;
    desktop.pop_ok(t).await?;
    desktop.send(t, "UIDL").await?;
    desktop.pop_ok(t).await?;
    desktop.pop_multiline(t).await?;
    desktop.send(t, "RETR 1").await?;
    desktop.pop_ok(t).await?;
    desktop.pop_multiline(t).await?;
    desktop.send(t, "QUIT").await?;
    desktop.pop_ok(t).await?;
    phone.imap_ok(t, "p4", "FETCH 1:* (UID FLAGS)").await?;
    t.outcome(
        "The desktop now has a copy and the phone still sees the message: POP3 without DELE \
         only copies. (The mailbox on the server keeps growing until something deletes mail.)",
    );

    // Step 7: POP3 with delete; the IMAP sessions see EXPUNGE.
    t.step(
        "Another POP3 program downloads and deletes: gone everywhere",
        "An old PC uses POP3 on port 995 (TLS from the first byte) with the classic setting \
         \"remove from server after download\": RETR, DELE, and QUIT, which commits the \
         deletion. The IDLE-ing laptop is told `* 1 EXPUNGE` immediately; the phone, which is \
         not IDLE, learns it with its next command.",
    );
    let mut oldpc = Client::connect(
        t,
        "oldpc",
        "an old PC (POP3, delete after download)",
        "pop3s",
        env.addr("pop3s")?,
        true,
        &env.tls,
    )
    .await?;
    oldpc.pop_ok(t).await?;
    pop_login(&mut oldpc, t, &env.alice_pw).await?;
    oldpc.send(t, "LIST").await?;
    oldpc.pop_ok(t).await?;
    oldpc.pop_multiline(t).await?;
    oldpc.send(t, "RETR 1").await?;
    oldpc.pop_ok(t).await?;
    oldpc.pop_multiline(t).await?;
    oldpc.send(t, "DELE 1").await?;
    oldpc.pop_ok(t).await?;
    oldpc.send(t, "QUIT").await?;
    oldpc.pop_ok(t).await?;
    laptop
        .imap_until(t, |r| r.starts_with("* ") && r.ends_with(" EXPUNGE"))
        .await?;
    laptop.send(t, "DONE").await?;
    laptop.imap_tagged(t, "a7").await?;
    phone.imap_ok(t, "p5", "NOOP").await?;
    t.outcome(
        "The message is gone from the server, so it vanished from the laptop and the phone \
         too. That is why hosting guides say not to use POP3-with-delete and IMAP on the same \
         mailbox.",
    );

    if scenario == DemoScenario::All {
        super::quota::mailbox_full(env, t, &mut laptop).await?;
    }

    t.step(
        "The IMAP sessions log out",
        "IMAP sessions end with LOGOUT (POP3 and SMTP sessions ended with QUIT above).",
    );
    let tag = if scenario == DemoScenario::All {
        "a10"
    } else {
        "a8"
    };
    laptop.imap_ok(t, tag, "LOGOUT").await?;
    phone.imap_ok(t, "p6", "LOGOUT").await?;

    t.ports_note = format!(
        "A hosting guide prints the same settings: server {host}; user name = the full \
         address; one password for IMAP, POP3 and SMTP. IMAP: 993 with SSL/TLS or 143 with \
         STARTTLS. POP3: 995 with SSL/TLS or 110 with STARTTLS. Outgoing SMTP: 465 with SSL/TLS \
         or 587 with STARTTLS, always with authentication. Port 25 is for servers delivering \
         to servers. This demo listened on free local ports (last column) so it needs no root \
         and never collides with a real server.",
        host = super::HOSTNAME
    );
    t.conclusion = "POP3 downloads mail: the server is a drop box, and whatever one POP3 \
         program deletes is gone for every other program. IMAP keeps messages, folders and \
         read/unread state on the server and pushes changes to every connected device. Read \
         mail on more than one device? Use IMAP. Use POP3 only with a single program, and \
         never POP3-with-delete beside IMAP."
        .into();
    Ok(std::mem::take(t))
}

/// IMAP LOGIN with the password shown as `<redacted>`.
async fn imap_login(
    c: &mut Client,
    t: &mut Transcript,
    tag: &str,
    password: &auth::Secret<String>,
) -> anyhow::Result<()> {
    c.send_secret(
        t,
        &format!("{tag} LOGIN {ALICE} <redacted>"),
        &format!("{tag} LOGIN {ALICE} {}", password.expose()),
    )
    .await?;
    let r = c.imap_tagged(t, tag).await?;
    if !r.starts_with(&format!("{tag} OK")) {
        bail!("login refused: {r}");
    }
    Ok(())
}

/// POP3 USER/PASS (RFC 1939 §7) with the password shown as `<redacted>`.
async fn pop_login(
    c: &mut Client,
    t: &mut Transcript,
    password: &auth::Secret<String>,
) -> anyhow::Result<()> {
    c.send(t, &format!("USER {ALICE}")).await?;
    c.pop_ok(t).await?;
    c.send_secret(t, "PASS <redacted>", &format!("PASS {}", password.expose()))
        .await?;
    c.pop_ok(t).await?;
    Ok(())
}

/// The `+` continuation after IDLE or a synchronizing literal.
pub(crate) async fn expect_continuation(c: &mut Client, t: &mut Transcript) -> anyhow::Result<()> {
    let r = c.line(t).await?;
    if !r.starts_with('+') {
        bail!("expected a continuation, got {r:?}");
    }
    Ok(())
}
