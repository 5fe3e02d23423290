//! Second factors: the login's second step (TOTP, recovery code or passkey), passkey
//! sign-in without a password, and the caller's own factors — TOTP enrollment, recovery
//! codes, passkeys — plus an administrator's reset.
//!
//! Replay protection lives in the store, shared by every instance: a TOTP step is
//! accepted once through a conditional update of the enrollment's last accepted step, a
//! recovery code once through a conditional update of its `used_at`, a challenge once
//! through a conditional delete, and a challenge's attempts are admitted by a
//! conditional increment.

use crate::mfa::{
    AuthMethod, Challenge, ChallengeId, ChallengePurpose, FactorSummary, PasskeyName,
    PasskeyRecord, RecoveryCode, SecondFactor, TotpEnrollment, TotpProvisioning, TotpSecret,
    second_step_binding, totp_seal_context,
};
use crate::password::Verification;
use crate::ports::StoreError;
use crate::throttle::LimitError;

use super::*;

/// What the caller has enrolled, for their account page.
#[derive(Debug, Clone)]
pub struct FactorStatus {
    pub summary: FactorSummary,
    /// An enrollment started but not confirmed.
    pub totp_pending: bool,
}

impl AuthService {
    fn factor_deps(&self) -> Result<&SecondFactorDeps, Unavailable> {
        self.factors
            .as_ref()
            .ok_or_else(|| Unavailable::Store(anyhow::anyhow!("second factors are not wired")))
    }

    /// Opens the second step of a login whose password was right.
    pub(super) async fn open_second_step(
        &self,
        f: &SecondFactorDeps,
        user: &User,
        checked_hash: &PasswordHash,
        summary: FactorSummary,
        client: &ClientInfo,
    ) -> Result<SecondStepChallenge, LoginError> {
        let now = self.now();
        let token = ChallengeToken::generate()?;
        f.challenges
            .put(&Challenge {
                id: token.id(),
                purpose: ChallengePurpose::SecondStep,
                user: Some(user.id),
                binding: Some(second_step_binding(client, checked_hash)),
                state: None,
                attempts: 0,
                created_at: now,
                expires_at: now + f.policy.challenge_ttl,
            })
            .await?;
        Ok(SecondStepChallenge {
            token,
            methods: summary.methods(),
            expires_in: f.policy.challenge_ttl.num_seconds(),
        })
    }

    /// The live challenge for `purpose` that `token` names.
    async fn live_challenge(
        &self,
        f: &SecondFactorDeps,
        token: &str,
        purpose: ChallengePurpose,
    ) -> Result<Challenge, SecondStepError> {
        let token = ChallengeToken::from_client(token).ok_or(SecondStepError::InvalidChallenge)?;
        let now = self.now();
        f.challenges
            .find(&token.id())
            .await?
            .filter(|c| c.purpose == purpose && c.is_live(&f.policy, now))
            .ok_or(SecondStepError::InvalidChallenge)
    }

    /// The live second-step challenge `token` names, and its user, if the client and
    /// the account's password are still the ones the first step saw.
    async fn second_step(
        &self,
        f: &SecondFactorDeps,
        token: &str,
        client: &ClientInfo,
    ) -> Result<(Challenge, User), SecondStepError> {
        let challenge = self
            .live_challenge(f, token, ChallengePurpose::SecondStep)
            .await?;
        let user_id = challenge.user.ok_or(SecondStepError::InvalidChallenge)?;
        let user = self
            .deps
            .users
            .find_by_id(user_id)
            .await?
            .filter(|u| !u.is_disabled())
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
        let f = self.factor_deps()?;
        let (challenge, user) = self.second_step(f, token, client).await?;
        let passkeys = f.factors.passkeys(user.id).await?;
        if passkeys.is_empty() {
            return Err(SecondStepError::NoPasskey);
        }
        let (options, state) = f.webauthn.start_authentication(&passkeys)?;
        if !f
            .challenges
            .set_state(&challenge.id, &state, self.now())
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
        let f = self.factor_deps()?;
        let (challenge, user) = self.second_step(f, token, client).await?;
        let account = user.username.canonical();
        let lock = match self.reserve_attempt(&account).await {
            Ok(lock) => lock,
            Err(LimitError::Throttled(secs)) => return Err(SecondStepError::Throttled(secs)),
            Err(LimitError::Unavailable(e)) => return Err(Unavailable::Limiter(e).into()),
        };
        let now = self.now();
        if !f
            .challenges
            .admit_attempt(&challenge.id, f.policy.max_attempts, now)
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
            .check_second_factor(f, &user, &challenge, proof, client)
            .await?
        else {
            let event = AuditEvent::SecondFactorFailed {
                user: user.id,
                method: method.as_str(),
            };
            self.failed_attempt(event, &account, lock, client).await;
            return Err(SecondStepError::InvalidCode);
        };
        if !f.challenges.consume(&challenge.id, self.now()).await? {
            return Err(SecondStepError::InvalidChallenge);
        }
        let _ = self.deps.limiter.record_success(&account).await;
        Ok(self
            .start_session(&user, Some(&user.password_hash), amr, client)
            .await?)
    }

    /// Checks one proof of the second step: the `amr` it earns, or `None` when wrong.
    async fn check_second_factor(
        &self,
        f: &SecondFactorDeps,
        user: &User,
        challenge: &Challenge,
        proof: SecondStepProof,
        client: &ClientInfo,
    ) -> Result<Option<Vec<AuthMethod>>, SecondStepError> {
        let now = self.now();
        match proof {
            SecondStepProof::Totp(code) => {
                let accepted = self.use_totp_code(f, user.id, &code, now).await?;
                Ok(accepted.then(|| vec![AuthMethod::Pwd, AuthMethod::Otp, AuthMethod::Mfa]))
            }
            SecondStepProof::RecoveryCode(code) => {
                let Some(code) = RecoveryCode::from_client(&code) else {
                    return Ok(None);
                };
                let hash = f.policy.recovery_key.hash(user.id, &code)?;
                if !f.factors.use_recovery_code(user.id, &hash, now).await? {
                    return Ok(None);
                }
                let left = f.factors.summary(user.id).await?.recovery_codes_left;
                self.audit(
                    AuditEvent::RecoveryCodeUsed {
                        user: user.id,
                        left,
                    },
                    client,
                )
                .await;
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
                let passkeys = f.factors.passkeys(user.id).await?;
                if self
                    .verify_assertion(f, &credential, state, &passkeys)
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
    async fn verify_assertion(
        &self,
        f: &SecondFactorDeps,
        credential: &serde_json::Value,
        state: &crate::mfa::CeremonyState,
        passkeys: &[PasskeyRecord],
    ) -> Result<Option<bool>, SecondStepError> {
        let used = match f
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
        f.factors
            .record_passkey_use(record.id, &used, self.now())
            .await?;
        Ok(Some(used.user_verified))
    }

    /// Accepts a TOTP code of the user's confirmed enrollment once.
    async fn use_totp_code(
        &self,
        f: &SecondFactorDeps,
        user: UserId,
        code: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, Unavailable> {
        let Some(enrollment) = f.factors.totp(user).await? else {
            return Ok(false);
        };
        if enrollment.confirmed_at.is_none() {
            return Ok(false);
        }
        let secret = open_secret(f, user, &enrollment)?;
        match f.totp.matching_step(&secret, code, now) {
            Some(step) => Ok(f.factors.use_totp_step(user, step).await?),
            None => Ok(false),
        }
    }

    /// WebAuthn request options for passwordless sign-in, and the challenge id that
    /// names the ceremony (single use, `ceremony_ttl`).
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be written.
    pub async fn passkey_sign_in_options(
        &self,
    ) -> Result<(ChallengeToken, serde_json::Value), SecondStepError> {
        let f = self.factor_deps()?;
        let now = self.now();
        let token = ChallengeToken::generate()?;
        let (options, state) = f.webauthn.start_discoverable()?;
        f.challenges
            .put(&Challenge {
                id: token.id(),
                purpose: ChallengePurpose::PasskeySignIn,
                user: None,
                binding: None,
                state: Some(state),
                attempts: 0,
                created_at: now,
                expires_at: now + f.policy.ceremony_ttl,
            })
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
        let f = self.factor_deps()?;
        let challenge = self
            .live_challenge(f, challenge_id, ChallengePurpose::PasskeySignIn)
            .await?;
        if !f.challenges.consume(&challenge.id, self.now()).await? {
            return Err(SecondStepError::InvalidChallenge);
        }
        let state = challenge
            .state
            .as_ref()
            .ok_or(SecondStepError::InvalidChallenge)?;
        let (user_id, _) = f.webauthn.claimed_credential(credential)?;
        let Some(user) = self
            .deps
            .users
            .find_by_id(user_id)
            .await?
            .filter(|u| !u.is_disabled())
        else {
            return Err(SecondStepError::InvalidCode);
        };
        let passkeys = f.factors.passkeys(user.id).await?;
        let Some(verified) = self
            .verify_assertion(f, credential, state, &passkeys)
            .await?
        else {
            let event = AuditEvent::SecondFactorFailed {
                user: user.id,
                method: SecondFactor::Webauthn.as_str(),
            };
            self.audit(event, client).await;
            return Err(SecondStepError::InvalidCode);
        };
        let mut amr = vec![AuthMethod::Hwk];
        if verified {
            amr.push(AuthMethod::Mfa);
        }
        Ok(self.start_session(&user, None, amr, client).await?)
    }

    /// What the caller has enrolled.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be read.
    pub async fn factor_status(&self, claims: &Claims) -> Result<FactorStatus, FactorError> {
        let f = self.factor_deps()?;
        let summary = f.factors.summary(claims.sub).await?;
        let totp = f.factors.totp(claims.sub).await?;
        Ok(FactorStatus {
            summary,
            totp_pending: totp.is_some_and(|t| t.confirmed_at.is_none()),
        })
    }

    /// Starts a TOTP enrollment: a new secret, pending until [`Self::confirm_totp`].
    ///
    /// # Errors
    /// [`FactorError::TotpAlreadyEnabled`] when a confirmed enrollment exists.
    pub async fn begin_totp(&self, claims: &Claims) -> Result<TotpProvisioning, FactorError> {
        let f = self.factor_deps()?;
        let user = self.me(claims).await.map_err(account_gone)?;
        let secret = TotpSecret::generate()?;
        let provisioning = f.totp.provisioning(&secret, user.username.as_str())?;
        let sealed = f
            .sealer
            .seal(secret.expose(), &totp_seal_context(user.id))?;
        if !f.factors.begin_totp(user.id, &sealed, self.now()).await? {
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
        let f = self.factor_deps()?;
        let user = self.me(claims).await.map_err(account_gone)?;
        let secret = pending_secret(f, user.id).await?;
        Ok(f.totp.provisioning(&secret, user.username.as_str())?)
    }

    /// Confirms the pending enrollment with a code from the app, and hands out a new set
    /// of recovery codes (shown this once).
    ///
    /// # Errors
    /// [`FactorError::InvalidCode`] for a wrong code, [`FactorError::NotEnrolled`] when
    /// nothing is pending.
    pub async fn confirm_totp(
        &self,
        claims: &Claims,
        code: &str,
        client: &ClientInfo,
    ) -> Result<Vec<RecoveryCode>, FactorError> {
        let f = self.factor_deps()?;
        let user = self.me(claims).await.map_err(account_gone)?;
        let secret = pending_secret(f, user.id).await?;
        let now = self.now();
        let step = f
            .totp
            .matching_step(&secret, code, now)
            .ok_or(FactorError::InvalidCode)?;
        let (codes, hashes) = self.new_recovery_codes(f, user.id)?;
        if !f.factors.confirm_totp(user.id, step, &hashes, now).await? {
            return Err(FactorError::NotEnrolled);
        }
        self.audit(AuditEvent::TotpEnabled { user: user.id }, client)
            .await;
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
        let f = self.factor_deps()?;
        let user = self.me(claims).await.map_err(account_gone)?;
        let enrollment = f
            .factors
            .totp(user.id)
            .await?
            .ok_or(FactorError::NotEnrolled)?;
        if enrollment.confirmed_at.is_some() {
            let proof = proof.ok_or(FactorError::ProofRequired)?;
            self.reauthenticate(f, &user, proof, client).await?;
        }
        let passkeys = f.factors.summary(user.id).await?.passkeys;
        f.factors.remove_totp(user.id, passkeys == 0).await?;
        if enrollment.confirmed_at.is_some() {
            self.audit(AuditEvent::TotpDisabled { user: user.id }, client)
                .await;
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
        let f = self.factor_deps()?;
        let user = self.me(claims).await.map_err(account_gone)?;
        if f.factors.summary(user.id).await?.factors() == 0 {
            return Err(FactorError::NotEnrolled);
        }
        let proof = proof.ok_or(FactorError::ProofRequired)?;
        self.reauthenticate(f, &user, proof, client).await?;
        let (codes, hashes) = self.new_recovery_codes(f, user.id)?;
        f.factors
            .replace_recovery_codes(user.id, &hashes, self.now())
            .await?;
        self.audit(
            AuditEvent::RecoveryCodesRegenerated { user: user.id },
            client,
        )
        .await;
        Ok(codes)
    }

    fn new_recovery_codes(
        &self,
        f: &SecondFactorDeps,
        user: UserId,
    ) -> Result<(Vec<RecoveryCode>, Vec<crate::mfa::RecoveryCodeHash>), FactorError> {
        let codes = (0..RecoveryCode::COUNT)
            .map(|_| RecoveryCode::generate())
            .collect::<anyhow::Result<Vec<_>>>()?;
        let hashes = codes
            .iter()
            .map(|c| f.policy.recovery_key.hash(user, c))
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok((codes, hashes))
    }

    /// Checks a proof asked again of the signed-in owner: a login attempt, with the
    /// login's failure budget and lock.
    async fn reauthenticate(
        &self,
        f: &SecondFactorDeps,
        user: &User,
        proof: Reauthentication,
        client: &ClientInfo,
    ) -> Result<(), FactorError> {
        let account = user.username.canonical();
        let lock = match self.reserve_attempt(&account).await {
            Ok(lock) => lock,
            Err(LimitError::Throttled(secs)) => return Err(FactorError::Throttled(secs)),
            Err(LimitError::Unavailable(e)) => return Err(Unavailable::Limiter(e).into()),
        };
        let refusal = match proof {
            Reauthentication::Code(code) => {
                if self.use_totp_code(f, user.id, &code, self.now()).await? {
                    None
                } else {
                    Some(FactorError::InvalidCode)
                }
            }
            Reauthentication::Password(attempt) => {
                match self
                    .deps
                    .hasher
                    .verify(&attempt, &user.password_hash)
                    .await?
                {
                    Verification::Match { .. } => None,
                    Verification::Mismatch => Some(FactorError::WrongPassword),
                }
            }
        };
        if let Some(refusal) = refusal {
            let event = AuditEvent::ReauthenticationFailed { user: user.id };
            self.failed_attempt(event, &account, lock, client).await;
            return Err(refusal);
        }
        let _ = self.deps.limiter.record_success(&account).await;
        Ok(())
    }

    /// WebAuthn creation options for a new passkey of the caller. One registration is
    /// pending per user: a new one replaces it.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be written.
    pub async fn passkey_registration_options(
        &self,
        claims: &Claims,
    ) -> Result<serde_json::Value, FactorError> {
        let f = self.factor_deps()?;
        let user = self.me(claims).await.map_err(account_gone)?;
        let existing = f.factors.passkeys(user.id).await?;
        let (options, state) =
            f.webauthn
                .start_registration(user.id, user.username.as_str(), &existing)?;
        let now = self.now();
        f.challenges
            .put(&Challenge {
                id: ChallengeId::registration_of(user.id),
                purpose: ChallengePurpose::PasskeyRegistration,
                user: Some(user.id),
                binding: None,
                state: Some(state),
                attempts: 0,
                created_at: now,
                expires_at: now + f.policy.ceremony_ttl,
            })
            .await?;
        Ok(options)
    }

    /// Finishes the pending registration and stores the passkey under `name`.
    ///
    /// # Errors
    /// [`FactorError::InvalidCredential`] when nothing is pending or the credential does
    /// not verify; [`FactorError::PasskeyExists`] for a credential stored already.
    pub async fn add_passkey(
        &self,
        claims: &Claims,
        name: PasskeyName,
        credential: &serde_json::Value,
        client: &ClientInfo,
    ) -> Result<PasskeyRecord, FactorError> {
        let f = self.factor_deps()?;
        let user = self.me(claims).await.map_err(account_gone)?;
        let now = self.now();
        let id = ChallengeId::registration_of(user.id);
        let challenge = f
            .challenges
            .find(&id)
            .await?
            .filter(|c| c.is_live(&f.policy, now))
            .ok_or(FactorError::InvalidCredential)?;
        let state = challenge
            .state
            .as_ref()
            .ok_or(FactorError::InvalidCredential)?;
        if !f.challenges.consume(&id, now).await? {
            return Err(FactorError::InvalidCredential);
        }
        let new = f.webauthn.finish_registration(credential, state)?;
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
        match f.factors.add_passkey(&record).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => return Err(FactorError::PasskeyExists),
            Err(e) => return Err(e.into()),
        }
        self.audit(AuditEvent::PasskeyAdded { user: user.id }, client)
            .await;
        Ok(record)
    }

    /// The caller's passkeys, oldest first.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be read.
    pub async fn passkeys(&self, claims: &Claims) -> Result<Vec<PasskeyRecord>, FactorError> {
        let f = self.factor_deps()?;
        Ok(f.factors.passkeys(claims.sub).await?)
    }

    /// # Errors
    /// [`FactorError::PasskeyNotFound`] when `id` is not one of the caller's passkeys.
    pub async fn rename_passkey(
        &self,
        claims: &Claims,
        id: uuid::Uuid,
        name: PasskeyName,
    ) -> Result<PasskeyRecord, FactorError> {
        let f = self.factor_deps()?;
        f.factors
            .rename_passkey(claims.sub, id, &name)
            .await?
            .ok_or(FactorError::PasskeyNotFound)
    }

    /// Removes one of the caller's passkeys. The last factor goes only from a recent
    /// sign-in (`fresh_auth`, default 5 minutes: the token's `auth_time`), so a stolen
    /// access token cannot strip an account of its second factor. Without a factor
    /// left, the recovery codes go too.
    ///
    /// # Errors
    /// [`FactorError::PasskeyNotFound`]; [`FactorError::ReauthenticationRequired`].
    pub async fn remove_passkey(
        &self,
        claims: &Claims,
        id: uuid::Uuid,
        client: &ClientInfo,
    ) -> Result<(), FactorError> {
        let f = self.factor_deps()?;
        let user = self.me(claims).await.map_err(account_gone)?;
        let passkeys = f.factors.passkeys(user.id).await?;
        if !passkeys.iter().any(|p| p.id == id) {
            return Err(FactorError::PasskeyNotFound);
        }
        let summary = f.factors.summary(user.id).await?;
        let now = self.now();
        let fresh = now.timestamp() - claims.auth_time <= f.policy.fresh_auth.num_seconds();
        if summary.factors() == 1 && !fresh {
            return Err(FactorError::ReauthenticationRequired);
        }
        if !f.factors.remove_passkey(user.id, id).await? {
            return Err(FactorError::PasskeyNotFound);
        }
        if summary.factors() == 1 {
            f.factors.replace_recovery_codes(user.id, &[], now).await?;
        }
        self.audit(AuditEvent::PasskeyRemoved { user: user.id }, client)
            .await;
        Ok(())
    }

    /// An administrator removes every second factor of a user (a lost phone and lost
    /// codes). Sessions stay.
    ///
    /// # Errors
    /// [`FactorError::AccountGone`] when there is no such user.
    pub async fn reset_factors(
        &self,
        user: UserId,
        client: &ClientInfo,
    ) -> Result<(), FactorError> {
        let f = self.factor_deps()?;
        if self.deps.users.find_by_id(user).await?.is_none() {
            return Err(FactorError::AccountGone);
        }
        f.factors.remove_all(user).await?;
        self.audit(AuditEvent::FactorsReset { user }, client).await;
        Ok(())
    }
}

/// The enrollment's secret, unsealed. A secret that does not open is the server's
/// failure (a changed key-encryption key), never the user's.
/// The secret of the user's enrollment that no code has confirmed yet.
async fn pending_secret(f: &SecondFactorDeps, user: UserId) -> Result<TotpSecret, FactorError> {
    let Some(enrollment) = f
        .factors
        .totp(user)
        .await?
        .filter(|t| t.confirmed_at.is_none())
    else {
        return Err(FactorError::NotEnrolled);
    };
    Ok(open_secret(f, user, &enrollment)?)
}

fn open_secret(
    f: &SecondFactorDeps,
    user: UserId,
    enrollment: &TotpEnrollment,
) -> Result<TotpSecret, Unavailable> {
    f.sealer
        .open(&enrollment.sealed_secret, &totp_seal_context(user))
        .map(TotpSecret::from_bytes)
        .map_err(Unavailable::Store)
}

fn account_gone(e: AccountError) -> FactorError {
    match e {
        AccountError::Unavailable(e) => FactorError::Unavailable(e),
        AccountError::Unknown(e) => FactorError::Unknown(e),
        _ => FactorError::AccountGone,
    }
}
