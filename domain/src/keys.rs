//! Signing-key lifecycle: the states a key moves through and the port that persists them.
//! Key material is opaque here: the keys adapter seals private parts before they reach a
//! store, and the store never sees them in the clear.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ports::StoreError;

/// `pending` (published, not yet signing) → `active` (the one signing key) → `retiring`
/// (published, verifies, no longer signs) → `retired` (gone from JWKS, private part
/// destroyed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyState {
    Pending,
    Active,
    Retiring,
    Retired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Retiring => "retiring",
            Self::Retired => "retired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "active" => Self::Active,
            "retiring" => Self::Retiring,
            "retired" => Self::Retired,
            _ => return None,
        })
    }

    /// Whether keys in this state appear in the JWKS and verify tokens.
    pub fn is_published(self) -> bool {
        matches!(self, Self::Pending | Self::Active | Self::Retiring)
    }
}

/// A signing key as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// RFC 7638 thumbprint of the public key.
    pub kid: String,
    pub algorithm: String,
    pub state: KeyState,
    /// The public key as a JWK (JSON text).
    pub public_jwk: String,
    /// The private key sealed under the key-encryption key; `None` once retired.
    pub private_sealed: Option<Vec<u8>>,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub retiring_at: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("state", &self.state)
            .field("created_at", &self.created_at)
            .field("activated_at", &self.activated_at)
            .field("retiring_at", &self.retiring_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// Persists signing keys and their lifecycle.
///
/// # Errors
/// MUST return [`StoreError::Unavailable`] when the store cannot be reached, and
/// [`StoreError::Conflict`] when inserting a `kid` that exists.
#[async_trait]
pub trait SigningKeyStore: Send + Sync + 'static {
    /// Every key that is not retired.
    async fn list_published(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
    async fn insert(&self, record: &SigningKeyRecord) -> Result<(), StoreError>;
    /// Moves `kid` from `from` to `to` at `at` only if it is still in `from`; returns
    /// whether this call made the change (so exactly one instance wins). Moving to
    /// `Retired` deletes the private part.
    async fn transition(
        &self,
        kid: &str,
        from: KeyState,
        to: KeyState,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}
