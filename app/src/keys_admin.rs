//! Signing-key administration: the one place key operations start from — the admin API,
//! the CLI and the background maintenance round (and the tests' `tick_keys`) — and so
//! the one audit rule for them:
//!
//! - `key_rotated` (with the `kid`) when a key starts signing, whether it was generated
//!   active (an emergency rotation, the first key) or promoted from pending (a scheduled
//!   rotation reaching its time, or a revocation of the active key);
//! - `key_revoked` when a key is taken out of service.
//!
//! Publishing a pending key and retiring an old one are not audited: they change no
//! signature anyone relies on.

use std::sync::Arc;

use tessera_domain::clock::Clock;
use tessera_domain::keys::{KeyState, SigningKeyRecord};
use tessera_domain::ports::{AuditEvent, AuditSink};
use tessera_domain::session::ClientInfo;
use tessera_keys::{KeyError, KeyEvent, KeyRingHandle};

/// Who started a key operation that no request started: the background round.
fn scheduler() -> ClientInfo {
    ClientInfo {
        ip: None,
        user_agent: Some("tessera-scheduler".into()),
    }
}

#[derive(Clone)]
pub struct KeyAdmin {
    keys: Arc<KeyRingHandle>,
    audit: Arc<dyn AuditSink>,
    clock: Arc<dyn Clock>,
}

impl KeyAdmin {
    pub fn new(keys: Arc<KeyRingHandle>, audit: Arc<dyn AuditSink>, clock: Arc<dyn Clock>) -> Self {
        Self { keys, audit, clock }
    }

    /// Every key with its lifecycle state, retired ones included (no private parts).
    pub fn records(&self) -> Vec<SigningKeyRecord> {
        self.keys.snapshot().records().to_vec()
    }

    /// Whether a key is loaded to sign with (readiness).
    pub fn can_sign(&self) -> bool {
        self.keys.snapshot().active_kid().is_some()
    }

    /// Publishes a new key; it signs after `keys.prepublish`, or at once if `immediate`.
    ///
    /// # Errors
    /// As [`KeyRingHandle::rotate`].
    pub async fn rotate(
        &self,
        immediate: bool,
        client: &ClientInfo,
    ) -> Result<Vec<KeyEvent>, KeyError> {
        let events = self.keys.rotate(self.clock.now(), immediate).await?;
        self.record(&events, client).await;
        Ok(events)
    }

    /// Takes a key out of service at once (an active key is replaced first).
    ///
    /// # Errors
    /// As [`KeyRingHandle::revoke`].
    pub async fn revoke(&self, kid: &str, client: &ClientInfo) -> Result<Vec<KeyEvent>, KeyError> {
        let events = self.keys.revoke(kid, self.clock.now()).await?;
        self.record(&events, client).await;
        let event = AuditEvent::KeyRevoked {
            kid: kid.to_owned(),
        };
        self.audit.record(event, self.clock.now(), client).await;
        Ok(events)
    }

    /// One round of scheduled maintenance (what is due: generate, promote, retire), then
    /// a reload of the ring.
    ///
    /// # Errors
    /// As [`KeyRingHandle::tick`]; a failed reload is only logged (the next round retries).
    pub async fn maintenance_round(&self) -> Result<Vec<KeyEvent>, KeyError> {
        let events = self.keys.tick(self.clock.now()).await?;
        self.record(&events, &scheduler()).await;
        if let Err(e) = self.keys.refresh().await {
            tracing::warn!(error = %e, "key ring reload failed");
        }
        Ok(events)
    }

    async fn record(&self, events: &[KeyEvent], client: &ClientInfo) {
        for event in events {
            let started_signing = match event {
                KeyEvent::Generated {
                    kid,
                    state: KeyState::Active,
                }
                | KeyEvent::Promoted { kid, .. } => Some(kid),
                KeyEvent::Generated { .. } | KeyEvent::Retired { .. } => None,
            };
            if let Some(kid) = started_signing {
                let event = AuditEvent::KeyRotated { kid: kid.clone() };
                self.audit.record(event, self.clock.now(), client).await;
            }
        }
    }
}
