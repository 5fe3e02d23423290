//! Configuration: an optional `tessera.toml` plus `TESSERA_<SECTION>__<KEY>` environment
//! overrides. Unknown keys are errors; secrets never appear in `Debug` output.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use tessera_domain::email::{DeliveryPolicy, MailPolicy};
use tessera_domain::password::Argon2Params;
use tessera_domain::session::SessionPolicy;
use tessera_domain::throttle::ThrottlePolicy;
use tessera_domain::user::PasswordPolicy;

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[server]`: the HTTP listener, request limits and CORS.
    pub server: ServerConfig,
    /// `[database]`: the SQL store and its connection pool.
    pub database: DatabaseConfig,
    /// `[tokens]`: access-token claims and lifetimes, session lifetimes.
    pub tokens: TokensConfig,
    /// `[passwords]`: password length rules and argon2id cost.
    pub passwords: PasswordsConfig,
    /// `[keys]`: where signing keys come from, how they are sealed and rotated.
    pub keys: KeysConfig,
    /// `[revocation]`: the revocation list and rate-limit backend.
    pub revocation: RevocationConfig,
    /// `[limits]`: rate limits per client address and per-account delays.
    pub limits: LimitsConfig,
    /// `[audit]`: retention of the audit trail.
    pub audit: AuditConfig,
    /// `[mail]`: outgoing mail (verification and reset links).
    pub mail: MailConfig,
    /// `[webauthn]`: passkeys and the name authenticator apps show.
    pub webauthn: WebauthnConfig,
    /// `[security]`: what a change that could keep or take the account asks for.
    pub security: SecurityConfig,
    /// `[registration]`: whether people may create their own accounts.
    pub registration: RegistrationConfig,
    /// `[log]`: log level and format.
    pub log: LogConfig,
    /// `[telemetry]`: OpenTelemetry traces and Prometheus metrics.
    pub telemetry: TelemetryConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Largest accepted request body, in bytes; larger bodies get 413.
    pub body_limit: usize,
    /// How long in-flight requests may take to finish after a shutdown signal.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// The URL people and apps reach Tessera at, the same on every instance: the
    /// issuer (`iss`), mailed links, the cookies' `Secure`, the WebAuthn origin and the
    /// OpenAPI `servers` list derive from it. Default: `http://<listen>`, which only
    /// one instance on a loopback address may rely on.
    pub public_url: Option<String>,
    /// Time allowed to receive a request body; slower clients get 408.
    #[serde(with = "humantime_serde")]
    pub read_timeout: Duration,
    /// Largest total size of request headers, in bytes; larger get 431.
    pub max_header_bytes: usize,
    /// Keep-alive connections idle this long are closed.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Proxies (addresses or CIDR ranges) whose `X-Forwarded-For` is believed. Empty:
    /// the client address is always the socket's.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Origins allowed by CORS (`https://app.example.com`); empty: CORS off.
    pub cors_allowed_origins: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            body_limit: 64 * 1024,
            shutdown_grace: Duration::from_secs(10),
            public_url: None,
            read_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            idle_timeout: Duration::from_secs(60),
            trusted_proxies: Vec::new(),
            cors_allowed_origins: Vec::new(),
        }
    }
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path?mode=rwc`, `postgres://…` or `mysql://…`.
    pub url: String,
    /// Largest number of pooled connections this instance holds open. Default: 10.
    pub max_connections: u32,
    /// Time allowed to open one new connection to the database. Default: 5 s.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Time an operation waits for a free pooled connection before it fails. Default: 5 s.
    #[serde(with = "humantime_serde")]
    pub acquire_timeout: Duration,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://./data/tessera.db?mode=rwc".into(),
            max_connections: 10,
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .field("max_connections", &self.max_connections)
            .field("connect_timeout", &self.connect_timeout)
            .field("acquire_timeout", &self.acquire_timeout)
            .finish()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokensConfig {
    /// The `iss` of every token; unset = the public URL (`server.public_url`, else
    /// `http://<listen>`), which the OpenID provider's discovery requires.
    pub issuer: Option<String>,
    /// The `aud` of every access token; tokens for another audience are refused.
    /// Default: `tessera`.
    pub audience: String,
    /// Lifetime of an access token (`exp` − `iat`); must be positive. Default: 15 min.
    #[serde(with = "humantime_serde")]
    pub access_ttl: Duration,
    /// Clock skew tolerated on `exp` and `nbf` when verifying; a key that stopped signing
    /// stays in the JWKS for `access_ttl` + `leeway`. Default: 30 s.
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
    /// A session (refresh-token family) unused for this long ends; each refresh renews it.
    /// Must be positive. Default: 7 days ([`SessionPolicy`]).
    #[serde(with = "humantime_serde")]
    pub refresh_idle_ttl: Duration,
    /// A session ends this long after login, however active; at least `refresh_idle_ttl`.
    /// Default: 30 days ([`SessionPolicy`]).
    #[serde(with = "humantime_serde")]
    pub session_max_ttl: Duration,
    /// A rotated refresh token presented again within this window is taken for a
    /// concurrent refresh (another tab), not for theft. Default: 10 s ([`SessionPolicy`]).
    #[serde(with = "humantime_serde")]
    pub reuse_grace: Duration,
}

/// A domain policy's duration as configuration writes it (policies are never negative).
fn std_duration(d: chrono::TimeDelta) -> Duration {
    d.to_std().unwrap_or_default()
}

impl Default for TokensConfig {
    /// The session lifetimes are the domain's defaults ([`SessionPolicy`]).
    fn default() -> Self {
        let sessions = SessionPolicy::default();
        Self {
            issuer: None,
            audience: "tessera".into(),
            access_ttl: Duration::from_secs(15 * 60),
            leeway: Duration::from_secs(30),
            refresh_idle_ttl: std_duration(sessions.idle_ttl),
            session_max_ttl: std_duration(sessions.max_ttl),
            reuse_grace: std_duration(sessions.reuse_grace),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordsConfig {
    /// Shortest accepted new password, in characters after NFKC normalisation; at least 1.
    /// Default: 8 ([`PasswordPolicy`]).
    pub min_length: usize,
    /// Longest accepted new password, in characters after NFKC normalisation; at most 1024.
    /// Default: 128 ([`PasswordPolicy`]).
    pub max_length: usize,
    /// argon2id memory cost (m) of new hashes, in KiB. Hashes made with other parameters are
    /// redone at the next successful login. Default: 19 456 (19 MiB, [`Argon2Params`]).
    pub argon2_memory_kib: u32,
    /// argon2id time cost (t): passes over the memory. Default: 2 ([`Argon2Params`]).
    pub argon2_iterations: u32,
    /// argon2id parallelism (p): lanes per hash. Default: 1 ([`Argon2Params`]).
    pub argon2_parallelism: u32,
    /// Hashes computed at once; 0 means one per CPU core.
    pub max_concurrent_hashes: usize,
    /// Hash requests allowed to wait for a slot before new ones get 503; 0 means 8 per
    /// concurrent hash.
    pub max_queued_hashes: usize,
}

impl Default for PasswordsConfig {
    /// The domain's defaults ([`PasswordPolicy`], [`Argon2Params`]).
    fn default() -> Self {
        let (policy, argon2) = (PasswordPolicy::default(), Argon2Params::default());
        Self {
            min_length: policy.min_chars,
            max_length: policy.max_chars,
            argon2_memory_kib: argon2.memory_kib,
            argon2_iterations: argon2.iterations,
            argon2_parallelism: argon2.parallelism,
            max_concurrent_hashes: 0,
            max_queued_hashes: 0,
        }
    }
}

/// A secret string: deserialised like a string, printed as `<redacted>`.
///
/// It derives `Serialize` only because a `Config` must be serialisable: [`Config::load`]
/// seeds figment with `Serialized::defaults(Config::default())`, and the README check
/// (`tests/api/docs.rs`) serialises the defaults to compare them with the documented ones.
/// Both serialise only defaults, where every `Secret` is `None`. Serialising a `Secret`
/// writes it in clear, so never write out a loaded `Config` (logs, API, files).
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeySourceKind {
    /// Keys generated, stored (encrypted) and rotated by Tessera.
    #[default]
    Database,
    /// PEM private keys in `keys.dir`, managed and rotated by the operator.
    Files,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// Where signing keys come from: `database` (generated and rotated by Tessera) or
    /// `files` (PEM files in `dir`). Default: `database`.
    pub source: KeySourceKind,
    /// The PEM directory of the `files` source.
    pub dir: PathBuf,
    /// Base64 of 32 random bytes. When absent, one is generated once into
    /// `encryption_key_file` (mode 0600).
    pub encryption_key: Option<Secret>,
    /// Where the key-encryption key is read from when `encryption_key` is unset, and
    /// generated into on first start. Default: `./data/encryption.key`.
    pub encryption_key_file: PathBuf,
    /// RSA modulus size of newly generated signing keys, in bits: 2048, 3072 or 4096.
    /// Default: 2048.
    pub rsa_bits: tessera_keys::RsaBits,
    /// How long a key signs before the next one takes over.
    #[serde(with = "humantime_serde")]
    pub rotate_every: Duration,
    /// How long a new key is in the JWKS before it signs; at least `jwks_max_age`.
    #[serde(with = "humantime_serde")]
    pub prepublish: Duration,
    /// `Cache-Control: max-age` of the JWKS.
    #[serde(with = "humantime_serde")]
    pub jwks_max_age: Duration,
    /// How often each instance performs due rotations and reloads the key ring.
    #[serde(with = "humantime_serde")]
    pub refresh_interval: Duration,
}

impl Default for KeysConfig {
    fn default() -> Self {
        Self {
            source: KeySourceKind::Database,
            dir: PathBuf::from("./keys"),
            encryption_key: None,
            encryption_key_file: PathBuf::from("./data/encryption.key"),
            rsa_bits: tessera_keys::RsaBits::default(),
            rotate_every: Duration::from_secs(30 * 24 * 3600),
            prepublish: Duration::from_secs(3600),
            jwks_max_age: Duration::from_secs(600),
            refresh_interval: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RevocationBackend {
    /// In-process list, persisted through the SQL store; limits in process too.
    #[default]
    Memory,
    /// Shared by every instance: revocations propagate over Redis pub/sub (persisted
    /// through the SQL store), and rate limits live in Redis.
    Redis,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RevocationConfig {
    /// Where revocations are looked up and rate limits counted: `memory` (one instance)
    /// or `redis` (several instances). Default: `memory`.
    pub backend: RevocationBackend,
    /// `redis://host:6379` (may carry a password: kept out of logs).
    pub redis_url: String,
    /// Prefix of every Redis key and channel, so several deployments can share a server.
    pub redis_prefix: String,
    /// How often each instance reads revocations (and signing-key changes) that other
    /// processes wrote: the CLI, or another instance on the memory backend.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
}

impl Default for RevocationConfig {
    fn default() -> Self {
        Self {
            backend: RevocationBackend::Memory,
            redis_url: "redis://127.0.0.1:6379".into(),
            redis_prefix: "tessera".into(),
            poll_interval: Duration::from_secs(1),
        }
    }
}

impl fmt::Debug for RevocationConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevocationConfig")
            .field("backend", &self.backend)
            .field("redis_url", &redact_url(&self.redis_url))
            .field("redis_prefix", &self.redis_prefix)
            .field("poll_interval", &self.poll_interval)
            .finish()
    }
}

/// Brute-force protection. Defaults suit a public deployment where many users may share
/// one address behind NAT: buckets are generous per address, and the per-account delays
/// do the real work against password guessing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Master switch (benchmarks, trusted internal callers).
    pub enabled: bool,
    /// Logins per minute per client address (0: no bucket), and the burst.
    pub login_per_minute: u32,
    /// Logins a client address may make at once before `login_per_minute` applies. Default: 20.
    pub login_burst: u32,
    /// Registrations per minute per client address (0: no bucket). Default: 10.
    pub register_per_minute: u32,
    /// Registrations a client address may make at once. Default: 10.
    pub register_burst: u32,
    /// Token refreshes per minute per client address (0: no bucket). Default: 300.
    pub refresh_per_minute: u32,
    /// Token refreshes a client address may make at once. Default: 60.
    pub refresh_burst: u32,
    /// Token revocations (RFC 7009) per client address per minute, and the burst.
    pub revoke_per_minute: u32,
    /// Token revocations a client address may make at once. Default: 20.
    pub revoke_burst: u32,
    /// Password-reset requests and link redemptions per client address per minute, and
    /// the burst.
    pub password_reset_per_minute: u32,
    /// Password-reset requests and redemptions a client address may make at once. Default: 5.
    pub password_reset_burst: u32,
    /// Mails to one address per minute, and the burst, whoever asks for them.
    pub mail_per_address_per_minute: u32,
    /// Mails one address may receive at once. Default: 3.
    pub mail_per_address_burst: u32,
    /// Changes of address one account may ask for per minute (0: no bucket), whatever
    /// client it asks from. Default: 1.
    pub email_change_per_account_per_minute: u32,
    /// Changes of address one account may ask for at once. Default: 5.
    pub email_change_per_account_burst: u32,
    /// IPv6 clients share their buckets per prefix of this many bits (a host usually
    /// holds a whole /64); IPv4 clients are counted per address.
    pub ipv6_prefix: u8,
    /// Per-username delays after failed logins.
    pub account_throttling: bool,
    /// Failed logins per username before delays start.
    pub account_free_failures: u32,
    /// First delay; doubles with each further failure.
    #[serde(with = "humantime_serde")]
    pub account_base_delay: Duration,
    /// The cap: no account is ever locked longer than this.
    #[serde(with = "humantime_serde")]
    pub account_max_delay: Duration,
}

impl Default for LimitsConfig {
    /// The per-account delays are the domain's defaults ([`ThrottlePolicy`]).
    fn default() -> Self {
        let throttle = ThrottlePolicy::default();
        Self {
            enabled: true,
            login_per_minute: 60,
            login_burst: 20,
            register_per_minute: 10,
            register_burst: 10,
            refresh_per_minute: 300,
            refresh_burst: 60,
            revoke_per_minute: 60,
            revoke_burst: 20,
            password_reset_per_minute: 10,
            password_reset_burst: 5,
            mail_per_address_per_minute: 1,
            mail_per_address_burst: 3,
            email_change_per_account_per_minute: 1,
            email_change_per_account_burst: 5,
            ipv6_prefix: 64,
            account_throttling: true,
            account_free_failures: throttle.free_failures,
            account_base_delay: std_duration(throttle.base_delay),
            account_max_delay: std_duration(throttle.max_delay),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransportKind {
    /// Development: nothing is delivered; each link is logged at INFO.
    #[default]
    Log,
    /// Delivery through `smtp_url`.
    Smtp,
}

/// Self-service sign-up.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationConfig {
    /// Whether people may create their own accounts (`POST /v1/auth/register`,
    /// `/register`, `prompt=create`). Off, only administrators create accounts (the CLI
    /// and the admin API); the API answers 403 `registration_closed`. Default: on.
    pub enabled: bool,
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// What a change that could keep or take the account asks for.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// How recent a sign-in must be to add, confirm or remove a second factor, get new
    /// recovery codes or change the email address; an older session must sign in again.
    /// Default: 5 minutes.
    #[serde(with = "humantime_serde")]
    pub reauthentication_window: Duration,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            reauthentication_window: Duration::from_secs(
                tessera_domain::auth::DEFAULT_REAUTHENTICATION_WINDOW
                    .num_seconds()
                    .unsigned_abs(),
            ),
        }
    }
}

/// Passkeys (WebAuthn) and the name authenticator apps show.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebauthnConfig {
    /// The domain passkeys are bound to. Default: the host of `server.public_url` (or
    /// of `server.listen`); `localhost` when that host is an IP address, which WebAuthn
    /// does not allow.
    pub rp_id: Option<String>,
    /// The service's name in passkey prompts and authenticator apps (the TOTP issuer).
    pub rp_name: String,
    /// Web origins allowed to run ceremonies (`https://app.example.com`), each on
    /// `rp_id` or a subdomain. Default: `server.public_url` (`http://localhost:<port>`
    /// for an IP address).
    pub origins: Vec<String>,
}

impl Default for WebauthnConfig {
    fn default() -> Self {
        Self {
            rp_id: None,
            rp_name: "Tessera".into(),
            origins: Vec::new(),
        }
    }
}

/// Outgoing mail: verification and password-reset links, through the outbox.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// How mail leaves: `log` (development: links are logged) or `smtp`. Default: `log`.
    pub transport: MailTransportKind,
    /// `smtps://user:pass@host:465` (implicit TLS), `smtp://host:587` (STARTTLS,
    /// required) or `smtp://host:25?tls=none` (plain: a trusted local relay only).
    pub smtp_url: Option<Secret>,
    /// The sender, `Name <address>` or a bare address.
    pub from: String,
    /// A PEM file of a CA to trust for the relay's certificate, besides the web PKI.
    pub ca_file: Option<PathBuf>,
    /// Link templates; `{token}` is replaced. Default: `<public URL>/verify-email?token=…`
    /// and `<public URL>/reset-password?token=…`, Tessera's own pages.
    pub verify_url: Option<String>,
    /// The reset-link template (see `verify_url`). Default: `<public URL>/reset-password?token=…`.
    pub reset_url: Option<String>,
    /// Subject of verification mails. Default: "Confirm your email address".
    pub verify_subject: String,
    /// Subject of password-reset mails. Default: "Reset your password".
    pub reset_subject: String,
    /// Subject of the notice (with no link) to an address's owner when another account
    /// asked for that address. Default: "Your email address was given for another account".
    pub address_taken_subject: String,
    /// Whether an account's owner is mailed, at the verified address, of each change
    /// that could keep or take the account: password changed or reset, address changed
    /// (to the old address), a second factor or passkey added or removed, recovery codes
    /// regenerated. Default: on.
    pub security_notices: bool,
    /// How long a verification link works.
    #[serde(with = "humantime_serde")]
    pub verify_ttl: Duration,
    /// How long a reset link works.
    #[serde(with = "humantime_serde")]
    pub reset_ttl: Duration,
    /// The deadline of one whole SMTP conversation (connect to the end of DATA).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// How often the sender looks for due mail (it is also woken by each new mail).
    #[serde(with = "humantime_serde")]
    pub send_interval: Duration,
    /// The wait after a failed attempt; it doubles up to `retry_max`.
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    /// The longest wait between two attempts. Default: 10 min ([`DeliveryPolicy`]).
    #[serde(with = "humantime_serde")]
    pub retry_max: Duration,
    /// A mail still unsent this long after it was written is given up (and counted).
    #[serde(with = "humantime_serde")]
    pub give_up_after: Duration,
    /// Sent and given-up mails are deleted this long after (their bodies are wiped at once).
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
}

impl Default for MailConfig {
    /// Lifetimes and retries are the domain's defaults ([`MailPolicy`], [`DeliveryPolicy`]).
    fn default() -> Self {
        let (mail, delivery) = (MailPolicy::default(), DeliveryPolicy::default());
        Self {
            transport: MailTransportKind::Log,
            smtp_url: None,
            from: "Tessera <no-reply@localhost>".into(),
            ca_file: None,
            verify_url: None,
            reset_url: None,
            verify_subject: mail.verify_subject,
            reset_subject: mail.reset_subject,
            address_taken_subject: mail.address_taken_subject,
            security_notices: mail.security_notices,
            verify_ttl: std_duration(mail.verify_ttl),
            reset_ttl: std_duration(mail.reset_ttl),
            timeout: Duration::from_secs(10),
            send_interval: Duration::from_secs(1),
            retry_base: std_duration(delivery.retry_base),
            retry_max: std_duration(delivery.retry_max),
            give_up_after: std_duration(delivery.give_up_after),
            retention: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

impl fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MailConfig")
            .field("transport", &self.transport)
            .field(
                "smtp_url",
                &self.smtp_url.as_ref().map(|u| redact_url(u.expose())),
            )
            .field("from", &self.from)
            .field("verify_url", &self.verify_url)
            .field("reset_url", &self.reset_url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// The audit trail.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Events older than this are deleted (hourly).
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum OtlpProtocol {
    /// OTLP over HTTP, protobuf bodies (`http/protobuf`).
    #[default]
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
    /// OTLP over HTTP, JSON bodies (`http/json`).
    #[serde(rename = "http/json")]
    HttpJson,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// OTLP/HTTP collector base URL (`http://127.0.0.1:4318`); traces go to
    /// `/v1/traces`, metrics to `/v1/metrics`. Unset: no traces are even created.
    pub otlp_endpoint: Option<String>,
    /// OTLP encoding: `http/protobuf` or `http/json`. Default: `http/protobuf`.
    pub otlp_protocol: OtlpProtocol,
    /// Share of requests traced (0.0–1.0), unless the caller's `traceparent` decided.
    pub trace_sample_ratio: f64,
    /// `service.name` of traces and metrics.
    pub service_name: String,
    /// Serve `GET /metrics` (Prometheus text format).
    pub metrics: bool,
    /// Serve `/metrics` on this separate address instead of the public listener.
    pub metrics_listen: Option<SocketAddr>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            otlp_protocol: OtlpProtocol::HttpProtobuf,
            trace_sample_ratio: 1.0,
            service_name: "tessera".into(),
            metrics: true,
            metrics_listen: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON when stdout is not a terminal, human-readable otherwise.
    #[default]
    Auto,
    /// One JSON object per line (`json`).
    Json,
    /// Human-readable lines (`text`).
    Text,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter (`info`, `tessera=debug,info`); `RUST_LOG` wins when set.
    pub level: String,
    /// Log line format: `auto`, `json` or `text`. Default: `auto`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Auto,
        }
    }
}

impl Config {
    /// Defaults, then `path` (or `./tessera.toml` when it exists), then the environment.
    ///
    /// # Errors
    /// On unreadable files, unknown keys or invalid values, with the offending key named.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match path {
            Some(p) => {
                if !p.exists() {
                    anyhow::bail!("configuration file {} does not exist", p.display());
                }
                figment = figment.merge(Toml::file(p));
            }
            None => figment = figment.merge(Toml::file("tessera.toml")),
        }
        figment = figment.merge(
            Env::prefixed("TESSERA_")
                // Only `SECTION__KEY` variables are configuration; others such as
                // TESSERA_CONFIG or the test suite's TESSERA_TEST_* are not ours to parse.
                .filter(|k| k.as_str().contains("__"))
                .split("__"),
        );
        let config: Config = figment
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        config.validate()?;
        Ok(config)
    }

    /// Cross-field checks serde cannot express.
    ///
    /// # Errors
    /// With a message naming the keys at fault.
    /// `server.public_url`, when set, is an absolute http(s) URL; unset, the default
    /// `http://<listen>` is right only for one instance that people reach at its own
    /// loopback address. Instances that share a database server or Redis, or listen on an
    /// address others reach (`0.0.0.0` above all, which would end up in mailed links),
    /// would each derive another issuer and links nobody can open.
    fn validate_public_url(&self) -> anyhow::Result<()> {
        if let Some(url) = &self.server.public_url {
            let ok = url::Url::parse(url).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host().is_some()
                    && u.query().is_none()
                    && u.fragment().is_none()
            });
            if !ok {
                anyhow::bail!(
                    "server.public_url {url:?} must be an absolute http(s) URL such as \
                     https://auth.example.com"
                );
            }
            return Ok(());
        }
        let shared_store = !self.database.url.starts_with("sqlite:");
        let shared_cache = self.revocation.backend == RevocationBackend::Redis;
        let reachable = !self.server.listen.ip().is_loopback();
        if shared_store || shared_cache || reachable {
            let why = if reachable {
                format!(
                    "server.listen is {}, an address others reach",
                    self.server.listen
                )
            } else {
                "a database server or Redis is shared by instances".to_owned()
            };
            anyhow::bail!(
                "server.public_url is not set, and {why}: set it (TESSERA_SERVER__PUBLIC_URL) \
                 to the URL your users reach Tessera at, e.g. https://auth.example.com, the \
                 same on every instance. The issuer of tokens, mailed links, cookies and \
                 passkeys derive from it."
            );
        }
        Ok(())
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        self.validate_public_url()?;
        let p = &self.passwords;
        if p.min_length < 1 || p.min_length > p.max_length {
            anyhow::bail!("passwords.min_length must be between 1 and passwords.max_length");
        }
        if p.max_length > 1024 {
            anyhow::bail!("passwords.max_length must be at most 1024");
        }
        let t = &self.tokens;
        if t.access_ttl.is_zero() {
            anyhow::bail!("tokens.access_ttl must be positive");
        }
        if t.refresh_idle_ttl.is_zero() || t.session_max_ttl < t.refresh_idle_ttl {
            anyhow::bail!("tokens.session_max_ttl must be at least tokens.refresh_idle_ttl");
        }
        let k = &self.keys;
        if k.prepublish < k.jwks_max_age {
            anyhow::bail!(
                "keys.prepublish ({}) must be at least keys.jwks_max_age ({}): a resource \
                 server caching the JWKS must see a new key before it signs",
                humantime::format_duration(k.prepublish),
                humantime::format_duration(k.jwks_max_age)
            );
        }
        if k.rotate_every <= k.prepublish {
            anyhow::bail!("keys.rotate_every must be longer than keys.prepublish");
        }
        if k.refresh_interval.is_zero() {
            anyhow::bail!("keys.refresh_interval must be positive");
        }
        if self.revocation.poll_interval.is_zero() {
            anyhow::bail!("revocation.poll_interval must be positive");
        }
        if self.limits.ipv6_prefix > 128 {
            anyhow::bail!("limits.ipv6_prefix must be between 0 and 128");
        }
        if self.audit.retention.is_zero() {
            anyhow::bail!("audit.retention must be positive");
        }
        if !(0.0..=1.0).contains(&self.telemetry.trace_sample_ratio) {
            anyhow::bail!("telemetry.trace_sample_ratio must be between 0.0 and 1.0");
        }
        let m = &self.mail;
        if m.transport == MailTransportKind::Smtp && m.smtp_url.is_none() {
            anyhow::bail!("mail.transport = \"smtp\" needs mail.smtp_url");
        }
        for (key, template) in [
            ("mail.verify_url", &m.verify_url),
            ("mail.reset_url", &m.reset_url),
        ] {
            if template.as_ref().is_some_and(|t| !t.contains("{token}")) {
                anyhow::bail!("{key} must contain {{token}}");
            }
        }
        if m.verify_ttl.is_zero() || m.reset_ttl.is_zero() {
            anyhow::bail!("mail.verify_ttl and mail.reset_ttl must be positive");
        }
        if m.timeout.is_zero() || m.send_interval.is_zero() || m.retry_base.is_zero() {
            anyhow::bail!("mail.timeout, mail.send_interval and mail.retry_base must be positive");
        }
        if self.server.body_limit < 1024 {
            anyhow::bail!("server.body_limit must be at least 1024 bytes");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_url_passwords_stay_out_of_debug() {
        let mut c = Config::default();
        c.keys.encryption_key = Some(Secret::new("c2VjcmV0"));
        c.database.url = "postgres://app:hunter2@db/tessera".into();
        let printed = format!("{c:?}");
        assert!(!printed.contains("c2VjcmV0"));
        assert!(!printed.contains("hunter2"));
        assert!(printed.contains("postgres://app:***@db/tessera"));
    }

    #[test]
    fn unknown_keys_and_bad_durations_are_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "[server]\nlisten = \"127.0.0.1:0\"\nlistne = 1\n").unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("listne"), "{err}");
        std::fs::write(&path, "[tokens]\naccess_ttl = \"soon\"\n").unwrap();
        assert!(Config::load(Some(&path)).is_err());
        std::fs::write(
            &path,
            "[tokens]\naccess_ttl = \"5m\"\nreuse_grace = \"10s\"\nrefresh_idle_ttl = \"7d\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&path)).unwrap();
        assert_eq!(c.tokens.access_ttl, Duration::from_secs(300));
        std::fs::write(
            &path,
            "[keys]\nprepublish = \"5m\"\njwks_max_age = \"10m\"\n",
        )
        .unwrap();
        let err = Config::load(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("keys.prepublish"), "{err}");
        assert_eq!(c.tokens.refresh_idle_ttl, Duration::from_secs(7 * 86400));
    }
}
