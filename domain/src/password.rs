//! Password hashing: the `PasswordHasher` port the use cases call, and `Argon2id`, the
//! synchronous algorithm an adapter runs off the async workers.

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

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
    /// Whether a hash asked for now would be refused [`HashError::Busy`]: a cheap,
    /// advisory look, so that a flood is turned away at the door instead of after the
    /// database work that precedes the hash (the hash itself still decides).
    fn is_saturated(&self) -> bool {
        false
    }
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

/// A reusable argon2 work area. Each hashing thread keeps one, so the `memory_kib` of
/// every hash is allocated once per thread instead of once per hash (which, under load,
/// leaves the allocator's per-thread arenas holding many copies).
#[derive(Default)]
pub struct Workspace(Vec<Block>);

impl Workspace {
    fn blocks(&mut self, params: &Params) -> &mut [Block] {
        let n = params.block_count();
        if self.0.len() < n {
            self.0.resize(n, Block::default());
        }
        &mut self.0[..n]
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
        let mut this = Self {
            argon,
            params,
            dummy: PasswordHash::new(String::new()),
        };
        this.dummy = this.hash_in(&URL_SAFE_NO_PAD.encode(noise), &mut Workspace::default())?;
        Ok(this)
    }

    /// Hashes with a fresh 16-byte salt into a PHC string.
    ///
    /// # Errors
    /// Only on an argon2 or OS-randomness failure.
    pub fn hash(&self, password: &str) -> anyhow::Result<PasswordHash> {
        self.hash_in(password, &mut Workspace::default())
    }

    /// [`Self::hash`] in a caller-kept work area.
    ///
    /// # Errors
    /// Only on an argon2 or OS-randomness failure.
    pub fn hash_in(&self, password: &str, ws: &mut Workspace) -> anyhow::Result<PasswordHash> {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
        let mut out = [0u8; 32];
        let params = self.argon.params().clone();
        self.argon
            .hash_password_into_with_memory(
                password.as_bytes(),
                &salt,
                &mut out,
                ws.blocks(&params),
            )
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
        let phc = argon2::PasswordHash {
            algorithm: argon2::ARGON2ID_IDENT,
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(|e| anyhow::anyhow!("argon2: {e}"))?,
            salt: Some(Salt::new(&salt).map_err(|e| anyhow::anyhow!("argon2: {e}"))?),
            hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("argon2: {e}"))?),
        };
        Ok(PasswordHash::new(phc.to_string()))
    }

    /// Verifies against a stored hash (argon2 with the parameters it names, or an
    /// imported bcrypt hash).
    ///
    /// # Errors
    /// When the stored hash is not a parsable PHC or bcrypt string.
    pub fn verify(&self, password: &str, hash: &PasswordHash) -> anyhow::Result<Verification> {
        self.verify_in(password, hash, &mut Workspace::default())
    }

    /// [`Self::verify`] in a caller-kept work area.
    ///
    /// # Errors
    /// When the stored hash is not a parsable PHC or bcrypt string.
    pub fn verify_in(
        &self,
        password: &str,
        hash: &PasswordHash,
        ws: &mut Workspace,
    ) -> anyhow::Result<Verification> {
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
        let algorithm = Algorithm::try_from(parsed.algorithm.as_str())
            .map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        let version = parsed
            .version
            .map(Version::try_from)
            .transpose()
            .map_err(|e| anyhow::anyhow!("stored hash: {e}"))?
            .unwrap_or_default();
        let params = Params::try_from(&parsed).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
            anyhow::bail!("stored hash lacks a salt or an output");
        };
        let expected: &[u8] = expected.as_ref();
        let mut out = vec![0u8; expected.len()];
        Argon2::new(algorithm, version, params.clone())
            .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, ws.blocks(&params))
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
        // Constant time: how much of the output matches must not show in the timing.
        let diff = out
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        if diff != 0 {
            return Ok(Verification::Mismatch);
        }
        Ok(Verification::Match {
            needs_rehash: !self.is_current(&parsed),
        })
    }

    /// Runs a verification that cannot succeed, for unknown usernames.
    pub fn verify_dummy(&self, password: &str, ws: &mut Workspace) {
        let _ = self.verify_in(password, &self.dummy, ws);
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
