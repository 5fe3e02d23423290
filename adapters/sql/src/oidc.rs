//! `ClientStore` on SQL: registered clients, authorization codes and consent.
//!
//! A code is used once on every dialect through one conditional statement:
//! `UPDATE authorization_codes SET used_at = :now WHERE hash = :h AND used_at IS NULL`.
//! Of any number of concurrent exchanges exactly one sees a row affected; the others
//! read the row back as used, and end the session the first one started.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};
use tessera_domain::mfa::AuthMethod;
use tessera_domain::oidc::{
    AuthorizationCode, ClientId, ClientStore, Consent, DeviceGrant, DeviceGrantState, GrantType,
    OAuthClient, Scopes, UserCode,
};
use tessera_domain::ports::StoreError;
use tessera_domain::session::SessionId;
use tessera_domain::user::UserId;
use uuid::Uuid;

use crate::entities::{authorization_codes, oauth_clients, oauth_consents};
use crate::{
    SqlStore, all, conflict_or_unavailable, corrupt, delete_where, instant, is_unique_violation,
    millis, one, unavailable, updated,
};

fn client_to_domain(m: oauth_clients::Model) -> Result<OAuthClient, StoreError> {
    let list =
        |json: &str| serde_json::from_str::<Vec<String>>(json).map_err(|_| corrupt("client"));
    Ok(OAuthClient {
        id: ClientId::parse(&m.id).ok_or_else(|| corrupt("client"))?,
        name: m.name,
        secret_hash: m.secret_hash,
        redirect_uris: list(&m.redirect_uris)?,
        post_logout_redirect_uris: list(&m.post_logout_redirect_uris)?,
        grant_types: m
            .grant_types
            .split(' ')
            .filter_map(GrantType::parse)
            .collect(),
        scopes: Scopes::parse(&m.scopes).map_err(|_| corrupt("client"))?,
        first_party: m.first_party != 0,
        audience: m.audience,
        backchannel_logout_uri: m.backchannel_logout_uri,
        backchannel_logout_session_required: m.backchannel_logout_session_required != 0,
        created_at: instant(m.created_at),
    })
}

fn code_to_domain(m: authorization_codes::Model) -> Result<AuthorizationCode, StoreError> {
    let uuid = |s: &str| Uuid::parse_str(s).map_err(|_| corrupt("authorization code"));
    Ok(AuthorizationCode {
        hash: m.hash,
        client: ClientId(uuid(&m.client_id)?),
        user: UserId(uuid(&m.user_id)?),
        redirect_uri: m.redirect_uri,
        scopes: Scopes::parse(&m.scopes).map_err(|_| corrupt("authorization code"))?,
        nonce: m.nonce,
        code_challenge: m.code_challenge,
        auth_time: instant(m.auth_time),
        amr: AuthMethod::parse_list(&m.amr),
        expires_at: instant(m.expires_at),
        session: m
            .session_id
            .as_deref()
            .map(uuid)
            .transpose()?
            .map(SessionId),
    })
}

fn json_list(list: &[String]) -> String {
    serde_json::Value::from(list.to_vec()).to_string()
}

#[async_trait]
impl ClientStore for SqlStore {
    async fn create_client(&self, c: &OAuthClient) -> Result<(), StoreError> {
        let res = oauth_clients::Entity::insert(oauth_clients::ActiveModel {
            id: Set(c.id.to_string()),
            name: Set(c.name.clone()),
            secret_hash: Set(c.secret_hash.clone()),
            redirect_uris: Set(json_list(&c.redirect_uris)),
            post_logout_redirect_uris: Set(json_list(&c.post_logout_redirect_uris)),
            grant_types: Set(c
                .grant_types
                .iter()
                .map(|g| g.as_str())
                .collect::<Vec<_>>()
                .join(" ")),
            scopes: Set(c.scopes.join()),
            first_party: Set(i32::from(c.first_party)),
            audience: Set(c.audience.clone()),
            backchannel_logout_uri: Set(c.backchannel_logout_uri.clone()),
            backchannel_logout_session_required: Set(i32::from(
                c.backchannel_logout_session_required,
            )),
            created_at: Set(millis(c.created_at)),
        })
        .exec_without_returning(self.conn())
        .await;
        conflict_or_unavailable(res)
    }

    async fn find_client(&self, id: ClientId) -> Result<Option<OAuthClient>, StoreError> {
        let select = oauth_clients::Entity::find_by_id(id.to_string());
        one(self.conn(), select, client_to_domain).await
    }

    async fn list_clients(&self) -> Result<Vec<OAuthClient>, StoreError> {
        let select = oauth_clients::Entity::find().order_by_asc(oauth_clients::Column::CreatedAt);
        all(self.conn(), select, client_to_domain).await
    }

    async fn delete_client(&self, id: ClientId) -> Result<bool, StoreError> {
        let id = id.to_string();
        let txn = self.db.begin().await.map_err(unavailable)?;
        let codes = authorization_codes::Column::ClientId.eq(id.clone());
        delete_where::<authorization_codes::Entity>(&txn, codes).await?;
        let consents = oauth_consents::Column::ClientId.eq(id.clone());
        delete_where::<oauth_consents::Entity>(&txn, consents).await?;
        let res = oauth_clients::Entity::delete_by_id(id)
            .exec(&txn)
            .await
            .map_err(unavailable)?;
        txn.commit().await.map_err(unavailable)?;
        Ok(res.rows_affected == 1)
    }

    async fn put_code(&self, c: &AuthorizationCode) -> Result<(), StoreError> {
        authorization_codes::Entity::insert(authorization_codes::ActiveModel {
            hash: Set(c.hash.clone()),
            client_id: Set(c.client.to_string()),
            user_id: Set(c.user.to_string()),
            redirect_uri: Set(c.redirect_uri.clone()),
            scopes: Set(c.scopes.join()),
            nonce: Set(c.nonce.clone()),
            code_challenge: Set(c.code_challenge.clone()),
            auth_time: Set(millis(c.auth_time)),
            amr: Set(AuthMethod::join(&c.amr)),
            expires_at: Set(millis(c.expires_at)),
            used_at: Set(None),
            session_id: Set(c.session.map(|s| s.to_string())),
        })
        .exec_without_returning(self.conn())
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn redeem_code(
        &self,
        hash: &str,
        now: DateTime<Utc>,
        session: SessionId,
    ) -> Result<Option<(AuthorizationCode, bool)>, StoreError> {
        let use_up = authorization_codes::Entity::update_many()
            .col_expr(
                authorization_codes::Column::UsedAt,
                Expr::value(millis(now)),
            )
            .col_expr(
                authorization_codes::Column::SessionId,
                Expr::value(session.to_string()),
            )
            .filter(authorization_codes::Column::Hash.eq(hash))
            .filter(authorization_codes::Column::UsedAt.is_null());
        let first = updated(self.conn(), use_up).await? == 1;
        let select = authorization_codes::Entity::find_by_id(hash.to_owned());
        one(self.conn(), select, |m| {
            code_to_domain(m).map(|c| (c, first))
        })
        .await
    }

    async fn purge_codes(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let expired = authorization_codes::Column::ExpiresAt.lt(millis(now));
        delete_where::<authorization_codes::Entity>(self.conn(), expired).await
    }

    async fn consent(&self, user: UserId, client: ClientId) -> Result<Option<Scopes>, StoreError> {
        let select = oauth_consents::Entity::find_by_id((user.to_string(), client.to_string()));
        one(self.conn(), select, |m| {
            Scopes::parse(&m.scopes).map_err(|_| corrupt("consent"))
        })
        .await
    }

    async fn grant_consent(
        &self,
        user: UserId,
        client: ClientId,
        scopes: &Scopes,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin().await.map_err(unavailable)?;
        oauth_consents::Entity::delete_by_id((user.to_string(), client.to_string()))
            .exec(&txn)
            .await
            .map_err(unavailable)?;
        let inserted = oauth_consents::Entity::insert(oauth_consents::ActiveModel {
            user_id: Set(user.to_string()),
            client_id: Set(client.to_string()),
            scopes: Set(scopes.join()),
            granted_at: Set(millis(now)),
        })
        .exec_without_returning(&txn)
        .await;
        match inserted {
            Ok(_) => {}
            // A concurrent grant of the same consent won the insert: it is remembered.
            Err(e) if is_unique_violation(&e) => return Ok(()),
            Err(e) => return Err(unavailable(e)),
        }
        txn.commit().await.map_err(unavailable)?;
        Ok(())
    }

    async fn revoke_consent(&self, user: UserId, client: ClientId) -> Result<bool, StoreError> {
        let res = oauth_consents::Entity::delete_by_id((user.to_string(), client.to_string()))
            .exec(self.conn())
            .await
            .map_err(unavailable)?;
        Ok(res.rows_affected == 1)
    }

    async fn consents(&self, user: UserId) -> Result<Vec<Consent>, StoreError> {
        let rows = oauth_consents::Entity::find()
            .filter(oauth_consents::Column::UserId.eq(user.to_string()))
            .order_by_desc(oauth_consents::Column::GrantedAt)
            .all(self.conn())
            .await
            .map_err(unavailable)?;
        let ids: Vec<String> = rows.iter().map(|r| r.client_id.clone()).collect();
        let clients = oauth_clients::Entity::find()
            .filter(oauth_clients::Column::Id.is_in(ids))
            .all(self.conn())
            .await
            .map_err(unavailable)?;
        rows.into_iter()
            .filter_map(|consent| {
                let client = clients.iter().find(|c| c.id == consent.client_id)?;
                Some((consent, client))
            })
            .map(|(consent, client)| {
                Ok(Consent {
                    client: ClientId::parse(&client.id).ok_or_else(|| corrupt("consent"))?,
                    client_name: client.name.clone(),
                    scopes: Scopes::parse(&consent.scopes).map_err(|_| corrupt("consent"))?,
                    granted_at: instant(consent.granted_at),
                })
            })
            .collect()
    }

    async fn put_device_grant(&self, grant: &DeviceGrant) -> Result<(), StoreError> {
        self.put_device_grant_row(grant).await
    }

    async fn device_grant_by_user_code(
        &self,
        code: &UserCode,
    ) -> Result<Option<DeviceGrant>, StoreError> {
        self.device_grant_row(code).await
    }

    async fn poll_device_grant(
        &self,
        device_code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(DeviceGrant, Option<DateTime<Utc>>)>, StoreError> {
        self.poll_device_grant_row(device_code_hash, now).await
    }

    async fn decide_device_grant(
        &self,
        code: &UserCode,
        to: &DeviceGrantState,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.decide_device_grant_row(code, to, now).await
    }

    async fn use_device_grant(&self, device_code_hash: &str) -> Result<bool, StoreError> {
        self.use_device_grant_row(device_code_hash).await
    }

    async fn purge_device_grants(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.purge_device_grant_rows(now).await
    }
}
