//! `/v1/admin/*`: signing keys and users, for bearers with the `admin` role.
//!
//! One file per resource: [`keys`], [`users`], [`audit`], [`clients`]. What they share: the
//! answers of a listing and a page, and paging.

mod audit;
mod clients;
mod keys;
mod users;

use poem_openapi::payload::Json;

use crate::api::responses::{answers, bad_request};

pub use audit::AdminAuditApi;
pub use audit::{AuditEntry, AuditPage};
pub use clients::AdminClientsApi;
pub use keys::AdminKeysApi;
pub use keys::{KeyStateView, KeyView};
pub use users::AdminUsersApi;
pub use users::{AdminUserView, UserPage};

answers! {
    /// The answer of `listKeys`.
    ListResponse<T> {
        /// The listing.
        #[oai(status = 200)]
        Ok(Json<T>),
    }
    problems {
        bearer Unauthorized,
        admin Forbidden,
        down Unavailable,
    }
}

answers! {
    /// The answer of a paged listing (users, audit events).
    #[oai(bad_request_handler = "bad_request")]
    PageResponse<T> {
        /// One page.
        #[oai(status = 200)]
        Ok(Json<T>),
    }
    problems {
        bearer Unauthorized,
        admin Forbidden,
        /// A query parameter does not parse (`invalid_request`).
        400 BadRequest,
        down Unavailable,
    }
}

/// `page` and `per_page` with their defaults (both bounded by their validators), and the
/// offset they give.
fn paging(page: Option<u64>, per_page: Option<u64>) -> (u64, u64, u64) {
    let page = page.unwrap_or(1).max(1);
    let per_page = per_page.unwrap_or(50).clamp(1, 200);
    // The validators bound both, so the offset cannot overflow a signed 64-bit bind.
    (page, per_page, (page - 1).saturating_mul(per_page))
}
