//! The password-hashing adapter: runs argon2id on tokio's blocking pool with bounded
//! concurrency and a bounded queue, so a login flood costs bounded memory and excess
//! requests are refused at once (503) instead of timing out.

use std::sync::Arc;

use async_trait::async_trait;
use opentelemetry::KeyValue;
use tessera_domain::password::{Argon2id, HashError, PasswordHasher, Verification};
use tessera_domain::user::{Password, PasswordAttempt, PasswordHash};
use tokio::sync::Semaphore;

use crate::telemetry::{Metrics, Spans};

pub struct BlockingHasher {
    argon: Arc<Argon2id>,
    capacity: usize,
    metrics: Arc<Metrics>,
    spans: Spans,
    /// Requests admitted (running or waiting); beyond it, `Busy`.
    admitted: Arc<Semaphore>,
    /// Hashes running at once (each holds `memory_kib` of RAM).
    running: Arc<Semaphore>,
}

impl BlockingHasher {
    pub fn new(
        argon: Argon2id,
        concurrency: usize,
        queue: usize,
        metrics: Arc<Metrics>,
        spans: Spans,
    ) -> Self {
        let concurrency = concurrency.max(1);
        Self {
            argon: Arc::new(argon),
            capacity: concurrency + queue,
            metrics,
            spans,
            admitted: Arc::new(Semaphore::new(concurrency + queue)),
            running: Arc::new(Semaphore::new(concurrency)),
        }
    }

    /// Reads how many hashes are running or waiting.
    pub fn depth_probe(&self) -> impl Fn() -> usize + Send + Sync + 'static {
        let (admitted, capacity) = (Arc::clone(&self.admitted), self.capacity);
        move || capacity.saturating_sub(admitted.available_permits())
    }

    async fn run<T, F>(&self, name: &'static str, work: F) -> Result<T, HashError>
    where
        T: Send + 'static,
        F: FnOnce(&Argon2id) -> anyhow::Result<T> + Send + 'static,
    {
        let _admitted = Arc::clone(&self.admitted)
            .try_acquire_owned()
            .map_err(|_| HashError::Busy)?;
        let _running = Arc::clone(&self.running)
            .acquire_owned()
            .await
            .map_err(|e| HashError::Unknown(e.into()))?;
        let argon = Arc::clone(&self.argon);
        let _span = self.spans.child(name);
        let started = std::time::Instant::now();
        let result = tokio::task::spawn_blocking(move || work(&argon))
            .await
            .map_err(|e| HashError::Unknown(e.into()))?
            .map_err(HashError::Unknown);
        self.metrics.hash_duration.record(
            started.elapsed().as_secs_f64(),
            &[KeyValue::new("op", name)],
        );
        result
    }
}

#[async_trait]
impl PasswordHasher for BlockingHasher {
    async fn hash(&self, password: &Password) -> Result<PasswordHash, HashError> {
        let password = password.clone();
        self.run("password.hash", move |a| a.hash(password.expose()))
            .await
    }

    async fn verify(
        &self,
        attempt: &PasswordAttempt,
        hash: &PasswordHash,
    ) -> Result<Verification, HashError> {
        let (attempt, hash) = (attempt.clone(), hash.clone());
        self.run("password.verify", move |a| {
            a.verify(attempt.expose(), &hash)
        })
        .await
    }

    async fn verify_dummy(&self, attempt: &PasswordAttempt) -> Result<(), HashError> {
        let attempt = attempt.clone();
        self.run("password.verify", move |a| {
            a.verify_dummy(attempt.expose());
            Ok(())
        })
        .await
    }
}
