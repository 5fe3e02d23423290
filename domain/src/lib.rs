//! Tessera's domain: users, credentials, token policy, sessions, revocation and signing-key
//! lifecycle, the ports the adapters implement, and the use cases the HTTP edge calls.
//!
//! Nothing here performs I/O. Time arrives through [`clock::Clock`], storage through the
//! ports in [`ports`], and CPU-heavy work (argon2, RSA) is scheduled by the caller.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod auth;
pub mod clock;
pub mod delivery;
pub mod email;
pub mod keys;
pub mod mfa;
pub mod notice;
pub mod oidc;
pub mod opaque;
pub mod password;
pub mod ports;
pub mod revocation;
pub mod session;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod throttle;
pub mod token;
pub mod user;

pub use clock::{Clock, ManualClock, SystemClock};
