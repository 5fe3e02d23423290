//! Password hashing: the `PasswordHasher` port the use cases call, and `Argon2id`, the
//! synchronous algorithm an adapter runs off the async workers.

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use async_trait::async_trait;

use crate::user::{Password, PasswordAttempt, PasswordHash};

/// Outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    Mismatch,
    /// The password is right; `needs_rehash` when the hash was made with other parameters
    /// (or another algorithm) than the configured ones.
    Match {
        needs_rehash: bool,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing slot is taken: the caller should answer 503 with `Retry-After`
    /// rather than queue without bound.
    #[error("password hashing is saturated")]
    Busy,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// Hashes and verifies passwords.
///
/// # Errors
/// Implementations MUST return [`HashError::Busy`] when they refuse work because their
/// bounded queue is full, and [`HashError::Unknown`] for anything else (a malformed stored
/// hash included). A wrong password is `Ok(Verification::Mismatch)`, never an error.
#[async_trait]
pub trait PasswordHasher: Send + Sync + 'static {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError>;
    async fn verify(
        &self,
        attempt: &PasswordAttempt,
        hash: &PasswordHash,
    ) -> Result<Verification, HashError>;
    /// Spends the same effort as [`Self::verify`] against a hash that matches nothing, so an
    /// unknown username costs as much time as a wrong password.
    async fn verify_dummy(&self, attempt: &PasswordAttempt) -> Result<(), HashError>;
}

/// argon2id cost parameters (RFC 9106 / OWASP: m=19456 KiB, t=2, p=1 by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// argon2id with fixed parameters. Every method is CPU-bound: call it from a blocking
/// thread, never from an async worker.
pub struct Argon2id {
    argon: Argon2<'static>,
    params: Argon2Params,
    dummy: PasswordHash,
}

impl std::fmt::Debug for Argon2id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Argon2id")
            .field("params", &self.params)
            .finish()
    }
}

impl Argon2id {
    /// Builds the hasher and its dummy hash (one hash's worth of CPU).
    ///
    /// # Errors
    /// When the parameters are out of argon2's range.
    pub fn new(params: Argon2Params) -> anyhow::Result<Self> {
        let p = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, p);
        let mut noise = [0u8; 24];
        getrandom::fill(&mut noise).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
        let dummy = argon
            .hash_password(&noise)
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
        Ok(Self {
            argon,
            params,
            dummy: PasswordHash::new(dummy.to_string()),
        })
    }

    pub fn params(&self) -> Argon2Params {
        self.params
    }

    /// Hashes with a fresh 16-byte salt into a PHC string.
    ///
    /// # Errors
    /// Only on an argon2 or OS-randomness failure.
    pub fn hash(&self, password: &str) -> anyhow::Result<PasswordHash> {
        let phc = self
            .argon
            .hash_password(password.as_bytes())
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
        Ok(PasswordHash::new(phc.to_string()))
    }

    /// Verifies against an argon2 PHC string, with the parameters the hash names.
    ///
    /// # Errors
    /// When the stored hash is not a parsable argon2 PHC string.
    pub fn verify(&self, password: &str, hash: &PasswordHash) -> anyhow::Result<Verification> {
        if is_bcrypt(hash.as_str()) {
            // Imported from another system (the Express tutorial's bcryptjs): right
            // passwords are upgraded to argon2id at once.
            return match bcrypt::verify(password, hash.as_str()) {
                Ok(true) => Ok(Verification::Match { needs_rehash: true }),
                Ok(false) => Ok(Verification::Mismatch),
                Err(e) => Err(anyhow::anyhow!("bcrypt verify: {e}")),
            };
        }
        let parsed = argon2::PasswordHash::new(hash.as_str())
            .map_err(|e| anyhow::anyhow!("stored hash is not a PHC string: {e}"))?;
        match self.argon.verify_password(password.as_bytes(), &parsed) {
            Ok(()) => Ok(Verification::Match {
                needs_rehash: !self.is_current(&parsed),
            }),
            Err(argon2::password_hash::Error::PasswordInvalid) => Ok(Verification::Mismatch),
            Err(e) => Err(anyhow::anyhow!("argon2 verify: {e}")),
        }
    }

    /// Runs a verification that cannot succeed, for unknown usernames.
    pub fn verify_dummy(&self, password: &str) {
        let _ = self.verify(password, &self.dummy);
    }

    fn is_current(&self, parsed: &argon2::PasswordHash) -> bool {
        parsed.algorithm.as_str() == "argon2id"
            && Params::try_from(parsed).is_ok_and(|p| {
                p.m_cost() == self.params.memory_kib
                    && p.t_cost() == self.params.iterations
                    && p.p_cost() == self.params.parallelism
            })
    }
}

/// Whether a stored hash is a bcrypt one (`$2a$`, `$2b$`, `$2y$`), as imported.
pub fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Argon2Params {
        Argon2Params {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[test]
    fn hashes_are_phc_argon2id_and_verify() {
        let h = Argon2id::new(cheap()).unwrap();
        let hash = h.hash("correct horse").unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert_eq!(
            h.verify("correct horse", &hash).unwrap(),
            Verification::Match {
                needs_rehash: false
            }
        );
        assert_eq!(
            h.verify("wrong horse", &hash).unwrap(),
            Verification::Mismatch
        );
    }

    #[test]
    fn a_hash_under_other_parameters_needs_rehash() {
        let old = Argon2id::new(cheap()).unwrap();
        let new = Argon2id::new(Argon2Params {
            memory_kib: 128,
            ..cheap()
        })
        .unwrap();
        let hash = old.hash("correct horse").unwrap();
        assert_eq!(
            new.verify("correct horse", &hash).unwrap(),
            Verification::Match { needs_rehash: true }
        );
    }

    #[test]
    fn imported_bcrypt_hashes_verify_and_ask_for_an_upgrade() {
        let h = Argon2id::new(cheap()).unwrap();
        // bcryptjs output for "hunter2-secret", cost 4.
        let imported = PasswordHash::new(
            bcrypt::hash("hunter2-secret", 4)
                .unwrap()
                .replace("$2b$", "$2a$"),
        );
        assert_eq!(
            h.verify("hunter2-secret", &imported).unwrap(),
            Verification::Match { needs_rehash: true }
        );
        assert_eq!(
            h.verify("wrong", &imported).unwrap(),
            Verification::Mismatch
        );
    }

    #[test]
    fn garbage_hashes_are_errors_not_matches() {
        let h = Argon2id::new(cheap()).unwrap();
        assert!(h.verify("x", &PasswordHash::new("nope".into())).is_err());
    }
}
