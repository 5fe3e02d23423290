//! `SigningKeyStore` on SQL. Private parts arrive sealed by the keys adapter and are kept
//! as base64 text; a transition to `retired` nulls them out in the same statement.

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use tessera_domain::keys::{KeyState, SigningKeyRecord, SigningKeyStore};
use tessera_domain::ports::StoreError;

use crate::entities::signing_keys;
use crate::{SqlStore, corrupt, instant, is_unique_violation, millis, unavailable};

fn to_domain(m: signing_keys::Model) -> Result<SigningKeyRecord, StoreError> {
    Ok(SigningKeyRecord {
        state: KeyState::parse(&m.state).ok_or_else(|| corrupt("signing key"))?,
        private_sealed: m
            .private_sealed
            .map(|s| STANDARD.decode(s))
            .transpose()
            .map_err(|_| corrupt("signing key"))?,
        kid: m.kid,
        algorithm: m.algorithm,
        public_jwk: m.public_jwk,
        created_at: instant(m.created_at),
        activated_at: m.activated_at.map(instant),
        retiring_at: m.retiring_at.map(instant),
        retired_at: m.retired_at.map(instant),
    })
}

#[async_trait]
impl SigningKeyStore for SqlStore {
    async fn list_published(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
        signing_keys::Entity::find()
            .filter(signing_keys::Column::State.ne(KeyState::Retired.as_str()))
            .order_by_asc(signing_keys::Column::CreatedAt)
            .all(self.conn())
            .await
            .map_err(unavailable)?
            .into_iter()
            .map(to_domain)
            .collect()
    }

    async fn insert(&self, r: &SigningKeyRecord) -> Result<(), StoreError> {
        let model = signing_keys::ActiveModel {
            kid: Set(r.kid.clone()),
            algorithm: Set(r.algorithm.clone()),
            state: Set(r.state.as_str().to_owned()),
            public_jwk: Set(r.public_jwk.clone()),
            private_sealed: Set(r.private_sealed.as_ref().map(|b| STANDARD.encode(b))),
            created_at: Set(millis(r.created_at)),
            activated_at: Set(r.activated_at.map(millis)),
            retiring_at: Set(r.retiring_at.map(millis)),
            retired_at: Set(r.retired_at.map(millis)),
        };
        match signing_keys::Entity::insert(model)
            .exec_without_returning(self.conn())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn transition(
        &self,
        kid: &str,
        from: KeyState,
        to: KeyState,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut update = signing_keys::Entity::update_many()
            .col_expr(signing_keys::Column::State, Expr::value(to.as_str()));
        let stamp = match to {
            KeyState::Pending => None,
            KeyState::Active => Some(signing_keys::Column::ActivatedAt),
            KeyState::Retiring => Some(signing_keys::Column::RetiringAt),
            KeyState::Retired => Some(signing_keys::Column::RetiredAt),
        };
        if let Some(col) = stamp {
            update = update.col_expr(col, Expr::value(millis(at)));
        }
        if to == KeyState::Retired {
            update = update.col_expr(
                signing_keys::Column::PrivateSealed,
                Expr::value(Option::<String>::None),
            );
        }
        let res = update
            .filter(signing_keys::Column::Kid.eq(kid))
            .filter(signing_keys::Column::State.eq(from.as_str()))
            .exec(self.conn())
            .await
            .map_err(unavailable)?;
        Ok(res.rows_affected == 1)
    }
}
