//! A bearer token that expires, kept and renewed before it does: an Azure ML job's token
//! ([`super::job_token`]) and an Azure AD token ([`super::azure_ad`]).
//!
//! Checked before each request rather than by a timer, so an idle program asks for nothing.
//! One renewal runs at a time; a renewal that fails while the token is still valid keeps it,
//! and is tried again [`RETRY_AFTER_FAILURE`] later; once it has expired, the failure is the
//! request's.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::client::{CallError, Secret};

/// After a failed renewal, a token still valid is used this long before the next try.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// A token, its expiry, and the one renewal in flight.
pub(crate) struct Expiring {
    /// A token with less than this many seconds left is renewed.
    renew_before: i64,
    state: Mutex<Option<State>>,
    /// Held by the one renewal in flight.
    renewing: tokio::sync::Mutex<()>,
}

struct State {
    token: Secret,
    /// Seconds since the Unix epoch.
    expires: i64,
    failed_at: Option<Instant>,
}

impl Expiring {
    /// Renewed with less than `renew_before` seconds left; `first`, a token and its expiry to
    /// start with.
    pub(crate) fn new(renew_before: i64, first: Option<(Secret, i64)>) -> Self {
        Expiring {
            renew_before,
            state: Mutex::new(first.map(|(token, expires)| State {
                token,
                expires,
                failed_at: None,
            })),
            renewing: tokio::sync::Mutex::new(()),
        }
    }

    /// The token kept, if any, whatever its expiry.
    pub(crate) fn current(&self) -> Option<Secret> {
        crate::process::lock(&self.state)
            .as_ref()
            .map(|s| s.token.clone())
    }

    /// A token good for the next request: the one kept, or one `renew` gets (a token and its
    /// expiry) when it has less than `renew_before` seconds left.
    pub(crate) async fn fresh<F, Fut>(&self, renew: F) -> Result<Secret, CallError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(Secret, i64), CallError>>,
    {
        if let Some(token) = self.usable(now()) {
            return Ok(token);
        }
        let _renewing = self.renewing.lock().await;
        // Another request may have renewed it while this one waited.
        if let Some(token) = self.usable(now()) {
            return Ok(token);
        }
        let renewed = renew().await;
        let mut state = crate::process::lock(&self.state);
        match renewed {
            Ok((token, expires)) => {
                *state = Some(State {
                    token: token.clone(),
                    expires,
                    failed_at: None,
                });
                Ok(token)
            }
            Err(e) => match state.as_mut() {
                Some(kept) if kept.expires > now() => {
                    kept.failed_at = Some(Instant::now());
                    Ok(kept.token.clone())
                }
                _ => Err(e),
            },
        }
    }

    /// The token kept if it need not be renewed at `now` (or a renewal failed a moment ago
    /// and it is still valid).
    fn usable(&self, now: i64) -> Option<Secret> {
        let state = crate::process::lock(&self.state);
        let state = state.as_ref()?;
        let left = state.expires - now;
        let backing_off = state
            .failed_at
            .is_some_and(|at| at.elapsed() < RETRY_AFTER_FAILURE);
        (left > self.renew_before || (backing_off && left > 0)).then(|| state.token.clone())
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
