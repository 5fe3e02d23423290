//! Revocations over Redis. The SQL store stays the durable source of truth; Redis
//! pub/sub carries each new rule to every instance's local moka tier, so the per-request
//! check still answers from memory. After every (re)subscription the tier is
//! resynchronised from the store, so a rule published while an instance was disconnected
//! is not missed, and the server also polls the store for new rules every
//! `revocation.poll_interval`, so no rule depends on a message arriving. The subscription
//! is pinged every few seconds: a link that stops forwarding without closing (a
//! partition, a NAT dropping an idle flow) is noticed by the missing answer. While the
//! subscription is down the list cannot vouch for its answers and refuses (fail closed);
//! it recovers by itself when Redis returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures_util::StreamExt as _;
use redis::AsyncCommands as _;
use redis::aio::ConnectionManager;
use tessera_domain::clock::Clock;
use tessera_domain::revocation::{
    RevocationEntry, RevocationError, RevocationList, RevocationStore,
};
use tessera_domain::token::Claims;

use super::{IO_TIMEOUT, decode, encode, manager};
use crate::follower::StoreFollower;
use crate::rules::RuleCache;

/// How often the subscribed connection must prove it is alive.
const PING_EVERY: Duration = Duration::from_secs(2);

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
