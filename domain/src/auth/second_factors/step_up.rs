//! The step-up: a signed-in caller proves it is them again with one of the account's
//! own factors, and the session's sign-in becomes recent (`auth_time`, `amr`), so the
//! changes that ask for a recent sign-in go through without starting a new session.
//! Every proof asked again of a signed-in owner (turning the app off, new recovery
//! codes) goes through [`SecondFactors::reauthenticate`] here.

use crate::mfa::ChallengePurpose;
use crate::password::Verification;
use crate::throttle::LimitError;

use super::*;

impl SecondFactors {
    /// WebAuthn request options for a step-up with one of the caller's passkeys, and the
    /// id of the ceremony (single use, `ceremony_ttl`) to send back with the assertion.
    ///
    /// # Errors
    /// [`FactorError::NotEnrolled`] when the account has no passkey.
    pub async fn step_up_options(
        &self,
        claims: &Claims,
    ) -> Result<(ChallengeToken, serde_json::Value), FactorError> {
        let user = self.user_of(claims).await?;
        let passkeys = self.deps.factors.passkeys(user.id).await?;
        if passkeys.is_empty() {
            return Err(FactorError::NotEnrolled);
        }
        let token = ChallengeToken::generate()?;
        let (options, state) = self.deps.webauthn.start_authentication(&passkeys)?;
        self.open_ceremony(token.id(), ChallengePurpose::StepUp, Some(user.id), state)
            .await?;
        Ok((token, options))
    }

    /// Proves the caller is the account's owner again and makes the session's sign-in
    /// recent: later tokens of the session carry `auth_time` = now and the proof's `amr`.
    /// The proof is a login attempt: it spends the account's failure budget.
    ///
    /// # Errors
    /// [`FactorError::WrongPassword`], [`FactorError::InvalidCode`] (TOTP or recovery
    /// code), [`FactorError::InvalidCredential`] (passkey) for a wrong proof;
    /// [`FactorError::Throttled`] while the account is locked;
    /// [`FactorError::AccountGone`] when the account or the session has ended.
    pub async fn step_up(
        &self,
        claims: &Claims,
        proof: Reauthentication,
        client: &ClientInfo,
    ) -> Result<SteppedUp, FactorError> {
        let user = self.user_of(claims).await?;
        let amr = self.reauthenticate(&user, proof, client).await?;
        let now = self.core.now();
        let sessions = &self.core.deps().sessions;
        if !sessions.reauthenticated(claims.sid, now, &amr).await? {
            return Err(FactorError::AccountGone);
        }
        let session = sessions
            .find(claims.sid)
            .await?
            .filter(|s| s.user_id == user.id && s.is_live(now))
            .ok_or(FactorError::AccountGone)?;
        let access_token = self
            .core
            .deps()
            .signer
            .sign(&self.core.tokens().claims_for(&user, &session, now))
            .map_err(|e| FactorError::Unknown(anyhow::anyhow!(e)))?;
        self.core
            .audit(AuditEvent::Reauthenticated { user: user.id }, client)
            .await;
        Ok(SteppedUp {
            access_token,
            expires_in: self.core.tokens().access_ttl.num_seconds(),
            auth_time: now,
            amr,
        })
    }

    /// Checks a proof asked again of the signed-in owner, as a login attempt with the
    /// login's failure budget and lock: the `amr` it earns.
    pub(super) async fn reauthenticate(
        &self,
        user: &User,
        proof: Reauthentication,
        client: &ClientInfo,
    ) -> Result<Vec<AuthMethod>, FactorError> {
        let account = user.username.canonical();
        let lock = match self.core.reserve_attempt(&account).await {
            Ok(lock) => lock,
            Err(LimitError::Throttled(secs)) => return Err(FactorError::Throttled(secs)),
            Err(LimitError::Unavailable(e)) => return Err(Unavailable::Limiter(e).into()),
        };
        match self.check_proof(user, proof, client).await? {
            Ok(amr) => {
                let _ = self.core.deps().limiter.record_success(&account).await;
                Ok(amr)
            }
            Err(refusal) => {
                let event = AuditEvent::ReauthenticationFailed { user: user.id };
                self.core
                    .failed_attempt(event, &account, lock, client)
                    .await;
                Err(refusal)
            }
        }
    }

    /// One proof: the `amr` it earns, or the refusal of a wrong one.
    async fn check_proof(
        &self,
        user: &User,
        proof: Reauthentication,
        client: &ClientInfo,
    ) -> Result<Result<Vec<AuthMethod>, FactorError>, FactorError> {
        let now = self.core.now();
        Ok(match proof {
            Reauthentication::Password(attempt) => {
                match self
                    .core
                    .deps()
                    .hasher
                    .verify(&attempt, &user.password_hash)
                    .await?
                {
                    Verification::Match { .. } => Ok(vec![AuthMethod::Pwd]),
                    Verification::Mismatch => Err(FactorError::WrongPassword),
                }
            }
            Reauthentication::Code(code) => {
                if self.use_totp_code(user.id, &code, now).await? {
                    Ok(vec![AuthMethod::Otp])
                } else {
                    Err(FactorError::InvalidCode)
                }
            }
            Reauthentication::RecoveryCode(code) => {
                if self
                    .use_recovery_code::<FactorError>(user.id, &code, client)
                    .await?
                {
                    Ok(vec![AuthMethod::Otp])
                } else {
                    Err(FactorError::InvalidCode)
                }
            }
            Reauthentication::Passkey {
                challenge,
                credential,
            } => match self.passkey_proof(user, &challenge, &credential).await? {
                Some(true) => Ok(vec![AuthMethod::Hwk, AuthMethod::Mfa]),
                Some(false) => Ok(vec![AuthMethod::Hwk]),
                None => Err(FactorError::InvalidCredential),
            },
        })
    }

    /// A passkey assertion answering the user's own step-up ceremony, which it uses up:
    /// whether the user was verified, or `None` when refused.
    async fn passkey_proof(
        &self,
        user: &User,
        challenge: &str,
        credential: &serde_json::Value,
    ) -> Result<Option<bool>, FactorError> {
        let challenge = match self
            .live_challenge(challenge, ChallengePurpose::StepUp)
            .await
        {
            Ok(c) if c.user == Some(user.id) => c,
            Ok(_) | Err(SecondStepError::InvalidChallenge) => return Ok(None),
            Err(e) => return Err(lower(e)),
        };
        if !self.consume(&challenge).await? {
            return Ok(None);
        }
        let Some(state) = &challenge.state else {
            return Ok(None);
        };
        let passkeys = self.deps.factors.passkeys(user.id).await?;
        self.verify_assertion(credential, state, &passkeys)
            .await
            .map_err(lower)
    }
}

/// A second-step helper's failure, as the factor operations say it.
fn lower(e: SecondStepError) -> FactorError {
    match e {
        SecondStepError::Unavailable(e) => FactorError::Unavailable(e),
        SecondStepError::Unknown(e) => FactorError::Unknown(e),
        _ => FactorError::InvalidCredential,
    }
}
