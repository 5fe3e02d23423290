//! The key-encryption key and AES-256-GCM sealing of private keys at rest.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

/// A 256-bit key-encryption key. Never printed.
#[derive(Clone)]
pub struct Kek([u8; 32]);

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kek(<redacted>)")
    }
}

const SEAL_VERSION: u8 = 1;

impl Kek {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A fresh random key.
    ///
    /// # Errors
    /// When the OS has no randomness.
    pub fn generate() -> anyhow::Result<Self> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| anyhow::anyhow!("no OS randomness"))?;
        Ok(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// A 32-byte subkey for `purpose`, so one configured secret serves several uses
    /// without one use's output revealing another's key.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &self.0);
        let tag = aws_lc_rs::hmac::sign(&key, purpose.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// `version ‖ nonce ‖ ciphertext+tag`; `aad` binds the blob to its key id.
    ///
    /// # Errors
    /// On a crypto-library failure.
    pub fn seal(&self, plaintext: &[u8], aad: &str) -> anyhow::Result<Vec<u8>> {
        let key = self.aead_key()?;
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| anyhow::anyhow!("no OS randomness"))?;
        let mut buf = plaintext.to_vec();
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad.as_bytes()),
            &mut buf,
        )
        .map_err(|_| anyhow::anyhow!("seal failed"))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Reverses [`Self::seal`].
    ///
    /// # Errors
    /// When the blob was sealed under another key, for another `aad`, or was altered.
    pub fn open(&self, sealed: &[u8], aad: &str) -> anyhow::Result<Vec<u8>> {
        let (version, rest) = sealed
            .split_first()
            .ok_or_else(|| anyhow::anyhow!("empty sealed blob"))?;
        if *version != SEAL_VERSION || rest.len() < NONCE_LEN {
            anyhow::bail!("unknown sealed-blob format");
        }
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| anyhow::anyhow!("bad nonce"))?;
        let mut buf = ct.to_vec();
        let plain = self
            .aead_key()?
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buf)
            .map_err(|_| {
                anyhow::anyhow!("cannot decrypt a signing key: wrong key-encryption key?")
            })?;
        Ok(plain.to_vec())
    }

    fn aead_key(&self) -> anyhow::Result<LessSafeKey> {
        let unbound = UnboundKey::new(&AES_256_GCM, &self.derive("tessera signing-key seal v1"))
            .map_err(|_| anyhow::anyhow!("bad AEAD key"))?;
        Ok(LessSafeKey::new(unbound))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_blobs_open_only_with_the_same_key_and_aad() {
        let kek = Kek::generate().unwrap();
        let blob = kek.seal(b"secret", "kid-1").unwrap();
        assert!(!blob.windows(6).any(|w| w == b"secret"));
        assert_eq!(kek.open(&blob, "kid-1").unwrap(), b"secret");
        assert!(kek.open(&blob, "kid-2").is_err());
        assert!(Kek::generate().unwrap().open(&blob, "kid-1").is_err());
        assert!(!format!("{kek:?}").contains(&format!("{:?}", kek.as_bytes())));
    }
}
