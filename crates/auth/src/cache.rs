//! Verified-credential cache: a reconnect storm (phones, IMAP clients opening five
//! connections) should not cost one argon2 hash each. Keyed by BLAKE2b(process-random key ‖
//! address ‖ password): the password itself is never stored. A hit still requires the stored
//! PHC string to be the one that was verified, so a password change is effective immediately.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use blake2::{Blake2b512, Digest};
use store::{Account, AccountId};

pub(crate) struct CredentialCache {
    ttl: Duration,
    key: [u8; 32],
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

struct Entry {
    account: AccountId,
    phc: String,
    at: Instant,
}

const MAX_ENTRIES: usize = 100_000;

impl CredentialCache {
    pub(crate) fn new(ttl: Duration, random: &str) -> Self {
        let mut key = [0u8; 32];
        let seed = format!(
            "{:?}{:?}{}",
            Instant::now(),
            std::time::SystemTime::now(),
            std::process::id()
        );
        let mut h = Blake2b512::new();
        h.update(seed.as_bytes());
        h.update(random.as_bytes()); // a fresh argon2 hash: carries a random salt
        key.copy_from_slice(&h.finalize()[..32]);
        CredentialCache {
            ttl,
            key,
            entries: Mutex::default(),
        }
    }

    fn digest(&self, address: &str, password: &str) -> [u8; 32] {
        let mut h = Blake2b512::new();
        h.update(self.key);
        h.update(address.as_bytes());
        h.update([0u8]);
        h.update(password.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(&h.finalize()[..32]);
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn check(&self, address: &str, password: &str, account: &Account) -> bool {
        if self.ttl.is_zero() {
            return false;
        }
        let d = self.digest(address, password);
        let map = self.lock();
        map.get(&d).is_some_and(|e| {
            e.account == account.id && e.phc == account.password && e.at.elapsed() < self.ttl
        })
    }

    pub(crate) fn insert(&self, address: &str, password: &str, account: &Account) {
        if self.ttl.is_zero() {
            return;
        }
        let d = self.digest(address, password);
        let mut map = self.lock();
        if map.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            map.retain(|_, e| e.at.elapsed() < ttl);
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(
            d,
            Entry {
                account: account.id,
                phc: account.password.clone(),
                at: Instant::now(),
            },
        );
    }

    pub(crate) fn forget_account(&self, account: AccountId) {
        self.lock().retain(|_, e| e.account != account);
    }
}
