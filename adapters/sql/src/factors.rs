//! `FactorStore` and `ChallengeStore` on SQL.
//!
//! Every single-use rule is one conditional statement, so it holds across instances:
//! a TOTP step is accepted by `UPDATE totp_factors SET last_step = :s WHERE user_id = :u
//! AND confirmed_at IS NOT NULL AND (last_step IS NULL OR last_step < :s)`, a recovery
//! code by `UPDATE recovery_codes SET used_at = :now WHERE … AND used_at IS NULL`, a
//! challenge's attempt by `UPDATE challenges SET attempts = attempts + 1 WHERE id = :id
//! AND attempts < :max AND expires_at > :now`, and a challenge is used up by a `DELETE`
//! that only one caller sees affect a row.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, Statement, TransactionTrait,
};
use tessera_domain::mfa::{
    CeremonyState, Challenge, ChallengeId, ChallengePurpose, ChallengeStore, FactorStore,
    FactorSummary, PasskeyName, PasskeyRecord, PasskeyUse, RecoveryCodeHash, TotpEnrollment,
};
use tessera_domain::ports::StoreError;
use tessera_domain::user::UserId;
use uuid::Uuid;

use crate::entities::{challenges, passkeys, recovery_codes, totp_factors};
use crate::{
    SqlStore, all, conflict_or_unavailable, corrupt, delete_where, instant, is_unique_violation,
    millis, one, unavailable, updated,
};

/// The unique key of a credential id: its BLAKE2b-256, base64url.
fn credential_key(credential_id: &str) -> String {
    use blake2::Digest as _;
    URL_SAFE_NO_PAD.encode(blake2::Blake2b256::digest(credential_id.as_bytes()))
}

fn passkey_to_domain(m: passkeys::Model) -> Result<PasskeyRecord, StoreError> {
    Ok(PasskeyRecord {
        id: Uuid::parse_str(&m.id).map_err(|_| corrupt("passkey"))?,
        user: UserId(Uuid::parse_str(&m.user_id).map_err(|_| corrupt("passkey"))?),
        name: PasskeyName::parse(&m.name).map_err(|_| corrupt("passkey"))?,
        credential_id: m.credential_id,
        data: m.data,
        created_at: instant(m.created_at),
        last_used_at: m.last_used_at.map(instant),
        sign_count: u32::try_from(m.sign_count).unwrap_or(u32::MAX),
        backup_eligible: m.backup_eligible != 0,
        backup_state: m.backup_state != 0,
    })
}

fn challenge_to_domain(m: challenges::Model) -> Result<Challenge, StoreError> {
    Ok(Challenge {
        id: ChallengeId(m.id),
        purpose: ChallengePurpose::parse(&m.purpose).ok_or_else(|| corrupt("challenge"))?,
        user: m
            .user_id
            .map(|id| Uuid::parse_str(&id).map(UserId))
            .transpose()
            .map_err(|_| corrupt("challenge"))?,
        binding: m.binding,
        state: m.state.map(CeremonyState),
        attempts: u32::try_from(m.attempts).unwrap_or(u32::MAX),
        created_at: instant(m.created_at),
        expires_at: instant(m.expires_at),
    })
}

fn code_rows(
    user: UserId,
    codes: &[RecoveryCodeHash],
    now: DateTime<Utc>,
) -> Vec<recovery_codes::ActiveModel> {
    codes
        .iter()
        .map(|c| recovery_codes::ActiveModel {
            user_id: Set(user.to_string()),
            hash: Set(c.0.clone()),
            created_at: Set(millis(now)),
            used_at: Set(None),
        })
        .collect()
}

async fn replace_codes<C: sea_orm::ConnectionTrait>(
    conn: &C,
    user: UserId,
    codes: &[RecoveryCodeHash],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let old = recovery_codes::Column::UserId.eq(user.to_string());
    delete_where::<recovery_codes::Entity>(conn, old).await?;
    if !codes.is_empty() {
        recovery_codes::Entity::insert_many(code_rows(user, codes, now))
            .exec_without_returning(conn)
            .await
            .map_err(unavailable)?;
    }
    Ok(())
}

#[async_trait]
impl FactorStore for SqlStore {
    async fn summary(&self, user: UserId) -> Result<FactorSummary, StoreError> {
        // Every password login asks this: one statement, not a count per table. A SELECT
        // of scalar subqueries without FROM is the same on all three dialects; only the
        // placeholders differ.
        let backend = self.db.get_database_backend();
        let arg = |n: u8| match backend {
            DbBackend::Postgres => format!("${n}"),
            _ => "?".to_owned(),
        };
        let sql = format!(
            "SELECT \
             (SELECT COUNT(*) FROM totp_factors WHERE user_id = {} AND confirmed_at IS NOT NULL) AS totp, \
             (SELECT COUNT(*) FROM passkeys WHERE user_id = {}) AS passkeys, \
             (SELECT COUNT(*) FROM recovery_codes WHERE user_id = {} AND used_at IS NULL) AS codes",
            arg(1),
            arg(2),
            arg(3)
        );
        let id = user.to_string();
        let stmt = Statement::from_sql_and_values(
            backend,
            sql,
            [id.clone().into(), id.clone().into(), id.into()],
        );
        let row = self
            .conn()
            .query_one_raw(stmt)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| corrupt("factor summary"))?;
        let count = |col: &str| -> Result<u32, StoreError> {
            let n: i64 = row.try_get("", col).map_err(unavailable)?;
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        };
        Ok(FactorSummary {
            totp: count("totp")? > 0,
            passkeys: count("passkeys")?,
            recovery_codes_left: count("codes")?,
        })
    }

    async fn totp(&self, user: UserId) -> Result<Option<TotpEnrollment>, StoreError> {
        let select = totp_factors::Entity::find_by_id(user.to_string());
        one(self.conn(), select, |row| {
            Ok(TotpEnrollment {
                sealed_secret: STANDARD
                    .decode(&row.secret)
                    .map_err(|_| corrupt("totp factor"))?,
                created_at: instant(row.created_at),
                confirmed_at: row.confirmed_at.map(instant),
            })
        })
        .await
    }

    async fn begin_totp(
        &self,
        user: UserId,
        sealed_secret: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let txn = self.db.begin().await.map_err(unavailable)?;
        // A confirmed enrollment stays; a pending one is replaced.
        let pending = totp_factors::Column::UserId
            .eq(user.to_string())
            .and(totp_factors::Column::ConfirmedAt.is_null());
        delete_where::<totp_factors::Entity>(&txn, pending).await?;
        let inserted = totp_factors::Entity::insert(totp_factors::ActiveModel {
            user_id: Set(user.to_string()),
            secret: Set(STANDARD.encode(sealed_secret)),
            created_at: Set(millis(now)),
            confirmed_at: Set(None),
            last_step: Set(None),
        })
        .exec_without_returning(&txn)
        .await;
        match inserted {
            Ok(_) => {
                txn.commit().await.map_err(unavailable)?;
                Ok(true)
            }
            Err(e) if is_unique_violation(&e) => {
                txn.rollback().await.map_err(unavailable)?;
                Ok(false)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn confirm_totp(
        &self,
        user: UserId,
        step: i64,
        codes: &[RecoveryCodeHash],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let txn = self.db.begin().await.map_err(unavailable)?;
        let confirm = totp_factors::Entity::update_many()
            .col_expr(totp_factors::Column::ConfirmedAt, Expr::value(millis(now)))
            .col_expr(totp_factors::Column::LastStep, Expr::value(step))
            .filter(totp_factors::Column::UserId.eq(user.to_string()))
            .filter(totp_factors::Column::ConfirmedAt.is_null());
        if updated(&txn, confirm).await? != 1 {
            txn.rollback().await.map_err(unavailable)?;
            return Ok(false);
        }
        replace_codes(&txn, user, codes, now).await?;
        txn.commit().await.map_err(unavailable)?;
        Ok(true)
    }

    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool, StoreError> {
        let accept = totp_factors::Entity::update_many()
            .col_expr(totp_factors::Column::LastStep, Expr::value(step))
            .filter(totp_factors::Column::UserId.eq(user.to_string()))
            .filter(totp_factors::Column::ConfirmedAt.is_not_null())
            .filter(
                Condition::any()
                    .add(totp_factors::Column::LastStep.is_null())
                    .add(totp_factors::Column::LastStep.lt(step)),
            );
        Ok(updated(self.conn(), accept).await? == 1)
    }

    async fn remove_totp(&self, user: UserId, and_codes: bool) -> Result<bool, StoreError> {
        let txn = self.db.begin().await.map_err(unavailable)?;
        let theirs = totp_factors::Column::UserId.eq(user.to_string());
        let removed = delete_where::<totp_factors::Entity>(&txn, theirs).await?;
        if and_codes {
            replace_codes(&txn, user, &[], Utc::now()).await?;
        }
        txn.commit().await.map_err(unavailable)?;
        Ok(removed > 0)
    }

    async fn replace_recovery_codes(
        &self,
        user: UserId,
        codes: &[RecoveryCodeHash],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin().await.map_err(unavailable)?;
        replace_codes(&txn, user, codes, now).await?;
        txn.commit().await.map_err(unavailable)
    }

    async fn use_recovery_code(
        &self,
        user: UserId,
        code: &RecoveryCodeHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let use_up = recovery_codes::Entity::update_many()
            .col_expr(recovery_codes::Column::UsedAt, Expr::value(millis(now)))
            .filter(recovery_codes::Column::UserId.eq(user.to_string()))
            .filter(recovery_codes::Column::Hash.eq(code.0.clone()))
            .filter(recovery_codes::Column::UsedAt.is_null());
        Ok(updated(self.conn(), use_up).await? == 1)
    }

    async fn add_passkey(&self, p: &PasskeyRecord) -> Result<(), StoreError> {
        let res = passkeys::Entity::insert(passkeys::ActiveModel {
            id: Set(p.id.to_string()),
            user_id: Set(p.user.to_string()),
            name: Set(p.name.as_str().to_owned()),
            credential_key: Set(credential_key(&p.credential_id)),
            credential_id: Set(p.credential_id.clone()),
            data: Set(p.data.clone()),
            created_at: Set(millis(p.created_at)),
            last_used_at: Set(p.last_used_at.map(millis)),
            sign_count: Set(i64::from(p.sign_count)),
            backup_eligible: Set(i32::from(p.backup_eligible)),
            backup_state: Set(i32::from(p.backup_state)),
        })
        .exec_without_returning(self.conn())
        .await;
        conflict_or_unavailable(res)
    }

    async fn passkeys(&self, user: UserId) -> Result<Vec<PasskeyRecord>, StoreError> {
        let select = passkeys::Entity::find()
            .filter(passkeys::Column::UserId.eq(user.to_string()))
            .order_by_asc(passkeys::Column::CreatedAt)
            .order_by_asc(passkeys::Column::Id);
        all(self.conn(), select, passkey_to_domain).await
    }

    async fn record_passkey_use(
        &self,
        id: Uuid,
        used: &PasskeyUse,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let record = passkeys::Entity::update_many()
            .col_expr(passkeys::Column::Data, Expr::value(used.data.clone()))
            .col_expr(
                passkeys::Column::SignCount,
                Expr::value(i64::from(used.sign_count)),
            )
            .col_expr(
                passkeys::Column::BackupState,
                Expr::value(i32::from(used.backup_state)),
            )
            .col_expr(passkeys::Column::LastUsedAt, Expr::value(millis(now)))
            .filter(passkeys::Column::Id.eq(id.to_string()));
        updated(self.conn(), record).await?;
        Ok(())
    }

    async fn rename_passkey(
        &self,
        user: UserId,
        id: Uuid,
        name: &PasskeyName,
    ) -> Result<Option<PasskeyRecord>, StoreError> {
        let rename = passkeys::Entity::update_many()
            .col_expr(passkeys::Column::Name, Expr::value(name.as_str()))
            .filter(passkeys::Column::Id.eq(id.to_string()))
            .filter(passkeys::Column::UserId.eq(user.to_string()));
        // MySQL counts only changed rows: a rename to the same name affects none, so the
        // row read back must still be the user's.
        updated(self.conn(), rename).await?;
        let select = passkeys::Entity::find_by_id(id.to_string())
            .filter(passkeys::Column::UserId.eq(user.to_string()));
        one(self.conn(), select, passkey_to_domain).await
    }

    async fn remove_passkey(&self, user: UserId, id: Uuid) -> Result<bool, StoreError> {
        let theirs = passkeys::Column::Id
            .eq(id.to_string())
            .and(passkeys::Column::UserId.eq(user.to_string()));
        Ok(delete_where::<passkeys::Entity>(self.conn(), theirs).await? == 1)
    }

    async fn remove_all(&self, user: UserId) -> Result<(), StoreError> {
        let id = user.to_string();
        let txn = self.db.begin().await.map_err(unavailable)?;
        let totp = totp_factors::Column::UserId.eq(id.clone());
        delete_where::<totp_factors::Entity>(&txn, totp).await?;
        let passkey = passkeys::Column::UserId.eq(id.clone());
        delete_where::<passkeys::Entity>(&txn, passkey).await?;
        let code = recovery_codes::Column::UserId.eq(id);
        delete_where::<recovery_codes::Entity>(&txn, code).await?;
        txn.commit().await.map_err(unavailable)
    }
}

#[async_trait]
impl ChallengeStore for SqlStore {
    async fn put(&self, c: &Challenge) -> Result<(), StoreError> {
        let txn = self.db.begin().await.map_err(unavailable)?;
        challenges::Entity::delete_by_id(c.id.0.clone())
            .exec(&txn)
            .await
            .map_err(unavailable)?;
        challenges::Entity::insert(challenges::ActiveModel {
            id: Set(c.id.0.clone()),
            purpose: Set(c.purpose.as_str().to_owned()),
            user_id: Set(c.user.map(|u| u.to_string())),
            binding: Set(c.binding.clone()),
            state: Set(c.state.as_ref().map(|s| s.0.clone())),
            attempts: Set(i32::try_from(c.attempts).unwrap_or(i32::MAX)),
            created_at: Set(millis(c.created_at)),
            expires_at: Set(millis(c.expires_at)),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(unavailable)?;
        txn.commit().await.map_err(unavailable)
    }

    async fn find(&self, id: &ChallengeId) -> Result<Option<Challenge>, StoreError> {
        let select = challenges::Entity::find_by_id(id.0.clone());
        one(self.conn(), select, challenge_to_domain).await
    }

    async fn set_state(
        &self,
        id: &ChallengeId,
        state: &CeremonyState,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let set = challenges::Entity::update_many()
            .col_expr(challenges::Column::State, Expr::value(state.0.clone()))
            .filter(challenges::Column::Id.eq(id.0.clone()))
            .filter(challenges::Column::ExpiresAt.gt(millis(now)));
        Ok(updated(self.conn(), set).await? == 1)
    }

    async fn admit_attempt(
        &self,
        id: &ChallengeId,
        max: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let admit = challenges::Entity::update_many()
            .col_expr(
                challenges::Column::Attempts,
                Expr::col(challenges::Column::Attempts).add(1),
            )
            .filter(challenges::Column::Id.eq(id.0.clone()))
            .filter(challenges::Column::Attempts.lt(i32::try_from(max).unwrap_or(i32::MAX)))
            .filter(challenges::Column::ExpiresAt.gt(millis(now)));
        Ok(updated(self.conn(), admit).await? == 1)
    }

    async fn consume(&self, id: &ChallengeId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let live = challenges::Column::Id
            .eq(id.0.clone())
            .and(challenges::Column::ExpiresAt.gt(millis(now)));
        Ok(delete_where::<challenges::Entity>(self.conn(), live).await? == 1)
    }

    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let expired = challenges::Column::ExpiresAt.lt(millis(before));
        delete_where::<challenges::Entity>(self.conn(), expired).await
    }
}
