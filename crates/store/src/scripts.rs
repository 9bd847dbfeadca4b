//! Sieve scripts of an account (what ManageSieve, RFC 5804, manages) and the vacation reply
//! records (RFC 5230 §4.2: one reply per sender and handle per period).
//!
//! Tree `sieve`, keys prefixed with the account id (8 bytes) and a kind byte:
//! - `account ‖ 's' ‖ name` → the script's text (UTF-8);
//! - `account ‖ 'a'` → the active script's name (absent: no active script);
//! - `account ‖ 'v' ‖ handle ‖ 0x00 ‖ sender` → when the period of the last reply ends
//!   (unix seconds, big-endian u64).
//!
//! The store checks names and the per-account limits; the text is checked by the caller
//! (the `sieve` crate's parser) before it is stored.

use crate::backend::TreeId;
use crate::keys;
use crate::model::AccountId;
use crate::tx::{abort, Tx, TxResult};
use crate::{Error, Result, Store};

/// At most this many scripts per account (RFC 5804 §2.3 `QUOTA/MAXSCRIPTS`).
pub const MAX_SCRIPTS: usize = 32;
/// At most this many bytes per script (RFC 5804 §2.3 `QUOTA/MAXSIZE`).
pub const MAX_SCRIPT_BYTES: usize = 128 * 1024;
/// At most this many characters in a script name.
pub const MAX_NAME_CHARS: usize = 128;

const SCRIPT: u8 = b's';
const ACTIVE: u8 = b'a';
const VACATION: u8 = b'v';

/// Why a script operation was refused; each maps to one RFC 5804 response code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ScriptError {
    /// `NONEXISTENT` (RFC 5804 §1.3).
    #[error("there is no script by that name")]
    NoSuchScript,
    /// `ALREADYEXISTS`.
    #[error("a script by that name already exists")]
    Exists,
    /// `ACTIVE`: the active script cannot be deleted.
    #[error("the active script cannot be deleted; deactivate it first")]
    Active,
    /// `QUOTA/MAXSCRIPTS`.
    #[error("too many scripts (at most 32)")]
    TooMany,
    /// `QUOTA/MAXSIZE`.
    #[error("script too large (at most 128 KiB)")]
    TooLarge,
    /// RFC 5804 §1.6: empty, too long, or with control characters.
    #[error("invalid script name")]
    BadName,
}

/// A script as listed (RFC 5804 §2.7 LISTSCRIPTS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptInfo {
    pub name: String,
    pub active: bool,
    pub bytes: usize,
}

/// RFC 5804 §1.6: a script name is non-empty UTF-8 without control characters (U+0000–U+001F,
/// U+007F–U+009F) or line/paragraph separators (U+2028, U+2029).
pub fn check_script_name(name: &str) -> Result<(), ScriptError> {
    let bad = |c: char| c.is_control() || c == '\u{2028}' || c == '\u{2029}';
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(bad) {
        return Err(ScriptError::BadName);
    }
    Ok(())
}

fn key(account: AccountId, kind: u8, rest: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + rest.len());
    k.extend_from_slice(&keys::account(account));
    k.push(kind);
    k.extend_from_slice(rest);
    k
}

fn script_key(account: AccountId, name: &str) -> Vec<u8> {
    key(account, SCRIPT, name.as_bytes())
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl Store {
    /// The account's scripts in name order (RFC 5804 §2.7).
    pub fn sieve_scripts(&self, account: AccountId) -> Result<Vec<ScriptInfo>> {
        let active = self.active_sieve_name(account)?;
        let prefix = key(account, SCRIPT, b"");
        self.inner
            .db
            .scan_prefix(TreeId::Sieve, &prefix)
            .map(|kv| {
                let (k, v) = kv?;
                let name = text(&k[prefix.len()..]);
                Ok(ScriptInfo {
                    active: active.as_deref() == Some(name.as_str()),
                    name,
                    bytes: v.len(),
                })
            })
            .collect()
    }

    /// One script's text (RFC 5804 §2.9 GETSCRIPT).
    pub fn sieve_script(&self, account: AccountId, name: &str) -> Result<Option<String>> {
        let v = self
            .inner
            .db
            .get(TreeId::Sieve, script_key(account, name))?;
        Ok(v.map(|v| text(&v)))
    }

    /// The active script's name and text, if the account has one: what delivery runs.
    pub fn active_sieve_script(&self, account: AccountId) -> Result<Option<(String, String)>> {
        let Some(name) = self.active_sieve_name(account)? else {
            return Ok(None);
        };
        Ok(self.sieve_script(account, &name)?.map(|t| (name, t)))
    }

    fn active_sieve_name(&self, account: AccountId) -> Result<Option<String>> {
        let v = self
            .inner
            .db
            .get(TreeId::Sieve, key(account, ACTIVE, b""))?;
        Ok(v.map(|v| text(&v)))
    }

    /// Whether `name` with `bytes` bytes would fit (RFC 5804 §2.3 HAVESPACE).
    pub fn sieve_have_space(
        &self,
        account: AccountId,
        name: &str,
        bytes: usize,
    ) -> Result<Result<(), ScriptError>> {
        if let Err(e) = check_script_name(name) {
            return Ok(Err(e));
        }
        if bytes > MAX_SCRIPT_BYTES {
            return Ok(Err(ScriptError::TooLarge));
        }
        let scripts = self.sieve_scripts(account)?;
        if scripts.len() >= MAX_SCRIPTS && !scripts.iter().any(|s| s.name == name) {
            return Ok(Err(ScriptError::TooMany));
        }
        Ok(Ok(()))
    }

    /// Stores (creates or replaces) a script (RFC 5804 §2.6 PUTSCRIPT); `activate` also makes
    /// it the active one in the same transaction (what `mailstack forward`/`vacation` do).
    pub async fn put_sieve_script(
        &self,
        account: AccountId,
        name: &str,
        script: &str,
        activate: bool,
    ) -> Result<()> {
        check_script_name(name).map_err(Error::Script)?;
        if script.len() > MAX_SCRIPT_BYTES {
            return Err(Error::Script(ScriptError::TooLarge));
        }
        let count = self.sieve_scripts(account)?.len();
        self.sieve_write(account, |tx| {
            let k = script_key(account, name);
            if tx.sieve.get(&k)?.is_none() && count >= MAX_SCRIPTS {
                return abort(Error::Script(ScriptError::TooMany));
            }
            tx.sieve.insert(k, script.as_bytes())?;
            if activate {
                tx.sieve
                    .insert(key(account, ACTIVE, b""), name.as_bytes())?;
            }
            Ok(())
        })
        .await
    }

    /// Makes `name` the active script, or deactivates every script with `None` (RFC 5804
    /// §2.8 SETACTIVE with an empty name).
    pub async fn set_active_sieve_script(
        &self,
        account: AccountId,
        name: Option<&str>,
    ) -> Result<()> {
        self.sieve_write(account, |tx| {
            let active = key(account, ACTIVE, b"");
            match name {
                None => {
                    tx.sieve.remove(active)?;
                }
                Some(n) => {
                    if tx.sieve.get(script_key(account, n))?.is_none() {
                        return abort(Error::Script(ScriptError::NoSuchScript));
                    }
                    tx.sieve.insert(active, n.as_bytes())?;
                }
            }
            Ok(())
        })
        .await
    }

    /// Deletes a script; the active one is refused (RFC 5804 §2.10).
    pub async fn delete_sieve_script(&self, account: AccountId, name: &str) -> Result<()> {
        self.sieve_write(account, |tx| {
            let k = script_key(account, name);
            if tx.sieve.get(&k)?.is_none() {
                return abort(Error::Script(ScriptError::NoSuchScript));
            }
            if is_active(tx, account, name)? {
                return abort(Error::Script(ScriptError::Active));
            }
            tx.sieve.remove(k)?;
            Ok(())
        })
        .await
    }

    /// Renames a script, keeping it active if it was (RFC 5804 §2.11.1).
    pub async fn rename_sieve_script(
        &self,
        account: AccountId,
        from: &str,
        to: &str,
    ) -> Result<()> {
        check_script_name(to).map_err(Error::Script)?;
        self.sieve_write(account, |tx| {
            let Some(body) = tx.sieve.get(script_key(account, from))? else {
                return abort(Error::Script(ScriptError::NoSuchScript));
            };
            let to_key = script_key(account, to);
            if tx.sieve.get(&to_key)?.is_some() {
                return abort(Error::Script(ScriptError::Exists));
            }
            let was_active = is_active(tx, account, from)?;
            tx.sieve.remove(script_key(account, from))?;
            tx.sieve.insert(to_key, &*body)?;
            if was_active {
                tx.sieve.insert(key(account, ACTIVE, b""), to.as_bytes())?;
            }
            Ok(())
        })
        .await
    }

    /// RFC 5230 §4.2: whether a vacation reply to `sender` under `handle` is due at `now`
    /// (none sent within the period), recording one for `period_secs` if so. The check and
    /// the record are one transaction under the account's writer lock, so two deliveries at
    /// once reply once. Expired records of the account are dropped on the way.
    pub async fn vacation_reply_due(
        &self,
        account: AccountId,
        handle: &str,
        sender: &str,
        period_secs: u64,
        now: u64,
    ) -> Result<bool> {
        let sender = sender.to_ascii_lowercase();
        let mut rest = handle.as_bytes().to_vec();
        rest.push(0);
        rest.extend_from_slice(sender.as_bytes());
        let k = key(account, VACATION, &rest);
        let expired: Vec<Vec<u8>> = self
            .inner
            .db
            .scan_prefix(TreeId::Sieve, key(account, VACATION, b""))
            .filter_map(|kv| kv.ok())
            .filter(|(key, v)| keys::read_u64(v) <= now && **key != *k)
            .map(|(key, _)| key.to_vec())
            .take(256)
            .collect();
        let due = std::sync::atomic::AtomicBool::new(false);
        self.sieve_write(account, |tx| {
            for old in &expired {
                tx.sieve.remove(old)?;
            }
            let until = tx.sieve.get(&k)?.map(|v| keys::read_u64(&v));
            let is_due = until.is_none_or(|u| u <= now);
            if is_due {
                let end = now.saturating_add(period_secs);
                tx.sieve.insert(&k, keys::id(end))?;
            }
            due.store(is_due, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        })
        .await?;
        Ok(due.into_inner())
    }

    /// One write to the account's sieve records, durable before it returns.
    async fn sieve_write(
        &self,
        account: AccountId,
        f: impl Fn(&Tx<'_>) -> TxResult<()>,
    ) -> Result<()> {
        let w = self.writer(account);
        {
            let _g = crate::lock(&w);
            self.transact(|tx| {
                if tx.account_ids.get(keys::account(account))?.is_none() {
                    return abort(Error::NoSuchAccount);
                }
                f(tx)
            })?;
        }
        self.sync().await
    }
}

fn is_active(tx: &Tx<'_>, account: AccountId, name: &str) -> TxResult<bool> {
    Ok(tx
        .sieve
        .get(key(account, ACTIVE, b""))?
        .is_some_and(|v| *v == *name.as_bytes()))
}

/// Every sieve key of an account (for deleting the account).
pub(crate) fn keys_of(store: &Store, account: AccountId) -> Result<Vec<crate::backend::Value>> {
    store
        .inner
        .db
        .scan_prefix(TreeId::Sieve, keys::account(account))
        .keys()
        .collect()
}
