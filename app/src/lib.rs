//! Tessera, the binary's library: configuration, the composition root, the HTTP API, the
//! CLI and logging. `main.rs` only calls [`cli::run`].
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod api;
pub mod backchannel;
pub mod background;
pub mod cli;
pub mod config;
mod docs_client;
pub mod edge;
pub mod hashing;
pub mod http;
pub mod kek;
pub mod keys_admin;
pub mod observe;
pub mod oidc;
pub mod pages;
pub mod problem;
pub mod sealed_mail;
pub mod spec;
pub mod startup;
pub mod telemetry;

pub use config::Config;
pub use startup::Application;

/// The crate version: the spec's `info.version` and the `service.version` of telemetry.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
