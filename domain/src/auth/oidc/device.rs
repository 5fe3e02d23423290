//! The device authorization grant (RFC 8628): a device without a browser (a command-line
//! tool, a TV) asks for a device code and a user code; the person types the user code on
//! Tessera's `/device` page in any browser, signed in, sees which app asks for what, and
//! approves or denies; the device polls the token endpoint until then. Codes live 10
//! minutes; the user code is single use; polling faster than every 5 seconds is
//! `slow_down`.

use crate::oidc::{
    DEVICE_GRANT_TTL, DEVICE_POLL_INTERVAL, DeviceGrant, DeviceGrantState, GrantType, UserCode,
};
use crate::ports::StoreError;

use super::*;

/// What a device is given to start (RFC 8628 §3.2).
#[derive(Debug, Clone)]
pub struct DeviceStart {
    pub device_code: String,
    pub user_code: UserCode,
    pub expires_in: i64,
    pub interval: i64,
}

/// A pending request, as the `/device` page shows it to the person.
#[derive(Debug, Clone)]
pub struct DeviceRequest {
    pub client: OAuthClient,
    pub scopes: Scopes,
    pub user_code: UserCode,
}

impl OidcProvider {
    /// Starts a device authorization for `client` (RFC 8628 §3.1).
    ///
    /// # Errors
    /// [`OAuthError::UnauthorizedClient`] without the device grant;
    /// [`OAuthError::InvalidScope`] for a scope the client may not have.
    pub async fn start_device_authorization(
        &self,
        client: &OAuthClient,
        scope: Option<&str>,
    ) -> Result<DeviceStart, OAuthError> {
        if !client.allows(GrantType::DeviceCode) {
            return Err(OAuthError::UnauthorizedClient);
        }
        let scopes = match scope {
            Some(raw) => Scopes::parse(raw)
                .map_err(|s| OAuthError::InvalidScope(format!("unknown scope {s:?}")))?,
            None => client.scopes.clone(),
        };
        if !client.scopes.covers(&scopes) || scopes.is_empty() {
            return Err(OAuthError::InvalidScope(
                "ask for scopes this client may have".into(),
            ));
        }
        let now = self.core.now();
        let device_code = crate::opaque::random()?;
        // A taken user code (one in about 25 billion while pending) is drawn again.
        for _ in 0..3 {
            let grant = DeviceGrant {
                device_code_hash: crate::opaque::digest(&device_code),
                user_code: UserCode::generate()?,
                client: client.id,
                scopes: scopes.clone(),
                created_at: now,
                expires_at: now + DEVICE_GRANT_TTL,
                state: DeviceGrantState::Pending,
            };
            match self.deps.clients.put_device_grant(&grant).await {
                Ok(()) => {
                    return Ok(DeviceStart {
                        device_code,
                        user_code: grant.user_code,
                        expires_in: DEVICE_GRANT_TTL.num_seconds(),
                        interval: DEVICE_POLL_INTERVAL.num_seconds(),
                    });
                }
                Err(StoreError::Conflict) => {}
                Err(e) => return Err(Unavailable::from(e).into()),
            }
        }
        Err(anyhow::anyhow!("no free user code after three draws").into())
    }

    /// The pending, unexpired request a user code names, for the person to decide.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be read.
    pub async fn device_request(
        &self,
        code: &UserCode,
    ) -> Result<Option<DeviceRequest>, Unavailable> {
        let now = self.core.now();
        let Some(grant) = self.deps.clients.device_grant_by_user_code(code).await? else {
            return Ok(None);
        };
        if grant.state != DeviceGrantState::Pending || now >= grant.expires_at {
            return Ok(None);
        }
        let Some(client) = self.deps.clients.find_client(grant.client).await? else {
            return Ok(None);
        };
        Ok(Some(DeviceRequest {
            client,
            scopes: grant.scopes,
            user_code: grant.user_code,
        }))
    }

    /// The signed-in person approves or denies the request a user code names. The code
    /// is good for one decision.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be written; `Ok(false)` when the code names
    /// no pending request (any more).
    pub async fn decide_device_request(
        &self,
        claims: &Claims,
        code: &UserCode,
        approve: bool,
        client: &ClientInfo,
    ) -> Result<bool, Unavailable> {
        let now = self.core.now();
        let to = if approve {
            DeviceGrantState::Approved {
                user: claims.sub,
                auth_time: DateTime::from_timestamp(claims.auth_time, 0).unwrap_or(now),
                amr: claims
                    .amr
                    .iter()
                    .filter_map(|m| crate::mfa::AuthMethod::parse(m))
                    .collect(),
            }
        } else {
            DeviceGrantState::Denied
        };
        let decided = self
            .deps
            .clients
            .decide_device_grant(code, &to, now)
            .await?;
        if decided
            && approve
            && let Some(grant) = self.deps.clients.device_grant_by_user_code(code).await?
        {
            let event = AuditEvent::ConsentGranted {
                user: claims.sub,
                client: grant.client,
            };
            self.core.audit(event, client).await;
        }
        Ok(decided)
    }

    /// The device polls (RFC 8628 §3.4–3.5): tokens once the person approved, else why
    /// not yet.
    ///
    /// # Errors
    /// [`OAuthError::AuthorizationPending`], [`OAuthError::SlowDown`],
    /// [`OAuthError::AccessDenied`], [`OAuthError::ExpiredToken`]; `InvalidGrant` for a
    /// device code that is unknown, another client's, or already used.
    pub async fn poll_device(
        &self,
        client: &OAuthClient,
        device_code: &str,
        info: &ClientInfo,
    ) -> Result<OidcTokens, OAuthError> {
        if !client.allows(GrantType::DeviceCode) {
            return Err(OAuthError::UnauthorizedClient);
        }
        let invalid = || OAuthError::InvalidGrant("the device code is invalid, used or not yours");
        if !crate::opaque::is_well_formed(device_code) {
            return Err(invalid());
        }
        let now = self.core.now();
        let hash = crate::opaque::digest(device_code);
        let Some((grant, previous)) = self.deps.clients.poll_device_grant(&hash, now).await? else {
            return Err(invalid());
        };
        if grant.client != client.id {
            return Err(invalid());
        }
        if now >= grant.expires_at && grant.state != DeviceGrantState::Used {
            return Err(OAuthError::ExpiredToken);
        }
        let too_soon = previous.is_some_and(|p| now - p < DEVICE_POLL_INTERVAL);
        let (user, auth_time, amr) = match grant.state {
            DeviceGrantState::Pending if too_soon => return Err(OAuthError::SlowDown),
            DeviceGrantState::Pending => return Err(OAuthError::AuthorizationPending),
            DeviceGrantState::Denied => return Err(OAuthError::AccessDenied),
            DeviceGrantState::Used => return Err(invalid()),
            DeviceGrantState::Approved {
                user,
                auth_time,
                amr,
            } => (user, auth_time, amr),
        };
        if !self.deps.clients.use_device_grant(&hash).await? {
            return Err(invalid());
        }
        let user = self.core.enabled_user(user).await?.ok_or_else(invalid)?;
        let facts = IdTokenFacts {
            scopes: &grant.scopes,
            nonce: None,
            auth_time,
            amr: &amr,
        };
        let (session, pair) = self
            .start_client_session(&user, client, &facts, SessionId::new_random(), info, now)
            .await?;
        self.tokens_for(&user, client, &session, pair, &facts, info, now)
            .await
    }

    /// Deletes device grants that expired before `now`.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be written.
    pub async fn purge_device_grants(&self, now: DateTime<Utc>) -> Result<u64, Unavailable> {
        Ok(self.deps.clients.purge_device_grants(now).await?)
    }
}
