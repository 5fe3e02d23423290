//! The outbox's sender: one round claims the mails that are due, hands each to the
//! transport, and records what became of it (sent, due again later, or given up). The
//! caller runs rounds in the background, on every instance if it likes: claims keep two
//! senders off the same mail.

use std::sync::Arc;

use chrono::TimeDelta;

use crate::clock::Clock;
use crate::email::{AfterFailure, DeliveryPolicy};
use crate::ports::{LogoutTransport, MailError, MailTransport, Outbox, Outgoing, StoreError};

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryRound {
    pub sent: u64,
    pub retried: u64,
    pub given_up: u64,
}

impl DeliveryRound {
    /// Mails this round took out of the outbox for good (sent or given up).
    pub fn finished(&self) -> u64 {
        self.sent + self.given_up
    }
}

#[derive(Clone)]
pub struct MailDelivery {
    outbox: Arc<dyn Outbox>,
    transport: Arc<dyn MailTransport>,
    /// Logout tokens go to clients over HTTP, not through the mail relay.
    logout: Arc<dyn LogoutTransport>,
    clock: Arc<dyn Clock>,
    policy: DeliveryPolicy,
    /// This sender's name in claims.
    claimer: String,
    /// How long a claim holds: longer than one send may take (the transport's timeout);
    /// the mails of a round are sent concurrently, so that bounds the round too.
    lease: TimeDelta,
    batch: u64,
}

impl MailDelivery {
    pub fn new(
        outbox: Arc<dyn Outbox>,
        transport: Arc<dyn MailTransport>,
        logout: Arc<dyn LogoutTransport>,
        clock: Arc<dyn Clock>,
        policy: DeliveryPolicy,
        claimer: String,
        lease: TimeDelta,
    ) -> Self {
        Self {
            outbox,
            transport,
            logout,
            clock,
            policy,
            claimer,
            lease,
            batch: 16,
        }
    }

    /// Sends what is due now.
    ///
    /// # Errors
    /// [`StoreError`] when the outbox cannot be read or written; a mail whose outcome
    /// could not be recorded is claimed again once its lease lapses.
    pub async fn round(&self) -> Result<DeliveryRound, StoreError> {
        let now = self.clock.now();
        let due = self
            .outbox
            .claim_due(&self.claimer, now, self.lease, self.batch)
            .await?;
        // The claimed mails go out together: each send is bounded by the transport's
        // deadline, so the whole round is, and the claims' lease (longer than one
        // deadline) holds for all of them — sent one after another, a slow relay would let
        // the lease of the last ones lapse and another sender claim them mid-round.
        let results = futures_util::future::join_all(due.iter().map(|q| async {
            match &q.message {
                Outgoing::Mail(mail) => self.transport.send(mail).await,
                Outgoing::Logout(notice) => self.logout.deliver(notice).await,
            }
        }))
        .await;
        let now = self.clock.now();
        let mut round = DeliveryRound::default();
        for (queued, result) in due.into_iter().zip(results) {
            match result {
                Ok(()) => {
                    self.outbox.mark_sent(queued.id, &self.claimer, now).await?;
                    round.sent += 1;
                }
                Err(MailError::Permanent(e)) => {
                    self.outbox
                        .give_up(queued.id, &self.claimer, now, &format!("{e:#}"))
                        .await?;
                    round.given_up += 1;
                }
                Err(MailError::Temporary(e)) => {
                    let why = format!("{e:#}");
                    match self
                        .policy
                        .after_failure(queued.attempts, queued.created_at, now)
                    {
                        AfterFailure::RetryAt(at) => {
                            self.outbox
                                .retry_at(queued.id, &self.claimer, at, &why)
                                .await?;
                            round.retried += 1;
                        }
                        AfterFailure::GiveUp => {
                            self.outbox
                                .give_up(queued.id, &self.claimer, now, &why)
                                .await?;
                            round.given_up += 1;
                        }
                    }
                }
            }
        }
        Ok(round)
    }

    /// Mails waiting to be sent.
    ///
    /// # Errors
    /// When the outbox cannot be read.
    pub async fn pending(&self) -> Result<u64, StoreError> {
        self.outbox.pending().await
    }

    /// Deletes sent and given-up mails finished before `before`.
    ///
    /// # Errors
    /// When the outbox cannot be written.
    pub async fn purge_finished(
        &self,
        before: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError> {
        self.outbox.purge_finished(before).await
    }
}
