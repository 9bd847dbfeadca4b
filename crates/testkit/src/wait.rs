//! Waiting for a condition with a deadline instead of sleeping and hoping.
//!
//! A probe answers `Ok(value)` when the condition holds and `Err(observation)` when it does not
//! yet; on timeout the panic message carries the last observation, so a failure says what the
//! test saw instead of only "false".

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

/// First pause between two probes; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(5);
/// Longest pause between two probes.
const MAX_PAUSE: Duration = Duration::from_millis(100);

/// Polls `probe` until it returns `Ok` or `within` has passed; returns the value, or panics
/// with the last observation.
///
/// ```ignore
/// let n = eventually(Duration::from_secs(10), || async {
///     let n = stack.count(&alice, "INBOX");
///     if n == 2 { Ok(n) } else { Err(format!("{n} messages")) }
/// })
/// .await;
/// ```
pub async fn eventually<T, D, F, Fut>(within: Duration, probe: F) -> T
where
    D: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, D>>,
{
    match try_eventually(within, probe).await {
        Ok(v) => v,
        Err(seen) => panic!("condition not met within {within:?}; last saw: {seen:?}"),
    }
}

/// [`eventually`] that returns the last observation instead of panicking.
pub async fn try_eventually<T, D, F, Fut>(within: Duration, mut probe: F) -> Result<T, D>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, D>>,
{
    let deadline = tokio::time::Instant::now() + within;
    let mut pause = FIRST_PAUSE;
    loop {
        let seen = match probe().await {
            Ok(v) => return Ok(v),
            Err(seen) => seen,
        };
        if tokio::time::Instant::now() + pause > deadline {
            return Err(seen);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// Whether `fut` is still pending after `window` (it is polled meanwhile, so one that
/// completes early is seen at once). For checks that something does *not* happen: there is no
/// event to wait for, so the window is the claim; wait for the real event that comes before
/// it (a subscription, a login) with [`eventually`] first.
pub async fn pending_for<F: Future + Unpin>(fut: &mut F, window: Duration) -> bool {
    tokio::time::timeout(window, fut).await.is_err()
}

/// [`eventually`] for tests without a runtime (blocking probes: a process's log, its exit).
pub fn eventually_blocking<T, D, F>(within: Duration, probe: F) -> T
where
    D: Debug,
    F: FnMut() -> Result<T, D>,
{
    match try_eventually_blocking(within, probe) {
        Ok(v) => v,
        Err(seen) => panic!("condition not met within {within:?}; last saw: {seen:?}"),
    }
}

/// [`eventually_blocking`] that returns the last observation instead of panicking.
pub fn try_eventually_blocking<T, D, F>(within: Duration, mut probe: F) -> Result<T, D>
where
    F: FnMut() -> Result<T, D>,
{
    let deadline = Instant::now() + within;
    let mut pause = FIRST_PAUSE;
    loop {
        let seen = match probe() {
            Ok(v) => return Ok(v),
            Err(seen) => seen,
        };
        if Instant::now() + pause > deadline {
            return Err(seen);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn returns_the_value_once_the_probe_succeeds() {
        let mut n = 0;
        let v = eventually(Duration::from_secs(5), || {
            n += 1;
            let now = n;
            async move {
                if now >= 3 {
                    Ok(now)
                } else {
                    Err(now)
                }
            }
        })
        .await;
        assert_eq!(v, 3);
    }

    #[tokio::test]
    async fn reports_the_last_observation() {
        let r: Result<(), &str> =
            try_eventually(Duration::from_millis(50), || async { Err("still 0") }).await;
        assert_eq!(r, Err("still 0"));
    }

    #[test]
    #[should_panic(expected = "last saw: 7")]
    fn blocking_panics_with_what_it_saw() {
        eventually_blocking(Duration::from_millis(30), || Err::<(), _>(7));
    }
}
