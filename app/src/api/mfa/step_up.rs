//! The step-up (`/v1/auth/reauthenticate*`): a signed-in caller proves it is them again
//! with one of the account's own factors, and the session's sign-in becomes recent for
//! the changes that ask for one (a second factor, recovery codes, the email address).

use poem::Request;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use tessera_domain::auth::{FactorError, Reauthentication, SteppedUp};
use tessera_domain::user::PasswordAttempt;

use super::{EXAMPLE_TOKEN, WebauthnOptions};
use crate::api::responses::{NO_STORE, admitted, answer, answers, bad_request};
use crate::api::text::Text;
use crate::api::{ApiTags, BearerAuth};
use crate::edge::{AppState, client_info};
use crate::problem::ApiError;

/// Proving it is you again (`/v1/auth/reauthenticate*`).
pub struct StepUpApi;

/// One proof that the caller is the account's owner: exactly one of `password`, `code`,
/// `recovery_code`, or `webauthn` together with the `challenge_id` of
/// `POST /v1/auth/reauthenticate/options`.
#[derive(Object)]
#[oai(example)]
pub struct StepUp {
    /// The account's password.
    pub password: Option<Text>,
    /// A 6-digit code from the authenticator app.
    pub code: Option<Text>,
    /// One of the recovery codes (it is used up); case, spaces and hyphens do not matter.
    pub recovery_code: Option<Text>,
    /// The ceremony `POST /v1/auth/reauthenticate/options` opened, with `webauthn`.
    pub challenge_id: Option<Text>,
    /// A passkey assertion (`PublicKeyCredential.toJSON()`) answering that ceremony.
    pub webauthn: Option<serde_json::Value>,
}

impl poem_openapi::types::Example for StepUp {
    fn example() -> Self {
        Self {
            password: Some("correct horse battery staple".into()),
            code: None,
            recovery_code: None,
            challenge_id: None,
            webauthn: None,
        }
    }
}

debug_redacted!(StepUp { ; password, code, recovery_code, challenge_id, webauthn });

impl StepUp {
    fn proof(self) -> Result<Reauthentication, Box<ApiError>> {
        match (
            self.password,
            self.code,
            self.recovery_code,
            self.challenge_id,
            self.webauthn,
        ) {
            (Some(password), None, None, None, None) => PasswordAttempt::new(&password)
                .map(Reauthentication::Password)
                .ok_or_else(|| Box::new(FactorError::WrongPassword.into())),
            (None, Some(code), None, None, None) => Ok(Reauthentication::Code(code.0)),
            (None, None, Some(code), None, None) => Ok(Reauthentication::RecoveryCode(code.0)),
            (None, None, None, Some(challenge), Some(credential)) => {
                Ok(Reauthentication::Passkey {
                    challenge: challenge.0,
                    credential,
                })
            }
            _ => Err(Box::new(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "give exactly one proof: password, code, recovery_code, or webauthn with \
                 its challenge_id",
            ))),
        }
    }
}

/// A passkey ceremony for a step-up: its id (send it back with the assertion) and the
/// WebAuthn request options.
#[derive(Debug, Object)]
#[oai(example)]
pub struct StepUpOptions {
    /// Single use; the ceremony lasts 5 minutes.
    pub challenge_id: String,
    #[oai(rename = "publicKey")]
    pub public_key: serde_json::Value,
}

impl poem_openapi::types::Example for StepUpOptions {
    fn example() -> Self {
        Self {
            challenge_id: EXAMPLE_TOKEN.into(),
            public_key: <WebauthnOptions as poem_openapi::types::Example>::example().public_key,
        }
    }
}

/// The session's sign-in, now recent: a new access token of the same session carrying
/// it. The session's refresh token keeps working and mints tokens that carry it too.
#[derive(Debug, Object)]
#[oai(rename = "SteppedUp", example)]
pub struct SteppedUpView {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The new sign-in time (the token's `auth_time`), in UNIX seconds.
    pub auth_time: i64,
    /// How the caller proved it (RFC 8176 `amr`), as the token says.
    pub amr: Vec<String>,
}

impl From<SteppedUp> for SteppedUpView {
    fn from(s: SteppedUp) -> Self {
        Self {
            access_token: s.access_token,
            token_type: "Bearer".into(),
            expires_in: s.expires_in,
            auth_time: s.auth_time.timestamp(),
            amr: s.amr.iter().map(|m| m.as_str().to_owned()).collect(),
        }
    }
}

impl poem_openapi::types::Example for SteppedUpView {
    fn example() -> Self {
        Self {
            access_token: crate::api::examples::ACCESS_TOKEN.into(),
            token_type: "Bearer".into(),
            expires_in: 900,
            auth_time: 1_767_225_600,
            amr: vec!["pwd".into()],
        }
    }
}

answers! {
    #[oai(bad_request_handler = "bad_request")]
    StepUpResponse {
        /// The session's sign-in is recent now: a new access token carrying it. Never
        /// cache it.
        #[oai(status = 200)]
        Ok(Json<SteppedUpView>, #[oai(header = "Cache-Control")] String),
    }
    problems {
        /// Malformed body or not exactly one proof (`invalid_request`); a wrong code or
        /// recovery code (`invalid_code`); a passkey assertion that does not verify or
        /// answers no ceremony of the caller's (`invalid_credential`).
        400 BadRequest,
        bearer Unauthorized,
        /// The password is wrong (`invalid_credentials`).
        403 Forbidden,
        /// Too many wrong proofs for this account (`rate_limited`): the same budget as a
        /// login's.
        429 TooManyRequests,
        busy Unavailable,
    }
}

answers! {
    StepUpOptionsResponse {
        /// A new ceremony: pass `publicKey` to `navigator.credentials.get()`.
        #[oai(status = 200)]
        Ok(Json<StepUpOptions>, #[oai(header = "Cache-Control")] String),
    }
    problems {
        bearer Unauthorized,
        /// The account has no passkey (`mfa_not_enrolled`).
        409 Conflict,
        /// Too many attempts from this address (`rate_limited`).
        429 TooManyRequests,
        busy Unavailable,
    }
}

#[OpenApi(prefix_path = "/v1/auth", tag = "ApiTags::Auth")]
impl StepUpApi {
    /// Prove it is you again
    ///
    /// A signed-in caller gives one proof — the password, a code from the authenticator
    /// app, a recovery code, or a passkey assertion — and the session's sign-in becomes
    /// recent: adding or removing a second factor, new recovery codes and a new email
    /// address ask for a sign-in within `security.reauthentication_window` (5 minutes by
    /// default). Each proof counts like a login attempt toward the account's lockout.
    #[oai(
        path = "/reauthenticate",
        method = "post",
        operation_id = "reauthenticate"
    )]
    async fn reauthenticate(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: BearerAuth,
        body: Json<StepUp>,
    ) -> poem::Result<StepUpResponse> {
        let _admitted = admitted!(req, PasswordCheck);
        let proof = match body.0.proof() {
            Ok(p) => p,
            Err(e) => return answer(*e),
        };
        match state
            .factors
            .step_up(&auth.0, proof, &client_info(req))
            .await
        {
            Ok(stepped) => Ok(StepUpResponse::Ok(Json(stepped.into()), NO_STORE.into())),
            Err(e) => answer(e),
        }
    }

    /// Start a passkey step-up
    ///
    /// Request options for an assertion by one of the caller's passkeys, and the id of
    /// the ceremony, for `POST /v1/auth/reauthenticate`.
    #[oai(
        path = "/reauthenticate/options",
        method = "post",
        operation_id = "reauthenticateOptions"
    )]
    async fn options(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: BearerAuth,
    ) -> poem::Result<StepUpOptionsResponse> {
        let _admitted = admitted!(req, SecondFactor);
        match state.factors.step_up_options(&auth.0).await {
            Ok((token, options)) => Ok(StepUpOptionsResponse::Ok(
                Json(StepUpOptions {
                    challenge_id: token.expose().to_owned(),
                    public_key: WebauthnOptions::new(options).public_key,
                }),
                NO_STORE.into(),
            )),
            Err(e) => answer(e),
        }
    }
}
