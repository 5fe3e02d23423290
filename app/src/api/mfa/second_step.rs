//! A login's second step (`POST /v1/auth/mfa`, its WebAuthn options) and passwordless
//! passkey sign-in (`/v1/auth/passkey*`).

use poem::Request;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use tessera_domain::auth::SecondStepProof;

use super::{EXAMPLE_TOKEN, WebauthnOptions};
use crate::api::ApiTags;
use crate::api::responses::NO_STORE;
use crate::api::responses::{admitted, answer, answers, bad_request};
use crate::api::text::Text;
use crate::edge::factors::{count_second_factor, passkey_refusal};
use crate::edge::{AppState, client_info};
use crate::problem::ApiError;

/// The second step of a login and passkey sign-in (`/v1/auth`).
pub struct MfaAuthApi;

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

answers! {
    #[oai(bad_request_handler = "bad_request")]
    SecondStepResponse {
        /// The second step succeeded: a new token pair. Never cache it.
        tokens Ok,
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
        down Unavailable,
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
        down Unavailable,
    }
}

answers! {
    #[oai(bad_request_handler = "bad_request")]
    PasskeySignInResponse {
        /// Signed in: a new token pair. Never cache it.
        tokens Ok,
    }
    problems {
        /// The body is not valid JSON of the expected shape (`invalid_request`).
        400 BadRequest,
        /// The assertion does not verify, or the ceremony is unknown, used or expired
        /// (`invalid_passkey`): start again with new options.
        401 Unauthorized plain,
        /// Too many attempts from this address (`rate_limited`).
        429 TooManyRequests,
        down Unavailable,
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
            Ok(pair) => Ok(SecondStepResponse::tokens(pair)),
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
            Ok(pair) => Ok(PasskeySignInResponse::tokens(pair)),
            Err(e) => answer(passkey_refusal(e)),
        }
    }
}
