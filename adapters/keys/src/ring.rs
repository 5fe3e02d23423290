//! The key ring: the keys this instance signs and verifies with, and the token signer
//! and verifier built on them. Keys come from the `SigningKeyStore` (rotated by Tessera,
//! see `rotation.rs`) or from a directory of PEM files (rotated by the operator).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use tessera_domain::keys::{KeyState, RotationPolicy, SigningKeyRecord, SigningKeyStore};
use tessera_domain::ports::StoreError;
use tessera_domain::token::{
    AccessTokenSigner, AccessTokenVerifier, Claims, IdTokenSigner, SignError, TokenError,
    TokenPolicy,
};

use crate::material::{KeyMaterial, PublicJwk, RsaBits};
use crate::seal::Kek;

/// Tokens longer than this are refused before any parsing.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// A token naming an unknown `kid` may trigger a reload at most this often, so a flood
/// of forged kids cannot turn into a flood of store reads.
const UNKNOWN_KID_RELOAD_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("no published key has this kid")]
    NotFound,
    #[error("keys come from files: rotation belongs to the operator")]
    ExternallyManaged,
    #[error(transparent)]
    Unavailable(#[from] anyhow::Error),
}

impl From<StoreError> for KeyError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(e) => Self::Unavailable(e),
            StoreError::Conflict => Self::Unavailable(anyhow::anyhow!("conflicting key")),
        }
    }
}

pub(crate) struct ActiveKey {
    pub(crate) material: KeyMaterial,
    /// `base64url({"alg":"RS256","typ":"at+jwt","kid":...})`, built once per key.
    pub(crate) encoded_header: String,
}

impl ActiveKey {
    pub(crate) fn new(material: KeyMaterial) -> Self {
        let header = serde_json::json!({"alg": "RS256", "typ": "at+jwt", "kid": material.kid()});
        Self {
            encoded_header: URL_SAFE_NO_PAD.encode(header.to_string()),
            material,
        }
    }
}

/// An immutable snapshot of the published keys.
#[derive(Default)]
pub struct KeyRing {
    pub(crate) active: Option<ActiveKey>,
    pub(crate) verifiers: HashMap<String, DecodingKey>,
    pub(crate) published: Vec<PublicJwk>,
    pub(crate) records: Vec<SigningKeyRecord>,
    pub(crate) etag: String,
}

impl KeyRing {
    pub(crate) fn build(
        keys: Vec<(SigningKeyRecord, KeyMaterial)>,
        mut retired: Vec<SigningKeyRecord>,
    ) -> anyhow::Result<Self> {
        let mut ring = Self::default();
        for (record, material) in keys {
            let jwk = material.jwk().clone();
            ring.verifiers.insert(
                jwk.kid.clone(),
                DecodingKey::from_rsa_components(&jwk.n, &jwk.e)?,
            );
            ring.published.push(jwk);
            if record.state == KeyState::Active {
                ring.active = Some(ActiveKey::new(material));
            }
            ring.records.push(record);
        }
        ring.records.append(&mut retired);
        ring.records.sort_by_key(|r| r.seq);
        let kids: Vec<&str> = ring.published.iter().map(|k| k.kid.as_str()).collect();
        let digest =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, kids.join(",").as_bytes());
        ring.etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16]));
        Ok(ring)
    }

    /// The JWKS `keys` array: every pending, active and retiring key.
    pub fn jwks(&self) -> &[PublicJwk] {
        &self.published
    }

    /// A strong validator of the JWKS content, for `ETag`.
    pub fn etag(&self) -> &str {
        &self.etag
    }

    pub fn active_kid(&self) -> Option<&str> {
        self.active.as_ref().map(|k| k.material.kid())
    }

    /// Every key known, retired ones included, oldest first (no private parts).
    pub fn records(&self) -> &[SigningKeyRecord] {
        &self.records
    }
}

pub(crate) enum Source {
    Database {
        store: Arc<dyn SigningKeyStore>,
        kek: Kek,
        bits: RsaBits,
        rotation: RotationPolicy,
    },
    Files {
        dir: PathBuf,
        fingerprint: Mutex<String>,
    },
}

/// Tokens whose signature was already checked: a repeated token skips RSA. Keyed by a
/// SHA-256 of the whole token, so a cached entry can only ever match the very same bytes.
/// Expiry, `nbf`, issuer and audience are still checked against the clock on every hit,
/// the key must still be published (a revoked key's tokens fail at once), and revocation
/// is checked by the caller as for any token.
type VerifiedCache = moka::sync::Cache<[u8; 32], Arc<(String, Claims)>>;

const VERIFIED_CACHE_ENTRIES: u64 = 100_000;

/// The shared, reloadable key ring plus what it needs to reload and rotate itself.
pub struct KeyRingHandle {
    /// The current snapshot: the active key, the verifiers of every published key, the
    /// JWKS. A reload builds a new `KeyRing` and swaps it in whole, so a reader holds one
    /// consistent snapshot (`snapshot()` clones the `Arc`).
    ring: RwLock<Arc<KeyRing>>,
    /// Tokens whose signature was already checked, kept for `access_ttl` + `leeway`:
    /// a repeated token skips RSA (see `VerifiedCache`).
    verified: VerifiedCache,
    /// Where keys are loaded from, and for a database source what rotation needs (store,
    /// key-encryption key, RSA size, policy). `pub(crate)` for `rotation.rs`.
    pub(crate) source: Source,
    /// Issuer, audience, lifetime and leeway that every verified token's claims are
    /// checked against.
    policy: TokenPolicy,
    /// The random source aws-lc-rs's RSA `sign` takes; created once, not per token.
    rng: SystemRandom,
    /// When a token's unknown `kid` last triggered a reload; at most one reload per
    /// `UNKNOWN_KID_RELOAD_INTERVAL`.
    last_unknown_kid_reload: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for KeyRingHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRingHandle").finish_non_exhaustive()
    }
}

impl KeyRingHandle {
    /// Keys kept in the store and rotated by Tessera. Performs whatever is due at `now`
    /// first: on a first start that generates the first (active) key on a blocking
    /// thread; after a restart in the middle of a cycle it resumes the cycle.
    ///
    /// # Errors
    /// When the store cannot be read or written, or a stored key cannot be opened with
    /// `kek` (the wrong key-encryption key is configured).
    pub async fn open_database(
        store: Arc<dyn SigningKeyStore>,
        kek: Kek,
        bits: RsaBits,
        rotation: RotationPolicy,
        policy: TokenPolicy,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Self> {
        let handle = Self::new(
            Source::Database {
                store,
                kek,
                bits,
                rotation,
            },
            policy,
        );
        handle.tick(now).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        handle.reload().await?;
        Ok(handle)
    }

    /// Keys read from a directory of PEM files, managed by the operator.
    ///
    /// # Errors
    /// When the directory cannot be read or holds no usable key.
    pub async fn open_files(dir: PathBuf, policy: TokenPolicy) -> anyhow::Result<Self> {
        let handle = Self::new(
            Source::Files {
                dir,
                fingerprint: Mutex::new(String::new()),
            },
            policy,
        );
        handle.reload().await?;
        if handle.snapshot().active_kid().is_none() {
            anyhow::bail!("the key directory holds no signing key");
        }
        Ok(handle)
    }

    fn new(source: Source, policy: TokenPolicy) -> Self {
        Self {
            ring: RwLock::new(Arc::new(KeyRing::default())),
            source,
            rng: SystemRandom::new(),
            last_unknown_kid_reload: Mutex::new(None),
            verified: moka::sync::Cache::builder()
                .max_capacity(VERIFIED_CACHE_ENTRIES)
                .time_to_live(
                    (policy.access_ttl + policy.leeway)
                        .to_std()
                        .unwrap_or(Duration::from_secs(930)),
                )
                .build(),
            policy,
        }
    }

    /// Rebuilds the ring from the source.
    ///
    /// # Errors
    /// When the source cannot be read or a key cannot be opened.
    pub async fn reload(&self) -> anyhow::Result<()> {
        let ring = match &self.source {
            Source::Database { store, kek, .. } => {
                let records = store.list().await.map_err(|e| anyhow::anyhow!("{e}"))?;
                let (published, retired): (Vec<_>, Vec<_>) =
                    records.into_iter().partition(|r| r.state.is_published());
                let mut keys = Vec::with_capacity(published.len());
                for record in published {
                    let material = KeyMaterial::from_record(&record, kek)?;
                    let mut public = record;
                    public.private_sealed = None;
                    keys.push((public, material));
                }
                KeyRing::build(keys, retired)?
            }
            Source::Files { dir, fingerprint } => {
                let (print, keys) = crate::files::load(dir.clone()).await?;
                if let Ok(mut f) = fingerprint.lock() {
                    *f = print;
                }
                KeyRing::build(keys, Vec::new())?
            }
        };
        *self
            .ring
            .write()
            .map_err(|_| anyhow::anyhow!("key ring lock poisoned"))? = Arc::new(ring);
        Ok(())
    }

    /// Reloads a file source only when the directory changed; a database source always.
    ///
    /// # Errors
    /// As [`Self::reload`].
    pub async fn refresh(&self) -> anyhow::Result<()> {
        if let Source::Files { dir, fingerprint } = &self.source {
            let now = crate::files::fingerprint(dir.clone()).await?;
            let same = fingerprint.lock().map(|f| *f == now).unwrap_or(false);
            if same {
                return Ok(());
            }
        }
        self.reload().await
    }

    /// Reloads a database source only when a key was added or changed state since the
    /// snapshot (one small read: the signing-key table holds a handful of rows), so a
    /// key revoked by the CLI or another instance is refused here within one poll.
    /// A file source follows its own fingerprint, as [`Self::refresh`].
    ///
    /// # Errors
    /// As [`Self::reload`].
    pub async fn refresh_if_changed(&self) -> anyhow::Result<bool> {
        let Source::Database { store, .. } = &self.source else {
            return Ok(false);
        };
        // Only kid and state: the sealed private parts stay in the database unless
        // something changed.
        let mut stored: Vec<(String, &str)> = store
            .states()
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .into_iter()
            .map(|(kid, state)| (kid, state.as_str()))
            .collect();
        let shape = |r: &SigningKeyRecord| (r.kid.clone(), r.state.as_str());
        let mut known: Vec<_> = self.snapshot().records().iter().map(shape).collect();
        stored.sort();
        known.sort();
        if stored == known {
            return Ok(false);
        }
        self.reload().await?;
        Ok(true)
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<KeyRing> {
        self.ring
            .read()
            .map(|r| Arc::clone(&r))
            .unwrap_or_else(|poisoned| Arc::clone(&poisoned.into_inner()))
    }

    /// One reload for an unknown `kid`, unless one happened very recently.
    async fn reload_for_unknown_kid(&self) -> bool {
        {
            let Ok(mut last) = self.last_unknown_kid_reload.lock() else {
                return false;
            };
            if last.is_some_and(|t| t.elapsed() < UNKNOWN_KID_RELOAD_INTERVAL) {
                return false;
            }
            *last = Some(Instant::now());
        }
        self.refresh().await.is_ok()
    }

    fn check_claims(&self, claims: &Claims, now: DateTime<Utc>) -> Result<(), TokenError> {
        let now = now.timestamp();
        let leeway = self.policy.leeway.num_seconds();
        if claims.iss != self.policy.issuer {
            return Err(TokenError::WrongIssuer);
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

impl KeyRingHandle {
    /// A JWT of `typ` over `claims` with the active key.
    fn sign_typed(&self, typ: &str, claims: &serde_json::Value) -> Result<String, SignError> {
        let ring = self.snapshot();
        let key = ring.active.as_ref().ok_or(SignError::NoActiveKey)?;
        let header = serde_json::json!({"alg": "RS256", "typ": typ, "kid": key.material.kid()});
        let header = URL_SAFE_NO_PAD.encode(header.to_string());
        let payload = serde_json::to_vec(claims).map_err(|e| SignError::Unknown(e.into()))?;
        self.sign_compact(key, &header, &payload)
    }

    /// `header.payload.signature` with the active key; `header` is already base64url.
    fn sign_compact(
        &self,
        key: &ActiveKey,
        header: &str,
        payload: &[u8],
    ) -> Result<String, SignError> {
        let mut token = String::with_capacity(header.len() + payload.len() * 2 + 400);
        token.push_str(header);
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

impl AccessTokenSigner for KeyRingHandle {
    fn sign(&self, claims: &Claims) -> Result<String, SignError> {
        let ring = self.snapshot();
        let key = ring.active.as_ref().ok_or(SignError::NoActiveKey)?;
        let payload = serde_json::to_vec(claims).map_err(|e| SignError::Unknown(e.into()))?;
        self.sign_compact(key, &key.encoded_header, &payload)
    }
}

impl IdTokenSigner for KeyRingHandle {
    /// `typ: JWT`, so an ID token can never pass for an access token (`at+jwt`) here or
    /// at a resource server that checks the type (RFC 9068 §4).
    fn sign_id_token(&self, claims: &serde_json::Value) -> Result<String, SignError> {
        self.sign_typed("JWT", claims)
    }

    fn sign_logout_token(&self, claims: &serde_json::Value) -> Result<String, SignError> {
        self.sign_typed("logout+jwt", claims)
    }

    fn verify_id_token_hint(&self, token: &str) -> Option<serde_json::Value> {
        if token.len() > MAX_TOKEN_BYTES {
            return None;
        }
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.alg != Algorithm::RS256 || header.typ.as_deref() != Some("JWT") {
            return None;
        }
        let ring = self.snapshot();
        let key = ring.verifiers.get(&header.kid?)?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        validation.set_issuer(&[&self.policy.issuer]);
        jsonwebtoken::decode::<serde_json::Value>(token, key, &validation)
            .ok()
            .map(|data| data.claims)
    }
}

#[async_trait]
impl AccessTokenVerifier for KeyRingHandle {
    async fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed);
        }
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
        let mut cache_key = [0u8; 32];
        cache_key.copy_from_slice(digest.as_ref());
        if let Some(hit) = self.verified.get(&cache_key) {
            let (kid, claims) = hit.as_ref();
            if !self.snapshot().verifiers.contains_key(kid) {
                return Err(TokenError::UnknownKey);
            }
            self.check_claims(claims, now)?;
            return Ok(claims.clone());
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        // The algorithm is pinned: the header may only confirm it, never choose it.
        if header.alg != Algorithm::RS256 || header.typ.as_deref() != Some("at+jwt") {
            return Err(TokenError::WrongType);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let mut ring = self.snapshot();
        if !ring.verifiers.contains_key(&kid) && self.reload_for_unknown_kid().await {
            ring = self.snapshot();
        }
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
        self.verified
            .insert(cache_key, Arc::new((kid, data.claims.clone())));
        Ok(data.claims)
    }
}
