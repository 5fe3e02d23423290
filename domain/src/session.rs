//! Sessions (refresh-token families) and refresh tokens: how they are minted, stored only
//! as hashes, rotated, and found out when reused.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use blake2::Blake2bMac512;
use blake2::digest::{KeyInit, Mac};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::mfa::AuthMethod;
use crate::oidc::OAuthGrant;
use crate::user::UserId;

/// A session's identifier (the token's `sid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(pub Uuid);

impl SessionId {
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Lifetimes of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A session unused for this long ends; each refresh renews it.
    pub idle_ttl: TimeDelta,
    /// A session ends this long after login, however active.
    pub max_ttl: TimeDelta,
    /// A rotated refresh token presented again within this window is a concurrent refresh
    /// (another tab), not theft.
    pub reuse_grace: TimeDelta,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self {
            idle_ttl: TimeDelta::days(7),
            max_ttl: TimeDelta::days(30),
            reuse_grace: TimeDelta::seconds(10),
        }
    }
}

/// Where a session was started from, as the edge saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A session as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: DateTime<Utc>,
    /// When the user last proved it is them in this session: its start, or its latest
    /// step-up. Tokens carry it as `auth_time`.
    pub authenticated_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub idle_expires_at: DateTime<Utc>,
    pub absolute_expires_at: DateTime<Utc>,
    pub client: ClientInfo,
    pub revoked_at: Option<DateTime<Utc>>,
    /// How the user authenticated at `authenticated_at` (RFC 8176 `amr`).
    pub amr: Vec<AuthMethod>,
    /// The registered client this session was granted to, and the scopes; `None` for a
    /// session of Tessera's own API or pages. Only that client may refresh it.
    pub oauth: Option<OAuthGrant>,
}

impl Session {
    pub fn start(
        user_id: UserId,
        client: ClientInfo,
        amr: Vec<AuthMethod>,
        policy: &SessionPolicy,
        now: DateTime<Utc>,
    ) -> Self {
        let absolute = now + policy.max_ttl;
        Self {
            id: SessionId::new_random(),
            user_id,
            created_at: now,
            authenticated_at: now,
            last_used_at: now,
            idle_expires_at: (now + policy.idle_ttl).min(absolute),
            absolute_expires_at: absolute,
            client,
            revoked_at: None,
            amr,
            oauth: None,
        }
    }

    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.idle_expires_at && now < self.absolute_expires_at
    }

    /// When a refresh at `now` would next let this session lapse.
    pub fn renewed_idle_expiry(&self, policy: &SessionPolicy, now: DateTime<Utc>) -> DateTime<Utc> {
        (now + policy.idle_ttl).min(self.absolute_expires_at)
    }
}

crate::opaque::opaque_secret! {
    /// A refresh token as handed to the client: 256 random bits, base64url. Never stored,
    /// never logged.
    RefreshToken
}

/// What the store keeps of a refresh token: BLAKE2b-256 of it, base64url.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RefreshTokenHash(pub String);

/// Mints refresh tokens.
///
/// The first token of a session is random; every child is a MAC of its parent under a
/// server secret. That makes rotation idempotent: a second tab presenting the same parent
/// within the grace window is handed the very child the first tab got, while the store
/// still holds nothing but hashes (a database dump alone yields no usable token).
#[derive(Clone)]
pub struct RefreshTokenMint {
    secret: [u8; 32],
}

impl fmt::Debug for RefreshTokenMint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshTokenMint(<secret>)")
    }
}

impl RefreshTokenMint {
    pub fn new(secret: [u8; 32]) -> Self {
        Self { secret }
    }

    /// A fresh random token for a new session.
    ///
    /// # Errors
    /// Only when the OS has no randomness to give.
    pub fn first(&self) -> anyhow::Result<RefreshToken> {
        crate::opaque::random().map(RefreshToken)
    }

    /// The one child `parent` rotates into.
    ///
    /// # Errors
    /// Never in practice: the key length is fixed and valid for BLAKE2b.
    pub fn child_of(&self, parent: &RefreshToken) -> anyhow::Result<RefreshToken> {
        let mut mac = <Blake2bMac512 as KeyInit>::new_from_slice(&self.secret)
            .map_err(|e| anyhow::anyhow!("refresh mint key: {e}"))?;
        mac.update(b"tessera refresh child v1\0");
        mac.update(parent.0.as_bytes());
        let out = mac.finalize().into_bytes();
        let child = out.get(..32).ok_or_else(|| anyhow::anyhow!("short MAC"))?;
        Ok(RefreshToken(URL_SAFE_NO_PAD.encode(child)))
    }

    pub fn hash(token: &RefreshToken) -> RefreshTokenHash {
        RefreshTokenHash(crate::opaque::digest(&token.0))
    }
}

/// Where a presented refresh token stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshTokenState {
    /// The session's live token.
    Current,
    /// Already exchanged for a child at this instant.
    RotatedAt(DateTime<Utc>),
}

/// The result of an atomic rotation attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotateOutcome {
    /// This caller exchanged the token; the child is now the live one.
    Rotated,
    /// Someone exchanged it first, at this instant.
    AlreadyRotated(DateTime<Utc>),
    /// The token is not known (or its session is gone).
    Unknown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_are_deterministic_per_secret_and_hashes_hide_tokens() {
        let mint = RefreshTokenMint::new([7; 32]);
        let parent = mint.first().unwrap();
        assert_eq!(parent.expose().len(), 43);
        assert_ne!(mint.first().unwrap(), parent, "first tokens are random");
        let child = mint.child_of(&parent).unwrap();
        assert_eq!(
            mint.child_of(&parent).unwrap(),
            child,
            "one child per parent"
        );
        assert_ne!(
            RefreshTokenMint::new([8; 32]).child_of(&parent).unwrap(),
            child
        );
        assert!(RefreshToken::from_client(child.expose()).is_some());
        let hash = RefreshTokenMint::hash(&child);
        assert!(!hash.0.contains(child.expose()));
        assert!(!format!("{child:?}").contains(child.expose()));
        assert!(RefreshToken::from_client("too-short").is_none());
    }

    #[test]
    fn idle_expiry_never_passes_the_absolute_limit() {
        let policy = SessionPolicy::default();
        let t0 = DateTime::<Utc>::UNIX_EPOCH;
        let s = Session::start(
            UserId::new_random(),
            ClientInfo::default(),
            vec![AuthMethod::Pwd],
            &policy,
            t0,
        );
        assert_eq!(s.idle_expires_at, t0 + TimeDelta::days(7));
        assert!(s.is_live(t0 + TimeDelta::days(6)));
        assert!(!s.is_live(t0 + TimeDelta::days(7)));
        let late = t0 + TimeDelta::days(28);
        assert_eq!(
            s.renewed_idle_expiry(&policy, late),
            t0 + TimeDelta::days(30)
        );
    }
}
