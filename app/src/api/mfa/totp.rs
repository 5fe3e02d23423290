//! The caller's second factors at a glance (`GET /v1/me/mfa`), the authenticator app
//! (enroll, confirm, remove) and recovery codes (`/v1/me/mfa*`).

use poem::Request;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use tessera_domain::auth::{FactorError, Reauthentication};
use tessera_domain::mfa::RecoveryCode;
use tessera_domain::user::PasswordAttempt;

use crate::api::responses::NO_STORE;
use crate::api::responses::{admitted, answer, answers, bad_request};
use crate::api::text::Text;
use crate::api::{ApiTags, BearerAuth};
use crate::edge::{AppState, client_info};
use crate::problem::ApiError;

impl RecoveryCodesResponse {
    /// New recovery codes, never to be cached: they are shown this once.
    fn shown_once(codes: Vec<RecoveryCode>) -> Self {
        Self::Ok(Json(codes.into()), NO_STORE.into())
    }
}

/// The caller's second factors, the authenticator app and recovery codes (`/v1/me/mfa*`).
pub struct MfaAccountApi;

/// What the caller has enrolled.
#[derive(Debug, Object)]
#[oai(example)]
pub struct MfaStatus {
    /// An authenticator app is enrolled and confirmed.
    pub totp: bool,
    /// An enrollment was started and awaits its confirming code.
    pub totp_pending: bool,
    pub passkeys: u32,
    /// Unused recovery codes.
    pub recovery_codes_remaining: u32,
    /// The second steps a password login asks for; empty when a password alone logs in.
    pub methods: Vec<String>,
}

impl poem_openapi::types::Example for MfaStatus {
    fn example() -> Self {
        Self {
            totp: true,
            totp_pending: false,
            passkeys: 1,
            recovery_codes_remaining: 9,
            methods: vec!["totp".into(), "webauthn".into(), "recovery_code".into()],
        }
    }
}

/// A new TOTP secret for the authenticator app.
#[derive(Object)]
#[oai(rename = "TotpEnrollment", example)]
pub struct TotpSetup {
    /// The secret in base32, for typing into the app.
    pub secret: String,
    /// `otpauth://totp/…` for a QR code.
    pub otpauth_uri: String,
}

impl poem_openapi::types::Example for TotpSetup {
    fn example() -> Self {
        Self {
            secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".into(),
            otpauth_uri: "otpauth://totp/Tessera:alice?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=Tessera".into(),
        }
    }
}

debug_redacted!(TotpSetup { ; secret, otpauth_uri });

/// A code from the authenticator app.
#[derive(Object)]
#[oai(example)]
pub struct CodeBody {
    /// 6 digits.
    pub code: Text,
}

impl poem_openapi::types::Example for CodeBody {
    fn example() -> Self {
        Self {
            code: "123456".into(),
        }
    }
}

debug_redacted!(CodeBody { ; code });

/// Proof, asked again, that the caller owns the account: a current code from the
/// authenticator app or the password, not both. (Cancelling an enrollment that was never
/// confirmed needs neither.)
#[derive(Object)]
#[oai(example)]
pub struct Reauth {
    pub code: Option<Text>,
    pub current_password: Option<Text>,
}

impl poem_openapi::types::Example for Reauth {
    fn example() -> Self {
        Self {
            code: Some("123456".into()),
            current_password: None,
        }
    }
}

debug_redacted!(Reauth { ; code, current_password });

impl Reauth {
    /// The proof given, if any: `None` when neither member is (enough to cancel a
    /// pending enrollment, nothing else).
    fn proof(&self) -> Result<Option<Reauthentication>, Box<ApiError>> {
        match (&self.code, &self.current_password) {
            (None, None) => Ok(None),
            (Some(code), None) if is_code(code) => Ok(Some(Reauthentication::Code(code.0.clone()))),
            (Some(_), None) => Err(Box::new(FactorError::InvalidCode.into())),
            (None, Some(password)) => PasswordAttempt::new(password)
                .map(|p| Some(Reauthentication::Password(p)))
                .ok_or_else(|| Box::new(FactorError::WrongPassword.into())),
            (Some(_), Some(_)) => Err(Box::new(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "give one of code and current_password, not both",
            ))),
        }
    }
}

/// Six ASCII digits, as authenticator apps show them.
fn is_code(code: &str) -> bool {
    code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())
}

/// Recovery codes, shown this once: each signs in once in place of a code.
#[derive(Object)]
#[oai(example)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

impl poem_openapi::types::Example for RecoveryCodes {
    fn example() -> Self {
        Self {
            recovery_codes: vec!["7k2m-q9xd-4hcw".into(), "c3pz-81tn-wq6f".into()],
        }
    }
}

debug_redacted!(RecoveryCodes { ; recovery_codes });

impl From<Vec<RecoveryCode>> for RecoveryCodes {
    fn from(codes: Vec<RecoveryCode>) -> Self {
        Self {
            recovery_codes: codes.iter().map(|c| c.expose().to_owned()).collect(),
        }
    }
}

answers! {
    MfaStatusResponse {
        /// What is enrolled.
        #[oai(status = 200)]
        Ok(Json<MfaStatus>),
    }
    problems {
        bearer Unauthorized,
        busy Unavailable,
    }
}

answers! {
    TotpSetupResponse {
        /// The secret, pending until `POST /v1/me/mfa/totp/confirm`. Starting again replaces a
        /// pending secret.
        #[oai(status = 200)]
        Ok(Json<TotpSetup>, #[oai(header = "Cache-Control")] String),
    }
    problems {
        bearer Unauthorized,
        /// The sign-in is older than `security.reauthentication_window`
        /// (`reauthentication_required`): sign in again (with the second step, if the
        /// account has one), then retry.
        403 Forbidden,
        /// An authenticator app is enrolled already (`totp_already_enabled`): disable it
        /// first.
        409 Conflict,
        busy Unavailable,
    }
}

answers! {
    #[oai(bad_request_handler = "bad_request")]
    RecoveryCodesResponse {
        /// The new recovery codes, shown this once; any older set stopped working.
        #[oai(status = 200)]
        Ok(Json<RecoveryCodes>, #[oai(header = "Cache-Control")] String),
    }
    problems {
        /// Malformed body, or not exactly one proof when regenerating (`invalid_request`);
        /// the code is wrong (`invalid_code`).
        400 BadRequest,
        bearer Unauthorized,
        /// The password is wrong (`invalid_credentials`); confirming an enrollment, the
        /// sign-in is older than `security.reauthentication_window`
        /// (`reauthentication_required`): sign in again, then retry.
        403 Forbidden,
        /// Nothing to confirm or recover (`mfa_not_enrolled`).
        409 Conflict,
        /// Too many wrong proofs for this account (`rate_limited`).
        429 TooManyRequests,
        busy Unavailable,
    }
}

answers! {
    #[oai(bad_request_handler = "bad_request")]
    DisableTotpResponse {
        /// The authenticator app is removed (with the recovery codes, if no passkey is left).
        #[oai(status = 204)]
        Done,
    }
    problems {
        /// Malformed body, both proofs, or none for an active app (`invalid_request`); the
        /// code is wrong or malformed (`invalid_code`).
        400 BadRequest,
        bearer Unauthorized,
        /// The password is wrong (`invalid_credentials`).
        403 Forbidden,
        /// No authenticator app is enrolled (`mfa_not_enrolled`).
        409 Conflict,
        /// Too many wrong proofs for this account (`rate_limited`).
        429 TooManyRequests,
        busy Unavailable,
    }
}

#[OpenApi(prefix_path = "/v1/me", tag = "ApiTags::Account")]
impl MfaAccountApi {
    /// Show second factors
    ///
    /// What the caller has enrolled, and how many recovery codes remain.
    #[oai(path = "/mfa", method = "get", operation_id = "getMfa")]
    async fn status(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> poem::Result<MfaStatusResponse> {
        match state.factors.factor_status(&auth.0).await {
            Ok(s) => Ok(MfaStatusResponse::Ok(Json(MfaStatus {
                totp: s.summary.totp,
                totp_pending: s.totp_pending,
                passkeys: s.summary.passkeys,
                recovery_codes_remaining: s.summary.recovery_codes_left,
                methods: if s.summary.requires_second_step() {
                    s.summary
                        .methods()
                        .iter()
                        .map(|m| m.as_str().to_owned())
                        .collect()
                } else {
                    Vec::new()
                },
            }))),
            Err(e) => answer(e),
        }
    }

    /// Start TOTP enrollment
    ///
    /// A new secret for an authenticator app (SHA-1, 6 digits, 30 s). It is not active
    /// until confirmed with a code.
    #[oai(path = "/mfa/totp", method = "post", operation_id = "enrollTotp")]
    async fn enroll_totp(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> poem::Result<TotpSetupResponse> {
        match state.factors.begin_totp(&auth.0).await {
            Ok(p) => Ok(TotpSetupResponse::Ok(
                Json(TotpSetup {
                    secret: p.secret_base32,
                    otpauth_uri: p.uri,
                }),
                NO_STORE.into(),
            )),
            Err(e) => answer(e),
        }
    }

    /// Confirm TOTP enrollment
    ///
    /// Activates the pending authenticator app with a code from it and returns 10
    /// recovery codes, shown this once. From now on a password login asks for a second
    /// step.
    #[oai(
        path = "/mfa/totp/confirm",
        method = "post",
        operation_id = "confirmTotp"
    )]
    async fn confirm_totp(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: BearerAuth,
        body: Json<CodeBody>,
    ) -> poem::Result<RecoveryCodesResponse> {
        match state
            .factors
            .confirm_totp(&auth.0, &body.code, &client_info(req))
            .await
        {
            Ok(codes) => Ok(RecoveryCodesResponse::shown_once(codes)),
            Err(e) => answer(e),
        }
    }

    /// Disable TOTP
    ///
    /// Removes the authenticator app, given a current code from it or the password. A
    /// pending enrollment is cancelled without either.
    #[oai(
        path = "/mfa/totp/disable",
        method = "post",
        operation_id = "disableTotp"
    )]
    async fn disable_totp(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: BearerAuth,
        body: Json<Reauth>,
    ) -> poem::Result<DisableTotpResponse> {
        let _admitted = admitted!(req, PasswordCheck);
        let proof = match body.proof() {
            Ok(p) => p,
            Err(e) => return answer(*e),
        };
        match state
            .factors
            .disable_totp(&auth.0, proof, &client_info(req))
            .await
        {
            Ok(()) => Ok(DisableTotpResponse::Done),
            Err(e) => answer(e),
        }
    }

    /// Regenerate recovery codes
    ///
    /// A new set of 10 recovery codes, given a current code or the password; the old
    /// set stops working.
    #[oai(
        path = "/mfa/recovery-codes",
        method = "post",
        operation_id = "regenerateRecoveryCodes"
    )]
    async fn regenerate(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: BearerAuth,
        body: Json<Reauth>,
    ) -> poem::Result<RecoveryCodesResponse> {
        let _admitted = admitted!(req, PasswordCheck);
        let proof = match body.proof() {
            Ok(p) => p,
            Err(e) => return answer(*e),
        };
        match state
            .factors
            .regenerate_recovery_codes(&auth.0, proof, &client_info(req))
            .await
        {
            Ok(codes) => Ok(RecoveryCodesResponse::shown_once(codes)),
            Err(e) => answer(e),
        }
    }
}
