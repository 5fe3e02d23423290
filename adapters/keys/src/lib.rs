//! Tessera's RS256 keys: generation, sealing under the key-encryption key, the in-memory
//! key ring that signs and verifies access tokens, rotation, and JWKS rendering.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod files;
mod material;
mod ring;
mod rotation;
mod seal;

pub use material::{KeyMaterial, PublicJwk, RsaBits};
pub use ring::{KeyError, KeyRing, KeyRingHandle};
pub use rotation::KeyEvent;
pub use seal::Kek;

/// Makes aws-lc-rs the process-wide jsonwebtoken backend. jsonwebtoken panics at the first
/// verification when it cannot tell which backend to use (none or both features on after
/// workspace feature unification); installing it explicitly removes the guess. Idempotent.
pub fn install_crypto_provider() {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
}
