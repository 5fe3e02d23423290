//! The shared backend for several instances: Redis. [`revocations`] carries new rules to
//! every instance over pub/sub; [`limits`] keeps the rate limits where every instance
//! sees them. This file holds what both use: the connection and the rule codec.

pub mod limits;
pub mod revocations;

use std::time::Duration;

use chrono::DateTime;
use redis::AsyncCommands as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tessera_domain::revocation::{Revocation, RevocationEntry};
use uuid::Uuid;

pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(1);

pub(crate) async fn manager(url: &str) -> anyhow::Result<ConnectionManager> {
    let client = redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(IO_TIMEOUT))
        .set_response_timeout(Some(IO_TIMEOUT))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    Ok(ConnectionManager::new_with_config(client, config).await?)
}

pub(crate) fn encode(e: &RevocationEntry) -> String {
    let (kind, subject, before) = e.revocation.parts();
    let before = before.map_or(0, |b| b.timestamp_millis());
    format!(
        "{kind} {subject} {before} {}",
        e.expires_at.timestamp_millis()
    )
}

pub(crate) fn decode(msg: &str) -> Option<RevocationEntry> {
    let mut parts = msg.split(' ');
    let kind = parts.next()?;
    let subject = Uuid::parse_str(parts.next()?).ok()?;
    let before = DateTime::from_timestamp_millis(parts.next()?.parse().ok()?)?;
    let expires_at = DateTime::from_timestamp_millis(parts.next()?.parse().ok()?)?;
    let revocation = Revocation::from_parts(kind, subject, Some(before))?;
    Some(RevocationEntry {
        revocation,
        expires_at,
    })
}

/// Deletes every key under `prefix:` (tests use a prefix each, and leave nothing behind).
///
/// # Errors
/// When Redis cannot be reached.
pub async fn delete_prefix(url: &str, prefix: &str) -> anyhow::Result<()> {
    let mut conn = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let keys: Vec<String> = {
        let mut iter: redis::AsyncIter<String> = conn.scan_match(format!("{prefix}:*")).await?;
        let mut keys = Vec::new();
        while let Some(k) = iter.next_item().await {
            keys.push(k?);
        }
        keys
    };
    if !keys.is_empty() {
        let _: i64 = conn.del(keys).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use tessera_domain::session::SessionId;
    use tessera_domain::user::UserId;

    use super::*;

    #[test]
    fn messages_round_trip() {
        let at = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
        for r in [
            Revocation::Token(Uuid::new_v4()),
            Revocation::Session(SessionId::new_random()),
            Revocation::UserBefore(UserId::new_random(), at),
        ] {
            let e = RevocationEntry {
                revocation: r,
                expires_at: at,
            };
            assert_eq!(decode(&encode(&e)), Some(e));
        }
        assert_eq!(decode("token nope 0 0"), None);
    }
}
