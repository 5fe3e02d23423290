//! Tessera's second factors: [`Totp`], the RFC 6238 arithmetic (totp-rs), and
//! [`PasskeyParty`], the WebAuthn relying party (webauthn-rs) that starts and finishes
//! passkey ceremonies. Neither keeps state: the store keeps enrollments, passkeys and the
//! ceremonies' state between their two requests (serialised here, opaque elsewhere).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tessera_domain::mfa::{
    CeremonyState, NewPasskey, PasskeyRecord, PasskeyUse, TotpAlgorithm, TotpProvisioning,
    TotpSecret, WebAuthn, WebAuthnError,
};
use tessera_domain::user::UserId;
use totp_rs::{Algorithm, Builder};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Webauthn, WebauthnBuilder,
};

/// TOTP as authenticator apps implement it: SHA-1, 6 digits, 30 s, ±1 step.
#[derive(Debug, Clone)]
pub struct Totp {
    issuer: String,
}

impl Totp {
    /// `issuer` names the service in the app (`[webauthn] rp_name`).
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into().replace(':', " "),
        }
    }

    fn build(&self, secret: &TotpSecret, account: &str) -> anyhow::Result<totp_rs::Totp> {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(6)
            .with_skew(1)
            .with_step_duration(30)
            .with_secret(secret.expose().to_vec())
            .with_account_name(account)
            .with_issuer(Some(self.issuer.as_str()))
            .build()
            .map_err(|e| anyhow::anyhow!("TOTP parameters: {e:?}"))
    }
}

impl TotpAlgorithm for Totp {
    fn provisioning(&self, secret: &TotpSecret, account: &str) -> anyhow::Result<TotpProvisioning> {
        let totp = self.build(secret, account)?;
        let uri = totp
            .to_url()
            .map_err(|e| anyhow::anyhow!("otpauth URI: {e:?}"))?;
        Ok(TotpProvisioning {
            secret_base32: totp.secret().to_base32(),
            uri,
        })
    }

    fn matching_step(&self, secret: &TotpSecret, code: &str, now: DateTime<Utc>) -> Option<i64> {
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let time = u64::try_from(now.timestamp()).ok()?;
        // The account name plays no part in the code.
        let totp = self.build(secret, "-").ok()?;
        totp.check(code, time)
            .and_then(|step| i64::try_from(step).ok())
    }
}

/// Where passkeys may be created and used.
#[derive(Debug, Clone)]
pub struct RelyingParty {
    /// The domain credentials are scoped to (`example.com`, `localhost`).
    pub id: String,
    pub name: String,
    /// The web origins allowed to run ceremonies (scheme, host and port), each on
    /// `id` or a subdomain of it.
    pub origins: Vec<Url>,
}

/// A ceremony's state between its two requests.
#[derive(Serialize, Deserialize)]
enum Ceremony {
    Registration(PasskeyRegistration),
    Authentication(PasskeyAuthentication),
    Discoverable(DiscoverableAuthentication),
}

/// The WebAuthn relying party.
pub struct PasskeyParty {
    webauthn: Webauthn,
}

impl std::fmt::Debug for PasskeyParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasskeyParty")
    }
}

fn rejected<E>(_: E) -> WebAuthnError {
    WebAuthnError::Rejected
}

fn unknown(e: impl std::fmt::Debug) -> WebAuthnError {
    WebAuthnError::Unknown(anyhow::anyhow!("webauthn: {e:?}"))
}

fn encode_state(c: &Ceremony) -> Result<CeremonyState, WebAuthnError> {
    serde_json::to_string(c).map(CeremonyState).map_err(unknown)
}

fn decode_state(s: &CeremonyState) -> Result<Ceremony, WebAuthnError> {
    serde_json::from_str(&s.0).map_err(unknown)
}

/// Options as `navigator.credentials` takes them: `{"publicKey": …}`, nothing else (the
/// client decides on mediation: a button, or autofill).
fn options(value: impl Serialize) -> Result<serde_json::Value, WebAuthnError> {
    let mut json = serde_json::to_value(value).map_err(unknown)?;
    if let Some(obj) = json.as_object_mut() {
        obj.remove("mediation");
    }
    Ok(json)
}

impl PasskeyParty {
    /// # Errors
    /// When there is no origin, or an origin is not on the relying party's domain.
    pub fn new(rp: &RelyingParty) -> anyhow::Result<Self> {
        let (first, rest) = rp
            .origins
            .split_first()
            .ok_or_else(|| anyhow::anyhow!("webauthn: at least one origin is needed"))?;
        let mut builder = WebauthnBuilder::new(&rp.id, first)
            .map_err(|e| anyhow::anyhow!("webauthn: rp_id {:?} with origin {first}: {e}", rp.id))?
            .rp_name(&rp.name);
        for origin in rest {
            builder = builder.append_allowed_origin(origin);
        }
        let webauthn = builder
            .build()
            .map_err(|e| anyhow::anyhow!("webauthn: {e}"))?;
        Ok(Self { webauthn })
    }

    fn stored(record: &PasskeyRecord) -> Result<Passkey, WebAuthnError> {
        serde_json::from_str(&record.data).map_err(unknown)
    }
}

impl WebAuthn for PasskeyParty {
    fn start_registration(
        &self,
        user: UserId,
        username: &str,
        existing: &[PasskeyRecord],
    ) -> Result<(serde_json::Value, CeremonyState), WebAuthnError> {
        let exclude = existing
            .iter()
            .filter_map(|p| URL_SAFE_NO_PAD.decode(&p.credential_id).ok())
            .collect::<Vec<_>>();
        let (ccr, state) = self
            .webauthn
            .start_passkey_registration(user.0, username, username, Some(exclude))
            .map_err(unknown)?;
        let mut json = options(&ccr)?;
        // Discoverable credentials, so the passkey alone signs in. webauthn-rs asks for
        // "discouraged" and accepts whatever comes back; asking is what matters.
        if let Some(sel) = json
            .pointer_mut("/publicKey/authenticatorSelection")
            .and_then(|v| v.as_object_mut())
        {
            sel.insert("residentKey".into(), "required".into());
            sel.insert("requireResidentKey".into(), true.into());
        }
        Ok((json, encode_state(&Ceremony::Registration(state))?))
    }

    fn finish_registration(
        &self,
        credential: &serde_json::Value,
        state: &CeremonyState,
    ) -> Result<NewPasskey, WebAuthnError> {
        let Ceremony::Registration(state) = decode_state(state)? else {
            return Err(WebAuthnError::Rejected);
        };
        let reg: RegisterPublicKeyCredential =
            serde_json::from_value(credential.clone()).map_err(rejected)?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(&reg, &state)
            .map_err(rejected)?;
        let data = serde_json::to_value(&passkey).map_err(unknown)?;
        let flag = |name: &str| {
            data.pointer(&format!("/cred/{name}"))
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false)
        };
        Ok(NewPasskey {
            credential_id: URL_SAFE_NO_PAD.encode(passkey.cred_id()),
            backup_eligible: flag("backup_eligible"),
            backup_state: flag("backup_state"),
            data: data.to_string(),
        })
    }

    fn start_authentication(
        &self,
        passkeys: &[PasskeyRecord],
    ) -> Result<(serde_json::Value, CeremonyState), WebAuthnError> {
        let keys = passkeys
            .iter()
            .map(Self::stored)
            .collect::<Result<Vec<_>, _>>()?;
        let (rcr, state) = self
            .webauthn
            .start_passkey_authentication(&keys)
            .map_err(unknown)?;
        Ok((
            options(&rcr)?,
            encode_state(&Ceremony::Authentication(state))?,
        ))
    }

    fn start_discoverable(&self) -> Result<(serde_json::Value, CeremonyState), WebAuthnError> {
        let (rcr, state) = self
            .webauthn
            .start_discoverable_authentication()
            .map_err(unknown)?;
        Ok((
            options(&rcr)?,
            encode_state(&Ceremony::Discoverable(state))?,
        ))
    }

    fn claimed_credential(
        &self,
        credential: &serde_json::Value,
    ) -> Result<(UserId, String), WebAuthnError> {
        let pkc: PublicKeyCredential =
            serde_json::from_value(credential.clone()).map_err(rejected)?;
        let (user, cred_id) = self
            .webauthn
            .identify_discoverable_authentication(&pkc)
            .map_err(rejected)?;
        Ok((UserId(user), URL_SAFE_NO_PAD.encode(cred_id)))
    }

    fn finish_authentication(
        &self,
        credential: &serde_json::Value,
        state: &CeremonyState,
        passkeys: &[PasskeyRecord],
    ) -> Result<PasskeyUse, WebAuthnError> {
        let pkc: PublicKeyCredential =
            serde_json::from_value(credential.clone()).map_err(rejected)?;
        let presented = URL_SAFE_NO_PAD.encode(pkc.get_credential_id());
        let record = passkeys
            .iter()
            .find(|p| p.credential_id == presented)
            .ok_or(WebAuthnError::Rejected)?;
        let mut passkey = Self::stored(record)?;
        let result = match decode_state(state)? {
            Ceremony::Authentication(state) => self
                .webauthn
                .finish_passkey_authentication(&pkc, &state)
                .map_err(rejected)?,
            Ceremony::Discoverable(state) => self
                .webauthn
                .finish_discoverable_authentication_v2(&pkc, state, &passkey)
                .map_err(rejected)?,
            Ceremony::Registration(_) => return Err(WebAuthnError::Rejected),
        };
        passkey.update_credential(&result);
        Ok(PasskeyUse {
            credential_id: presented,
            data: serde_json::to_string(&passkey).map_err(unknown)?,
            sign_count: result.counter(),
            backup_state: result.backup_state(),
            user_verified: result.user_verified(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_their_step_and_its_neighbours_only() {
        // RFC 6238 appendix B's SHA-1 secret, truncated to 6 digits.
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        let totp = Totp::new("Tessera");
        let at = DateTime::<Utc>::from_timestamp(59, 0).unwrap();
        assert_eq!(totp.matching_step(&secret, "287082", at), Some(1));
        let next = DateTime::<Utc>::from_timestamp(89, 0).unwrap();
        assert_eq!(totp.matching_step(&secret, "287082", next), Some(1));
        let later = DateTime::<Utc>::from_timestamp(120, 0).unwrap();
        assert_eq!(totp.matching_step(&secret, "287082", later), None);
        assert_eq!(totp.matching_step(&secret, "28708", at), None);
        assert_eq!(totp.matching_step(&secret, "２８７０８２", at), None);
        let p = totp.provisioning(&secret, "alice").unwrap();
        assert!(
            p.uri.starts_with("otpauth://totp/Tessera:alice?"),
            "{}",
            p.uri
        );
        assert!(p.uri.contains("issuer=Tessera"), "{}", p.uri);
        assert_eq!(p.secret_base32, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn origins_must_be_on_the_relying_party() {
        let rp = |origin: &str| RelyingParty {
            id: "example.com".into(),
            name: "Tessera".into(),
            origins: vec![Url::parse(origin).unwrap()],
        };
        assert!(PasskeyParty::new(&rp("https://auth.example.com")).is_ok());
        assert!(PasskeyParty::new(&rp("https://example.org")).is_err());
    }
}
