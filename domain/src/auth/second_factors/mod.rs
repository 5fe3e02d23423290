//! [`SecondFactors`]: the login's second step (TOTP, recovery code or passkey) and
//! passkey sign-in without a password ([`second_step`]); the caller's authenticator app
//! and recovery codes ([`totp`]); the caller's passkeys ([`passkeys`]); and an
//! administrator's reset.
//!
//! Replay protection lives in the store, shared by every instance: a TOTP step is
//! accepted once through a conditional update of the enrollment's last accepted step, a
//! recovery code once through a conditional update of its `used_at`, a challenge once
//! through a conditional delete, and a challenge's attempts are admitted by a
//! conditional increment.

mod passkeys;
mod second_step;
mod step_up;
mod totp;

use crate::mfa::{
    CeremonyState, Challenge, ChallengeId, ChallengePurpose, FactorSummary, RecoveryCode,
};
use crate::notice::SecurityNotice;
use crate::ports::StoreError;

use super::*;

/// What the caller has enrolled, for their account page.
#[derive(Debug, Clone)]
pub struct FactorStatus {
    pub summary: FactorSummary,
    /// An enrollment started but not confirmed.
    pub totp_pending: bool,
}

/// TOTP, recovery codes and passkeys: enrolling them, and proving them at sign-in.
#[derive(Clone)]
pub struct SecondFactors {
    core: Core,
    deps: SecondFactorDeps,
}

impl SecondFactors {
    pub fn new(core: Core, deps: SecondFactorDeps) -> Self {
        Self { core, deps }
    }

    pub fn core(&self) -> &Core {
        &self.core
    }

    /// What `user` has enrolled.
    pub(crate) async fn summary(&self, user: UserId) -> Result<FactorSummary, StoreError> {
        self.deps.factors.summary(user).await
    }

    /// The caller's account, if it is still there and enabled.
    async fn user_of(&self, claims: &Claims) -> Result<User, FactorError> {
        self.core
            .enabled_user(claims.sub)
            .await?
            .ok_or(FactorError::AccountGone)
    }

    /// The caller's account, for a change of its factors: only from a sign-in within the
    /// reauthentication window ([`Core::signed_in_recently`]).
    async fn user_signed_in_recently(&self, claims: &Claims) -> Result<User, FactorError> {
        if !self.core.signed_in_recently(claims) {
            return Err(FactorError::ReauthenticationRequired);
        }
        self.user_of(claims).await
    }

    /// Opens a WebAuthn ceremony under `id`: its state, single use, for `ceremony_ttl`.
    async fn open_ceremony(
        &self,
        id: ChallengeId,
        purpose: ChallengePurpose,
        user: Option<UserId>,
        state: CeremonyState,
    ) -> Result<(), StoreError> {
        let now = self.core.now();
        self.deps
            .challenges
            .put(&Challenge {
                id,
                purpose,
                user,
                binding: None,
                state: Some(state),
                attempts: 0,
                created_at: now,
                expires_at: now + self.deps.policy.ceremony_ttl,
            })
            .await
    }

    /// Uses one of the user's recovery codes as typed (case, spaces and hyphens do not
    /// matter), and audits it with how many are left: `false` when it is none of theirs
    /// or used already. The second step and the step-up both spend codes through here.
    async fn use_recovery_code<E>(
        &self,
        user: UserId,
        raw: &str,
        client: &ClientInfo,
    ) -> Result<bool, E>
    where
        E: From<Unavailable> + From<anyhow::Error>,
    {
        let Some(code) = RecoveryCode::from_client(raw) else {
            return Ok(false);
        };
        let hash = self.deps.policy.recovery_key.hash(user, &code)?;
        let now = self.core.now();
        let used = self
            .deps
            .factors
            .use_recovery_code(user, &hash, now)
            .await
            .map_err(Unavailable::from)?;
        if used {
            let left = self
                .deps
                .factors
                .summary(user)
                .await
                .map_err(Unavailable::from)?
                .recovery_codes_left;
            self.core
                .audit(AuditEvent::RecoveryCodeUsed { user, left }, client)
                .await;
        }
        Ok(used)
    }

    /// Uses `challenge` up: `false` when another answer already did.
    async fn consume(&self, challenge: &Challenge) -> Result<bool, StoreError> {
        self.deps
            .challenges
            .consume(&challenge.id, self.core.now())
            .await
    }

    /// What the caller has enrolled.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be read.
    pub async fn factor_status(&self, claims: &Claims) -> Result<FactorStatus, FactorError> {
        let summary = self.deps.factors.summary(claims.sub).await?;
        let totp = self.deps.factors.totp(claims.sub).await?;
        Ok(FactorStatus {
            summary,
            totp_pending: totp.is_some_and(|t| t.confirmed_at.is_none()),
        })
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
        let Some(account) = self.core.deps().users.find_by_id(user).await? else {
            return Err(FactorError::AccountGone);
        };
        let had = self.deps.factors.summary(user).await?.factors() > 0;
        self.deps.factors.remove_all(user).await?;
        self.core
            .audit(AuditEvent::FactorsReset { user }, client)
            .await;
        if had {
            self.core
                .notify(&account, SecurityNotice::FactorsReset, client)
                .await?;
        }
        Ok(())
    }

    /// Deletes second-step challenges and WebAuthn ceremonies that have expired.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be written.
    pub async fn purge_challenges(&self, now: DateTime<Utc>) -> Result<u64, Unavailable> {
        Ok(self.deps.challenges.purge(now).await?)
    }
}
