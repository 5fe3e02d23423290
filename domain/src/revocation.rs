//! Revocation: what can be revoked (a token, a session, every token of a user issued up to
//! an instant), for how long, and the ports that answer "is this token revoked?".

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::ports::StoreError;
use crate::session::SessionId;
use crate::token::Claims;
use crate::user::UserId;

/// One revocation rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Revocation {
    /// One access token, by `jti`.
    Token(Uuid),
    /// Every access token of a session, by `sid`.
    Session(SessionId),
    /// Every access token of a user issued at or before an instant (second precision, as
    /// `iat` is).
    UserBefore(UserId, DateTime<Utc>),
}

impl Revocation {
    /// The kind tags, written by the stores (SQL rows, Redis messages): never change one.
    const TOKEN: &'static str = "token";
    const SESSION: &'static str = "session";
    const USER: &'static str = "user";

    pub fn covers(&self, claims: &Claims) -> bool {
        match self {
            Self::Token(jti) => claims.jti == *jti,
            Self::Session(sid) => claims.sid == *sid,
            Self::UserBefore(user, before) => {
                claims.sub == *user && claims.iat <= before.timestamp()
            }
        }
    }

    /// A short name for metrics and audit, and the tag stores write ([`Self::parts`]):
    /// `token`, `session` or `user`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Token(_) => Self::TOKEN,
            Self::Session(_) => Self::SESSION,
            Self::UserBefore(..) => Self::USER,
        }
    }

    /// The rule as stores write it: its [`kind`](Self::kind) tag, its subject (the `jti`,
    /// `sid` or user id) and, for a `user` rule only, its instant.
    pub fn parts(&self) -> (&'static str, Uuid, Option<DateTime<Utc>>) {
        let (subject, before) = match *self {
            Self::Token(jti) => (jti, None),
            Self::Session(sid) => (sid.0, None),
            Self::UserBefore(user, before) => (user.0, Some(before)),
        };
        (self.kind(), subject, before)
    }

    /// The rule back from its [`parts`](Self::parts); `before` is ignored but for a `user`
    /// rule. `None` for an unknown tag, or a `user` rule without its instant.
    pub fn from_parts(kind: &str, subject: Uuid, before: Option<DateTime<Utc>>) -> Option<Self> {
        Some(match kind {
            Self::TOKEN => Self::Token(subject),
            Self::SESSION => Self::Session(SessionId(subject)),
            Self::USER => Self::UserBefore(UserId(subject), before?),
            _ => return None,
        })
    }
}

/// A rule and the instant after which every token it covers has expired anyway, so the
/// rule can be forgotten.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationEntry {
    pub revocation: Revocation,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum RevocationError {
    /// The revocation state cannot be read or written: callers MUST fail closed (503).
    #[error("revocation state is unavailable")]
    Unavailable(#[source] anyhow::Error),
}

/// The list consulted on every protected request.
///
/// # Errors
/// Implementations MUST return [`RevocationError::Unavailable`] whenever they cannot vouch
/// for their answer (backend down, state not loaded) — never `Ok(false)` on doubt.
#[async_trait]
pub trait RevocationList: Send + Sync + 'static {
    /// Records a rule. It is in force for every instance when this returns `Ok`.
    async fn revoke(&self, entry: RevocationEntry) -> Result<(), RevocationError>;
    /// Whether any rule in force at `now` covers these claims. Answers from memory.
    fn is_revoked(&self, claims: &Claims, now: DateTime<Utc>) -> Result<bool, RevocationError>;
    /// Whether the list can currently vouch for its answers (for `/readyz`).
    async fn check_ready(&self) -> Result<(), RevocationError>;
    /// Takes in the rules other processes (the CLI, an instance that could not publish)
    /// wrote to the durable store since the last call. The server calls it every
    /// `revocation.poll_interval`, so no revocation depends on a message arriving.
    async fn sync(&self, now: DateTime<Utc>) -> Result<(), RevocationError>;
}

/// Durable storage under a [`RevocationList`], so a restart forgets nothing.
///
/// # Errors
/// MUST return [`StoreError::Unavailable`] when the store cannot be reached.
#[async_trait]
pub trait RevocationStore: Send + Sync + 'static {
    async fn insert(&self, entry: &RevocationEntry) -> Result<(), StoreError>;
    /// Every rule whose `expires_at` is after `now`.
    async fn load_active(&self, now: DateTime<Utc>) -> Result<Vec<RevocationEntry>, StoreError>;
    /// The position of the newest rule (0 when there is none): read it before
    /// [`Self::load_active`], then follow with [`Self::load_since`].
    async fn cursor(&self) -> Result<i64, StoreError>;
    /// The rules recorded after position `cursor` still in force at `now`, and the
    /// position of the newest row read (`cursor` when none). Positions grow with each
    /// insert, but a row may become visible after a higher one (concurrent
    /// transactions): callers read again from a slightly older position.
    async fn load_since(
        &self,
        cursor: i64,
        now: DateTime<Utc>,
    ) -> Result<(Vec<RevocationEntry>, i64), StoreError>;
    /// Deletes rules that expired before `now`; returns how many.
    async fn purge_expired(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_rules_cover_tokens_issued_up_to_their_second() {
        let user = UserId::new_random();
        let cut = DateTime::<Utc>::from_timestamp(1_000, 0).unwrap();
        let claims = |sub, iat| Claims {
            iss: String::new(),
            aud: crate::token::Audience::one(""),
            sub,
            exp: iat + 900,
            iat,
            nbf: iat,
            jti: Uuid::new_v4(),
            sid: SessionId::new_random(),
            username: String::new(),
            roles: vec![],
            amr: vec![],
            auth_time: iat,
            client_id: None,
            scope: None,
        };
        let rule = Revocation::UserBefore(user, cut);
        assert!(rule.covers(&claims(user, 999)));
        assert!(rule.covers(&claims(user, 1_000)));
        assert!(!rule.covers(&claims(user, 1_001)));
        assert!(!rule.covers(&claims(UserId::new_random(), 999)));
    }

    #[test]
    fn stored_parts_keep_their_tags_and_round_trip() {
        let at = DateTime::<Utc>::from_timestamp(1_000, 0).unwrap();
        let id = Uuid::new_v4();
        for (rule, tag) in [
            (Revocation::Token(id), "token"),
            (Revocation::Session(SessionId(id)), "session"),
            (Revocation::UserBefore(UserId(id), at), "user"),
        ] {
            let (kind, subject, before) = rule.parts();
            assert_eq!((kind, subject), (tag, id));
            assert_eq!(Revocation::from_parts(kind, subject, before), Some(rule));
            assert_eq!(Revocation::from_parts(kind, subject, Some(at)), Some(rule));
        }
        assert_eq!(Revocation::from_parts("user", id, None), None);
        assert_eq!(Revocation::from_parts("jti", id, Some(at)), None);
    }
}
