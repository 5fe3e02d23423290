//! The caller's passkeys: registering one, naming, listing and removing them (the last
//! factor only from a recent sign-in).

use crate::mfa::{ChallengeId, ChallengePurpose, PasskeyName, PasskeyRecord};
use crate::notice::SecurityNotice;

use super::*;

impl SecondFactors {
    /// WebAuthn creation options for a new passkey of the caller. One registration is
    /// pending per user: a new one replaces it.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be written.
    pub async fn passkey_registration_options(
        &self,
        claims: &Claims,
    ) -> Result<serde_json::Value, FactorError> {
        let user = self.user_signed_in_recently(claims).await?;
        let existing = self.deps.factors.passkeys(user.id).await?;
        let (options, state) =
            self.deps
                .webauthn
                .start_registration(user.id, user.username.as_str(), &existing)?;
        self.open_ceremony(
            ChallengeId::registration_of(user.id),
            ChallengePurpose::PasskeyRegistration,
            Some(user.id),
            state,
        )
        .await?;
        Ok(options)
    }

    /// Finishes the pending registration and stores the passkey under `name`. The
    /// account's first second factor comes with recovery codes.
    ///
    /// # Errors
    /// [`FactorError::InvalidCredential`] when nothing is pending or the credential does
    /// not verify; [`FactorError::PasskeyExists`] for a credential stored already;
    /// [`FactorError::ReauthenticationRequired`] for an older sign-in.
    pub async fn add_passkey(
        &self,
        claims: &Claims,
        name: PasskeyName,
        credential: &serde_json::Value,
        client: &ClientInfo,
    ) -> Result<AddedPasskey, FactorError> {
        let user = self.user_signed_in_recently(claims).await?;
        let now = self.core.now();
        let id = ChallengeId::registration_of(user.id);
        let challenge = self
            .deps
            .challenges
            .find(&id)
            .await?
            .filter(|c| c.is_live(&self.deps.policy, now))
            .ok_or(FactorError::InvalidCredential)?;
        let state = challenge
            .state
            .as_ref()
            .ok_or(FactorError::InvalidCredential)?;
        if !self.deps.challenges.consume(&id, now).await? {
            return Err(FactorError::InvalidCredential);
        }
        let new = self.deps.webauthn.finish_registration(credential, state)?;
        let record = PasskeyRecord {
            id: uuid::Uuid::new_v4(),
            user: user.id,
            name,
            credential_id: new.credential_id,
            data: new.data,
            created_at: now,
            last_used_at: None,
            sign_count: 0,
            backup_eligible: new.backup_eligible,
            backup_state: new.backup_state,
        };
        let first = self.deps.factors.summary(user.id).await?.factors() == 0;
        match self.deps.factors.add_passkey(&record).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => return Err(FactorError::PasskeyExists),
            Err(e) => return Err(e.into()),
        }
        // No factor without a way back: the account's first second factor, a passkey as
        // much as an authenticator app, comes with recovery codes (shown this once).
        let recovery_codes = if first {
            let (codes, hashes) = self.new_recovery_codes(user.id)?;
            self.deps
                .factors
                .replace_recovery_codes(user.id, &hashes, now)
                .await?;
            codes
        } else {
            Vec::new()
        };
        self.core
            .audit(AuditEvent::PasskeyAdded { user: user.id }, client)
            .await;
        self.core
            .notify(&user, SecurityNotice::PasskeyAdded, client)
            .await?;
        Ok(AddedPasskey {
            passkey: record,
            recovery_codes,
        })
    }

    /// The caller's passkeys, oldest first.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be read.
    pub async fn passkeys(&self, claims: &Claims) -> Result<Vec<PasskeyRecord>, FactorError> {
        Ok(self.deps.factors.passkeys(claims.sub).await?)
    }

    /// # Errors
    /// [`FactorError::PasskeyNotFound`] when `id` is not one of the caller's passkeys.
    pub async fn rename_passkey(
        &self,
        claims: &Claims,
        id: uuid::Uuid,
        name: PasskeyName,
    ) -> Result<PasskeyRecord, FactorError> {
        self.deps
            .factors
            .rename_passkey(claims.sub, id, &name)
            .await?
            .ok_or(FactorError::PasskeyNotFound)
    }

    /// Removes one of the caller's passkeys, only from a recent sign-in (the token's
    /// `auth_time` within the reauthentication window), whichever passkey it is: a stolen
    /// token can neither strip the account of its factors one by one nor remove the
    /// owner's passkey after adding its own. Without a factor left, the recovery codes go
    /// too.
    ///
    /// # Errors
    /// [`FactorError::PasskeyNotFound`]; [`FactorError::ReauthenticationRequired`].
    pub async fn remove_passkey(
        &self,
        claims: &Claims,
        id: uuid::Uuid,
        client: &ClientInfo,
    ) -> Result<(), FactorError> {
        let user = self.user_signed_in_recently(claims).await?;
        let passkeys = self.deps.factors.passkeys(user.id).await?;
        if !passkeys.iter().any(|p| p.id == id) {
            return Err(FactorError::PasskeyNotFound);
        }
        let summary = self.deps.factors.summary(user.id).await?;
        let now = self.core.now();
        if !self.deps.factors.remove_passkey(user.id, id).await? {
            return Err(FactorError::PasskeyNotFound);
        }
        if summary.factors() == 1 {
            self.deps
                .factors
                .replace_recovery_codes(user.id, &[], now)
                .await?;
        }
        self.core
            .audit(AuditEvent::PasskeyRemoved { user: user.id }, client)
            .await;
        self.core
            .notify(&user, SecurityNotice::PasskeyRemoved, client)
            .await?;
        Ok(())
    }
}
