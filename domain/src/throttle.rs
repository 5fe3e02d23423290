//! Brute-force protection: the pure policy of per-account delays, and the port that keeps
//! the per-account and per-client state (in memory by default, shared in Redis later).

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

/// Growing delays for an account after failed logins: `free_failures` go unpunished,
/// then each failure locks the account for `base_delay`, doubling up to `max_delay`.
/// The cap means an attacker can slow an account down but never lock it for good; a
/// success resets the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub free_failures: u32,
    pub base_delay: TimeDelta,
    pub max_delay: TimeDelta,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            free_failures: 5,
            base_delay: TimeDelta::seconds(1),
            max_delay: TimeDelta::minutes(15),
        }
    }
}

/// What is remembered of an account's recent failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountThrottle {
    pub failures: u32,
    pub locked_until: Option<DateTime<Utc>>,
}

impl ThrottlePolicy {
    /// The state after one more failure at `now`.
    pub fn after_failure(&self, state: AccountThrottle, now: DateTime<Utc>) -> AccountThrottle {
        let failures = state.failures.saturating_add(1);
        let locked_until = failures.checked_sub(self.free_failures + 1).map(|excess| {
            let factor = 2i32.checked_pow(excess.min(30)).unwrap_or(i32::MAX);
            let delay = self
                .base_delay
                .checked_mul(factor)
                .unwrap_or(self.max_delay)
                .min(self.max_delay);
            now + delay
        });
        AccountThrottle {
            failures,
            locked_until,
        }
    }

    /// How long the account must still wait at `now`, if at all.
    pub fn wait(&self, state: &AccountThrottle, now: DateTime<Utc>) -> Option<TimeDelta> {
        state
            .locked_until
            .filter(|until| *until > now)
            .map(|until| until - now)
    }

    /// `Ok` when the account may try now, else [`LimitError::Throttled`] with the wait.
    ///
    /// # Errors
    /// [`LimitError::Throttled`] while the account is locked.
    pub fn admit(&self, state: &AccountThrottle, now: DateTime<Utc>) -> Result<(), LimitError> {
        match self.wait(state, now) {
            Some(wait) => Err(LimitError::Throttled(retry_secs(wait))),
            None => Ok(()),
        }
    }

    /// How long state must be remembered after a failure: past this, it could not
    /// delay anyone any more.
    pub fn memory(&self) -> TimeDelta {
        self.max_delay * 2
    }
}

/// An HTTP operation limited per client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientAction {
    Login,
    Register,
    Refresh,
}

#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// Too many attempts: wait this many seconds (at least 1).
    #[error("too many attempts; retry after {0} s")]
    Throttled(u64),
    /// The limiter's state cannot be read: callers refuse (503) rather than let floods
    /// through.
    #[error("rate-limit state is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

pub fn retry_secs(wait: TimeDelta) -> u64 {
    // Round up: "Retry-After: 0" would invite an immediate retry that fails again.
    let ms = wait.num_milliseconds().max(0);
    u64::try_from((ms + 999) / 1000).unwrap_or(1).max(1)
}

/// Keeps rate-limit and lockout state.
///
/// # Errors
/// Every method MUST return [`LimitError::Throttled`] with the wait in seconds when the
/// caller must wait, and [`LimitError::Unavailable`] when the state cannot be reached.
#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// One attempt of `action` from `client` (an IP address): a token bucket per client.
    async fn check_client(&self, action: ClientAction, client: &str) -> Result<(), LimitError>;
    /// Whether `account` (a canonical username, existing or not) may try a password now.
    async fn check_account(&self, account: &str, now: DateTime<Utc>) -> Result<(), LimitError>;
    /// Counts a failure; returns the lock it started, if any.
    async fn record_failure(
        &self,
        account: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TimeDelta>, LimitError>;
    /// Forgets the account's failures.
    async fn record_success(&self, account: &str) -> Result<(), LimitError>;
}

/// A limiter that never limits: for benchmarks and trusted internal deployments.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoLimits;

#[async_trait]
impl RateLimiter for NoLimits {
    async fn check_client(&self, _: ClientAction, _: &str) -> Result<(), LimitError> {
        Ok(())
    }
    async fn check_account(&self, _: &str, _: DateTime<Utc>) -> Result<(), LimitError> {
        Ok(())
    }
    async fn record_failure(
        &self,
        _: &str,
        _: DateTime<Utc>,
    ) -> Result<Option<TimeDelta>, LimitError> {
        Ok(None)
    }
    async fn record_success(&self, _: &str) -> Result<(), LimitError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_start_after_the_free_failures_double_and_cap() {
        let p = ThrottlePolicy::default();
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let mut s = AccountThrottle::default();
        for _ in 0..5 {
            s = p.after_failure(s, t0);
            assert_eq!(p.wait(&s, t0), None);
        }
        let mut expected = 1;
        for _ in 0..12 {
            s = p.after_failure(s, t0);
            assert_eq!(p.wait(&s, t0), Some(TimeDelta::seconds(expected.min(900))));
            expected *= 2;
        }
        for _ in 0..100 {
            s = p.after_failure(s, t0);
        }
        assert_eq!(p.wait(&s, t0), Some(TimeDelta::minutes(15)), "capped");
        assert_eq!(p.wait(&s, t0 + TimeDelta::minutes(15)), None);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_secs(TimeDelta::milliseconds(1)), 1);
        assert_eq!(retry_secs(TimeDelta::milliseconds(1500)), 2);
        assert_eq!(retry_secs(TimeDelta::zero()), 1);
    }
}
