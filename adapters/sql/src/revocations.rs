//! `RevocationStore` on SQL: the durable copy of the in-memory revocation list.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use tessera_domain::ports::StoreError;
use tessera_domain::revocation::{Revocation, RevocationEntry, RevocationStore};
use uuid::Uuid;

use crate::entities::revocations;
use crate::{SqlStore, delete_where, instant, millis, unavailable};

fn to_row(entry: &RevocationEntry) -> revocations::ActiveModel {
    let (kind, subject, before) = entry.revocation.parts();
    revocations::ActiveModel {
        kind: Set(kind.to_owned()),
        subject: Set(subject.to_string()),
        before_at: Set(before.map(millis)),
        expires_at: Set(millis(entry.expires_at)),
        ..Default::default()
    }
}

fn to_domain(m: revocations::Model) -> Option<RevocationEntry> {
    let subject = Uuid::parse_str(&m.subject).ok()?;
    let revocation = Revocation::from_parts(&m.kind, subject, m.before_at.map(instant))?;
    Some(RevocationEntry {
        revocation,
        expires_at: instant(m.expires_at),
    })
}

#[async_trait]
impl RevocationStore for SqlStore {
    async fn insert(&self, entry: &RevocationEntry) -> Result<(), StoreError> {
        revocations::Entity::insert(to_row(entry))
            .exec_without_returning(self.conn())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn load_active(&self, now: DateTime<Utc>) -> Result<Vec<RevocationEntry>, StoreError> {
        let rows = revocations::Entity::find()
            .filter(revocations::Column::ExpiresAt.gt(millis(now)))
            .all(self.conn())
            .await
            .map_err(unavailable)?;
        let total = rows.len();
        let entries: Vec<_> = rows.into_iter().filter_map(to_domain).collect();
        if entries.len() != total {
            // A row we cannot read would be a rule we silently drop: refuse instead.
            return Err(StoreError::Unavailable(anyhow::anyhow!(
                "{} unreadable revocation rows",
                total - entries.len()
            )));
        }
        Ok(entries)
    }

    async fn cursor(&self) -> Result<i64, StoreError> {
        let newest = revocations::Entity::find()
            .order_by_desc(revocations::Column::Id)
            .one(self.conn())
            .await
            .map_err(unavailable)?;
        Ok(newest.map_or(0, |m| m.id))
    }

    async fn load_since(
        &self,
        cursor: i64,
        now: DateTime<Utc>,
    ) -> Result<(Vec<RevocationEntry>, i64), StoreError> {
        let rows = revocations::Entity::find()
            .filter(revocations::Column::Id.gt(cursor))
            .order_by_asc(revocations::Column::Id)
            .all(self.conn())
            .await
            .map_err(unavailable)?;
        let newest = rows.last().map_or(cursor, |m| m.id);
        let mut entries = Vec::with_capacity(rows.len());
        for row in rows {
            if row.expires_at <= millis(now) {
                continue;
            }
            // As at load: a rule we cannot read is refused, never dropped.
            entries.push(to_domain(row).ok_or_else(|| {
                StoreError::Unavailable(anyhow::anyhow!("unreadable revocation row"))
            })?);
        }
        Ok((entries, newest))
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let expired = revocations::Column::ExpiresAt.lte(millis(now));
        delete_where::<revocations::Entity>(self.conn(), expired).await
    }
}
