//! Calling a server until it answers: exponential backoff with full jitter on the errors that
//! retrying can fix (no answer, 429, 5xx), honouring `Retry-After`.

use std::future::Future;
use std::time::Duration;

use super::client::CallError;
use super::error::ShipError;
use super::link::Link;

/// Calls `call` until it succeeds or fails for a reason that retrying cannot fix. While it
/// retries, the link shows the trouble; a `poke` of the link cuts a backoff short.
pub(crate) async fn retry<T, F, Fut>(
    link: &Link,
    what: &'static str,
    mut call: F,
) -> Result<T, ShipError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CallError>>,
{
    let mut backoff = Backoff::new();
    loop {
        match call().await {
            Ok(v) => {
                link.answered();
                return Ok(v);
            }
            Err(e) if e.is_transient() && link.has_failed() => {
                return Err(ShipError::Task(format!("given up while retrying: {e}")));
            }
            Err(e) if e.is_transient() => {
                let message = format!("cannot {what} on {}: {e}; retrying", link.base());
                if backoff.failures == 0 {
                    link.report(&message);
                }
                link.troubled(message);
                let wait = backoff.next(&e);
                let _ = tokio::time::timeout(wait, link.woken()).await;
            }
            Err(e) => {
                return Err(ShipError::Call {
                    what,
                    server: link.base().to_owned(),
                    error: e,
                });
            }
        }
    }
}

/// Calls `call` until it succeeds or fails for a reason that retrying cannot fix, with the same
/// backoff as [`retry`], for a call that belongs to no shipped run (registering a model). `call`
/// is given the number of attempts that failed before it. The caller bounds the whole (the
/// registry runs it under `block_on`'s timeout).
pub(crate) async fn retry_call<T, F, Fut>(mut call: F) -> Result<T, CallError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, CallError>>,
{
    let mut backoff = Backoff::new();
    loop {
        match call(backoff.failures).await {
            Err(e) if e.is_transient() => tokio::time::sleep(backoff.next(&e)).await,
            other => return other,
        }
    }
}

/// Exponential backoff with full jitter, from 100 ms up to 10 s, or what `Retry-After` says.
pub(crate) struct Backoff {
    pub(crate) failures: u32,
    seed: u64,
}

impl Backoff {
    pub(crate) fn new() -> Self {
        // Jitter exists to spread clients that failed together: processes started at the same
        // moment must not share a seed, so it comes from the operating system.
        let mut seed = [0u8; 8];
        if getrandom::fill(&mut seed).is_err() {
            seed =
                (u64::from(std::process::id()) << 32 | u64::from(std::process::id())).to_le_bytes();
        }
        Backoff {
            failures: 0,
            seed: u64::from_le_bytes(seed) | 1,
        }
    }

    /// How long to wait after `error`, the `failures`-th in a row.
    pub(crate) fn next(&mut self, error: &CallError) -> Duration {
        self.failures += 1;
        let ceiling = Duration::from_millis(100)
            .saturating_mul(1 << self.failures.min(7))
            .min(Duration::from_secs(10));
        // xorshift64: the seed is random; the sequence only needs to be spread.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let jittered = ceiling
            .mul_f64((self.seed % 1000) as f64 / 1000.0)
            .max(Duration::from_millis(50));
        match error {
            CallError::Status {
                retry_after: Some(after),
                ..
            } => (*after).min(Duration::from_secs(300)).max(jittered),
            _ => jittered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_ceiling_and_honours_retry_after() {
        let mut b = Backoff::new();
        let refused = CallError::Transport("refused".into());
        for _ in 0..20 {
            let wait = b.next(&refused);
            assert!(wait >= Duration::from_millis(50) && wait <= Duration::from_secs(10));
        }
        let busy = CallError::Status {
            status: 429,
            code: None,
            message: String::new(),
            retry_after: Some(Duration::from_secs(30)),
        };
        assert_eq!(b.next(&busy), Duration::from_secs(30));
        let absurd = CallError::Status {
            status: 503,
            code: None,
            message: String::new(),
            retry_after: Some(Duration::from_secs(1 << 40)),
        };
        assert_eq!(b.next(&absurd), Duration::from_secs(300), "a bounded wait");
    }

    #[test]
    fn two_backoffs_have_different_seeds() {
        // A fixed or time-based seed would make clients that start together retry together.
        let seeds: std::collections::HashSet<u64> = (0..16).map(|_| Backoff::new().seed).collect();
        assert!(seeds.len() > 1);
    }
}
