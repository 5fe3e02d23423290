//! The in-process revocation list: the moka tier, written through to the durable
//! [`RevocationStore`] and loaded back from it at startup, so a restart forgets nothing;
//! rules other processes write arrive by polling the store.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tessera_domain::ports::StoreError;
use tessera_domain::revocation::{
    RevocationEntry, RevocationError, RevocationList, RevocationStore,
};
use tessera_domain::token::Claims;

use crate::follower::StoreFollower;
use crate::rules::RuleCache;

/// The in-process revocation list.
pub struct MemoryRevocationList {
    rules: RuleCache,
    store: Arc<dyn RevocationStore>,
    follower: StoreFollower,
}

impl std::fmt::Debug for MemoryRevocationList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryRevocationList")
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

impl MemoryRevocationList {
    /// Builds the list and loads every rule still in force at `now` from `store`.
    ///
    /// # Errors
    /// When the store cannot be read: starting without the rules would let revoked tokens
    /// through.
    pub async fn load(
        store: Arc<dyn RevocationStore>,
        now: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        let cursor = store.cursor().await?;
        let list = Self {
            rules: RuleCache::new(),
            store,
            follower: StoreFollower::new(cursor),
        };
        for entry in list.store.load_active(now).await? {
            list.rules.remember(&entry);
        }
        Ok(list)
    }
}

#[async_trait]
impl RevocationList for MemoryRevocationList {
    async fn revoke(&self, entry: RevocationEntry) -> Result<(), RevocationError> {
        // Durable first: a revocation is acknowledged only once a restart cannot lose it.
        self.store
            .insert(&entry)
            .await
            .map_err(|e| RevocationError::Unavailable(e.into()))?;
        self.rules.remember(&entry);
        Ok(())
    }

    fn is_revoked(&self, claims: &Claims, now: DateTime<Utc>) -> Result<bool, RevocationError> {
        Ok(self.rules.covers(claims, now))
    }

    async fn check_ready(&self) -> Result<(), RevocationError> {
        Ok(())
    }

    async fn sync(&self, now: DateTime<Utc>) -> Result<(), RevocationError> {
        self.follower
            .poll(self.store.as_ref(), &self.rules, now)
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use chrono::TimeDelta;
    use tessera_domain::revocation::Revocation;
    use tessera_domain::session::SessionId;
    use tessera_domain::user::UserId;
    use uuid::Uuid;

    use super::*;

    #[derive(Default)]
    struct VecStore(Mutex<Vec<RevocationEntry>>, Mutex<bool>);

    #[async_trait]
    impl RevocationStore for VecStore {
        async fn insert(&self, e: &RevocationEntry) -> Result<(), StoreError> {
            if *self.1.lock().unwrap() {
                return Err(StoreError::Unavailable(anyhow::anyhow!("down")));
            }
            self.0.lock().unwrap().push(*e);
            Ok(())
        }
        async fn load_active(
            &self,
            now: DateTime<Utc>,
        ) -> Result<Vec<RevocationEntry>, StoreError> {
            Ok(self
                .0
                .lock()
                .unwrap()
                .iter()
                .filter(|e| e.expires_at > now)
                .copied()
                .collect())
        }
        async fn cursor(&self) -> Result<i64, StoreError> {
            Ok(i64::try_from(self.0.lock().unwrap().len()).unwrap())
        }
        async fn load_since(
            &self,
            cursor: i64,
            now: DateTime<Utc>,
        ) -> Result<(Vec<RevocationEntry>, i64), StoreError> {
            let rows = self.0.lock().unwrap();
            let from = usize::try_from(cursor).unwrap();
            let entries = rows[from.min(rows.len())..]
                .iter()
                .filter(|e| e.expires_at > now)
                .copied()
                .collect();
            Ok((entries, i64::try_from(rows.len()).unwrap()))
        }
        async fn purge_expired(&self, _: DateTime<Utc>) -> Result<u64, StoreError> {
            Ok(0)
        }
    }

    fn claims(now: DateTime<Utc>) -> Claims {
        Claims {
            iss: "i".into(),
            aud: tessera_domain::token::Audience::one("a"),
            sub: UserId::new_random(),
            exp: now.timestamp() + 900,
            iat: now.timestamp(),
            nbf: now.timestamp(),
            jti: Uuid::new_v4(),
            sid: SessionId::new_random(),
            username: "u".into(),
            roles: vec![],
            amr: vec![],
            auth_time: now.timestamp(),
            client_id: None,
            scope: None,
        }
    }

    #[tokio::test]
    async fn every_kind_of_rule_covers_its_tokens_until_it_lapses() {
        let now = Utc::now();
        let later = now + TimeDelta::minutes(16);
        let store = Arc::new(VecStore::default());
        let list = MemoryRevocationList::load(store.clone(), now)
            .await
            .unwrap();
        let (a, b, c) = (claims(now), claims(now), claims(now));
        let until = now + TimeDelta::minutes(15);
        list.revoke(RevocationEntry {
            revocation: Revocation::Token(a.jti),
            expires_at: until,
        })
        .await
        .unwrap();
        list.revoke(RevocationEntry {
            revocation: Revocation::Session(b.sid),
            expires_at: until,
        })
        .await
        .unwrap();
        list.revoke(RevocationEntry {
            revocation: Revocation::UserBefore(c.sub, now),
            expires_at: until,
        })
        .await
        .unwrap();
        for x in [&a, &b, &c] {
            assert!(list.is_revoked(x, now).unwrap());
            assert!(
                !list.is_revoked(x, later).unwrap(),
                "rule outlived its tokens"
            );
        }
        let mut newer = c.clone();
        newer.iat += 1;
        assert!(!list.is_revoked(&newer, now).unwrap());
        assert!(!list.is_revoked(&claims(now), now).unwrap());

        // A fresh list over the same store knows every rule.
        let reloaded = MemoryRevocationList::load(store, now).await.unwrap();
        for x in [&a, &b, &c] {
            assert!(reloaded.is_revoked(x, now).unwrap());
        }
    }

    #[tokio::test]
    async fn rules_another_process_wrote_arrive_with_the_next_sync() {
        let now = Utc::now();
        let store = Arc::new(VecStore::default());
        let server = MemoryRevocationList::load(store.clone(), now)
            .await
            .unwrap();
        // The CLI: its own list over the same store.
        let cli = MemoryRevocationList::load(store, now).await.unwrap();
        let x = claims(now);
        cli.revoke(RevocationEntry {
            revocation: Revocation::Session(x.sid),
            expires_at: now + TimeDelta::minutes(15),
        })
        .await
        .unwrap();
        assert!(!server.is_revoked(&x, now).unwrap(), "not polled yet");
        server.sync(now).await.unwrap();
        assert!(server.is_revoked(&x, now).unwrap());
        // Later polls read the lookback window again without harm.
        server.sync(now).await.unwrap();
        assert!(server.is_revoked(&x, now).unwrap());
    }

    #[tokio::test]
    async fn a_revocation_the_store_refuses_is_not_acknowledged() {
        let now = Utc::now();
        let store = Arc::new(VecStore::default());
        *store.1.lock().unwrap() = true;
        let list = MemoryRevocationList::load(store, now).await.unwrap();
        let x = claims(now);
        let r = list
            .revoke(RevocationEntry {
                revocation: Revocation::Token(x.jti),
                expires_at: now + TimeDelta::minutes(1),
            })
            .await;
        assert!(matches!(r, Err(RevocationError::Unavailable(_))));
    }
}
