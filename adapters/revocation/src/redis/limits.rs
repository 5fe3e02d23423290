//! Rate limits over Redis, so they hold across instances: per-client GCRA buckets (the
//! algorithm governor uses in memory) in one Lua script on Redis time, and per-account
//! failure budgets admitted and counted in one script.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use redis::AsyncCommands as _;
use redis::aio::ConnectionManager;
use tessera_domain::throttle::{ClientAction, LimitError, RateLimiter, ThrottlePolicy, retry_secs};

use super::manager;
use crate::memory_limits::ClientQuotas;

/// GCRA on Redis time. KEYS[1]: the bucket; ARGV: emission interval and burst tolerance
/// in microseconds. Returns 0 when allowed, else the microseconds to wait.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local allow_at = tat - tolerance
if now < allow_at then return allow_at - now end
local new_tat = tat + interval
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
return 0
";

/// One password check for an account, admitted and counted in one step (see
/// `ThrottlePolicy::reserve`). KEYS: the failure count, the lock's end (ms). ARGV: now
/// (ms), how long state is remembered (ms), then the lock (ms) that the 1st, 2nd, …
/// failure starts, as `ThrottlePolicy::lock_after` computes it (0: none; the last entry
/// holds for every later failure). Returns {0, ms to wait} when locked, else {1, the lock
/// this attempt started in ms (0: none)}.
const RESERVE: &str = r"
local now = tonumber(ARGV[1])
local locked_until = tonumber(redis.call('GET', KEYS[2]) or '0')
if locked_until > now then return {0, locked_until - now} end
local failures = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local last = #ARGV
local i = 2 + failures
if i > last then i = last end
local lock = tonumber(ARGV[i])
if lock > 0 then
  redis.call('SET', KEYS[2], string.format('%d', now + lock), 'PX', ARGV[2])
end
return {1, lock}
";

/// Failures after which the lock no longer grows for any policy (2^30 × base).
const LOCK_TABLE_LEN: u32 = 64;

/// Rate limits shared by every instance.
pub struct RedisRateLimiter {
    conn: ConnectionManager,
    prefix: String,
    quotas: ClientQuotas,
    accounts: Option<ThrottlePolicy>,
    script: redis::Script,
    reserve: redis::Script,
    /// The lock (ms) each failure in a row starts, for `RESERVE`: computed once from the
    /// policy, not on every login.
    lock_table: Vec<i64>,
}

impl std::fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisRateLimiter {
    /// # Errors
    /// When Redis cannot be reached at start.
    pub async fn connect(
        url: &str,
        prefix: &str,
        quotas: ClientQuotas,
        accounts: Option<ThrottlePolicy>,
    ) -> anyhow::Result<Self> {
        let lock_table = accounts.map_or_else(Vec::new, |policy| {
            (1..=policy.free_failures.saturating_add(LOCK_TABLE_LEN))
                .map(|failures| {
                    policy
                        .lock_after(failures)
                        .map_or(0, |d| d.num_milliseconds())
                })
                .collect()
        });
        Ok(Self {
            conn: manager(url).await?,
            prefix: prefix.to_owned(),
            quotas,
            accounts,
            script: redis::Script::new(GCRA),
            reserve: redis::Script::new(RESERVE),
            lock_table,
        })
    }

    fn account_keys(&self, account: &str) -> (String, String) {
        (
            format!("{}:acct:{account}:failures", self.prefix),
            format!("{}:acct:{account}:until", self.prefix),
        )
    }
}

fn down(e: redis::RedisError) -> LimitError {
    LimitError::Unavailable(e.into())
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check_client(&self, action: ClientAction, client: &str) -> Result<(), LimitError> {
        let quota = match action {
            ClientAction::Login => self.quotas.login,
            ClientAction::Register => self.quotas.register,
            ClientAction::Refresh => self.quotas.refresh,
            ClientAction::Revoke => self.quotas.revoke,
            ClientAction::PasswordReset => self.quotas.password_reset,
            ClientAction::MailToAddress => self.quotas.mail_to_address,
            ClientAction::EmailChange => self.quotas.email_change,
        };
        let Some(q) = quota.filter(|q| q.per_minute > 0) else {
            return Ok(());
        };
        let interval = 60_000_000 / u64::from(q.per_minute);
        let tolerance = interval * u64::from(q.burst.max(1) - 1);
        let key = format!("{}:bucket:{action:?}:{client}", self.prefix);
        let mut conn = self.conn.clone();
        let wait_us: u64 = self
            .script
            .key(key)
            .arg(interval)
            .arg(tolerance)
            .invoke_async(&mut conn)
            .await
            .map_err(down)?;
        if wait_us == 0 {
            Ok(())
        } else {
            let wait = TimeDelta::microseconds(i64::try_from(wait_us).unwrap_or(i64::MAX));
            Err(LimitError::Throttled(retry_secs(wait)))
        }
    }

    async fn reserve_attempt(
        &self,
        account: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TimeDelta>, LimitError> {
        let Some(policy) = &self.accounts else {
            return Ok(None);
        };
        let (count_key, until_key) = self.account_keys(account);
        let memory_ms = policy.memory().num_milliseconds().max(1);
        let mut call = self.reserve.key(count_key);
        call.key(until_key)
            .arg(now.timestamp_millis())
            .arg(memory_ms)
            .arg(&self.lock_table);
        let mut conn = self.conn.clone();
        let (admitted, ms): (i64, i64) = call.invoke_async(&mut conn).await.map_err(down)?;
        let ms = TimeDelta::milliseconds(ms);
        match admitted {
            0 => Err(LimitError::Throttled(retry_secs(ms))),
            _ if ms > TimeDelta::zero() => Ok(Some(ms)),
            _ => Ok(None),
        }
    }

    async fn record_success(&self, account: &str) -> Result<(), LimitError> {
        if self.accounts.is_none() {
            return Ok(());
        }
        let (count_key, until_key) = self.account_keys(account);
        let mut conn = self.conn.clone();
        let _: i64 = conn.del(&[count_key, until_key]).await.map_err(down)?;
        Ok(())
    }
}
