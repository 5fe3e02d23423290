//! criterion benchmarks of the costs that decide throughput: RS256 verification (cold and
//! cached) and signing, argon2id at the production parameters, a revocation lookup, and
//! the whole protected request in-process (routing, bearer check, handler, JSON).
//!
//! `cargo bench -p tessera` (add `-- --quick` for a fast pass).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use poem::{Endpoint, Request};
use tessera_domain::ports::StoreError;
use tessera_domain::revocation::{Revocation, RevocationEntry, RevocationList, RevocationStore};
use tessera_domain::session::SessionId;
use tessera_domain::token::{AccessTokenSigner, AccessTokenVerifier, Claims, TokenPolicy};
use tessera_domain::user::UserId;
use tessera_keys::{KeyMaterial, KeyRingHandle, RsaBits};

fn policy() -> TokenPolicy {
    TokenPolicy {
        issuer: "tessera".into(),
        audience: "tessera".into(),
        access_ttl: TimeDelta::minutes(15),
        leeway: TimeDelta::seconds(30),
    }
}

fn claims(now: DateTime<Utc>) -> Claims {
    Claims {
        iss: "tessera".into(),
        aud: tessera_domain::token::Audience::one("tessera"),
        sub: UserId::new_random(),
        exp: now.timestamp() + 900,
        iat: now.timestamp(),
        nbf: now.timestamp(),
        jti: uuid::Uuid::new_v4(),
        sid: SessionId::new_random(),
        username: "alice".into(),
        roles: vec![],
        amr: vec!["pwd".into()],
        auth_time: now.timestamp(),
        client_id: None,
        scope: None,
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn tokens(c: &mut Criterion) {
    tessera_keys::install_crypto_provider();
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let key = KeyMaterial::generate(RsaBits::B2048).unwrap();
    std::fs::write(dir.path().join("k.pem"), key.to_pkcs8_pem().unwrap()).unwrap();
    let ring = rt
        .block_on(KeyRingHandle::open_files(dir.path().to_owned(), policy()))
        .unwrap();
    let now = Utc::now();
    let mut group = c.benchmark_group("token");
    group.bench_function("sign (RS256-2048)", |b| {
        let c = claims(now);
        b.iter(|| ring.sign(black_box(&c)).unwrap());
    });
    group.bench_function("verify, first sight (RSA)", |b| {
        b.iter_custom(|iters| {
            let fresh: Vec<String> = (0..iters)
                .map(|_| ring.sign(&claims(now)).unwrap())
                .collect();
            let start = Instant::now();
            for t in &fresh {
                rt.block_on(ring.verify(black_box(t), now)).unwrap();
            }
            start.elapsed()
        });
    });
    let token = ring.sign(&claims(now)).unwrap();
    rt.block_on(ring.verify(&token, now)).unwrap();
    group.bench_function("verify, repeated token (cached)", |b| {
        b.iter(|| rt.block_on(ring.verify(black_box(&token), now)).unwrap());
    });
    group.finish();
}

fn argon2(c: &mut Criterion) {
    let argon = tessera_domain::password::Argon2id::new(Default::default()).unwrap();
    let mut group = c.benchmark_group("argon2id");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(5));
    group.bench_function("hash (m=19456 KiB, t=2, p=1)", |b| {
        b.iter(|| argon.hash(black_box("correct horse battery")).unwrap());
    });
    group.finish();
}

struct NoStore;

#[async_trait]
impl RevocationStore for NoStore {
    async fn insert(&self, _: &RevocationEntry) -> Result<(), StoreError> {
        Ok(())
    }
    async fn load_active(&self, _: DateTime<Utc>) -> Result<Vec<RevocationEntry>, StoreError> {
        Ok(Vec::new())
    }
    async fn cursor(&self) -> Result<i64, StoreError> {
        Ok(0)
    }
    async fn load_since(
        &self,
        cursor: i64,
        _: DateTime<Utc>,
    ) -> Result<(Vec<RevocationEntry>, i64), StoreError> {
        Ok((Vec::new(), cursor))
    }
    async fn purge_expired(&self, _: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(0)
    }
}

fn revocation(c: &mut Criterion) {
    let rt = runtime();
    let now = Utc::now();
    let list = rt
        .block_on(tessera_revocation::MemoryRevocationList::load(
            Arc::new(NoStore),
            now,
        ))
        .unwrap();
    rt.block_on(async {
        for _ in 0..10_000 {
            list.revoke(RevocationEntry {
                revocation: Revocation::Session(SessionId::new_random()),
                expires_at: now + TimeDelta::minutes(15),
            })
            .await
            .unwrap();
        }
    });
    let probe = claims(now);
    c.bench_function("revocation/lookup (10k rules, miss)", |b| {
        b.iter(|| list.is_revoked(black_box(&probe), now).unwrap());
    });
}

fn protected_request(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let mut config = tessera::Config::default();
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    config.database.url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
    config.keys.encryption_key_file = dir.path().join("kek");
    config.limits.enabled = false;
    config.passwords.argon2_memory_kib = 64;
    config.passwords.argon2_iterations = 1;
    let (ep, token) = rt.block_on(async {
        let app = tessera::Application::build(config).await.unwrap();
        let ep = app.endpoint();
        let body = r#"{"username":"benchuser","password":"correct horse battery"}"#;
        for path in ["/v1/auth/register", "/v1/auth/login"] {
            let resp = ep
                .call(
                    Request::builder()
                        .method(poem::http::Method::POST)
                        .uri(path.parse().unwrap())
                        .content_type("application/json")
                        .body(body),
                )
                .await
                .unwrap();
            if path.ends_with("login") {
                let v: serde_json::Value =
                    serde_json::from_slice(&resp.into_body().into_vec().await.unwrap()).unwrap();
                return (ep, v["access_token"].as_str().unwrap().to_owned());
            }
        }
        unreachable!()
    });
    let mut group = c.benchmark_group("http in-process");
    let bearer = format!("Bearer {token}");
    group.bench_function("GET /v1/dashboard (valid token)", |b| {
        b.iter(|| {
            rt.block_on(async {
                let resp = ep
                    .call(
                        Request::builder()
                            .uri("/v1/dashboard".parse().unwrap())
                            .header("authorization", bearer.as_str())
                            .finish(),
                    )
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200);
            });
        });
    });
    group.bench_function("GET /healthz", |b| {
        b.iter(|| {
            rt.block_on(async {
                let resp = ep
                    .call(Request::builder().uri("/healthz".parse().unwrap()).finish())
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 200);
            });
        });
    });
    group.finish();
}

criterion_group!(benches, tokens, argon2, revocation, protected_request);
criterion_main!(benches);
