//! The API's security schemes, all published as one `bearerAuth`: a verified access token
//! ([`BearerAuth`]), the same for logout, which forgives the token's own ended session
//! ([`LogoutBearerAuth`]), and the same with the `admin` role required ([`AdminAuth`]).

use poem::Request;
use poem_openapi::SecurityScheme;
use poem_openapi::auth::Bearer;
use tessera_domain::token::Claims;
use tessera_domain::user::Role;

use crate::edge::refusal::insufficient_role;
use crate::edge::{AppState, RETRY_AFTER_SECS};
use crate::problem::ApiError;

/// One more Rust type for the one `bearerAuth` scheme: the same name and description in
/// the spec (so the document shows a single scheme), its own checker.
macro_rules! bearer_scheme {
    ($name:ident, $checker:literal) => {
        /// A bearer access token (RS256 JWT, `typ: at+jwt`) from `POST /v1/auth/login`.
        #[derive(SecurityScheme)]
        #[oai(
                                                                            rename = "bearerAuth",
                                                                            ty = "bearer",
                                                                            bearer_format = "JWT",
                                                                            checker = $checker
                                                                        )]
        pub struct $name(pub Claims);
    };
}

bearer_scheme!(BearerAuth, "check_bearer");

async fn check_bearer(req: &Request, bearer: Bearer) -> poem::Result<Claims> {
    verified_bearer(req, &bearer.token, false).await
}

/// Verifies a bearer token against the revocation list (for logout, forgiving the
/// token's own ended session) and notes its user for the access log.
async fn verified_bearer(req: &Request, token: &str, for_logout: bool) -> poem::Result<Claims> {
    let state = req
        .data::<AppState>()
        .ok_or_else(|| ApiError::unavailable("not ready", RETRY_AFTER_SECS))?;
    let verified = if for_logout {
        state.accounts.authenticate_for_logout(token).await
    } else {
        state.accounts.authenticate(token).await
    };
    let claims = verified.map_err(ApiError::from)?;
    if !state
        .oidc
        .takes_for_account_api(&claims)
        .await
        .map_err(ApiError::from)?
    {
        return Err(ApiError::invalid_token(
            "invalid_token",
            "this token is not for Tessera's API: it takes a person's tokens of its own \
             sessions and of first-party applications, not a third-party application's \
             nor a client's own service token",
        )
        .into());
    }
    crate::observe::note_user(&claims.sub);
    Ok(claims)
}

// The same scheme for logout. It also accepts a token whose own
// session has already ended, so a logout that answered 503 halfway can be retried
// (`Accounts::authenticate_for_logout`).
bearer_scheme!(LogoutBearerAuth, "check_logout_bearer");

async fn check_logout_bearer(req: &Request, bearer: Bearer) -> poem::Result<Claims> {
    verified_bearer(req, &bearer.token, true).await
}

// The same scheme for administrators. The role check is part of the
// scheme: an operation that takes `AdminAuth` runs only for the `admin` role, and every
// other caller gets 403 `insufficient_role` through the operation's declared answer.
bearer_scheme!(AdminAuth, "check_admin_bearer");

async fn check_admin_bearer(req: &Request, bearer: Bearer) -> poem::Result<Claims> {
    let claims = verified_bearer(req, &bearer.token, false).await?;
    if !claims.has_role(Role::ADMIN) {
        return Err(insufficient_role("admin").into());
    }
    Ok(claims)
}
