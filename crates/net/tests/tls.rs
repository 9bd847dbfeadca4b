//! Generated certificates verify with the generated CA from a third-party TLS stack (Python's
//! ssl module), and the STARTTLS helper drops bytes pipelined before the handshake.

use std::net::SocketAddr;
use std::process::Command;

use net::Connection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn setup() -> (tempfile::TempDir, net::TlsAcceptor, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tmp");
    let cert = dir.path().join("certs/server.crt");
    let key = dir.path().join("certs/server.key");
    let s =
        net::load_or_generate(&cert, &key, true, &["mail.example.test".into()]).expect("generate");
    let ca = s.generated_ca.expect("generated now");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key).expect("key").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "private key is 0600");
    // A second call loads what exists instead of generating again.
    let again = net::load_or_generate(&cert, &key, false, &[]).expect("load");
    assert!(again.generated_ca.is_none());
    (dir, s.acceptor, ca)
}

#[test]
fn missing_files_without_generate_is_an_error() {
    let dir = tempfile::tempdir().expect("tmp");
    let r = net::load_or_generate(
        &dir.path().join("a.crt"),
        &dir.path().join("a.key"),
        false,
        &[],
    );
    assert!(matches!(r, Err(net::TlsError::Missing { .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_ssl_verifies_generated_certificate() {
    let (_dir, acceptor, ca) = setup();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        for _ in 0..3 {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                if let Ok(mut tls) = acceptor.accept(tcp).await {
                    let _ = tls.write_all(b"hello over tls\r\n").await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    let script = r#"
import socket, ssl, sys
ca, port = sys.argv[1], int(sys.argv[2])
for name in ["localhost", "mail.example.test", "127.0.0.1"]:
    ctx = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as s:
            assert s.recv(100).startswith(b"hello"), name
print("verified")
"#;
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&ca)
            .arg(port.to_string())
            .output()
    })
    .await
    .expect("join")
    .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("verified"),
        "python: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn starttls_discards_pipelined_bytes() {
    let (_dir, acceptor, ca) = setup();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let (tcp, peer) = listener.accept().await.expect("accept");
        let local: SocketAddr = tcp.local_addr().expect("local");
        let mut conn = Connection::new(tcp, peer, local, false);
        let line = conn.read_line(512).await.expect("line");
        assert_eq!(line, b"STARTTLS\r\n");
        conn.send(b"220 go ahead\r\n").await.expect("send");
        let dropped = conn.start_tls(&acceptor).await.expect("tls");
        assert!(conn.tls);
        let next = conn.read_line(512).await.expect("after tls");
        (dropped, next)
    });
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    // The injection: a command in the same packet as STARTTLS.
    tcp.write_all(b"STARTTLS\r\nRCPT TO:<evil@example.test>\r\n")
        .await
        .expect("write");
    let mut buf = [0u8; 14];
    tcp.read_exact(&mut buf).await.expect("220");
    // The client trusts only the generated CA (the test kit's trust store).
    let mut tls = testkit::tls::connect(tcp, &ca).await;
    tls.write_all(b"NOOP\r\n").await.expect("write");
    let (dropped, next) = server.await.expect("server");
    assert_eq!(dropped, b"RCPT TO:<evil@example.test>\r\n".len());
    assert_eq!(
        next, b"NOOP\r\n",
        "the pipelined command was not executed after the switch"
    );
}
