//! The TOML configuration (`config/mailstack.toml` by default). Key names are fixed by the
//! product (scripts and docs depend on them); unknown keys are an error that names the key and
//! line; relative paths resolve against the config file's folder.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The file this was read from (canonical), for messages; empty for built-in configs.
    #[serde(skip)]
    pub file: PathBuf,
    #[serde(default = "default_hostname")]
    pub hostname: String,
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default)]
    pub domains: Vec<String>,
    #[serde(default)]
    pub outbound: OutboundMode,
    #[serde(default)]
    pub capture_account: Option<String>,
    #[serde(default)]
    pub log: LogSection,
    #[serde(default)]
    pub tls: TlsConfig,
    #[serde(default)]
    pub listeners: Listeners,
    #[serde(default)]
    pub auth: AuthSection,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub http: HttpSection,
    #[serde(default)]
    pub demo_account: Vec<DemoAccount>,
    #[serde(default)]
    pub faults: FaultsSection,
    #[serde(default)]
    pub store: StoreSection,
}

/// `[store]`: where mail is kept (docs/architecture.md §12).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    #[serde(default)]
    pub backend: StoreBackend,
    /// PostgreSQL connection string (`postgres://user@host/db` or `host=… dbname=…`),
    /// without the password.
    #[serde(default)]
    pub url: Option<String>,
    /// A file holding the database password (else `MAILSTACK_STORE_PASSWORD`, else none).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The CA certificate (PEM) of the database server, for a `url` with `sslmode=require`.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// `[store] backend`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// Embedded, in `data_dir` (the default).
    #[default]
    Sled,
    /// A PostgreSQL database (`[store] url`).
    Postgres,
}

/// `[faults]`: fault injection for tests (docs/spec.md §7.7). No rules by default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultsSection {
    /// Let rules fire on connections to a non-loopback address too.
    #[serde(default)]
    pub allow_non_loopback: bool,
    /// `[[faults.rules]]`, each as `POST /api/faults` takes it.
    #[serde(default)]
    pub rules: Vec<net::faults::RuleSpec>,
}

/// `[http]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSection {
    /// Bearer token for the admin API; generated and printed at start when absent.
    #[serde(default)]
    pub admin_token: Option<String>,
}

/// `[log]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// Log every protocol line (same as `serve --trace-protocol`).
    #[serde(default)]
    pub trace_protocol: bool,
    /// With the trace, log message bodies too (same as `serve --trace-bodies`).
    #[serde(default)]
    pub trace_bodies: bool,
}

#[derive(Debug, Clone, Copy, Deserialize, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OutboundMode {
    /// Held in `capture_account`, never sent anywhere.
    #[default]
    Capture,
    /// 550 5.7.1 relaying denied.
    Reject,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default = "default_cert")]
    pub cert: PathBuf,
    #[serde(default = "default_key")]
    pub key: PathBuf,
    #[serde(default = "yes")]
    pub generate: bool,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert: default_cert(),
            key: default_key(),
            generate: true,
        }
    }
}

/// `service = "address:port"`; an absent listener is disabled.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listeners {
    #[serde(default, deserialize_with = "listen_address")]
    pub smtp: Option<SocketAddr>,
    #[serde(default, deserialize_with = "listen_address")]
    pub submission: Option<SocketAddr>,
    #[serde(default, deserialize_with = "listen_address")]
    pub submissions: Option<SocketAddr>,
    #[serde(default, deserialize_with = "listen_address")]
    pub pop3: Option<SocketAddr>,
    #[serde(default, deserialize_with = "listen_address")]
    pub pop3s: Option<SocketAddr>,
    #[serde(default, deserialize_with = "listen_address")]
    pub imap: Option<SocketAddr>,
    #[serde(default, deserialize_with = "listen_address")]
    pub imaps: Option<SocketAddr>,
    /// ManageSieve (RFC 5804, standard port 4190) with STARTTLS.
    #[serde(default, deserialize_with = "listen_address")]
    pub managesieve: Option<SocketAddr>,
    /// Autoconfig, password change, REST API.
    #[serde(default, deserialize_with = "listen_address")]
    pub http: Option<SocketAddr>,
    /// The same HTTP service over TLS with the mail listeners' certificate (optional).
    #[serde(default, deserialize_with = "listen_address")]
    pub https: Option<SocketAddr>,
}

/// `postgres://user:secret@host/db`: a password between `:` and `@` of the authority.
pub(crate) fn url_has_password(url: &str) -> bool {
    let Some(rest) = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))
    else {
        return false;
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

fn listen_address<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    let text = String::deserialize(d)?;
    parse_listen_address(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// A listener address: an IP address and a port. A host name (`localhost:4025`) is refused
/// with the spelling to use instead: a name can stand for several addresses, and which one a
/// listener binds must not depend on the resolver.
pub fn parse_listen_address(text: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = text.trim().parse() {
        return Ok(a);
    }
    let port = text
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok());
    Err(match port {
        Some(port) => format!(
            "\"{text}\" is not an IP address and port: a listener needs an IP address, not a host \
             name; write \"127.0.0.1:{port}\" (this machine only), \"0.0.0.0:{port}\" (every \
             IPv4 address) or \"[::1]:{port}\" (IPv6)"
        ),
        None => {
            format!("\"{text}\" is not an IP address and port: write it like \"127.0.0.1:3025\"")
        }
    })
}

impl Listeners {
    fn all_on(a: SocketAddr) -> Listeners {
        Listeners {
            smtp: Some(a),
            submission: Some(a),
            submissions: Some(a),
            pop3: Some(a),
            pop3s: Some(a),
            imap: Some(a),
            imaps: Some(a),
            managesieve: Some(a),
            http: Some(a),
            https: None,
        }
    }

    /// (service, address) for each configured listener, in a stable order.
    pub fn all(&self) -> Vec<(&'static str, SocketAddr)> {
        [
            ("smtp", self.smtp),
            ("submission", self.submission),
            ("submissions", self.submissions),
            ("pop3", self.pop3),
            ("pop3s", self.pop3s),
            ("imap", self.imap),
            ("imaps", self.imaps),
            ("managesieve", self.managesieve),
            ("http", self.http),
            ("https", self.https),
        ]
        .into_iter()
        .filter_map(|(n, a)| a.map(|a| (n, a)))
        .collect()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    #[serde(default = "default_min_pw")]
    pub min_password_length: usize,
    #[serde(default = "default_argon_mem")]
    pub argon2_memory_kib: u32,
    #[serde(default = "default_argon_iter")]
    pub argon2_iterations: u32,
}

impl Default for AuthSection {
    fn default() -> Self {
        AuthSection {
            min_password_length: default_min_pw(),
            argon2_memory_kib: default_argon_mem(),
            argon2_iterations: default_argon_iter(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// SMTP SIZE and IMAP APPENDLIMIT, bytes (docs/spec.md §8: 50 MiB).
    #[serde(default = "default_max_message")]
    pub max_message_size: u64,
    #[serde(default = "default_per_address")]
    pub connections_per_address: usize,
    #[serde(default = "default_total")]
    pub connections_total: usize,
    /// Least seconds between two POP3 logins of one account (RFC 2449 §6.5 LOGIN-DELAY);
    /// 0: off (docs/spec.md §6.1).
    #[serde(default)]
    pub pop3_login_delay: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: default_max_message(),
            connections_per_address: default_per_address(),
            connections_total: default_total(),
            pop3_login_delay: 0,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoAccount {
    pub address: String,
    pub password: String,
    #[serde(default)]
    pub quota: Option<u64>,
}

fn default_hostname() -> String {
    "localhost".into()
}
fn default_data_dir() -> PathBuf {
    "data".into()
}
fn default_cert() -> PathBuf {
    "certs/server.crt".into()
}
fn default_key() -> PathBuf {
    "certs/server.key".into()
}
fn yes() -> bool {
    true
}
fn default_min_pw() -> usize {
    12
}
fn default_argon_mem() -> u32 {
    19456
}
fn default_argon_iter() -> u32 {
    2
}
fn default_max_message() -> u64 {
    50 * 1024 * 1024
}
fn default_per_address() -> usize {
    1000
}
fn default_total() -> usize {
    100_000
}

/// `path` made absolute, with symbolic links and `.`/`..` resolved as far as it exists; the
/// rest (files not created yet) is appended with `.` and `..` resolved by name.
pub fn canonical(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(path)
    };
    use std::path::Component;
    let parts: Vec<Component> = absolute.components().collect();
    // The longest prefix that exists, resolved by the file system (symbolic links too).
    let (mut out, rest) = (1..=parts.len())
        .rev()
        .find_map(|n| {
            let prefix: PathBuf = parts[..n].iter().collect();
            prefix.canonicalize().ok().map(|c| (c, &parts[n..]))
        })
        .unwrap_or_else(|| (PathBuf::from("/"), &parts[..]));
    for part in rest {
        match part {
            Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => out.push(name),
        }
    }
    out
}

impl Config {
    /// The configuration of `serve --ephemeral` when no config file exists: one local domain,
    /// every listener on a free loopback port, everything in a temporary folder.
    pub fn ephemeral_default(dir: &Path) -> Config {
        let any: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
        Config {
            file: PathBuf::new(),
            hostname: default_hostname(),
            data_dir: dir.join("data"),
            domains: vec!["example.test".into()],
            outbound: OutboundMode::Capture,
            capture_account: Some("catchall@example.test".into()),
            log: LogSection::default(),
            tls: TlsConfig {
                cert: dir.join("certs/server.crt"),
                key: dir.join("certs/server.key"),
                generate: true,
            },
            listeners: Listeners::all_on(any),
            auth: AuthSection::default(),
            limits: Limits::default(),
            http: HttpSection::default(),
            demo_account: vec![],
            faults: FaultsSection::default(),
            store: StoreSection::default(),
        }
    }

    /// Makes this config ephemeral: store and certificates in `dir`, every listener (`https`
    /// too) on a free loopback port.
    pub fn make_ephemeral(&mut self, dir: &Path) {
        self.data_dir = dir.join("data");
        // A throwaway store, whatever `[store]` says.
        self.store = StoreSection::default();
        self.tls = TlsConfig {
            cert: dir.join("certs/server.crt"),
            key: dir.join("certs/server.key"),
            generate: true,
        };
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        self.listeners = Listeners {
            https: Some(any),
            ..Listeners::all_on(any)
        };
    }

    /// Reads and validates `path`; errors name the file, line and key.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let mut cfg: Config = toml::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{}: {}",
                path.display(),
                e.to_string().trim_end().replace('\n', "\n  ")
            )
        })?;
        let file = canonical(path);
        let base = file.parent().unwrap_or(Path::new("/")).to_path_buf();
        for p in [&mut cfg.store.password_file, &mut cfg.store.ca_file]
            .into_iter()
            .flatten()
        {
            *p = canonical(&base.join(&*p));
        }
        for p in [&mut cfg.data_dir, &mut cfg.tls.cert, &mut cfg.tls.key] {
            // Relative paths resolve against the config file's folder (docs/spec.md §7.6), and
            // are shown without `..` (`/work/certs/ca.crt`, not `config/../certs/ca.crt`).
            *p = canonical(&base.join(&*p));
        }
        cfg.file = file;
        cfg.validate()
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(cfg)
    }

    fn validate(&mut self) -> anyhow::Result<()> {
        for d in &mut self.domains {
            *d = d.to_ascii_lowercase();
        }
        for (i, rule) in self.faults.rules.iter_mut().enumerate() {
            *rule = rule
                .clone()
                .normalised()
                .map_err(|e| anyhow::anyhow!("[[faults.rules]] #{}: {e}", i + 1))?;
        }
        if self.store.backend == StoreBackend::Postgres && self.store.url.is_none() {
            bail!("[store] backend = \"postgres\" needs url = \"postgres://user@host/db\"");
        }
        if let Some(url) = &self.store.url {
            if url.contains(":@") || url.contains("password=") || url_has_password(url) {
                bail!(
                    "[store] url must not hold the password (it would reach logs): put it in \
                     password_file or MAILSTACK_STORE_PASSWORD"
                );
            }
        }
        if self.outbound == OutboundMode::Capture && self.capture_account.is_none() {
            bail!("outbound = \"capture\" needs capture_account = \"address\"");
        }
        if !self.demo_account.is_empty() {
            if let Some((name, addr)) = self
                .listeners
                .all()
                .into_iter()
                .find(|(_, a)| !a.ip().is_loopback())
            {
                bail!(
                    "demo_account is refused because listener {name} = \"{addr}\" is not on loopback \
                     (demo passwords are public); remove [[demo_account]] or bind 127.0.0.1"
                );
            }
        }
        Ok(())
    }

    /// Opens the configured store: sled in `data_dir`, or the PostgreSQL database of
    /// `[store] url` with the password from `password_file` or `MAILSTACK_STORE_PASSWORD`.
    pub fn open_store(&self) -> store::Result<store::Store> {
        match self.store.backend {
            StoreBackend::Sled => store::Store::open(&self.data_dir),
            StoreBackend::Postgres => {
                let url = self.store.url.as_deref().unwrap_or_default();
                let password = match &self.store.password_file {
                    Some(f) => Some(std::fs::read_to_string(f)?.trim_end().to_string()),
                    None => std::env::var("MAILSTACK_STORE_PASSWORD").ok(),
                };
                let ca_pem = match &self.store.ca_file {
                    Some(f) => Some(std::fs::read(f)?),
                    None => None,
                };
                store::Store::open_postgres_opts(url, &store::PgOptions { password, ca_pem })
            }
        }
    }

    /// Where the store is, for messages: the data folder, or the database URL.
    pub fn store_name(&self) -> String {
        match (self.store.backend, &self.store.url) {
            (StoreBackend::Postgres, Some(url)) => format!("PostgreSQL {url}"),
            _ => self.data_dir.display().to_string(),
        }
    }

    pub fn auth_config(&self) -> auth::AuthConfig {
        auth::AuthConfig {
            min_password_length: self.auth.min_password_length,
            argon2_memory_kib: self.auth.argon2_memory_kib,
            argon2_iterations: self.auth.argon2_iterations,
            ..auth::AuthConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir()?;
        let p = dir.path().join("m.toml");
        std::fs::write(&p, text)?;
        Config::load(&p)
    }

    #[test]
    fn shipped_configs_parse() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        let dev = Config::load(&root.join("mailstack.toml")).expect("dev config");
        assert_eq!(dev.listeners.all().len(), 9);
        assert!(!dev.demo_account.is_empty());
        let prod = Config::load(&root.join("production.toml")).expect("production config");
        assert!(prod.demo_account.is_empty() && !prod.tls.generate);
        assert_eq!(prod.listeners.imaps.map(|a| a.port()), Some(993));
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let e = load("hostname = \"x\"\ncapture_account = \"c@x\"\n[tls]\ncertificate = \"a\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("certificate") && e.contains("line 4"), "{e}");
        let e = load("hostname = \n").unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
    }

    #[test]
    fn demo_accounts_need_loopback() {
        let e = load(
            "capture_account = \"c@x\"\n[listeners]\nimap = \"0.0.0.0:143\"\n[[demo_account]]\naddress = \"a@x\"\npassword = \"p\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("not on loopback"), "{e}");
    }

    #[test]
    fn relative_paths_resolve_against_config_folder() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path().canonicalize().expect("canonical tmp");
        let p = dir.path().join("m.toml");
        std::fs::write(&p, "outbound = \"reject\"\n").expect("write");
        let c = Config::load(&p).expect("load");
        assert_eq!(c.data_dir, root.join("data"));
        assert_eq!(c.tls.cert, root.join("certs/server.crt"));
        assert_eq!(c.file, root.join("m.toml"));
    }

    #[test]
    fn paths_are_shown_canonical() {
        // The layout of the repository: config/ next to certs/ (which may not exist yet).
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path().canonicalize().expect("canonical tmp");
        std::fs::create_dir(root.join("config")).expect("mkdir");
        let p = root.join("config/mailstack.toml");
        std::fs::write(
            &p,
            "outbound = \"reject\"\ndata_dir = \"../data\"\n[tls]\ncert = \"../certs/./server.crt\"\n\
             key = \"../certs/x/../server.key\"\n",
        )
        .expect("write");
        let c = Config::load(&p).expect("load");
        assert_eq!(c.data_dir, root.join("data"));
        assert_eq!(c.tls.cert, root.join("certs/server.crt"));
        assert_eq!(c.tls.key, root.join("certs/server.key"));
        // Also when the config is named relative to the working folder.
        assert_eq!(
            canonical(Path::new(".")),
            std::env::current_dir().expect("cwd")
        );
        assert_eq!(canonical(&root.join("a/b/../../c")), root.join("c"));
    }

    #[test]
    fn a_host_name_as_listener_address_gets_a_hint() {
        let e = load("outbound = \"reject\"\n[listeners]\nsmtp = \"localhost:4025\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 3")
                && e.contains("\"127.0.0.1:4025\"")
                && e.contains("not a host name"),
            "{e}"
        );
        let e = load("outbound = \"reject\"\n[listeners]\nimap = \"143\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("like \"127.0.0.1:3025\""), "{e}");
        let c = load("outbound = \"reject\"\n[listeners]\nimap = \"[::1]:3143\"\n").expect("v6");
        assert_eq!(c.listeners.imap, Some("[::1]:3143".parse().expect("addr")));
    }
}
