//! The shared backend for several instances: Redis.
//!
//! Revocations: the SQL store stays the durable source of truth; Redis pub/sub carries
//! each new rule to every instance's local moka tier, so the per-request check still
//! answers from memory. After every (re)subscription the tier is resynchronised from the
//! store, so a rule published while an instance was disconnected is not missed, and the
//! server also polls the store for new rules every `revocation.poll_interval`, so no rule
//! depends on a message arriving. The subscription is pinged every few seconds: a link
//! that stops forwarding without closing (a partition, a NAT dropping an idle flow) is
//! noticed by the missing answer. While the subscription is down the list cannot vouch
//! for its answers and refuses (fail closed); it recovers by itself when Redis returns.
//!
//! Limits: per-client GCRA buckets (the algorithm governor uses in memory) in one Lua
//! script on Redis time, and per-account failure counts, so limits hold across instances.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::StreamExt as _;
use redis::AsyncCommands as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tessera_domain::clock::Clock;
use tessera_domain::revocation::{
    Revocation, RevocationEntry, RevocationError, RevocationList, RevocationStore,
};
use tessera_domain::session::SessionId;
use tessera_domain::throttle::{ClientAction, LimitError, RateLimiter, ThrottlePolicy, retry_secs};
use tessera_domain::token::Claims;
use tessera_domain::user::UserId;
use uuid::Uuid;

use crate::limits::ClientQuotas;
use crate::{RuleCache, StoreFollower};

const IO_TIMEOUT: Duration = Duration::from_secs(1);
/// How often the subscribed connection must prove it is alive.
const PING_EVERY: Duration = Duration::from_secs(2);

async fn manager(url: &str) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(IO_TIMEOUT))
        .set_response_timeout(Some(IO_TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    Ok(ConnectionManager::new_with_config(client, config).await?)
}

fn encode(e: &RevocationEntry) -> String {
    let (kind, subject, before) = match e.revocation {
        Revocation::Token(jti) => ("token", jti, 0),
        Revocation::Session(sid) => ("session", sid.0, 0),
        Revocation::UserBefore(user, before) => ("user", user.0, before.timestamp_millis()),
    };
    format!(
        "{kind} {subject} {before} {}",
        e.expires_at.timestamp_millis()
    )
}

fn decode(msg: &str) -> Option<RevocationEntry> {
    let mut parts = msg.split(' ');
    let kind = parts.next()?;
    let subject = Uuid::parse_str(parts.next()?).ok()?;
    let before = DateTime::from_timestamp_millis(parts.next()?.parse().ok()?)?;
    let expires_at = DateTime::from_timestamp_millis(parts.next()?.parse().ok()?)?;
    let revocation = match kind {
        "token" => Revocation::Token(subject),
        "session" => Revocation::Session(SessionId(subject)),
        "user" => Revocation::UserBefore(UserId(subject), before),
        _ => return None,
    };
    Some(RevocationEntry {
        revocation,
        expires_at,
    })
}

/// The revocation list shared by every instance through Redis.
pub struct RedisRevocationList {
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

struct Inner {
    rules: RuleCache,
    store: Arc<dyn RevocationStore>,
    clock: Arc<dyn Clock>,
    publisher: ConnectionManager,
    client: redis::Client,
    channel: String,
    /// Subscribed and resynchronised: answers can be trusted.
    in_sync: AtomicBool,
    follower: StoreFollower,
}

impl std::fmt::Debug for RedisRevocationList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRevocationList")
            .field("channel", &self.inner.channel)
            .field("in_sync", &self.inner.in_sync.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Drop for RedisRevocationList {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RedisRevocationList {
    /// Connects, subscribes to `<prefix>:revocations` and loads the rules in force from
    /// `store`. Waits up to a few seconds for the first synchronisation.
    ///
    /// # Errors
    /// When Redis cannot be reached at start.
    pub async fn connect(
        url: &str,
        prefix: &str,
        store: Arc<dyn RevocationStore>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let cursor = store.cursor().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let inner = Arc::new(Inner {
            rules: RuleCache::new(),
            follower: StoreFollower::new(cursor),
            store,
            clock,
            publisher: manager(url).await?,
            client: redis::Client::open(url)?,
            channel: format!("{prefix}:revocations"),
            in_sync: AtomicBool::new(false),
        });
        let task = tokio::spawn(Arc::clone(&inner).follow());
        for _ in 0..50 {
            if inner.in_sync.load(Ordering::Acquire) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(Self { inner, task })
    }
}

impl Inner {
    /// Keeps the local tier current for as long as the process lives.
    async fn follow(self: Arc<Self>) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.subscribe_and_sync().await {
                Ok(pubsub) => {
                    backoff = Duration::from_millis(100);
                    tracing::info!(channel = %self.channel, "revocation channel in sync");
                    let why = self.listen(pubsub).await;
                    self.in_sync.store(false, Ordering::Release);
                    tracing::warn!(channel = %self.channel, why, "revocation channel lost: refusing until resynchronised");
                }
                Err(e) => {
                    self.in_sync.store(false, Ordering::Release);
                    tracing::debug!(error = %e, "revocation channel unavailable");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    /// Takes in published rules until the subscription closes or stops answering pings;
    /// returns why it ended.
    async fn listen(&self, pubsub: redis::aio::PubSub) -> &'static str {
        let (mut sink, mut messages) = pubsub.split();
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = messages.next() => match msg {
                    Some(msg) => match msg.get_payload::<String>().ok().as_deref().and_then(decode) {
                        Some(entry) => self.rules.remember(&entry),
                        None => tracing::warn!("unreadable revocation message ignored"),
                    },
                    None => return "closed",
                },
                _ = ping.tick() => {
                    let pong = tokio::time::timeout(IO_TIMEOUT, sink.ping::<redis::Value>()).await;
                    if !matches!(pong, Ok(Ok(_))) {
                        return "no answer to ping";
                    }
                }
            }
        }
    }

    /// Subscribes first, then loads the store: a rule published in between arrives
    /// twice, never zero times.
    async fn subscribe_and_sync(&self) -> anyhow::Result<redis::aio::PubSub> {
        let mut pubsub = tokio::time::timeout(IO_TIMEOUT, self.client.get_async_pubsub())
            .await
            .map_err(|_| anyhow::anyhow!("redis connect timed out"))??;
        pubsub.subscribe(&self.channel).await?;
        for entry in self
            .store
            .load_active(self.clock.now())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
        {
            self.rules.remember(&entry);
        }
        self.in_sync.store(true, Ordering::Release);
        Ok(pubsub)
    }
}

#[async_trait]
impl RevocationList for RedisRevocationList {
    async fn revoke(&self, entry: RevocationEntry) -> Result<(), RevocationError> {
        let inner = &self.inner;
        inner
            .store
            .insert(&entry)
            .await
            .map_err(|e| RevocationError::Unavailable(e.into()))?;
        inner.rules.remember(&entry);
        // Not acknowledged until the other instances have been told.
        let mut publisher = inner.publisher.clone();
        let sent: redis::RedisResult<i64> = publisher.publish(&inner.channel, encode(&entry)).await;
        sent.map_err(|e| RevocationError::Unavailable(e.into()))?;
        Ok(())
    }

    fn is_revoked(&self, claims: &Claims, now: DateTime<Utc>) -> Result<bool, RevocationError> {
        if !self.inner.in_sync.load(Ordering::Acquire) {
            return Err(RevocationError::Unavailable(anyhow::anyhow!(
                "revocation channel not in sync"
            )));
        }
        Ok(self.inner.rules.covers(claims, now))
    }

    async fn sync(&self, now: DateTime<Utc>) -> Result<(), RevocationError> {
        let inner = &self.inner;
        inner
            .follower
            .poll(inner.store.as_ref(), &inner.rules, now)
            .await
            .map(|_| ())
            .map_err(|e| RevocationError::Unavailable(e.into()))
    }

    async fn check_ready(&self) -> Result<(), RevocationError> {
        if !self.inner.in_sync.load(Ordering::Acquire) {
            return Err(RevocationError::Unavailable(anyhow::anyhow!(
                "revocation channel not in sync"
            )));
        }
        // After an outage the connection manager reconnects on the first failed command:
        // one retry separates "Redis is back" from "Redis is down".
        let mut conn = self.inner.publisher.clone();
        let mut last = None;
        for _ in 0..2 {
            let pong: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut conn).await;
            match pong {
                Ok(_) => return Ok(()),
                Err(e) => last = Some(e),
            }
        }
        Err(RevocationError::Unavailable(
            last.map_or_else(|| anyhow::anyhow!("no answer"), Into::into),
        ))
    }
}

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
        Ok(Self {
            conn: manager(url).await?,
            prefix: prefix.to_owned(),
            quotas,
            accounts,
            script: redis::Script::new(GCRA),
            reserve: redis::Script::new(RESERVE),
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
            Err(LimitError::Throttled(wait_us.div_ceil(1_000_000).max(1)))
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
            .arg(memory_ms);
        for failures in 1..=(policy.free_failures.saturating_add(LOCK_TABLE_LEN)) {
            call.arg(
                policy
                    .lock_after(failures)
                    .map_or(0, |d| d.num_milliseconds()),
            );
        }
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

/// Deletes every key under `prefix:` (tests use a prefix each, and leave nothing behind).
///
/// # Errors
/// When Redis cannot be reached.
pub async fn delete_prefix(url: &str, prefix: &str) -> anyhow::Result<()> {
    let mut conn = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let keys: Vec<String> = {
        let mut iter: redis::AsyncIter<String> = conn.scan_match(format!("{prefix}:*")).await?;
        let mut keys = Vec::new();
        while let Some(k) = iter.next_item().await {
            keys.push(k?);
        }
        keys
    };
    if !keys.is_empty() {
        let _: i64 = conn.del(keys).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        let at = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
        for r in [
            Revocation::Token(Uuid::new_v4()),
            Revocation::Session(SessionId::new_random()),
            Revocation::UserBefore(UserId::new_random(), at),
        ] {
            let e = RevocationEntry {
                revocation: r,
                expires_at: at,
            };
            assert_eq!(decode(&encode(&e)), Some(e));
        }
        assert_eq!(decode("token nope 0 0"), None);
    }
}
