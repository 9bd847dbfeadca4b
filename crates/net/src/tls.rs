//! TLS server configuration. Certificates load from PEM with `rustls::pki_types::pem::PemObject`;
//! when they are missing and generation is allowed, a local CA and a server certificate for the
//! configured host names + localhost + 127.0.0.1 + ::1 are created with rcgen (docs/spec.md
//! §7.3), and renewed at start when they expire within [`RENEW_BEFORE`].
//!
//! Lifetimes: the server certificate is valid for [`LEAF_DAYS`] (Apple platforms reject TLS
//! server certificates valid for more than 825 days, and newly issued public ones for more
//! than 398), the CA for [`CA_DAYS`]; both start [`BACKDATE`] in the past, so a client whose
//! clock is a little behind accepts them, and no client sees a notBefore decades ago.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose, SanType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub use crate::validity::Validity;
use crate::validity::{date, of_certificate};
pub use tokio_rustls::TlsAcceptor;

const DAY: Duration = Duration::from_secs(86_400);
/// Days a generated server certificate is valid (Apple's limit for TLS server certificates).
pub const LEAF_DAYS: u64 = 825;
/// Days the generated CA is valid (ten years).
pub const CA_DAYS: u64 = 3650;
/// How far in the past generated certificates start.
pub const BACKDATE: Duration = Duration::from_secs(3600);
/// Generated certificates are renewed at start when they expire within this time.
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 86_400);
/// The subject of the generated CA; renewing a server certificate signs with the same name.
const CA_NAME: &str = "mailstack local development CA";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    // No `source`: the message already says it, and an error chain printed with its causes
    // would say it twice.
    #[error("{}: {reason}", path.display())]
    Io {
        path: PathBuf,
        reason: std::io::Error,
    },
    #[error("{}: not a PEM certificate/key: {reason}", path.display())]
    Pem { path: PathBuf, reason: String },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    #[error(
        "{} or {} is missing and [tls] generate = false: mailstack makes no certificate \
         for this configuration; install yours (e.g. from an ACME client) there",
        cert.display(),
        key.display()
    )]
    Missing { cert: PathBuf, key: PathBuf },
}

/// The outcome of loading TLS material.
pub struct TlsSetup {
    pub acceptor: TlsAcceptor,
    /// Set when a new CA was made now: the CA file to import into clients.
    pub generated_ca: Option<PathBuf>,
    /// Set when an existing generated certificate was renewed now: what and why, for the log.
    pub renewed: Option<String>,
    /// Set when the certificate expires soon (or has) and is not ours to renew: for the log.
    pub warning: Option<String>,
    /// The server certificate's validity (`None` if it cannot be read).
    pub validity: Option<Validity>,
}

/// What to do with the certificate files found at start.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    /// Use them as they are.
    Keep,
    /// A new server certificate from the existing CA (why).
    RenewLeaf(String),
    /// A new CA and server certificate (why).
    RenewAll(String),
    /// Use them, but tell the operator (why).
    Warn(String),
}

/// Loads `cert`/`key`, generating them (and a CA beside them) first when missing and
/// `generate`, and renewing generated ones that expire within [`RENEW_BEFORE`].
pub fn load_or_generate(
    cert: &Path,
    key: &Path,
    generate: bool,
    hostnames: &[String],
) -> Result<TlsSetup, TlsError> {
    let mut generated_ca = None;
    let mut renewed = None;
    let mut warning = None;
    if !cert.exists() || !key.exists() {
        if !generate {
            return Err(TlsError::Missing {
                cert: cert.into(),
                key: key.into(),
            });
        }
        generated_ca = Some(generate_files(cert, key, hostnames)?);
    } else {
        match plan(cert, generate, SystemTime::now()) {
            Plan::Keep => {}
            Plan::Warn(why) => warning = Some(why),
            Plan::RenewLeaf(why) => {
                renew_leaf(cert, key, hostnames)?;
                renewed = Some(format!(
                    "renewed the server certificate {}: {why}; the CA stays, nothing to import",
                    cert.display()
                ));
            }
            Plan::RenewAll(why) => {
                let ca = generate_files(cert, key, hostnames)?;
                renewed = Some(format!(
                    "made a new local CA and server certificate: {why}; import {} into your mail \
                     clients again",
                    ca.display()
                ));
                generated_ca = Some(ca);
            }
        }
    }
    let acceptor = acceptor_from_files(cert, key)?;
    Ok(TlsSetup {
        acceptor,
        generated_ca,
        renewed,
        warning,
        validity: validity_of_file(cert),
    })
}

/// The validity of the first certificate in the PEM file `path`.
pub fn validity_of_file(path: &Path) -> Option<Validity> {
    let first = CertificateDer::pem_file_iter(path).ok()?.next()?.ok()?;
    of_certificate(&first)
}

/// The CA files beside `cert`: where [`generate_files`] writes them.
fn ca_paths(cert: &Path) -> (PathBuf, PathBuf) {
    let dir = cert.parent().unwrap_or(Path::new("."));
    (dir.join("ca.crt"), dir.join("ca.key"))
}

/// Whether `cert` was made by [`generate_files`]: the CA certificate and key lie beside it
/// and the chain in `cert` ends with that CA. Only such files are renewed.
fn generated_here(cert: &Path) -> bool {
    let (ca_crt, ca_key) = ca_paths(cert);
    if !ca_key.exists() {
        return false;
    }
    let ca: Vec<CertificateDer<'static>> = match CertificateDer::pem_file_iter(&ca_crt) {
        Ok(it) => it.filter_map(Result::ok).collect(),
        Err(_) => return false,
    };
    let chain: Vec<CertificateDer<'static>> = match CertificateDer::pem_file_iter(cert) {
        Ok(it) => it.filter_map(Result::ok).collect(),
        Err(_) => return false,
    };
    ca.len() == 1 && chain.len() == 2 && chain[1] == ca[0]
}

/// Decides what to do with existing files at `now`.
fn plan(cert: &Path, generate: bool, now: SystemTime) -> Plan {
    let Some(leaf) = validity_of_file(cert) else {
        return Plan::Keep; // acceptor_from_files reports what is wrong with it
    };
    let expiry = |v: &Validity| {
        if v.not_after <= now {
            format!("it expired on {}", date(v.not_after))
        } else {
            format!(
                "it expires on {} (in {} days)",
                date(v.not_after),
                v.remaining(now).as_secs() / 86_400
            )
        }
    };
    let ours = generate && generated_here(cert);
    if !ours {
        if leaf.remaining(now) <= RENEW_BEFORE {
            return Plan::Warn(format!(
                "the TLS certificate {}: {}; renew it (mailstack only renews the certificates it \
                 generated, with [tls] generate = true)",
                cert.display(),
                expiry(&leaf)
            ));
        }
        return Plan::Keep;
    }
    let (ca_crt, _) = ca_paths(cert);
    if let Some(ca) = validity_of_file(&ca_crt) {
        if ca.remaining(now) <= RENEW_BEFORE {
            return Plan::RenewAll(format!("the CA {}: {}", ca_crt.display(), expiry(&ca)));
        }
        if ca.lifetime() > DAY * (CA_DAYS as u32 + 1) {
            return Plan::RenewAll(format!(
                "the CA {} was made by an older mailstack and is valid for {} years, more than \
                 the {} mailstack makes now",
                ca_crt.display(),
                ca.lifetime().as_secs() / (365 * 86_400),
                CA_DAYS / 365
            ));
        }
    }
    if leaf.remaining(now) <= RENEW_BEFORE {
        return Plan::RenewLeaf(expiry(&leaf));
    }
    if leaf.lifetime() > DAY * (LEAF_DAYS as u32 + 1) {
        return Plan::RenewLeaf(format!(
            "it is valid for {} days, more than the {LEAF_DAYS} Apple devices accept",
            leaf.lifetime().as_secs() / 86_400
        ));
    }
    Plan::Keep
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

/// The generated CA's parameters: the same name every time, so a server certificate renewed
/// with the CA's key (`renew_leaf`) chains to the CA clients already imported.
fn ca_params(now: SystemTime) -> Result<CertificateParams, TlsError> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, CA_NAME);
    ca_params
        .distinguished_name
        .push(DnType::OrganizationName, "mailstack");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_before = (now - BACKDATE).into();
    ca_params.not_after = (now + DAY * CA_DAYS as u32).into();
    Ok(ca_params)
}

/// The server certificate's parameters: valid from an hour ago for [`LEAF_DAYS`], never past
/// the CA's own end (`ca_not_after`).
fn leaf_params(
    hostnames: &[String],
    now: SystemTime,
    ca_not_after: SystemTime,
) -> Result<CertificateParams, TlsError> {
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
    params.not_before = (now - BACKDATE).into();
    params.not_after = (now + DAY * LEAF_DAYS as u32).min(ca_not_after).into();
    Ok(params)
}

/// Writes `ca.crt`/`ca.key` beside `cert`, then `cert`/`key` signed by that CA (keys 0600).
/// Writes nothing else and nowhere else. Returns the CA certificate's path.
pub fn generate_files(cert: &Path, key: &Path, hostnames: &[String]) -> Result<PathBuf, TlsError> {
    let (ca_cert_path, ca_key_path) = ca_paths(cert);
    make_parent(cert)?;
    make_parent(key)?;
    let now = SystemTime::now();
    let ca_params = ca_params(now)?;
    let ca_key = KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;
    let params = leaf_params(hostnames, now, now + DAY * CA_DAYS as u32)?;
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

/// A new server certificate and key signed by the CA beside `cert` (which stays as it is,
/// so clients that trust it go on trusting the server).
fn renew_leaf(cert: &Path, key: &Path, hostnames: &[String]) -> Result<(), TlsError> {
    let (ca_cert_path, ca_key_path) = ca_paths(cert);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |reason| TlsError::Io { path, reason }
    };
    let ca_pem = std::fs::read_to_string(&ca_cert_path).map_err(io(&ca_cert_path))?;
    let ca_key_pem = std::fs::read_to_string(&ca_key_path).map_err(io(&ca_key_path))?;
    let ca_key = KeyPair::from_pem(&ca_key_pem)?;
    let ca_not_after = validity_of_file(&ca_cert_path)
        .map(|v| v.not_after)
        .ok_or_else(|| TlsError::Pem {
            path: ca_cert_path.clone(),
            reason: "no certificate found".into(),
        })?;
    let now = SystemTime::now();
    let issuer = rcgen::Issuer::new(ca_params(now)?, ca_key);
    let server_key = KeyPair::generate()?;
    let server = leaf_params(hostnames, now, ca_not_after)?.signed_by(&server_key, &issuer)?;
    let mut chain = server.pem();
    chain.push_str(ca_pem.trim_end());
    chain.push('\n');
    // Each file is replaced whole; between the two renames a crash leaves a key that does not
    // match the certificate, which the next start reports instead of serving it.
    write_file(key, server_key.serialize_pem().as_bytes(), true)?;
    write_file(cert, chain.as_bytes(), false)
}

fn make_parent(path: &Path) -> Result<(), TlsError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|reason| TlsError::Io {
        path: dir.into(),
        reason,
    })
}

/// Writes `path` whole or not at all: a temporary file beside it (mode 0600 for keys from
/// the start), synced, then renamed over it.
fn write_file(path: &Path, data: &[u8], private: bool) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".new");
    let tmp = path.with_file_name(tmp_name);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    opts.mode(if private { 0o600 } else { 0o644 });
    let err = |p: &Path| {
        let p = p.to_path_buf();
        move |reason| TlsError::Io { path: p, reason }
    };
    let mut f = opts.open(&tmp).map_err(err(&tmp))?;
    f.write_all(data).map_err(err(&tmp))?;
    f.sync_all().map_err(err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(err(path))
}
