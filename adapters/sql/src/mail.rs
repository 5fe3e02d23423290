//! `EmailTokenStore` and `Outbox` on SQL.
//!
//! A token and its mail are inserted in one transaction, so a mail is never queued for a
//! token that was not stored, nor a token stored whose mail was lost. A decoy (a reset
//! for an address no verified account has) writes the same two rows, its outbox row
//! finished at once and empty, so that both answers cost the same. Redemption is one
//! conditional `UPDATE email_tokens SET used_at = :now WHERE hash = :h AND used_at IS
//! NULL` inside the transaction that applies it: of concurrent redemptions exactly one
//! sees one affected row. Outbox claims work the same way: `UPDATE outbox SET
//! claimed_by = :me, claimed_until = :lease … WHERE id = :id AND claimed_until <= :now
//! AND sent_at IS NULL AND failed_at IS NULL` — one row affected means the mail is ours
//! until the lease lapses, whichever instance asked. A notice without a link (to the
//! owner of an address another account asked for) is one outbox row and no token.

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, TransactionTrait,
};
use tessera_domain::email::{
    Email, EmailTokenHash, EmailTokenPurpose, EmailTokenRecord, OutgoingMail,
};
use tessera_domain::oidc::{ClientId, LogoutNotice};
use tessera_domain::ports::{
    EmailTokenStore, Outbox, Outgoing, QueuedMessage, RedeemError, StoreError,
};
use tessera_domain::user::{PasswordHash, UserId};
use uuid::Uuid;

use crate::entities::{email_tokens, outbox, users};
use crate::{SqlStore, clip, corrupt, delete_where, instant, millis, one, unavailable, updated};

fn to_record(m: email_tokens::Model) -> Result<EmailTokenRecord, StoreError> {
    Ok(EmailTokenRecord {
        hash: EmailTokenHash(m.hash),
        purpose: EmailTokenPurpose::parse(&m.purpose).ok_or_else(|| corrupt("email token"))?,
        user: m
            .user_id
            .map(|id| Uuid::parse_str(&id).map(UserId))
            .transpose()
            .map_err(|_| corrupt("email token"))?,
        email: Email::parse(&m.email).map_err(|_| corrupt("email token"))?,
        created_at: instant(m.created_at),
        expires_at: instant(m.expires_at),
        used_at: m.used_at.map(instant),
    })
}

/// Opens a redemption's transaction with the token marked used, if nobody has used it:
/// [`RedeemError::Used`] otherwise.
async fn begin_redemption(
    store: &SqlStore,
    hash: &EmailTokenHash,
    now: DateTime<Utc>,
) -> Result<sea_orm::DatabaseTransaction, RedeemError> {
    let txn = store.db.begin().await.map_err(unavailable)?;
    let use_up = email_tokens::Entity::update_many()
        .col_expr(email_tokens::Column::UsedAt, Expr::value(millis(now)))
        .filter(email_tokens::Column::Hash.eq(hash.0.clone()))
        .filter(email_tokens::Column::UsedAt.is_null());
    if updated(&txn, use_up).await? != 1 {
        txn.rollback().await.map_err(unavailable)?;
        return Err(RedeemError::Used);
    }
    Ok(txn)
}

#[async_trait]
impl EmailTokenStore for SqlStore {
    async fn issue(
        &self,
        token: &EmailTokenRecord,
        mail: &OutgoingMail,
        deliver: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let txn = self.db.begin().await.map_err(unavailable)?;
        email_tokens::Entity::insert(email_tokens::ActiveModel {
            hash: Set(token.hash.0.clone()),
            purpose: Set(token.purpose.as_str().to_owned()),
            user_id: Set(token.user.map(|u| u.to_string())),
            email: Set(token.email.as_str().to_owned()),
            created_at: Set(millis(token.created_at)),
            expires_at: Set(millis(token.expires_at)),
            used_at: Set(None),
        })
        .exec_without_returning(&txn)
        .await
        .map_err(unavailable)?;
        // A decoy's row is finished at once: never claimed, purged with the others.
        let (text, html, failed_at, last_error) = if deliver {
            (mail.text.clone(), mail.html.clone(), None, None)
        } else {
            let why = "suppressed: no verified account has this address";
            (
                String::new(),
                String::new(),
                Some(millis(now)),
                Some(why.to_owned()),
            )
        };
        let row = outbox_row(mail, text, html, now, failed_at, last_error);
        outbox::Entity::insert(row)
            .exec_without_returning(&txn)
            .await
            .map_err(unavailable)?;
        txn.commit().await.map_err(unavailable)
    }

    async fn queue_mail(&self, mail: &OutgoingMail, now: DateTime<Utc>) -> Result<(), StoreError> {
        let row = outbox_row(mail, mail.text.clone(), mail.html.clone(), now, None, None);
        outbox::Entity::insert(row)
            .exec_without_returning(self.conn())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn queue_logout(
        &self,
        notice: &LogoutNotice,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let row = outbox::ActiveModel {
            recipient: Set(notice.client.to_string()),
            subject: Set(String::new()),
            text_body: Set(notice.token.clone()),
            html_body: Set(String::new()),
            kind: Set(BACKCHANNEL_LOGOUT.to_owned()),
            target: Set(Some(notice.uri.clone())),
            ..due_at(now)
        };
        outbox::Entity::insert(row)
            .exec_without_returning(self.conn())
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn find_token(
        &self,
        hash: &EmailTokenHash,
    ) -> Result<Option<EmailTokenRecord>, StoreError> {
        let select = email_tokens::Entity::find_by_id(hash.0.clone());
        one(self.conn(), select, to_record).await
    }

    async fn redeem_verification(
        &self,
        token: &EmailTokenRecord,
        user: UserId,
        now: DateTime<Utc>,
    ) -> Result<(), RedeemError> {
        let txn = begin_redemption(self, &token.hash, now).await?;
        match crate::users::set_verified_email(&txn, user, &token.email, now).await {
            Ok(_) => {}
            Err(StoreError::Conflict) => {
                txn.rollback().await.map_err(unavailable)?;
                return Err(RedeemError::EmailTaken);
            }
            Err(e) => return Err(e.into()),
        }
        txn.commit().await.map_err(unavailable)?;
        Ok(())
    }

    async fn redeem_reset(
        &self,
        token: &EmailTokenRecord,
        user: UserId,
        hash: &PasswordHash,
        now: DateTime<Utc>,
    ) -> Result<(), RedeemError> {
        let txn = begin_redemption(self, &token.hash, now).await?;
        let reset = users::Entity::update_many()
            .col_expr(users::Column::PasswordHash, Expr::value(hash.as_str()))
            .filter(users::Column::Id.eq(user.to_string()));
        updated(&txn, reset).await?;
        withdraw_in(&txn, user, EmailTokenPurpose::Reset, now).await?;
        txn.commit().await.map_err(unavailable)?;
        Ok(())
    }

    async fn withdraw(
        &self,
        user: UserId,
        purpose: EmailTokenPurpose,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        withdraw_in(self.conn(), user, purpose, now).await
    }

    async fn purge_tokens(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let expired = email_tokens::Column::ExpiresAt.lt(millis(before));
        delete_where::<email_tokens::Entity>(self.conn(), expired).await
    }
}

/// A new outbox row for `mail` with these bodies, due at `now`: queued, or finished at
/// once when `failed_at` is set.
fn outbox_row(
    mail: &OutgoingMail,
    text: String,
    html: String,
    now: DateTime<Utc>,
    failed_at: Option<i64>,
    last_error: Option<String>,
) -> outbox::ActiveModel {
    outbox::ActiveModel {
        recipient: Set(mail.to.as_str().to_owned()),
        subject: Set(clip(&mail.subject, 512)),
        text_body: Set(text),
        html_body: Set(html),
        failed_at: Set(failed_at),
        last_error: Set(last_error),
        kind: Set(MAIL.to_owned()),
        target: Set(None),
        ..due_at(now)
    }
}

/// The bookkeeping of a new outbox row, due at `now`, never tried.
fn due_at(now: DateTime<Utc>) -> outbox::ActiveModel {
    outbox::ActiveModel {
        created_at: Set(millis(now)),
        next_attempt_at: Set(millis(now)),
        claimed_until: Set(0),
        claimed_by: Set(None),
        attempts: Set(0),
        sent_at: Set(None),
        failed_at: Set(None),
        last_error: Set(None),
        ..Default::default()
    }
}

/// The outbox's kinds of row.
const MAIL: &str = "mail";
const BACKCHANNEL_LOGOUT: &str = "backchannel_logout";

async fn withdraw_in(
    conn: &impl sea_orm::ConnectionTrait,
    user: UserId,
    purpose: EmailTokenPurpose,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let withdraw = email_tokens::Entity::update_many()
        .col_expr(email_tokens::Column::UsedAt, Expr::value(millis(now)))
        .filter(email_tokens::Column::UserId.eq(user.to_string()))
        .filter(email_tokens::Column::Purpose.eq(purpose.as_str()))
        .filter(email_tokens::Column::UsedAt.is_null());
    updated(conn, withdraw).await?;
    Ok(())
}

fn queued(row: outbox::Model) -> Result<QueuedMessage, StoreError> {
    let message = match row.kind.as_str() {
        BACKCHANNEL_LOGOUT => Outgoing::Logout(LogoutNotice {
            client: ClientId::parse(&row.recipient).ok_or_else(|| corrupt("outbox"))?,
            uri: row.target.ok_or_else(|| corrupt("outbox"))?,
            token: row.text_body,
        }),
        _ => Outgoing::Mail(OutgoingMail {
            to: Email::parse(&row.recipient).map_err(|_| corrupt("outbox"))?,
            subject: row.subject,
            text: row.text_body,
            html: row.html_body,
        }),
    };
    Ok(QueuedMessage {
        id: row.id,
        message,
        created_at: instant(row.created_at),
        attempts: u32::try_from(row.attempts).unwrap_or(u32::MAX),
    })
}

/// Rows neither sent nor given up.
fn unfinished() -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(outbox::Column::SentAt.is_null())
        .add(outbox::Column::FailedAt.is_null())
}

#[async_trait]
impl Outbox for SqlStore {
    async fn claim_due(
        &self,
        claimer: &str,
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: u64,
    ) -> Result<Vec<QueuedMessage>, StoreError> {
        let now_ms = millis(now);
        let candidates: Vec<i64> = outbox::Entity::find()
            .select_only()
            .column(outbox::Column::Id)
            .filter(unfinished())
            .filter(outbox::Column::NextAttemptAt.lte(now_ms))
            .filter(outbox::Column::ClaimedUntil.lte(now_ms))
            .order_by_asc(outbox::Column::Id)
            .limit(limit)
            .into_tuple()
            .all(self.conn())
            .await
            .map_err(unavailable)?;
        let mut claimed = Vec::with_capacity(candidates.len());
        for id in candidates {
            let claim = outbox::Entity::update_many()
                .col_expr(outbox::Column::ClaimedBy, Expr::value(claimer))
                .col_expr(
                    outbox::Column::ClaimedUntil,
                    Expr::value(millis(now + lease)),
                )
                .col_expr(
                    outbox::Column::Attempts,
                    Expr::col(outbox::Column::Attempts).add(1),
                )
                .filter(outbox::Column::Id.eq(id))
                .filter(unfinished())
                .filter(outbox::Column::ClaimedUntil.lte(now_ms));
            if updated(self.conn(), claim).await? != 1 {
                continue; // another sender was quicker
            }
            let select = outbox::Entity::find_by_id(id);
            if let Some(mail) = one(self.conn(), select, queued).await? {
                claimed.push(mail);
            }
        }
        Ok(claimed)
    }

    async fn mark_sent(
        &self,
        id: i64,
        claimer: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        finish(self, id, claimer, outbox::Column::SentAt, now, None).await
    }

    async fn retry_at(
        &self,
        id: i64,
        claimer: &str,
        at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        let retry = outbox::Entity::update_many()
            .col_expr(outbox::Column::NextAttemptAt, Expr::value(millis(at)))
            .col_expr(outbox::Column::ClaimedUntil, Expr::value(0i64))
            .col_expr(outbox::Column::LastError, Expr::value(clip(error, 512)))
            .filter(outbox::Column::Id.eq(id))
            .filter(outbox::Column::ClaimedBy.eq(claimer));
        updated(self.conn(), retry).await?;
        Ok(())
    }

    async fn give_up(
        &self,
        id: i64,
        claimer: &str,
        now: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError> {
        finish(
            self,
            id,
            claimer,
            outbox::Column::FailedAt,
            now,
            Some(error),
        )
        .await
    }

    async fn pending(&self) -> Result<u64, StoreError> {
        outbox::Entity::find()
            .filter(unfinished())
            .count(self.conn())
            .await
            .map_err(unavailable)
    }

    async fn purge_finished(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let before = millis(before);
        let finished = sea_orm::Condition::any()
            .add(outbox::Column::SentAt.lt(before))
            .add(outbox::Column::FailedAt.lt(before));
        delete_where::<outbox::Entity>(self.conn(), finished).await
    }
}

/// Ends a claimed mail as sent or given up, wiping its bodies: they hold a live link.
async fn finish(
    store: &SqlStore,
    id: i64,
    claimer: &str,
    column: outbox::Column,
    now: DateTime<Utc>,
    error: Option<&str>,
) -> Result<(), StoreError> {
    let mut update = outbox::Entity::update_many()
        .col_expr(column, Expr::value(millis(now)))
        .col_expr(outbox::Column::ClaimedUntil, Expr::value(0i64))
        .col_expr(outbox::Column::TextBody, Expr::value(""))
        .col_expr(outbox::Column::HtmlBody, Expr::value(""));
    if let Some(error) = error {
        update = update.col_expr(outbox::Column::LastError, Expr::value(clip(error, 512)));
    }
    let update = update
        .filter(outbox::Column::Id.eq(id))
        .filter(outbox::Column::ClaimedBy.eq(claimer));
    updated(store.conn(), update).await?;
    Ok(())
}
