//! The API explorer's own OAuth client: `/docs` signs people in through Tessera with a
//! built-in public, first-party client ([`DOCS_CLIENT_ID`]), so it is there on every
//! deployment without a registration, and cannot be deleted. Everything else passes to
//! the store.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tessera_domain::oidc::{
    AuthorizationCode, ClientId, ClientStore, Consent, DOCS_CLIENT_ID, DeviceGrant,
    DeviceGrantState, GrantType, OAuthClient, Scopes, UserCode,
};
use tessera_domain::ports::StoreError;
use tessera_domain::session::SessionId;
use tessera_domain::user::UserId;

/// The store, with the docs client in front of it.
pub struct WithDocsClient {
    inner: Arc<dyn ClientStore>,
    docs: OAuthClient,
}

impl WithDocsClient {
    /// `public_base`: where the server is reached (`server.public_url`, else
    /// `http://<listen>`). Swagger UI's receiver page is the redirect URI; on a loopback
    /// address the same page under `localhost` is registered too, as a browser may use
    /// either name.
    pub fn new(inner: Arc<dyn ClientStore>, public_base: &str) -> Self {
        let receiver =
            |base: &str| format!("{}/docs/oauth-receiver.html", base.trim_end_matches('/'));
        let mut redirect_uris = vec![receiver(public_base)];
        for ip in ["127.0.0.1", "[::1]"] {
            let prefix = format!("http://{ip}:");
            if let Some(port) = public_base.strip_prefix(&prefix) {
                redirect_uris.push(receiver(&format!("http://localhost:{port}")));
            }
        }
        let docs = OAuthClient {
            id: DOCS_CLIENT_ID,
            name: "Tessera API explorer (/docs)".into(),
            secret_hash: None,
            redirect_uris,
            post_logout_redirect_uris: Vec::new(),
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: Scopes::parse("openid profile email").unwrap_or_default(),
            first_party: true,
            audience: None,
            backchannel_logout_uri: None,
            backchannel_logout_session_required: false,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
        };
        Self { inner, docs }
    }
}

#[async_trait]
impl ClientStore for WithDocsClient {
    async fn create_client(&self, client: &OAuthClient) -> Result<(), StoreError> {
        if client.id == DOCS_CLIENT_ID {
            return Err(StoreError::Conflict);
        }
        self.inner.create_client(client).await
    }

    async fn find_client(&self, id: ClientId) -> Result<Option<OAuthClient>, StoreError> {
        if id == DOCS_CLIENT_ID {
            return Ok(Some(self.docs.clone()));
        }
        self.inner.find_client(id).await
    }

    async fn list_clients(&self) -> Result<Vec<OAuthClient>, StoreError> {
        let mut all = vec![self.docs.clone()];
        all.extend(self.inner.list_clients().await?);
        Ok(all)
    }

    async fn delete_client(&self, id: ClientId) -> Result<bool, StoreError> {
        if id == DOCS_CLIENT_ID {
            return Ok(false);
        }
        self.inner.delete_client(id).await
    }

    async fn put_code(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        self.inner.put_code(code).await
    }

    async fn redeem_code(
        &self,
        hash: &str,
        now: DateTime<Utc>,
        session: SessionId,
    ) -> Result<Option<(AuthorizationCode, bool)>, StoreError> {
        self.inner.redeem_code(hash, now, session).await
    }

    async fn purge_codes(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.purge_codes(now).await
    }

    async fn consent(&self, user: UserId, client: ClientId) -> Result<Option<Scopes>, StoreError> {
        self.inner.consent(user, client).await
    }

    async fn grant_consent(
        &self,
        user: UserId,
        client: ClientId,
        scopes: &Scopes,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.inner.grant_consent(user, client, scopes, now).await
    }

    async fn revoke_consent(&self, user: UserId, client: ClientId) -> Result<bool, StoreError> {
        self.inner.revoke_consent(user, client).await
    }

    async fn consents(&self, user: UserId) -> Result<Vec<Consent>, StoreError> {
        self.inner.consents(user).await
    }

    async fn put_device_grant(&self, grant: &DeviceGrant) -> Result<(), StoreError> {
        self.inner.put_device_grant(grant).await
    }

    async fn device_grant_by_user_code(
        &self,
        code: &UserCode,
    ) -> Result<Option<DeviceGrant>, StoreError> {
        self.inner.device_grant_by_user_code(code).await
    }

    async fn poll_device_grant(
        &self,
        device_code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(DeviceGrant, Option<DateTime<Utc>>)>, StoreError> {
        self.inner.poll_device_grant(device_code_hash, now).await
    }

    async fn decide_device_grant(
        &self,
        code: &UserCode,
        to: &DeviceGrantState,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.decide_device_grant(code, to, now).await
    }

    async fn use_device_grant(&self, device_code_hash: &str) -> Result<bool, StoreError> {
        self.inner.use_device_grant(device_code_hash).await
    }

    async fn purge_device_grants(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        self.inner.purge_device_grants(now).await
    }
}
