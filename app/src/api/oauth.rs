//! `/v1/oauth/revoke` (RFC 7009) and `/v1/oauth/introspect` (RFC 7662). Both take
//! `application/x-www-form-urlencoded` as the RFCs require, and JSON.

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::{Form, Json};
use poem_openapi::{ApiRequest, Enum, Object, OpenApi};
use serde::Deserialize;
use tessera_domain::auth::Introspection;
use tessera_domain::user::Role;
use uuid::Uuid;

use super::responses::{admitted, answer, answers, bad_request};
use super::text::Text;
use super::{ApiTags, BearerAuth};
use crate::edge::refusal::insufficient_role;
use crate::edge::{AppState, client_info};

pub struct OAuthApi;

/// What kind of token `token` is (RFC 7009 §2.1, RFC 7662 §2.1): a hint only, the
/// server finds out itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum, Deserialize)]
#[oai(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum TokenTypeHint {
    AccessToken,
    RefreshToken,
}

/// A token to revoke or introspect, as JSON.
#[derive(Object, Deserialize)]
#[oai(rename = "TokenRequest", example)]
pub struct TokenJson {
    /// An access token or a refresh token.
    pub token: Text,
    pub token_type_hint: Option<TokenTypeHint>,
}

/// A token to revoke or introspect, as the form RFC 7009 and RFC 7662 define. The same
/// fields as `TokenRequest`, under its own name: generators type each content type by
/// its schema, and one schema for both left them unable to tell the two apart.
#[derive(Object, Deserialize)]
#[oai(rename = "TokenRequestForm", example)]
pub struct TokenForm {
    /// An access token or a refresh token.
    pub token: Text,
    pub token_type_hint: Option<TokenTypeHint>,
}

debug_redacted!(TokenJson { token_type_hint; token });
debug_redacted!(TokenForm { token_type_hint; token });

#[derive(ApiRequest)]
pub enum TokenRequest {
    Form(Form<TokenForm>),
    Json(Json<TokenJson>),
}

impl TokenRequest {
    fn token(&self) -> &str {
        match self {
            Self::Form(f) => &f.0.token,
            Self::Json(j) => &j.0.token,
        }
    }
}

/// RFC 7662 introspection answer. Only `active` is present for inactive tokens.
#[derive(Debug, Default, Object)]
#[oai(rename = "Introspection", example)]
pub struct IntrospectionView {
    pub active: bool,
    /// `access_token` or `refresh_token`.
    #[oai(skip_serializing_if_is_none)]
    pub token_type: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub sub: Option<Uuid>,
    #[oai(skip_serializing_if_is_none)]
    pub username: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub exp: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    pub iat: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    pub nbf: Option<i64>,
    #[oai(skip_serializing_if_is_none)]
    pub iss: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub aud: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub jti: Option<Uuid>,
    /// The session the token belongs to.
    #[oai(skip_serializing_if_is_none)]
    pub sid: Option<Uuid>,
    #[oai(skip_serializing_if_is_none)]
    pub roles: Option<Vec<String>>,
    /// How the user authenticated (RFC 8176): `pwd`, `otp`, `hwk`, `mfa`.
    #[oai(skip_serializing_if_is_none)]
    pub amr: Option<Vec<String>>,
    /// When the user authenticated (seconds since the epoch).
    #[oai(skip_serializing_if_is_none)]
    pub auth_time: Option<i64>,
    /// The OAuth client the token was issued to, when not Tessera's own API.
    #[oai(skip_serializing_if_is_none)]
    pub client_id: Option<String>,
    /// The scopes granted to that client, space-separated.
    #[oai(skip_serializing_if_is_none)]
    pub scope: Option<String>,
}

answers! {
    #[oai(bad_request_handler = "bad_request")]
    RevokeResponse {
        /// The token is revoked, or was not a valid token to begin with (RFC 7009 §2.2).
        #[oai(status = 200)]
        Ok,
    }
    problems {
        /// No `token` parameter (`invalid_request`).
        400 BadRequest,
        /// Too many revocations from this address (`rate_limited`).
        429 TooManyRequests,
        /// A store is down; nothing was revoked (`service_unavailable`).
        503 Unavailable,
    }
}

answers! {
    #[oai(bad_request_handler = "bad_request")]
    IntrospectResponse {
        /// What the token is, or `{"active": false}`.
        #[oai(status = 200)]
        Ok(
            Json<IntrospectionView>,
            #[oai(header = "Cache-Control")] String,
        ),
    }
    problems {
        /// No `token` parameter (`invalid_request`).
        400 BadRequest,
        /// The caller's own bearer token is missing or invalid (`invalid_token`).
        401 Unauthorized,
        /// The caller lacks the `admin` or `introspect` role (`insufficient_role`).
        403 Forbidden,
        down Unavailable,
    }
}

#[OpenApi(prefix_path = "/v1/oauth", tag = "ApiTags::OAuth")]
impl OAuthApi {
    /// Revoke a token
    ///
    /// RFC 7009. An access token is revoked by itself; a refresh token ends its whole
    /// session. Possession of the token is the authorisation (public clients have no
    /// client secret), so no bearer token is needed. Unknown tokens also get 200.
    #[oai(path = "/revoke", method = "post", operation_id = "revokeToken")]
    async fn revoke(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: TokenRequest,
    ) -> poem::Result<RevokeResponse> {
        let _admitted = admitted!(req, Revoke);
        match state
            .accounts
            .revoke_token(body.token(), &client_info(req))
            .await
        {
            Ok(()) => Ok(RevokeResponse::Ok),
            Err(e) => answer(e),
        }
    }

    /// Introspect a token
    ///
    /// RFC 7662. Callable by a bearer with the `admin` or `introspect` role (a resource
    /// server's service account): introspection tells whether a token was revoked,
    /// which offline JWKS verification cannot.
    #[oai(
        path = "/introspect",
        method = "post",
        operation_id = "introspectToken"
    )]
    async fn introspect(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        body: TokenRequest,
    ) -> poem::Result<IntrospectResponse> {
        if !(auth.0.has_role(Role::ADMIN) || auth.0.has_role(Role::INTROSPECT)) {
            return answer(insufficient_role("admin or introspect"));
        }
        let view = match state.accounts.introspect(body.token()).await {
            Ok(Introspection::Inactive) => IntrospectionView::default(),
            Ok(Introspection::Access(c)) => IntrospectionView {
                active: true,
                token_type: Some("access_token".into()),
                sub: Some(c.sub.0),
                username: (!c.username.is_empty()).then_some(c.username),
                exp: Some(c.exp),
                iat: Some(c.iat),
                nbf: Some(c.nbf),
                iss: Some(c.iss),
                aud: Some(c.aud.primary().to_owned()),
                jti: Some(c.jti),
                sid: Some(c.sid.0),
                roles: Some(c.roles),
                amr: Some(c.amr),
                auth_time: (c.auth_time != 0).then_some(c.auth_time),
                client_id: c.client_id,
                scope: c.scope,
            },
            Ok(Introspection::Refresh { session }) => IntrospectionView {
                active: true,
                token_type: Some("refresh_token".into()),
                sub: Some(session.user_id.0),
                exp: Some(session.idle_expires_at.timestamp()),
                iat: Some(session.last_used_at.timestamp()),
                sid: Some(session.id.0),
                amr: Some(session.amr.iter().map(|m| m.as_str().to_owned()).collect()),
                auth_time: Some(session.created_at.timestamp()),
                client_id: session.oauth.as_ref().map(|o| o.client.to_string()),
                scope: session.oauth.as_ref().map(|o| o.scopes.join()),
                ..Default::default()
            },
            Err(e) => return answer(e),
        };
        Ok(IntrospectResponse::Ok(Json(view), "no-store".into()))
    }
}
