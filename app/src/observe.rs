//! Instrumented wrappers around the ports (metrics and child spans without touching the
//! domain or the adapters), and the per-request middleware: request id, server span
//! named by route template, request metrics, and the access-log line.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, TimeDelta, Utc};
use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::{FutureExt as _, TraceContextExt as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use poem::PathPattern;
use poem::http::{HeaderMap, HeaderValue};
use poem::{Endpoint, IntoResponse, Request, Response};
use tessera_domain::email::OutgoingMail;
use tessera_domain::ports::{AuditEvent, AuditSink, MailError, MailTransport};
use tessera_domain::revocation::{RevocationEntry, RevocationError, RevocationList};
use tessera_domain::session::ClientInfo;
use tessera_domain::throttle::{ClientAction, LimitError, RateLimiter};
use tessera_domain::token::{AccessTokenSigner, Claims, SignError};

use crate::telemetry::{Metrics, Spans};

/// Counts and traces token signing.
pub struct ObservedSigner<S> {
    pub inner: Arc<S>,
    pub metrics: Arc<Metrics>,
    pub spans: Spans,
}

impl<S: AccessTokenSigner> AccessTokenSigner for ObservedSigner<S> {
    fn sign(&self, claims: &Claims) -> Result<String, SignError> {
        let _span = self.spans.child("token.sign");
        let token = self.inner.sign(claims)?;
        self.metrics.tokens_issued.add(1, &[]);
        Ok(token)
    }
}

/// Traces and counts each send, and logs failures (the outbox keeps the reason too).
pub struct ObservedTransport {
    pub inner: Arc<dyn MailTransport>,
    /// `host:port` of the relay, or `log`.
    pub relay: String,
    pub metrics: Arc<Metrics>,
    pub spans: Spans,
}

#[async_trait]
impl MailTransport for ObservedTransport {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let started = Instant::now();
        let result = self.inner.send(mail).await;
        let outcome = match &result {
            Ok(()) => "sent",
            Err(MailError::Temporary(e)) => {
                tracing::warn!(relay = %self.relay, error = %format!("{e:#}"), "mail attempt failed; will retry");
                "temporary"
            }
            Err(MailError::Permanent(e)) => {
                tracing::warn!(relay = %self.relay, error = %format!("{e:#}"), "mail refused for good");
                "permanent"
            }
        };
        self.metrics
            .mail_attempts
            .add(1, &[KeyValue::new("outcome", outcome)]);
        self.spans.record_past(
            "mail.send",
            started.elapsed(),
            vec![
                KeyValue::new("server.address", self.relay.clone()),
                KeyValue::new("outcome", outcome),
            ],
        );
        result
    }
}

/// Counts revocations by kind and traces revocation checks.
pub struct ObservedRevocations {
    pub inner: Arc<dyn RevocationList>,
    pub metrics: Arc<Metrics>,
    pub spans: Spans,
}

#[async_trait]
impl RevocationList for ObservedRevocations {
    async fn revoke(&self, entry: RevocationEntry) -> Result<(), RevocationError> {
        let _span = self.spans.child("revocation.revoke");
        self.inner.revoke(entry).await?;
        self.metrics
            .revocations
            .add(1, &[KeyValue::new("kind", entry.revocation.kind())]);
        Ok(())
    }

    fn is_revoked(&self, claims: &Claims, now: DateTime<Utc>) -> Result<bool, RevocationError> {
        let _span = self.spans.child("revocation.check");
        self.inner.is_revoked(claims, now)
    }

    async fn check_ready(&self) -> Result<(), RevocationError> {
        self.inner.check_ready().await
    }

    async fn sync(&self, now: DateTime<Utc>) -> Result<(), RevocationError> {
        self.inner.sync(now).await
    }
}

/// Counts security events by kind (logins by outcome, lockouts, refresh reuse, …).
pub struct ObservedAudit {
    pub inner: Arc<dyn AuditSink>,
    pub metrics: Arc<Metrics>,
}

#[async_trait]
impl AuditSink for ObservedAudit {
    async fn record(&self, event: AuditEvent, at: DateTime<Utc>, client: &ClientInfo) {
        self.metrics
            .security_events
            .add(1, &[KeyValue::new("event", event.name())]);
        self.inner.record(event, at, client).await;
    }
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(poem::http::HeaderName::as_str).collect()
    }
}

/// A client's `X-Request-Id` is kept when it is 1–128 characters of `[A-Za-z0-9._-]`;
/// otherwise a UUID is generated.
fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            (1..=128).contains(&v.len())
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// The method as a label: the standard ones without an allocation.
fn method_name(method: &poem::http::Method) -> opentelemetry::StringValue {
    use poem::http::Method;
    let known = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
    ];
    const NAMES: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
    known
        .iter()
        .zip(NAMES)
        .find(|(m, _)| *m == method)
        .map_or_else(
            || method.as_str().to_owned().into(),
            |(_, name)| name.into(),
        )
}

/// The outermost middleware: everything a request leaves behind for operators.
pub async fn observe_request<E: Endpoint>(
    next: Arc<E>,
    req: Request,
    metrics: Arc<Metrics>,
    spans: Spans,
) -> poem::Result<Response> {
    let started = Instant::now();
    let id = request_id(req.headers());
    let method = method_name(req.method());
    let parent = TraceContextPropagator::new().extract(&Headers(req.headers()));
    let cx = if spans.enabled() {
        spans
            .server(format!("{method} request"), &parent)
            .unwrap_or(parent)
    } else {
        parent
    };
    let mut resp = next
        .call(req)
        .with_context(cx.clone())
        .await
        .map_or_else(poem::Error::into_response, IntoResponse::into_response);
    // Shared, not copied: every label below is a reference count.
    let route: Arc<str> = resp
        .data::<PathPattern>()
        .map_or_else(|| Arc::from("unmatched"), |p| Arc::clone(&p.0));
    let status = resp.status().as_u16();
    let elapsed = started.elapsed();
    metrics.requests.add(
        1,
        &[
            KeyValue::new("route", route.clone()),
            KeyValue::new("method", method.clone()),
            KeyValue::new("status", i64::from(status)),
        ],
    );
    metrics.request_duration.record(
        elapsed.as_secs_f64(),
        &[
            KeyValue::new("route", route.clone()),
            KeyValue::new("method", method.clone()),
        ],
    );
    let span_cx = cx.span().span_context().clone();
    let trace_id = span_cx.is_valid().then(|| span_cx.trace_id().to_string());
    if spans.enabled() {
        let span = cx.span();
        span.update_name(format!("{method} {route}"));
        span.set_attributes([
            KeyValue::new("http.request.method", method.clone()),
            KeyValue::new("http.route", route.clone()),
            KeyValue::new("http.response.status_code", i64::from(status)),
            KeyValue::new("tessera.request_id", id.clone()),
        ]);
        if status >= 500 {
            span.set_status(opentelemetry::trace::Status::error("server error"));
        }
        span.end();
    }
    tracing::info!(
        request_id = %id,
        trace_id = trace_id.as_deref().unwrap_or("-"),
        method = %method,
        route = %route,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        "request"
    );
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    Ok(resp)
}

/// Records the authenticated user on the request span (never a token or password).
/// Formats nothing when the request is not traced.
pub fn note_user(user: &impl std::fmt::Display) {
    let cx = Context::current();
    let span = cx.span();
    if span.span_context().is_valid() {
        span.set_attribute(KeyValue::new("enduser.id", user.to_string()));
    }
}

/// Counts every 429 a limiter decides (`tessera_rate_limited_total{action}`), whichever
/// door or use case asked: per-client buckets by their action (`login`, `register`,
/// `refresh`, `revoke`, `password_reset`, `mail_to_address`, and `email_change`, whose
/// key is an account), the per-account failure budget as `account`. Handlers count nothing.
pub struct ObservedLimiter {
    pub inner: Arc<dyn RateLimiter>,
    pub metrics: Arc<Metrics>,
}

impl ObservedLimiter {
    fn counted<T>(
        &self,
        action: &'static str,
        result: Result<T, LimitError>,
    ) -> Result<T, LimitError> {
        if let Err(LimitError::Throttled(_)) = &result {
            self.metrics
                .rate_limited
                .add(1, &[KeyValue::new("action", action)]);
        }
        result
    }
}

/// The metric's name for a per-client action.
const fn action_label(action: ClientAction) -> &'static str {
    match action {
        ClientAction::Login => "login",
        ClientAction::Register => "register",
        ClientAction::Refresh => "refresh",
        ClientAction::Revoke => "revoke",
        ClientAction::PasswordReset => "password_reset",
        ClientAction::MailToAddress => "mail_to_address",
        ClientAction::EmailChange => "email_change",
    }
}

#[async_trait]
impl RateLimiter for ObservedLimiter {
    async fn check_client(&self, action: ClientAction, client: &str) -> Result<(), LimitError> {
        let result = self.inner.check_client(action, client).await;
        self.counted(action_label(action), result)
    }

    async fn reserve_attempt(
        &self,
        account: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<TimeDelta>, LimitError> {
        let result = self.inner.reserve_attempt(account, now).await;
        self.counted("account", result)
    }

    async fn record_success(&self, account: &str) -> Result<(), LimitError> {
        self.inner.record_success(account).await
    }
}
