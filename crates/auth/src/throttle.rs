//! Failed-login throttling (docs/spec.md §4, §8): per client address + account, growing delay after
//! 3 failures, then temporary refusal; a client address failing across many accounts is
//! refused too. Counters decay after `WINDOW`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures before answers are delayed.
pub const FREE_FAILURES: u32 = 3;
/// Failures (address + account) before attempts are refused outright.
pub const REFUSE_AFTER: u32 = 10;
/// Failures from one address across all accounts before it is refused.
pub const REFUSE_ADDRESS_AFTER: u32 = 30;
/// How long failures are remembered.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
const MAX_DELAY: Duration = Duration::from_secs(4);
/// Entries per table. Past it, expired entries go first, then the older half: memory stays
/// bounded even when failures come from millions of (IPv6) addresses. Forgetting the oldest
/// entries under such a flood loosens the throttle for them, never locks anyone out.
pub const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub(crate) struct Throttle {
    pairs: Mutex<HashMap<(IpAddr, String), Entry>>,
    addrs: Mutex<HashMap<IpAddr, Entry>>,
}

/// What a failure just locked out (docs/spec.md §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lockout {
    /// This client address, for this account ([`REFUSE_AFTER`] failures).
    Account,
    /// This client address, for every account ([`REFUSE_ADDRESS_AFTER`] failures).
    Address,
}

#[derive(Clone, Copy)]
struct Entry {
    failures: u32,
    last: Instant,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn live(e: Option<&Entry>) -> u32 {
    match e {
        Some(e) if e.last.elapsed() < WINDOW => e.failures,
        _ => 0,
    }
}

impl Throttle {
    /// `Some(retry_after)` when this attempt must be refused without checking the password.
    pub(crate) fn refused(&self, ip: IpAddr, account: &str) -> Option<Duration> {
        let pairs = lock(&self.pairs);
        let key = (ip, account.to_string());
        if live(pairs.get(&key)) >= REFUSE_AFTER {
            return pairs
                .get(&key)
                .map(|e| WINDOW.saturating_sub(e.last.elapsed()));
        }
        drop(pairs);
        let addrs = lock(&self.addrs);
        if live(addrs.get(&ip)) >= REFUSE_ADDRESS_AFTER {
            return addrs
                .get(&ip)
                .map(|e| WINDOW.saturating_sub(e.last.elapsed()));
        }
        None
    }

    /// How long to hold this attempt's answer back.
    pub(crate) fn delay(&self, ip: IpAddr, account: &str) -> Duration {
        let n = live(lock(&self.pairs).get(&(ip, account.to_string())));
        if n < FREE_FAILURES {
            return Duration::ZERO;
        }
        let ms = 250u64 << (n - FREE_FAILURES).min(8);
        Duration::from_millis(ms).min(MAX_DELAY)
    }

    /// Counts a failure; says whether this one locked the pair or the whole client address
    /// out (once, at the failure that reached the threshold), for the log.
    pub(crate) fn failure(&self, ip: IpAddr, account: &str) -> Option<Lockout> {
        let now = Instant::now();
        let mut pairs = lock(&self.pairs);
        prune(&mut pairs);
        let key = (ip, account.to_string());
        let pair_failures = live(pairs.get(&key)) + 1;
        pairs.insert(
            key,
            Entry {
                failures: pair_failures,
                last: now,
            },
        );
        drop(pairs);
        let mut addrs = lock(&self.addrs);
        prune(&mut addrs);
        let addr_failures = live(addrs.get(&ip)) + 1;
        addrs.insert(
            ip,
            Entry {
                failures: addr_failures,
                last: now,
            },
        );
        if addr_failures == REFUSE_ADDRESS_AFTER {
            Some(Lockout::Address)
        } else if pair_failures == REFUSE_AFTER {
            Some(Lockout::Account)
        } else {
            None
        }
    }

    /// Forgets the pair's failures; says whether there were any.
    pub(crate) fn success(&self, ip: IpAddr, account: &str) -> bool {
        lock(&self.pairs)
            .remove(&(ip, account.to_string()))
            .is_some()
    }
}

/// The topic login outcomes travel on between the nodes of a shared store.
const TOPIC: &str = "auth-throttle";

/// What a node tells the others about a login.
#[derive(Clone, Copy)]
pub(crate) enum Told {
    Failure,
    Success,
}

/// Several nodes on one database (docs/architecture.md §12.3): every node counts every
/// node's failures, so a client locked out on one is locked out on all, and a success
/// anywhere clears the pair everywhere. (A node that starts later begins with empty
/// counters: the window is 15 minutes, and a client must fail again to be locked out.)
pub(crate) fn tell_other_nodes(store: &store::Store, what: Told, ip: IpAddr, account: &str) {
    let tag = match what {
        Told::Failure => 'F',
        Told::Success => 'S',
    };
    if let Err(e) = store.cluster_send(TOPIC, format!("{tag} {ip} {account}").as_bytes()) {
        tracing::warn!("telling the other nodes of a login: {e}");
    }
}

/// Applies the other nodes' login outcomes to `throttle`, for as long as both live.
pub(crate) fn follow_other_nodes(store: &store::Store, throttle: &std::sync::Arc<Throttle>) {
    let Some(mut rx) = store.cluster_subscribe() else {
        return;
    };
    let throttle = std::sync::Arc::downgrade(throttle);
    let spawned = std::thread::Builder::new()
        .name("auth-throttle".into())
        .spawn(move || loop {
            let (topic, body) = match rx.blocking_recv() {
                Ok(m) => m,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            let Some(t) = throttle.upgrade() else { return };
            if topic != TOPIC {
                continue;
            }
            let text = String::from_utf8_lossy(&body);
            let mut parts = text.splitn(3, ' ');
            let (Some(tag), Some(ip), Some(account)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let Ok(ip) = ip.parse::<IpAddr>() else {
                continue;
            };
            match tag {
                "F" => {
                    t.failure(ip, account);
                }
                "S" => {
                    t.success(ip, account);
                }
                _ => {}
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("cannot follow the other nodes' logins: {e}");
    }
}

/// Keeps a table under [`MAX_ENTRIES`] (amortized: it runs in full only when the table is full,
/// and then halves it at least).
fn prune<K: Eq + std::hash::Hash>(map: &mut HashMap<K, Entry>) {
    if map.len() < MAX_ENTRIES {
        return;
    }
    map.retain(|_, e| e.last.elapsed() < WINDOW);
    if map.len() >= MAX_ENTRIES / 2 {
        let mut lasts: Vec<Instant> = map.values().map(|e| e.last).collect();
        let mid = lasts.len() / 2;
        let (_, cut, _) = lasts.select_nth_unstable(mid);
        let cut = *cut;
        map.retain(|_, e| e.last > cut);
    }
}

/// The account part of a throttle key: a normalized address, or one shared key for names
/// that cannot be an account (so junk user names cannot grow the table by their length).
pub(crate) fn account_key(username: &str) -> String {
    crate::normalize_address(username).unwrap_or_else(|_| "<invalid>".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_refuses_per_pair() {
        let t = Throttle::default();
        let ip: IpAddr = [10, 0, 0, 1].into();
        let other: IpAddr = [10, 0, 0, 2].into();
        for _ in 0..FREE_FAILURES {
            assert_eq!(t.delay(ip, "a@x"), Duration::ZERO);
            t.failure(ip, "a@x");
        }
        let d1 = t.delay(ip, "a@x");
        t.failure(ip, "a@x");
        assert!(t.delay(ip, "a@x") > d1);
        let lockouts: Vec<_> = (0..REFUSE_AFTER)
            .filter_map(|_| t.failure(ip, "a@x"))
            .collect();
        assert_eq!(lockouts, [Lockout::Account], "told once, at the threshold");
        assert!(t.refused(ip, "a@x").is_some());
        assert!(
            t.refused(other, "a@x").is_none(),
            "another address is not locked out"
        );
        assert!(t.refused(ip, "b@x").is_none());
        t.success(ip, "a@x");
        assert!(t.refused(ip, "a@x").is_none());
    }

    #[test]
    fn an_address_failing_across_accounts_is_locked_out_once() {
        let t = Throttle::default();
        let ip: IpAddr = [10, 0, 0, 3].into();
        let lockouts: Vec<_> = (0..REFUSE_ADDRESS_AFTER + 5)
            .filter_map(|i| t.failure(ip, &format!("user{i}@x")))
            .collect();
        assert_eq!(lockouts, [Lockout::Address]);
        assert!(t.refused(ip, "new@x").is_some());
    }

    #[test]
    fn tables_stay_bounded_under_many_addresses() {
        let t = Throttle::default();
        for i in 0..(MAX_ENTRIES as u32 + 5_000) {
            let ip = IpAddr::from(std::net::Ipv6Addr::from(u128::from(i) << 64));
            t.failure(ip, "a@x");
        }
        assert!(lock(&t.pairs).len() <= MAX_ENTRIES);
        assert!(lock(&t.addrs).len() <= MAX_ENTRIES);
        // The most recent offender is still remembered.
        let last = IpAddr::from(std::net::Ipv6Addr::from(
            u128::from(MAX_ENTRIES as u32 + 4_999) << 64,
        ));
        assert_eq!(live(lock(&t.pairs).get(&(last, "a@x".to_string()))), 1);
    }

    #[test]
    fn junk_user_names_share_one_key() {
        assert_eq!(account_key("Alice@Example.test"), "alice@example.test");
        assert_eq!(account_key(&"x".repeat(60_000)), "<invalid>");
    }
}
