//! Stand-ins for the ports that do cryptography: password hashing, access and ID
//! tokens, TOTP, sealing and WebAuthn. Deterministic and transparent, so a test can
//! compute what a real client would send.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::mfa::{
    CeremonyState, NewPasskey, PasskeyRecord, PasskeyUse, SecretSealer, TotpAlgorithm,
    TotpProvisioning, TotpSecret, WebAuthn, WebAuthnError,
};
use crate::password::{HashError, PasswordHasher, Verification};
use crate::token::{
    AccessTokenSigner, AccessTokenVerifier, Claims, IdTokenSigner, SignError, TokenError,
};
use crate::user::{Password, PasswordAttempt, PasswordHash, UserId};

/// "Hashes" are the password in clear behind `plain:`. Counts dummy verifications, and
/// can say it is saturated.
#[derive(Default)]
pub struct PlainHasher {
    dummies: AtomicUsize,
    saturated: AtomicBool,
}

impl PlainHasher {
    /// The hash this hasher stores for `password`.
    pub fn hash_of(password: &str) -> PasswordHash {
        PasswordHash::new(format!("plain:{password}"))
    }

    /// How many dummy verifications (unknown or malformed usernames) ran.
    pub fn dummies(&self) -> usize {
        self.dummies.load(Ordering::SeqCst)
    }

    /// While `true`, the hasher says it is saturated.
    pub fn saturate(&self, saturated: bool) {
        self.saturated.store(saturated, Ordering::SeqCst);
    }
}

#[async_trait]
impl PasswordHasher for PlainHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        Ok(Self::hash_of(password.expose()))
    }
    async fn verify(
        &self,
        attempt: &PasswordAttempt,
        hash: &PasswordHash,
    ) -> Result<Verification, HashError> {
        Ok(if hash.as_str() == format!("plain:{}", attempt.expose()) {
            Verification::Match {
                needs_rehash: false,
            }
        } else {
            Verification::Mismatch
        })
    }
    async fn verify_dummy(&self, _: &PasswordAttempt) -> Result<(), HashError> {
        self.dummies.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
    fn is_saturated(&self) -> bool {
        self.saturated.load(Ordering::SeqCst)
    }
}

/// Access tokens are their claims as JSON; verification checks only expiry.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonTokens;

impl AccessTokenSigner for JsonTokens {
    fn sign(&self, claims: &Claims) -> Result<String, SignError> {
        serde_json::to_string(claims).map_err(|e| SignError::Unknown(e.into()))
    }
}

#[async_trait]
impl AccessTokenVerifier for JsonTokens {
    async fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let claims: Claims = serde_json::from_str(token).map_err(|_| TokenError::Malformed)?;
        if claims.exp < now.timestamp() {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// ID tokens are `idt.` and their claims as JSON; every one signed is kept.
#[derive(Default)]
pub struct FakeIdTokens(Mutex<Vec<serde_json::Value>>);

impl FakeIdTokens {
    const PREFIX: &'static str = "idt.";

    /// The claims of every ID token signed, in order.
    pub fn signed(&self) -> Vec<serde_json::Value> {
        self.0.lock().unwrap().clone()
    }

    /// The claims of an ID token this signer made.
    pub fn claims_of(token: &str) -> Option<serde_json::Value> {
        serde_json::from_str(token.strip_prefix(Self::PREFIX)?).ok()
    }
}

impl IdTokenSigner for FakeIdTokens {
    fn sign_id_token(&self, claims: &serde_json::Value) -> Result<String, SignError> {
        self.0.lock().unwrap().push(claims.clone());
        Ok(format!("{}{claims}", Self::PREFIX))
    }
    fn sign_logout_token(&self, claims: &serde_json::Value) -> Result<String, SignError> {
        self.sign_id_token(claims)
    }
    fn verify_id_token_hint(&self, token: &str) -> Option<serde_json::Value> {
        Self::claims_of(token)
    }
}

/// TOTP whose code for a step is a function of the secret and the step alone
/// ([`FakeTotp::code`]): six digits of SHA-256 over both. 30-second steps, one step of
/// skew either way, as the real algorithm.
#[derive(Debug, Default, Clone, Copy)]
pub struct FakeTotp;

impl FakeTotp {
    pub const STEP_SECONDS: i64 = 30;

    /// The code of `step` for `secret`.
    pub fn code(secret: &[u8], step: i64) -> String {
        let digest = Sha256::new()
            .chain_update(secret)
            .chain_update(step.to_be_bytes())
            .finalize();
        let mut head = [0u8; 4];
        head.copy_from_slice(&digest[..4]);
        format!("{:06}", u32::from_be_bytes(head) % 1_000_000)
    }

    /// The step `now` falls in.
    pub fn step_at(now: DateTime<Utc>) -> i64 {
        now.timestamp().div_euclid(Self::STEP_SECONDS)
    }
}

impl TotpAlgorithm for FakeTotp {
    fn provisioning(&self, secret: &TotpSecret, account: &str) -> anyhow::Result<TotpProvisioning> {
        if account.contains(':') {
            anyhow::bail!("an account name with ':' cannot be a label");
        }
        let secret_base32 = base32(secret.expose());
        Ok(TotpProvisioning {
            uri: format!("otpauth://totp/Tessera:{account}?secret={secret_base32}&issuer=Tessera"),
            secret_base32,
        })
    }

    fn matching_step(&self, secret: &TotpSecret, code: &str, now: DateTime<Utc>) -> Option<i64> {
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let at = Self::step_at(now);
        (at - 1..=at + 1).find(|step| Self::code(secret.expose(), *step) == code)
    }
}

/// RFC 4648 base32, unpadded (what authenticator apps are given).
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// "Seals" by XOR and a tag of the context: opening under another context fails, as
/// AES-GCM's authentication would.
#[derive(Debug, Default, Clone, Copy)]
pub struct FakeSealer;

impl FakeSealer {
    fn tag(context: &str) -> [u8; 8] {
        let digest = Sha256::digest(context.as_bytes());
        let mut tag = [0u8; 8];
        tag.copy_from_slice(&digest[..8]);
        tag
    }
}

impl SecretSealer for FakeSealer {
    fn seal(&self, plaintext: &[u8], context: &str) -> anyhow::Result<Vec<u8>> {
        let mut sealed = Self::tag(context).to_vec();
        sealed.extend(plaintext.iter().map(|b| b ^ 0x5a));
        Ok(sealed)
    }
    fn open(&self, sealed: &[u8], context: &str) -> anyhow::Result<Vec<u8>> {
        match sealed.split_at_checked(8) {
            Some((tag, body)) if tag == Self::tag(context) => {
                Ok(body.iter().map(|b| b ^ 0x5a).collect())
            }
            _ => anyhow::bail!("sealed under another context or key"),
        }
    }
}

/// A WebAuthn relying party without cryptography. Options carry a numbered challenge
/// (`{"publicKey": {"challenge": "c7"}}`); a credential answers them when it names the
/// same challenge. [`ScriptedWebAuthn::credential`] builds one, as an authenticator
/// would:
///
/// - a registration `{"id", "challenge"}` becomes a passkey with that credential id;
/// - an assertion `{"id", "user", "challenge", "uv", "valid"}` verifies when the
///   challenge matches, `id` is one of the passkeys offered (and, for the second step,
///   one the options allowed) and `valid` is not `false`: a forged signature is
///   `"valid": false`.
///
/// Anything else is [`WebAuthnError::Rejected`].
#[derive(Default)]
pub struct ScriptedWebAuthn {
    next: AtomicU64,
}

impl ScriptedWebAuthn {
    /// The credential an authenticator would answer `options` with: credential `id` of
    /// `user`, with user verification `uv`. Put `"valid": false` in it to forge it.
    pub fn credential(
        options: &serde_json::Value,
        id: &str,
        user: UserId,
        uv: bool,
    ) -> serde_json::Value {
        json!({
            "id": id,
            "user": user.0.to_string(),
            "challenge": options["publicKey"]["challenge"],
            "uv": uv,
            "valid": true,
        })
    }

    fn ceremony(
        &self,
        kind: &str,
        allowed: Option<Vec<String>>,
    ) -> Result<(serde_json::Value, CeremonyState), WebAuthnError> {
        let challenge = format!("c{}", self.next.fetch_add(1, Ordering::SeqCst));
        let options = json!({ "publicKey": { "challenge": challenge, "allow": allowed } });
        let state = json!({ "kind": kind, "challenge": challenge, "allow": allowed });
        Ok((options, CeremonyState(state.to_string())))
    }

    fn state(state: &CeremonyState) -> Result<serde_json::Value, WebAuthnError> {
        serde_json::from_str(&state.0)
            .map_err(|e| WebAuthnError::Unknown(anyhow::anyhow!("ceremony state: {e}")))
    }

    fn answers(credential: &serde_json::Value, state: &serde_json::Value) -> bool {
        credential["challenge"].is_string()
            && credential["challenge"] == state["challenge"]
            && credential["valid"] != json!(false)
    }
}

impl WebAuthn for ScriptedWebAuthn {
    fn start_registration(
        &self,
        _: UserId,
        _: &str,
        _: &[PasskeyRecord],
    ) -> Result<(serde_json::Value, CeremonyState), WebAuthnError> {
        self.ceremony("registration", None)
    }

    fn finish_registration(
        &self,
        credential: &serde_json::Value,
        state: &CeremonyState,
    ) -> Result<NewPasskey, WebAuthnError> {
        let state = Self::state(state)?;
        let id = credential["id"].as_str().filter(|id| !id.is_empty());
        match id {
            Some(id) if state["kind"] == "registration" && Self::answers(credential, &state) => {
                Ok(NewPasskey {
                    credential_id: id.to_owned(),
                    data: json!({ "id": id }).to_string(),
                    backup_eligible: false,
                    backup_state: false,
                })
            }
            _ => Err(WebAuthnError::Rejected),
        }
    }

    fn start_authentication(
        &self,
        passkeys: &[PasskeyRecord],
    ) -> Result<(serde_json::Value, CeremonyState), WebAuthnError> {
        let allowed = passkeys.iter().map(|p| p.credential_id.clone()).collect();
        self.ceremony("authentication", Some(allowed))
    }

    fn start_discoverable(&self) -> Result<(serde_json::Value, CeremonyState), WebAuthnError> {
        self.ceremony("discoverable", None)
    }

    fn claimed_credential(
        &self,
        credential: &serde_json::Value,
    ) -> Result<(UserId, String), WebAuthnError> {
        let user = credential["user"]
            .as_str()
            .and_then(|u| uuid::Uuid::parse_str(u).ok())
            .ok_or(WebAuthnError::Rejected)?;
        let id = credential["id"].as_str().ok_or(WebAuthnError::Rejected)?;
        Ok((UserId(user), id.to_owned()))
    }

    fn finish_authentication(
        &self,
        credential: &serde_json::Value,
        state: &CeremonyState,
        passkeys: &[PasskeyRecord],
    ) -> Result<PasskeyUse, WebAuthnError> {
        let state = Self::state(state)?;
        let id = credential["id"].as_str().ok_or(WebAuthnError::Rejected)?;
        let allowed = match state["allow"].as_array() {
            Some(allow) => allow.iter().any(|a| a == id),
            None => state["kind"] == "discoverable",
        };
        let passkey = passkeys.iter().find(|p| p.credential_id == id);
        match passkey {
            Some(p) if allowed && Self::answers(credential, &state) => Ok(PasskeyUse {
                credential_id: p.credential_id.clone(),
                data: p.data.clone(),
                sign_count: p.sign_count + 1,
                backup_state: p.backup_state,
                user_verified: credential["uv"] == json!(true),
            }),
            _ => Err(WebAuthnError::Rejected),
        }
    }
}
