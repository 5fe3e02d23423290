//! RFC 7009 revocation and RFC 7662 introspection over the same sessions and rules.

use crate::session::RefreshTokenState;

use super::*;

impl Accounts {
    /// RFC 7009: revokes an access token (by `jti`) or a refresh token (its whole
    /// session). Tokens that are unknown, invalid or expired are silently accepted.
    ///
    /// # Errors
    /// Only `Unavailable`.
    pub async fn revoke_token(&self, token: &str, client: &ClientInfo) -> Result<(), Unavailable> {
        let now = self.core.now();
        if let Some(refresh) = RefreshToken::from_client(token) {
            // An ended session needs no second ending: a long-dead token costs one read.
            if let Some((session, _)) = self
                .core
                .deps()
                .sessions
                .find_by_refresh(&RefreshTokenMint::hash(&refresh))
                .await?
                .filter(|(s, _)| s.revoked_at.is_none())
            {
                self.core.end_session(&session, now).await?;
                self.core
                    .audit(
                        AuditEvent::TokenRevoked {
                            user: session.user_id,
                        },
                        client,
                    )
                    .await;
            }
            return Ok(());
        }
        if let Ok(claims) = self.core.deps().verifier.verify(token, now).await {
            self.core
                .revoke_rule(Revocation::Token(claims.jti), now)
                .await?;
            self.core
                .audit(AuditEvent::TokenRevoked { user: claims.sub }, client)
                .await;
        }
        Ok(())
    }

    /// RFC 7662: what a token is, if it is active.
    ///
    /// # Errors
    /// Only `Unavailable`.
    pub async fn introspect(&self, token: &str) -> Result<Introspection, Unavailable> {
        let now = self.core.now();
        if let Some(refresh) = RefreshToken::from_client(token) {
            let found = self
                .core
                .deps()
                .sessions
                .find_by_refresh(&RefreshTokenMint::hash(&refresh))
                .await?;
            return Ok(match found {
                Some((session, RefreshTokenState::Current)) if session.is_live(now) => {
                    Introspection::Refresh { session }
                }
                _ => Introspection::Inactive,
            });
        }
        match self.authenticate_for_any_audience(token).await {
            Ok(claims) => Ok(Introspection::Access(claims)),
            Err(AuthError::Unavailable(e)) => Err(e),
            Err(_) => Ok(Introspection::Inactive),
        }
    }
}
