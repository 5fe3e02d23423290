//! The key ring: the keys this instance signs and verifies with, loaded from the
//! `SigningKeyStore`, and the token signer/verifier built on them.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tessera_domain::keys::{KeyState, SigningKeyStore};
use tessera_domain::ports::StoreError;
use tessera_domain::token::{
    AccessTokenSigner, AccessTokenVerifier, Claims, SignError, TokenError, TokenPolicy,
};

use crate::material::{KeyMaterial, PublicJwk, RsaBits};
use crate::seal::Kek;

/// Tokens longer than this are refused before any parsing (RFC 8725 §3.x hygiene).
const MAX_TOKEN_BYTES: usize = 8 * 1024;

struct ActiveKey {
    material: KeyMaterial,
    /// `base64url({"alg":"RS256","typ":"at+jwt","kid":...})`, built once per key.
    encoded_header: String,
}

/// An immutable snapshot of the published keys.
#[derive(Default)]
pub struct KeyRing {
    active: Option<ActiveKey>,
    verifiers: HashMap<String, DecodingKey>,
    published: Vec<PublicJwk>,
}

impl KeyRing {
    /// The JWKS `keys` array: every pending, active and retiring key.
    pub fn jwks(&self) -> &[PublicJwk] {
        &self.published
    }

    pub fn active_kid(&self) -> Option<&str> {
        self.active.as_ref().map(|k| k.material.kid())
    }
}

/// The shared, reloadable key ring plus what it needs to reload itself.
pub struct KeyRingHandle {
    ring: RwLock<Arc<KeyRing>>,
    store: Arc<dyn SigningKeyStore>,
    kek: Kek,
    policy: TokenPolicy,
    rng: SystemRandom,
}

impl std::fmt::Debug for KeyRingHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRingHandle").finish_non_exhaustive()
    }
}

impl KeyRingHandle {
    /// Loads the published keys; when none is active (first start), generates one on a
    /// blocking thread and stores it as active.
    ///
    /// # Errors
    /// When the store cannot be read or written, or a stored key cannot be opened with
    /// `kek` (the wrong key-encryption key is configured).
    pub async fn bootstrap(
        store: Arc<dyn SigningKeyStore>,
        kek: Kek,
        bits: RsaBits,
        policy: TokenPolicy,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Self> {
        let records = store.list_published().await?;
        if !records.iter().any(|r| r.state == KeyState::Active) {
            let material =
                tokio::task::spawn_blocking(move || KeyMaterial::generate(bits)).await??;
            let record = material.to_record(&kek, KeyState::Active, now)?;
            store.insert(&record).await?;
            tracing::info!(
                kid = material.kid(),
                bits = u32::from(bits),
                "generated the first signing key"
            );
        }
        let handle = Self {
            ring: RwLock::new(Arc::new(KeyRing::default())),
            store,
            kek,
            policy,
            rng: SystemRandom::new(),
        };
        handle.reload().await?;
        Ok(handle)
    }

    /// Rebuilds the ring from the store.
    ///
    /// # Errors
    /// When the store cannot be read or a key cannot be opened.
    pub async fn reload(&self) -> anyhow::Result<()> {
        let records = self.store.list_published().await.map_err(|e| match e {
            StoreError::Unavailable(e) => e,
            StoreError::Conflict => anyhow::anyhow!("conflict"),
        })?;
        let mut ring = KeyRing::default();
        // Newest active wins if a race ever left two; the store orders by creation.
        for record in records.iter().filter(|r| r.state.is_published()) {
            let material = KeyMaterial::from_record(record, &self.kek)?;
            let jwk = material.jwk().clone();
            ring.verifiers.insert(
                jwk.kid.clone(),
                DecodingKey::from_rsa_components(&jwk.n, &jwk.e)?,
            );
            ring.published.push(jwk);
            if record.state == KeyState::Active {
                let header =
                    serde_json::json!({"alg": "RS256", "typ": "at+jwt", "kid": material.kid()});
                ring.active = Some(ActiveKey {
                    encoded_header: URL_SAFE_NO_PAD.encode(header.to_string()),
                    material,
                });
            }
        }
        *self
            .ring
            .write()
            .map_err(|_| anyhow::anyhow!("key ring lock poisoned"))? = Arc::new(ring);
        Ok(())
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<KeyRing> {
        self.ring
            .read()
            .map(|r| Arc::clone(&r))
            .unwrap_or_else(|poisoned| Arc::clone(&poisoned.into_inner()))
    }

    fn check_claims(&self, claims: &Claims, now: DateTime<Utc>) -> Result<(), TokenError> {
        let now = now.timestamp();
        let leeway = self.policy.leeway.num_seconds();
        if claims.iss != self.policy.issuer {
            return Err(TokenError::WrongIssuer);
        }
        if claims.aud != self.policy.audience {
            return Err(TokenError::WrongAudience);
        }
        if claims.exp + leeway <= now {
            return Err(TokenError::Expired);
        }
        if claims.nbf - leeway > now {
            return Err(TokenError::NotYetValid);
        }
        Ok(())
    }
}

impl AccessTokenSigner for KeyRingHandle {
    fn sign(&self, claims: &Claims) -> Result<String, SignError> {
        let ring = self.snapshot();
        let key = ring.active.as_ref().ok_or(SignError::NoActiveKey)?;
        let payload = serde_json::to_vec(claims).map_err(|e| SignError::Unknown(e.into()))?;
        let mut token = String::with_capacity(key.encoded_header.len() + payload.len() * 2 + 400);
        token.push_str(&key.encoded_header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(payload, &mut token);
        let mut signature = vec![0u8; key.material.pair.public_modulus_len()];
        key.material
            .pair
            .sign(
                &RSA_PKCS1_SHA256,
                &self.rng,
                token.as_bytes(),
                &mut signature,
            )
            .map_err(|_| SignError::Unknown(anyhow::anyhow!("RSA signing failed")))?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }
}

#[async_trait]
impl AccessTokenVerifier for KeyRingHandle {
    async fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        // The algorithm is pinned: the header may only confirm it, never choose it.
        if header.alg != Algorithm::RS256 || header.typ.as_deref() != Some("at+jwt") {
            return Err(TokenError::WrongType);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let ring = self.snapshot();
        let key = ring.verifiers.get(&kid).ok_or(TokenError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::RS256);
        // Time, issuer and audience are checked below against the injected clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| match e
            .kind()
        {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::BadSignature,
            _ => TokenError::Malformed,
        })?;
        self.check_claims(&data.claims, now)?;
        Ok(data.claims)
    }
}
