//! The rules every protected request is checked against, in memory: one moka entry per
//! revoked token, session or user, evicted once every token it covers has expired. Both
//! revocation lists (in process, Redis) answer from this tier.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use moka::Expiry;
use moka::sync::Cache;
use tessera_domain::revocation::{Revocation, RevocationEntry};
use tessera_domain::session::SessionId;
use tessera_domain::token::Claims;
use tessera_domain::user::UserId;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Token(Uuid),
    Session(SessionId),
    User(UserId),
}

/// What a key maps to: when the rule lapses and, for user rules, up to which `iat`.
#[derive(Debug, Clone, Copy)]
struct Rule {
    expires_at: DateTime<Utc>,
    user_before: Option<i64>,
}

/// Evicts each rule once every token it covers has expired.
struct UntilExpiry;

impl Expiry<Key, Rule> for UntilExpiry {
    fn expire_after_create(&self, _: &Key, rule: &Rule, _: Instant) -> Option<Duration> {
        Some(
            (rule.expires_at - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO),
        )
    }

    fn expire_after_update(
        &self,
        key: &Key,
        rule: &Rule,
        at: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        self.expire_after_create(key, rule, at)
    }
}

/// The in-memory rules every protected request is checked against: one moka entry per
/// revoked token, session or user, evicted once every token it covers has expired.
pub(crate) struct RuleCache {
    cache: Cache<Key, Rule>,
}

impl RuleCache {
    pub(crate) fn new() -> Self {
        Self {
            cache: Cache::builder().expire_after(UntilExpiry).build(),
        }
    }

    pub(crate) fn remember(&self, entry: &RevocationEntry) {
        let (key, user_before) = match entry.revocation {
            Revocation::Token(jti) => (Key::Token(jti), None),
            Revocation::Session(sid) => (Key::Session(sid), None),
            Revocation::UserBefore(user, before) => (Key::User(user), Some(before.timestamp())),
        };
        self.cache.entry(key).and_upsert_with(|old| {
            let new = Rule {
                expires_at: entry.expires_at,
                user_before,
            };
            match old.map(|e| e.into_value()) {
                // Keep the widest rule: the later expiry and the later cut-off.
                Some(old) => Rule {
                    expires_at: old.expires_at.max(new.expires_at),
                    user_before: old.user_before.max(new.user_before),
                },
                None => new,
            }
        });
    }

    fn in_force(&self, key: Key, now: DateTime<Utc>) -> Option<Rule> {
        self.cache.get(&key).filter(|r| r.expires_at > now)
    }

    pub(crate) fn covers(&self, claims: &Claims, now: DateTime<Utc>) -> bool {
        self.in_force(Key::Token(claims.jti), now).is_some()
            || self.in_force(Key::Session(claims.sid), now).is_some()
            || self
                .in_force(Key::User(claims.sub), now)
                .and_then(|r| r.user_before)
                .is_some_and(|before| claims.iat <= before)
    }

    pub(crate) fn len(&self) -> u64 {
        self.cache.entry_count()
    }
}
