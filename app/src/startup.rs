//! The composition root: `Application::build` reads the configuration, connects and
//! migrates the store, loads the keys and the revocation list, wires the adapters into
//! the use cases, binds the listener and exposes its port. Nothing else chooses adapters.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::TimeDelta;
use poem::endpoint::BoxEndpoint;
use poem::http::Method;
use poem::http::{HeaderValue, StatusCode, header};
use poem::listener::{Acceptor, Listener, TcpAcceptor, TcpListener};
use poem::middleware::{Cors, SetHeader};
use poem::{Body, Endpoint, EndpointExt, IntoResponse, Request, Response, Route, Server};
use tessera_blacklist::{
    ClientQuota, ClientQuotas, MemoryRateLimiter, MemoryRevocationList, RedisRateLimiter,
    RedisRevocationList,
};
use tessera_domain::auth::{AuthDeps, AuthService};
use tessera_domain::clock::{Clock, SystemClock};
use tessera_domain::keys::RotationPolicy;
use tessera_domain::password::{Argon2Params, Argon2id};
use tessera_domain::revocation::RevocationList;
use tessera_domain::session::{RefreshTokenMint, SessionPolicy};
use tessera_domain::throttle::{NoLimits, RateLimiter, ThrottlePolicy};
use tessera_domain::token::TokenPolicy;
use tessera_domain::user::PasswordPolicy;
use tessera_keys::{Kek, KeyRingHandle};
use tessera_sql::{PoolOptions, SqlStore};

use crate::api::{self, AppState};
use crate::config::{Config, KeySourceKind, RevocationBackend, ServerConfig, TelemetryConfig};
use crate::hashing::BlockingHasher;
use crate::observe::{ObservedAudit, ObservedRevocations, ObservedSigner, observe_request};
use crate::problem::{ApiError, render_error};
use crate::spec::{self, AllowedMethods, SpecSettings};
use crate::telemetry::Telemetry;

/// A built, bound, not yet serving application.
pub struct Application {
    acceptor: TcpAcceptor,
    addr: SocketAddr,
    state: AppState,
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
    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let state = build_state(&config, clock).await?;
        let acceptor = TcpListener::bind(config.server.listen)
            .into_acceptor()
            .await?;
        let addr = acceptor
            .local_addr()
            .first()
            .and_then(|a| a.as_socket_addr().copied())
            .ok_or_else(|| anyhow::anyhow!("listener has no address"))?;
        Ok(Self {
            acceptor,
            addr,
            state,
            config,
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The use cases, for in-process callers such as benchmarks and tests.
    pub fn auth(&self) -> &AuthService {
        &self.state.auth
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
        let result = Server::new_with_acceptor(self.acceptor)
            .idle_timeout(self.config.server.idle_timeout)
            .run_with_graceful_shutdown(app, shutdown, Some(self.config.server.shutdown_grace))
            .await;
        purge.abort();
        follow.abort();
        keys.abort();
        if let Some(m) = metrics_server {
            m.abort();
        }
        self.state.telemetry.shutdown();
        self.state.store.close().await;
        Ok(result?)
    }
}

/// Swagger UI as poem-openapi renders it, told to keep what a developer enters under
/// "Authorize" across page reloads (Swagger UI's `persistAuthorization`, which
/// poem-openapi does not expose), with no favicon to fetch. The token stays in the docs
/// page's `localStorage`, on the origin that issued it; access tokens live minutes.
/// `tests/api/spec.rs` and the browser test in `tests/browser` notice if a poem-openapi
/// upgrade changes the template this edits.
fn swagger_ui(html: &str) -> Route {
    let html = html
        .replacen(
            "deepLinking: true,",
            "deepLinking: true,\n        persistAuthorization: true,",
            1,
        )
        // No icon to fetch: spares every visit a 404 for /favicon.ico.
        .replacen(
            "<head>",
            "<head>\n    <link rel=\"icon\" href=\"data:,\">",
            1,
        );
    Route::new().at(
        "/",
        poem::endpoint::make_sync(move |_| poem::web::Html(html.clone())),
    )
}

/// Every route, with request hygiene (header size, body size and read time), CORS when
/// configured, security headers and problem+json errors.
fn routes(
    state: &AppState,
    public_url: &str,
    server: &ServerConfig,
    telemetry: &TelemetryConfig,
) -> BoxEndpoint<'static> {
    let service = api::service(public_url);
    let settings = SpecSettings {
        public_url: public_url.to_owned(),
        passwords: state.password_policy,
    };
    let document = spec::document(&settings);
    let allowed = Arc::new(AllowedMethods::from_document(&document));
    let spec_text = serde_json::to_string_pretty(&document).unwrap_or_default();
    // Swagger UI embeds the document: the finished one, not poem-openapi's.
    let docs = swagger_ui(&service.swagger_ui_html().replacen(
        &spec::raw(&settings),
        &spec_text,
        1,
    ));
    let spec_json = text_endpoint("application/json", spec_text);
    let spec_yaml = text_endpoint(
        "application/yaml",
        serde_yaml::to_string(&document).unwrap_or_default(),
    );
    let limits = Hygiene {
        body_limit: server.body_limit,
        max_header_bytes: server.max_header_bytes,
        read_timeout: server.read_timeout,
    };
    let mut route = Route::new()
        .nest("/", service)
        .nest("/docs", docs)
        .at("/openapi.json", spec_json)
        .at("/openapi.yaml", spec_yaml)
        .at("/problems", poem::get(problem_index))
        .at("/problems/:code", poem::get(problem_page));
    if telemetry.metrics && telemetry.metrics_listen.is_none() {
        route = route.at("/metrics", metrics_endpoint(Arc::clone(&state.telemetry)));
    }
    let app = route
        .around(move |next, req| hygiene(next, req, limits))
        .data(state.clone());
    let app = if server.cors_allowed_origins.is_empty() {
        app.boxed()
    } else {
        app.with(
            Cors::new()
                .allow_origins(server.cors_allowed_origins.iter().map(String::as_str))
                .allow_methods([Method::GET, Method::POST, Method::DELETE])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
                .max_age(600),
        )
        .boxed()
    };
    let (metrics, spans) = (
        Arc::clone(&state.telemetry.metrics),
        state.telemetry.spans.clone(),
    );
    let public_url: Arc<str> = Arc::from(public_url);
    app.catch_all_error(render_error)
        .around(move |next, req| {
            let (allowed, public_url) = (Arc::clone(&allowed), Arc::clone(&public_url));
            crate::problem::with_public_url(public_url, allow_header(next, req, allowed))
        })
        .with(SetHeader::new().overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .around(move |next, req| observe_request(next, req, Arc::clone(&metrics), spans.clone()))
        .boxed()
}

/// A fixed text body with its content type.
fn text_endpoint(content_type: &'static str, body: String) -> impl Endpoint + 'static {
    poem::endpoint::make_sync(move |_| {
        Response::builder()
            .content_type(content_type)
            .body(body.clone())
    })
}

/// Adds `Allow` to a 405 (RFC 9110 §15.5.6): the methods the spec gives the path.
async fn allow_header<E: Endpoint>(
    next: Arc<E>,
    req: Request,
    allowed: Arc<AllowedMethods>,
) -> poem::Result<Response> {
    let path = req.uri().path().to_owned();
    let mut resp = next.call(req).await?.into_response();
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED
        && let Some(methods) = allowed.for_path(&path)
        && let Ok(value) = HeaderValue::from_str(methods)
    {
        resp.headers_mut().insert(header::ALLOW, value);
    }
    Ok(resp)
}

/// `GET /problems`: every problem code, each linking to its page.
#[poem::handler]
fn problem_index() -> poem::web::Html<String> {
    let items: String = crate::problem::CATALOG
        .iter()
        .map(|(code, what)| {
            format!("<li><a href=\"problems/{code}\"><code>{code}</code></a>: {what}</li>")
        })
        .collect();
    poem::web::Html(problem_html(
        "Tessera problem types",
        &format!(
            "<p>Every error answer is <code>application/problem+json</code> (RFC 9457) \
             with one of these <code>code</code>s; its <code>type</code> links here.</p>\
             <ul>{items}</ul>"
        ),
    ))
}

/// `GET /problems/{code}`: what a problem `type` means (RFC 9457 §3.1.1: a type URI
/// should resolve to documentation for people).
#[poem::handler]
fn problem_page(code: poem::web::Path<String>) -> poem::Result<poem::web::Html<String>> {
    let Some(what) = crate::problem::describe(&code) else {
        return Err(
            ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such problem type").into(),
        );
    };
    Ok(poem::web::Html(problem_html(
        &code,
        &format!("<p>{what}</p><p><a href=\"../problems\">All problem types</a></p>"),
    )))
}

fn problem_html(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{title}</title></head>\
         <body><h1><code>{title}</code></h1>{body}</body></html>"
    )
}

/// `GET /metrics` in the Prometheus text format.
fn metrics_endpoint(telemetry: Arc<Telemetry>) -> impl Endpoint + 'static {
    poem::endpoint::make_sync(move |_| {
        Response::builder()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(telemetry.render_prometheus())
    })
}

#[derive(Debug, Clone, Copy)]
struct Hygiene {
    body_limit: usize,
    max_header_bytes: usize,
    read_timeout: Duration,
}

/// Refuses oversized headers (431) and bodies (413, whether the size is announced or
/// only discovered while reading), and bodies that take too long to arrive (408), before
/// any handler runs.
async fn hygiene<E: Endpoint>(
    next: Arc<E>,
    mut req: Request,
    limits: Hygiene,
) -> poem::Result<Response> {
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if header_bytes > limits.max_header_bytes {
        return Err(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("request headers exceed {} bytes", limits.max_header_bytes),
        )
        .into());
    }
    let limit = limits.body_limit;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body exceeds {limit} bytes"),
        )
    };
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(too_large().into());
    }
    let body = req.take_body();
    let read = tokio::time::timeout(limits.read_timeout, body.into_bytes_limit(limit))
        .await
        .map_err(|_| {
            poem::Error::from(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body arrived too slowly",
            ))
        })?;
    let bytes = read.map_err(|e| match e {
        poem::error::ReadBodyError::PayloadTooLarge => poem::Error::from(too_large()),
        other => poem::Error::from(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("cannot read the request body: {other}"),
        )),
    })?;
    req.set_body(Body::from_bytes(bytes));
    Ok(next.call(req).await?.into_response())
}

async fn maintain_keys(state: AppState, every: Duration) {
    // Start-up already performed what was due; the first round comes one interval later.
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match state.keys.tick(state.auth.now()).await {
            Ok(events) => {
                for e in events {
                    if let tessera_keys::KeyEvent::Promoted { kid, .. } = e {
                        state
                            .auth
                            .record(
                                tessera_domain::ports::AuditEvent::KeyRotated { kid },
                                &Default::default(),
                            )
                            .await;
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "key rotation step failed"),
        }
        if let Err(e) = state.keys.refresh().await {
            tracing::warn!(error = %e, "key ring reload failed");
        }
    }
}

/// Takes in what other processes wrote — revocations (the CLI's `users disable`, an
/// instance whose publish failed, every instance of the memory backend) and signing-key
/// changes (the CLI's `keys revoke`) — so each reaches this server within one interval.
async fn follow_other_processes(state: AppState, every: Duration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = state.revocations.sync(state.auth.now()).await {
            tracing::warn!(error = %e, "revocation poll failed");
        }
        match state.keys.refresh_if_changed().await {
            Ok(true) => tracing::info!("signing keys changed elsewhere: ring reloaded"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "signing-key poll failed"),
        }
    }
}

async fn purge_lapsed(state: AppState, audit_retention: Duration) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let _ = state.revocations.check_ready().await;
        if let Err(e) = purge_once(&state, audit_retention).await {
            tracing::warn!(error = %e, "purge failed");
        }
    }
}

/// Deletes revocation rules no token can need any more, and audit events past retention.
pub async fn purge_once(state: &AppState, audit_retention: Duration) -> anyhow::Result<()> {
    use tessera_domain::ports::AuditLog as _;
    use tessera_domain::revocation::RevocationStore as _;
    let now = state.auth.now();
    let n = state.store.purge_expired(now).await?;
    if n > 0 {
        tracing::debug!(purged = n, "lapsed revocations purged");
    }
    let n = state
        .store
        .purge_before(now - delta(audit_retention)?)
        .await?;
    if n > 0 {
        tracing::info!(purged = n, "audit events past retention purged");
    }
    Ok(())
}

async fn shutdown_signal() {
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

/// Wires every adapter into the use cases, without a listener: the server and the CLI
/// share it, so there is one composition root.
///
/// # Errors
/// When the store, the keys or the revocation list cannot be set up.
pub async fn build_state(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
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
    let limiter = build_limiter(config).await?;

    let sessions = SessionPolicy {
        idle_ttl: delta(config.tokens.refresh_idle_ttl)?,
        max_ttl: delta(config.tokens.session_max_ttl)?,
        reuse_grace: delta(config.tokens.reuse_grace)?,
    };
    let auth = AuthService::new(
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
            audit: Arc::new(ObservedAudit {
                inner: Arc::new(store.clone()),
                metrics: Arc::clone(&telemetry.metrics),
            }),
            limiter: limiter.clone(),
            clock,
        },
        tokens,
        sessions,
        RefreshTokenMint::new(kek.derive("tessera refresh-token mint v1")),
    );
    observe_keys(&telemetry, &keys, clock_for_gauges);
    Ok(AppState {
        telemetry,
        auth,
        keys,
        store,
        revocations,
        limiter,
        trusted_proxies: Arc::new(config.server.trusted_proxies.clone()),
        ipv6_prefix: config.limits.ipv6_prefix,
        password_policy: PasswordPolicy {
            min_chars: config.passwords.min_length,
            max_chars: config.passwords.max_length,
        },
        jwks_max_age_secs: config.keys.jwks_max_age.as_secs(),
    })
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
        issuer: config.tokens.issuer.clone(),
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

/// The key-encryption key: from configuration, else from its file, else generated once
/// into that file (mode 0600) with a warning.
///
/// # Errors
/// When the configured key is not base64 of 32 bytes, or the file cannot be read or
/// written.
pub fn load_kek(config: &Config) -> anyhow::Result<Kek> {
    if let Some(secret) = &config.keys.encryption_key {
        return decode_kek(secret.expose().trim())
            .map_err(|e| anyhow::anyhow!("keys.encryption_key: {e}"));
    }
    let path = &config.keys.encryption_key_file;
    if path.exists() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        return decode_kek(text.trim()).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
    }
    let kek = Kek::generate()?;
    write_secret_file(path, &STANDARD.encode(kek.as_bytes()))?;
    tracing::warn!(
        file = %path.display(),
        "no keys.encryption_key configured: generated one into this file. Back it up, or \
         set TESSERA_KEYS__ENCRYPTION_KEY; without it the stored signing keys cannot be opened"
    );
    Ok(kek)
}

fn decode_kek(b64: &str) -> anyhow::Result<Kek> {
    let bytes = STANDARD
        .decode(b64)
        .map_err(|_| anyhow::anyhow!("not base64"))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("must be 32 bytes (base64 of `openssl rand 32`)"))?;
    Ok(Kek::from_bytes(bytes))
}

fn write_secret_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    f.write_all(b"\n")?;
    Ok(())
}
