//! `SigningKeyStore` on SQL. Private parts arrive sealed by the keys adapter and are kept
//! as base64 text; retiring a key nulls it out in the same statement. Concurrency:
//! the unique `seq` column lets exactly one instance insert "the next key", and
//! promotion is two conditional updates in one transaction, so at no instant do two
//! keys (or none, once one exists) sign.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait, UpdateMany,
};
use tessera_domain::keys::{KeyState, SigningKeyRecord, SigningKeyStore};
use tessera_domain::ports::StoreError;

use crate::entities::signing_keys;
use crate::{
    SqlStore, all, conflict_or_unavailable, corrupt, instant, millis, unavailable, updated,
};

fn to_domain(m: signing_keys::Model) -> Result<SigningKeyRecord, StoreError> {
    Ok(SigningKeyRecord {
        state: KeyState::parse(&m.state).ok_or_else(|| corrupt("signing key"))?,
        private_sealed: m
            .private_sealed
            .map(|s| STANDARD.decode(s))
            .transpose()
            .map_err(|_| corrupt("signing key"))?,
        kid: m.kid,
        seq: m.seq,
        algorithm: m.algorithm,
        public_jwk: m.public_jwk,
        created_at: instant(m.created_at),
        activated_at: m.activated_at.map(instant),
        retiring_at: m.retiring_at.map(instant),
        retired_at: m.retired_at.map(instant),
    })
}

/// Moves key `kid` from state `from` to `to`, stamping `at` in `stamp`; a key not in
/// `from` is left alone.
fn transition(
    kid: &str,
    from: KeyState,
    to: KeyState,
    stamp: signing_keys::Column,
    at: DateTime<Utc>,
) -> UpdateMany<signing_keys::Entity> {
    signing_keys::Entity::update_many()
        .col_expr(signing_keys::Column::State, Expr::value(to.as_str()))
        .col_expr(stamp, Expr::value(millis(at)))
        .filter(signing_keys::Column::Kid.eq(kid))
        .filter(signing_keys::Column::State.eq(from.as_str()))
}

#[async_trait]
impl SigningKeyStore for SqlStore {
    async fn list(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        let select = signing_keys::Entity::find().order_by_asc(signing_keys::Column::Seq);
        all(self.conn(), select, to_domain).await
    }

    async fn states(&self) -> Result<Vec<(String, KeyState)>, StoreError> {
        let rows: Vec<(String, String)> = signing_keys::Entity::find()
            .select_only()
            .column(signing_keys::Column::Kid)
            .column(signing_keys::Column::State)
            .into_tuple()
            .all(self.conn())
            .await
            .map_err(unavailable)?;
        rows.into_iter()
            .map(|(kid, state)| {
                KeyState::parse(&state)
                    .map(|s| (kid, s))
                    .ok_or_else(|| corrupt("signing key"))
            })
            .collect()
    }

    async fn insert(&self, r: &SigningKeyRecord) -> Result<(), StoreError> {
        let model = signing_keys::ActiveModel {
            kid: Set(r.kid.clone()),
            seq: Set(r.seq),
            algorithm: Set(r.algorithm.clone()),
            state: Set(r.state.as_str().to_owned()),
            public_jwk: Set(r.public_jwk.clone()),
            private_sealed: Set(r.private_sealed.as_ref().map(|b| STANDARD.encode(b))),
            created_at: Set(millis(r.created_at)),
            activated_at: Set(r.activated_at.map(millis)),
            retiring_at: Set(r.retiring_at.map(millis)),
            retired_at: Set(r.retired_at.map(millis)),
        };
        let res = signing_keys::Entity::insert(model)
            .exec_without_returning(self.conn())
            .await;
        conflict_or_unavailable(res)
    }

    async fn promote(
        &self,
        next: &str,
        previous: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let txn = self.db.begin().await.map_err(unavailable)?;
        let activated_at = signing_keys::Column::ActivatedAt;
        let mut steps = vec![transition(
            next,
            KeyState::Pending,
            KeyState::Active,
            activated_at,
            at,
        )];
        if let Some(previous) = previous {
            let retiring_at = signing_keys::Column::RetiringAt;
            steps.push(transition(
                previous,
                KeyState::Active,
                KeyState::Retiring,
                retiring_at,
                at,
            ));
        }
        for step in steps {
            if updated(&txn, step).await? != 1 {
                txn.rollback().await.map_err(unavailable)?;
                return Ok(false);
            }
        }
        txn.commit().await.map_err(unavailable)?;
        Ok(true)
    }

    async fn retire(&self, kid: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let retire = signing_keys::Entity::update_many()
            .col_expr(
                signing_keys::Column::State,
                Expr::value(KeyState::Retired.as_str()),
            )
            .col_expr(signing_keys::Column::RetiredAt, Expr::value(millis(at)))
            .col_expr(
                signing_keys::Column::PrivateSealed,
                Expr::value(Option::<String>::None),
            )
            .filter(signing_keys::Column::Kid.eq(kid))
            .filter(signing_keys::Column::State.ne(KeyState::Retired.as_str()));
        Ok(updated(self.conn(), retire).await? == 1)
    }
}
