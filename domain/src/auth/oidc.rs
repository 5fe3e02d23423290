//! The OpenID provider's use cases: registering clients, the authorization request and
//! consent, exchanging a code (PKCE S256, single use: a second use ends what the first
//! issued), refresh for a client, service tokens (`client_credentials`), ID tokens and
//! UserInfo. Sessions, tokens, revocation and audit are the ones every other flow uses.

use std::sync::Arc;

use uuid::Uuid;

use crate::mfa::AuthMethod;
use crate::oidc::{
    AuthorizationCode, CODE_TTL, ClientId, ClientSecret, ClientStore, Consent, GrantType,
    NewClient, OAuthClient, OAuthGrant, Scopes, pkce_matches,
};
use crate::token::IdTokenSigner;

use super::*;

/// What the OpenID provider depends on, wired once by the composition root.
#[derive(Clone)]
pub struct OidcDeps {
    pub clients: Arc<dyn ClientStore>,
    pub id_tokens: Arc<dyn IdTokenSigner>,
}

/// An authorization request as it arrived (RFC 6749 §4.1.1, RFC 7636, OIDC Core
/// §3.1.2.1); every parameter optional until checked.
#[derive(Debug, Clone, Default)]
pub struct AuthorizeRequest {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
}

/// A checked authorization request.
#[derive(Debug, Clone)]
pub struct Authorization {
    pub client: OAuthClient,
    pub redirect_uri: String,
    pub scopes: Scopes,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
}

/// What the token endpoint hands out (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Clone)]
pub struct OidcTokens {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: Option<RefreshToken>,
    pub id_token: Option<String>,
    pub scope: String,
}

/// The UserInfo answer (OIDC Core §5.3): what the token's scopes allow.
#[derive(Debug, Clone)]
pub struct UserInfo {
    pub sub: UserId,
    pub preferred_username: Option<String>,
    pub email: Option<(String, bool)>,
}

impl AuthService {
    fn oidc_deps(&self) -> Result<&OidcDeps, Unavailable> {
        self.oidc
            .as_ref()
            .ok_or_else(|| Unavailable::Store(anyhow::anyhow!("the OpenID provider is not wired")))
    }

    /// The issuer: `iss` of every token, and the base of the discovery document.
    pub fn issuer(&self) -> &str {
        &self.tokens.issuer
    }

    /// The claims of an `id_token_hint` this provider signed (expired or not).
    pub fn id_token_hint(&self, token: &str) -> Option<serde_json::Value> {
        self.oidc.as_ref()?.id_tokens.verify_id_token_hint(token)
    }

    /// Whether Tessera's own API takes this token: a token of Tessera's own sessions, or
    /// one issued to a first-party client (the docs, your own apps). A third-party app's
    /// token is for the resource servers it was granted, never for changing the account
    /// (email, password, factors) or for an administrator's powers.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be read.
    pub async fn takes_for_account_api(&self, claims: &Claims) -> Result<bool, Unavailable> {
        let Some(id) = &claims.client_id else {
            return Ok(true);
        };
        Ok(self.client(id).await?.is_some_and(|c| c.first_party))
    }

    /// Registers a client; a confidential one gets its secret, shown this once.
    ///
    /// # Errors
    /// [`ClientError::Invalid`] for a description that breaks a rule.
    pub async fn create_client(
        &self,
        new: NewClient,
        client: &ClientInfo,
    ) -> Result<(OAuthClient, Option<ClientSecret>), ClientError> {
        let o = self.oidc_deps()?;
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
            created_at: self.now(),
        };
        o.clients.create_client(&registered).await?;
        self.audit(
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
        Ok(self.oidc_deps()?.clients.list_clients().await?)
    }

    /// # Errors
    /// `Unavailable` when the store cannot be read.
    pub async fn client(&self, id: &str) -> Result<Option<OAuthClient>, Unavailable> {
        let Some(id) = ClientId::parse(id) else {
            return Ok(None);
        };
        Ok(self.oidc_deps()?.clients.find_client(id).await?)
    }

    /// Deletes a client with its codes and consents. Its sessions can no longer be
    /// refreshed (the client cannot authenticate); access tokens it holds expire.
    ///
    /// # Errors
    /// [`ClientError::NotFound`].
    pub async fn delete_client(&self, id: &str, client: &ClientInfo) -> Result<(), ClientError> {
        let o = self.oidc_deps()?;
        let id = ClientId::parse(id).ok_or(ClientError::NotFound)?;
        if !o.clients.delete_client(id).await? {
            return Err(ClientError::NotFound);
        }
        self.audit(AuditEvent::ClientDeleted { client: id }, client)
            .await;
        Ok(())
    }

    /// Checks an authorization request before anyone signs in.
    ///
    /// # Errors
    /// [`AuthorizeError::NotRedirectable`] for an unknown client or redirect URI;
    /// [`AuthorizeError::Redirect`] for everything the client should hear about.
    pub async fn check_authorization(
        &self,
        req: &AuthorizeRequest,
    ) -> Result<Authorization, AuthorizeError> {
        let o = self.oidc_deps()?;
        let client = match req.client_id.as_deref().and_then(ClientId::parse) {
            Some(id) => o.clients.find_client(id).await.map_err(Unavailable::from)?,
            None => None,
        }
        .ok_or(AuthorizeError::NotRedirectable(
            "The application that sent you here is not registered with Tessera.",
        ))?;
        // Exact match only (RFC 9700 §4.1.3): no prefix, no wildcard, no default.
        let redirect_uri = req
            .redirect_uri
            .clone()
            .filter(|uri| client.redirect_uris.contains(uri))
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
        let o = self.oidc_deps()?;
        let given = o.clients.consent(claims.sub, auth.client.id).await?;
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
        let o = self.oidc_deps()?;
        let scopes = match o.clients.consent(claims.sub, auth.client.id).await? {
            Some(given) => given.union(&auth.scopes),
            None => auth.scopes.clone(),
        };
        o.clients
            .grant_consent(claims.sub, auth.client.id, &scopes, self.now())
            .await?;
        let event = AuditEvent::ConsentGranted {
            user: claims.sub,
            client: auth.client.id,
        };
        self.audit(event, client).await;
        Ok(())
    }

    /// The clients the user allowed, for the account page.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be read.
    pub async fn consents(&self, claims: &Claims) -> Result<Vec<Consent>, Unavailable> {
        Ok(self.oidc_deps()?.clients.consents(claims.sub).await?)
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
        let o = self.oidc_deps()?;
        let Some(id) = ClientId::parse(client_id) else {
            return Ok(false);
        };
        let had = o.clients.revoke_consent(claims.sub, id).await?;
        if had {
            let event = AuditEvent::ConsentRevoked {
                user: claims.sub,
                client: id,
            };
            self.audit(event, client).await;
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
        let o = self.oidc_deps()?;
        let now = self.now();
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
        o.clients.put_code(&record).await?;
        Ok(code)
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
        let o = self.oidc_deps()?;
        let Some(id) = ClientId::parse(id) else {
            return Err(OAuthError::InvalidClient);
        };
        let client = o
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

    /// Exchanges a code (RFC 6749 §4.1.3, RFC 7636 §4.6). The first exchange starts a
    /// session of the client; a code presented again ends that session (RFC 6749
    /// §4.1.2: "the authorization server … SHOULD revoke … all tokens previously issued
    /// based on that authorization code").
    ///
    /// # Errors
    /// [`OAuthError::InvalidGrant`] for an unknown, used, expired or foreign code, a
    /// different redirect URI, or a verifier that does not answer the challenge.
    pub async fn exchange_code(
        &self,
        client: &OAuthClient,
        code: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
        info: &ClientInfo,
    ) -> Result<OidcTokens, OAuthError> {
        let o = self.oidc_deps()?;
        if !client.allows(GrantType::AuthorizationCode) {
            return Err(OAuthError::UnauthorizedClient);
        }
        let invalid = OAuthError::InvalidGrant("the code is invalid, used, expired or not yours");
        if !crate::opaque::is_well_formed(code) {
            return Err(invalid);
        }
        let now = self.now();
        let hash = crate::opaque::digest(code);
        let Some((record, first)) = o.clients.redeem_code(&hash, now).await? else {
            return Err(invalid);
        };
        if !first {
            if let Some(sid) = record.session
                && let Some(session) = self.deps.sessions.find(sid).await?
            {
                self.end_session(&session, now).await?;
            }
            let event = AuditEvent::CodeReused {
                user: record.user,
                client: record.client,
            };
            self.audit(event, info).await;
            return Err(invalid);
        }
        let Some(verifier) = verifier else {
            return Err(OAuthError::InvalidRequest(
                "code_verifier is required (PKCE)".into(),
            ));
        };
        if record.client != client.id
            || now >= record.expires_at
            || redirect_uri != Some(record.redirect_uri.as_str())
            || !pkce_matches(verifier, &record.code_challenge)
        {
            return Err(invalid);
        }
        let user = self
            .deps
            .users
            .find_by_id(record.user)
            .await?
            .filter(|u| !u.is_disabled())
            .ok_or(invalid)?;
        let mut session = Session::start(
            user.id,
            info.clone(),
            record.amr.clone(),
            &self.sessions,
            now,
        );
        session.oauth = Some(OAuthGrant {
            client: client.id,
            scopes: record.scopes.clone(),
        });
        // Every session has a refresh token (the store keys it by one); a client without
        // the refresh grant is never handed it, so it can never be presented.
        let refresh = self.mint.first()?;
        self.deps
            .sessions
            .create(&session, &RefreshTokenMint::hash(&refresh))
            .await?;
        o.clients.attach_session(&hash, session.id).await?;
        let pair = self.pair(&user, &session, refresh, now)?;
        let id_token = if record.scopes.contains("openid") {
            Some(self.id_token(o, &user, client, &session, &record, now)?)
        } else {
            None
        };
        let event = AuditEvent::CodeExchanged {
            user: user.id,
            client: client.id,
            session: session.id,
        };
        self.audit(event, info).await;
        Ok(OidcTokens {
            access_token: pair.access_token,
            expires_in: pair.expires_in,
            refresh_token: client
                .allows(GrantType::RefreshToken)
                .then_some(pair.refresh_token),
            id_token,
            scope: record.scopes.join(),
        })
    }

    fn id_token(
        &self,
        o: &OidcDeps,
        user: &User,
        client: &OAuthClient,
        session: &Session,
        code: &AuthorizationCode,
        now: DateTime<Utc>,
    ) -> Result<String, OAuthError> {
        let iat = now.timestamp();
        let mut claims = serde_json::json!({
            "iss": self.tokens.issuer,
            "sub": user.id,
            "aud": client.id,
            "azp": client.id,
            "exp": iat + self.tokens.access_ttl.num_seconds(),
            "iat": iat,
            "auth_time": code.auth_time.timestamp(),
            "amr": code.amr.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
            "sid": session.id,
        });
        let Some(map) = claims.as_object_mut() else {
            return Err(OAuthError::Unknown(anyhow::anyhow!("ID token claims")));
        };
        if let Some(nonce) = &code.nonce {
            map.insert("nonce".into(), nonce.clone().into());
        }
        if code.scopes.contains("profile") {
            map.insert(
                "preferred_username".into(),
                user.username.as_str().to_owned().into(),
            );
        }
        if code.scopes.contains("email")
            && let Some(email) = &user.email
        {
            map.insert("email".into(), email.as_str().to_owned().into());
            map.insert("email_verified".into(), user.email_verified.into());
        }
        Ok(o.id_tokens.sign_id_token(&claims)?)
    }

    /// A refresh at the token endpoint: the session must be this client's.
    ///
    /// # Errors
    /// [`OAuthError::InvalidGrant`] as [`Self::refresh`] refuses, and for a token of
    /// another client or of Tessera's own API.
    pub async fn refresh_for_client(
        &self,
        client: &OAuthClient,
        refresh_token: &str,
        info: &ClientInfo,
    ) -> Result<OidcTokens, OAuthError> {
        if !client.allows(GrantType::RefreshToken) {
            return Err(OAuthError::UnauthorizedClient);
        }
        let pair = match self
            .refresh_session(refresh_token, Some(client.id), info)
            .await
        {
            Ok(pair) => pair,
            Err(RefreshError::InvalidGrant) => {
                return Err(OAuthError::InvalidGrant(
                    "the refresh token is invalid, expired or revoked",
                ));
            }
            Err(RefreshError::Unavailable(e)) => return Err(e.into()),
            Err(RefreshError::Unknown(e)) => return Err(e.into()),
        };
        Ok(OidcTokens {
            access_token: pair.access_token,
            expires_in: pair.expires_in,
            refresh_token: Some(pair.refresh_token),
            id_token: None,
            scope: pair.scope.unwrap_or_default(),
        })
    }

    /// A service token for the client itself (RFC 6749 §4.4, RFC 9068 §2.2: `sub` is
    /// the client). No refresh token, no session: it is revoked by its `jti`.
    ///
    /// # Errors
    /// [`OAuthError::UnauthorizedClient`] for a client without the grant;
    /// [`OAuthError::InvalidScope`] for a scope it may not have.
    pub async fn client_credentials(
        &self,
        client: &OAuthClient,
        scope: Option<&str>,
    ) -> Result<OidcTokens, OAuthError> {
        if client.is_public() || !client.allows(GrantType::ClientCredentials) {
            return Err(OAuthError::UnauthorizedClient);
        }
        let scopes = match scope {
            Some(raw) => Scopes::parse(raw)
                .map_err(|s| OAuthError::InvalidScope(format!("unknown scope {s:?}")))?,
            None => Scopes::default(),
        };
        // A service signs in no one: the user scopes mean nothing for it.
        if !scopes.is_empty() {
            return Err(OAuthError::InvalidScope(
                "openid, profile and email are about a user; a service token takes none".into(),
            ));
        }
        let now = self.now();
        let iat = now.timestamp();
        let claims = Claims {
            iss: self.tokens.issuer.clone(),
            aud: self.tokens.audience.clone(),
            sub: UserId(client.id.0),
            exp: iat + self.tokens.access_ttl.num_seconds(),
            iat,
            nbf: iat,
            jti: Uuid::new_v4(),
            sid: SessionId::new_random(),
            username: String::new(),
            roles: Vec::new(),
            amr: Vec::new(),
            auth_time: 0,
            client_id: Some(client.id.to_string()),
            scope: None,
        };
        Ok(OidcTokens {
            access_token: self.deps.signer.sign(&claims)?,
            expires_in: self.tokens.access_ttl.num_seconds(),
            refresh_token: None,
            id_token: None,
            scope: String::new(),
        })
    }

    /// UserInfo (OIDC Core §5.3) for an access token granted `openid`.
    ///
    /// # Errors
    /// `None` when the token was not granted `openid` or its user is gone.
    pub async fn userinfo(&self, claims: &Claims) -> Result<Option<UserInfo>, Unavailable> {
        let Some(scopes) = claims.scope.as_deref().and_then(|s| Scopes::parse(s).ok()) else {
            return Ok(None);
        };
        if !scopes.contains("openid") {
            return Ok(None);
        }
        let Some(user) = self
            .deps
            .users
            .find_by_id(claims.sub)
            .await?
            .filter(|u| !u.is_disabled())
        else {
            return Ok(None);
        };
        Ok(Some(UserInfo {
            sub: user.id,
            preferred_username: scopes
                .contains("profile")
                .then(|| user.username.as_str().to_owned()),
            email: if scopes.contains("email") {
                user.email
                    .as_ref()
                    .map(|e| (e.as_str().to_owned(), user.email_verified))
            } else {
                None
            },
        }))
    }

    /// Deletes authorization codes that expired before `now`.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be written.
    pub async fn purge_codes(&self, now: DateTime<Utc>) -> Result<u64, Unavailable> {
        match &self.oidc {
            Some(o) => Ok(o.clients.purge_codes(now).await?),
            None => Ok(0),
        }
    }
}
