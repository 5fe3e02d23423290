//! Second factors: what the use cases know of TOTP (RFC 6238), recovery codes and
//! passkeys (WebAuthn), the short-lived challenges that connect the two login steps and
//! the WebAuthn ceremonies, the RFC 8176 `amr` values a login earns, and the ports that
//! keep them ([`FactorStore`], [`ChallengeStore`]) and do their cryptography
//! ([`TotpAlgorithm`], [`WebAuthn`], in `tessera-mfa`).
//!
//! A challenge token is 256 random bits handed to the client and stored only as a hash,
//! like refresh tokens and mailed links. Recovery codes are 60 random bits each, stored
//! as a MAC under a server key: a database dump alone redeems none of them.

use std::fmt;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use blake2::digest::{KeyInit, Mac};
use blake2::{Blake2b256, Blake2bMac512, Digest};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ports::StoreError;
use crate::user::{PasswordHash, UserId};

/// How the user proved who they are (RFC 8176), as the access token's `amr` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// A password.
    Pwd,
    /// A one-time code: TOTP or a recovery code.
    Otp,
    /// A key held by an authenticator: a passkey.
    Hwk,
    /// More than one factor, or a passkey with user verification (possession plus a PIN
    /// or biometric).
    Mfa,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pwd => "pwd",
            Self::Otp => "otp",
            Self::Hwk => "hwk",
            Self::Mfa => "mfa",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pwd" => Self::Pwd,
            "otp" => Self::Otp,
            "hwk" => Self::Hwk,
            "mfa" => Self::Mfa,
            _ => return None,
        })
    }

    /// A stored list (`"pwd otp mfa"`); unknown words are dropped.
    pub fn parse_list(s: &str) -> Vec<Self> {
        s.split_whitespace().filter_map(Self::parse).collect()
    }

    pub fn join(methods: &[Self]) -> String {
        methods
            .iter()
            .map(|m| m.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A way to complete the second step of a login, as `methods` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    Totp,
    RecoveryCode,
    Webauthn,
}

impl SecondFactor {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
            Self::Webauthn => "webauthn",
        }
    }
}

/// What a user has enrolled, as far as logging in is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FactorSummary {
    /// A confirmed TOTP enrollment (a pending one does not count).
    pub totp: bool,
    pub passkeys: u32,
    pub recovery_codes_left: u32,
}

impl FactorSummary {
    /// Whether a password alone no longer logs in.
    pub fn requires_second_step(&self) -> bool {
        self.totp || self.passkeys > 0
    }

    /// The second steps this user can take, in the order a client should offer them.
    pub fn methods(&self) -> Vec<SecondFactor> {
        let mut methods = Vec::new();
        if self.totp {
            methods.push(SecondFactor::Totp);
        }
        if self.passkeys > 0 {
            methods.push(SecondFactor::Webauthn);
        }
        if self.recovery_codes_left > 0 {
            methods.push(SecondFactor::RecoveryCode);
        }
        methods
    }

    /// How many factors a removal would leave: recovery codes are no factor of their own.
    pub fn factors(&self) -> u32 {
        u32::from(self.totp) + self.passkeys
    }
}

/// A TOTP shared secret: at least 160 random bits. Never logged; sealed at rest.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl TotpSecret {
    /// 20 bytes (160 bits, RFC 4226's recommendation) from the OS.
    ///
    /// # Errors
    /// Only when the OS has no randomness to give.
    pub fn generate() -> anyhow::Result<Self> {
        let mut bytes = vec![0u8; 20];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
        Ok(Self(bytes))
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

/// Seals secrets at rest (AES-256-GCM under the key-encryption key), each bound to a
/// context so a sealed value cannot be moved to another row.
pub trait SecretSealer: Send + Sync + 'static {
    /// # Errors
    /// Only when the OS has no randomness to give.
    fn seal(&self, plaintext: &[u8], context: &str) -> anyhow::Result<Vec<u8>>;
    /// # Errors
    /// When `sealed` was not sealed under this key and context.
    fn open(&self, sealed: &[u8], context: &str) -> anyhow::Result<Vec<u8>>;
}

/// The context a user's TOTP secret is sealed under.
pub fn totp_seal_context(user: UserId) -> String {
    format!("tessera totp secret v1\0{}", user.0)
}

/// A user's TOTP enrollment as stored: the secret sealed ([`SecretSealer`]).
#[derive(Debug, Clone)]
pub struct TotpEnrollment {
    pub sealed_secret: Vec<u8>,
    pub created_at: DateTime<Utc>,
    /// `None` until a code proved the authenticator has the secret.
    pub confirmed_at: Option<DateTime<Utc>>,
}

/// What an authenticator app is given to enroll: the secret in base32 and the
/// `otpauth://` URI a QR code carries.
#[derive(Clone)]
pub struct TotpProvisioning {
    pub secret_base32: String,
    pub uri: String,
}

impl fmt::Debug for TotpProvisioning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpProvisioning(<redacted>)")
    }
}

/// The RFC 6238 arithmetic: SHA-1, 6 digits, 30-second steps, one step of skew either
/// way — what authenticator apps implement.
pub trait TotpAlgorithm: Send + Sync + 'static {
    /// The secret in base32 and the `otpauth://totp/<issuer>:<account>?…` URI.
    ///
    /// # Errors
    /// When `account` cannot appear in a URI label (it contains `:`).
    fn provisioning(&self, secret: &TotpSecret, account: &str) -> anyhow::Result<TotpProvisioning>;
    /// The time step (seconds since the epoch / 30) among the one at `now` and its two
    /// neighbours whose code is `code`; `None` when none is, or `code` is not 6 digits.
    fn matching_step(&self, secret: &TotpSecret, code: &str, now: DateTime<Utc>) -> Option<i64>;
}

/// A recovery code as shown to its user once: 12 characters of Crockford's base32 in
/// three groups (`7k2m-q9xd-4hcw`), 60 random bits. Never stored, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

impl RecoveryCode {
    pub const COUNT: usize = 10;

    /// A fresh random code.
    ///
    /// # Errors
    /// Only when the OS has no randomness to give.
    pub fn generate() -> anyhow::Result<Self> {
        let mut bytes = [0u8; 12];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
        let chars: Vec<char> = bytes
            .iter()
            .map(|b| char::from(CROCKFORD[usize::from(b & 31)]))
            .collect();
        let groups: Vec<String> = chars.chunks(4).map(|g| g.iter().collect()).collect();
        Ok(Self(groups.join("-")))
    }

    /// A code as typed: case, spaces and hyphens do not matter, and the letters people
    /// confuse with digits (`i`, `l`, `o`) read as the digits. `None` for anything that
    /// cannot be a code.
    pub fn from_client(raw: &str) -> Option<Self> {
        let mut out = String::with_capacity(12);
        for c in raw.chars() {
            let c = match c.to_ascii_lowercase() {
                ' ' | '-' => continue,
                'i' | 'l' => '1',
                'o' => '0',
                c if CROCKFORD.contains(&(c as u8)) && c.is_ascii() => c,
                _ => return None,
            };
            out.push(c);
            if out.len() > 12 {
                return None;
            }
        }
        (out.len() == 12).then_some(Self(out))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn compact(&self) -> String {
        self.0.replace('-', "")
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(<redacted>)")
    }
}

/// What the store keeps of a recovery code: a MAC under the server's key, bound to the
/// user, base64url.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecoveryCodeHash(pub String);

/// Hashes recovery codes under a server secret (derived from the key-encryption key).
#[derive(Clone)]
pub struct RecoveryCodeKey([u8; 32]);

impl fmt::Debug for RecoveryCodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCodeKey(<secret>)")
    }
}

impl RecoveryCodeKey {
    pub fn new(secret: [u8; 32]) -> Self {
        Self(secret)
    }

    /// # Errors
    /// Never in practice: the key length is fixed and valid for BLAKE2b.
    pub fn hash(&self, user: UserId, code: &RecoveryCode) -> anyhow::Result<RecoveryCodeHash> {
        let mut mac = <Blake2bMac512 as KeyInit>::new_from_slice(&self.0)
            .map_err(|e| anyhow::anyhow!("recovery code key: {e}"))?;
        mac.update(b"tessera recovery code v1\0");
        mac.update(user.0.as_bytes());
        mac.update(code.compact().as_bytes());
        let out = mac.finalize().into_bytes();
        let head = out.get(..32).ok_or_else(|| anyhow::anyhow!("short MAC"))?;
        Ok(RecoveryCodeHash(URL_SAFE_NO_PAD.encode(head)))
    }
}

crate::opaque::opaque_secret! {
    /// The token of a challenge (a pending second step, a passkey sign-in): 256 random bits,
    /// base64url. Never stored, never logged.
    ChallengeToken
}

impl ChallengeToken {
    /// # Errors
    /// Only when the OS has no randomness to give.
    pub fn generate() -> anyhow::Result<Self> {
        crate::opaque::random().map(Self)
    }

    pub fn id(&self) -> ChallengeId {
        ChallengeId(crate::opaque::digest(&self.0))
    }
}

/// How the store names a challenge: the hash of its token, or — for a passkey
/// registration, one per user — a name derived from the user.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChallengeId(pub String);

impl ChallengeId {
    /// The one pending passkey registration of `user` (a new one replaces it).
    pub fn registration_of(user: UserId) -> Self {
        Self(format!("reg:{}", user.0))
    }
}

/// What a challenge is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengePurpose {
    /// The second step of a login: the password was right.
    SecondStep,
    PasskeyRegistration,
    PasskeySignIn,
    /// A signed-in user's passkey assertion proving it is them again (a step-up).
    StepUp,
}

impl ChallengePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SecondStep => "second_step",
            Self::PasskeyRegistration => "passkey_reg",
            Self::PasskeySignIn => "passkey_login",
            Self::StepUp => "step_up",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "second_step" => Self::SecondStep,
            "passkey_reg" => Self::PasskeyRegistration,
            "passkey_login" => Self::PasskeySignIn,
            "step_up" => Self::StepUp,
            _ => return None,
        })
    }
}

/// A WebAuthn ceremony's server-side state between its two requests, as the WebAuthn
/// adapter serialised it: opaque to everyone else.
#[derive(Clone, PartialEq, Eq)]
pub struct CeremonyState(pub String);

impl fmt::Debug for CeremonyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CeremonyState(..)")
    }
}

/// A short-lived, single-use challenge as stored.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub id: ChallengeId,
    pub purpose: ChallengePurpose,
    pub user: Option<UserId>,
    /// What the challenge is bound to: for a second step, a digest of the client and of
    /// the password hash that was checked (a password change or reset meanwhile kills
    /// it).
    pub binding: Option<String>,
    pub state: Option<CeremonyState>,
    /// Proofs tried so far (admitted before they are checked).
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl Challenge {
    pub fn is_live(&self, policy: &MfaPolicy, now: DateTime<Utc>) -> bool {
        now < self.expires_at && self.attempts < policy.max_attempts
    }
}

/// The digest a second-step challenge is bound to: the client as the edge saw it and
/// the password hash the first step checked.
pub fn second_step_binding(client: &crate::session::ClientInfo, hash: &PasswordHash) -> String {
    let mut d = Blake2b256::new();
    d.update(b"tessera second step v1\0");
    d.update(client.ip.as_deref().unwrap_or_default().as_bytes());
    d.update(b"\0");
    d.update(client.user_agent.as_deref().unwrap_or_default().as_bytes());
    d.update(b"\0");
    d.update(hash.as_str().as_bytes());
    URL_SAFE_NO_PAD.encode(d.finalize())
}

/// Lifetimes and budgets of second factors.
#[derive(Debug, Clone)]
pub struct MfaPolicy {
    /// How long an `mfa_token` lives (default 5 minutes).
    pub challenge_ttl: TimeDelta,
    /// Wrong proofs that end an `mfa_token` (default 5).
    pub max_attempts: u32,
    /// How long a WebAuthn ceremony may take (default 5 minutes).
    pub ceremony_ttl: TimeDelta,
    pub recovery_key: RecoveryCodeKey,
}

impl MfaPolicy {
    pub fn new(recovery_key: RecoveryCodeKey) -> Self {
        Self {
            challenge_ttl: TimeDelta::minutes(5),
            max_attempts: 5,
            ceremony_ttl: TimeDelta::minutes(5),
            recovery_key,
        }
    }
}

/// A passkey as stored: the WebAuthn adapter's credential (opaque JSON) and what the
/// account pages show of it.
#[derive(Debug, Clone)]
pub struct PasskeyRecord {
    pub id: Uuid,
    pub user: UserId,
    pub name: PasskeyName,
    /// The credential id, base64url.
    pub credential_id: String,
    pub data: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub sign_count: u32,
    pub backup_eligible: bool,
    pub backup_state: bool,
}

/// A passkey's label: 1–64 characters, trimmed, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyName(String);

impl PasskeyName {
    /// # Errors
    /// When empty after trimming, longer than 64 characters, or with control characters.
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let name = raw.trim();
        if name.is_empty() || name.chars().count() > 64 {
            return Err("a passkey name is 1 to 64 characters");
        }
        if name.chars().any(char::is_control) {
            return Err("a passkey name has no control characters");
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A credential a registration ceremony produced.
#[derive(Debug, Clone)]
pub struct NewPasskey {
    pub credential_id: String,
    pub data: String,
    pub backup_eligible: bool,
    pub backup_state: bool,
}

/// What a verified assertion says.
#[derive(Debug, Clone)]
pub struct PasskeyUse {
    pub credential_id: String,
    /// The credential with its counter and backup state brought up to date.
    pub data: String,
    pub sign_count: u32,
    pub backup_state: bool,
    pub user_verified: bool,
}

/// Why a WebAuthn ceremony failed.
#[derive(Debug, thiserror::Error)]
pub enum WebAuthnError {
    /// The client's JSON does not parse, or does not verify (wrong origin or challenge,
    /// bad signature, unknown credential, replayed counter…): 4xx, with no detail.
    #[error("the credential was refused")]
    Rejected,
    #[error(transparent)]
    Unknown(#[from] anyhow::Error),
}

/// The WebAuthn relying party (`tessera-mfa`, over webauthn-rs): starts and finishes
/// ceremonies. Options go to the browser as the JSON `navigator.credentials` takes
/// (`{"publicKey": …}`); the state stays on the server.
///
/// # Errors
/// Finishing MUST return [`WebAuthnError::Rejected`] for every credential that does not
/// parse or verify, and `Unknown` only for the server's own failures.
pub trait WebAuthn: Send + Sync + 'static {
    /// Options for a new discoverable credential of `user`, excluding `existing`.
    fn start_registration(
        &self,
        user: UserId,
        username: &str,
        existing: &[PasskeyRecord],
    ) -> Result<(serde_json::Value, CeremonyState), WebAuthnError>;
    fn finish_registration(
        &self,
        credential: &serde_json::Value,
        state: &CeremonyState,
    ) -> Result<NewPasskey, WebAuthnError>;
    /// Options for an assertion by one of `passkeys` (the second step).
    fn start_authentication(
        &self,
        passkeys: &[PasskeyRecord],
    ) -> Result<(serde_json::Value, CeremonyState), WebAuthnError>;
    /// Options for an assertion by any discoverable credential (passwordless sign-in).
    fn start_discoverable(&self) -> Result<(serde_json::Value, CeremonyState), WebAuthnError>;
    /// The user and credential id an assertion claims, before it is verified.
    fn claimed_credential(
        &self,
        credential: &serde_json::Value,
    ) -> Result<(UserId, String), WebAuthnError>;
    /// Verifies an assertion against the ceremony it answers and the user's passkeys.
    fn finish_authentication(
        &self,
        credential: &serde_json::Value,
        state: &CeremonyState,
        passkeys: &[PasskeyRecord],
    ) -> Result<PasskeyUse, WebAuthnError>;
}

/// Second factors as stored: TOTP enrollments (their secret sealed), recovery codes by
/// MAC, passkeys.
///
/// # Errors
/// Every method MUST return [`StoreError::Unavailable`] when the store cannot be reached;
/// `add_passkey` MUST return [`StoreError::Conflict`] when the credential id is stored
/// already (for any user).
#[async_trait]
pub trait FactorStore: Send + Sync + 'static {
    async fn summary(&self, user: UserId) -> Result<FactorSummary, StoreError>;
    async fn totp(&self, user: UserId) -> Result<Option<TotpEnrollment>, StoreError>;
    /// Stores a pending enrollment, replacing a pending one; `false` (and nothing
    /// written) when a confirmed one exists.
    async fn begin_totp(
        &self,
        user: UserId,
        sealed_secret: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Confirms the pending enrollment with the step its code matched, and replaces the
    /// recovery codes, in one transaction; `false` when nothing was pending.
    async fn confirm_totp(
        &self,
        user: UserId,
        step: i64,
        codes: &[RecoveryCodeHash],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Accepts `step` for the user's confirmed enrollment if it is later than every step
    /// accepted before, in one conditional statement: of concurrent callers presenting
    /// the same code (on any instance) exactly one gets `true`.
    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool, StoreError>;
    /// Removes the enrollment (pending or confirmed); with `and_codes`, the recovery
    /// codes too. Returns whether an enrollment existed.
    async fn remove_totp(&self, user: UserId, and_codes: bool) -> Result<bool, StoreError>;
    async fn replace_recovery_codes(
        &self,
        user: UserId,
        codes: &[RecoveryCodeHash],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Marks the code used if it is the user's and unused: `true` for exactly one caller.
    async fn use_recovery_code(
        &self,
        user: UserId,
        code: &RecoveryCodeHash,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    async fn add_passkey(&self, passkey: &PasskeyRecord) -> Result<(), StoreError>;
    /// The user's passkeys, oldest first.
    async fn passkeys(&self, user: UserId) -> Result<Vec<PasskeyRecord>, StoreError>;
    /// Records a verified assertion: the credential's new data and counter, and when.
    async fn record_passkey_use(
        &self,
        id: Uuid,
        used: &PasskeyUse,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    async fn rename_passkey(
        &self,
        user: UserId,
        id: Uuid,
        name: &PasskeyName,
    ) -> Result<Option<PasskeyRecord>, StoreError>;
    async fn remove_passkey(&self, user: UserId, id: Uuid) -> Result<bool, StoreError>;
    /// Removes every factor and recovery code of the user.
    async fn remove_all(&self, user: UserId) -> Result<(), StoreError>;
}

/// Short-lived, single-use challenges, shared by every instance.
///
/// # Errors
/// Every method MUST return [`StoreError::Unavailable`] when the store cannot be reached.
#[async_trait]
pub trait ChallengeStore: Send + Sync + 'static {
    /// Stores a challenge, replacing one of the same id.
    async fn put(&self, challenge: &Challenge) -> Result<(), StoreError>;
    async fn find(&self, id: &ChallengeId) -> Result<Option<Challenge>, StoreError>;
    /// Attaches a ceremony's state to a live challenge; `false` if it is gone.
    async fn set_state(
        &self,
        id: &ChallengeId,
        state: &CeremonyState,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Admits one more proof if fewer than `max` were tried and the challenge has not
    /// expired, in one conditional statement: of concurrent callers at most `max` in all
    /// are ever admitted.
    async fn admit_attempt(
        &self,
        id: &ChallengeId,
        max: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Deletes the challenge if it has not expired: `true` for exactly one caller.
    async fn consume(&self, id: &ChallengeId, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Deletes challenges that expired before `before`; returns how many.
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_typable_and_forgiving_and_hashed_per_user() {
        let code = RecoveryCode::generate().unwrap();
        assert_eq!(code.expose().len(), 14);
        assert_eq!(code.expose().matches('-').count(), 2);
        let typed = code.expose().to_uppercase().replace('-', " ");
        assert_eq!(
            RecoveryCode::from_client(&typed).unwrap(),
            code_compact(&code)
        );
        assert!(RecoveryCode::from_client("abc").is_none());
        assert!(RecoveryCode::from_client("aaaa-aaaa-aaaa-a").is_none());
        assert!(RecoveryCode::from_client("aaaa-aaaa-aaa!").is_none());
        assert_eq!(
            RecoveryCode::from_client("OIL0-0000-0000")
                .unwrap()
                .expose(),
            "011000000000"
        );
        let key = RecoveryCodeKey::new([3; 32]);
        let (a, b) = (UserId::new_random(), UserId::new_random());
        assert_ne!(key.hash(a, &code).unwrap(), key.hash(b, &code).unwrap());
        assert_eq!(
            key.hash(a, &code).unwrap(),
            key.hash(a, &code_compact(&code)).unwrap()
        );
        assert!(!format!("{code:?}").contains(code.expose()));
    }

    fn code_compact(code: &RecoveryCode) -> RecoveryCode {
        RecoveryCode(code.compact())
    }

    #[test]
    fn methods_follow_what_is_enrolled() {
        let none = FactorSummary::default();
        assert!(!none.requires_second_step());
        let totp = FactorSummary {
            totp: true,
            passkeys: 0,
            recovery_codes_left: 3,
        };
        assert!(totp.requires_second_step());
        assert_eq!(
            totp.methods(),
            vec![SecondFactor::Totp, SecondFactor::RecoveryCode]
        );
        let codes_only = FactorSummary {
            recovery_codes_left: 10,
            ..none
        };
        assert!(!codes_only.requires_second_step());
        assert_eq!(AuthMethod::parse_list("pwd otp x mfa").len(), 3);
        assert_eq!(
            AuthMethod::join(&[AuthMethod::Pwd, AuthMethod::Hwk]),
            "pwd hwk"
        );
    }

    #[test]
    fn passkey_names_are_bounded() {
        assert!(PasskeyName::parse("  ").is_err());
        assert!(PasskeyName::parse(&"x".repeat(65)).is_err());
        assert!(PasskeyName::parse("a\u{7}b").is_err());
        assert_eq!(PasskeyName::parse(" Laptop ").unwrap().as_str(), "Laptop");
    }
}
