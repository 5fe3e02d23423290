//! Access tokens: the policy that shapes them, their claims (RFC 9068 profile), and the
//! ports that sign and verify them.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::session::{Session, SessionId};
use crate::user::{User, UserId};

/// What every access token says about its issuer, audience and lifetime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPolicy {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: TimeDelta,
    /// Tolerated clock skew on `exp` and `nbf`.
    pub leeway: TimeDelta,
}

impl TokenPolicy {
    /// The latest instant at which a token issued at `issued_at` can still be accepted:
    /// revocations need to live no longer than this.
    pub fn acceptance_horizon(&self, issued_at: DateTime<Utc>) -> DateTime<Utc> {
        issued_at + self.access_ttl + self.leeway
    }

    /// Builds the claims of a new access token for `user` in `session`: how and when the
    /// user authenticated are the session's (a refresh does not authenticate anew).
    pub fn claims_for(&self, user: &User, session: &Session, now: DateTime<Utc>) -> Claims {
        let iat = now.timestamp();
        Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user.id,
            exp: iat + self.access_ttl.num_seconds(),
            iat,
            nbf: iat,
            jti: Uuid::new_v4(),
            sid: session.id,
            username: user.username.as_str().to_owned(),
            roles: user.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            amr: session.amr.iter().map(|m| m.as_str().to_owned()).collect(),
            auth_time: session.authenticated_at.timestamp(),
            client_id: session.oauth.as_ref().map(|o| o.client.to_string()),
            scope: session.oauth.as_ref().map(|o| o.scopes.join()),
        }
    }
}

/// The claims of a Tessera access token (DESIGN.md §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: UserId,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: Uuid,
    pub sid: SessionId,
    /// Empty (and absent) in a client's own service token.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub username: String,
    pub roles: Vec<String>,
    /// How the user authenticated (RFC 8176): `pwd`, `otp`, `hwk`, `mfa`. Tokens signed
    /// before second factors existed have none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// When the user authenticated (OIDC Core §2): the session's start, in seconds.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub auth_time: i64,
    /// The OAuth client the token was issued to (RFC 9068 §2.2), when not Tessera's own
    /// API: a registered app, or for a service token the client itself (then `sub`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The scopes granted to that client (RFC 9068 §2.2.3), space-separated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

impl Claims {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }

    pub fn expires_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.exp, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

/// Why a presented access token was refused. Each maps to 401 `invalid_token`; the
/// message is safe to show the client (RFC 6750 `error_description`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token must be an RS256 access token (typ at+jwt)")]
    WrongType,
    #[error("the token was signed by an unknown key")]
    UnknownKey,
    #[error("the token signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
}

#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("no signing key is active")]
    NoActiveKey,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Signs access tokens with the active key.
///
/// # Errors
/// MUST return [`SignError::NoActiveKey`] when no key may sign right now.
pub trait AccessTokenSigner: Send + Sync + 'static {
    fn sign(&self, claims: &Claims) -> Result<String, SignError>;
}

/// Signs OpenID Connect ID tokens (header `typ: JWT`) with the key that signs access
/// tokens, so one JWKS verifies both; and reads back the ID token a relying party sends
/// as `id_token_hint`.
pub trait IdTokenSigner: Send + Sync + 'static {
    /// # Errors
    /// MUST return [`SignError::NoActiveKey`] when no key may sign right now.
    fn sign_id_token(&self, claims: &serde_json::Value) -> Result<String, SignError>;
    /// The claims of an ID token this issuer signed with a key still published, expired
    /// or not (a logout hint is usually older than the token's lifetime); `None` for
    /// anything else.
    fn verify_id_token_hint(&self, token: &str) -> Option<serde_json::Value>;
}

/// Verifies access tokens: signature by a published key selected by `kid` (never by a
/// header-supplied key or algorithm), `typ`, then `iss`, `aud`, `exp`, `nbf` with the
/// policy's leeway at `now`. Revocation is checked separately.
///
/// # Errors
/// MUST return the [`TokenError`] variant that names the first failed check.
#[async_trait]
pub trait AccessTokenVerifier: Send + Sync + 'static {
    async fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError>;
}
