//! Second factors over HTTP: the login's second step and passkey sign-in
//! (`/v1/auth/mfa*`, `/v1/auth/passkey*`), and the caller's own factors (`/v1/me/mfa*`,
//! `/v1/me/passkeys*`). WebAuthn options and credentials travel as the JSON the browser's
//! `navigator.credentials` API takes and `PublicKeyCredential.toJSON()` gives.

use chrono::{DateTime, Utc};
use poem::Request;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use tessera_domain::auth::{FactorError, Reauthentication, SecondStepProof};
use tessera_domain::mfa::{PasskeyRecord, RecoveryCode};
use tessera_domain::user::PasswordAttempt;
use uuid::Uuid;

use super::auth::TokenPairView;
use super::responses::{admitted, answer, answers, bad_request};
use super::text::Text;
use super::{ApiTags, BearerAuth};
use crate::edge::factors::{count_second_factor, passkey_name, passkey_refusal};
use crate::edge::{AppState, client_info};
use crate::problem::ApiError;

pub struct MfaAuthApi;
pub struct MfaAccountApi;

const NO_STORE: &str = "no-store";
const EXAMPLE_TOKEN: &str = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5";

/// The second step of a login: the `mfa_token` of the `mfa_required` answer and exactly
/// one proof.
#[derive(Object)]
#[oai(example)]
pub struct SecondStep {
    pub mfa_token: Text,
    /// A 6-digit code from the authenticator app.
    pub code: Option<Text>,
    /// One of the recovery codes; case, spaces and hyphens do not matter.
    pub recovery_code: Option<Text>,
    /// A passkey assertion (`PublicKeyCredential.toJSON()`) answering
    /// `POST /v1/auth/mfa/webauthn/options`.
    pub webauthn: Option<serde_json::Value>,
}

impl poem_openapi::types::Example for SecondStep {
    fn example() -> Self {
        Self {
            mfa_token: EXAMPLE_TOKEN.into(),
            code: Some("123456".into()),
            recovery_code: None,
            webauthn: None,
        }
    }
}

debug_redacted!(SecondStep { ; mfa_token, code, recovery_code, webauthn });

/// The `mfa_token` of an open second step.
#[derive(Object)]
#[oai(example)]
pub struct MfaTokenBody {
    pub mfa_token: Text,
}

impl poem_openapi::types::Example for MfaTokenBody {
    fn example() -> Self {
        Self {
            mfa_token: EXAMPLE_TOKEN.into(),
        }
    }
}

debug_redacted!(MfaTokenBody { ; mfa_token });

/// WebAuthn options for `navigator.credentials.create()` or `.get()`
/// (`PublicKeyCredential.parseCreationOptionsFromJSON(publicKey)` and friends).
#[derive(Debug, Object)]
#[oai(example)]
pub struct WebauthnOptions {
    #[oai(rename = "publicKey")]
    pub public_key: serde_json::Value,
}

impl poem_openapi::types::Example for WebauthnOptions {
    fn example() -> Self {
        Self {
            public_key: serde_json::json!({
                "challenge": "3q2-7wAAAAD-8Q1tbHZ4eVqYyQ1m0hF8tHj8Hk0xTg0",
                "timeout": 300000,
                "rpId": "auth.example.com",
                "allowCredentials": [{"type": "public-key", "id": "mDqS3WZ1o8Q2k0lJ0qz9Zw"}],
                "userVerification": "required"
            }),
        }
    }
}

impl WebauthnOptions {
    fn new(mut options: serde_json::Value) -> Self {
        Self {
            public_key: options
                .get_mut("publicKey")
                .map(serde_json::Value::take)
                .unwrap_or_default(),
        }
    }
}

/// A passwordless sign-in ceremony: its id (send it back with the assertion) and the
/// WebAuthn request options.
#[derive(Debug, Object)]
#[oai(example)]
pub struct PasskeySignInOptions {
    /// Single use; the ceremony lasts 5 minutes.
    pub challenge_id: String,
    #[oai(rename = "publicKey")]
    pub public_key: serde_json::Value,
}

impl poem_openapi::types::Example for PasskeySignInOptions {
    fn example() -> Self {
        Self {
            challenge_id: EXAMPLE_TOKEN.into(),
            public_key: serde_json::json!({
                "challenge": "3q2-7wAAAAD-8Q1tbHZ4eVqYyQ1m0hF8tHj8Hk0xTg0",
                "timeout": 300000,
                "rpId": "auth.example.com",
                "allowCredentials": [],
                "userVerification": "required"
            }),
        }
    }
}

/// A passwordless sign-in: the ceremony's id and the assertion.
#[derive(Object)]
#[oai(example)]
pub struct PasskeySignIn {
    pub challenge_id: Text,
    /// `PublicKeyCredential.toJSON()` of the assertion.
    pub credential: serde_json::Value,
}

impl poem_openapi::types::Example for PasskeySignIn {
    fn example() -> Self {
        Self {
            challenge_id: EXAMPLE_TOKEN.into(),
            credential: example_assertion(),
        }
    }
}

/// What `PublicKeyCredential.toJSON()` gives for an assertion.
fn example_assertion() -> serde_json::Value {
    serde_json::json!({
        "id": "mDqS3WZ1o8Q2k0lJ0qz9Zw",
        "rawId": "mDqS3WZ1o8Q2k0lJ0qz9Zw",
        "type": "public-key",
        "response": {
            "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uZ2V0In0",
            "authenticatorData": "SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAQ",
            "signature": "MEUCIQDx",
            "userHandle": "AZNvDlscfhGis8TV5vcIGQ"
        },
        "clientExtensionResults": {}
    })
}

debug_redacted!(PasskeySignIn { ; challenge_id, credential });

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

/// A new passkey: its label and the attestation answering
/// `POST /v1/me/passkeys/options`.
#[derive(Object)]
#[oai(example)]
pub struct NewPasskeyBody {
    /// 1–64 characters, e.g. "Laptop".
    pub name: Text,
    /// `PublicKeyCredential.toJSON()` of the registration.
    pub credential: serde_json::Value,
}

impl poem_openapi::types::Example for NewPasskeyBody {
    fn example() -> Self {
        Self {
            name: "Laptop".into(),
            credential: serde_json::json!({
                "id": "mDqS3WZ1o8Q2k0lJ0qz9Zw",
                "rawId": "mDqS3WZ1o8Q2k0lJ0qz9Zw",
                "type": "public-key",
                "response": {
                    "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIn0",
                    "attestationObject": "o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YQ",
                    "transports": ["internal"]
                },
                "clientExtensionResults": {"credProps": {"rk": true}}
            }),
        }
    }
}

debug_redacted!(NewPasskeyBody { name; credential });

/// A new label for a passkey.
#[derive(Debug, Object)]
#[oai(example)]
pub struct PasskeyRename {
    /// 1–64 characters.
    pub name: Text,
}

impl poem_openapi::types::Example for PasskeyRename {
    fn example() -> Self {
        Self {
            name: "Work laptop".into(),
        }
    }
}

/// A registered passkey.
#[derive(Debug, Object)]
#[oai(rename = "Passkey", example)]
pub struct PasskeyView {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub last_used_at: Option<DateTime<Utc>>,
    /// The authenticator may sync the key to other devices (a synced passkey).
    pub backup_eligible: bool,
    /// The key is synced now.
    pub backup_state: bool,
}

impl poem_openapi::types::Example for PasskeyView {
    fn example() -> Self {
        Self {
            id: Uuid::from_u128(0x0193_6f0e_5b1c_7e11_a2b3_c4d5_e6f7_0901),
            name: "Laptop".into(),
            created_at: DateTime::from_timestamp(1_765_000_000, 0).unwrap_or_default(),
            last_used_at: DateTime::from_timestamp(1_765_003_600, 0),
            backup_eligible: true,
            backup_state: true,
        }
    }
}

impl From<PasskeyRecord> for PasskeyView {
    fn from(p: PasskeyRecord) -> Self {
        Self {
            id: p.id,
            name: p.name.as_str().to_owned(),
            created_at: p.created_at,
            last_used_at: p.last_used_at,
            backup_eligible: p.backup_eligible,
            backup_state: p.backup_state,
        }
    }
}

answers! {
    #[oai(bad_request_handler = "bad_request")]
    SecondStepResponse {
        /// The second step succeeded: a new token pair. Never cache it.
        #[oai(status = 200)]
        Ok(
            Json<TokenPairView>,
            #[oai(header = "Cache-Control")] String,
            #[oai(header = "Pragma")] String,
        ),
    }
    problems {
        /// The body is not valid JSON of the expected shape, or gives no proof or more than
        /// one (`invalid_request`).
        400 BadRequest,
        /// The proof is wrong (`invalid_code`), or the `mfa_token` is unknown, used,
        /// expired or out of attempts: log in again (`invalid_mfa_token`).
        401 Unauthorized plain,
        /// Too many attempts from this address, or too many failures for this account
        /// (`rate_limited`).
        429 TooManyRequests,
        /// A store or the rate limiter is down (`service_unavailable`): nothing was decided.
        503 Unavailable,
    }
}

impl SecondStepResponse {
    fn ok(pair: tessera_domain::auth::TokenPair) -> Self {
        Self::Ok(Json(pair.into()), NO_STORE.into(), "no-cache".into())
    }
}

answers! {
    #[oai(bad_request_handler = "bad_request")]
    SecondStepOptionsResponse {
        /// Request options for an assertion by one of the account's passkeys.
        #[oai(status = 200)]
        Ok(
            Json<WebauthnOptions>,
            #[oai(header = "Cache-Control")] String,
        ),
    }
    problems {
        /// The body is not valid JSON of the expected shape (`invalid_request`).
        400 BadRequest,
        /// The `mfa_token` is unknown, used, expired or out of attempts (`invalid_mfa_token`).
        401 Unauthorized plain,
        /// The account has no passkey (`no_passkey`): use another method.
        409 Conflict,
        /// Too many attempts from this address (`rate_limited`).
        429 TooManyRequests,
        /// A store is down (`service_unavailable`).
        503 Unavailable,
    }
}

answers! {
    PasskeyOptionsResponse {
        /// A new ceremony: pass `publicKey` to `navigator.credentials.get()`.
        #[oai(status = 200)]
        Ok(
            Json<PasskeySignInOptions>,
            #[oai(header = "Cache-Control")] String,
        ),
    }
    problems {
        /// Too many attempts from this address (`rate_limited`).
        429 TooManyRequests,
        /// A store is down (`service_unavailable`).
        503 Unavailable,
    }
}

answers! {
    #[oai(bad_request_handler = "bad_request")]
    PasskeySignInResponse {
        /// Signed in: a new token pair. Never cache it.
        #[oai(status = 200)]
        Ok(
            Json<TokenPairView>,
            #[oai(header = "Cache-Control")] String,
            #[oai(header = "Pragma")] String,
        ),
    }
    problems {
        /// The body is not valid JSON of the expected shape (`invalid_request`).
        400 BadRequest,
        /// The assertion does not verify, or the ceremony is unknown, used or expired
        /// (`invalid_passkey`): start again with new options.
        401 Unauthorized plain,
        /// Too many attempts from this address (`rate_limited`).
        429 TooManyRequests,
        /// A store is down (`service_unavailable`).
        503 Unavailable,
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
        /// A store, the rate limiter or password hashing cannot answer now
        /// (`service_unavailable`).
        503 Unavailable,
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
        /// An authenticator app is enrolled already (`totp_already_enabled`): disable it
        /// first.
        409 Conflict,
        /// A store, the rate limiter or password hashing cannot answer now
        /// (`service_unavailable`).
        503 Unavailable,
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
        /// The password is wrong (`invalid_credentials`).
        403 Forbidden,
        /// Nothing to confirm or recover (`mfa_not_enrolled`).
        409 Conflict,
        /// Too many wrong proofs for this account (`rate_limited`).
        429 TooManyRequests,
        /// A store, the rate limiter or password hashing cannot answer now
        /// (`service_unavailable`).
        503 Unavailable,
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
        /// A store, the rate limiter or password hashing cannot answer now
        /// (`service_unavailable`).
        503 Unavailable,
    }
}

answers! {
    RegistrationOptionsResponse {
        /// Creation options: pass `publicKey` to `navigator.credentials.create()`, then send
        /// the result to `POST /v1/me/passkeys` within 5 minutes.
        #[oai(status = 200)]
        Ok(
                Json<WebauthnOptions>,
                #[oai(header = "Cache-Control")] String,
        ),
    }
    problems {
        bearer Unauthorized,
        /// A store, the rate limiter or password hashing cannot answer now
        /// (`service_unavailable`).
        503 Unavailable,
    }
}

answers! {
    #[oai(bad_request_handler = "bad_request")]
    AddPasskeyResponse {
        /// The passkey is registered.
        #[oai(status = 201)]
        Created(Json<PasskeyView>),
    }
    problems {
        /// Malformed body (`invalid_request`), or the credential does not verify or answers
        /// no pending registration (`invalid_credential`).
        400 BadRequest,
        bearer Unauthorized,
        /// This credential is registered already (`passkey_exists`).
        409 Conflict,
        /// The name is empty, too long or has control characters (`invalid_name`).
        422 Unprocessable,
        /// A store, the rate limiter or password hashing cannot answer now
        /// (`service_unavailable`).
        503 Unavailable,
    }
}

answers! {
    ListPasskeysResponse {
        /// The caller's passkeys, oldest first.
        #[oai(status = 200)]
        Ok(Json<Vec<PasskeyView>>),
    }
    problems {
        bearer Unauthorized,
        /// A store, the rate limiter or password hashing cannot answer now
        /// (`service_unavailable`).
        503 Unavailable,
    }
}

answers! {
    #[oai(bad_request_handler = "bad_request")]
    RenamePasskeyResponse {
        /// Renamed.
        #[oai(status = 200)]
        Ok(Json<PasskeyView>),
    }
    problems {
        /// Malformed id or body (`invalid_request`).
        400 BadRequest,
        bearer Unauthorized,
        /// Not one of the caller's passkeys (`passkey_not_found`).
        404 NotFound,
        /// The name is empty, too long or has control characters (`invalid_name`).
        422 Unprocessable,
        /// A store, the rate limiter or password hashing cannot answer now
        /// (`service_unavailable`).
        503 Unavailable,
    }
}

answers! {
    #[oai(bad_request_handler = "bad_request")]
    DeletePasskeyResponse {
        /// Removed (with the recovery codes, if it was the last factor).
        #[oai(status = 204)]
        Done,
    }
    problems {
        /// Malformed id (`invalid_request`).
        400 BadRequest,
        bearer Unauthorized,
        /// It is the account's last second factor and the sign-in is older than 5 minutes
        /// (`reauthentication_required`): sign in again, then remove it.
        403 Forbidden,
        /// Not one of the caller's passkeys (`passkey_not_found`).
        404 NotFound,
        /// A store, the rate limiter or password hashing cannot answer now
        /// (`service_unavailable`).
        503 Unavailable,
    }
}

#[OpenApi(prefix_path = "/v1/auth", tag = "ApiTags::Auth")]
impl MfaAuthApi {
    /// Complete a login's second step
    ///
    /// Exchanges the `mfa_token` of a `403 mfa_required` login answer and one proof — a
    /// code from the authenticator app, a recovery code, or a passkey assertion — for a
    /// token pair. A code is accepted once; the token allows 5 attempts in 5 minutes,
    /// and every wrong proof counts toward the account's lockout, like a wrong password.
    #[oai(path = "/mfa", method = "post", operation_id = "completeMfa")]
    async fn complete(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<SecondStep>,
    ) -> poem::Result<SecondStepResponse> {
        let _admitted = admitted!(req, SecondFactor);
        let proof = match (&body.code, &body.recovery_code, &body.webauthn) {
            (Some(code), None, None) => SecondStepProof::Totp(code.0.clone()),
            (None, Some(code), None) => SecondStepProof::RecoveryCode(code.0.clone()),
            (None, None, Some(credential)) => SecondStepProof::Webauthn(credential.clone()),
            _ => {
                return answer(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "give exactly one of code, recovery_code and webauthn",
                ));
            }
        };
        let method = match &proof {
            SecondStepProof::Totp(_) => "totp",
            SecondStepProof::RecoveryCode(_) => "recovery_code",
            SecondStepProof::Webauthn(_) => "webauthn",
        };
        let result = state
            .factors
            .complete_second_step(&body.mfa_token, proof, &client_info(req))
            .await;
        count_second_factor(&state, method, &result);
        match result {
            Ok(pair) => Ok(SecondStepResponse::ok(pair)),
            Err(e) => answer(e),
        }
    }

    /// Passkey options for the second step
    ///
    /// WebAuthn request options for an assertion by one of the account's passkeys, for
    /// `POST /v1/auth/mfa` with `webauthn`.
    #[oai(
        path = "/mfa/webauthn/options",
        method = "post",
        operation_id = "mfaWebauthnOptions"
    )]
    async fn webauthn_options(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<MfaTokenBody>,
    ) -> poem::Result<SecondStepOptionsResponse> {
        let _admitted = admitted!(req, SecondFactor);
        match state
            .factors
            .second_step_webauthn_options(&body.mfa_token, &client_info(req))
            .await
        {
            Ok(options) => Ok(SecondStepOptionsResponse::Ok(
                Json(WebauthnOptions::new(options)),
                NO_STORE.into(),
            )),
            Err(e) => answer(e),
        }
    }

    /// Start a passkey sign-in
    ///
    /// Request options for a discoverable credential (no username needed) and the id of
    /// the ceremony, for `POST /v1/auth/passkey`.
    #[oai(
        path = "/passkey/options",
        method = "post",
        operation_id = "passkeyOptions"
    )]
    async fn passkey_options(
        &self,
        state: Data<&AppState>,
        req: &Request,
    ) -> poem::Result<PasskeyOptionsResponse> {
        let _admitted = admitted!(req, SecondFactor);
        match state.factors.passkey_sign_in_options().await {
            Ok((token, options)) => {
                let public_key = WebauthnOptions::new(options).public_key;
                Ok(PasskeyOptionsResponse::Ok(
                    Json(PasskeySignInOptions {
                        challenge_id: token.expose().to_owned(),
                        public_key,
                    }),
                    NO_STORE.into(),
                ))
            }
            Err(e) => answer(e),
        }
    }

    /// Sign in with a passkey
    ///
    /// Exchanges a passkey assertion answering `POST /v1/auth/passkey/options` for a
    /// token pair, without a password. The ceremony is used up by any answer.
    #[oai(path = "/passkey", method = "post", operation_id = "passkeySignIn")]
    async fn passkey_sign_in(
        &self,
        state: Data<&AppState>,
        req: &Request,
        body: Json<PasskeySignIn>,
    ) -> poem::Result<PasskeySignInResponse> {
        let _admitted = admitted!(req, SecondFactor);
        let result = state
            .factors
            .passkey_sign_in(&body.challenge_id, &body.credential, &client_info(req))
            .await;
        count_second_factor(&state, "passkey", &result);
        match result {
            Ok(pair) => Ok(PasskeySignInResponse::Ok(
                Json(pair.into()),
                NO_STORE.into(),
                "no-cache".into(),
            )),
            Err(e) => answer(passkey_refusal(e)),
        }
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
            Ok(codes) => Ok(RecoveryCodesResponse::Ok(
                Json(codes.into()),
                NO_STORE.into(),
            )),
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
            Ok(codes) => Ok(RecoveryCodesResponse::Ok(
                Json(codes.into()),
                NO_STORE.into(),
            )),
            Err(e) => answer(e),
        }
    }

    /// Start passkey registration
    ///
    /// Creation options for a new discoverable passkey, excluding the ones registered.
    #[oai(
        path = "/passkeys/options",
        method = "post",
        operation_id = "passkeyRegistrationOptions"
    )]
    async fn registration_options(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> poem::Result<RegistrationOptionsResponse> {
        match state.factors.passkey_registration_options(&auth.0).await {
            Ok(options) => Ok(RegistrationOptionsResponse::Ok(
                Json(WebauthnOptions::new(options)),
                NO_STORE.into(),
            )),
            Err(e) => answer(e),
        }
    }

    /// Register a passkey
    ///
    /// Finishes the pending registration. The passkey then signs in alone and serves as
    /// a second step after the password.
    #[oai(path = "/passkeys", method = "post", operation_id = "addPasskey")]
    async fn add(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: BearerAuth,
        body: Json<NewPasskeyBody>,
    ) -> poem::Result<AddPasskeyResponse> {
        let name = match passkey_name(&body.name) {
            Ok(n) => n,
            Err(e) => return answer(*e),
        };
        match state
            .factors
            .add_passkey(&auth.0, name, &body.credential, &client_info(req))
            .await
        {
            Ok(p) => Ok(AddPasskeyResponse::Created(Json(p.into()))),
            Err(e) => answer(e),
        }
    }

    /// List passkeys
    ///
    /// The caller's passkeys, oldest first, with when each was last used and whether it
    /// syncs between devices.
    #[oai(path = "/passkeys", method = "get", operation_id = "listPasskeys")]
    async fn list(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
    ) -> poem::Result<ListPasskeysResponse> {
        match state.factors.passkeys(&auth.0).await {
            Ok(keys) => Ok(ListPasskeysResponse::Ok(Json(
                keys.into_iter().map(PasskeyView::from).collect(),
            ))),
            Err(e) => answer(e),
        }
    }

    /// Rename a passkey
    ///
    /// Changes the label the caller gave a passkey.
    #[oai(
        path = "/passkeys/:id",
        method = "patch",
        operation_id = "renamePasskey"
    )]
    async fn rename(
        &self,
        state: Data<&AppState>,
        auth: BearerAuth,
        id: Path<Uuid>,
        body: Json<PasskeyRename>,
    ) -> poem::Result<RenamePasskeyResponse> {
        let name = match passkey_name(&body.name) {
            Ok(n) => n,
            Err(e) => return answer(*e),
        };
        match state.factors.rename_passkey(&auth.0, id.0, name).await {
            Ok(p) => Ok(RenamePasskeyResponse::Ok(Json(p.into()))),
            Err(e) => answer(e),
        }
    }

    /// Remove a passkey
    ///
    /// The account's last second factor can be removed only within 5 minutes of
    /// signing in.
    #[oai(
        path = "/passkeys/:id",
        method = "delete",
        operation_id = "deletePasskey"
    )]
    async fn delete(
        &self,
        state: Data<&AppState>,
        req: &Request,
        auth: BearerAuth,
        id: Path<Uuid>,
    ) -> poem::Result<DeletePasskeyResponse> {
        match state
            .factors
            .remove_passkey(&auth.0, id.0, &client_info(req))
            .await
        {
            Ok(()) => Ok(DeletePasskeyResponse::Done),
            Err(e) => answer(e),
        }
    }
}
