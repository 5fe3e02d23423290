//! The authorization request (RFC 6749 §4.1.1, RFC 7636, OIDC Core §3.1.2.1), the
//! user's remembered consent, and the single-use code a signed-in user is issued.

use crate::mfa::AuthMethod;
use crate::oidc::{AuthorizationCode, CODE_TTL, Consent, GrantType};

use super::*;

impl OidcProvider {
    /// Checks an authorization request before anyone signs in.
    ///
    /// # Errors
    /// [`AuthorizeError::NotRedirectable`] for an unknown client or redirect URI;
    /// [`AuthorizeError::Redirect`] for everything the client should hear about.
    pub async fn check_authorization(
        &self,
        req: &AuthorizeRequest,
    ) -> Result<Authorization, AuthorizeError> {
        let client = match req.client_id.as_deref().and_then(ClientId::parse) {
            Some(id) => self
                .deps
                .clients
                .find_client(id)
                .await
                .map_err(Unavailable::from)?,
            None => None,
        }
        .ok_or(AuthorizeError::NotRedirectable(
            "The application that sent you here is not registered with Tessera.",
        ))?;
        // Exact match (RFC 9700 §4.1.3): no prefix, no wildcard, no default — but for a
        // loopback IP's port (RFC 8252 §7.3).
        let redirect_uri = req
            .redirect_uri
            .as_deref()
            .and_then(|uri| client.redirect_uri_for(uri))
            .ok_or(AuthorizeError::NotRedirectable(
                "The application asked to return you to an address it did not register.",
            ))?;
        let refuse = |error: &'static str, description: &str| AuthorizeError::Redirect {
            redirect_uri: redirect_uri.clone(),
            state: req.state.clone(),
            error,
            description: description.to_owned(),
        };
        if req.response_type.as_deref() != Some("code") {
            return Err(refuse(
                "unsupported_response_type",
                "only response_type=code is supported",
            ));
        }
        if !client.allows(GrantType::AuthorizationCode) {
            return Err(refuse(
                "unauthorized_client",
                "this client may not use the authorization code grant",
            ));
        }
        let Some(challenge) = req.code_challenge.clone() else {
            return Err(refuse(
                "invalid_request",
                "PKCE is required: send code_challenge with code_challenge_method=S256",
            ));
        };
        if req.code_challenge_method.as_deref() != Some("S256") {
            return Err(refuse(
                "invalid_request",
                "code_challenge_method must be S256 (plain is not accepted)",
            ));
        }
        if challenge.len() != 43
            || !challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(refuse(
                "invalid_request",
                "code_challenge is not a base64url SHA-256 digest",
            ));
        }
        let scopes = Scopes::parse(req.scope.as_deref().unwrap_or(""))
            .map_err(|s| refuse("invalid_scope", &format!("unknown scope {s:?}")))?;
        if !client.scopes.covers(&scopes) {
            return Err(refuse(
                "invalid_scope",
                "a requested scope is not allowed for this client",
            ));
        }
        if scopes.is_empty() {
            return Err(refuse("invalid_scope", "ask for at least one scope"));
        }
        let too_long = |v: &Option<String>| v.as_ref().is_some_and(|v| v.len() > 512);
        if too_long(&req.state) || too_long(&req.nonce) {
            return Err(refuse(
                "invalid_request",
                "state and nonce are at most 512 bytes",
            ));
        }
        Ok(Authorization {
            client,
            redirect_uri,
            scopes,
            state: req.state.clone(),
            nonce: req.nonce.clone(),
            code_challenge: challenge,
        })
    }

    /// Whether the signed-in user must be asked before the client signs them in: never
    /// for a first-party client, and not again for scopes they already allowed.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be read.
    pub async fn needs_consent(
        &self,
        claims: &Claims,
        auth: &Authorization,
    ) -> Result<bool, Unavailable> {
        if auth.client.first_party {
            return Ok(false);
        }
        let given = self
            .deps
            .clients
            .consent(claims.sub, auth.client.id)
            .await?;
        Ok(!given.is_some_and(|g| g.covers(&auth.scopes)))
    }

    /// Remembers that the user allowed the client these scopes.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be written.
    pub async fn grant_consent(
        &self,
        claims: &Claims,
        auth: &Authorization,
        client: &ClientInfo,
    ) -> Result<(), Unavailable> {
        let scopes = match self
            .deps
            .clients
            .consent(claims.sub, auth.client.id)
            .await?
        {
            Some(given) => given.union(&auth.scopes),
            None => auth.scopes.clone(),
        };
        self.deps
            .clients
            .grant_consent(claims.sub, auth.client.id, &scopes, self.core.now())
            .await?;
        let event = AuditEvent::ConsentGranted {
            user: claims.sub,
            client: auth.client.id,
        };
        self.core.audit(event, client).await;
        Ok(())
    }

    /// The clients the user allowed, for the account page.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be read.
    pub async fn consents(&self, claims: &Claims) -> Result<Vec<Consent>, Unavailable> {
        Ok(self.deps.clients.consents(claims.sub).await?)
    }

    /// Takes a consent back: the client must ask again next time.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be written.
    pub async fn revoke_consent(
        &self,
        claims: &Claims,
        client_id: &str,
        client: &ClientInfo,
    ) -> Result<bool, Unavailable> {
        let Some(id) = ClientId::parse(client_id) else {
            return Ok(false);
        };
        let had = self.deps.clients.revoke_consent(claims.sub, id).await?;
        // Removing access removes it: the app's sessions of this user end with the
        // consent, its refresh tokens and access tokens with them.
        self.core.end_client_sessions(id, Some(claims.sub)).await?;
        if had {
            let event = AuditEvent::ConsentRevoked {
                user: claims.sub,
                client: id,
            };
            self.core.audit(event, client).await;
        }
        Ok(had)
    }

    /// Issues a single-use code for the signed-in user, bound to the client, the
    /// redirect URI and the PKCE challenge.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be written.
    pub async fn issue_code(
        &self,
        claims: &Claims,
        auth: &Authorization,
    ) -> Result<String, Unavailable> {
        let now = self.core.now();
        let code = crate::opaque::random().map_err(Unavailable::Store)?;
        let record = AuthorizationCode {
            hash: crate::opaque::digest(&code),
            client: auth.client.id,
            user: claims.sub,
            redirect_uri: auth.redirect_uri.clone(),
            scopes: auth.scopes.clone(),
            nonce: auth.nonce.clone(),
            code_challenge: auth.code_challenge.clone(),
            auth_time: DateTime::from_timestamp(claims.auth_time, 0).unwrap_or(now),
            amr: claims
                .amr
                .iter()
                .filter_map(|m| AuthMethod::parse(m))
                .collect(),
            expires_at: now + CODE_TTL,
            session: None,
        };
        self.deps.clients.put_code(&record).await?;
        Ok(code)
    }
}
