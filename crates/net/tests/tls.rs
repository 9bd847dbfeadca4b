//! Generated certificates verify with the generated CA from a third-party TLS stack (Python's
//! ssl module), and the STARTTLS helper drops bytes pipelined before the handshake.

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;

use net::Connection;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
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

/// Verifies the first certificate of `chain_pem` for `name` against the CA in `ca_pem`, at
/// `now`, as a TLS client would.
fn verifies(chain_pem: &std::path::Path, ca_pem: &std::path::Path, name: &str) -> bool {
    use rustls::client::danger::ServerCertVerifier;
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca_pem).expect("ca") {
        roots.add(c.expect("cert")).expect("add");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .expect("verifier");
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(chain_pem)
        .expect("chain")
        .map(|c| c.expect("cert"))
        .collect();
    verifier
        .verify_server_cert(
            &chain[0],
            &chain[1..],
            &ServerName::try_from(name.to_string()).expect("name"),
            &[],
            rustls::pki_types::UnixTime::now(),
        )
        .is_ok()
}

const DAY: std::time::Duration = std::time::Duration::from_secs(86_400);

fn days(d: std::time::Duration) -> f64 {
    d.as_secs_f64() / 86_400.0
}

#[test]
fn generated_certificates_have_short_sane_lifetimes() {
    let (dir, _, ca) = setup();
    let now = std::time::SystemTime::now();
    let leaf = net::tls::validity_of_file(&dir.path().join("certs/server.crt")).expect("leaf");
    let ca_v = net::tls::validity_of_file(&ca).expect("ca");
    // Apple platforms: at most 825 days for a TLS server certificate.
    assert!(days(leaf.lifetime()) <= 825.1, "leaf {leaf:?}");
    assert!(days(ca_v.lifetime()) <= 3650.1, "ca {ca_v:?}");
    for v in [leaf, ca_v] {
        // notBefore = now − 1 hour (rounded to the second by the encoding).
        let back = now.duration_since(v.not_before).expect("in the past");
        assert!(
            (3590..=3700).contains(&back.as_secs()),
            "notBefore {back:?} ago"
        );
    }
    assert!(!leaf.not_after.gt(&ca_v.not_after), "leaf outlives its CA");
}

/// Writes `cert`/`key` as a leaf for localhost signed by the CA beside them, valid from
/// `from` to `until` (what an expiring or an older mailstack's certificate looks like).
fn write_leaf(certs: &std::path::Path, from: std::time::SystemTime, until: std::time::SystemTime) {
    let ca_key =
        rcgen::KeyPair::from_pem(&std::fs::read_to_string(certs.join("ca.key")).expect("ca key"))
            .expect("parse ca key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "mailstack local development CA");
    ca_params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "mailstack");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_string()]).expect("leaf params");
    params.not_before = from.into();
    params.not_after = until.into();
    let key = rcgen::KeyPair::generate().expect("key");
    let leaf = params.signed_by(&key, &issuer).expect("sign");
    let ca_pem = std::fs::read_to_string(certs.join("ca.crt")).expect("ca");
    std::fs::write(certs.join("server.crt"), leaf.pem() + &ca_pem).expect("write cert");
    std::fs::write(certs.join("server.key"), key.serialize_pem()).expect("write key");
}

#[test]
fn an_expiring_server_certificate_is_renewed_with_the_same_ca() {
    let dir = tempfile::tempdir().expect("tmp");
    let certs = dir.path().join("certs");
    let (cert, key) = (certs.join("server.crt"), certs.join("server.key"));
    let ca = net::tls::generate_files(&cert, &key, &[]).expect("generate");
    let ca_before = std::fs::read(&ca).expect("ca");
    let now = std::time::SystemTime::now();
    write_leaf(&certs, now - DAY * 800, now + DAY * 10);
    assert!(verifies(&cert, &ca, "localhost"), "the planted leaf chains");

    let s = net::load_or_generate(&cert, &key, true, &[]).expect("load");
    assert!(s.generated_ca.is_none(), "the CA stays");
    let why = s.renewed.expect("renewed");
    assert!(
        why.contains("expires on") && why.contains("nothing to import"),
        "{why}"
    );
    assert_eq!(std::fs::read(&ca).expect("ca"), ca_before);
    let v = s.validity.expect("validity");
    assert!(days(v.remaining(now)) > 800.0, "{v:?}");
    assert!(
        verifies(&cert, &ca, "localhost"),
        "renewed leaf chains to the old CA"
    );
    assert!(verifies(&cert, &ca, "127.0.0.1"));
    // Nothing else was written: the four files and nothing left over.
    let mut names: Vec<String> = std::fs::read_dir(&certs)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["ca.crt", "ca.key", "server.crt", "server.key"]);

    // An expired one too.
    write_leaf(&certs, now - DAY * 900, now - DAY);
    let s = net::load_or_generate(&cert, &key, true, &[]).expect("load");
    assert!(s.renewed.expect("renewed").contains("expired on"));
}

#[test]
fn certificates_of_an_older_mailstack_are_replaced() {
    // Older versions made a CA and a leaf valid from 1975 to 4096 (rcgen's defaults).
    let dir = tempfile::tempdir().expect("tmp");
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).expect("mkdir");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "mailstack local development CA");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let ca_cert = ca_params.self_signed(&ca_key).expect("ca");
    std::fs::write(certs.join("ca.crt"), ca_cert.pem()).expect("ca.crt");
    std::fs::write(certs.join("ca.key"), ca_key.serialize_pem()).expect("ca.key");
    let old = net::tls::validity_of_file(&certs.join("ca.crt")).expect("old ca");
    assert_eq!(net::date(old.not_before), "1975-01-01");
    assert_eq!(net::date(old.not_after), "4096-01-01");
    let leaf_key = rcgen::KeyPair::generate().expect("key");
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .signed_by(&leaf_key, &rcgen::Issuer::new(ca_params, ca_key))
        .expect("leaf");
    let (cert, key) = (certs.join("server.crt"), certs.join("server.key"));
    std::fs::write(&cert, leaf.pem() + &ca_cert.pem()).expect("cert");
    std::fs::write(&key, leaf_key.serialize_pem()).expect("key");

    let s = net::load_or_generate(&cert, &key, true, &[]).expect("load");
    let ca = s.generated_ca.expect("a new CA");
    let why = s.renewed.expect("renewed");
    assert!(
        why.contains("older mailstack") && why.contains("import"),
        "{why}"
    );
    let v = net::tls::validity_of_file(&ca).expect("new ca");
    assert!(days(v.lifetime()) <= 3650.1);
    assert!(verifies(&cert, &ca, "localhost"));
}

#[test]
fn certificates_mailstack_did_not_make_are_never_touched() {
    let dir = tempfile::tempdir().expect("tmp");
    let certs = dir.path().join("certs");
    let (cert, key) = (certs.join("server.crt"), certs.join("server.key"));
    net::tls::generate_files(&cert, &key, &[]).expect("generate");
    let now = std::time::SystemTime::now();
    write_leaf(&certs, now - DAY * 80, now + DAY * 5);
    let before = std::fs::read(&cert).expect("cert");

    // generate = false (production): a warning, no renewal.
    let s = net::load_or_generate(&cert, &key, false, &[]).expect("load");
    assert!(s.renewed.is_none() && s.generated_ca.is_none());
    let w = s.warning.expect("warning");
    assert!(w.contains("expires on") && w.contains("renew it"), "{w}");
    assert_eq!(std::fs::read(&cert).expect("cert"), before);

    // A certificate from elsewhere (no CA key beside it), even with generate = true.
    std::fs::remove_file(certs.join("ca.key")).expect("rm");
    let s = net::load_or_generate(&cert, &key, true, &[]).expect("load");
    assert!(s.renewed.is_none() && s.warning.is_some());
    assert_eq!(std::fs::read(&cert).expect("cert"), before);
}
