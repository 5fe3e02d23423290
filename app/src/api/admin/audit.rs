//! `/v1/admin/audit`: the audit trail, newest first.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use tessera_domain::user::UserId;
use uuid::Uuid;

use super::{PageResponse, paging};
use crate::api::responses::answer;
use crate::api::{AdminAuth, ApiTags};
use crate::edge::AppState;

/// `/v1/admin/audit` operations.
pub struct AdminAuditApi;

/// A recorded security event.
#[derive(Debug, Object)]
#[oai(example)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// `login_succeeded`, `login_failed`, `lockout`, `refresh_reuse`, `logout`,
    /// `logout_all`, `session_revoked`, `password_changed`, `password_change_failed`,
    /// `token_revoked`,
    /// `registered`, `user_disabled`, `key_rotated`, `key_revoked`, `email_verified`,
    /// `email_change_requested`, `password_reset_requested`, `password_reset`,
    /// `totp_enabled`, `totp_disabled`, `recovery_codes_regenerated`,
    /// `recovery_code_used`, `second_factor_failed`, `reauthenticated`,
    /// `reauthentication_failed`,
    /// `passkey_added`, `passkey_removed`, `factors_reset`, `client_created`,
    /// `client_deleted`, `consent_granted`, `consent_revoked`, `code_exchanged`,
    /// `code_reused`.
    pub event: String,
    #[oai(skip_serializing_if_is_none)]
    pub user_id: Option<Uuid>,
    #[oai(skip_serializing_if_is_none)]
    pub ip: Option<String>,
    #[oai(skip_serializing_if_is_none)]
    pub user_agent: Option<String>,
    /// Event particulars (never a password or a token).
    pub detail: serde_json::Value,
}

/// One page of audit events, newest first.
#[derive(Debug, Object)]
#[oai(example)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    pub page: u64,
    pub per_page: u64,
    pub total: u64,
}

#[OpenApi(prefix_path = "/v1/admin", tag = "ApiTags::Admin")]
impl AdminAuditApi {
    /// Audit log
    ///
    /// Security events, newest first, optionally for one user and/or one event name.
    #[oai(path = "/audit", method = "get", operation_id = "listAuditEvents")]
    async fn audit(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
        /// Only this user's events.
        user: Query<Option<Uuid>>,
        /// Only events of this name.
        event: Query<Option<String>>,
        /// 1-based page number, at most 1,000,000 (default 1).
        #[oai(validator(minimum(value = "1"), maximum(value = "1000000")))]
        page: Query<Option<u64>>,
        /// Events per page, 1–200 (default 50).
        #[oai(validator(minimum(value = "1"), maximum(value = "200")))]
        per_page: Query<Option<u64>>,
    ) -> poem::Result<PageResponse<AuditPage>> {
        let (page, per_page, offset) = paging(page.0, per_page.0);
        let listed = state
            .accounts
            .audit_events(user.0.map(UserId), event.0.as_deref(), offset, per_page)
            .await;
        match listed {
            Ok((records, total)) => Ok(PageResponse::Ok(Json(AuditPage {
                items: records
                    .into_iter()
                    .map(|r| AuditEntry {
                        at: r.at,
                        event: r.event,
                        user_id: r.user.map(|u| u.0),
                        ip: r.client.ip,
                        user_agent: r.client.user_agent,
                        detail: serde_json::from_str(&r.detail).unwrap_or_default(),
                    })
                    .collect(),
                page,
                per_page,
                total,
            }))),
            Err(e) => answer(e),
        }
    }
}
