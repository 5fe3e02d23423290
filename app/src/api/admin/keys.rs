//! `/v1/admin/keys*`: the signing keys' lifecycle — list, rotate now, revoke.

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use tessera_domain::keys::{KeyState, SigningKeyRecord};
use tessera_keys::KeyError;

use super::ListResponse;
use crate::api::responses::{answer, answers, bad_request};
use crate::api::{AdminAuth, ApiTags};
use crate::edge::refusal::internal;
use crate::edge::{AppState, client_info};

/// `/v1/admin/keys*` operations.
pub struct AdminKeysApi;

/// A signing key's lifecycle state.
#[derive(Debug, Enum)]
#[oai(rename = "KeyState", rename_all = "lowercase")]
pub enum KeyStateView {
    /// Published in the JWKS, not signing yet.
    Pending,
    /// The key that signs new tokens.
    Active,
    /// Published, verifies tokens it signed, no longer signs.
    Retiring,
    /// Unpublished; its private part is destroyed.
    Retired,
}

/// A signing key (public information only).
#[derive(Debug, Object)]
#[oai(rename = "SigningKey", example)]
pub struct KeyView {
    pub kid: String,
    pub state: KeyStateView,
    pub created_at: DateTime<Utc>,
    #[oai(skip_serializing_if_is_none)]
    pub activated_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub retiring_at: Option<DateTime<Utc>>,
    #[oai(skip_serializing_if_is_none)]
    pub retired_at: Option<DateTime<Utc>>,
}

impl From<&SigningKeyRecord> for KeyView {
    fn from(r: &SigningKeyRecord) -> Self {
        Self {
            kid: r.kid.clone(),
            state: match r.state {
                KeyState::Pending => KeyStateView::Pending,
                KeyState::Active => KeyStateView::Active,
                KeyState::Retiring => KeyStateView::Retiring,
                KeyState::Retired => KeyStateView::Retired,
            },
            created_at: r.created_at,
            activated_at: r.activated_at,
            retiring_at: r.retiring_at,
            retired_at: r.retired_at,
        }
    }
}

answers! {
    /// The answer of `rotateKeys`.
    #[oai(bad_request_handler = "bad_request")]
    RotateResponse {
        /// The keys after the rotation.
        #[oai(status = 200)]
        Ok(Json<Vec<KeyView>>),
    }
    problems {
        bearer Unauthorized,
        admin Forbidden,
        /// `immediate` is not a boolean (`invalid_request`).
        400 BadRequest,
        /// Keys come from files and are rotated by the operator
        /// (`keys_externally_managed`).
        409 Conflict,
        down Unavailable,
    }
}

answers! {
    /// The answer of `revokeKey`.
    RevokeKeyResponse {
        /// Revoked: the key left the JWKS and its tokens are refused.
        #[oai(status = 204)]
        Revoked,
    }
    problems {
        bearer Unauthorized,
        admin Forbidden,
        /// No published key has this `kid` (`key_not_found`).
        404 NotFound,
        /// Keys come from files and are revoked by the operator
        /// (`keys_externally_managed`).
        409 Conflict,
        down Unavailable,
    }
}

fn keys_view(state: &AppState) -> Vec<KeyView> {
    state
        .keys_admin
        .records()
        .iter()
        .map(KeyView::from)
        .collect()
}

#[OpenApi(prefix_path = "/v1/admin", tag = "ApiTags::Admin")]
impl AdminKeysApi {
    /// List signing keys
    ///
    /// Every key with its lifecycle state, retired ones included. Never shows private
    /// parts.
    #[oai(path = "/keys", method = "get", operation_id = "listKeys")]
    async fn list_keys(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
    ) -> poem::Result<ListResponse<Vec<KeyView>>> {
        Ok(ListResponse::Ok(Json(keys_view(&state))))
    }

    /// Rotate signing keys
    ///
    /// Generates a new key and publishes it at once. It starts signing after
    /// `keys.prepublish` (so cached JWKS catch up) — or immediately with
    /// `immediate=true`, for emergencies. Answers the keys after the change.
    #[oai(path = "/keys/rotate", method = "post", operation_id = "rotateKeys")]
    async fn rotate(
        &self,
        state: Data<&AppState>,
        req: &Request,
        _auth: AdminAuth,
        /// Sign with the new key at once instead of after the pre-publication window.
        immediate: Query<Option<bool>>,
    ) -> poem::Result<RotateResponse> {
        let immediate = immediate.0.unwrap_or(false);
        match state.keys_admin.rotate(immediate, &client_info(req)).await {
            Ok(_) => Ok(RotateResponse::Ok(Json(keys_view(&state)))),
            // Rotation names no key; a NotFound here is a bug, not the caller's error.
            Err(e @ KeyError::NotFound) => Err(internal(&e).into()),
            Err(e) => answer(e),
        }
    }

    /// Revoke a signing key
    ///
    /// For a compromised key: it leaves the JWKS, its private part is destroyed and the
    /// tokens it signed are refused. Revoking the active key promotes a new one first.
    #[oai(
        path = "/keys/:kid/revoke",
        method = "post",
        operation_id = "revokeKey"
    )]
    async fn revoke_key(
        &self,
        state: Data<&AppState>,
        req: &Request,
        _auth: AdminAuth,
        /// The key's `kid`.
        kid: Path<String>,
    ) -> poem::Result<RevokeKeyResponse> {
        match state.keys_admin.revoke(&kid.0, &client_info(req)).await {
            Ok(_) => Ok(RevokeKeyResponse::Revoked),
            Err(e) => answer(e),
        }
    }
}
