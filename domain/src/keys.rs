//! Signing-key lifecycle: the states a key moves through, the pure policy that decides
//! which transition is due at a given instant, and the port that persists keys. Key
//! material is opaque here: the keys adapter seals private parts before they reach a
//! store, and the store never sees them in the clear.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};

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
    /// Generation number, unique per store: two instances generating "the next key" at
    /// once collide on it, and only one of them gets to insert.
    pub seq: i64,
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
            .field("seq", &self.seq)
            .field("state", &self.state)
            .field("created_at", &self.created_at)
            .field("activated_at", &self.activated_at)
            .field("retiring_at", &self.retiring_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// A transition the policy wants performed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyAction {
    /// Generate a new key; store it as `active` when no key can sign (first start),
    /// otherwise as `pending`.
    Generate { activate: bool },
    /// `next` (pending) starts signing; `previous` (the active key) becomes retiring.
    Promote {
        next: String,
        previous: Option<String>,
    },
    /// `kid` (retiring) has outlived every token it signed: unpublish it and destroy
    /// its private part.
    Retire { kid: String },
}

/// When keys rotate and retire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RotationPolicy {
    /// How long a key signs before the next one takes over.
    pub rotate_every: TimeDelta,
    /// How long a new key is published before it signs, so that resource servers
    /// caching the JWKS already know it.
    pub prepublish: TimeDelta,
    /// How long a key stays published after it stopped signing: the longest access-token
    /// lifetime plus leeway.
    pub retire_after: TimeDelta,
}

impl RotationPolicy {
    /// Everything due at `now`, given every key in the store. Pure: the same keys and
    /// instant always give the same plan.
    pub fn plan(&self, keys: &[SigningKeyRecord], now: DateTime<Utc>) -> Vec<KeyAction> {
        let mut actions: Vec<KeyAction> = keys
            .iter()
            .filter(|k| k.state == KeyState::Retiring)
            .filter(|k| {
                k.retiring_at
                    .is_some_and(|at| now >= at + self.retire_after)
            })
            .map(|k| KeyAction::Retire { kid: k.kid.clone() })
            .collect();
        let active = keys
            .iter()
            .filter(|k| k.state == KeyState::Active)
            .max_by_key(|k| k.seq);
        let pending = keys
            .iter()
            .filter(|k| k.state == KeyState::Pending)
            .min_by_key(|k| k.seq);
        match (active, pending) {
            (None, None) => actions.push(KeyAction::Generate { activate: true }),
            (None, Some(p)) => actions.push(KeyAction::Promote {
                next: p.kid.clone(),
                previous: None,
            }),
            (Some(a), None) => {
                let since = a.activated_at.unwrap_or(a.created_at);
                if now >= since + self.rotate_every - self.prepublish {
                    actions.push(KeyAction::Generate { activate: false });
                }
            }
            (Some(a), Some(p)) => {
                if now >= p.created_at + self.prepublish {
                    actions.push(KeyAction::Promote {
                        next: p.kid.clone(),
                        previous: Some(a.kid.clone()),
                    });
                }
            }
        }
        actions
    }
}

/// Persists signing keys and their lifecycle.
///
/// # Errors
/// Every method MUST return [`StoreError::Unavailable`] when the store cannot be
/// reached; `insert` MUST return [`StoreError::Conflict`] when the `kid` or the `seq`
/// exists (another instance generated that key first).
#[async_trait]
pub trait SigningKeyStore: Send + Sync + 'static {
    /// Every key, retired ones included, oldest first.
    async fn list(&self) -> Result<Vec<SigningKeyRecord>, StoreError>;
    /// Every key's kid and state, without its material: what the poll for changes made
    /// elsewhere compares, every `revocation.poll_interval`.
    async fn states(&self) -> Result<Vec<(String, KeyState)>, StoreError>;
    async fn insert(&self, record: &SigningKeyRecord) -> Result<(), StoreError>;
    /// Atomically makes pending `next` active and active `previous` retiring at `at`.
    /// Returns `false`, changing nothing, if either is no longer in that state (another
    /// instance did it first).
    async fn promote(
        &self,
        next: &str,
        previous: Option<&str>,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Unpublishes a pending, active or retiring key and deletes its private part.
    /// Returns `false` if it was already retired or does not exist.
    async fn retire(&self, kid: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seq: i64, state: KeyState, created: DateTime<Utc>) -> SigningKeyRecord {
        SigningKeyRecord {
            kid: format!("k{seq}"),
            seq,
            algorithm: "RS256".into(),
            state,
            public_jwk: String::new(),
            private_sealed: None,
            created_at: created,
            activated_at: (state == KeyState::Active).then_some(created),
            retiring_at: None,
            retired_at: None,
        }
    }

    fn policy() -> RotationPolicy {
        RotationPolicy {
            rotate_every: TimeDelta::days(30),
            prepublish: TimeDelta::hours(1),
            retire_after: TimeDelta::minutes(15) + TimeDelta::seconds(30),
        }
    }

    #[test]
    fn a_whole_cycle() {
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let p = policy();
        assert_eq!(
            p.plan(&[], t0),
            vec![KeyAction::Generate { activate: true }]
        );

        let mut keys = vec![key(1, KeyState::Active, t0)];
        let due = t0 + TimeDelta::days(30);
        assert!(
            p.plan(&keys, due - TimeDelta::hours(1) - TimeDelta::seconds(1))
                .is_empty()
        );
        assert_eq!(
            p.plan(&keys, due - TimeDelta::hours(1)),
            vec![KeyAction::Generate { activate: false }]
        );

        keys.push(key(2, KeyState::Pending, due - TimeDelta::hours(1)));
        assert!(
            p.plan(&keys, due - TimeDelta::seconds(1)).is_empty(),
            "prepublished first"
        );
        assert_eq!(
            p.plan(&keys, due),
            vec![KeyAction::Promote {
                next: "k2".into(),
                previous: Some("k1".into())
            }]
        );

        keys[0].state = KeyState::Retiring;
        keys[0].retiring_at = Some(due);
        keys[1].state = KeyState::Active;
        keys[1].activated_at = Some(due);
        assert!(p.plan(&keys, due + TimeDelta::minutes(15)).is_empty());
        assert_eq!(
            p.plan(&keys, due + TimeDelta::minutes(16)),
            vec![KeyAction::Retire { kid: "k1".into() }]
        );
    }

    #[test]
    fn a_pending_key_without_an_active_one_signs_at_once() {
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let keys = vec![key(3, KeyState::Pending, t0)];
        assert_eq!(
            policy().plan(&keys, t0),
            vec![KeyAction::Promote {
                next: "k3".into(),
                previous: None
            }]
        );
    }
}
