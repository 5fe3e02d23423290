//! The audit sink of this stage: security events as structured log lines under the
//! `audit` target, never carrying a password or token.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tessera_domain::ports::{AuditEvent, AuditSink};
use tessera_domain::session::ClientInfo;

#[derive(Debug, Default)]
pub struct LogAuditSink;

#[async_trait]
impl AuditSink for LogAuditSink {
    async fn record(&self, event: AuditEvent, at: DateTime<Utc>, client: &ClientInfo) {
        tracing::info!(
            target: "audit",
            event = event.name(),
            detail = ?event,
            at = %at,
            ip = client.ip.as_deref().unwrap_or("-"),
            user_agent = client.user_agent.as_deref().unwrap_or("-"),
        );
    }
}
