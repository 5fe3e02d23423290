//! Access tokens: the policy that shapes them, their claims (RFC 9068 profile), and the
//! ports that sign and verify them.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::oidc::OAuthClient;
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

    /// The audience of UserInfo (OIDC Core §5.3): what a third-party app's token is for
    /// at Tessera itself, beside the app's own resource.
    pub fn userinfo_audience(&self) -> String {
        format!("{}{USERINFO_PATH}", self.issuer)
    }

    /// Whether a token for `aud` is for Tessera: its API, or its UserInfo.
    pub fn is_for_tessera(&self, aud: &Audience) -> bool {
        aud.iter().any(|a| {
            a == self.audience || a.strip_prefix(self.issuer.as_str()) == Some(USERINFO_PATH)
        })
    }

    /// Builds the claims of a new access token for `user` in `session`: how and when the
    /// user authenticated are the session's (a refresh does not authenticate anew).
    pub fn claims_for(&self, user: &User, session: &Session, now: DateTime<Utc>) -> Claims {
        let iat = now.timestamp();
        Claims {
            iss: self.issuer.clone(),
            aud: Audience::one(self.audience.clone()),
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

/// Where UserInfo is served, under the issuer.
pub const USERINFO_PATH: &str = "/oauth2/userinfo";

/// The audiences of a token (RFC 7519 §4.1.3): a single string in JSON when there is
/// one, as every token of Tessera's own API has; an array otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience(Vec<String>);

impl Audience {
    pub fn one(aud: impl Into<String>) -> Self {
        Self(vec![aud.into()])
    }

    /// Whether `aud` is the one audience: as every token for Tessera's API is issued.
    pub fn is_only(&self, aud: &str) -> bool {
        matches!(self.0.as_slice(), [one] if one == aud)
    }

    pub fn contains(&self, aud: &str) -> bool {
        self.0.iter().any(|a| a == aud)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The first audience: the resource the token is chiefly for.
    pub fn primary(&self) -> &str {
        self.0.first().map_or("", String::as_str)
    }
}

impl Serialize for Audience {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [one] => s.serialize_str(one),
            many => many.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Audience {
    /// A string or an array of strings, read without buffering (every verification
    /// reads one).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Audience;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Audience, E> {
                Ok(Audience::one(v))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Audience, E> {
                Ok(Audience::one(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Audience, A::Error> {
                let mut list = Vec::new();
                while let Some(a) = seq.next_element::<String>()? {
                    list.push(a);
                }
                Ok(Audience(list))
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl TokenPolicy {
    /// The claims of an access token for a registered app's session (RFC 9068, RFC 9700
    /// §2.3: audience- and privilege-restricted). A first-party app's token is the user's
    /// token for Tessera's API, as a session of Tessera's own. A third-party app's token
    /// carries no roles, and its audience is the app's resource (the audience an
    /// administrator set for the client) and UserInfo — never Tessera's API, so no
    /// resource server that checks `aud` takes it as the user's own token.
    pub fn claims_for_app(
        &self,
        user: &User,
        session: &Session,
        app: &OAuthClient,
        now: DateTime<Utc>,
    ) -> Claims {
        let mut claims = self.claims_for(user, session, now);
        if !app.first_party {
            claims.roles.clear();
            claims.aud = Audience(
                app.audience
                    .iter()
                    .cloned()
                    .chain([self.userinfo_audience()])
                    .collect(),
            );
        }
        claims
    }

    /// The audience of a client's own service token: Tessera's API for a first-party
    /// client, else the resource an administrator set for it, else the client itself (a
    /// token no resource server takes: the client was given nothing to call).
    pub fn service_audience(&self, app: &OAuthClient) -> Audience {
        if app.first_party {
            return Audience::one(self.audience.clone());
        }
        Audience::one(app.audience.clone().unwrap_or_else(|| app.id.to_string()))
    }
}

/// The claims of a Tessera access token (DESIGN.md §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: Audience,
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
    /// A logout token (Back-Channel Logout 1.0 §2.4), header `typ: logout+jwt`.
    ///
    /// # Errors
    /// MUST return [`SignError::NoActiveKey`] when no key may sign right now.
    fn sign_logout_token(&self, claims: &serde_json::Value) -> Result<String, SignError>;
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
/// The audience is not checked here: which audiences a caller takes is its own rule
/// (Tessera's API and UserInfo take their own; introspection answers for any resource).
pub trait AccessTokenVerifier: Send + Sync + 'static {
    async fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError>;
}
