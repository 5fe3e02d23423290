//! A resource server's side of Tessera: verify an access token offline against the
//! keys published at `/.well-known/jwks.json`. Nothing here knows Tessera beyond the
//! RFCs — RS256 (RFC 7518), JWKS (RFC 7517), `typ: at+jwt` (RFC 9068) — so it is the
//! code any API written in Rust needs in front of its protected routes.
//!
//! The key set is cached; a token naming a `kid` the cache lacks (a key Tessera just
//! rotated in) triggers one refetch, at most once per `min_refetch`.

// --8<-- [start:verifier]
use std::sync::RwLock;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;

/// The claims a resource server reads from a Tessera access token.
#[derive(Debug, Clone, Deserialize)]
pub struct AccessClaims {
    /// The user's id.
    pub sub: String,
    pub username: String,
    #[serde(default)]
    pub roles: Vec<String>,
    /// The session, for revocation-aware servers.
    pub sid: String,
    pub exp: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("not an access token (typ must be at+jwt)")]
    NotAnAccessToken,
    #[error("the token names no key id")]
    MissingKid,
    #[error("no published key has kid {0}")]
    UnknownKey(String),
    #[error("invalid token: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("cannot fetch the JWKS: {0}")]
    Jwks(#[from] reqwest::Error),
}

pub struct Verifier {
    jwks_url: String,
    validation: Validation,
    http: reqwest::Client,
    keys: RwLock<(JwkSet, Option<Instant>)>,
    min_refetch: Duration,
}

impl Verifier {
    /// `issuer` and `audience` are Tessera's `tokens.issuer` and `tokens.audience`.
    pub fn new(jwks_url: &str, issuer: &str, audience: &str) -> Self {
        let mut validation = Validation::new(Algorithm::RS256); // never trust the header's alg
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        Self {
            jwks_url: jwks_url.to_owned(),
            validation,
            http: reqwest::Client::new(),
            keys: RwLock::new((JwkSet { keys: vec![] }, None)),
            min_refetch: Duration::from_secs(10),
        }
    }

    /// How soon an unknown `kid` may trigger another JWKS fetch (default 10 s): tokens
    /// with made-up key ids must not turn the verifier into a JWKS flood.
    pub fn min_refetch(mut self, interval: Duration) -> Self {
        self.min_refetch = interval;
        self
    }

    /// Checks signature, `typ`, `iss`, `aud`, `exp` and `nbf`; answers the claims.
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        let header = decode_header(token)?;
        if header.typ.as_deref() != Some("at+jwt") {
            return Err(VerifyError::NotAnAccessToken);
        }
        let kid = header.kid.ok_or(VerifyError::MissingKid)?;
        let key = match self.key(&kid)? {
            Some(key) => key,
            None => {
                self.refetch().await?;
                self.key(&kid)?.ok_or(VerifyError::UnknownKey(kid))?
            }
        };
        Ok(decode::<AccessClaims>(token, &key, &self.validation)?.claims)
    }
}
// --8<-- [end:verifier]

impl Verifier {
    fn key(&self, kid: &str) -> Result<Option<DecodingKey>, VerifyError> {
        let keys = self
            .keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.0
            .find(kid)
            .map(DecodingKey::from_jwk)
            .transpose()
            .map_err(VerifyError::from)
    }

    async fn refetch(&self) -> Result<(), VerifyError> {
        let fetched_at = self.keys.read().unwrap_or_else(|p| p.into_inner()).1;
        if fetched_at.is_some_and(|at| at.elapsed() < self.min_refetch) {
            return Ok(());
        }
        let set: JwkSet = self
            .http
            .get(&self.jwks_url)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = (set, Some(Instant::now()));
        Ok(())
    }
}
