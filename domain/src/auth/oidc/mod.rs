//! [`OidcProvider`]: registering and authenticating clients ([`clients`]), the
//! authorization request, consent and codes ([`authorize`]), and the token endpoint's
//! grants — exchanging a code (PKCE S256, single use: a second use ends what the first
//! issued), refresh for a client, service tokens (`client_credentials`) — with ID tokens
//! and UserInfo ([`grants`]). Sessions, tokens, revocation and audit are the [`Core`]'s,
//! the ones every other flow uses.

mod authorize;
mod clients;
mod device;
mod grants;

pub use device::{DeviceRequest, DeviceStart};
use grants::IdTokenFacts;

use std::sync::Arc;

use crate::oidc::{ClientId, ClientStore, OAuthClient, Scopes};
use crate::token::IdTokenSigner;

use super::*;

/// What the OpenID provider depends on, wired once by the composition root.
#[derive(Clone)]
pub struct OidcDeps {
    pub clients: Arc<dyn ClientStore>,
    pub id_tokens: Arc<dyn IdTokenSigner>,
}

/// An authorization request as it arrived (RFC 6749 §4.1.1, RFC 7636, OIDC Core
/// §3.1.2.1); every parameter optional until checked.
#[derive(Debug, Clone, Default)]
pub struct AuthorizeRequest {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

/// A checked authorization request.
#[derive(Debug, Clone)]
pub struct Authorization {
    pub client: OAuthClient,
    pub redirect_uri: String,
    pub scopes: Scopes,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
}

/// What the token endpoint hands out (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Clone)]
pub struct OidcTokens {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: Option<RefreshToken>,
    pub id_token: Option<String>,
    pub scope: String,
}

/// The UserInfo answer (OIDC Core §5.3): what the token's scopes allow.
#[derive(Debug, Clone)]
pub struct UserInfo {
    pub sub: UserId,
    pub preferred_username: Option<String>,
    pub email: Option<(String, bool)>,
}

/// The OpenID provider: registered clients, codes, consent, ID tokens.
#[derive(Clone)]
pub struct OidcProvider {
    core: Core,
    deps: OidcDeps,
}

impl OidcProvider {
    pub fn new(core: Core, deps: OidcDeps) -> Self {
        Self { core, deps }
    }

    pub fn core(&self) -> &Core {
        &self.core
    }

    /// The issuer: `iss` of every token, and the base of the discovery document.
    pub fn issuer(&self) -> &str {
        self.core.issuer()
    }

    /// The claims of an `id_token_hint` this provider signed (expired or not).
    pub fn id_token_hint(&self, token: &str) -> Option<serde_json::Value> {
        self.deps.id_tokens.verify_id_token_hint(token)
    }

    /// Whether Tessera's own API takes this token: a person's token for the API's
    /// audience, of Tessera's own sessions or of a first-party client's (the docs, your
    /// own apps). A third-party app's token is for the resources it was granted, never
    /// for changing the account (email, password, factors) or for an administrator's
    /// powers; a client's own service token (`sub` is the client) has no person behind
    /// it.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be read.
    pub async fn takes_for_account_api(&self, claims: &Claims) -> Result<bool, Unavailable> {
        if !claims.aud.is_only(&self.core.tokens().audience) {
            return Ok(false);
        }
        let Some(id) = &claims.client_id else {
            return Ok(true);
        };
        if claims.sub.0.to_string() == *id {
            return Ok(false);
        }
        Ok(self.client(id).await?.is_some_and(|c| c.first_party))
    }

    /// Whether `client`'s tokens may be for `resource` (RFC 8707): Tessera's API for a
    /// first-party client, the audience an administrator set for a third-party one.
    pub fn serves_resource(&self, client: &OAuthClient, resource: &str) -> bool {
        if client.first_party {
            resource == self.core.tokens().audience
        } else {
            client.audience.as_deref() == Some(resource)
        }
    }

    /// Deletes authorization codes that expired before `now`.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be written.
    pub async fn purge_codes(&self, now: DateTime<Utc>) -> Result<u64, Unavailable> {
        Ok(self.deps.clients.purge_codes(now).await?)
    }
}
