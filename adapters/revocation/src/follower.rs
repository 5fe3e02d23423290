//! Following the durable store: the rules other processes wrote reach this one by
//! polling new rows by position (the CLI, an instance whose publish failed, every
//! instance of the memory backend).

use chrono::{DateTime, Utc};
use tessera_domain::revocation::{RevocationError, RevocationStore};

use crate::rules::RuleCache;

/// Follows the durable store's new rows by position. Each poll reads again from the
/// position of [`LOOKBACK_POLLS`] polls ago, since a row can become visible after one
/// with a higher position (two concurrent inserts commit in either order); a rule read
/// twice is remembered once.
pub(crate) struct StoreFollower {
    positions: std::sync::Mutex<std::collections::VecDeque<i64>>,
}

/// With a poll a second, a row that commits up to ~10 s after a later one is still seen.
const LOOKBACK_POLLS: usize = 10;

impl StoreFollower {
    pub(crate) fn new(cursor: i64) -> Self {
        Self {
            positions: std::sync::Mutex::new(std::collections::VecDeque::from([cursor])),
        }
    }

    /// Remembers every rule written since the last polls (a revocation list's `sync`).
    ///
    /// # Errors
    /// `Unavailable` when the store cannot be read.
    pub(crate) async fn poll(
        &self,
        store: &dyn RevocationStore,
        rules: &RuleCache,
        now: DateTime<Utc>,
    ) -> Result<(), RevocationError> {
        let from = self.lock().front().copied().unwrap_or(0);
        let (entries, newest) = store
            .load_since(from, now)
            .await
            .map_err(|e| RevocationError::Unavailable(e.into()))?;
        for entry in &entries {
            rules.remember(entry);
        }
        let mut positions = self.lock();
        let last = positions.back().copied().unwrap_or(0);
        positions.push_back(newest.max(last));
        while positions.len() > LOOKBACK_POLLS {
            positions.pop_front();
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<i64>> {
        self.positions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
