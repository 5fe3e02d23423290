//! Refresh-token rotation with reuse detection: one conditional rotation in the store;
//! a token presented again within the grace window gets the same child, after it the
//! whole session ends. The rotation is the [`Core`]'s: a registered client's refresh at
//! the token endpoint ([`OidcProvider::refresh_for_client`]) takes the same steps.

use super::*;

impl Accounts {
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
        self.core.refresh_session(presented, None, client).await
    }
}
