//! Second factors and challenges in memory, with the store's single-use guarantees:
//! a TOTP step, a recovery code and a challenge are each accepted once, and a
//! challenge admits at most its budget of attempts.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::mfa::{
    CeremonyState, Challenge, ChallengeId, ChallengeStore, FactorStore, FactorSummary, PasskeyName,
    PasskeyRecord, PasskeyUse, RecoveryCodeHash, TotpEnrollment,
};
use crate::ports::StoreError;
use crate::user::UserId;

#[derive(Default, Clone)]
struct Enrolled {
    totp: Option<TotpEnrollment>,
    /// The last TOTP step accepted.
    last_step: Option<i64>,
    /// Recovery codes and whether each was used.
    codes: Vec<(RecoveryCodeHash, bool)>,
}

/// TOTP enrollments, recovery codes and passkeys.
#[derive(Default)]
pub struct Factors {
    users: Mutex<HashMap<UserId, Enrolled>>,
    /// Every user's, oldest first.
    passkeys: Mutex<Vec<PasskeyRecord>>,
}

impl Factors {
    /// The user's enrollment as stored (its secret sealed).
    pub fn totp_of(&self, user: UserId) -> Option<TotpEnrollment> {
        self.users.lock().unwrap().get(&user)?.totp.clone()
    }

    /// The last TOTP step accepted for the user.
    pub fn last_step(&self, user: UserId) -> Option<i64> {
        self.users.lock().unwrap().get(&user)?.last_step
    }

    /// How many of the user's recovery codes are stored, used or not.
    pub fn recovery_codes(&self, user: UserId) -> usize {
        self.users
            .lock()
            .unwrap()
            .get(&user)
            .map_or(0, |e| e.codes.len())
    }

    fn with<T>(&self, user: UserId, f: impl FnOnce(&mut Enrolled) -> T) -> T {
        f(self.users.lock().unwrap().entry(user).or_default())
    }
}

#[async_trait]
impl FactorStore for Factors {
    async fn summary(&self, user: UserId) -> Result<FactorSummary, StoreError> {
        let passkeys = self
            .passkeys
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.user == user)
            .count();
        Ok(self.with(user, |e| FactorSummary {
            totp: e.totp.as_ref().is_some_and(|t| t.confirmed_at.is_some()),
            passkeys: u32::try_from(passkeys).unwrap_or(u32::MAX),
            recovery_codes_left: u32::try_from(e.codes.iter().filter(|(_, used)| !used).count())
                .unwrap_or(u32::MAX),
        }))
    }
    async fn totp(&self, user: UserId) -> Result<Option<TotpEnrollment>, StoreError> {
        Ok(self.totp_of(user))
    }
    async fn begin_totp(
        &self,
        user: UserId,
        sealed_secret: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self.with(user, |e| {
            if e.totp.as_ref().is_some_and(|t| t.confirmed_at.is_some()) {
                return false;
            }
            e.totp = Some(TotpEnrollment {
                sealed_secret: sealed_secret.to_vec(),
                created_at: now,
                confirmed_at: None,
            });
            e.last_step = None;
            true
        }))
    }
    async fn confirm_totp(
        &self,
        user: UserId,
        step: i64,
        codes: &[RecoveryCodeHash],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self.with(user, |e| match &mut e.totp {
            Some(t) if t.confirmed_at.is_none() => {
                t.confirmed_at = Some(now);
                e.last_step = Some(step);
                e.codes = codes.iter().map(|c| (c.clone(), false)).collect();
                true
            }
            _ => false,
        }))
    }
    async fn use_totp_step(&self, user: UserId, step: i64) -> Result<bool, StoreError> {
        Ok(self.with(user, |e| {
            let confirmed = e.totp.as_ref().is_some_and(|t| t.confirmed_at.is_some());
            if confirmed && e.last_step.is_none_or(|last| last < step) {
                e.last_step = Some(step);
                true
            } else {
                false
            }
        }))
    }
    async fn remove_totp(&self, user: UserId, and_codes: bool) -> Result<bool, StoreError> {
        Ok(self.with(user, |e| {
            if and_codes {
                e.codes.clear();
            }
            e.last_step = None;
            e.totp.take().is_some()
        }))
    }
    async fn replace_recovery_codes(
        &self,
        user: UserId,
        codes: &[RecoveryCodeHash],
        _: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.with(user, |e| {
            e.codes = codes.iter().map(|c| (c.clone(), false)).collect();
        });
        Ok(())
    }
    async fn use_recovery_code(
        &self,
        user: UserId,
        code: &RecoveryCodeHash,
        _: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self.with(user, |e| {
            match e.codes.iter_mut().find(|(c, used)| c == code && !used) {
                Some((_, used)) => {
                    *used = true;
                    true
                }
                None => false,
            }
        }))
    }
    async fn add_passkey(&self, passkey: &PasskeyRecord) -> Result<(), StoreError> {
        let mut passkeys = self.passkeys.lock().unwrap();
        if passkeys
            .iter()
            .any(|p| p.credential_id == passkey.credential_id)
        {
            return Err(StoreError::Conflict);
        }
        passkeys.push(passkey.clone());
        Ok(())
    }
    async fn passkeys(&self, user: UserId) -> Result<Vec<PasskeyRecord>, StoreError> {
        let passkeys = self.passkeys.lock().unwrap();
        Ok(passkeys
            .iter()
            .filter(|p| p.user == user)
            .cloned()
            .collect())
    }
    async fn record_passkey_use(
        &self,
        id: Uuid,
        used: &PasskeyUse,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        for p in self
            .passkeys
            .lock()
            .unwrap()
            .iter_mut()
            .filter(|p| p.id == id)
        {
            p.data.clone_from(&used.data);
            p.sign_count = used.sign_count;
            p.backup_state = used.backup_state;
            p.last_used_at = Some(now);
        }
        Ok(())
    }
    async fn rename_passkey(
        &self,
        user: UserId,
        id: Uuid,
        name: &PasskeyName,
    ) -> Result<Option<PasskeyRecord>, StoreError> {
        let mut passkeys = self.passkeys.lock().unwrap();
        Ok(passkeys
            .iter_mut()
            .find(|p| p.user == user && p.id == id)
            .map(|p| {
                p.name = name.clone();
                p.clone()
            }))
    }
    async fn remove_passkey(&self, user: UserId, id: Uuid) -> Result<bool, StoreError> {
        let mut passkeys = self.passkeys.lock().unwrap();
        let was = passkeys.len();
        passkeys.retain(|p| !(p.user == user && p.id == id));
        Ok(passkeys.len() < was)
    }
    async fn remove_all(&self, user: UserId) -> Result<(), StoreError> {
        self.passkeys.lock().unwrap().retain(|p| p.user != user);
        self.users.lock().unwrap().remove(&user);
        Ok(())
    }
}

/// Challenges by id.
#[derive(Default)]
pub struct Challenges(Mutex<HashMap<ChallengeId, Challenge>>);

impl Challenges {
    /// The challenge as stored, if it is still there.
    pub fn get(&self, id: &ChallengeId) -> Option<Challenge> {
        self.0.lock().unwrap().get(id).cloned()
    }

    /// How many challenges are stored, live or not.
    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }
}

#[async_trait]
impl ChallengeStore for Challenges {
    async fn put(&self, challenge: &Challenge) -> Result<(), StoreError> {
        let mut all = self.0.lock().unwrap();
        all.insert(challenge.id.clone(), challenge.clone());
        Ok(())
    }
    async fn find(&self, id: &ChallengeId) -> Result<Option<Challenge>, StoreError> {
        Ok(self.get(id))
    }
    async fn set_state(
        &self,
        id: &ChallengeId,
        state: &CeremonyState,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut all = self.0.lock().unwrap();
        Ok(match all.get_mut(id) {
            Some(c) if now < c.expires_at => {
                c.state = Some(state.clone());
                true
            }
            _ => false,
        })
    }
    async fn admit_attempt(
        &self,
        id: &ChallengeId,
        max: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut all = self.0.lock().unwrap();
        Ok(match all.get_mut(id) {
            Some(c) if now < c.expires_at && c.attempts < max => {
                c.attempts += 1;
                true
            }
            _ => false,
        })
    }
    async fn consume(&self, id: &ChallengeId, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut all = self.0.lock().unwrap();
        let live = all.get(id).is_some_and(|c| now < c.expires_at);
        if live {
            all.remove(id);
        }
        Ok(live)
    }
    async fn purge(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut all = self.0.lock().unwrap();
        let was = all.len();
        all.retain(|_, c| c.expires_at >= before);
        Ok((was - all.len()) as u64)
    }
}
