//! Second factors over HTTP: the login's second step and passkey sign-in
//! (`/v1/auth/mfa*`, `/v1/auth/passkey*`), and the caller's own factors (`/v1/me/mfa*`,
//! `/v1/me/passkeys*`). WebAuthn options and credentials travel as the JSON the browser's
//! `navigator.credentials` API takes and `PublicKeyCredential.toJSON()` gives.
//!
//! One file per subject: [`second_step`] (signing in), [`totp`] (the authenticator app and
//! recovery codes), [`passkeys`] (the caller's passkeys).

mod passkeys;
mod second_step;
mod step_up;
mod totp;

use poem_openapi::Object;

pub use passkeys::PasskeysApi;
pub use second_step::MfaAuthApi;
pub use step_up::StepUpApi;
pub use totp::MfaAccountApi;

/// A token as the examples show one.
pub(super) const EXAMPLE_TOKEN: &str = "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5";

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
    pub(super) fn new(mut options: serde_json::Value) -> Self {
        Self {
            public_key: options
                .get_mut("publicKey")
                .map(serde_json::Value::take)
                .unwrap_or_default(),
        }
    }
}
