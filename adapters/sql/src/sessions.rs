//! `SessionRepository` on SQL.
//!
//! Rotation is atomic on every dialect through one conditional statement:
//! `UPDATE refresh_tokens SET rotated_at = :now WHERE hash = :presented AND rotated_at IS
//! NULL`. The database applies it to the row under its row lock (SQLite: the database
//! write lock), so of any number of concurrent callers exactly one sees one affected row
//! and goes on to insert the child in the same transaction; every other caller sees zero
//! rows and reads the winner's `rotated_at`. No read-then-write window exists.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use tessera_domain::mfa::AuthMethod;
use tessera_domain::oidc::{ClientId, OAuthGrant, Scopes};
use tessera_domain::ports::{SessionRepository, StoreError};
use tessera_domain::session::{
    ClientInfo, RefreshTokenHash, RefreshTokenState, RotateOutcome, Session, SessionId,
};
use tessera_domain::user::{User, UserId};
use uuid::Uuid;

use crate::entities::{refresh_tokens, sessions, users};
use crate::{SqlStore, all, clip, corrupt, instant, millis, one, unavailable, updated};

fn to_domain(m: sessions::Model) -> Result<Session, StoreError> {
    Ok(Session {
        id: SessionId(Uuid::parse_str(&m.id).map_err(|_| corrupt("session"))?),
        user_id: UserId(Uuid::parse_str(&m.user_id).map_err(|_| corrupt("session"))?),
        created_at: instant(m.created_at),
        authenticated_at: instant(m.authenticated_at.unwrap_or(m.created_at)),
        last_used_at: instant(m.last_used_at),
        idle_expires_at: instant(m.idle_expires_at),
        absolute_expires_at: instant(m.absolute_expires_at),
        client: ClientInfo {
            ip: m.client_ip,
            user_agent: m.user_agent,
        },
        revoked_at: m.revoked_at.map(instant),
        amr: AuthMethod::parse_list(&m.amr),
        oauth: match (m.oauth_client, m.oauth_scope) {
            (Some(client), Some(scope)) => Some(OAuthGrant {
                client: ClientId::parse(&client).ok_or_else(|| corrupt("session"))?,
                scopes: Scopes::parse(&scope).map_err(|_| corrupt("session"))?,
            }),
            _ => None,
        },
    })
}

fn state_of(row: &refresh_tokens::Model) -> RefreshTokenState {
    match row.rotated_at {
        None => RefreshTokenState::Current,
        Some(at) => RefreshTokenState::RotatedAt(instant(at)),
    }
}

/// Stamps revoked at `at` the sessions not revoked yet that had not lapsed (idle or
/// absolute) before `lapsed_after`; the caller narrows it to whose.
fn ending_at(at: i64, lapsed_after: i64) -> sea_orm::UpdateMany<sessions::Entity> {
    sessions::Entity::update_many()
        .col_expr(sessions::Column::RevokedAt, Expr::value(at))
        .filter(sessions::Column::RevokedAt.is_null())
        .filter(sessions::Column::IdleExpiresAt.gt(lapsed_after))
        .filter(sessions::Column::AbsoluteExpiresAt.gt(lapsed_after))
}

impl SqlStore {
    /// Runs `ending`, one statement that stamps sessions revoked at an instant, and
    /// answers the sessions it ended: those `stamped` (the sessions with that instant)
    /// finds after it but not before — MySQL cannot `RETURNING`, and an earlier
    /// statement may have stamped the same instant (the same millisecond, or a clock
    /// that stands still), whose sessions were not ended by this one.
    async fn ended_by(
        &self,
        ending: sea_orm::UpdateMany<sessions::Entity>,
        stamped: sea_orm::Select<sessions::Entity>,
    ) -> Result<Vec<SessionId>, StoreError> {
        let id = |m: sessions::Model| {
            Uuid::parse_str(&m.id)
                .map(SessionId)
                .map_err(|_| corrupt("session"))
        };
        let before = all(self.conn(), stamped.clone(), id).await?;
        updated(self.conn(), ending).await?;
        let after = all(self.conn(), stamped, id).await?;
        Ok(after.into_iter().filter(|s| !before.contains(s)).collect())
    }
}

#[async_trait]
impl SessionRepository for SqlStore {
    async fn create(&self, session: &Session, token: &RefreshTokenHash) -> Result<(), StoreError> {
        let txn = self.db.begin().await.map_err(unavailable)?;
        sessions::Entity::insert(sessions::ActiveModel {
            id: Set(session.id.to_string()),
            user_id: Set(session.user_id.to_string()),
            created_at: Set(millis(session.created_at)),
            last_used_at: Set(millis(session.last_used_at)),
            idle_expires_at: Set(millis(session.idle_expires_at)),
            absolute_expires_at: Set(millis(session.absolute_expires_at)),
            user_agent: Set(session.client.user_agent.as_deref().map(|s| clip(s, 512))),
            client_ip: Set(session.client.ip.as_deref().map(|s| clip(s, 64))),
            revoked_at: Set(session.revoked_at.map(millis)),
            amr: Set(AuthMethod::join(&session.amr)),
            oauth_client: Set(session.oauth.as_ref().map(|o| o.client.to_string())),
            oauth_scope: Set(session.oauth.as_ref().map(|o| o.scopes.join())),
            authenticated_at: Set(Some(millis(session.authenticated_at))),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(unavailable)?;
        refresh_tokens::Entity::insert(refresh_tokens::ActiveModel {
            hash: Set(token.0.clone()),
            session_id: Set(session.id.to_string()),
            issued_at: Set(millis(session.created_at)),
            rotated_at: Set(None),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(unavailable)?;
        txn.commit().await.map_err(unavailable)
    }

    async fn find_by_refresh(
        &self,
        token: &RefreshTokenHash,
    ) -> Result<Option<(Session, RefreshTokenState)>, StoreError> {
        let found = refresh_tokens::Entity::find_by_id(token.0.clone())
            .find_also_related(sessions::Entity)
            .one(self.conn())
            .await
            .map_err(unavailable)?;
        let Some((row, Some(session))) = found else {
            return Ok(None);
        };
        Ok(Some((to_domain(session)?, state_of(&row))))
    }

    async fn find_for_refresh(
        &self,
        token: &RefreshTokenHash,
    ) -> Result<Option<(Session, RefreshTokenState, Option<User>)>, StoreError> {
        // One statement: every statement is a round trip to SQLite's worker thread (or
        // the server), and the refresh path is made of them.
        let found = refresh_tokens::Entity::find_by_id(token.0.clone())
            .find_also_related(sessions::Entity)
            .and_also_related(users::Entity)
            .one(self.conn())
            .await
            .map_err(unavailable)?;
        let Some((row, Some(session), user)) = found else {
            return Ok(None);
        };
        let user = user.map(crate::users::to_domain).transpose()?;
        Ok(Some((to_domain(session)?, state_of(&row), user)))
    }

    async fn rotate(
        &self,
        session: SessionId,
        presented: &RefreshTokenHash,
        child: &RefreshTokenHash,
        now: DateTime<Utc>,
        idle_expires_at: DateTime<Utc>,
    ) -> Result<RotateOutcome, StoreError> {
        let txn = self.db.begin().await.map_err(unavailable)?;
        let claim = refresh_tokens::Entity::update_many()
            .col_expr(refresh_tokens::Column::RotatedAt, Expr::value(millis(now)))
            .filter(refresh_tokens::Column::Hash.eq(presented.0.clone()))
            .filter(refresh_tokens::Column::RotatedAt.is_null());
        if updated(&txn, claim).await? != 1 {
            txn.rollback().await.map_err(unavailable)?;
            let select = refresh_tokens::Entity::find_by_id(presented.0.clone());
            let rotated_at = one(self.conn(), select, |r| Ok(r.rotated_at)).await?;
            return Ok(match rotated_at.flatten() {
                Some(at) => RotateOutcome::AlreadyRotated(instant(at)),
                None => RotateOutcome::Unknown,
            });
        }
        refresh_tokens::Entity::insert(refresh_tokens::ActiveModel {
            hash: Set(child.0.clone()),
            session_id: Set(session.to_string()),
            issued_at: Set(millis(now)),
            rotated_at: Set(None),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(unavailable)?;
        // Only a session not revoked meanwhile is renewed: a refresh racing a logout
        // either commits first (and the logout's rule covers its token) or mints nothing.
        let renew = sessions::Entity::update_many()
            .col_expr(sessions::Column::LastUsedAt, Expr::value(millis(now)))
            .col_expr(
                sessions::Column::IdleExpiresAt,
                Expr::value(millis(idle_expires_at)),
            )
            .filter(sessions::Column::Id.eq(session.to_string()))
            .filter(sessions::Column::RevokedAt.is_null());
        if updated(&txn, renew).await? != 1 {
            txn.rollback().await.map_err(unavailable)?;
            return Ok(RotateOutcome::Unknown);
        }
        txn.commit().await.map_err(unavailable)?;
        Ok(RotateOutcome::Rotated)
    }

    async fn find(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        let select = sessions::Entity::find_by_id(id.to_string());
        one(self.conn(), select, to_domain).await
    }

    async fn list_live(
        &self,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Session>, StoreError> {
        let now = millis(now);
        let select = sessions::Entity::find()
            .filter(sessions::Column::UserId.eq(user.to_string()))
            .filter(sessions::Column::RevokedAt.is_null())
            .filter(sessions::Column::IdleExpiresAt.gt(now))
            .filter(sessions::Column::AbsoluteExpiresAt.gt(now))
            .order_by_desc(sessions::Column::CreatedAt);
        all(self.conn(), select, to_domain).await
    }

    async fn revoke_all(
        &self,
        user: UserId,
        except: Option<SessionId>,
        now: DateTime<Utc>,
        lapsed_after: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, StoreError> {
        let (at, lapsed_after) = (millis(now), millis(lapsed_after));
        let mut ending =
            ending_at(at, lapsed_after).filter(sessions::Column::UserId.eq(user.to_string()));
        if let Some(except) = except {
            ending = ending.filter(sessions::Column::Id.ne(except.to_string()));
        }
        let stamped = sessions::Entity::find()
            .filter(sessions::Column::UserId.eq(user.to_string()))
            .filter(sessions::Column::RevokedAt.eq(at));
        self.ended_by(ending, stamped).await
    }

    async fn revoke_client_sessions(
        &self,
        client: ClientId,
        user: Option<UserId>,
        now: DateTime<Utc>,
        lapsed_after: DateTime<Utc>,
    ) -> Result<Vec<SessionId>, StoreError> {
        let (at, lapsed_after) = (millis(now), millis(lapsed_after));
        let mut ending = ending_at(at, lapsed_after)
            .filter(sessions::Column::OauthClient.eq(client.to_string()));
        let mut stamped = sessions::Entity::find()
            .filter(sessions::Column::OauthClient.eq(client.to_string()))
            .filter(sessions::Column::RevokedAt.eq(at));
        if let Some(user) = user {
            ending = ending.filter(sessions::Column::UserId.eq(user.to_string()));
            stamped = stamped.filter(sessions::Column::UserId.eq(user.to_string()));
        }
        self.ended_by(ending, stamped).await
    }

    async fn reauthenticated(
        &self,
        id: SessionId,
        at: DateTime<Utc>,
        amr: &[AuthMethod],
    ) -> Result<bool, StoreError> {
        let proven = sessions::Entity::update_many()
            .col_expr(sessions::Column::AuthenticatedAt, Expr::value(millis(at)))
            .col_expr(sessions::Column::Amr, Expr::value(AuthMethod::join(amr)))
            .filter(sessions::Column::Id.eq(id.to_string()))
            .filter(sessions::Column::RevokedAt.is_null());
        Ok(updated(self.conn(), proven).await? == 1)
    }

    async fn revoke(&self, id: SessionId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let revoke = sessions::Entity::update_many()
            .col_expr(sessions::Column::RevokedAt, Expr::value(millis(now)))
            .filter(sessions::Column::Id.eq(id.to_string()))
            .filter(sessions::Column::RevokedAt.is_null());
        Ok(updated(self.conn(), revoke).await? == 1)
    }
}
