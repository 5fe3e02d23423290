//! `/v1/admin/*`: signing keys and users, for bearers with the `admin` role.

use chrono::{DateTime, Utc};
use poem::Request;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use tessera_domain::auth::{AccountError, FactorError};
use tessera_domain::keys::{KeyState, SigningKeyRecord};
use tessera_domain::oidc::{GrantType, NewClient, OAuthClient};
use tessera_domain::user::{User, UserId};
use tessera_keys::KeyError;
use uuid::Uuid;

use super::responses::{answer, answers, bad_request};
use super::{AdminAuth, ApiTags};
use crate::edge::refusal::internal;
use crate::edge::{AppState, client_info};
use crate::problem::ApiError;

pub struct AdminApi;

/// A signing key's lifecycle state.
#[derive(Debug, Enum)]
#[oai(rename = "KeyState", rename_all = "lowercase")]
pub enum KeyStateView {
    /// Published in the JWKS, not signing yet.
    Pending,
    /// The key that signs new tokens.
    Active,
    /// Published, verifies tokens it signed, no longer signs.
    Retiring,
    /// Unpublished; its private part is destroyed.
    Retired,
}

/// A signing key (public information only).
#[derive(Debug, Object)]
#[oai(rename = "SigningKey", example)]
pub struct KeyView {
    pub kid: String,
    pub state: KeyStateView,
    pub created_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub activated_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub retiring_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub retired_at: Option<DateTime<Utc>>,
}

impl From<&SigningKeyRecord> for KeyView {
    fn from(r: &SigningKeyRecord) -> Self {
        Self {
            kid: r.kid.clone(),
            state: match r.state {
                KeyState::Pending => KeyStateView::Pending,
                KeyState::Active => KeyStateView::Active,
                KeyState::Retiring => KeyStateView::Retiring,
                KeyState::Retired => KeyStateView::Retired,
            },
            created_at: r.created_at,
            activated_at: r.activated_at,
            retiring_at: r.retiring_at,
            retired_at: r.retired_at,
        }
    }
}

/// An account as administrators see it.
#[derive(Debug, Object)]
#[oai(rename = "AdminUser", example)]
pub struct AdminUserView {
    pub id: Uuid,
    pub username: String,
    pub roles: Vec<String>,
    pub created_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub disabled_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub email: Option<String>,
    pub email_verified: bool,
}

impl From<User> for AdminUserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id.0,
            username: u.username.as_str().to_owned(),
            roles: u.roles.iter().map(|r| r.as_str().to_owned()).collect(),
            created_at: u.created_at,
            disabled_at: u.disabled_at,
            email: u.email.map(|e| e.as_str().to_owned()),
            email_verified: u.email_verified,
        }
    }
}

/// One page of users.
#[derive(Debug, Object)]
#[oai(example)]
pub struct UserPage {
    pub items: Vec<AdminUserView>,
    /// 1-based.
    pub page: u64,
    pub per_page: u64,
    pub total: u64,
}

answers! {
    /// The answer of `listKeys`.
    ListResponse<T> {
        /// The listing.
        #[oai(status = 200)]
        Ok(Json<T>),
    }
    problems {
        bearer Unauthorized,
        admin Forbidden,
        /// A store is down (`service_unavailable`).
        503 Unavailable,
    }
}

answers! {
    /// The answer of a paged listing (users, audit events).
    #[oai(bad_request_handler = "bad_request")]
    PageResponse<T> {
        /// One page.
        #[oai(status = 200)]
        Ok(Json<T>),
    }
    problems {
        bearer Unauthorized,
        admin Forbidden,
        /// A query parameter does not parse (`invalid_request`).
        400 BadRequest,
        /// A store is down (`service_unavailable`).
        503 Unavailable,
    }
}

answers! {
    /// The answer of `rotateKeys`.
    #[oai(bad_request_handler = "bad_request")]
    RotateResponse {
        /// The keys after the rotation.
        #[oai(status = 200)]
        Ok(Json<Vec<KeyView>>),
    }
    problems {
        bearer Unauthorized,
        admin Forbidden,
        /// `immediate` is not a boolean (`invalid_request`).
        400 BadRequest,
        /// Keys come from files and are rotated by the operator
        /// (`keys_externally_managed`).
        409 Conflict,
        /// A store is down (`service_unavailable`).
        503 Unavailable,
    }
}

answers! {
    /// The answer of `revokeKey`.
    RevokeKeyResponse {
        /// Revoked: the key left the JWKS and its tokens are refused.
        #[oai(status = 204)]
        Revoked,
    }
    problems {
        bearer Unauthorized,
        admin Forbidden,
        /// No published key has this `kid` (`key_not_found`).
        404 NotFound,
        /// Keys come from files and are revoked by the operator
        /// (`keys_externally_managed`).
        409 Conflict,
        /// A store is down (`service_unavailable`).
        503 Unavailable,
    }
}

answers! {
    /// The answer of `disableUser`.
    #[oai(bad_request_handler = "bad_request")]
    DisableUserResponse {
        /// Disabled: the account's tokens stopped working.
        #[oai(status = 204)]
        Disabled,
    }
    problems {
        bearer Unauthorized,
        admin Forbidden,
        /// The id is not a UUID (`invalid_request`).
        400 BadRequest,
        /// No user has this id (`user_not_found`).
        404 NotFound,
        /// A store is down (`service_unavailable`).
        503 Unavailable,
    }
}

answers! {
    /// The answer of `resetUserMfa`.
    #[oai(bad_request_handler = "bad_request")]
    ResetMfaResponse {
        /// Every second factor of the user is gone.
        #[oai(status = 204)]
        Reset,
    }
    problems {
        bearer Unauthorized,
        admin Forbidden,
        /// The id is not a UUID (`invalid_request`).
        400 BadRequest,
        /// No user has this id (`user_not_found`).
        404 NotFound,
        /// A store is down (`service_unavailable`).
        503 Unavailable,
    }
}

answers! {
    /// The answer of `verifyUserEmail`.
    #[oai(bad_request_handler = "bad_request")]
    VerifyUserEmailResponse {
        /// The account, its address now verified.
        #[oai(status = 200)]
        Ok(Json<AdminUserView>),
    }
    problems {
        bearer Unauthorized,
        admin Forbidden,
        /// The id is not a UUID (`invalid_request`).
        400 BadRequest,
        /// No user has this id (`user_not_found`).
        404 NotFound,
        /// The user has no address (`no_email`), or another account has verified it
        /// (`email_taken`).
        409 Conflict,
        /// A store is down (`service_unavailable`).
        503 Unavailable,
    }
}

answers! {
    /// The answer of `createClient`.
    #[oai(bad_request_handler = "bad_request")]
    CreateClientResponse {
        /// Registered. A confidential client's `client_secret` is in this answer only.
        #[oai(status = 201)]
        Created(Json<RegisteredClient>),
    }
    problems {
        bearer Unauthorized,
        admin Forbidden,
        /// The body is not the expected JSON (`invalid_request`).
        400 BadRequest,
        /// The description breaks a rule (`invalid_client_metadata`).
        422 Invalid,
        /// A store is down (`service_unavailable`).
        503 Unavailable,
    }
}

answers! {
    /// The answer of `deleteClient`.
    #[oai(bad_request_handler = "bad_request")]
    DeleteClientResponse {
        /// Deleted, with its codes and consents.
        #[oai(status = 204)]
        Deleted,
    }
    problems {
        bearer Unauthorized,
        admin Forbidden,
        /// The id is not a UUID (`invalid_request`).
        400 BadRequest,
        /// No client has this id (`client_not_found`).
        404 NotFound,
        /// A store is down (`service_unavailable`).
        503 Unavailable,
    }
}

/// An OAuth 2.0 grant type a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "GrantType", rename_all = "snake_case")]
pub enum GrantTypeView {
    /// Sign users in (with PKCE S256).
    AuthorizationCode,
    /// Refresh the tokens of a signed-in user.
    RefreshToken,
    /// Service tokens for the client itself (confidential clients only).
    ClientCredentials,
}

impl From<GrantTypeView> for GrantType {
    fn from(g: GrantTypeView) -> Self {
        match g {
            GrantTypeView::AuthorizationCode => Self::AuthorizationCode,
            GrantTypeView::RefreshToken => Self::RefreshToken,
            GrantTypeView::ClientCredentials => Self::ClientCredentials,
        }
    }
}

impl From<GrantType> for GrantTypeView {
    fn from(g: GrantType) -> Self {
        match g {
            GrantType::AuthorizationCode => Self::AuthorizationCode,
            GrantType::RefreshToken => Self::RefreshToken,
            GrantType::ClientCredentials => Self::ClientCredentials,
        }
    }
}

fn default_grants() -> Vec<GrantTypeView> {
    vec![
        GrantTypeView::AuthorizationCode,
        GrantTypeView::RefreshToken,
    ]
}

fn default_scopes() -> String {
    "openid profile email".into()
}

/// An app or service to register as an OAuth client.
#[derive(Debug, Object)]
#[oai(rename = "NewClient", example)]
pub struct NewClientBody {
    /// Shown to people on the consent page.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: String,
    /// Exact redirect URIs (https, or http on a loopback host; no fragment).
    #[oai(default, validator(max_items = 20))]
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser afterwards.
    #[oai(default, validator(max_items = 20))]
    pub post_logout_redirect_uris: Vec<String>,
    /// Default: `authorization_code` and `refresh_token`.
    #[oai(default = "default_grants")]
    pub grant_types: Vec<GrantTypeView>,
    /// Space-separated, among `openid profile email` (the default).
    #[oai(default = "default_scopes", validator(max_length = 64))]
    pub scopes: String,
    /// A public client (a browser or native app) has no secret and must use PKCE.
    #[oai(default)]
    pub public: bool,
    /// One of your own apps: its users are not asked for consent.
    #[oai(default)]
    pub first_party: bool,
}

/// A registered OAuth client (never its secret).
#[derive(Debug, Object)]
#[oai(rename = "Client", example)]
pub struct ClientView {
    pub client_id: Uuid,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantTypeView>,
    /// Space-separated.
    pub scopes: String,
    pub public: bool,
    pub first_party: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&OAuthClient> for ClientView {
    fn from(c: &OAuthClient) -> Self {
        Self {
            client_id: c.id.0,
            name: c.name.clone(),
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            grant_types: c.grant_types.iter().map(|g| (*g).into()).collect(),
            scopes: c.scopes.join(),
            public: c.is_public(),
            first_party: c.first_party,
            created_at: c.created_at,
        }
    }
}

/// A client just registered: its secret, if confidential, is shown this once.
#[derive(Debug, Object)]
#[oai(rename = "RegisteredClient", example)]
pub struct RegisteredClient {
    #[oai(flatten)]
    pub client: ClientView,
    /// The confidential client's secret (43 characters). Stored only as a digest.
    #[oai(skip_serializing_if_is_none)]
    pub client_secret: Option<String>,
}

impl poem_openapi::types::Example for NewClientBody {
    fn example() -> Self {
        Self {
            name: "Billing dashboard".into(),
            redirect_uris: vec!["https://billing.example.com/callback".into()],
            post_logout_redirect_uris: vec!["https://billing.example.com/".into()],
            grant_types: default_grants(),
            scopes: default_scopes(),
            public: false,
            first_party: false,
        }
    }
}

impl poem_openapi::types::Example for ClientView {
    fn example() -> Self {
        Self {
            client_id: Uuid::nil(),
            name: "Billing dashboard".into(),
            redirect_uris: vec!["https://billing.example.com/callback".into()],
            post_logout_redirect_uris: vec!["https://billing.example.com/".into()],
            grant_types: default_grants(),
            scopes: default_scopes(),
            public: false,
            first_party: false,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }
}

impl poem_openapi::types::Example for RegisteredClient {
    fn example() -> Self {
        Self {
            client: ClientView::example(),
            client_secret: Some("kq3mF0s7Jv9Xz1cR5tY8uW2eA4dG6hL0nP3bV5xZ7cQ".into()),
        }
    }
}

/// Turns an API description into the domain's, checked there.
fn new_client(body: NewClientBody) -> NewClient {
    NewClient {
        name: body.name,
        redirect_uris: body.redirect_uris,
        post_logout_redirect_uris: body.post_logout_redirect_uris,
        grant_types: body.grant_types.into_iter().map(Into::into).collect(),
        scopes: body.scopes,
        public: body.public,
        first_party: body.first_party,
    }
}

fn keys_view(state: &AppState) -> Vec<KeyView> {
    state
        .keys_admin
        .records()
        .iter()
        .map(KeyView::from)
        .collect()
}

/// `page` and `per_page` with their defaults (both bounded by their validators), and the
/// offset they give.
fn paging(page: Option<u64>, per_page: Option<u64>) -> (u64, u64, u64) {
    let page = page.unwrap_or(1).max(1);
    let per_page = per_page.unwrap_or(50).clamp(1, 200);
    // The validators bound both, so the offset cannot overflow a signed 64-bit bind.
    (page, per_page, (page - 1).saturating_mul(per_page))
}

#[OpenApi(prefix_path = "/v1/admin", tag = "ApiTags::Admin")]
impl AdminApi {
    /// List signing keys
    ///
    /// Every key with its lifecycle state, retired ones included. Never shows private
    /// parts.
    #[oai(path = "/keys", method = "get", operation_id = "listKeys")]
    async fn list_keys(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
    ) -> poem::Result<ListResponse<Vec<KeyView>>> {
        Ok(ListResponse::Ok(Json(keys_view(&state))))
    }

    /// Rotate signing keys
    ///
    /// Generates a new key and publishes it at once. It starts signing after
    /// `keys.prepublish` (so cached JWKS catch up) — or immediately with
    /// `immediate=true`, for emergencies. Answers the keys after the change.
    #[oai(path = "/keys/rotate", method = "post", operation_id = "rotateKeys")]
    async fn rotate(
        &self,
        state: Data<&AppState>,
        req: &Request,
        _auth: AdminAuth,
        /// Sign with the new key at once instead of after the pre-publication window.
        immediate: Query<Option<bool>>,
    ) -> poem::Result<RotateResponse> {
        let immediate = immediate.0.unwrap_or(false);
        match state.keys_admin.rotate(immediate, &client_info(req)).await {
            Ok(_) => Ok(RotateResponse::Ok(Json(keys_view(&state)))),
            // Rotation names no key; a NotFound here is a bug, not the caller's error.
            Err(e @ KeyError::NotFound) => Err(internal(&e).into()),
            Err(e) => answer(e),
        }
    }

    /// Revoke a signing key
    ///
    /// For a compromised key: it leaves the JWKS, its private part is destroyed and the
    /// tokens it signed are refused. Revoking the active key promotes a new one first.
    #[oai(
        path = "/keys/:kid/revoke",
        method = "post",
        operation_id = "revokeKey"
    )]
    async fn revoke_key(
        &self,
        state: Data<&AppState>,
        req: &Request,
        _auth: AdminAuth,
        /// The key's `kid`.
        kid: Path<String>,
    ) -> poem::Result<RevokeKeyResponse> {
        match state.keys_admin.revoke(&kid.0, &client_info(req)).await {
            Ok(_) => Ok(RevokeKeyResponse::Revoked),
            Err(e) => answer(e),
        }
    }

    /// List users
    ///
    /// Accounts in order of creation, one page at a time.
    #[oai(path = "/users", method = "get", operation_id = "listUsers")]
    async fn list_users(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// 1-based page number, at most 1,000,000 (default 1).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<u64>>,
        /// Users per page, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        per_page: Query<Option<u64>>,
    ) -> poem::Result<PageResponse<UserPage>> {
        let (page, per_page, offset) = paging(page.0, per_page.0);
        match state.accounts.list_users(offset, per_page).await {
            Ok((users, total)) => Ok(PageResponse::Ok(Json(UserPage {
                items: users.into_iter().map(AdminUserView::from).collect(),
                page,
                per_page,
                total,
            }))),
            Err(e) => answer(e),
        }
    }

    /// Audit log
    ///
    /// Security events, newest first, optionally for one user and/or one event name.
    #[oai(path = "/audit", method = "get", operation_id = "listAuditEvents")]
    async fn audit(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// Only this user's events.
        user: Query<Option<Uuid>>,
        /// Only events of this name.
        event: Query<Option<String>>,
        /// 1-based page number, at most 1,000,000 (default 1).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<u64>>,
        /// Events per page, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        per_page: Query<Option<u64>>,
    ) -> poem::Result<PageResponse<AuditPage>> {
        let (page, per_page, offset) = paging(page.0, per_page.0);
        let listed = state
            .accounts
            .audit_events(user.0.map(UserId), event.0.as_deref(), offset, per_page)
            .await;
        match listed {
            Ok((records, total)) => Ok(PageResponse::Ok(Json(AuditPage {
                items: records
                    .into_iter()
                    .map(|r| AuditEntry {
                        at: r.at,
                        event: r.event,
                        user_id: r.user.map(|u| u.0),
                        ip: r.client.ip,
                        user_agent: r.client.user_agent,
                        detail: serde_json::from_str(&r.detail).unwrap_or_default(),
                    })
                    .collect(),
                page,
                per_page,
                total,
            }))),
            Err(e) => answer(e),
        }
    }

    /// Mark a user's email verified
    ///
    /// For addresses an administrator has checked another way: the user's current
    /// address becomes verified without a link.
    #[oai(
        path = "/users/:id/verify-email",
        method = "post",
        operation_id = "verifyUserEmail"
    )]
    async fn verify_user_email(
        &self,
        state: Data<&AppState>,
        req: &Request,
        _auth: AdminAuth,
        /// The user's id.
        id: Path<Uuid>,
    ) -> poem::Result<VerifyUserEmailResponse> {
        match state
            .emails
            .mark_email_verified(UserId(id.0), None, &client_info(req))
            .await
        {
            Ok(user) => Ok(VerifyUserEmailResponse::Ok(Json(user.into()))),
            Err(e) => answer(e),
        }
    }

    /// Disable a user
    ///
    /// The account can no longer log in or refresh, and every token it holds stops
    /// working at once.
    #[oai(
        path = "/users/:id/disable",
        method = "post",
        operation_id = "disableUser"
    )]
    async fn disable_user(
        &self,
        state: Data<&AppState>,
        req: &Request,
        _auth: AdminAuth,
        /// The user's id.
        id: Path<Uuid>,
    ) -> poem::Result<DisableUserResponse> {
        match state
            .accounts
            .disable_user(UserId(id.0), &client_info(req))
            .await
        {
            Ok(()) => Ok(DisableUserResponse::Disabled),
            Err(AccountError::AccountGone) => answer(ApiError::new(
                StatusCode::NOT_FOUND,
                "user_not_found",
                "no user has this id",
            )),
            Err(e) => answer(e),
        }
    }

    /// Register an OAuth client
    ///
    /// An app that signs its users in through Tessera (authorization code + PKCE), or a
    /// service that gets tokens of its own (`client_credentials`). A confidential
    /// client's secret is in this answer only. Audited as `client_created`.
    #[oai(path = "/clients", method = "post", operation_id = "createClient")]
    async fn create_client(
        &self,
        state: Data<&AppState>,
        req: &Request,
        _auth: AdminAuth,
        body: Json<NewClientBody>,
    ) -> poem::Result<CreateClientResponse> {
        match state
            .oidc
            .create_client(new_client(body.0), &client_info(req))
            .await
        {
            Ok((client, secret)) => Ok(CreateClientResponse::Created(Json(RegisteredClient {
                client: ClientView::from(&client),
                client_secret: secret.map(|s| s.expose().to_owned()),
            }))),
            Err(e) => answer(e),
        }
    }

    /// List OAuth clients
    ///
    /// Every registered client, oldest first (never a secret).
    #[oai(path = "/clients", method = "get", operation_id = "listClients")]
    async fn list_clients(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
    ) -> poem::Result<ListResponse<Vec<ClientView>>> {
        match state.oidc.clients().await {
            Ok(clients) => Ok(ListResponse::Ok(Json(
                clients.iter().map(ClientView::from).collect(),
            ))),
            Err(e) => answer(e),
        }
    }

    /// Delete an OAuth client
    ///
    /// The client can no longer sign anyone in or refresh; its codes and the consents
    /// given to it go too. Access tokens it holds expire on their own. Audited as
    /// `client_deleted`.
    #[oai(
        path = "/clients/:client_id",
        method = "delete",
        operation_id = "deleteClient"
    )]
    async fn delete_client(
        &self,
        state: Data<&AppState>,
        req: &Request,
        _auth: AdminAuth,
        /// The client's id.
        client_id: Path<Uuid>,
    ) -> poem::Result<DeleteClientResponse> {
        match state
            .oidc
            .delete_client(&client_id.0.to_string(), &client_info(req))
            .await
        {
            Ok(()) => Ok(DeleteClientResponse::Deleted),
            Err(e) => answer(e),
        }
    }

    /// Reset a user's second factors
    ///
    /// Removes the user's authenticator app, recovery codes and passkeys (a lost phone
    /// and lost codes), so a password alone logs in again. Sessions stay. Audited as
    /// `factors_reset`.
    #[oai(
        path = "/users/:id/mfa/reset",
        method = "post",
        operation_id = "resetUserMfa"
    )]
    async fn reset_user_mfa(
        &self,
        state: Data<&AppState>,
        req: &Request,
        _auth: AdminAuth,
        /// The user's id.
        id: Path<Uuid>,
    ) -> poem::Result<ResetMfaResponse> {
        match state
            .factors
            .reset_factors(UserId(id.0), &client_info(req))
            .await
        {
            Ok(()) => Ok(ResetMfaResponse::Reset),
            Err(FactorError::AccountGone) => answer(ApiError::new(
                StatusCode::NOT_FOUND,
                "user_not_found",
                "no user has this id",
            )),
            Err(e) => answer(e),
        }
    }
}

/// A recorded security event.
#[derive(Debug, Object)]
#[oai(example)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// `login_succeeded`, `login_failed`, `lockout`, `refresh_reuse`, `logout`,
    /// `logout_all`, `session_revoked`, `password_changed`, `token_revoked`,
    /// `registered`, `user_disabled`, `key_rotated`, `key_revoked`, `email_verified`,
    /// `email_change_requested`, `password_reset_requested`, `password_reset`,
    /// `totp_enabled`, `totp_disabled`, `recovery_codes_regenerated`,
    /// `recovery_code_used`, `second_factor_failed`, `reauthentication_failed`,
    /// `passkey_added`, `passkey_removed`, `factors_reset`, `client_created`,
    /// `client_deleted`, `consent_granted`, `consent_revoked`, `code_exchanged`,
    /// `code_reused`.
    pub event: String,
    #[oai(skip_serializing_if_is_none)]
    pub user_id: Option<Uuid>,
    #[oai(skip_serializing_if_is_none)]
    pub ip: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub user_agent: Option<String>,
    /// Event particulars (never a password or a token).
    pub detail: serde_json::Value,
}

/// One page of audit events, newest first.
#[derive(Debug, Object)]
#[oai(example)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    pub page: u64,
    pub per_page: u64,
    pub total: u64,
}
