//! The use cases against the in-memory fakes of [`crate::testing`]: the decisions that
//! matter, in milliseconds, without HTTP, SQL, RSA or argon2.

mod accounts;
mod oidc;
mod second_factors;
