//! One black-box test binary: each module drives the real application over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;

mod account;
mod account_safety;
mod auth;
mod backchannel;
mod backends;
mod device;
mod docs;
mod edge;
mod email;
mod errors;
mod fuzz;
mod hardening;
mod keys;
mod mfa;
mod notices;
mod oauth;
mod observability;
mod oidc;
mod oidc_review;
mod pages;
mod passkeys;
mod register;
mod restart;
mod sdk;
mod security;
mod sessions;
mod spec;
mod tokens;
