//! `/v1/me*` and `/v1/dashboard`: the signed-in user's account, password and sessions.

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use tessera_domain::auth::AccountError;
use tessera_domain::session::{Session, SessionId};
use tessera_domain::user::{Password, PasswordAttempt};
use uuid::Uuid;

use super::responses::{admitted, answer, answers, bad_request};
use super::text::Text;
use super::{ApiTags, BearerAuth, UserView};
use crate::edge::{AppState, client_info};
use crate::problem::Problem;

pub struct AccountApi;

/// The protected route of the tutorial.
#[derive(Debug, Object)]
#[oai(example)]
pub struct Dashboard {
    /// `Welcome <username>`.
    pub message: String,
    pub data: DashboardData,
}

/// What the access token says about its bearer.
#[derive(Debug, Object)]
#[oai(example)]
pub struct DashboardData {
    pub user_id: Uuid,
    pub username: String,
    pub roles: Vec<String>,
    pub session_id: Uuid,
    pub token_expires_at: DateTime<Utc>,
}

/// A password change.
#[derive(Object)]
#[oai(example)]
pub struct PasswordChange {
    pub current_password: Text,
    /// Must satisfy the password rules of registration.
    pub new_password: Text,
}

debug_redacted!(PasswordChange { ; current_password, new_password });

/// A signed-in session (a device or browser).
#[derive(Debug, Object)]
#[oai(rename = "Session", example)]
pub struct SessionView {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    /// When the session lapses unless refreshed before.
    pub expires_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub user_agent: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub ip: Option<String>,
    /// Whether this is the session of the token making the request.
    pub current: bool,
}

impl SessionView {
    fn new(s: Session, current: SessionId) -> Self {
        Self {
            id: s.id.0,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.idle_expires_at,
            user_agent: s.client.user_agent,
            ip: s.client.ip,
            current: s.id == current,
        }
    }
}

answers! {
    MeResponse {
        /// The caller's account.
        #[oai(status = 200)]
        Ok(Json<UserView>),
    }
    problems {
        /// Missing, invalid, expired or revoked access token, or the account is gone
        /// (`invalid_token`, `token_revoked`).
        401 Unauthorized,
        down Unavailable,
    }
}

#[derive(ApiResponse)]
pub enum DashboardResponse {
    /// Welcome.
    #[oai(status = 200)]
    Ok(Json<Dashboard>),
    /// Missing, invalid, expired or revoked access token (`invalid_token`,
    /// `token_revoked`).
    #[oai(status = 401, content_type = "application/problem+json")]
    Unauthorized(Json<Problem>, #[oai(header = "WWW-Authenticate")] String),
    /// Revocation state cannot be checked (`service_unavailable`).
    #[oai(status = 503, content_type = "application/problem+json")]
    Unavailable(Json<Problem>, #[oai(header = "Retry-After")] u64),
}

answers! {
    #[oai(bad_request_handler = "bad_request")]
    PasswordResponse {
        /// Changed; every other session has ended.
        #[oai(status = 204)]
        Done,
    }
    problems {
        /// The body is not valid JSON of the expected shape (`invalid_request`).
        400 BadRequest,
        bearer Unauthorized,
        /// `current_password` is wrong (`invalid_credentials`).
        403 Forbidden,
        /// The new password breaks a rule (`weak_password`).
        422 Unprocessable,
        /// A current-password check is a login attempt: too many from this address, or too
        /// many wrong passwords for this account (`rate_limited`).
        429 TooManyRequests,
        /// Password hashing is saturated or a store is down (`service_unavailable`).
        503 Unavailable,
    }
}

answers! {
    SessionsResponse {
        /// The caller's live sessions, newest first.
        #[oai(status = 200)]
        Ok(Json<Vec<SessionView>>),
    }
    problems {
        bearer Unauthorized,
        down Unavailable,
    }
}

answers! {
    #[oai(bad_request_handler = "bad_request")]
    EndSessionResponse {
        /// The session has ended: its refresh token and access tokens stop working.
        #[oai(status = 204)]
        Done,
    }
    problems {
        /// The id is not a UUID (`invalid_request`).
        400 BadRequest,
        bearer Unauthorized,
        /// No live session of the caller has this id (`session_not_found`).
        404 NotFound,
        down Unavailable,
    }
}

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Account")]
impl AccountApi {
    /// Current user
    ///
    /// The account the access token belongs to.
    #[oai(path = "/me", method = "get", operation_id = "getMe")]
    async fn me(&self, state: Data<&AppState>, auth: BearerAuth) -> poem::Result<MeResponse> {
        match state.accounts.me(&auth.0).await {
            Ok(user) => Ok(MeResponse::Ok(Json(user.into()))),
            Err(e) => answer(e),
        }
    }

    /// Dashboard
    ///
    /// The tutorial's protected route: answers `Welcome <username>` to any valid access
    /// token, from the token alone (no store access).
    #[oai(path = "/dashboard", method = "get", operation_id = "getDashboard")]
    async fn dashboard(&self, auth: BearerAuth) -> DashboardResponse {
        let c = auth.0;
        DashboardResponse::Ok(Json(Dashboard {
            message: format!("Welcome {}", c.username),
            data: DashboardData {
                user_id: c.sub.0,
                session_id: c.sid.0,
                token_expires_at: c.expires_at(),
                username: c.username,
                roles: c.roles,
            },
        }))
    }

    /// Change password
    ///
    /// Requires the current password. Every other session of the user ends; the
    /// caller's session stays signed in.
    #[oai(
        path = "/me/password",
        method = "post",
        operation_id = "changePassword"
    )]
    async fn change_password(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: BearerAuth,
        body: Json<PasswordChange>,
    ) -> poem::Result<PasswordResponse> {
        let _admitted = admitted!(req, PasswordCheck);
        let Some(current) = PasswordAttempt::new(&body.current_password) else {
            return answer(AccountError::WrongPassword);
        };
        let user = match state.accounts.me(&auth.0).await {
            Ok(u) => u,
            Err(e) => return answer(e),
        };
        let new = match Password::parse(&body.new_password, &user.username, &state.password_policy)
        {
            Ok(p) => p,
            Err(e) => return answer(e),
        };
        match state
            .accounts
            .change_password(&auth.0, &current, &new, &client_info(req))
            .await
        {
            Ok(()) => Ok(PasswordResponse::Done),
            Err(e) => answer(e),
        }
    }

    /// List sessions
    ///
    /// The caller's live sessions (devices and browsers signed in).
    #[oai(path = "/me/sessions", method = "get", operation_id = "listSessions")]
    async fn sessions(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> poem::Result<SessionsResponse> {
        match state.accounts.sessions(&auth.0).await {
            Ok(list) => Ok(SessionsResponse::Ok(Json(
                list.into_iter()
                    .map(|s| SessionView::new(s, auth.0.sid))
                    .collect(),
            ))),
            Err(e) => answer(e),
        }
    }

    /// End a session
    ///
    /// Signs one of the caller's sessions out: its refresh token and access tokens stop
    /// working now.
    #[oai(
        path = "/me/sessions/:id",
        method = "delete",
        operation_id = "deleteSession"
    )]
    async fn end_session(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: BearerAuth,
        /// The session's id.
        id: Path<Uuid>,
    ) -> poem::Result<EndSessionResponse> {
        match state
            .accounts
            .end_own_session(&auth.0, SessionId(id.0), &client_info(req))
            .await
        {
            Ok(()) => Ok(EndSessionResponse::Done),
            Err(e) => answer(e),
        }
    }
}
