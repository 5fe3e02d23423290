//! `UserRepository` on SQL. Case-insensitive uniqueness lives in the `username_key`
//! column's unique index, so it holds on every dialect whatever its collation.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use tessera_domain::email::Email;
use tessera_domain::ports::{CreateUserError, StoreError, UserRepository};
use tessera_domain::user::{PasswordHash, Role, User, UserId, Username};
use uuid::Uuid;

use crate::entities::users;
use crate::{
    SqlStore, all, corrupt, instant, is_unique_violation, millis, one, unavailable, updated,
};

pub(crate) fn to_domain(m: users::Model) -> Result<User, StoreError> {
    let roles: Vec<String> = serde_json::from_str(&m.roles).map_err(|_| corrupt("user"))?;
    Ok(User {
        id: UserId(Uuid::parse_str(&m.id).map_err(|_| corrupt("user"))?),
        username: Username::parse(&m.username).map_err(|_| corrupt("user"))?,
        password_hash: PasswordHash::new(m.password_hash),
        roles: roles.iter().filter_map(|r| Role::parse(r)).collect(),
        created_at: instant(m.created_at),
        disabled_at: m.disabled_at.map(instant),
        email: m
            .email
            .as_deref()
            .map(Email::parse)
            .transpose()
            .map_err(|_| corrupt("user"))?,
        email_verified: m.email_verified_at.is_some(),
    })
}

#[async_trait]
impl UserRepository for SqlStore {
    async fn create(&self, user: &User) -> Result<(), CreateUserError> {
        let roles: Vec<&str> = user.roles.iter().map(Role::as_str).collect();
        let model = users::ActiveModel {
            id: Set(user.id.to_string()),
            username: Set(user.username.as_str().to_owned()),
            username_key: Set(user.username.canonical()),
            password_hash: Set(user.password_hash.as_str().to_owned()),
            roles: Set(
                serde_json::to_string(&roles).map_err(|e| StoreError::Unavailable(e.into()))?
            ),
            created_at: Set(millis(user.created_at)),
            disabled_at: Set(user.disabled_at.map(millis)),
            // Stored unverified: a verified address, the only unique kind, is set by
            // `set_verified_email` (see the migration).
            email: Set(user.email.as_ref().map(|e| e.as_str().to_owned())),
            email_key: Set(None),
            email_verified_at: Set(None),
        };
        match users::Entity::insert(model)
            .exec_without_returning(self.conn())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(CreateUserError::UsernameTaken),
            Err(e) => Err(unavailable(e).into()),
        }
    }

    async fn find_by_username(&self, username: &Username) -> Result<Option<User>, StoreError> {
        let select =
            users::Entity::find().filter(users::Column::UsernameKey.eq(username.canonical()));
        one(self.conn(), select, to_domain).await
    }

    async fn find_by_id(&self, id: UserId) -> Result<Option<User>, StoreError> {
        let select = users::Entity::find_by_id(id.to_string());
        one(self.conn(), select, to_domain).await
    }

    async fn update_password_hash(
        &self,
        id: UserId,
        hash: &PasswordHash,
    ) -> Result<(), StoreError> {
        let model = users::ActiveModel {
            id: Set(id.to_string()),
            password_hash: Set(hash.as_str().to_owned()),
            ..Default::default()
        };
        model.update(self.conn()).await.map_err(unavailable)?;
        Ok(())
    }

    async fn replace_password_hash(
        &self,
        id: UserId,
        expected: &PasswordHash,
        new: &PasswordHash,
    ) -> Result<bool, StoreError> {
        let replace = users::Entity::update_many()
            .col_expr(users::Column::PasswordHash, Expr::value(new.as_str()))
            .filter(users::Column::Id.eq(id.to_string()))
            .filter(users::Column::PasswordHash.eq(expected.as_str()));
        Ok(updated(self.conn(), replace).await? == 1)
    }

    async fn list(&self, offset: u64, limit: u64) -> Result<(Vec<User>, u64), StoreError> {
        let total = users::Entity::find()
            .count(self.conn())
            .await
            .map_err(unavailable)?;
        let select = users::Entity::find()
            .order_by_asc(users::Column::CreatedAt)
            .order_by_asc(users::Column::Id)
            .offset(offset)
            .limit(limit);
        Ok((all(self.conn(), select, to_domain).await?, total))
    }

    async fn disable(&self, id: UserId, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let disable = users::Entity::update_many()
            .col_expr(users::Column::DisabledAt, Expr::value(millis(at)))
            .filter(users::Column::Id.eq(id.to_string()))
            .filter(users::Column::DisabledAt.is_null());
        Ok(updated(self.conn(), disable).await? == 1)
    }

    async fn find_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        let select = users::Entity::find().filter(users::Column::EmailKey.eq(email.canonical()));
        one(self.conn(), select, to_domain).await
    }

    async fn set_verified_email(
        &self,
        id: UserId,
        email: &Email,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if set_verified_email(self.conn(), id, email, at).await? {
            return Ok(true);
        }
        // MySQL counts changed rows only: an update to identical values is 0 rows.
        Ok(self.find_by_id(id).await?.is_some())
    }
}

/// Makes `email` the user's verified address (also inside a redemption's transaction).
pub(crate) async fn set_verified_email(
    conn: &impl sea_orm::ConnectionTrait,
    id: UserId,
    email: &Email,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let res = users::Entity::update_many()
        .col_expr(users::Column::Email, Expr::value(email.as_str()))
        .col_expr(users::Column::EmailKey, Expr::value(email.canonical()))
        .col_expr(users::Column::EmailVerifiedAt, Expr::value(millis(at)))
        .filter(users::Column::Id.eq(id.to_string()))
        .exec(conn)
        .await;
    match res {
        Ok(r) => Ok(r.rows_affected == 1),
        Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict),
        Err(e) => Err(unavailable(e)),
    }
}
