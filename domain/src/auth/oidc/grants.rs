//! The token endpoint's grants: a code exchanged (RFC 6749 §4.1.3, RFC 7636 §4.6), a
//! client's refresh, a service token (`client_credentials`); the ID token a code earns
//! and UserInfo.

use uuid::Uuid;

use crate::oidc::{GrantType, OAuthGrant, pkce_matches};

use super::*;

/// What an ID token says of the sign-in it comes from: a code's, or an approved device
/// grant's.
pub(super) struct IdTokenFacts<'a> {
    pub scopes: &'a Scopes,
    pub nonce: Option<&'a str>,
    pub auth_time: DateTime<Utc>,
    pub amr: &'a [crate::mfa::AuthMethod],
}

impl OidcProvider {
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
        if !client.allows(GrantType::AuthorizationCode) {
            return Err(OAuthError::UnauthorizedClient);
        }
        let invalid = OAuthError::InvalidGrant("the code is invalid, used, expired or not yours");
        if !crate::opaque::is_well_formed(code) {
            return Err(invalid);
        }
        let now = self.core.now();
        let hash = crate::opaque::digest(code);
        // The session this exchange will start is named as the code is used, in the same
        // statement: a replay, however close, knows which session to end.
        let planned = SessionId::new_random();
        let Some((record, first)) = self.deps.clients.redeem_code(&hash, now, planned).await?
        else {
            return Err(invalid);
        };
        if !first {
            // The rule first, then the session: either the session exists by the time
            // it is looked up and ends here, or the rule is written before the first
            // exchange creates it, and that exchange sees the rule and ends it itself.
            if let Some(sid) = record.session {
                self.core
                    .revoke_rule(crate::revocation::Revocation::Session(sid), now)
                    .await?;
                if let Some(session) = self.core.deps().sessions.find(sid).await? {
                    self.core.end_session(&session, now).await?;
                }
            }
            let event = AuditEvent::CodeReused {
                user: record.user,
                client: record.client,
            };
            self.core.audit(event, info).await;
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
        let user = self.core.enabled_user(record.user).await?.ok_or(invalid)?;
        let facts = IdTokenFacts {
            scopes: &record.scopes,
            nonce: record.nonce.as_deref(),
            auth_time: record.auth_time,
            amr: &record.amr,
        };
        let (session, pair) = self
            .start_client_session(&user, client, &facts, planned, info, now)
            .await?;
        // A replay that raced this exchange left a rule for the planned session.
        let shaped = self
            .core
            .tokens()
            .claims_for_app(&user, &session, client, now);
        if self
            .core
            .deps()
            .revocations
            .is_revoked(&shaped, now)
            .map_err(Unavailable::from)?
        {
            self.core.end_session(&session, now).await?;
            return Err(OAuthError::InvalidGrant(
                "the code is invalid, used, expired or not yours",
            ));
        }
        self.tokens_for(&user, client, &session, pair, &facts, info, now)
            .await
    }

    /// Starts `client`'s session `id` for `user`, from a sign-in the person made on
    /// Tessera's pages (a code's, an approved device's), and hands out its first pair.
    /// Every session has a refresh token (the store keys it by one); a client without
    /// the refresh grant is never handed it, so it can never be presented.
    pub(super) async fn start_client_session(
        &self,
        user: &User,
        client: &OAuthClient,
        facts: &IdTokenFacts<'_>,
        id: SessionId,
        info: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<(Session, TokenPair), OAuthError> {
        let mut session = Session::start(
            user.id,
            info.clone(),
            facts.amr.to_vec(),
            self.core.session_policy(),
            now,
        );
        session.id = id;
        session.authenticated_at = facts.auth_time;
        session.oauth = Some(OAuthGrant {
            client: client.id,
            scopes: facts.scopes.clone(),
        });
        let refresh = self.core.mint().first()?;
        self.core
            .deps()
            .sessions
            .create(&session, &RefreshTokenMint::hash(&refresh))
            .await?;
        let pair = self.core.pair(user, &session, refresh, now, Some(client))?;
        Ok((session, pair))
    }

    /// The token endpoint's answer for a client session just started: its pair, an ID
    /// token when `openid` was granted, audited as `code_exchanged`.
    #[allow(clippy::too_many_arguments)] // each is one fact of the answer
    pub(super) async fn tokens_for(
        &self,
        user: &User,
        client: &OAuthClient,
        session: &Session,
        pair: TokenPair,
        facts: &IdTokenFacts<'_>,
        info: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<OidcTokens, OAuthError> {
        let id_token = if facts.scopes.contains("openid") {
            Some(self.id_token(user, client, session, facts, now)?)
        } else {
            None
        };
        let event = AuditEvent::CodeExchanged {
            user: user.id,
            client: client.id,
            session: session.id,
        };
        self.core.audit(event, info).await;
        Ok(OidcTokens {
            access_token: pair.access_token,
            expires_in: pair.expires_in,
            refresh_token: client
                .allows(GrantType::RefreshToken)
                .then_some(pair.refresh_token),
            id_token,
            scope: facts.scopes.join(),
        })
    }

    pub(super) fn id_token(
        &self,
        user: &User,
        client: &OAuthClient,
        session: &Session,
        code: &IdTokenFacts<'_>,
        now: DateTime<Utc>,
    ) -> Result<String, OAuthError> {
        let iat = now.timestamp();
        let mut claims = serde_json::json!({
            "iss": self.core.tokens().issuer,
            "sub": user.id,
            "aud": client.id,
            "azp": client.id,
            "exp": iat + self.core.tokens().access_ttl.num_seconds(),
            "iat": iat,
            "auth_time": code.auth_time.timestamp(),
            "amr": code.amr.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
            "sid": session.id,
        });
        let Some(map) = claims.as_object_mut() else {
            return Err(OAuthError::Unknown(anyhow::anyhow!("ID token claims")));
        };
        if let Some(nonce) = code.nonce {
            map.insert("nonce".into(), nonce.into());
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
        Ok(self.deps.id_tokens.sign_id_token(&claims)?)
    }

    /// A refresh at the token endpoint: the session must be this client's.
    ///
    /// # Errors
    /// [`OAuthError::InvalidGrant`] as [`Accounts::refresh`] refuses, and for a token of
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
            .core
            .refresh_session(refresh_token, Some(client), info)
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
        let now = self.core.now();
        let iat = now.timestamp();
        let claims = Claims {
            iss: self.core.tokens().issuer.clone(),
            aud: self.core.tokens().service_audience(client),
            sub: UserId(client.id.0),
            exp: iat + self.core.tokens().access_ttl.num_seconds(),
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
            access_token: self.core.deps().signer.sign(&claims)?,
            expires_in: self.core.tokens().access_ttl.num_seconds(),
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
        let Some(user) = self.core.enabled_user(claims.sub).await? else {
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
}
