//! What an operator reads in the log (docs/spec.md §7.4): a failed login in any protocol is
//! one INFO line with the address, the client's IP, the protocol and the mechanism, and
//! never the password; a successful one is not logged at the default level; a client's TLS
//! mistake (an IP address sent as SNI) is not a WARN.

use std::io::{Read, Write};
use std::time::Duration;

use testkit::{eventually_blocking, Line, Mailstack, ALICE};

const WRONG: &str = "not-alices-password-7731";

/// Waits until the server logged `count` lines containing `needle`; returns the log.
fn wait_for_lines(server: &Mailstack, needle: &str, count: usize) -> String {
    eventually_blocking(Duration::from_secs(60), || {
        let log = server.stderr();
        let n = log.lines().filter(|l| l.contains(needle)).count();
        if n >= count {
            Ok(log)
        } else {
            Err(format!("{n} of {count} lines with {needle:?}:\n{log}"))
        }
    })
}

#[tokio::test]
async fn failed_logins_are_logged_with_address_ip_protocol_and_mechanism() {
    let server = Mailstack::start();
    let b64 = |s: &str| auth::sasl::encode_base64(s.as_bytes());

    // IMAP LOGIN from 127.0.0.2 (loopback: plaintext allowed).
    let mut imap = Line::connect_from([127, 0, 0, 2].into(), server.port("imap")).await;
    imap.line().await;
    let (_, tagged) = imap.imap(&format!("LOGIN {} {WRONG}", ALICE.0)).await;
    assert!(tagged.contains("NO"), "{tagged}");
    // IMAP AUTHENTICATE PLAIN with an unknown user.
    let ir = b64(&format!("\0ghost@example.test\0{WRONG}"));
    let (_, tagged) = imap.imap(&format!("AUTHENTICATE PLAIN {ir}")).await;
    assert!(tagged.contains("NO"), "{tagged}");
    // And a good login, which is not logged at INFO.
    let (_, tagged) = imap.imap(&format!("LOGIN {} {}", ALICE.0, ALICE.1)).await;
    assert!(tagged.contains("OK"), "{tagged}");

    // POP3 USER/PASS from 127.0.0.3.
    let mut pop = Line::connect_from([127, 0, 0, 3].into(), server.port("pop3")).await;
    pop.line().await;
    assert!(pop
        .pop3(&format!("USER {}", ALICE.0))
        .await
        .starts_with("+OK"));
    assert!(pop.pop3(&format!("PASS {WRONG}")).await.starts_with("-ERR"));

    // SMTP AUTH LOGIN on submission from 127.0.0.4.
    let mut smtp = Line::connect_from([127, 0, 0, 4].into(), server.port("submission")).await;
    smtp.smtp_reply().await;
    smtp.smtp("EHLO client.example").await;
    assert!(smtp.smtp("AUTH LOGIN").await.starts_with("334"));
    assert!(smtp.smtp(&b64(ALICE.0)).await.starts_with("334"));
    assert!(smtp.smtp(&b64(WRONG)).await.starts_with("535"));

    let log = wait_for_lines(&server, "login failed", 4);
    let failed: Vec<&str> = log.lines().filter(|l| l.contains("login failed")).collect();
    assert_eq!(failed.len(), 4, "{log}");
    for (ip, protocol, mechanism, address, reason) in [
        (
            "127.0.0.2",
            "imap",
            "LOGIN command",
            ALICE.0,
            "wrong password",
        ),
        (
            "127.0.0.2",
            "imap",
            "PLAIN",
            "ghost@example.test",
            "no such account",
        ),
        ("127.0.0.3", "pop3", "USER/PASS", ALICE.0, "wrong password"),
        ("127.0.0.4", "smtp", "LOGIN", ALICE.0, "wrong password"),
    ] {
        assert!(
            failed.iter().any(|l| l.contains(" INFO ")
                && l.contains(&format!("ip={ip}"))
                && l.contains(&format!("protocol=\"{protocol}\""))
                && l.contains(&format!("mechanism=\"{mechanism}\""))
                && l.contains(&format!("address=\"{address}\""))
                && l.contains(&format!("reason=\"{reason}\""))),
            "no line for {protocol} {mechanism} from {ip}:\n{log}"
        );
    }
    assert!(!log.contains("login succeeded"), "success at INFO:\n{log}");
    assert!(
        !log.contains(WRONG) && !log.contains(ALICE.1),
        "a password in the log:\n{log}"
    );
}

/// A TLS ClientHello for an implicit-TLS port whose SNI is an IP address (RFC 6066 §3 forbids
/// it; some clients send it anyway).
fn client_hello_with_ip_sni() -> Vec<u8> {
    let name = b"127.0.0.1";
    let mut sni = vec![0x00, 0x00]; // server_name
    let list_len = 3 + name.len();
    sni.extend_from_slice(&u16::try_from(list_len + 2).expect("len").to_be_bytes());
    sni.extend_from_slice(&u16::try_from(list_len).expect("len").to_be_bytes());
    sni.push(0x00); // host_name
    sni.extend_from_slice(&u16::try_from(name.len()).expect("len").to_be_bytes());
    sni.extend_from_slice(name);
    let mut body = vec![0x03, 0x03];
    body.extend_from_slice(&[7u8; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x02, 0x13, 0x01]); // TLS_AES_128_GCM_SHA256
    body.extend_from_slice(&[0x01, 0x00]); // null compression
    body.extend_from_slice(&u16::try_from(sni.len()).expect("len").to_be_bytes());
    body.extend_from_slice(&sni);
    let mut hs = vec![0x01, 0x00];
    hs.extend_from_slice(&u16::try_from(body.len()).expect("len").to_be_bytes());
    hs.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&u16::try_from(hs.len()).expect("len").to_be_bytes());
    record.extend_from_slice(&hs);
    record
}

#[test]
fn an_ip_address_as_sni_is_not_a_warning() {
    // The accept loop logs each implicit-TLS handshake's outcome at DEBUG (`net`), after
    // rustls is done with the hello: the event to wait for before looking for warnings.
    let server = Mailstack::builder()
        .env("RUST_LOG", "info,net=debug")
        .start();
    for service in ["imaps", "pop3s", "submissions"] {
        let mut tcp =
            std::net::TcpStream::connect(("127.0.0.1", server.port(service))).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        tcp.write_all(&client_hello_with_ip_sni()).expect("hello");
        // The server answers (an alert or a ServerHello) or closes; either way it has read
        // the hello.
        let mut buf = [0u8; 512];
        let _ = tcp.read(&mut buf);
    }
    let log = eventually_blocking(Duration::from_secs(60), || {
        let log = server.stderr();
        let done = log
            .lines()
            .filter(|l| {
                l.contains("net::listen: TLS handshake failed")
                    || l.contains("net::listen: connected")
            })
            .count();
        if done >= 3 {
            Ok(log)
        } else {
            Err(format!("{done} of 3 handshakes finished:\n{log}"))
        }
    });
    assert!(
        !log.lines()
            .any(|l| l.contains(" WARN ") || l.contains(" ERROR ")),
        "a client's TLS mistake logged as a warning:\n{log}"
    );
}
