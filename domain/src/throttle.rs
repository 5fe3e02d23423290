//! Brute-force protection: the pure policy of per-account delays, the client key of
//! per-address buckets, and the port that keeps the per-account and per-client state
//! (`tessera-revocation`: in memory, or in Redis for several instances).

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
        AccountThrottle {
            failures,
            locked_until: self.lock_after(failures).map(|delay| now + delay),
        }
    }

    /// The lock that the `failures`-th failure in a row starts, if any.
    pub fn lock_after(&self, failures: u32) -> Option<TimeDelta> {
        failures
            .checked_sub(self.free_failures.saturating_add(1))
            .map(|excess| {
                let factor = 2i32.checked_pow(excess.min(30)).unwrap_or(i32::MAX);
                self.base_delay
                    .checked_mul(factor)
                    .unwrap_or(self.max_delay)
                    .min(self.max_delay)
            })
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

    /// Admits one password check at `now` and counts it as a failure in advance: the state
    /// to store. Counting before the (slow) check is what makes the budget hold against
    /// parallel guesses: of N concurrent attempts at most `free_failures + 1` are admitted
    /// before the lock they start refuses the rest. A check that succeeds forgets the
    /// count ([`RateLimiter::record_success`]).
    ///
    /// # Errors
    /// [`LimitError::Throttled`] while the account is locked (nothing is counted).
    pub fn reserve(
        &self,
        state: AccountThrottle,
        now: DateTime<Utc>,
    ) -> Result<AccountThrottle, LimitError> {
        self.admit(&state, now)?;
        Ok(self.after_failure(state, now))
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
    /// Every password check: login and the current password of a password change.
    Login,
    Register,
    Refresh,
    /// RFC 7009 revocation: unauthenticated, so bounded like the other public writes.
    Revoke,
    /// Password-reset requests and the redemption of mailed links, per client address.
    PasswordReset,
    /// Mail to one address (the key is the address's canonical form, not a client's):
    /// however many clients ask, one inbox gets a bounded number of mails.
    MailToAddress,
    /// Changes of address asked for by one account (the key is [`account_key`], not a
    /// client's): one account cannot have mail sprayed at any number of addresses.
    EmailChange,
}

/// The key an account's own buckets are kept under ([`ClientAction::EmailChange`]): it
/// cannot be mistaken for a client address.
pub fn account_key(user: crate::user::UserId) -> String {
    format!("account:{user}")
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

/// A wait as the whole seconds of a `Retry-After` (and of [`LimitError::Throttled`]):
/// rounded up, and at least 1, since "Retry-After: 0" would invite an immediate retry
/// that fails again. A negative wait counts as none. The one rounding every limiter
/// uses (the adapters convert their `Duration`s and microseconds to a [`TimeDelta`]).
pub fn retry_secs(wait: TimeDelta) -> u64 {
    let wait = wait.max(TimeDelta::zero());
    let whole = u64::try_from(wait.num_seconds()).unwrap_or(u64::MAX);
    whole
        .saturating_add(u64::from(wait.subsec_nanos() > 0))
        .max(1)
}

/// The key a client's buckets are kept under: an IPv4 address as it is, an IPv6 address
/// reduced to its first `ipv6_prefix` bits (a host usually controls a whole /64, so
/// counting /128s would give it 2^64 buckets).
pub fn client_key(ip: std::net::IpAddr, ipv6_prefix: u8) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let bits = u32::from(ipv6_prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                let net = std::net::Ipv6Addr::from(u128::from(v6) & mask);
                format!("{net}/{bits}")
            }
        },
    }
}

/// Keeps rate-limit and lockout state.
///
/// # Errors
/// Every method MUST return [`LimitError::Throttled`] with the wait in seconds when the
/// caller must wait, and [`LimitError::Unavailable`] when the state cannot be reached.
#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// One attempt of `action` from `client` (an address or address prefix, see
    /// [`client_key`]): a token bucket per client.
    async fn check_client(&self, action: ClientAction, client: &str) -> Result<(), LimitError>;
    /// Admits one password check for `account` (a canonical username, existing or not)
    /// and counts it as a failure before the check runs, atomically with the admission
    /// ([`ThrottlePolicy::reserve`]): concurrent attempts cannot all pass a lock that
    /// none of them has recorded yet. Returns the lock this attempt started, if any — the
    /// caller reports it when the check indeed fails.
    async fn reserve_attempt(
        &self,
        account: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TimeDelta>, LimitError>;
    /// Forgets the account's failures (the password was right).
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
    async fn reserve_attempt(
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
    fn reservations_admit_free_failures_plus_one_then_refuse() {
        let p = ThrottlePolicy::default();
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let mut s = AccountThrottle::default();
        let mut admitted = 0;
        for _ in 0..20 {
            if let Ok(next) = p.reserve(s, t0) {
                s = next;
                admitted += 1;
            }
        }
        assert_eq!(admitted, p.free_failures + 1);
        assert!(
            p.reserve(s, t0 + TimeDelta::seconds(1)).is_ok(),
            "lock lapses"
        );
    }

    #[test]
    fn ipv6_clients_are_counted_by_prefix() {
        let a: std::net::IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: std::net::IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: std::net::IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a, 64), client_key(b, 64));
        assert_eq!(client_key(a, 64), "2001:db8:1:2::/64");
        assert_ne!(client_key(a, 64), client_key(c, 64));
        assert_eq!(client_key(c, 48), client_key(a, 48));
        assert_ne!(client_key(a, 128), client_key(b, 128));
        assert_eq!(client_key("192.0.2.7".parse().unwrap(), 64), "192.0.2.7");
        assert_eq!(
            client_key("::ffff:192.0.2.7".parse().unwrap(), 64),
            "192.0.2.7"
        );
        assert_eq!(client_key(a, 0), "::/0");
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_secs(TimeDelta::milliseconds(1)), 1);
        assert_eq!(retry_secs(TimeDelta::milliseconds(1500)), 2);
        assert_eq!(retry_secs(TimeDelta::zero()), 1);
        assert_eq!(retry_secs(TimeDelta::seconds(-5)), 1);
        assert_eq!(retry_secs(TimeDelta::seconds(3)), 3);
        assert_eq!(retry_secs(TimeDelta::microseconds(3_000_001)), 4);
    }
}
