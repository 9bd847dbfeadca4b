//! STLS (with the pipelining-injection check), implicit TLS, dot-stuffing, TOP line counts and
//! byte-exact RETR of 8-bit, long-line and large messages.

use testkit::{message, Daemon, Pop3, Stack, StackBuilder, PASSWORD};

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

#[tokio::test]
async fn stls_discards_pipelined_commands() {
    let srv = start().await;
    srv.add_user(ALICE).await;
    let mut c = Pop3::connect(srv.port("pop3")).await;
    c.line().await;
    // STLS and a USER in the same packet: the USER must never run (RFC 2595 §4, docs/spec.md §8).
    c.send_raw(format!("STLS\r\nUSER {ALICE}\r\n").as_bytes())
        .await;
    assert_eq!(c.line().await, "+OK begin TLS negotiation");
    c.start_tls(&srv.ca).await;
    assert_eq!(
        c.cmd(&format!("PASS {PASSWORD}")).await,
        "-ERR send USER first"
    );
    assert!(c.cmd(&format!("USER {ALICE}")).await.starts_with("+OK"));
    assert!(c
        .cmd(&format!("PASS {PASSWORD}"))
        .await
        .starts_with("+OK maildrop has"));
    assert!(c.cmd("QUIT").await.starts_with("+OK"));
}

#[tokio::test]
async fn implicit_tls_port() {
    let srv = start().await;
    let a = srv.add_user(ALICE).await;
    let m = message("secure", "over TLS\r\n");
    srv.deliver(&a, &m).await;
    let mut c = Pop3::connect_tls(srv.port("pop3s"), &srv.ca).await;
    c.line().await;
    assert!(c.cmd("CAPA").await.starts_with("+OK"));
    let caps = c.multi().await;
    assert!(
        !caps.iter().any(|l| l == "STLS") && caps.iter().any(|l| l == "USER"),
        "{caps:?}"
    );
    assert!(c.cmd(&format!("USER {ALICE}")).await.starts_with("+OK"));
    assert!(c
        .cmd(&format!("PASS {PASSWORD}"))
        .await
        .starts_with("+OK maildrop has 1"));
    assert!(c.cmd("RETR 1").await.starts_with("+OK"));
    assert_eq!(c.multi_raw().await, m);
    assert!(c.cmd("STLS").await.starts_with("-ERR"));
}

#[tokio::test]
async fn dot_stuffing_of_body_lines() {
    let srv = start().await;
    let a = srv.add_user(ALICE).await;
    let m = message("dots", ".starts with a dot\r\n..two dots\r\n.\r\nlast\r\n");
    srv.deliver(&a, &m).await;
    let mut c = srv.pop3_login(ALICE).await;
    assert!(c.cmd("RETR 1").await.starts_with("+OK"));
    let mut wire = Vec::new();
    loop {
        let l = c.raw_line().await;
        if l == b".\r\n" {
            break;
        }
        wire.extend_from_slice(&l);
    }
    let text = String::from_utf8_lossy(&wire);
    assert!(
        text.contains("\r\n..starts with a dot\r\n...two dots\r\n..\r\nlast\r\n"),
        "{text}"
    );
    assert!(c.cmd("RETR 1").await.starts_with("+OK"));
    assert_eq!(c.multi_raw().await, m);
}

#[tokio::test]
async fn top_line_counts() {
    let srv = start().await;
    let a = srv.add_user(ALICE).await;
    let m = message("top", "l1\r\nl2\r\n\r\n.l4\r\nl5\r\n");
    srv.deliver(&a, &m).await;
    let header_end = m.windows(4).position(|w| w == b"\r\n\r\n").expect("header") + 4;
    let mut c = srv.pop3_login(ALICE).await;
    for (n, want_body) in [
        (0, ""),
        (1, "l1\r\n"),
        (2, "l1\r\nl2\r\n"),
        (3, "l1\r\nl2\r\n\r\n"),
        (4, "l1\r\nl2\r\n\r\n.l4\r\n"),
        (5, "l1\r\nl2\r\n\r\n.l4\r\nl5\r\n"),
        (99, "l1\r\nl2\r\n\r\n.l4\r\nl5\r\n"),
    ] {
        assert!(c.cmd(&format!("TOP 1 {n}")).await.starts_with("+OK"));
        let got = c.multi_raw().await;
        let mut want = m[..header_end].to_vec();
        want.extend_from_slice(want_body.as_bytes());
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want),
            "TOP 1 {n}"
        );
    }
}

#[tokio::test]
async fn retr_is_byte_exact_for_8bit_long_lines_and_5_mib() {
    let srv = start().await;
    let a = srv.add_user(ALICE).await;
    let mut eight_bit = b"Subject: 8bit\r\nContent-Transfer-Encoding: 8bit\r\n\r\n".to_vec();
    eight_bit.extend_from_slice("Grüße, naïve café — 日本語\r\n".as_bytes());
    eight_bit.extend((0x80u8..=0xff).collect::<Vec<_>>());
    eight_bit.extend_from_slice(b"\r\n\x01\x02\x7f\r\n");
    let mut long_line = b"Subject: long\r\n\r\n".to_vec();
    long_line.extend(std::iter::repeat_n(b'a', 20_000));
    long_line.extend_from_slice(b"\r\n.after\r\n");
    let mut big = b"Subject: big\r\n\r\n".to_vec();
    let mut i = 0u64;
    while big.len() < 5 * 1024 * 1024 {
        i += 1;
        let line = if i.is_multiple_of(7) {
            format!(".dot line {i}\r\n")
        } else {
            format!("line {i} {}\r\n", "z".repeat((i % 90) as usize))
        };
        big.extend_from_slice(line.as_bytes());
    }
    let msgs = [eight_bit, long_line, big];
    for m in &msgs {
        srv.deliver(&a, m).await;
    }
    let mut c = srv.pop3_login(ALICE).await;
    for (i, m) in msgs.iter().enumerate() {
        assert_eq!(
            c.cmd(&format!("RETR {}", i + 1)).await,
            format!("+OK {} octets", m.len())
        );
        let got = c.multi_raw().await;
        assert_eq!(got.len(), m.len(), "message {}", i + 1);
        assert!(got == *m, "message {} differs", i + 1);
    }
}

#[tokio::test]
async fn message_without_final_newline_is_terminated() {
    let srv = start().await;
    let a = srv.add_user(ALICE).await;
    srv.deliver(&a, b"Subject: x\r\n\r\nno newline at end")
        .await;
    let mut c = srv.pop3_login(ALICE).await;
    assert!(c.cmd("RETR 1").await.starts_with("+OK"));
    assert_eq!(
        c.multi_raw().await,
        b"Subject: x\r\n\r\nno newline at end\r\n"
    );
}
