//! What each instance does in the background while it serves: scheduled key
//! maintenance, following what other processes wrote (revocations, key changes), the
//! hourly purge of lapsed revocations, old audit events, expired mail tokens and old
//! outbox rows, the outbox's sender, and waiting for the signal to shut down.

use std::time::Duration;

use chrono::TimeDelta;

use crate::edge::AppState;

/// Every `keys.refresh_interval`: what is due (generate, promote, retire), audited by the
/// one key-administration use case, then a reload of the ring.
pub async fn maintain_keys(state: AppState, every: Duration) {
    // Start-up already performed what was due; the first round comes one interval later.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = state.keys_admin.maintenance_round().await {
            tracing::warn!(error = %e, "key rotation step failed");
        }
    }
}

/// Takes in what other processes wrote — revocations (the CLI's `users disable`, an
/// instance whose publish failed, every instance of the memory backend) and signing-key
/// changes (the CLI's `keys revoke`) — so each reaches this server within one interval.
pub async fn follow_other_processes(state: AppState, every: Duration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = state.revocations.sync(state.accounts.now()).await {
            tracing::warn!(error = %e, "revocation poll failed");
        }
        match state.keys.refresh_if_changed().await {
            Ok(true) => tracing::info!("signing keys changed elsewhere: ring reloaded"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "signing-key poll failed"),
        }
    }
}

/// How long the sender waits after being woken before its round.
const WAKE_DELAY: Duration = Duration::from_millis(25);

/// The outbox's sender: a round whenever a request queued mail, and every `every`
/// anyway (retries, mail queued by another process). Rounds continue while they find
/// mail, then the outbox depth is refreshed for the gauge.
pub async fn deliver_mail(state: AppState, every: Duration) {
    let metrics = std::sync::Arc::clone(&state.telemetry.metrics);
    loop {
        tokio::select! {
            () = state.mail.wake.notified() => {
                // Let the request that queued the mail answer first: a round started at
                // once competes with it for the store and the CPU, which made a reset for
                // a known address measurably slower than one for an unknown address.
                tokio::time::sleep(WAKE_DELAY).await;
            }
            () = tokio::time::sleep(every) => {}
        }
        loop {
            match state.mail.delivery.round().await {
                Ok(round) => {
                    metrics.mail_sent.add(round.sent, &[]);
                    metrics.mail_failed.add(round.given_up, &[]);
                    if round.given_up > 0 {
                        tracing::warn!(
                            given_up = round.given_up,
                            "mail given up (see outbox.last_error)"
                        );
                    }
                    // Another round only while rounds finish mail; retries wait.
                    if round.finished() == 0 {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "outbox unavailable");
                    break;
                }
            }
        }
        if let Ok(n) = state.mail.delivery.pending().await {
            metrics
                .outbox_depth
                .store(n, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Every hour: revocation rules no token can need any more, audit events past retention.
pub async fn purge_lapsed(state: AppState, audit_retention: Duration) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        if let Err(e) = purge_once(&state, audit_retention).await {
            tracing::warn!(error = %e, "purge failed");
        }
    }
}

/// Deletes revocation rules no token can need any more, and audit events past retention.
pub async fn purge_once(state: &AppState, audit_retention: Duration) -> anyhow::Result<()> {
    let now = state.accounts.now();
    let n = state.revocation_store.purge_expired(now).await?;
    if n > 0 {
        tracing::debug!(purged = n, "lapsed revocations purged");
    }
    let n = state
        .accounts
        .purge_audit(now - TimeDelta::from_std(audit_retention)?)
        .await?;
    if n > 0 {
        tracing::info!(purged = n, "audit events past retention purged");
    }
    let n = state.factors.purge_challenges(now).await?
        + state.oidc.purge_codes(now).await?
        + state.oidc.purge_device_grants(now).await?;
    if n > 0 {
        tracing::debug!(
            purged = n,
            "expired sign-in challenges and authorization codes purged"
        );
    }
    let n = state.emails.purge_mail_tokens(now).await?
        + state
            .mail
            .delivery
            .purge_finished(now - TimeDelta::from_std(state.mail.retention)?)
            .await?;
    if n > 0 {
        tracing::debug!(purged = n, "expired mail tokens and old outbox rows purged");
    }
    Ok(())
}

pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
