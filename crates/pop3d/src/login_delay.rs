//! LOGIN-DELAY (RFC 2449 §6.5): the least time between two logins of one account. Off by
//! default (`[limits] pop3_login_delay = 0`); a provider sets it to stop a client from
//! polling every few seconds, and a teacher to show what a client does when told to wait.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The last successful login of each account, shared by every session of one listener set.
/// Entries older than the delay mean nothing and are dropped as the map is used, so it holds
/// at most the accounts that logged in within the last `delay`.
#[derive(Debug, Clone, Default)]
pub struct LoginTimes {
    last: Arc<Mutex<HashMap<store::AccountId, Instant>>>,
}

impl LoginTimes {
    /// Records a login of `account` now, unless its previous login was less than `delay` ago:
    /// then the time left to wait. A zero `delay` admits everything and records nothing.
    pub fn admit(&self, account: store::AccountId, delay: Duration) -> Result<(), Duration> {
        self.admit_at(account, delay, Instant::now())
    }

    fn admit_at(
        &self,
        account: store::AccountId,
        delay: Duration,
        now: Instant,
    ) -> Result<(), Duration> {
        if delay.is_zero() {
            return Ok(());
        }
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&at) = last.get(&account) {
            let since = now.duration_since(at);
            if since < delay {
                return Err(delay - since);
            }
        }
        if last.len() >= 1024 {
            last.retain(|_, at| now.duration_since(*at) < delay);
        }
        last.insert(account, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> store::AccountId {
        store::AccountId::new(n)
    }

    #[test]
    fn zero_admits_everything() {
        let t = LoginTimes::default();
        for _ in 0..3 {
            assert_eq!(t.admit(id(1), Duration::ZERO), Ok(()));
        }
    }

    #[test]
    fn a_second_login_within_the_delay_waits_and_after_it_is_admitted() {
        let t = LoginTimes::default();
        let d = Duration::from_secs(60);
        let start = Instant::now();
        assert_eq!(t.admit_at(id(1), d, start), Ok(()));
        let later = start + Duration::from_secs(20);
        assert_eq!(t.admit_at(id(1), d, later), Err(Duration::from_secs(40)));
        // Another account is not affected.
        assert_eq!(t.admit_at(id(2), d, later), Ok(()));
        // A refused login does not restart the clock.
        assert_eq!(t.admit_at(id(1), d, start + d), Ok(()));
        assert!(t.admit_at(id(1), d, start + d).is_err());
    }

    #[test]
    fn old_entries_are_dropped() {
        let t = LoginTimes::default();
        let d = Duration::from_secs(1);
        let start = Instant::now();
        for n in 0..1024 {
            assert_eq!(t.admit_at(id(n), d, start), Ok(()));
        }
        assert_eq!(t.admit_at(id(5000), d, start + d * 2), Ok(()));
        let len = t.last.lock().map(|m| m.len()).unwrap_or_default();
        assert_eq!(len, 1);
    }
}
