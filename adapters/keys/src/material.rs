//! RSA key material: generation (CPU-heavy: call it off the async workers), the public
//! JWK, and the RFC 7638 thumbprint used as `kid`.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tessera_domain::keys::{KeyState, SigningKeyRecord};

use crate::seal::Kek;

/// Supported RSA modulus sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub enum RsaBits {
    #[default]
    B2048,
    B3072,
    B4096,
}

impl TryFrom<u32> for RsaBits {
    type Error = String;
    fn try_from(v: u32) -> Result<Self, String> {
        match v {
            2048 => Ok(Self::B2048),
            3072 => Ok(Self::B3072),
            4096 => Ok(Self::B4096),
            _ => Err(format!("rsa_bits must be 2048, 3072 or 4096, not {v}")),
        }
    }
}

impl From<RsaBits> for u32 {
    fn from(b: RsaBits) -> u32 {
        match b {
            RsaBits::B2048 => 2048,
            RsaBits::B3072 => 3072,
            RsaBits::B4096 => 4096,
        }
    }
}

/// A public RSA key as a JWK (RFC 7517), as published in the JWKS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    pub kty: String,
    pub kid: String,
    #[serde(rename = "use")]
    pub use_: String,
    pub alg: String,
    pub n: String,
    pub e: String,
}

/// A private key with its public half and `kid`.
pub struct KeyMaterial {
    pub(crate) pair: KeyPair,
    pub(crate) jwk: PublicJwk,
}

impl std::fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("kid", &self.jwk.kid)
            .finish_non_exhaustive()
    }
}

impl KeyMaterial {
    /// Generates a key pair (tens to hundreds of milliseconds of CPU).
    ///
    /// # Errors
    /// On a crypto-library failure.
    pub fn generate(bits: RsaBits) -> anyhow::Result<Self> {
        let size = match bits {
            RsaBits::B2048 => KeySize::Rsa2048,
            RsaBits::B3072 => KeySize::Rsa3072,
            RsaBits::B4096 => KeySize::Rsa4096,
        };
        let pair = KeyPair::generate(size).map_err(|_| anyhow::anyhow!("RSA generation failed"))?;
        Ok(Self::from_pair(pair))
    }

    /// Parses a PKCS#8 DER private key.
    ///
    /// # Errors
    /// When the bytes are not an acceptable RSA private key.
    pub fn from_pkcs8(der: &[u8]) -> anyhow::Result<Self> {
        let pair = KeyPair::from_pkcs8(der).map_err(|e| anyhow::anyhow!("bad RSA key: {e}"))?;
        Ok(Self::from_pair(pair))
    }

    /// Parses a PKCS#1 DER RSA private key.
    ///
    /// # Errors
    /// When the bytes are not an acceptable RSA private key.
    pub fn from_pkcs1(der: &[u8]) -> anyhow::Result<Self> {
        let pair = KeyPair::from_der(der).map_err(|e| anyhow::anyhow!("bad RSA key: {e}"))?;
        Ok(Self::from_pair(pair))
    }

    /// The private key as PKCS#8 PEM (for the files source and operators' tooling).
    ///
    /// # Errors
    /// When the key cannot be exported.
    pub fn to_pkcs8_pem(&self) -> anyhow::Result<String> {
        let der = AsDer::<Pkcs8V1Der>::as_der(&self.pair)
            .map_err(|_| anyhow::anyhow!("cannot export key"))?;
        Ok(pem::encode(&pem::Pem::new(
            "PRIVATE KEY",
            der.as_ref().to_vec(),
        )))
    }

    fn from_pair(pair: KeyPair) -> Self {
        let c = PublicKeyComponents::<Vec<u8>>::from(pair.public_key());
        let n = URL_SAFE_NO_PAD.encode(&c.n);
        let e = URL_SAFE_NO_PAD.encode(&c.e);
        let kid = thumbprint(&n, &e);
        Self {
            pair,
            jwk: PublicJwk {
                kty: "RSA".into(),
                kid,
                use_: "sig".into(),
                alg: "RS256".into(),
                n,
                e,
            },
        }
    }

    pub fn kid(&self) -> &str {
        &self.jwk.kid
    }

    pub fn jwk(&self) -> &PublicJwk {
        &self.jwk
    }

    /// An RSASSA-PKCS1-v1_5 SHA-256 signature of `message` (the JWS `RS256` primitive).
    ///
    /// # Errors
    /// On a crypto-library failure.
    pub fn sign_rs256(&self, message: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(|_| anyhow::anyhow!("RSA signing failed"))?;
        Ok(signature)
    }

    /// The record to store: public JWK in the clear, private part sealed under `kek`.
    ///
    /// # Errors
    /// On a serialisation or sealing failure.
    pub fn to_record(
        &self,
        kek: &Kek,
        state: KeyState,
        now: DateTime<Utc>,
    ) -> anyhow::Result<SigningKeyRecord> {
        let der = AsDer::<Pkcs8V1Der>::as_der(&self.pair)
            .map_err(|_| anyhow::anyhow!("cannot export key"))?;
        Ok(SigningKeyRecord {
            kid: self.jwk.kid.clone(),
            seq: 0,
            algorithm: "RS256".into(),
            state,
            public_jwk: serde_json::to_string(&self.jwk)?,
            private_sealed: Some(kek.seal(der.as_ref(), &self.jwk.kid)?),
            created_at: now,
            activated_at: (state == KeyState::Active).then_some(now),
            retiring_at: None,
            retired_at: None,
        })
    }

    /// Recovers the material from a stored record.
    ///
    /// # Errors
    /// When the private part is gone, cannot be opened with `kek`, or does not match the
    /// record's `kid`.
    pub fn from_record(record: &SigningKeyRecord, kek: &Kek) -> anyhow::Result<Self> {
        let sealed = record
            .private_sealed
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("key {} has no private part", record.kid))?;
        let der = kek.open(sealed, &record.kid)?;
        let material = Self::from_pkcs8(&der)?;
        if material.kid() != record.kid {
            anyhow::bail!("key {} does not match its thumbprint", record.kid);
        }
        Ok(material)
    }
}

/// RFC 7638 JWK thumbprint: SHA-256 over the required members in lexicographic order.
fn thumbprint(n: &str, e: &str) -> String {
    let canonical = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        canonical.as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        // RFC 7638 §3.1.
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        assert_eq!(
            thumbprint(n, "AQAB"),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn a_record_round_trips_through_the_kek() {
        let kek = Kek::generate().unwrap();
        let m = KeyMaterial::generate(RsaBits::B2048).unwrap();
        let rec = m.to_record(&kek, KeyState::Active, Utc::now()).unwrap();
        assert_eq!(KeyMaterial::from_record(&rec, &kek).unwrap().kid(), m.kid());
        assert!(KeyMaterial::from_record(&rec, &Kek::generate().unwrap()).is_err());
    }
}
