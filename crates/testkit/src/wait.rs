//! Bounded polling. End-to-end tests wait for real things (a group becoming `available`, a
//! replica catching up); they poll with a deadline instead of sleeping a guessed time, so a
//! fast machine is not slowed down and a slow one does not fail spuriously.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::Error;

/// Calls `f` every `poll` until it returns `Some`, and returns that value.
///
/// `f` is called at least once, even with a zero `timeout`.
///
/// # Errors
/// [`Error::Timeout`] when `f` still returned `None` after `timeout`.
pub fn wait_until<T>(
    timeout: Duration,
    poll: Duration,
    mut f: impl FnMut() -> Option<T>,
) -> Result<T, Error> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = f() {
            return Ok(value);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::Timeout { timeout });
        }
        std::thread::sleep(poll.min(deadline - now));
    }
}

/// The async twin of [`wait_until`]: awaits `f()` every `poll` until it yields `Some`.
///
/// # Errors
/// [`Error::Timeout`] when `f` still yielded `None` after `timeout`.
///
/// # Cancel safety
/// Cancel safe as far as `f`'s futures are: dropping it stops polling.
pub async fn wait_until_async<T, F, Fut>(
    timeout: Duration,
    poll: Duration,
    mut f: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = f().await {
            return Ok(value);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::Timeout { timeout });
        }
        tokio::time::sleep(poll.min(deadline - now)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Goal: the value of the first successful poll is returned. Method: a counter that succeeds
    // on its third call.
    #[test]
    fn returns_first_some() {
        let mut calls = 0;
        let got = wait_until(Duration::from_secs(5), Duration::from_millis(1), || {
            calls += 1;
            (calls == 3).then_some(calls)
        });
        assert_eq!(got.unwrap(), 3);
    }

    // Goal: a condition that never holds ends with Timeout, after at least one call. Method: a
    // zero timeout.
    #[test]
    fn times_out() {
        let mut calls = 0;
        let got: Result<(), _> = wait_until(Duration::ZERO, Duration::from_millis(1), || {
            calls += 1;
            None
        });
        assert!(matches!(got, Err(Error::Timeout { .. })));
        assert_eq!(calls, 1);
    }

    // Goal: the async variant behaves the same. Method: succeed on the second call.
    #[tokio::test]
    async fn async_returns_first_some() {
        let mut calls = 0;
        let got = wait_until_async(Duration::from_secs(5), Duration::from_millis(1), || {
            calls += 1;
            let done = calls == 2;
            async move { done.then_some("ok") }
        })
        .await;
        assert_eq!(got.unwrap(), "ok");
    }
}
