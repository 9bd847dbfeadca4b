//! Accounts and authentication shared by POP3, IMAP and SMTP: address normalization, argon2id
//! hashing (off the async workers), password policy, SASL PLAIN/LOGIN decoding, failed-login
//! throttling and a short-lived verified-credential cache.
//!
//! # Layout
//! - [`secret`]: `Secret<T>`, whose `Debug`/`Display` print `<redacted>`.
//! - [`sasl`]: the one SASL PLAIN / LOGIN decoder all three protocols use.
//! - `policy`: password rules (docs/spec.md §4).
//! - `throttle`: failed-login accounting per client address and account.
//! - `cache`: verified-credential cache keyed by a keyed hash, never the password.
//!
//! # Invariants
//! - Unknown user and wrong password do the same argon2 work and return the same error.
//! - A throttled attempt is refused without checking the password, so its answer never
//!   reveals whether the password was right.
//! - Changing a password invalidates cached credentials at once (the cache also re-checks the
//!   stored hash on every hit).
//! - Every attempt through [`Auth::login`] is logged once, under target [`LOG_TARGET`], with
//!   address, client IP, protocol and mechanism, never the password (docs/spec.md §7.4).
#![forbid(unsafe_code)]

mod cache;
mod policy;
pub mod sasl;
pub mod secret;
mod throttle;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
pub use policy::{check_password_policy, check_test_password_policy};
pub use secret::Secret;
use store::{Account, Store};

/// Errors of account management and login.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Wrong user name or password (deliberately the same for both).
    #[error("invalid credentials")]
    Failed,
    /// Too many failures from this client for this account; retry later.
    #[error("too many failed logins; try again in {} seconds", .0.as_secs().max(1))]
    Throttled(Duration),
    #[error("{0}")]
    Policy(String),
    #[error("invalid address: {0}")]
    InvalidAddress(&'static str),
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Settings from the `[auth]` config table.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub min_password_length: usize,
    /// argon2id memory in KiB (default 19456, OWASP's recommendation).
    pub argon2_memory_kib: u32,
    /// argon2id iterations (default 2).
    pub argon2_iterations: u32,
    /// How long a verified credential is reused without argon2.
    pub cache_ttl: Duration,
    /// The test policy of `serve --ephemeral` (any non-empty password) instead of the real
    /// one (docs/spec.md §4.3, §7.2).
    pub test_password_policy: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            min_password_length: 12,
            argon2_memory_kib: 19456,
            argon2_iterations: 2,
            cache_ttl: Duration::from_secs(300),
            test_password_policy: false,
        }
    }
}

impl AuthConfig {
    /// Cheap parameters for tests (argon2 still runs, just small).
    pub fn for_tests() -> Self {
        AuthConfig {
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            ..Default::default()
        }
    }
}

/// Cheap-clone handle (Arc inside).
#[derive(Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    config: AuthConfig,
    argon: Argon2<'static>,
    /// Hash verified when the user does not exist, so both paths cost the same.
    dummy_hash: String,
    /// argon2 verifications run so far (tests: an unknown user costs one, like a wrong
    /// password).
    verifications: std::sync::atomic::AtomicU64,
    throttle: Arc<throttle::Throttle>,
    cache: cache::CredentialCache,
}

/// Normalizes an address: trimmed, angle brackets removed, lower-cased. docs/spec.md §4 requires the
/// domain to be case-insensitive; we fold the local part too, as users expect
/// (`Alice@` and `alice@` are one mailbox) and as Postfix's lookup tables do.
pub fn normalize_address(address: &str) -> Result<String, AuthError> {
    let a = address.trim();
    let a = a
        .strip_prefix('<')
        .and_then(|x| x.strip_suffix('>'))
        .unwrap_or(a);
    let Some((local, domain)) = a.rsplit_once('@') else {
        return Err(AuthError::InvalidAddress(
            "an address needs a local part and a domain: user@domain",
        ));
    };
    if local.is_empty() || domain.is_empty() {
        return Err(AuthError::InvalidAddress(
            "an address needs a local part and a domain: user@domain",
        ));
    }
    if a.len() > 254 || a.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(AuthError::InvalidAddress(
            "addresses are at most 254 bytes without spaces",
        ));
    }
    Ok(format!(
        "{}@{}",
        local.to_lowercase(),
        domain.to_lowercase()
    ))
}

impl Auth {
    pub fn new(store: Store, config: AuthConfig) -> Result<Auth, AuthError> {
        let params = Params::new(config.argon2_memory_kib, config.argon2_iterations, 1, None)
            .map_err(|e| AuthError::Hash(e.to_string()))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy_hash = hash_with(&argon, "mailstack dummy password for timing")?;
        let cache = cache::CredentialCache::new(config.cache_ttl, &dummy_hash);
        let throttle = Arc::new(throttle::Throttle::default());
        throttle::follow_other_nodes(&store, &throttle);
        Ok(Auth {
            inner: Arc::new(Inner {
                store,
                config,
                argon,
                dummy_hash,
                verifications: Default::default(),
                throttle,
                cache,
            }),
        })
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn config(&self) -> &AuthConfig {
        &self.inner.config
    }

    /// The password policy in force for `address` (normalized): the real one of docs/spec.md
    /// §4.3, or the test policy of `serve --ephemeral`. `Err` names the rule that failed.
    pub fn check_policy(&self, address: &str, password: &str) -> Result<(), String> {
        if self.inner.config.test_password_policy {
            check_test_password_policy(password)
        } else {
            check_password_policy(address, password, self.inner.config.min_password_length)
        }
    }

    /// Normalizes the address, applies the password policy (docs/spec.md §4) and hashes: the one
    /// path every password set or change goes through.
    async fn vetted_hash(
        &self,
        address: &str,
        password: &Secret<String>,
    ) -> Result<(String, String), AuthError> {
        let address = normalize_address(address)?;
        self.check_policy(&address, password.expose())
            .map_err(AuthError::Policy)?;
        let hash = self.hash(password).await?;
        Ok((address, hash))
    }

    /// Creates an account after checking the password policy.
    pub async fn add_user(
        &self,
        address: &str,
        password: &Secret<String>,
        quota_bytes: Option<u64>,
    ) -> Result<Account, AuthError> {
        let (address, hash) = self.vetted_hash(address, password).await?;
        Ok(self
            .inner
            .store
            .create_account(&address, &hash, quota_bytes)
            .await?)
    }

    /// Changes a password (policy checked); takes effect for every protocol at once.
    pub async fn set_password(
        &self,
        address: &str,
        password: &Secret<String>,
    ) -> Result<(), AuthError> {
        let (address, hash) = self.vetted_hash(address, password).await?;
        let account = self
            .inner
            .store
            .update_account(&address, |a| a.password = hash.clone())
            .await?;
        self.inner.cache.forget_account(account.id);
        Ok(())
    }

    /// Verifies a login for a caller that has no protocol to name (tests, tools); daemons call
    /// [`Auth::login`] so the log line says which protocol and mechanism failed.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &Secret<String>,
        client: IpAddr,
    ) -> Result<Account, AuthError> {
        let from = LoginFrom {
            ip: client,
            protocol: "unspecified",
            mechanism: "unspecified",
        };
        self.login(username, password, &from).await
    }

    /// Verifies a login from `from` (throttled per client address + account, docs/spec.md
    /// §4.5) and logs its outcome: the one place every protocol's login is logged, so the
    /// line is the same for IMAP, POP3, SMTP and HTTP (docs/spec.md §7.4). Failures are INFO,
    /// lockouts and refused attempts WARN, successes DEBUG; the password never appears.
    pub async fn login(
        &self,
        username: &str,
        password: &Secret<String>,
        from: &LoginFrom,
    ) -> Result<Account, AuthError> {
        let result = self.verify_login(username, password, from.ip).await;
        log_login(username, from, &result);
        result.map_err(|f| f.error)
    }

    /// The login itself: throttle, cache, argon2. A failure carries what the log says about
    /// it.
    async fn verify_login(
        &self,
        username: &str,
        password: &Secret<String>,
        client: IpAddr,
    ) -> Result<Account, LoginFailure> {
        // Bounded key: an invalid name cannot be an account, and must not bloat the table.
        let address = throttle::account_key(username);
        let throttle = &self.inner.throttle;
        if let Some(wait) = throttle.refused(client, &address) {
            // Never check the password of a throttled attempt.
            tokio::time::sleep(Duration::from_secs(1)).await;
            return Err(LoginFailure::throttled(wait));
        }
        let delay = throttle.delay(client, &address);
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let account = self
            .inner
            .store
            .account(&address)
            .map_err(LoginFailure::other)?;
        if let Some(a) = &account {
            if self.inner.cache.check(&address, password.expose(), a) {
                self.login_succeeded(client, &address);
                return Ok(a.clone());
            }
        }
        let stored = account.as_ref().map(|a| a.password.clone());
        let ok = self
            .verify(
                stored.unwrap_or_else(|| self.inner.dummy_hash.clone()),
                password,
            )
            .await
            .map_err(LoginFailure::other)?;
        match account {
            Some(a) if ok => {
                self.login_succeeded(client, &address);
                self.inner.cache.insert(&address, password.expose(), &a);
                Ok(a)
            }
            known => {
                throttle::tell_other_nodes(self.store(), throttle::Told::Failure, client, &address);
                Err(LoginFailure {
                    error: AuthError::Failed,
                    unknown_user: known.is_none(),
                    lockout: throttle.failure(client, &address),
                })
            }
        }
    }

    /// Whether a login of `username` from `client` is refused now without a password check
    /// (tests of the throttle across nodes wait on it).
    #[doc(hidden)]
    pub fn is_throttled(&self, username: &str, client: IpAddr) -> bool {
        let address = throttle::account_key(username);
        self.inner.throttle.refused(client, &address).is_some()
    }

    /// Clears the throttle of (client, address), on every node when it had failures here.
    fn login_succeeded(&self, client: IpAddr, address: &str) {
        if self.inner.throttle.success(client, address) {
            throttle::tell_other_nodes(self.store(), throttle::Told::Success, client, address);
        }
    }

    /// argon2 verifications run so far, and the PHC parameters of the hash an unknown user is
    /// checked against (tests of docs/spec.md §4 "same answer, same time").
    #[doc(hidden)]
    pub fn verification_stats(&self) -> (u64, String) {
        let params = self
            .inner
            .dummy_hash
            .split('$')
            .nth(3)
            .unwrap_or_default()
            .to_string();
        (
            self.inner
                .verifications
                .load(std::sync::atomic::Ordering::Relaxed),
            params,
        )
    }

    /// docs/spec.md §6: the envelope sender must be one of the account's addresses.
    pub fn may_send_as(&self, account: &Account, from: &str) -> bool {
        match normalize_address(from) {
            Ok(f) => f == account.address || account.aliases.contains(&f),
            Err(_) => false,
        }
    }

    /// Hashes a password on the blocking pool.
    pub async fn hash(&self, password: &Secret<String>) -> Result<String, AuthError> {
        let this = self.clone();
        let pw = password.clone();
        tokio::task::spawn_blocking(move || hash_with(&this.inner.argon, pw.expose()))
            .await
            .map_err(|e| AuthError::Hash(e.to_string()))?
    }

    async fn verify(&self, phc: String, password: &Secret<String>) -> Result<bool, AuthError> {
        self.inner
            .verifications
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let this = self.clone();
        let pw = password.clone();
        tokio::task::spawn_blocking(move || {
            this.inner
                .argon
                .verify_password(pw.expose().as_bytes(), phc.as_str())
                .is_ok()
        })
        .await
        .map_err(|e| AuthError::Hash(e.to_string()))
    }
}

/// Where a login comes from: the client address (throttling) and, for the log line, the
/// protocol and mechanism (docs/spec.md §7.4).
#[derive(Debug, Clone, Copy)]
pub struct LoginFrom {
    pub ip: IpAddr,
    /// `imap`, `pop3`, `smtp`, `http`.
    pub protocol: &'static str,
    /// `PLAIN` or `LOGIN` (SASL), `LOGIN command` (IMAP), `USER/PASS` (POP3), `password
    /// change` (HTTP).
    pub mechanism: &'static str,
}

/// A failed login with what the log says about it (never sent to the client: the client
/// gets the same answer for an unknown user and a wrong password).
struct LoginFailure {
    error: AuthError,
    unknown_user: bool,
    lockout: Option<throttle::Lockout>,
}

impl LoginFailure {
    fn throttled(wait: Duration) -> LoginFailure {
        LoginFailure {
            error: AuthError::Throttled(wait),
            unknown_user: false,
            lockout: None,
        }
    }

    fn other(e: impl Into<AuthError>) -> LoginFailure {
        LoginFailure {
            error: e.into(),
            unknown_user: false,
            lockout: None,
        }
    }
}

/// The log target of login lines: `RUST_LOG=mailstack::auth=debug` shows successes too.
pub const LOG_TARGET: &str = "mailstack::auth";

/// Longest user name shown in a log line; what a client sends is cut there (and escaped by
/// the formatter), so junk names cannot flood or forge log lines.
const LOGGED_NAME_MAX: usize = 100;

/// One line per login attempt (docs/spec.md §7.4): address, client IP, protocol, mechanism;
/// never the password.
fn log_login(username: &str, from: &LoginFrom, result: &Result<Account, LoginFailure>) {
    let (ip, protocol, mechanism) = (from.ip, from.protocol, from.mechanism);
    let shown = match normalize_address(username) {
        Ok(a) => a,
        Err(_) => username.chars().take(LOGGED_NAME_MAX).collect(),
    };
    let address = shown.as_str();
    match result {
        Ok(account) => tracing::debug!(
            target: LOG_TARGET,
            address = account.address.as_str(),
            %ip,
            protocol,
            mechanism,
            "login succeeded"
        ),
        Err(LoginFailure {
            error: AuthError::Throttled(wait),
            ..
        }) => tracing::warn!(
            target: LOG_TARGET,
            address,
            %ip,
            protocol,
            mechanism,
            retry_after_secs = wait.as_secs().max(1),
            "login refused: too many failed logins from this address (password not checked)"
        ),
        Err(LoginFailure {
            error: AuthError::Failed,
            unknown_user,
            lockout,
        }) => {
            let reason = if *unknown_user {
                "no such account"
            } else {
                "wrong password"
            };
            tracing::info!(target: LOG_TARGET, address, %ip, protocol, mechanism, reason, "login failed");
            let minutes = throttle::WINDOW.as_secs() / 60;
            match lockout {
                Some(throttle::Lockout::Account) => tracing::warn!(
                    target: LOG_TARGET,
                    address,
                    %ip,
                    protocol,
                    mechanism,
                    failures = throttle::REFUSE_AFTER,
                    "locked out: {ip} may not log in as {address} for {minutes} minutes"
                ),
                Some(throttle::Lockout::Address) => tracing::warn!(
                    target: LOG_TARGET,
                    address,
                    %ip,
                    protocol,
                    mechanism,
                    failures = throttle::REFUSE_ADDRESS_AFTER,
                    "locked out: {ip} failed across accounts and may not log in for {minutes} minutes"
                ),
                None => {}
            }
        }
        Err(LoginFailure { error, .. }) => tracing::error!(
            target: LOG_TARGET,
            address,
            %ip,
            protocol,
            mechanism,
            "login could not be checked: {error}"
        ),
    }
}

/// A random token of `bytes` random bytes as lowercase hex (admin tokens, throw-away
/// passwords), from the operating system's generator.
pub fn random_token(bytes: usize) -> Result<String, AuthError> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| AuthError::Hash(format!("no randomness: {e}")))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

fn hash_with(argon: &Argon2<'_>, password: &str) -> Result<String, AuthError> {
    let hash: Result<PasswordHash, _> = argon.hash_password(password.as_bytes());
    hash.map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}
