//! `/v1/admin/users*`: accounts — list, disable, reset second factors, mark an address
//! verified.

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use tessera_domain::auth::{AccountError, FactorError};
use tessera_domain::user::{User, UserId};
use uuid::Uuid;

use super::{PageResponse, paging};
use crate::api::responses::{answer, answers, bad_request};
use crate::api::{AdminAuth, ApiTags};
use crate::edge::refusal::user_not_found;
use crate::edge::{AppState, client_info};

/// `/v1/admin/users*` operations.
pub struct AdminUsersApi;

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
        down Unavailable,
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
        down Unavailable,
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
        down Unavailable,
    }
}

#[OpenApi(prefix_path = "/v1/admin", tag = "ApiTags::Admin")]
impl AdminUsersApi {
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
            Err(AccountError::AccountGone) => answer(user_not_found()),
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
            Err(FactorError::AccountGone) => answer(user_not_found()),
            Err(e) => answer(e),
        }
    }
}
