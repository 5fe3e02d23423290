//! Rotation for the database source: performing the transitions the domain's
//! `RotationPolicy` says are due, and the operators' manual and emergency paths. Every
//! step is a conditional write, so with several instances on one store each transition
//! happens exactly once, whoever gets there first.

use chrono::{DateTime, Utc};
use tessera_domain::keys::{KeyAction, KeyState, SigningKeyRecord};
use tessera_domain::ports::StoreError;

use crate::material::KeyMaterial;
use crate::ring::{KeyError, KeyRingHandle, Source};

/// What a rotation step did, for logs and audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyEvent {
    Generated {
        kid: String,
        state: KeyState,
    },
    Promoted {
        kid: String,
        previous: Option<String>,
    },
    Retired {
        kid: String,
    },
}

impl KeyRingHandle {
    /// Performs every transition due at `now` and reloads if anything changed. Returns
    /// what this instance did (nothing, when another instance was faster).
    ///
    /// # Errors
    /// [`KeyError::Unavailable`] when the store fails.
    pub async fn tick(&self, now: DateTime<Utc>) -> Result<Vec<KeyEvent>, KeyError> {
        let Source::Database {
            store, rotation, ..
        } = &self.source
        else {
            self.refresh().await?;
            return Ok(Vec::new());
        };
        let keys = store.list().await?;
        let mut events = Vec::new();
        for action in rotation.plan(&keys, now) {
            if let Some(e) = self.apply(&keys, action, now).await? {
                events.push(e);
            }
        }
        if !events.is_empty() {
            self.reload().await?;
        }
        Ok(events)
    }

    /// Starts a rotation now: a new pending key, published at once, signing after the
    /// pre-publication window — or at once when `immediate` (emergency).
    ///
    /// # Errors
    /// [`KeyError::ExternallyManaged`] for a files source.
    pub async fn rotate(
        &self,
        now: DateTime<Utc>,
        immediate: bool,
    ) -> Result<Vec<KeyEvent>, KeyError> {
        let Source::Database { store, .. } = &self.source else {
            return Err(KeyError::ExternallyManaged);
        };
        let keys = store.list().await?;
        let (kid, generated) = self.generate_pending(&keys, now).await?;
        let mut events = vec![generated];
        if immediate {
            let previous = active_kid(&store.list().await?);
            if store.promote(&kid, previous.as_deref(), now).await? {
                events.push(KeyEvent::Promoted { kid, previous });
            }
        }
        self.reload().await?;
        Ok(events)
    }

    /// Takes a (compromised) key out of service at once: it leaves the JWKS, its private
    /// part is destroyed, and tokens it signed are refused. Revoking the active key first
    /// promotes a freshly generated one, so signing never stops.
    ///
    /// # Errors
    /// [`KeyError::NotFound`] for an unknown or already retired `kid`.
    pub async fn revoke(&self, kid: &str, now: DateTime<Utc>) -> Result<Vec<KeyEvent>, KeyError> {
        let Source::Database { store, .. } = &self.source else {
            return Err(KeyError::ExternallyManaged);
        };
        let keys = store.list().await?;
        let target = keys
            .iter()
            .find(|k| k.kid == kid && k.state.is_published())
            .ok_or(KeyError::NotFound)?;
        let mut events = Vec::new();
        if target.state == KeyState::Active {
            // A pending key may exist already; if not, make one. Either way it signs now.
            let next = match keys.iter().find(|k| k.state == KeyState::Pending) {
                Some(p) => p.kid.clone(),
                None => {
                    let (next, generated) = self.generate_pending(&keys, now).await?;
                    events.push(generated);
                    next
                }
            };
            if store.promote(&next, Some(kid), now).await? {
                events.push(KeyEvent::Promoted {
                    kid: next,
                    previous: Some(kid.to_owned()),
                });
            }
        }
        if store.retire(kid, now).await? {
            events.push(KeyEvent::Retired {
                kid: kid.to_owned(),
            });
        }
        self.reload().await?;
        Ok(events)
    }

    /// Generates a pending key; fails when another instance took this generation.
    async fn generate_pending(
        &self,
        keys: &[SigningKeyRecord],
        now: DateTime<Utc>,
    ) -> Result<(String, KeyEvent), KeyError> {
        match self
            .apply(keys, KeyAction::Generate { activate: false }, now)
            .await?
        {
            Some(KeyEvent::Generated { kid, state }) => {
                Ok((kid.clone(), KeyEvent::Generated { kid, state }))
            }
            _ => Err(KeyError::Unavailable(anyhow::anyhow!(
                "another instance generated a key at the same moment; retry"
            ))),
        }
    }

    async fn apply(
        &self,
        keys: &[SigningKeyRecord],
        action: KeyAction,
        now: DateTime<Utc>,
    ) -> Result<Option<KeyEvent>, KeyError> {
        let Source::Database {
            store, kek, bits, ..
        } = &self.source
        else {
            return Err(KeyError::ExternallyManaged);
        };
        Ok(match action {
            KeyAction::Generate { activate } => {
                let bits = *bits;
                let material = tokio::task::spawn_blocking(move || KeyMaterial::generate(bits))
                    .await
                    .map_err(|e| KeyError::Unavailable(e.into()))??;
                let state = if activate {
                    KeyState::Active
                } else {
                    KeyState::Pending
                };
                let mut record = material.to_record(kek, state, now)?;
                record.seq = keys.iter().map(|k| k.seq).max().unwrap_or(0) + 1;
                match store.insert(&record).await {
                    Ok(()) => {
                        tracing::info!(
                            kid = material.kid(),
                            state = state.as_str(),
                            "generated a signing key"
                        );
                        Some(KeyEvent::Generated {
                            kid: record.kid,
                            state,
                        })
                    }
                    // Another instance inserted this generation first: its key stands.
                    Err(StoreError::Conflict) => None,
                    Err(e) => return Err(e.into()),
                }
            }
            KeyAction::Promote { next, previous } => {
                if store.promote(&next, previous.as_deref(), now).await? {
                    tracing::info!(kid = %next, previous = ?previous, "signing key promoted");
                    Some(KeyEvent::Promoted {
                        kid: next,
                        previous,
                    })
                } else {
                    None
                }
            }
            KeyAction::Retire { kid } => {
                if store.retire(&kid, now).await? {
                    tracing::info!(kid = %kid, "signing key retired; private part destroyed");
                    Some(KeyEvent::Retired { kid })
                } else {
                    None
                }
            }
        })
    }
}

fn active_kid(keys: &[SigningKeyRecord]) -> Option<String> {
    keys.iter()
        .filter(|k| k.state == KeyState::Active)
        .max_by_key(|k| k.seq)
        .map(|k| k.kid.clone())
}
