//! The caller's authenticator app (TOTP enrollment, confirmation, removal), their
//! recovery codes, and the proof asked again before either changes.

use crate::mfa::{RecoveryCode, TotpEnrollment, TotpProvisioning, TotpSecret, totp_seal_context};
use crate::notice::SecurityNotice;

use super::*;

impl SecondFactors {
    /// Starts a TOTP enrollment: a new secret, pending until [`Self::confirm_totp`]. Only
    /// from a recent sign-in, as every change of the account's factors.
    ///
    /// # Errors
    /// [`FactorError::TotpAlreadyEnabled`] when a confirmed enrollment exists;
    /// [`FactorError::ReauthenticationRequired`] for an older sign-in.
    pub async fn begin_totp(&self, claims: &Claims) -> Result<TotpProvisioning, FactorError> {
        let user = self.user_signed_in_recently(claims).await?;
        let secret = TotpSecret::generate()?;
        let provisioning = self
            .deps
            .totp
            .provisioning(&secret, user.username.as_str())?;
        let sealed = self
            .deps
            .sealer
            .seal(secret.expose(), &totp_seal_context(user.id))?;
        if !self
            .deps
            .factors
            .begin_totp(user.id, &sealed, self.core.now())
            .await?
        {
            return Err(FactorError::TotpAlreadyEnabled);
        }
        Ok(provisioning)
    }

    /// The enrollment started by [`Self::begin_totp`] and not confirmed yet, provisioned
    /// again from its sealed secret: a page that shows the QR code can show it until a
    /// code confirms it, instead of minting a new secret on every wrong code or reload.
    ///
    /// # Errors
    /// [`FactorError::NotEnrolled`] when nothing is pending.
    pub async fn pending_totp(&self, claims: &Claims) -> Result<TotpProvisioning, FactorError> {
        let user = self.user_of(claims).await?;
        let secret = self.pending_secret(user.id).await?;
        Ok(self
            .deps
            .totp
            .provisioning(&secret, user.username.as_str())?)
    }

    /// Confirms the pending enrollment with a code from the app, and hands out a new set
    /// of recovery codes (shown this once).
    ///
    /// # Errors
    /// [`FactorError::InvalidCode`] for a wrong code, [`FactorError::NotEnrolled`] when
    /// nothing is pending; [`FactorError::ReauthenticationRequired`] for an older sign-in.
    pub async fn confirm_totp(
        &self,
        claims: &Claims,
        code: &str,
        client: &ClientInfo,
    ) -> Result<Vec<RecoveryCode>, FactorError> {
        let user = self.user_signed_in_recently(claims).await?;
        let secret = self.pending_secret(user.id).await?;
        let now = self.core.now();
        let step = self
            .deps
            .totp
            .matching_step(&secret, code, now)
            .ok_or(FactorError::InvalidCode)?;
        let (codes, hashes) = self.new_recovery_codes(user.id)?;
        if !self
            .deps
            .factors
            .confirm_totp(user.id, step, &hashes, now)
            .await?
        {
            return Err(FactorError::NotEnrolled);
        }
        self.core
            .audit(AuditEvent::TotpEnabled { user: user.id }, client)
            .await;
        self.core
            .notify(&user, SecurityNotice::AuthenticatorAppAdded, client)
            .await?;
        Ok(codes)
    }

    /// Removes the authenticator app. A pending enrollment goes without proof; a
    /// confirmed one needs a current code or the password. Without a passkey left, the
    /// recovery codes go too.
    ///
    /// # Errors
    /// [`FactorError::NotEnrolled`], or the refusals of a wrong proof.
    pub async fn disable_totp(
        &self,
        claims: &Claims,
        proof: Option<Reauthentication>,
        client: &ClientInfo,
    ) -> Result<(), FactorError> {
        let user = self.user_of(claims).await?;
        let enrollment = self
            .deps
            .factors
            .totp(user.id)
            .await?
            .ok_or(FactorError::NotEnrolled)?;
        if enrollment.confirmed_at.is_some() {
            let proof = proof.ok_or(FactorError::ProofRequired)?;
            self.reauthenticate(&user, proof, client).await?;
        }
        let passkeys = self.deps.factors.summary(user.id).await?.passkeys;
        self.deps
            .factors
            .remove_totp(user.id, passkeys == 0)
            .await?;
        if enrollment.confirmed_at.is_some() {
            self.core
                .audit(AuditEvent::TotpDisabled { user: user.id }, client)
                .await;
            self.core
                .notify(&user, SecurityNotice::AuthenticatorAppRemoved, client)
                .await?;
        }
        Ok(())
    }

    /// A new set of recovery codes; the old set stops working.
    ///
    /// # Errors
    /// [`FactorError::NotEnrolled`] without a factor to recover; the refusals of a
    /// wrong proof.
    pub async fn regenerate_recovery_codes(
        &self,
        claims: &Claims,
        proof: Option<Reauthentication>,
        client: &ClientInfo,
    ) -> Result<Vec<RecoveryCode>, FactorError> {
        let user = self.user_of(claims).await?;
        if self.deps.factors.summary(user.id).await?.factors() == 0 {
            return Err(FactorError::NotEnrolled);
        }
        let proof = proof.ok_or(FactorError::ProofRequired)?;
        self.reauthenticate(&user, proof, client).await?;
        let (codes, hashes) = self.new_recovery_codes(user.id)?;
        self.deps
            .factors
            .replace_recovery_codes(user.id, &hashes, self.core.now())
            .await?;
        self.core
            .audit(
                AuditEvent::RecoveryCodesRegenerated { user: user.id },
                client,
            )
            .await;
        self.core
            .notify(&user, SecurityNotice::RecoveryCodesRegenerated, client)
            .await?;
        Ok(codes)
    }

    pub(super) fn new_recovery_codes(
        &self,
        user: UserId,
    ) -> Result<(Vec<RecoveryCode>, Vec<crate::mfa::RecoveryCodeHash>), FactorError> {
        let codes = (0..RecoveryCode::COUNT)
            .map(|_| RecoveryCode::generate())
            .collect::<anyhow::Result<Vec<_>>>()?;
        let hashes = codes
            .iter()
            .map(|c| self.deps.policy.recovery_key.hash(user, c))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok((codes, hashes))
    }

    /// Accepts a TOTP code of the user's confirmed enrollment once.
    pub(super) async fn use_totp_code(
        &self,
        user: UserId,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, Unavailable> {
        let Some(enrollment) = self.deps.factors.totp(user).await? else {
            return Ok(false);
        };
        if enrollment.confirmed_at.is_none() {
            return Ok(false);
        }
        let secret = self.open_secret(user, &enrollment)?;
        match self.deps.totp.matching_step(&secret, code, now) {
            Some(step) => Ok(self.deps.factors.use_totp_step(user, step).await?),
            None => Ok(false),
        }
    }

    /// The secret of the user's enrollment that no code has confirmed yet.
    async fn pending_secret(&self, user: UserId) -> Result<TotpSecret, FactorError> {
        let Some(enrollment) = self
            .deps
            .factors
            .totp(user)
            .await?
            .filter(|t| t.confirmed_at.is_none())
        else {
            return Err(FactorError::NotEnrolled);
        };
        Ok(self.open_secret(user, &enrollment)?)
    }

    /// The enrollment's secret, unsealed. A secret that does not open is the server's
    /// failure (a changed key-encryption key), never the user's.
    fn open_secret(
        &self,
        user: UserId,
        enrollment: &TotpEnrollment,
    ) -> Result<TotpSecret, Unavailable> {
        self.deps
            .sealer
            .open(&enrollment.sealed_secret, &totp_seal_context(user))
            .map(TotpSecret::from_bytes)
            .map_err(Unavailable::Store)
    }
}
