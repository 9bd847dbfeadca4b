//! The generated CA and the trust store of test clients.
//!
//! In-process stacks get a certificate from [`generate`] (the same code `mailstack certs`
//! runs); the binary generates its own and names the CA in its JSON line. Either way a client
//! trusts only that CA ([`client_config`]) and checks the name `localhost`, which every
//! generated certificate carries.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// A generated server certificate and the CA it chains to.
pub struct Certs {
    /// The CA certificate clients trust (PEM).
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub acceptor: net::TlsAcceptor,
}

/// Generates a CA and a server certificate for `hostnames` (plus localhost, 127.0.0.1, ::1)
/// in `dir`.
pub fn generate(dir: &Path, hostnames: &[String]) -> Certs {
    let cert = dir.join("server.crt");
    let key = dir.join("server.key");
    let ca = net::tls::generate_files(&cert, &key, hostnames).expect("generate certificates");
    let acceptor = net::tls::acceptor_from_files(&cert, &key).expect("TLS acceptor");
    Certs {
        ca,
        cert,
        key,
        acceptor,
    }
}

/// The first certificate in a PEM file, DER-encoded.
pub fn der(pem: &Path) -> Vec<u8> {
    CertificateDer::from_pem_file(pem)
        .expect("PEM certificate")
        .to_vec()
}

/// The name test clients verify: every generated certificate carries it.
pub fn server_name() -> ServerName<'static> {
    ServerName::try_from("localhost").expect("name")
}

/// A rustls client configuration trusting only the CA certificates in `ca` (PEM).
pub fn client_config(ca: &Path) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca).expect("CA file") {
        roots.add(cert.expect("CA PEM")).expect("CA cert");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// A TLS connector trusting only `ca`.
pub fn connector(ca: &Path) -> tokio_rustls::TlsConnector {
    tokio_rustls::TlsConnector::from(client_config(ca))
}

/// The client side of a TLS handshake on `stream` (implicit TLS, or after a STARTTLS
/// go-ahead), verifying `localhost` against `ca`.
pub async fn connect<S>(stream: S, ca: &Path) -> tokio_rustls::client::TlsStream<S>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    connector(ca)
        .connect(server_name(), stream)
        .await
        .expect("TLS handshake")
}
