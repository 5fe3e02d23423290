//! Device grants (RFC 8628) on SQL. Every change of state is one conditional statement:
//! a decision `UPDATE … WHERE user_code = :c AND state = 'pending' AND expires_at > :now`,
//! the device's use `UPDATE … WHERE state = 'approved'`, so that of concurrent callers
//! exactly one sees one affected row. A poll stamps `last_polled_at` and returns the
//! stamp it replaced, read in the same transaction.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use tessera_domain::mfa::AuthMethod;
use tessera_domain::oidc::{ClientId, DeviceGrant, DeviceGrantState, Scopes, UserCode};
use tessera_domain::ports::StoreError;
use tessera_domain::user::UserId;
use uuid::Uuid;

use crate::entities::device_grants;
use crate::{
    SqlStore, conflict_or_unavailable, corrupt, delete_where, instant, millis, one, unavailable,
    updated,
};

const PENDING: &str = "pending";
const APPROVED: &str = "approved";
const DENIED: &str = "denied";
const USED: &str = "used";

fn to_domain(m: device_grants::Model) -> Result<DeviceGrant, StoreError> {
    let bad = || corrupt("device grant");
    let state = match m.state.as_str() {
        PENDING => DeviceGrantState::Pending,
        DENIED => DeviceGrantState::Denied,
        USED => DeviceGrantState::Used,
        APPROVED => DeviceGrantState::Approved {
            user: m
                .user_id
                .as_deref()
                .and_then(|u| Uuid::parse_str(u).ok())
                .map(UserId)
                .ok_or_else(bad)?,
            auth_time: instant(m.auth_time.ok_or_else(bad)?),
            amr: AuthMethod::parse_list(m.amr.as_deref().unwrap_or("")),
        },
        _ => return Err(bad()),
    };
    Ok(DeviceGrant {
        device_code_hash: m.device_code_hash,
        user_code: UserCode::parse(&m.user_code).ok_or_else(bad)?,
        client: ClientId::parse(&m.client_id).ok_or_else(bad)?,
        scopes: Scopes::parse(&m.scopes).map_err(|_| bad())?,
        created_at: instant(m.created_at),
        expires_at: instant(m.expires_at),
        state,
    })
}

impl SqlStore {
    pub(crate) async fn put_device_grant_row(&self, g: &DeviceGrant) -> Result<(), StoreError> {
        let res = device_grants::Entity::insert(device_grants::ActiveModel {
            device_code_hash: Set(g.device_code_hash.clone()),
            user_code: Set(g.user_code.as_str().to_owned()),
            client_id: Set(g.client.to_string()),
            scopes: Set(g.scopes.join()),
            created_at: Set(millis(g.created_at)),
            expires_at: Set(millis(g.expires_at)),
            state: Set(PENDING.to_owned()),
            user_id: Set(None),
            auth_time: Set(None),
            amr: Set(None),
            last_polled_at: Set(None),
        })
        .exec_without_returning(self.conn())
        .await;
        conflict_or_unavailable(res)
    }

    pub(crate) async fn device_grant_row(
        &self,
        code: &UserCode,
    ) -> Result<Option<DeviceGrant>, StoreError> {
        let select =
            device_grants::Entity::find().filter(device_grants::Column::UserCode.eq(code.as_str()));
        one(self.conn(), select, to_domain).await
    }

    pub(crate) async fn poll_device_grant_row(
        &self,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(DeviceGrant, Option<DateTime<Utc>>)>, StoreError> {
        let txn = self.db.begin().await.map_err(unavailable)?;
        let select = device_grants::Entity::find_by_id(hash.to_owned());
        let Some(row) = select.one(&txn).await.map_err(unavailable)? else {
            txn.rollback().await.map_err(unavailable)?;
            return Ok(None);
        };
        let previous = row.last_polled_at.map(instant);
        let stamp = device_grants::Entity::update_many()
            .col_expr(
                device_grants::Column::LastPolledAt,
                Expr::value(millis(now)),
            )
            .filter(device_grants::Column::DeviceCodeHash.eq(hash));
        updated(&txn, stamp).await?;
        txn.commit().await.map_err(unavailable)?;
        Ok(Some((to_domain(row)?, previous)))
    }

    pub(crate) async fn decide_device_grant_row(
        &self,
        code: &UserCode,
        to: &DeviceGrantState,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut decide = device_grants::Entity::update_many()
            .filter(device_grants::Column::UserCode.eq(code.as_str()))
            .filter(device_grants::Column::State.eq(PENDING))
            .filter(device_grants::Column::ExpiresAt.gt(millis(now)));
        decide = match to {
            DeviceGrantState::Approved {
                user,
                auth_time,
                amr,
            } => decide
                .col_expr(device_grants::Column::State, Expr::value(APPROVED))
                .col_expr(device_grants::Column::UserId, Expr::value(user.to_string()))
                .col_expr(
                    device_grants::Column::AuthTime,
                    Expr::value(millis(*auth_time)),
                )
                .col_expr(
                    device_grants::Column::Amr,
                    Expr::value(AuthMethod::join(amr)),
                ),
            DeviceGrantState::Denied => {
                decide.col_expr(device_grants::Column::State, Expr::value(DENIED))
            }
            DeviceGrantState::Pending | DeviceGrantState::Used => return Ok(false),
        };
        Ok(updated(self.conn(), decide).await? == 1)
    }

    pub(crate) async fn use_device_grant_row(&self, hash: &str) -> Result<bool, StoreError> {
        let use_it = device_grants::Entity::update_many()
            .col_expr(device_grants::Column::State, Expr::value(USED))
            .filter(device_grants::Column::DeviceCodeHash.eq(hash))
            .filter(device_grants::Column::State.eq(APPROVED));
        Ok(updated(self.conn(), use_it).await? == 1)
    }

    pub(crate) async fn purge_device_grant_rows(
        &self,
        now: DateTime<Utc>,
    ) -> Result<u64, StoreError> {
        let expired = device_grants::Column::ExpiresAt.lt(millis(now));
        delete_where::<device_grants::Entity>(self.conn(), expired).await
    }
}
