//! The in-process `RateLimiter`: governor token buckets per client address and action,
//! and per-account failure counts in a bounded moka cache.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use moka::ops::compute::Op;
use moka::sync::Cache;
use tessera_domain::throttle::{
    AccountThrottle, ClientAction, LimitError, RateLimiter, ThrottlePolicy, retry_secs,
};

/// A token bucket: `per_minute` sustained, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientQuota {
    pub per_minute: u32,
    pub burst: u32,
}

/// Which buckets exist; `None` switches that action's bucket off.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClientQuotas {
    pub login: Option<ClientQuota>,
    pub register: Option<ClientQuota>,
    pub refresh: Option<ClientQuota>,
    pub revoke: Option<ClientQuota>,
    pub password_reset: Option<ClientQuota>,
    /// Per recipient address, not per client.
    pub mail_to_address: Option<ClientQuota>,
    /// Changes of address per account, not per client.
    pub email_change: Option<ClientQuota>,
}

/// Distinct usernames remembered at most; beyond it the least recently seen are forgotten.
const MAX_ACCOUNTS: u64 = 100_000;

pub struct MemoryRateLimiter {
    login: Option<DefaultKeyedRateLimiter<String>>,
    register: Option<DefaultKeyedRateLimiter<String>>,
    refresh: Option<DefaultKeyedRateLimiter<String>>,
    revoke: Option<DefaultKeyedRateLimiter<String>>,
    password_reset: Option<DefaultKeyedRateLimiter<String>>,
    mail_to_address: Option<DefaultKeyedRateLimiter<String>>,
    email_change: Option<DefaultKeyedRateLimiter<String>>,
    accounts: Option<(ThrottlePolicy, Cache<String, AccountThrottle>)>,
    checks: AtomicU64,
}

impl std::fmt::Debug for MemoryRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryRateLimiter").finish_non_exhaustive()
    }
}

fn bucket(q: Option<ClientQuota>) -> Option<DefaultKeyedRateLimiter<String>> {
    let q = q?;
    let per_minute = NonZeroU32::new(q.per_minute)?;
    let burst = NonZeroU32::new(q.burst.max(1))?;
    Some(governor::RateLimiter::keyed(
        Quota::per_minute(per_minute).allow_burst(burst),
    ))
}

impl MemoryRateLimiter {
    /// `accounts = None` switches per-account throttling off.
    pub fn new(clients: ClientQuotas, accounts: Option<ThrottlePolicy>) -> Self {
        Self {
            login: bucket(clients.login),
            register: bucket(clients.register),
            refresh: bucket(clients.refresh),
            revoke: bucket(clients.revoke),
            password_reset: bucket(clients.password_reset),
            mail_to_address: bucket(clients.mail_to_address),
            email_change: bucket(clients.email_change),
            accounts: accounts.map(|p| {
                let idle = p.memory().to_std().unwrap_or(Duration::from_secs(1800));
                (
                    p,
                    Cache::builder()
                        .max_capacity(MAX_ACCOUNTS)
                        .time_to_idle(idle)
                        .build(),
                )
            }),
            checks: AtomicU64::new(0),
        }
    }

    fn bucket(&self, action: ClientAction) -> Option<&DefaultKeyedRateLimiter<String>> {
        match action {
            ClientAction::Login => self.login.as_ref(),
            ClientAction::Register => self.register.as_ref(),
            ClientAction::Refresh => self.refresh.as_ref(),
            ClientAction::Revoke => self.revoke.as_ref(),
            ClientAction::PasswordReset => self.password_reset.as_ref(),
            ClientAction::MailToAddress => self.mail_to_address.as_ref(),
            ClientAction::EmailChange => self.email_change.as_ref(),
        }
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn check_client(&self, action: ClientAction, client: &str) -> Result<(), LimitError> {
        let Some(bucket) = self.bucket(action) else {
            return Ok(());
        };
        // Forget idle clients now and then so the map stays as large as the active set.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            for b in [
                &self.login,
                &self.register,
                &self.refresh,
                &self.revoke,
                &self.password_reset,
                &self.mail_to_address,
                &self.email_change,
            ]
            .into_iter()
            .flatten()
            {
                b.retain_recent();
                b.shrink_to_fit();
            }
        }
        bucket.check_key(&client.to_owned()).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            LimitError::Throttled(retry_secs(
                TimeDelta::from_std(wait).unwrap_or(TimeDelta::MAX),
            ))
        })
    }

    async fn reserve_attempt(
        &self,
        account: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TimeDelta>, LimitError> {
        let Some((policy, cache)) = &self.accounts else {
            return Ok(None);
        };
        // moka runs the closure under the key's lock: admission and count are one step.
        let mut outcome = Ok(None);
        cache.entry(account.to_owned()).and_compute_with(|old| {
            let state = old.map(|e| e.into_value()).unwrap_or_default();
            match policy.reserve(state, now) {
                Ok(next) => {
                    outcome = Ok(policy.wait(&next, now));
                    Op::Put(next)
                }
                Err(refused) => {
                    outcome = Err(refused);
                    Op::Nop
                }
            }
        });
        outcome
    }

    async fn record_success(&self, account: &str) -> Result<(), LimitError> {
        if let Some((_, cache)) = &self.accounts {
            cache.invalidate(account);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn buckets_are_per_client_and_action() {
        let q = Some(ClientQuota {
            per_minute: 1,
            burst: 2,
        });
        let l = MemoryRateLimiter::new(
            ClientQuotas {
                login: q,
                register: None,
                refresh: q,
                revoke: None,
                password_reset: None,
                mail_to_address: q,
                email_change: None,
            },
            None,
        );
        assert!(l.check_client(ClientAction::Login, "1.1.1.1").await.is_ok());
        assert!(l.check_client(ClientAction::Login, "1.1.1.1").await.is_ok());
        // Per recipient: one inbox, whatever client asks.
        for _ in 0..2 {
            assert!(
                l.check_client(ClientAction::MailToAddress, "a@example.com")
                    .await
                    .is_ok()
            );
        }
        assert!(
            l.check_client(ClientAction::MailToAddress, "a@example.com")
                .await
                .is_err()
        );
        assert!(
            l.check_client(ClientAction::MailToAddress, "b@example.com")
                .await
                .is_ok()
        );
        let Err(LimitError::Throttled(wait)) = l.check_client(ClientAction::Login, "1.1.1.1").await
        else {
            panic!("third attempt allowed");
        };
        assert!((1..=60).contains(&wait), "{wait}");
        assert!(l.check_client(ClientAction::Login, "2.2.2.2").await.is_ok());
        assert!(
            l.check_client(ClientAction::Refresh, "1.1.1.1")
                .await
                .is_ok()
        );
        for _ in 0..10 {
            assert!(
                l.check_client(ClientAction::Register, "1.1.1.1")
                    .await
                    .is_ok()
            );
        }
    }

    #[tokio::test]
    async fn accounts_lock_after_free_failures_and_unlock_on_success() {
        let l = MemoryRateLimiter::new(ClientQuotas::default(), Some(ThrottlePolicy::default()));
        let t0 = Utc::now();
        for _ in 0..5 {
            assert_eq!(l.reserve_attempt("bob", t0).await.unwrap(), None);
        }
        assert_eq!(
            l.reserve_attempt("bob", t0).await.unwrap(),
            Some(TimeDelta::seconds(1)),
            "the sixth attempt is admitted and starts the lock"
        );
        assert!(matches!(
            l.reserve_attempt("bob", t0).await,
            Err(LimitError::Throttled(1))
        ));
        assert_eq!(l.reserve_attempt("alice", t0).await.unwrap(), None);
        assert_eq!(
            l.reserve_attempt("bob", t0 + TimeDelta::seconds(1))
                .await
                .unwrap(),
            Some(TimeDelta::seconds(2))
        );
        l.record_success("bob").await.unwrap();
        assert_eq!(l.reserve_attempt("bob", t0).await.unwrap(), None);
    }
}
