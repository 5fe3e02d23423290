//! The caller's passkeys (`/v1/me/passkeys*`): registration ceremony, list, rename,
//! remove.

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use tessera_domain::auth::AddedPasskey;
use tessera_domain::mfa::PasskeyRecord;
use uuid::Uuid;

use super::WebauthnOptions;
use crate::api::responses::NO_STORE;
use crate::api::responses::{answer, answers, bad_request};
use crate::api::text::Text;
use crate::api::{ApiTags, BearerAuth};
use crate::edge::factors::passkey_name;
use crate::edge::{AppState, client_info};

/// The caller's passkeys (`/v1/me/passkeys*`).
pub struct PasskeysApi;

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
    /// Only when adding the account's first second factor: recovery codes, shown this
    /// once; each signs in once in place of the passkey.
    #[oai(skip_serializing_if_is_none)]
    pub recovery_codes: Option<Vec<String>>,
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
            recovery_codes: None,
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
            recovery_codes: None,
        }
    }
}

impl From<AddedPasskey> for PasskeyView {
    fn from(added: AddedPasskey) -> Self {
        let codes = added.recovery_codes;
        Self {
            recovery_codes: (!codes.is_empty())
                .then(|| codes.iter().map(|c| c.expose().to_owned()).collect()),
            ..added.passkey.into()
        }
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
        /// The sign-in is older than `security.reauthentication_window`
        /// (`reauthentication_required`): sign in again (with the second step, if the
        /// account has one), then retry.
        403 Forbidden,
        busy Unavailable,
    }
}

answers! {
    #[oai(bad_request_handler = "bad_request")]
    AddPasskeyResponse {
        /// The passkey is registered; as the account's first second factor, with recovery
        /// codes shown this once. Never cache it.
        #[oai(status = 201)]
        Created(Json<PasskeyView>, #[oai(header = "Cache-Control")] String),
    }
    problems {
        /// Malformed body (`invalid_request`), or the credential does not verify or answers
        /// no pending registration (`invalid_credential`).
        400 BadRequest,
        bearer Unauthorized,
        /// The sign-in is older than `security.reauthentication_window`
        /// (`reauthentication_required`): sign in again (with the second step, if the
        /// account has one), then retry.
        403 Forbidden,
        /// This credential is registered already (`passkey_exists`).
        409 Conflict,
        /// The name is empty, too long or has control characters (`invalid_name`).
        422 Unprocessable,
        busy Unavailable,
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
        busy Unavailable,
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
        busy Unavailable,
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
        /// The sign-in is older than `security.reauthentication_window`
        /// (`reauthentication_required`): sign in again (with the second step, if the
        /// account has one), then retry.
        403 Forbidden,
        /// Not one of the caller's passkeys (`passkey_not_found`).
        404 NotFound,
        busy Unavailable,
    }
}

#[OpenApi(prefix_path = "/v1/me", tag = "ApiTags::Account")]
impl PasskeysApi {
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
            Ok(p) => Ok(AddPasskeyResponse::Created(Json(p.into()), NO_STORE.into())),
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
