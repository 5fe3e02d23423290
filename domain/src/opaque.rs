//! Opaque bearer secrets — refresh tokens, mailed links, sign-in challenges: 256 random
//! bits in base64url for the client, and the BLAKE2b-256 digest the store keeps instead
//! (a database dump yields none of them).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use blake2::{Blake2b256, Digest};

/// A fresh secret: 32 random bytes, base64url (43 characters).
///
/// # Errors
/// Only when the OS has no randomness to give.
pub fn random() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether `raw` can be one of ours: 43 base64url characters.
pub fn is_well_formed(raw: &str) -> bool {
    raw.len() == 43 && URL_SAFE_NO_PAD.decode(raw).is_ok()
}

/// What the store keeps of a secret.
pub(crate) fn digest(raw: &str) -> String {
    URL_SAFE_NO_PAD.encode(Blake2b256::digest(raw.as_bytes()))
}

/// Whether two secrets' forms (digests, MACs) are equal, in time that depends on their
/// length only, so a comparison leaks nothing of where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Declares an opaque secret's type: the client's form, `from_client` (refusing anything
/// that cannot be one of ours), `expose`, and a `Debug` that never prints it. Generating
/// one and what the store keeps of it are each type's own.
macro_rules! opaque_secret {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// `None` for anything that cannot be one of ours (43 base64url characters).
            pub fn from_client(raw: &str) -> Option<Self> {
                $crate::opaque::is_well_formed(raw).then(|| Self(raw.to_owned()))
            }

            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}
pub(crate) use opaque_secret;
