//! TLS server configuration. Certificates load from PEM with `rustls::pki_types::pem::PemObject`;
//! when they are missing and generation is allowed, a local CA and a server certificate for the
//! configured host names + localhost + 127.0.0.1 + ::1 are created with rcgen (docs/spec.md §7).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub use tokio_rustls::TlsAcceptor;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a PEM certificate/key: {reason}")]
    Pem { path: PathBuf, reason: String },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{cert} or {key} is missing and tls.generate is false")]
    Missing { cert: PathBuf, key: PathBuf },
}

/// The outcome of loading TLS material.
pub struct TlsSetup {
    pub acceptor: TlsAcceptor,
    /// Set when certificates were generated now: the CA file to import into clients.
    pub generated_ca: Option<PathBuf>,
}

/// Loads `cert`/`key`, generating them (and a CA beside them) first when missing and `generate`.
pub fn load_or_generate(
    cert: &Path,
    key: &Path,
    generate: bool,
    hostnames: &[String],
) -> Result<TlsSetup, TlsError> {
    let mut generated_ca = None;
    if !cert.exists() || !key.exists() {
        if !generate {
            return Err(TlsError::Missing {
                cert: cert.into(),
                key: key.into(),
            });
        }
        generated_ca = Some(generate_files(cert, key, hostnames)?);
    }
    let acceptor = acceptor_from_files(cert, key)?;
    Ok(TlsSetup {
        acceptor,
        generated_ca,
    })
}

/// A rustls acceptor from PEM files.
pub fn acceptor_from_files(cert: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| TlsError::Pem {
            path: cert.into(),
            reason: e.to_string(),
        })?
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem {
            path: cert.into(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: cert.into(),
            reason: "no certificate found".into(),
        });
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Pem {
        path: key.into(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Writes `ca.crt`/`ca.key` beside `cert`, then `cert`/`key` signed by that CA (keys 0600).
/// Returns the CA certificate's path.
pub fn generate_files(cert: &Path, key: &Path, hostnames: &[String]) -> Result<PathBuf, TlsError> {
    let dir = cert.parent().unwrap_or(Path::new("."));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TlsError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let ca_cert_path = dir.join("ca.crt");
    let ca_key_path = dir.join("ca.key");

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "mailstack local development CA");
    ca_params
        .distinguished_name
        .push(DnType::OrganizationName, "mailstack");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;

    let mut names: Vec<String> = hostnames.to_vec();
    for n in ["localhost", "127.0.0.1", "::1"] {
        if !names.iter().any(|x| x == n) {
            names.push(n.to_string());
        }
    }
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, names[0].clone());
    for n in &names {
        let san = match n.parse::<std::net::IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(n.clone().try_into()?),
        };
        params.subject_alt_names.push(san);
    }
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let server_key = KeyPair::generate()?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let server = params.signed_by(&server_key, &issuer)?;

    write_file(&ca_cert_path, ca.pem().as_bytes(), false)?;
    write_file(&ca_key_path, issuer.key().serialize_pem().as_bytes(), true)?;
    let mut chain = server.pem();
    chain.push_str(&ca.pem());
    write_file(cert, chain.as_bytes(), false)?;
    write_file(key, server_key.serialize_pem().as_bytes(), true)?;
    Ok(ca_cert_path)
}

fn write_file(path: &Path, data: &[u8], private: bool) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    if private {
        opts.mode(0o600);
    }
    let err = |source| TlsError::Io {
        path: path.into(),
        source,
    };
    let mut f = opts.open(path).map_err(err)?;
    f.write_all(data).map_err(err)?;
    f.sync_all().map_err(err)
}
