//! The audit trail on SQL: `AuditSink` writes security events (and logs them under the
//! `audit` target), `AuditLog` reads them back for administrators.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use tessera_domain::ports::{AuditEvent, AuditLog, AuditRecord, AuditSink, StoreError};
use tessera_domain::session::ClientInfo;
use tessera_domain::user::UserId;
use uuid::Uuid;

use crate::entities::audit_events;
use crate::{SqlStore, clip, delete_where, instant, millis, unavailable};

#[async_trait]
impl AuditSink for SqlStore {
    async fn record(&self, event: AuditEvent, at: DateTime<Utc>, client: &ClientInfo) {
        let detail = event.detail();
        tracing::info!(
            target: "audit",
            event = event.name(),
            user = ?event.user().map(|u| u.to_string()),
            detail = %detail,
            ip = client.ip.as_deref().unwrap_or("-"),
        );
        let row = audit_events::ActiveModel {
            at: Set(millis(at)),
            event: Set(event.name().to_owned()),
            user_id: Set(event.user().map(|u| u.to_string())),
            client_ip: Set(client.ip.as_deref().map(|s| clip(s, 64))),
            user_agent: Set(client.user_agent.as_deref().map(|s| clip(s, 512))),
            detail: Set(detail),
            ..Default::default()
        };
        // Best effort by contract: a lost audit row is logged, never a failed request.
        if let Err(e) = audit_events::Entity::insert(row)
            .exec_without_returning(self.conn())
            .await
        {
            tracing::warn!(error = %e, event = event.name(), "audit event not stored");
        }
    }
}

#[async_trait]
impl AuditLog for SqlStore {
    async fn list(
        &self,
        user: Option<UserId>,
        event: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<AuditRecord>, u64), StoreError> {
        let mut query = audit_events::Entity::find();
        if let Some(user) = user {
            query = query.filter(audit_events::Column::UserId.eq(user.to_string()));
        }
        if let Some(event) = event {
            query = query.filter(audit_events::Column::Event.eq(event));
        }
        let total = query
            .clone()
            .count(self.conn())
            .await
            .map_err(unavailable)?;
        let rows = query
            .order_by_desc(audit_events::Column::Id)
            .offset(offset)
            .limit(limit)
            .all(self.conn())
            .await
            .map_err(unavailable)?;
        let records = rows
            .into_iter()
            .map(|m| AuditRecord {
                at: instant(m.at),
                event: m.event,
                user: m.user_id.and_then(|u| Uuid::parse_str(&u).ok()).map(UserId),
                client: ClientInfo {
                    ip: m.client_ip,
                    user_agent: m.user_agent,
                },
                detail: m.detail,
            })
            .collect();
        Ok((records, total))
    }

    async fn purge_before(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let old = audit_events::Column::At.lt(millis(before));
        delete_where::<audit_events::Entity>(self.conn(), old).await
    }
}
