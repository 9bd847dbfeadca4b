//! RFC 4978 COMPRESS=DEFLATE: offered after login, the OK goes out in clear, then both
//! directions are raw deflate; a second COMPRESS is NO [COMPRESSIONACTIVE]; over TLS too.
mod common;
use common::*;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

/// Sends `tag cmd` and reads lines until the tagged reply.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut BufReader<S>,
    tag: &str,
    cmd: &str,
) -> Vec<String> {
    s.get_mut()
        .write_all(format!("{tag} {cmd}\r\n").as_bytes())
        .await
        .expect("write");
    s.get_mut().flush().await.expect("flush");
    let mut lines = Vec::new();
    loop {
        let mut l = String::new();
        let n = tokio::time::timeout(std::time::Duration::from_secs(30), s.read_line(&mut l))
            .await
            .expect("answer")
            .expect("read");
        assert!(n > 0, "closed after {lines:?}");
        let done = l.starts_with(&format!("{tag} "));
        lines.push(l.trim_end().to_string());
        if done {
            return lines;
        }
    }
}

async fn compressed_session<S: AsyncRead + AsyncWrite + Unpin + Send>(stream: S) {
    let mut c = BufReader::new(stream);
    let mut greeting = String::new();
    c.read_line(&mut greeting).await.expect("greeting");
    assert!(
        !greeting.contains("COMPRESS"),
        "not before login: {greeting}"
    );
    let r = exchange(&mut c, "a", &format!("LOGIN {USER} \"{PASS}\"")).await;
    assert!(
        r.last().is_some_and(|l| l.contains("COMPRESS=DEFLATE")),
        "{r:?}"
    );
    let r = exchange(&mut c, "b", "COMPRESS DEFLATE").await;
    assert_eq!(r, vec!["b OK DEFLATE active"]);
    // From here on, deflate both ways (no bytes buffered past the OK line).
    assert!(c.buffer().is_empty());
    let mut z = BufReader::new(net::compress::Deflate::new(c.into_inner(), vec![]));
    let r = exchange(&mut z, "c", "SELECT INBOX").await;
    assert!(r.iter().any(|l| l == "* 2 EXISTS"), "{r:?}");
    let r = exchange(
        &mut z,
        "d",
        "FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
    )
    .await;
    assert!(r.iter().any(|l| l.contains("Subject: one")), "{r:?}");
    let r = exchange(&mut z, "e", "COMPRESS DEFLATE").await;
    assert!(r[0].starts_with("e NO [COMPRESSIONACTIVE]"), "{r:?}");
    let r = exchange(&mut z, "f", "LOGOUT").await;
    assert!(r[0].starts_with("* BYE"), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deflate_on_plain_and_tls() {
    let s = start().await;
    s.append("INBOX", &message("one", "first")).await;
    s.append("INBOX", &message("two", "second")).await;
    // Plain.
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", s.port))
        .await
        .expect("connect");
    compressed_session(tcp).await;
    // Implicit TLS, with the generated CA.
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(&s.ca).expect("ca");
    use rustls::pki_types::pem::PemObject;
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        roots.add(cert.expect("pem")).expect("add");
    }
    let cfg = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", s.tls_port))
        .await
        .expect("connect");
    let tls = tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))
        .connect(
            rustls::pki_types::ServerName::try_from("localhost").expect("name"),
            tcp,
        )
        .await
        .expect("tls");
    compressed_session(tls).await;
}

/// RFC 4978 §3: only after login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compress_before_login_is_refused() {
    let s = start().await;
    let mut c = s.client().await;
    let (_, t) = c.cmd("COMPRESS DEFLATE").await;
    assert!(t.contains(" BAD "), "{t}");
}
