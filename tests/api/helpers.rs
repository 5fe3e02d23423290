//! `TestApp`: the real application on 127.0.0.1:0 with its own temporary SQLite database,
//! a manual clock and cheap argon2 parameters, plus typed calls.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{TimeDelta, Utc};
use reqwest::{Response, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tempfile::TempDir;
use tessera::Config;
use tessera_domain::ManualClock;
use tessera_domain::session::ClientInfo;
use tessera_domain::user::{Password, PasswordPolicy, Role, Username};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const PASSWORD: &str = "correct horse battery";

#[derive(Debug, Clone, Deserialize)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_in: i64,
}

/// Which backends the suite runs against: `TESSERA_TEST_BACKEND=<db>+<revocation>`, with
/// `<db>` one of `sqlite` (default), `postgres`, `mysql` and `<revocation>` one of
/// `memory` (default), `redis`. Server URLs come from `TESSERA_TEST_POSTGRES_URL`,
/// `TESSERA_TEST_MYSQL_URL` and `TESSERA_TEST_REDIS_URL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
    Mysql,
}

pub fn backend() -> (Db, bool) {
    let spec = std::env::var("TESSERA_TEST_BACKEND").unwrap_or_default();
    let (db, rev) = spec.split_once('+').unwrap_or((spec.as_str(), "memory"));
    let db = match db {
        "" | "sqlite" => Db::Sqlite,
        "postgres" => Db::Postgres,
        "mysql" => Db::Mysql,
        other => panic!("unknown TESSERA_TEST_BACKEND database {other:?}"),
    };
    (db, rev == "redis")
}

/// One test's private world: a temporary folder, its own database (a file for SQLite, a
/// fresh database on the shared server otherwise, dropped afterwards) and Redis prefix.
pub struct TestEnv {
    dir: TempDir,
    pub db_url: String,
    pub redis_url: Option<String>,
    pub redis_prefix: String,
    server_db: Option<(String, String)>,
}

/// Whether a missing backend must fail the run (CI) rather than skip a test.
pub fn backends_required() -> bool {
    std::env::var("TESSERA_TEST_REQUIRE_BACKENDS").is_ok_and(|v| v == "1")
}

/// Skips (with a notice) or fails, as `TESSERA_TEST_REQUIRE_BACKENDS` says.
pub fn missing(what: &str) {
    assert!(!backends_required(), "required backend missing: {what}");
    eprintln!("NOTICE: skipped, {what} not available");
}

impl TestEnv {
    pub async fn new() -> Arc<Self> {
        let (db, redis) = backend();
        Self::with(db, redis).await
    }

    /// PostgreSQL and Redis from the environment, whatever `TESSERA_TEST_BACKEND` says;
    /// `None` (after a notice) when either is not configured.
    pub async fn shared() -> Option<Arc<Self>> {
        for var in ["TESSERA_TEST_POSTGRES_URL", "TESSERA_TEST_REDIS_URL"] {
            if std::env::var(var).is_err() {
                missing(var);
                return None;
            }
        }
        Some(Self::with(Db::Postgres, true).await)
    }

    pub async fn with(db: Db, redis: bool) -> Arc<Self> {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("tessera_t_{}", uuid::Uuid::new_v4().simple());
        let server = |var: &str| {
            std::env::var(var).unwrap_or_else(|_| panic!("TESSERA_TEST_BACKEND needs {var}"))
        };
        let (db_url, server_db) = match db {
            Db::Sqlite => (
                format!("sqlite://{}/tessera.db?mode=rwc", dir.path().display()),
                None,
            ),
            Db::Postgres | Db::Mysql => {
                let url = server(if db == Db::Postgres {
                    "TESSERA_TEST_POSTGRES_URL"
                } else {
                    "TESSERA_TEST_MYSQL_URL"
                });
                let db_url = tessera_sql::provision::create_database(&url, &name)
                    .await
                    .unwrap();
                (db_url, Some((url, name.clone())))
            }
        };
        Arc::new(Self {
            dir,
            db_url,
            redis_url: redis.then(|| server("TESSERA_TEST_REDIS_URL")),
            redis_prefix: name,
            server_db,
        })
    }

    pub fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        // Leave nothing behind on the shared servers. Drop cannot await: a short-lived
        // runtime on a plain thread does the cleanup.
        let server_db = self.server_db.take();
        let redis = self
            .redis_url
            .take()
            .map(|url| (url, self.redis_prefix.clone()));
        if server_db.is_none() && redis.is_none() {
            return;
        }
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Some((url, name)) = server_db {
                    let _ = tessera_sql::provision::drop_database(&url, &name).await;
                }
                if let Some((url, prefix)) = redis {
                    let _ = tessera_revocation::delete_prefix(&url, &prefix).await;
                }
            });
        })
        .join();
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub env: Arc<TestEnv>,
    /// The server's state: the use cases (`accounts`, `emails`, `factors`, `oidc`), the
    /// key ring (`keys`, `keys_admin`), the password door…
    pub state: tessera::edge::AppState,
    /// The server's own pool (closing it makes the store unavailable to the server).
    pub pool: tessera_sql::SqlStore,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

pub fn test_config(env: &TestEnv) -> Config {
    let mut c = Config::default();
    c.server.listen = "127.0.0.1:0".parse().unwrap();
    c.database.url = env.db_url.clone();
    // Small pools: the backend matrix runs many apps against one shared server.
    c.database.max_connections = 2;
    c.keys.encryption_key_file = env.path().join("encryption.key");
    if let Some(url) = &env.redis_url {
        c.revocation.backend = tessera::config::RevocationBackend::Redis;
        c.revocation.redis_url = url.clone();
        c.revocation.redis_prefix = env.redis_prefix.clone();
    }
    // Cheap hashing for tests only; production keeps the OWASP defaults.
    c.passwords.argon2_memory_kib = 64;
    c.passwords.argon2_iterations = 1;
    // One issuer for every instance of a test, whatever port each got (a deployment's
    // instances share `server.public_url`); the OpenID provider's tests use the default,
    // the test server's own URL.
    c.tokens.issuer = Some("tessera".into());
    // Every test talks from 127.0.0.1: the security tests switch limits on themselves.
    c.limits.enabled = false;
    // Passkeys for a web app at this origin (the software authenticator of the passkey
    // tests claims it; nothing needs to listen there).
    c.webauthn.rp_id = Some("localhost".into());
    c.webauthn.origins = vec![PASSKEY_ORIGIN.into()];
    c
}

/// A loopback port nothing listens on (a server that is down, until a test starts one).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The web origin the passkey tests' authenticator runs ceremonies for.
pub const PASSKEY_ORIGIN: &str = "http://localhost:5173";

impl TestApp {
    /// The test configuration on a fresh environment and clock: shorthand for
    /// `TestApp::builder().spawn().await`.
    pub async fn spawn() -> Self {
        Self::builder().spawn().await
    }

    /// Everything else: another configuration, environment or clock.
    pub fn builder<'a>() -> TestAppBuilder<'a> {
        TestAppBuilder::default()
    }
}

/// How a test starts an app other than [`TestApp::spawn`]'s way. The configuration is
/// [`test_config`] for the environment, then the private Redis ([`Self::on_private_redis`]),
/// then [`Self::limited`], then every [`Self::with_config`] tweak in the order given.
#[must_use = "a builder starts nothing until `.spawn().await`"]
#[derive(Default)]
pub struct TestAppBuilder<'a> {
    env: Option<Arc<TestEnv>>,
    clock: Option<Arc<ManualClock>>,
    private_redis: Option<(String, String)>,
    limited: bool,
    tweaks: Vec<ConfigTweak<'a>>,
}

/// One [`TestAppBuilder::with_config`] change.
type ConfigTweak<'a> = Box<dyn FnOnce(&mut Config) + Send + 'a>;

impl<'a> TestAppBuilder<'a> {
    /// Changes the configuration; may be called more than once (tweaks apply in order,
    /// after [`Self::limited`]).
    pub fn with_config(mut self, tweak: impl FnOnce(&mut Config) + Send + 'a) -> Self {
        self.tweaks.push(Box::new(tweak));
        self
    }

    /// Another instance on this environment's database and encryption key (default: a
    /// fresh environment).
    pub fn on(mut self, env: Arc<TestEnv>) -> Self {
        self.env = Some(env);
        self
    }

    /// This clock (default: a fresh one at the current time).
    pub fn with_clock(mut self, clock: Arc<ManualClock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Rate limits on, every per-address bucket off unless a `with_config` tweak sets one.
    pub fn limited(mut self) -> Self {
        self.limited = true;
        self
    }

    /// Revocations and limits on a Redis of the test's own (one it stops and starts) at
    /// `url`, under `prefix`. Without [`Self::on`], the environment is a fresh SQLite
    /// one, whatever `TESSERA_TEST_BACKEND` says.
    pub fn on_private_redis(mut self, url: impl Into<String>, prefix: &str) -> Self {
        self.private_redis = Some((url.into(), prefix.to_owned()));
        self
    }

    pub async fn spawn(self) -> TestApp {
        let env = match self.env {
            Some(env) => env,
            None if self.private_redis.is_some() => TestEnv::with(Db::Sqlite, false).await,
            None => TestEnv::new().await,
        };
        let clock = self
            .clock
            .unwrap_or_else(|| Arc::new(ManualClock::new(Utc::now())));
        let mut config = test_config(&env);
        if let Some((url, prefix)) = self.private_redis {
            config.revocation.backend = tessera::config::RevocationBackend::Redis;
            config.revocation.redis_url = url;
            config.revocation.redis_prefix = prefix;
        }
        if self.limited {
            config.limits.enabled = true;
            config.limits.login_per_minute = 0;
            config.limits.register_per_minute = 0;
            config.limits.refresh_per_minute = 0;
            config.limits.revoke_per_minute = 0;
        }
        for tweak in self.tweaks {
            tweak(&mut config);
        }
        // An app on a shared database server or Redis must know its public URL (a
        // deployment's is the same on every instance): here its own, on a port chosen now.
        let shared = !config.database.url.starts_with("sqlite:")
            || config.revocation.backend == tessera::config::RevocationBackend::Redis;
        if shared && config.server.public_url.is_none() && config.server.listen.port() == 0 {
            let port = free_port();
            config.server.listen.set_port(port);
            config.server.public_url = Some(format!("http://127.0.0.1:{port}"));
        }
        let app = tessera::Application::build_with_clock(config, clock.clone())
            .await
            .expect("the application builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let state = app.state().clone();
        let pool = app.store().clone();
        let (tx, rx) = oneshot::channel();
        let server = tokio::spawn(async move {
            app.run_until(async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        TestApp {
            base,
            client: reqwest::Client::new(),
            clock,
            env,
            state,
            pool,
            shutdown: Some(tx),
            server: Some(server),
        }
    }
}

impl TestApp {
    /// Asks the server to stop (it drains in-flight requests first).
    pub fn begin_stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Stops serving and waits until the server has released the database.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.server.take() {
            h.await.unwrap();
        }
    }

    /// A direct connection to this test's database, to inspect what the server stored.
    pub async fn store(&self) -> tessera_sql::SqlStore {
        let defaults = Config::default().database;
        let pool = tessera_sql::PoolOptions {
            max_connections: 1,
            connect_timeout: defaults.connect_timeout,
            acquire_timeout: defaults.acquire_timeout,
        };
        tessera_sql::SqlStore::connect(&self.env.db_url, &pool)
            .await
            .unwrap()
    }

    /// Another instance on this one's environment (database, encryption key) and clock.
    pub async fn another_instance(&self) -> TestApp {
        TestApp::builder()
            .on(Arc::clone(&self.env))
            .with_clock(Arc::clone(&self.clock))
            .spawn()
            .await
    }

    pub fn advance(&self, by: TimeDelta) {
        self.clock.advance(by);
    }

    /// One round of the background key maintenance, now (what the server does every
    /// `keys.refresh_interval`).
    pub async fn tick_keys(&self) -> Vec<tessera_keys::KeyEvent> {
        self.state.keys_admin.maintenance_round().await.unwrap()
    }

    pub async fn kids(&self) -> Vec<String> {
        let jwks: Value = self.get_json("/.well-known/jwks.json", None).await;
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn post_json(&self, path: &str, body: &Value, token: Option<&str>) -> Response {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    /// `GET path` with this token, its body read as JSON (whatever the status).
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str, token: Option<&str>) -> T {
        self.get(path, token).await.json().await.unwrap()
    }

    pub async fn delete(&self, path: &str, token: &str) -> Response {
        self.client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    pub async fn register(&self, username: &str, password: &str) -> Response {
        self.post_credentials("/v1/auth/register", username, password)
            .await
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        self.post_credentials("/v1/auth/login", username, password)
            .await
    }

    /// `POST path` with a username and a password, unauthenticated.
    async fn post_credentials(&self, path: &str, username: &str, password: &str) -> Response {
        let body = json!({"username": username, "password": password});
        self.post_json(path, &body, None).await
    }

    pub async fn login_ok(&self, username: &str, password: &str) -> TokenPair {
        let r = self.login(username, password).await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    /// Ends the session of this access token.
    pub async fn logout(&self, access_token: &str) -> Response {
        self.post_json("/v1/auth/logout", &json!({}), Some(access_token))
            .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json(
            "/v1/auth/refresh",
            &json!({"refresh_token": refresh_token}),
            None,
        )
        .await
    }

    /// Registers a fresh user and logs in.
    pub async fn signed_in_user(&self) -> (String, TokenPair) {
        let name = unique_name();
        assert_eq!(
            self.register(&name, PASSWORD).await.status(),
            StatusCode::CREATED
        );
        let pair = self.login_ok(&name, PASSWORD).await;
        (name, pair)
    }

    /// Creates a user with a role straight through the use case (as `tessera users create
    /// --role` does) and logs in over HTTP.
    pub async fn signed_in_with_role(&self, role: &str) -> TokenPair {
        let name = unique_name();
        let username = Username::parse(&name).unwrap();
        let password = Password::parse(PASSWORD, &username, &PasswordPolicy::default()).unwrap();
        self.state
            .accounts
            .register(
                username,
                password,
                vec![Role::parse(role).unwrap()],
                None,
                &ClientInfo::default(),
            )
            .await
            .unwrap();
        self.login_ok(&name, PASSWORD).await
    }

    /// The admin API's page of audit events named `event`, newest first.
    pub async fn audit(&self, admin_token: &str, event: &str) -> Value {
        let r = self
            .get(&format!("/v1/admin/audit?event={event}"), Some(admin_token))
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.unwrap()
    }

    /// How many audit events of this kind the store holds.
    pub async fn audit_events(&self, event: &str) -> u64 {
        use tessera_domain::ports::AuditLog as _;
        let store = self.store().await;
        store.list(None, Some(event), 0, 1).await.unwrap().1
    }

    pub async fn dashboard_status(&self, token: &str) -> StatusCode {
        self.get("/v1/dashboard", Some(token)).await.status()
    }

    /// The session of `pair` is over: its access token and its refresh token are refused.
    pub async fn assert_session_ended(&self, pair: &TokenPair) {
        assert_eq!(
            self.dashboard_status(&pair.access_token).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            self.refresh(&pair.refresh_token).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
}

/// Two instances on `env` sharing one fresh clock: a scaled-out deployment.
pub async fn two_instances(env: &Arc<TestEnv>) -> (TestApp, TestApp) {
    let a = TestApp::builder().on(Arc::clone(env)).spawn().await;
    let b = a.another_instance().await;
    (a, b)
}

/// One hashing thread with `queued` places in its queue, and a hash that costs real time.
pub fn slow_hashing(c: &mut Config, queued: usize) {
    c.passwords.max_concurrent_hashes = 1;
    c.passwords.max_queued_hashes = queued;
    c.passwords.argon2_memory_kib = 32 * 1024;
    c.passwords.argon2_iterations = 4;
}

/// Against slow hashing (one thread, four queued), six rounds of 60 requests for one
/// signed-in user, `request(app, client, user, i)` with a client that hangs up after 20 ms;
/// then a login is answered within about one hash time, or refused at once: the abandoned
/// requests left no backlog behind.
pub async fn assert_abandoned_requests_leave_no_backlog(
    request: impl Fn(&TestApp, &reqwest::Client, &(String, TokenPair), usize) -> reqwest::RequestBuilder,
) {
    let app = TestApp::builder()
        .with_config(|c| slow_hashing(c, 4))
        .spawn()
        .await;
    let user = app.signed_in_user().await;
    let impatient = reqwest::Client::builder()
        .timeout(std::time::Duration::from_millis(20))
        .build()
        .unwrap();
    for _ in 0..6 {
        let flood: Vec<_> = (0..60)
            .map(|i| tokio::spawn(request(&app, &impatient, &user, i).send()))
            .collect();
        for f in flood {
            let _ = f.await.unwrap();
        }
    }
    let started = std::time::Instant::now();
    let r = app.login(&user.0, PASSWORD).await;
    let waited = started.elapsed();
    println!("login after the flood: {} in {waited:?}", r.status());
    assert!(
        matches!(r.status(), StatusCode::OK | StatusCode::SERVICE_UNAVAILABLE),
        "{}",
        r.status()
    );
    assert!(
        waited < std::time::Duration::from_secs(2),
        "a login after the flood waited {waited:?}"
    );
}

/// Polls until `f` is true or `limit` passes; returns how long it took.
pub async fn within<F: AsyncFn() -> bool>(
    limit: std::time::Duration,
    f: F,
) -> Option<std::time::Duration> {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if f().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    None
}

pub fn unique_name() -> String {
    format!("user_{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

/// Asserts a 429 `rate_limited` problem that says when to retry.
pub async fn assert_throttled(r: Response) -> Value {
    assert!(
        r.headers().contains_key("retry-after"),
        "429 without Retry-After"
    );
    assert_problem(r, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await
}

/// Asserts an RFC 9457 problem with this status and code, and returns its body.
pub async fn assert_problem(r: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(r.status(), status, "status");
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        ct.starts_with("application/problem+json"),
        "content type {ct}"
    );
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status.as_u16());
    assert!(body["type"].is_string() && body["title"].is_string() && body["detail"].is_string());
    body
}

/// The claims of a JWT, without verifying it.
pub fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

pub fn header_of(token: &str) -> Value {
    let header = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap()
}

/// A real SMTP server on loopback (aiosmtpd, `tests/smtp/sink.py`) that writes each
/// message it accepts as JSON; killed when dropped. The Python comes from
/// `TESSERA_TEST_PYTHON` (CI: a venv with `tests/requirements.txt`), else
/// `python3`.
pub struct SmtpSink {
    child: std::process::Child,
    pub port: u16,
    pub dir: TempDir,
}

impl SmtpSink {
    /// `None` (after a notice, or a failure where backends are required) when no Python
    /// with aiosmtpd is at hand.
    pub fn start() -> Option<Self> {
        Self::start_on(0)
    }

    pub fn start_on(port: u16) -> Option<Self> {
        Self::spawn(port, None)
    }

    /// Speaking TLS: `"starttls"` (required before MAIL) or `"implicit"` (SMTPS), with a
    /// certificate from a throwaway CA whose PEM is [`Self::ca_pem_path`].
    pub fn start_tls(mode: &str) -> Option<Self> {
        Self::spawn(0, Some(mode))
    }

    pub fn ca_pem_path(&self) -> std::path::PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn spawn(port: u16, tls: Option<&str>) -> Option<Self> {
        use std::io::BufRead as _;
        let python = std::env::var("TESSERA_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
        let dir = tempfile::tempdir().unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/smtp/sink.py");
        let spawned = std::process::Command::new(&python)
            .arg(script)
            .arg(dir.path())
            .arg(port.to_string())
            .args(tls)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn();
        let Ok(mut child) = spawned else {
            missing(&format!("an SMTP server ({python} not found)"));
            return None;
        };
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let Some(port) = line
            .trim()
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
        else {
            let _ = child.kill();
            let _ = child.wait();
            missing(&format!("an SMTP server ({python} has no aiosmtpd)"));
            return None;
        };
        Some(Self { child, port, dir })
    }

    /// The `mail.smtp_url` that reaches it.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    /// Every message accepted so far.
    pub fn messages(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push(serde_json::from_str(&text).unwrap());
            }
        }
        out
    }

    /// The messages to `to` (ignoring case: the domain arrives lower-cased).
    pub fn to(&self, to: &str) -> Vec<Value> {
        let to = to.to_lowercase();
        self.messages()
            .into_iter()
            .filter(|m| {
                m["rcpt_to"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r.as_str().is_some_and(|r| r.to_lowercase() == to))
            })
            .collect()
    }

    /// Waits for a message to `to` with `subject` (at most 10 s) and returns it.
    pub async fn wait_for_subject(&self, to: &str, subject: &str) -> Value {
        let find = || self.to(to).into_iter().find(|m| m["subject"] == subject);
        within(std::time::Duration::from_secs(10), async || {
            find().is_some()
        })
        .await;
        find().unwrap_or_else(|| panic!("no mail {subject:?} to {to} arrived"))
    }

    /// Waits until `n` messages to `to` have arrived (at most 10 s) and returns them.
    pub async fn wait_for(&self, to: &str, n: usize) -> Vec<Value> {
        let limit = std::time::Duration::from_secs(10);
        within(limit, async || self.to(to).len() >= n).await;
        let got = self.to(to);
        assert!(got.len() >= n, "{} of {n} mails to {to} arrived", got.len());
        got
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The token of the first link in a mail's text part.
pub fn token_in(mail: &Value) -> String {
    let text = mail["text"].as_str().unwrap();
    let at = text.find("token=").expect("a link with a token") + "token=".len();
    text[at..at + 43].to_owned()
}

/// Configures `c` to deliver through `smtp`, quickly.
pub fn deliver_to(c: &mut Config, smtp_url: &str) {
    c.mail.transport = tessera::config::MailTransportKind::Smtp;
    c.mail.smtp_url = Some(tessera::config::Secret::new(smtp_url));
    c.mail.send_interval = std::time::Duration::from_millis(100);
    c.mail.timeout = std::time::Duration::from_secs(5);
    c.mail.from = "Tessera <no-reply@tessera.test>".into();
}

impl TestApp {
    pub async fn register_with_email(&self, username: &str, email: &str) -> Response {
        self.post_json(
            "/v1/auth/register",
            &json!({"username": username, "password": PASSWORD, "email": email}),
            None,
        )
        .await
    }

    /// One counter or gauge of `/metrics`, summed over labels matching `label`.
    pub async fn metric(&self, name: &str, label: Option<(&str, &str)>) -> f64 {
        let text = self.get("/metrics", None).await.text().await.unwrap();
        let scrape =
            prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    }
}

/// A page as a browser gets it: status, headers, HTML.
pub type Page = (reqwest::StatusCode, reqwest::header::HeaderMap, String);

/// A browser without JavaScript: it keeps the cookies it is given, follows no
/// redirect by itself, and reads the CSRF token off the last page it saw.
pub struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    pub cookies: Vec<(String, String)>,
    pub csrf: String,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            app,
            client,
            cookies: Vec::new(),
            csrf: String::new(),
        }
    }

    pub fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, headers: &reqwest::header::HeaderMap) {
        for c in headers.get_all(reqwest::header::SET_COOKIE) {
            let c = c.to_str().unwrap();
            let (pair, _) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.retain(|(name, _)| name != k);
            if !c.contains("Max-Age=0") {
                self.cookies.push((k.to_owned(), v.to_owned()));
            }
        }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// GET a page; remembers its cookies and the CSRF token its forms carry.
    pub async fn get(&mut self, path: &str) -> Page {
        let r = self
            .client
            .get(self.app.url(path))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        self.keep_cookies(&headers);
        let html = r.text().await.unwrap();
        if let Some(at) = html.find("name=\"csrf\" value=\"") {
            let rest = &html[at + 19..];
            self.csrf = rest[..rest.find('"').unwrap()].to_owned();
        }
        (status, headers, html)
    }

    /// POST a form as a browser would (the cookies it holds).
    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let r = self
            .client
            .post(self.app.url(path))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        self.keep_cookies(&headers);
        (status, headers, r.text().await.unwrap())
    }

    pub async fn sign_in(&mut self, name: &str, password: &str) -> Page {
        self.get("/login").await;
        let csrf = self.csrf.clone();
        self.post(
            "/login",
            &[("csrf", &csrf), ("username", name), ("password", password)],
        )
        .await
    }
}
