//! The composition root: `Application::build` reads the configuration, connects and
//! migrates the store, loads the keys and the revocation list, wires the adapters into
//! the use cases, binds the listener and exposes its port. Nothing else chooses adapters.
//! The routes are assembled in `http.rs`, the background loops live in `background.rs`
//! and the key-encryption key is loaded by `kek.rs`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use poem::endpoint::BoxEndpoint;
use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::{Route, Server};
use tessera_domain::auth::{
    Accounts, AuthDeps, Core, EmailFlows, OidcDeps, OidcProvider, SecondFactorDeps, SecondFactors,
};
use tessera_domain::clock::{Clock, SystemClock};
use tessera_domain::delivery::MailDelivery;
use tessera_domain::email::{DeliveryPolicy, MailPolicy};
use tessera_domain::keys::RotationPolicy;
use tessera_domain::mfa::{MfaPolicy, RecoveryCodeKey, SecretSealer};
use tessera_domain::password::{Argon2Params, Argon2id};
use tessera_domain::ports::MailTransport;
use tessera_domain::revocation::RevocationList;
use tessera_domain::session::{RefreshTokenMint, SessionPolicy};
use tessera_domain::throttle::{NoLimits, RateLimiter, ThrottlePolicy};
use tessera_domain::token::TokenPolicy;
use tessera_domain::user::PasswordPolicy;
use tessera_keys::KeyRingHandle;
use tessera_mail::{LogTransport, SmtpSettings, SmtpTransport};
use tessera_mfa::{PasskeyParty, RelyingParty, Totp};
use tessera_revocation::{
    ClientQuota, ClientQuotas, MemoryRateLimiter, MemoryRevocationList, RedisRateLimiter,
    RedisRevocationList,
};
use tessera_sql::{PoolOptions, SqlStore};
use url::Url;

use crate::background::{
    deliver_mail, follow_other_processes, maintain_keys, purge_lapsed, shutdown_signal,
};
use crate::config::{Config, KeySourceKind, MailTransportKind, RevocationBackend};
use crate::edge::{AppState, SharedState};
use crate::hashing::BlockingHasher;
use crate::http::{metrics_endpoint, routes};
use crate::kek::load_kek;
use crate::keys_admin::KeyAdmin;
use crate::observe::{ObservedAudit, ObservedRevocations, ObservedSigner, ObservedTransport};
use crate::sealed_mail::SealedMail;
use crate::telemetry::Telemetry;
use tessera_domain::ports::AuditSink;

/// A built, bound, not yet serving application.
pub struct Application {
    acceptor: TcpAcceptor,
    addr: SocketAddr,
    state: AppState,
    /// The pool, closed at shutdown.
    store: SqlStore,
    config: Config,
}

impl Application {
    /// Builds the application on the wall clock.
    ///
    /// # Errors
    /// When the store, the keys or the listener cannot be set up.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    /// Builds the application on the given clock (tests move time through it).
    ///
    /// # Errors
    /// When the store, the keys or the listener cannot be set up.
    pub async fn build_with_clock(
        mut config: Config,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let acceptor = TcpListener::bind(config.server.listen)
            .into_acceptor()
            .await?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .ok_or_else(|| anyhow::anyhow!("listener has no address"))?;
        // Bound first, so that what derives from the address (the default issuer, mailed
        // links) names the port the system chose for `:0`.
        config.server.listen = addr;
        let (state, store) = build_state(&config, clock).await?;
        Ok(Self {
            acceptor,
            addr,
            state,
            store,
            config,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The store's pool, for in-process callers such as tests.
    pub fn store(&self) -> &SqlStore {
        &self.store
    }

    /// The account use cases, for in-process callers such as benchmarks and tests.
    pub fn accounts(&self) -> &Accounts {
        &self.state.accounts
    }

    /// The whole HTTP surface as an endpoint, for in-process callers (benchmarks).
    pub fn endpoint(&self) -> BoxEndpoint<'static> {
        routes(
            &self.state,
            &format!("http://{}", self.addr),
            &self.config.server,
            &self.config.telemetry,
        )
    }

    /// Everything wired, for in-process callers such as tests.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The key ring, for in-process callers such as tests driving rotation.
    pub fn keys(&self) -> &Arc<KeyRingHandle> {
        &self.state.keys
    }

    /// Serves until SIGTERM or Ctrl-C.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish within
    /// `server.shutdown_grace`.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let public_url = self
            .config
            .server
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.addr));
        let app = routes(
            &self.state,
            &public_url,
            &self.config.server,
            &self.config.telemetry,
        );
        let metrics_server = match (
            self.config.telemetry.metrics,
            self.config.telemetry.metrics_listen,
        ) {
            (true, Some(addr)) => {
                let listener = TcpListener::bind(addr).into_acceptor().await?;
                let endpoint = Route::new().at(
                    "/metrics",
                    metrics_endpoint(Arc::clone(&self.state.telemetry)),
                );
                tracing::info!(address = %addr, "serving /metrics");
                Some(tokio::spawn(async move {
                    let _ = Server::new_with_acceptor(listener).run(endpoint).await;
                }))
            }
            _ => None,
        };
        tracing::info!(address = %self.addr, docs = %format!("{public_url}/docs"), "serving");
        let purge = tokio::spawn(purge_lapsed(
            self.state.clone(),
            self.config.audit.retention,
        ));
        let follow = tokio::spawn(follow_other_processes(
            self.state.clone(),
            self.config.revocation.poll_interval,
        ));
        let keys = tokio::spawn(maintain_keys(
            self.state.clone(),
            self.config.keys.refresh_interval,
        ));
        if self.config.mail.transport == MailTransportKind::Log {
            tracing::warn!(
                "mail.transport = \"log\": mail is NOT delivered; verification and reset \
                 links are written to this log instead (set mail.transport = \"smtp\")"
            );
        }
        let mail = tokio::spawn(deliver_mail(
            self.state.clone(),
            self.config.mail.send_interval,
        ));
        let result = Server::new_with_acceptor(self.acceptor)
            .idle_timeout(self.config.server.idle_timeout)
            .run_with_graceful_shutdown(app, shutdown, Some(self.config.server.shutdown_grace))
            .await;
        purge.abort();
        follow.abort();
        keys.abort();
        mail.abort();
        if let Some(m) = metrics_server {
            m.abort();
        }
        self.state.telemetry.shutdown();
        self.store.close().await;
        Ok(result?)
    }
}

/// Wires every adapter into the use cases, without a listener: the server and the CLI
/// share it, so there is one composition root.
///
/// # Errors
/// When the store, the keys or the revocation list cannot be set up.
pub async fn build_state(
    config: &Config,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(AppState, SqlStore)> {
    tessera_keys::install_crypto_provider();
    config.validate()?;
    let telemetry = Arc::new(Telemetry::build(&config.telemetry)?);
    let clock_for_gauges = Arc::clone(&clock);
    let mut store = connect_store(config).await?;
    {
        let (metrics, spans) = (Arc::clone(&telemetry.metrics), telemetry.spans.clone());
        store.observe_statements(move |elapsed, failed| {
            metrics.store_duration.record(elapsed.as_secs_f64(), &[]);
            spans.record_past(
                "db.statement",
                elapsed,
                vec![opentelemetry::KeyValue::new("error", failed)],
            );
        });
    }
    store.migrate().await?;
    let kek = load_kek(config)?;

    let tokens = token_policy(config)?;
    let keys = Arc::new(match config.keys.source {
        KeySourceKind::Database => {
            let rotation = RotationPolicy {
                rotate_every: delta(config.keys.rotate_every)?,
                prepublish: delta(config.keys.prepublish)?,
                retire_after: tokens.access_ttl + tokens.leeway,
            };
            KeyRingHandle::open_database(
                Arc::new(store.clone()),
                kek.clone(),
                config.keys.rsa_bits,
                rotation,
                tokens.clone(),
                clock.now(),
            )
            .await?
        }
        KeySourceKind::Files => {
            KeyRingHandle::open_files(config.keys.dir.clone(), tokens.clone()).await?
        }
    });
    let revocations: Arc<dyn RevocationList> = match config.revocation.backend {
        RevocationBackend::Memory => Arc::new(
            MemoryRevocationList::load(Arc::new(store.clone()), clock.now())
                .await
                .map_err(|e| anyhow::anyhow!("cannot load the revocation list: {e}"))?,
        ),
        RevocationBackend::Redis => Arc::new(
            RedisRevocationList::connect(
                &config.revocation.redis_url,
                &config.revocation.redis_prefix,
                Arc::new(store.clone()),
                clock.clone(),
            )
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot reach Redis at {}: {e}",
                    crate::config::redact_url(&config.revocation.redis_url)
                )
            })?,
        ),
    };
    let hasher = build_hasher(config, &telemetry).await?;
    // Twice the hashing pool's places: requests refused cheaply on the way to a hash (a
    // locked account, a malformed name) pass the door too, and must not crowd out the
    // ones that will hash.
    let password_door = Arc::new(tokio::sync::Semaphore::new(hasher.capacity() * 2));
    let limiter: Arc<dyn RateLimiter> = Arc::new(crate::observe::ObservedLimiter {
        inner: build_limiter(config).await?,
        metrics: Arc::clone(&telemetry.metrics),
    });

    let sealed_mail = Arc::new(SealedMail {
        inner: Arc::new(store.clone()),
        kek: kek.clone(),
    });
    let delivery = build_delivery(config, sealed_mail.clone(), &telemetry, Arc::clone(&clock))?;
    let sessions = SessionPolicy {
        idle_ttl: delta(config.tokens.refresh_idle_ttl)?,
        max_ttl: delta(config.tokens.session_max_ttl)?,
        reuse_grace: delta(config.tokens.reuse_grace)?,
    };
    let audit: Arc<dyn AuditSink> = Arc::new(ObservedAudit {
        inner: Arc::new(store.clone()),
        metrics: Arc::clone(&telemetry.metrics),
    });
    let clients: Arc<dyn tessera_domain::oidc::ClientStore> = Arc::new(
        crate::docs_client::WithDocsClient::new(Arc::new(store.clone()), &public_base(config)),
    );
    let core = Core::new(
        AuthDeps {
            users: Arc::new(store.clone()),
            sessions: Arc::new(store.clone()),
            hasher: Arc::new(hasher),
            signer: Arc::new(ObservedSigner {
                inner: keys.clone(),
                metrics: Arc::clone(&telemetry.metrics),
                spans: telemetry.spans.clone(),
            }),
            verifier: keys.clone(),
            revocations: Arc::new(ObservedRevocations {
                inner: revocations.clone(),
                metrics: Arc::clone(&telemetry.metrics),
                spans: telemetry.spans.clone(),
            }),
            audit: Arc::clone(&audit),
            audit_log: Arc::new(store.clone()),
            limiter: limiter.clone(),
            clock: Arc::clone(&clock),
            email_tokens: sealed_mail,
        },
        tokens,
        sessions,
        RefreshTokenMint::new(kek.derive("tessera refresh-token mint v1")),
    )
    .with_mail(mail_policy(config)?)
    .with_reauthentication_window(delta(config.security.reauthentication_window)?)
    .with_logout_notices(tessera_domain::auth::LogoutNotices {
        clients: Arc::clone(&clients),
        id_tokens: keys.clone(),
    });
    let emails = EmailFlows::new(core.clone());
    let factors = SecondFactors::new(
        core.clone(),
        SecondFactorDeps {
            factors: Arc::new(store.clone()),
            challenges: Arc::new(store.clone()),
            totp: Arc::new(Totp::new(config.webauthn.rp_name.clone())),
            webauthn: Arc::new(PasskeyParty::new(&relying_party(config)?)?),
            sealer: Arc::new(KekSealer(kek.clone())),
            policy: MfaPolicy::new(RecoveryCodeKey::new(
                kek.derive("tessera recovery codes v1"),
            )),
        },
    );
    let accounts = Accounts::new(core.clone(), factors.clone(), emails.clone());
    let oidc = OidcProvider::new(
        core,
        OidcDeps {
            clients,
            id_tokens: keys.clone(),
        },
    );
    observe_keys(&telemetry, &keys, clock_for_gauges);
    let state = AppState::new(SharedState {
        telemetry,
        accounts,
        emails,
        factors,
        oidc,
        keys_admin: KeyAdmin::new(Arc::clone(&keys), audit, clock),
        keys,
        store_health: Arc::new(store.clone()),
        revocation_store: Arc::new(store.clone()),
        revocations,
        limiter,
        password_door,
        trusted_proxies: Arc::new(config.server.trusted_proxies.clone()),
        ipv6_prefix: config.limits.ipv6_prefix,
        password_policy: PasswordPolicy {
            min_chars: config.passwords.min_length,
            max_chars: config.passwords.max_length,
        },
        jwks_max_age_secs: config.keys.jwks_max_age.as_secs(),
        mail: crate::edge::MailState {
            delivery,
            wake: Arc::new(tokio::sync::Notify::new()),
            retention: config.mail.retention,
        },
        pages: crate::edge::browser::PagesConfig::new(
            config
                .server
                .public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://")),
            kek.derive("tessera page csrf v1"),
        ),
        registration_open: config.registration.enabled,
        public_base: public_base(config),
    });
    Ok((state, store))
}

/// Seals TOTP secrets under the key-encryption key.
struct KekSealer(tessera_keys::Kek);

impl SecretSealer for KekSealer {
    fn seal(&self, plaintext: &[u8], context: &str) -> anyhow::Result<Vec<u8>> {
        self.0.seal(plaintext, context)
    }

    fn open(&self, sealed: &[u8], context: &str) -> anyhow::Result<Vec<u8>> {
        self.0.open(sealed, context)
    }
}

/// The WebAuthn relying party: `[webauthn]`, defaulting from the public URL. WebAuthn
/// refuses IP addresses as relying parties, so an IP host (the default listen address)
/// becomes `localhost` on the same port.
fn relying_party(config: &Config) -> anyhow::Result<RelyingParty> {
    let w = &config.webauthn;
    let base = Url::parse(&public_base(config))
        .map_err(|e| anyhow::anyhow!("server.public_url is not a URL: {e}"))?;
    let mut default_origin = base.clone();
    default_origin.set_path("");
    let host_is_ip = matches!(
        base.host(),
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) | None
    );
    if host_is_ip {
        default_origin
            .set_host(Some("localhost"))
            .map_err(|e| anyhow::anyhow!("webauthn origin: {e}"))?;
    }
    let rp_id = match &w.rp_id {
        Some(id) => id.clone(),
        None if host_is_ip => "localhost".into(),
        None => base.host_str().unwrap_or("localhost").to_owned(),
    };
    let origins = if w.origins.is_empty() {
        vec![default_origin]
    } else {
        w.origins
            .iter()
            .map(|o| Url::parse(o).map_err(|e| anyhow::anyhow!("webauthn.origins {o:?}: {e}")))
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    Ok(RelyingParty {
        id: rp_id,
        name: w.rp_name.clone(),
        origins,
    })
}

/// `tokens.issuer`, by default the public URL: the OpenID provider's issuer must be the
/// URL its discovery document is found under (OIDC Discovery §4.3).
pub fn issuer(config: &Config) -> String {
    config
        .tokens
        .issuer
        .clone()
        .unwrap_or_else(|| public_base(config))
}

/// The base of links in mail: `server.public_url`, or the listen address.
fn public_base(config: &Config) -> String {
    config
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.server.listen))
        .trim_end_matches('/')
        .to_owned()
}

fn mail_policy(config: &Config) -> anyhow::Result<MailPolicy> {
    let m = &config.mail;
    let base = public_base(config);
    let product = config
        .server
        .public_url
        .as_deref()
        .and_then(|u| u.split_once("://").map(|(_, rest)| rest))
        .and_then(|rest| rest.split(['/', ':']).next())
        .filter(|h| !h.is_empty())
        .unwrap_or("Tessera")
        .to_owned();
    Ok(MailPolicy {
        verify_ttl: delta(m.verify_ttl)?,
        reset_ttl: delta(m.reset_ttl)?,
        verify_url: m
            .verify_url
            .clone()
            .unwrap_or_else(|| format!("{base}/verify-email?token={{token}}")),
        reset_url: m
            .reset_url
            .clone()
            .unwrap_or_else(|| format!("{base}/reset-password?token={{token}}")),
        verify_subject: m.verify_subject.clone(),
        reset_subject: m.reset_subject.clone(),
        address_taken_subject: m.address_taken_subject.clone(),
        security_notices: m.security_notices,
        account_url: format!("{base}/account"),
        forgot_password_url: format!("{base}/forgot-password"),
        product,
    })
}

/// The outbox's sender with its transport: SMTP, or the log.
fn build_delivery(
    config: &Config,
    outbox: Arc<dyn tessera_domain::ports::Outbox>,
    telemetry: &Telemetry,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<MailDelivery> {
    let m = &config.mail;
    let (transport, relay): (Arc<dyn MailTransport>, String) = match m.transport {
        MailTransportKind::Log => (Arc::new(LogTransport), "log".into()),
        MailTransportKind::Smtp => {
            let url = m
                .smtp_url
                .as_ref()
                .ok_or_else(|| anyhow::anyhow!("mail.transport = \"smtp\" needs mail.smtp_url"))?;
            let ca_pem = m
                .ca_file
                .as_ref()
                .map(|p| {
                    std::fs::read(p)
                        .map_err(|e| anyhow::anyhow!("mail.ca_file {}: {e}", p.display()))
                })
                .transpose()?;
            let smtp = SmtpTransport::new(&SmtpSettings {
                url: url.expose().to_owned(),
                from: m.from.clone(),
                timeout: m.timeout,
                ca_pem,
            })?;
            let relay = smtp.relay.clone();
            (Arc::new(smtp), relay)
        }
    };
    let transport = Arc::new(ObservedTransport {
        inner: transport,
        relay,
        metrics: Arc::clone(&telemetry.metrics),
        spans: telemetry.spans.clone(),
    });
    let policy = DeliveryPolicy {
        retry_base: delta(m.retry_base)?,
        retry_max: delta(m.retry_max)?,
        give_up_after: delta(m.give_up_after)?,
    };
    // A claim outlives the longest send, so no other sender takes a mail mid-send.
    let lease = delta(m.timeout * 2 + Duration::from_secs(5))?;
    let logout = Arc::new(crate::backchannel::HttpLogoutTransport::new(m.timeout)?);
    Ok(MailDelivery::new(
        outbox,
        transport,
        logout,
        clock,
        policy,
        uuid::Uuid::new_v4().to_string(),
        lease,
    ))
}

/// Connects to the configured database.
///
/// # Errors
/// When it cannot be reached.
pub async fn connect_store(config: &Config) -> anyhow::Result<SqlStore> {
    SqlStore::connect(
        &config.database.url,
        &PoolOptions {
            max_connections: config.database.max_connections,
            connect_timeout: config.database.connect_timeout,
            acquire_timeout: config.database.acquire_timeout,
        },
    )
    .await
    .map_err(|e| {
        anyhow::anyhow!(
            "cannot open the database {}: {e}",
            crate::config::redact_url(&config.database.url)
        )
    })
}

fn token_policy(config: &Config) -> anyhow::Result<TokenPolicy> {
    Ok(TokenPolicy {
        issuer: issuer(config),
        audience: config.tokens.audience.clone(),
        access_ttl: delta(config.tokens.access_ttl)?,
        leeway: delta(config.tokens.leeway)?,
    })
}

fn delta(d: Duration) -> anyhow::Result<TimeDelta> {
    TimeDelta::from_std(d).map_err(|_| anyhow::anyhow!("duration {d:?} is out of range"))
}

/// Rate limits live where revocations do: in process, or in Redis for several instances.
async fn build_limiter(config: &Config) -> anyhow::Result<Arc<dyn RateLimiter>> {
    let l = &config.limits;
    if !l.enabled {
        return Ok(Arc::new(NoLimits));
    }
    let quota = |per_minute, burst| (per_minute > 0).then_some(ClientQuota { per_minute, burst });
    let quotas = ClientQuotas {
        login: quota(l.login_per_minute, l.login_burst),
        register: quota(l.register_per_minute, l.register_burst),
        refresh: quota(l.refresh_per_minute, l.refresh_burst),
        revoke: quota(l.revoke_per_minute, l.revoke_burst),
        password_reset: quota(l.password_reset_per_minute, l.password_reset_burst),
        mail_to_address: quota(l.mail_per_address_per_minute, l.mail_per_address_burst),
        email_change: quota(
            l.email_change_per_account_per_minute,
            l.email_change_per_account_burst,
        ),
    };
    let accounts = l
        .account_throttling
        .then(|| -> anyhow::Result<ThrottlePolicy> {
            Ok(ThrottlePolicy {
                free_failures: l.account_free_failures,
                base_delay: delta(l.account_base_delay)?,
                max_delay: delta(l.account_max_delay)?,
            })
        })
        .transpose()?;
    Ok(match config.revocation.backend {
        RevocationBackend::Memory => Arc::new(MemoryRateLimiter::new(quotas, accounts)),
        RevocationBackend::Redis => Arc::new(
            RedisRateLimiter::connect(
                &config.revocation.redis_url,
                &config.revocation.redis_prefix,
                quotas,
                accounts,
            )
            .await?,
        ),
    })
}

/// Key-ring gauges, read at every metrics collection.
fn observe_keys(telemetry: &Telemetry, keys: &Arc<KeyRingHandle>, clock: Arc<dyn Clock>) {
    let ring = Arc::clone(keys);
    telemetry.metrics.gauge(
        "tessera.signing_keys.published",
        "Keys in the JWKS (pending, active, retiring)",
        move || Some(ring.snapshot().jwks().len() as f64),
    );
    let ring = Arc::clone(keys);
    telemetry.metrics.gauge(
        "tessera.signing_key.age",
        "Seconds since the active signing key started signing",
        move || {
            let snapshot = ring.snapshot();
            let kid = snapshot.active_kid()?;
            let record = snapshot.records().iter().find(|r| r.kid == kid)?;
            let since = record.activated_at.unwrap_or(record.created_at);
            Some((clock.now() - since).num_milliseconds() as f64 / 1000.0)
        },
    );
}

async fn build_hasher(config: &Config, telemetry: &Telemetry) -> anyhow::Result<BlockingHasher> {
    let p = &config.passwords;
    let params = Argon2Params {
        memory_kib: p.argon2_memory_kib,
        iterations: p.argon2_iterations,
        parallelism: p.argon2_parallelism,
    };
    // Building it hashes once (the dummy hash): off the async workers.
    let argon = tokio::task::spawn_blocking(move || Argon2id::new(params)).await??;
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    let concurrency = if p.max_concurrent_hashes == 0 {
        cores
    } else {
        p.max_concurrent_hashes
    };
    let queue = if p.max_queued_hashes == 0 {
        concurrency * 8
    } else {
        p.max_queued_hashes
    };
    let hasher = BlockingHasher::new(
        argon,
        concurrency,
        queue,
        Arc::clone(&telemetry.metrics),
        telemetry.spans.clone(),
    );
    let depth = hasher.depth_probe();
    telemetry.metrics.gauge(
        "tessera.password.queue.depth",
        "Password hashes running or waiting",
        move || Some(depth() as f64),
    );
    Ok(hasher)
}
