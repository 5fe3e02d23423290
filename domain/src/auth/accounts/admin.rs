//! What administrators do with accounts: list them, disable one (by id or by name), and
//! read the audit trail.

use crate::ports::AuditRecord;
use crate::user::Username;

use super::*;

impl Accounts {
    /// Disables an account: it can no longer log in or refresh, and every access token
    /// it holds stops working at once (a "user before now" revocation), and no mailed
    /// link of it opens anything.
    ///
    /// # Errors
    /// [`AccountError::AccountGone`] when no such user exists.
    pub async fn disable_user(
        &self,
        user: UserId,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        let now = self.core.now();
        if self.core.deps().users.find_by_id(user).await?.is_none() {
            return Err(AccountError::AccountGone);
        }
        // Revocation first: once it is durable no token of the user passes, whatever
        // happens to the writes after it.
        self.core
            .revoke_rule(Revocation::UserBefore(user, now), now)
            .await?;
        self.core.deps().users.disable(user, now).await?;
        self.core.end_sessions_of(user, None).await?;
        self.core.withdraw_mailed_links(user).await?;
        self.core
            .audit(AuditEvent::UserDisabled { user }, client)
            .await;
        Ok(())
    }

    /// A page of accounts, for administrators.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be read.
    pub async fn list_users(
        &self,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<User>, u64), Unavailable> {
        Ok(self.core.deps().users.list(offset, limit).await?)
    }

    /// Disables the account with this name (the CLI's `users disable <name>`).
    ///
    /// # Errors
    /// [`AccountError::AccountGone`] when no such user exists.
    pub async fn disable_user_by_name(
        &self,
        name: &Username,
        client: &ClientInfo,
    ) -> Result<User, AccountError> {
        let user = self
            .core
            .deps()
            .users
            .find_by_username(name)
            .await?
            .ok_or(AccountError::AccountGone)?;
        self.disable_user(user.id, client).await?;
        Ok(user)
    }

    /// A page of the audit trail, newest first, optionally one user's or one event's.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be read.
    pub async fn audit_events(
        &self,
        user: Option<UserId>,
        event: Option<&str>,
        offset: u64,
        limit: u64,
    ) -> Result<(Vec<AuditRecord>, u64), Unavailable> {
        Ok(self
            .core
            .deps()
            .audit_log
            .list(user, event, offset, limit)
            .await?)
    }

    /// Deletes audit events recorded before `before` (retention); returns how many.
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be written.
    pub async fn purge_audit(&self, before: DateTime<Utc>) -> Result<u64, Unavailable> {
        Ok(self.core.deps().audit_log.purge_before(before).await?)
    }
}
