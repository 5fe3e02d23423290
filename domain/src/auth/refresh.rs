//! Refresh-token rotation with reuse detection: one conditional rotation in the store;
//! a token presented again within the grace window gets the same child, after it the
//! whole session ends.

use crate::session::RefreshTokenState;
use crate::session::RotateOutcome;

use super::*;

impl AuthService {
    /// Exchanges a refresh token for a new pair (rotation with reuse detection).
    ///
    /// # Errors
    /// [`RefreshError::InvalidGrant`] for unknown, expired, revoked or reused tokens; a
    /// reuse outside the grace window also revokes the whole session.
    pub async fn refresh(
        &self,
        presented: &str,
        client: &ClientInfo,
    ) -> Result<TokenPair, RefreshError> {
        self.refresh_session(presented, None, client).await
    }

    /// [`Self::refresh`] for the sessions of `oauth_client` only (`None`: Tessera's own):
    /// a registered client's refresh token works at the token endpoint, with that
    /// client's authentication, and nowhere else.
    pub(super) async fn refresh_session(
        &self,
        presented: &str,
        oauth_client: Option<crate::oidc::ClientId>,
        client: &ClientInfo,
    ) -> Result<TokenPair, RefreshError> {
        let presented = RefreshToken::from_client(presented).ok_or(RefreshError::InvalidGrant)?;
        let presented_hash = RefreshTokenMint::hash(&presented);
        let now = self.now();
        // Token, session and user in one lookup: the refresh path is a handful of
        // statements, and each one is a round trip.
        let Some((session, state, user)) =
            self.deps.sessions.find_for_refresh(&presented_hash).await?
        else {
            return Err(RefreshError::InvalidGrant);
        };
        if !session.is_live(now) || session.oauth.as_ref().map(|o| o.client) != oauth_client {
            return Err(RefreshError::InvalidGrant);
        }
        let user = user
            .filter(|u| !u.is_disabled())
            .ok_or(RefreshError::InvalidGrant)?;
        let child = self.mint.child_of(&presented)?;
        let outcome = match state {
            RefreshTokenState::Current => {
                self.deps
                    .sessions
                    .rotate(
                        session.id,
                        &presented_hash,
                        &RefreshTokenMint::hash(&child),
                        now,
                        session.renewed_idle_expiry(&self.sessions, now),
                    )
                    .await?
            }
            RefreshTokenState::RotatedAt(at) => RotateOutcome::AlreadyRotated(at),
        };
        match outcome {
            RotateOutcome::Rotated => {}
            RotateOutcome::AlreadyRotated(at) if now - at <= self.sessions.reuse_grace => {}
            RotateOutcome::AlreadyRotated(_) => {
                self.end_session(&session, now).await?;
                self.audit(
                    AuditEvent::RefreshReuse {
                        user: session.user_id,
                        session: session.id,
                    },
                    client,
                )
                .await;
                return Err(RefreshError::InvalidGrant);
            }
            RotateOutcome::Unknown => return Err(RefreshError::InvalidGrant),
        }
        let mut renewed = session;
        renewed.idle_expires_at = renewed.renewed_idle_expiry(&self.sessions, now);
        Ok(self.pair(&user, &renewed, child, now)?)
    }
}
