//! The edge: what every inbound door shares — the JSON API (`crate::api`), the hosted
//! pages (`crate::pages`) and the OpenID endpoints (`crate::oidc`). None of those imports
//! another; each imports from here:
//!
//! - [`state`]: the application state a request reaches;
//! - [`browser`]: cookie names and the CSRF key of the browser-facing doors;
//! - [`client`]: who is asking (address behind trusted proxies, user agent);
//! - [`gate`]: admission per action — the client's bucket and the password door;
//! - [`refusal`]: every domain error as a problem (status, code, headers);
//! - [`factors`]: second-factor words and counts the API and the pages share.

pub mod browser;
pub mod client;
pub mod factors;
pub mod gate;
pub mod refusal;
pub mod state;

pub use client::{client_info, client_ip};
pub use gate::{Action, Admission, admit};
pub use refusal::RETRY_AFTER_SECS;
pub use state::{AppState, MailState, SharedState};

/// The answer to every password-reset request, on the API and the page alike: the same
/// words whether or not the address belongs to an account.
pub const RESET_ACCEPTED: &str =
    "If this is the verified address of an account, a link to choose a new password is on its way.";
