//! Registered clients: an administrator's registration and deletion, and a client's
//! authentication at the token endpoint.

use crate::oidc::{ClientSecret, NewClient};

use super::*;

impl OidcProvider {
    /// Registers a client; a confidential one gets its secret, shown this once.
    ///
    /// # Errors
    /// [`ClientError::Invalid`] for a description that breaks a rule.
    pub async fn create_client(
        &self,
        new: NewClient,
        client: &ClientInfo,
    ) -> Result<(OAuthClient, Option<ClientSecret>), ClientError> {
        let scopes = new.validate()?;
        let secret = if new.public {
            None
        } else {
            Some(ClientSecret::generate()?)
        };
        let mut grant_types = Vec::new();
        for g in new.grant_types {
            if !grant_types.contains(&g) {
                grant_types.push(g);
            }
        }
        let registered = OAuthClient {
            id: ClientId::new_random(),
            name: new.name.trim().to_owned(),
            secret_hash: secret.as_ref().map(|s| ClientSecret::hash_of(s.expose())),
            redirect_uris: new.redirect_uris,
            post_logout_redirect_uris: new.post_logout_redirect_uris,
            grant_types,
            scopes,
            first_party: new.first_party,
            audience: new.audience,
            backchannel_logout_uri: new.backchannel_logout_uri,
            backchannel_logout_session_required: new.backchannel_logout_session_required,
            created_at: self.core.now(),
        };
        self.deps.clients.create_client(&registered).await?;
        self.core
            .audit(
                AuditEvent::ClientCreated {
                    client: registered.id,
                },
                client,
            )
            .await;
        Ok((registered, secret))
    }

    /// # Errors
    /// `Unavailable` when the store cannot be read.
    pub async fn clients(&self) -> Result<Vec<OAuthClient>, Unavailable> {
        Ok(self.deps.clients.list_clients().await?)
    }

    /// # Errors
    /// `Unavailable` when the store cannot be read.
    pub async fn client(&self, id: &str) -> Result<Option<OAuthClient>, Unavailable> {
        let Some(id) = ClientId::parse(id) else {
            return Ok(None);
        };
        Ok(self.deps.clients.find_client(id).await?)
    }

    /// Deletes a client with its codes and consents. Its sessions can no longer be
    /// refreshed (the client cannot authenticate); access tokens it holds expire.
    ///
    /// # Errors
    /// [`ClientError::NotFound`].
    pub async fn delete_client(&self, id: &str, client: &ClientInfo) -> Result<(), ClientError> {
        let id = ClientId::parse(id).ok_or(ClientError::NotFound)?;
        if !self.deps.clients.delete_client(id).await? {
            return Err(ClientError::NotFound);
        }
        // What the client holds dies with it: every session of it (refresh and access
        // tokens), and its own service tokens (their `sub` is the client).
        self.core.end_client_sessions(id, None).await?;
        let now = self.core.now();
        self.core
            .revoke_rule(
                crate::revocation::Revocation::UserBefore(UserId(id.0), now),
                now,
            )
            .await?;
        self.core
            .audit(AuditEvent::ClientDeleted { client: id }, client)
            .await;
        Ok(())
    }

    /// Authenticates a client at the token endpoint: a confidential client by its
    /// secret, a public one by its id alone (PKCE then binds the code to it).
    ///
    /// # Errors
    /// [`OAuthError::InvalidClient`] for an unknown client, a wrong or missing secret,
    /// or a secret presented by a public client.
    pub async fn authenticate_client(
        &self,
        id: &str,
        secret: Option<&str>,
    ) -> Result<OAuthClient, OAuthError> {
        let Some(id) = ClientId::parse(id) else {
            return Err(OAuthError::InvalidClient);
        };
        let client = self
            .deps
            .clients
            .find_client(id)
            .await?
            .ok_or(OAuthError::InvalidClient)?;
        let ok = match (&client.secret_hash, secret) {
            (None, None) => true,
            (Some(stored), Some(given)) => {
                crate::opaque::same(&ClientSecret::hash_of(given), stored)
            }
            _ => false,
        };
        if ok {
            Ok(client)
        } else {
            Err(OAuthError::InvalidClient)
        }
    }
}
