//! The email lifecycle over HTTP: a change of address (`/v1/me/email`), redeeming a
//! verification link, and self-service password reset (`/v1/auth/verify-email`,
//! `/v1/auth/password-reset[/confirm]`). Every operation that queues mail wakes the
//! outbox's sender and answers at once; none waits on SMTP.

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use tessera_domain::email::Email;

use super::responses::{admitted, answer, answers, bad_request};
use super::text::Text;
use super::{ApiTags, BearerAuth};
use crate::edge::{AppState, client_info};

/// A new address for the signed-in user.
#[derive(Debug, Object)]
#[oai(example)]
pub struct EmailChange {
    /// At most 254 characters; internationalised domains are stored in their ASCII form.
    pub email: Text,
}

/// The token of a mailed link.
#[derive(Object)]
#[oai(example)]
pub struct EmailTokenRequest {
    /// The `token` parameter of the link: 43 base64url characters.
    pub token: Text,
}

/// The address to send a reset link to.
#[derive(Debug, Object)]
#[oai(example)]
pub struct PasswordResetRequest {
    pub email: Text,
}

/// A new password, with the token of a reset link.
#[derive(Object)]
#[oai(example)]
pub struct PasswordResetConfirm {
    /// The `token` parameter of the reset link.
    pub token: Text,
    /// Must satisfy the password rules of registration.
    pub new_password: Text,
}

debug_redacted!(EmailTokenRequest { ; token });
debug_redacted!(PasswordResetConfirm { ; token, new_password });

/// Mail was queued (or, for a reset, may have been: the answer never says).
#[derive(Debug, Object)]
#[oai(example)]
pub struct MailAccepted {
    pub detail: String,
}

answers! {
    #[oai(bad_request_handler = "bad_request")]
    EmailChangeResponse {
        /// The same answer, with the same body, whether or not the address is free: a
        /// verification link is on its way to it unless another account has verified it
        /// (that account's owner is told by mail instead). The current address stays until
        /// a link is redeemed.
        #[oai(status = 202)]
        Accepted(Json<MailAccepted>),
    }
    problems {
        /// The body is not valid JSON of the expected shape (`invalid_request`).
        400 BadRequest,
        /// Missing, invalid, expired or revoked access token, or the account is gone
        /// (`invalid_token`, `token_revoked`).
        401 Unauthorized,
        /// The sign-in is older than `security.reauthentication_window`
        /// (`reauthentication_required`): sign in again (with the second step, if the
        /// account has one), then retry.
        403 Forbidden,
        /// Not an email address (`invalid_email`).
        422 Unprocessable,
        /// Too many changes from this client or this account, or mails to this address,
        /// lately (`rate_limited`).
        429 TooManyRequests,
        /// A store is down; nothing was queued (`service_unavailable`).
        503 Unavailable,
    }
}

answers! {
    #[oai(bad_request_handler = "bad_request")]
    VerifyEmailResponse {
        /// The address is now the account's verified address.
        #[oai(status = 204)]
        Verified,
    }
    problems {
        /// The body is malformed (`invalid_request`), or the link is unknown, used, replaced
        /// or expired (`invalid_email_token`).
        400 BadRequest,
        /// Another account verified this address first (`email_taken`).
        409 Conflict,
        /// Too many attempts from this address (`rate_limited`).
        429 TooManyRequests,
        down Unavailable,
    }
}

answers! {
    #[oai(bad_request_handler = "bad_request")]
    ResetRequestResponse {
        /// The same answer whether or not the address belongs to an account: a reset link
        /// is mailed only when it is an account's verified address.
        #[oai(status = 202)]
        Accepted(Json<MailAccepted>),
    }
    problems {
        /// The body is not valid JSON of the expected shape (`invalid_request`).
        400 BadRequest,
        /// Not an email address (`invalid_email`).
        422 Unprocessable,
        /// Too many requests from this client, or for this address, known or not
        /// (`rate_limited`).
        429 TooManyRequests,
        /// A store is down; nothing was queued (`service_unavailable`).
        503 Unavailable,
    }
}

answers! {
    #[oai(bad_request_handler = "bad_request")]
    ResetConfirmResponse {
        /// The password is changed; every session of the account has ended and its lockout
        /// is cleared.
        #[oai(status = 204)]
        Done,
    }
    problems {
        /// The body is malformed (`invalid_request`), or the link is unknown, used, replaced
        /// or expired (`invalid_email_token`).
        400 BadRequest,
        /// The new password breaks a rule (`weak_password`); the link still works.
        422 Unprocessable,
        /// Too many attempts from this address (`rate_limited`).
        429 TooManyRequests,
        /// Password hashing is saturated or a store is down (`service_unavailable`).
        503 Unavailable,
    }
}

pub struct MailAccountApi;

#[OpenApi(prefix_path = "/v1", tag = "ApiTags::Account")]
impl MailAccountApi {
    /// Change email address
    ///
    /// Mails a verification link to the new address. The account keeps its current
    /// address until the link is redeemed (`POST /v1/auth/verify-email`); earlier links
    /// stop working. The answer is the same whether or not the address is free: for an
    /// address another account has verified no link goes out, and that account's owner
    /// is told by mail instead. Limited per client, per account and per address.
    #[oai(path = "/me/email", method = "post", operation_id = "changeEmail")]
    async fn change_email(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: BearerAuth,
        body: Json<EmailChange>,
    ) -> poem::Result<EmailChangeResponse> {
        let _admitted = admitted!(req, EmailChange);
        let email = match Email::parse(&body.email) {
            Ok(e) => e,
            Err(e) => return answer(e),
        };
        let result = state
            .emails
            .request_email_change(&auth.0, &email, &client_info(req))
            .await;
        state.mail.wake();
        match result {
            Ok(()) => Ok(EmailChangeResponse::Accepted(Json(MailAccepted {
                // The same words whether or not the address is free.
                detail: format!(
                    "Unless another account has verified {email}, a verification link is on its way to it; your current address stays until a link is redeemed."
                ),
            }))),
            Err(e) => answer(e),
        }
    }
}

pub struct MailAuthApi;

#[OpenApi(prefix_path = "/v1/auth", tag = "ApiTags::Auth")]
impl MailAuthApi {
    /// Verify email address
    ///
    /// Redeems the token of a verification link: its address becomes the account's
    /// verified address. A link works once, for 24 hours (configurable).
    #[oai(path = "/verify-email", method = "post", operation_id = "verifyEmail")]
    async fn verify_email(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<EmailTokenRequest>,
    ) -> poem::Result<VerifyEmailResponse> {
        let _admitted = admitted!(req, MailedLink);
        match state
            .emails
            .verify_email(&body.token, &client_info(req))
            .await
        {
            Ok(()) => Ok(VerifyEmailResponse::Verified),
            Err(e) => answer(e),
        }
    }

    /// Request a password reset
    ///
    /// Mails a reset link to the address if it is an account's verified address. The
    /// answer, its body and its timing are the same whether or not it is.
    #[oai(
        path = "/password-reset",
        method = "post",
        operation_id = "requestPasswordReset"
    )]
    async fn request_reset(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<PasswordResetRequest>,
    ) -> poem::Result<ResetRequestResponse> {
        let _admitted = admitted!(req, MailedLink);
        let email = match Email::parse(&body.email) {
            Ok(e) => e,
            Err(e) => return answer(e),
        };
        let result = state
            .emails
            .request_password_reset(&email, &client_info(req))
            .await;
        state.mail.wake();
        match result {
            Ok(()) => Ok(ResetRequestResponse::Accepted(Json(MailAccepted {
                detail: crate::edge::RESET_ACCEPTED.into(),
            }))),
            Err(e) => answer(e),
        }
    }

    /// Reset the password
    ///
    /// Sets a new password with the token of a reset link. Every session of the account
    /// ends (its refresh and access tokens stop working), and failed-login delays on the
    /// account are cleared. A link works once, for 30 minutes (configurable).
    #[oai(
        path = "/password-reset/confirm",
        method = "post",
        operation_id = "confirmPasswordReset"
    )]
    async fn confirm_reset(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<PasswordResetConfirm>,
    ) -> poem::Result<ResetConfirmResponse> {
        let _admitted = admitted!(req, ResetPassword);
        match state
            .emails
            .reset_password(
                &body.token,
                &body.new_password,
                &state.password_policy,
                &client_info(req),
            )
            .await
        {
            Ok(()) => Ok(ResetConfirmResponse::Done),
            Err(e) => answer(e),
        }
    }
}
