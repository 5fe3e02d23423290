//! The second step of a login whose password was right (a TOTP code, a recovery code
//! or a passkey assertion), and passkey sign-in without a password.

use crate::mfa::{
    AuthMethod, Challenge, ChallengePurpose, FactorSummary, PasskeyRecord, second_step_binding,
};
use crate::throttle::LimitError;

use super::*;

impl SecondFactors {
    /// Opens the second step of a login whose password was right.
    pub(crate) async fn open_second_step(
        &self,
        user: &User,
        checked_hash: &PasswordHash,
        summary: FactorSummary,
        client: &ClientInfo,
    ) -> Result<SecondStepChallenge, LoginError> {
        let now = self.core.now();
        let token = ChallengeToken::generate()?;
        self.deps
            .challenges
            .put(&Challenge {
                id: token.id(),
                purpose: ChallengePurpose::SecondStep,
                user: Some(user.id),
                binding: Some(second_step_binding(client, checked_hash)),
                state: None,
                attempts: 0,
                created_at: now,
                expires_at: now + self.deps.policy.challenge_ttl,
            })
            .await?;
        Ok(SecondStepChallenge {
            token,
            methods: summary.methods(),
            expires_in: self.deps.policy.challenge_ttl.num_seconds(),
        })
    }

    /// The live challenge for `purpose` that `token` names.
    pub(super) async fn live_challenge(
        &self,
        token: &str,
        purpose: ChallengePurpose,
    ) -> Result<Challenge, SecondStepError> {
        let token = ChallengeToken::from_client(token).ok_or(SecondStepError::InvalidChallenge)?;
        let now = self.core.now();
        self.deps
            .challenges
            .find(&token.id())
            .await?
            .filter(|c| c.purpose == purpose && c.is_live(&self.deps.policy, now))
            .ok_or(SecondStepError::InvalidChallenge)
    }

    /// The live second-step challenge `token` names, and its user, if the client and
    /// the account's password are still the ones the first step saw.
    async fn second_step(
        &self,
        token: &str,
        client: &ClientInfo,
    ) -> Result<(Challenge, User), SecondStepError> {
        let challenge = self
            .live_challenge(token, ChallengePurpose::SecondStep)
            .await?;
        let user_id = challenge.user.ok_or(SecondStepError::InvalidChallenge)?;
        let user = self
            .core
            .enabled_user(user_id)
            .await?
            .ok_or(SecondStepError::InvalidChallenge)?;
        if challenge.binding.as_deref() != Some(&second_step_binding(client, &user.password_hash)) {
            return Err(SecondStepError::InvalidChallenge);
        }
        Ok((challenge, user))
    }

    /// WebAuthn request options for the second step: an assertion by one of the user's
    /// passkeys. The ceremony's state is kept with the challenge.
    ///
    /// # Errors
    /// [`SecondStepError::InvalidChallenge`] as for [`Self::complete_second_step`];
    /// [`SecondStepError::NoPasskey`] when the account has none.
    pub async fn second_step_webauthn_options(
        &self,
        token: &str,
        client: &ClientInfo,
    ) -> Result<serde_json::Value, SecondStepError> {
        let (challenge, user) = self.second_step(token, client).await?;
        let passkeys = self.deps.factors.passkeys(user.id).await?;
        if passkeys.is_empty() {
            return Err(SecondStepError::NoPasskey);
        }
        let (options, state) = self.deps.webauthn.start_authentication(&passkeys)?;
        if !self
            .deps
            .challenges
            .set_state(&challenge.id, &state, self.core.now())
            .await?
        {
            return Err(SecondStepError::InvalidChallenge);
        }
        Ok(options)
    }

    /// Completes a login's second step and starts the session.
    ///
    /// Each proof is a counted attempt of the account's failure budget (the password's
    /// attempt is still counted too): only a successful second step resets it. The
    /// challenge admits `max_attempts` proofs in all, and is used up by the one that
    /// succeeds.
    ///
    /// # Errors
    /// [`SecondStepError::InvalidChallenge`] for an unusable `mfa_token`,
    /// [`SecondStepError::InvalidCode`] for a wrong proof, `Throttled` while the account
    /// is locked.
    pub async fn complete_second_step(
        &self,
        token: &str,
        proof: SecondStepProof,
        client: &ClientInfo,
    ) -> Result<TokenPair, SecondStepError> {
        let (challenge, user) = self.second_step(token, client).await?;
        let account = user.username.canonical();
        let lock = match self.core.reserve_attempt(&account).await {
            Ok(lock) => lock,
            Err(LimitError::Throttled(secs)) => return Err(SecondStepError::Throttled(secs)),
            Err(LimitError::Unavailable(e)) => return Err(Unavailable::Limiter(e).into()),
        };
        let now = self.core.now();
        if !self
            .deps
            .challenges
            .admit_attempt(&challenge.id, self.deps.policy.max_attempts, now)
            .await?
        {
            return Err(SecondStepError::InvalidChallenge);
        }
        let method = match &proof {
            SecondStepProof::Totp(_) => SecondFactor::Totp,
            SecondStepProof::RecoveryCode(_) => SecondFactor::RecoveryCode,
            SecondStepProof::Webauthn(_) => SecondFactor::Webauthn,
        };
        let Some(amr) = self
            .check_second_factor(&user, &challenge, proof, client)
            .await?
        else {
            let event = AuditEvent::SecondFactorFailed {
                user: user.id,
                method: method.as_str(),
            };
            self.core
                .failed_attempt(event, &account, lock, client)
                .await;
            return Err(SecondStepError::InvalidCode);
        };
        if !self.consume(&challenge).await? {
            return Err(SecondStepError::InvalidChallenge);
        }
        let _ = self.core.deps().limiter.record_success(&account).await;
        Ok(self
            .core
            .start_session(&user, Some(&user.password_hash), amr, client)
            .await?)
    }

    /// Checks one proof of the second step: the `amr` it earns, or `None` when wrong.
    async fn check_second_factor(
        &self,
        user: &User,
        challenge: &Challenge,
        proof: SecondStepProof,
        client: &ClientInfo,
    ) -> Result<Option<Vec<AuthMethod>>, SecondStepError> {
        let now = self.core.now();
        match proof {
            SecondStepProof::Totp(code) => {
                let accepted = self.use_totp_code(user.id, &code, now).await?;
                Ok(accepted.then(|| vec![AuthMethod::Pwd, AuthMethod::Otp, AuthMethod::Mfa]))
            }
            SecondStepProof::RecoveryCode(code) => {
                if !self
                    .use_recovery_code::<SecondStepError>(user.id, &code, client)
                    .await?
                {
                    return Ok(None);
                }
                Ok(Some(vec![
                    AuthMethod::Pwd,
                    AuthMethod::Otp,
                    AuthMethod::Mfa,
                ]))
            }
            SecondStepProof::Webauthn(credential) => {
                let Some(state) = &challenge.state else {
                    return Ok(None);
                };
                let passkeys = self.deps.factors.passkeys(user.id).await?;
                if self
                    .verify_assertion(&credential, state, &passkeys)
                    .await?
                    .is_none()
                {
                    return Ok(None);
                }
                Ok(Some(vec![
                    AuthMethod::Pwd,
                    AuthMethod::Hwk,
                    AuthMethod::Mfa,
                ]))
            }
        }
    }

    /// Verifies an assertion against `passkeys` and records the use: whether the user
    /// was verified (PIN or biometric), or `None` when the assertion was refused.
    pub(super) async fn verify_assertion(
        &self,
        credential: &serde_json::Value,
        state: &crate::mfa::CeremonyState,
        passkeys: &[PasskeyRecord],
    ) -> Result<Option<bool>, SecondStepError> {
        let used = match self
            .deps
            .webauthn
            .finish_authentication(credential, state, passkeys)
        {
            Ok(used) => used,
            Err(crate::mfa::WebAuthnError::Rejected) => return Ok(None),
            Err(crate::mfa::WebAuthnError::Unknown(e)) => return Err(e.into()),
        };
        let Some(record) = passkeys
            .iter()
            .find(|p| p.credential_id == used.credential_id)
        else {
            return Ok(None);
        };
        self.deps
            .factors
            .record_passkey_use(record.id, &used, self.core.now())
            .await?;
        Ok(Some(used.user_verified))
    }

    /// WebAuthn request options for passwordless sign-in, and the challenge id that
    /// names the ceremony (single use, `ceremony_ttl`).
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be written.
    pub async fn passkey_sign_in_options(
        &self,
    ) -> Result<(ChallengeToken, serde_json::Value), SecondStepError> {
        let token = ChallengeToken::generate()?;
        let (options, state) = self.deps.webauthn.start_discoverable()?;
        self.open_ceremony(token.id(), ChallengePurpose::PasskeySignIn, None, state)
            .await?;
        Ok((token, options))
    }

    /// Signs in with a passkey alone. The ceremony is used up by any answer; the
    /// account's password lockout does not apply (an assertion cannot be guessed, and
    /// an attacker's password guesses must not lock the owner out of their passkey).
    ///
    /// # Errors
    /// [`SecondStepError::InvalidChallenge`] for an unusable challenge id,
    /// [`SecondStepError::InvalidCode`] for an assertion that does not verify.
    pub async fn passkey_sign_in(
        &self,
        challenge_id: &str,
        credential: &serde_json::Value,
        client: &ClientInfo,
    ) -> Result<TokenPair, SecondStepError> {
        let challenge = self
            .live_challenge(challenge_id, ChallengePurpose::PasskeySignIn)
            .await?;
        if !self.consume(&challenge).await? {
            return Err(SecondStepError::InvalidChallenge);
        }
        let state = challenge
            .state
            .as_ref()
            .ok_or(SecondStepError::InvalidChallenge)?;
        let (user_id, _) = self.deps.webauthn.claimed_credential(credential)?;
        let Some(user) = self.core.enabled_user(user_id).await? else {
            return Err(SecondStepError::InvalidCode);
        };
        let passkeys = self.deps.factors.passkeys(user.id).await?;
        let Some(verified) = self.verify_assertion(credential, state, &passkeys).await? else {
            let event = AuditEvent::SecondFactorFailed {
                user: user.id,
                method: SecondFactor::Webauthn.as_str(),
            };
            self.core.audit(event, client).await;
            return Err(SecondStepError::InvalidCode);
        };
        let mut amr = vec![AuthMethod::Hwk];
        if verified {
            amr.push(AuthMethod::Mfa);
        }
        Ok(self.core.start_session(&user, None, amr, client).await?)
    }
}
