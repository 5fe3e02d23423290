//! Telemetry: logs (tracing-subscriber), OpenTelemetry traces exported over OTLP/HTTP
//! when `telemetry.otlp_endpoint` is set (and not even created otherwise), and
//! OpenTelemetry metrics served in the Prometheus text format (and over OTLP).
//!
//! Each `Application` owns its providers (no process-wide globals besides the log
//! subscriber), so several instances in one process — the tests — stay separate.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use opentelemetry::metrics::{Counter, Histogram, Meter, MeterProvider as _};
use opentelemetry::trace::{
    Span as _, SpanKind, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{Sampler, SdkTracer, SdkTracerProvider};
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat, OtlpProtocol, TelemetryConfig};

/// Installs the global log subscriber once; later calls are no-ops.
pub fn init(config: &LogConfig, to_stderr: bool) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match config.format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match (json, to_stderr) {
        (true, false) => builder.json().try_init(),
        (true, true) => builder.json().with_writer(std::io::stderr).try_init(),
        (false, false) => builder.try_init(),
        (false, true) => builder.with_writer(std::io::stderr).try_init(),
    };
}

/// Creates child spans of the current request span, or nothing at all when tracing is
/// off (no endpoint configured): then every call is a branch on `None`.
#[derive(Clone, Default)]
pub struct Spans(Option<SdkTracer>);

impl Spans {
    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }

    /// Starts `name` as a child of the current context; it ends when the guard drops.
    pub fn child(&self, name: &'static str) -> Option<opentelemetry_sdk::trace::Span> {
        let tracer = self.0.as_ref()?;
        Some(tracer.start_with_context(name, &Context::current()))
    }

    /// A child span that already happened (for callbacks told only the duration).
    pub fn record_past(&self, name: &'static str, elapsed: Duration, attrs: Vec<KeyValue>) {
        let Some(tracer) = &self.0 else { return };
        let end = SystemTime::now();
        let mut span = tracer
            .span_builder(name)
            .with_start_time(end.checked_sub(elapsed).unwrap_or(end))
            .with_attributes(attrs)
            .start_with_context(tracer, &Context::current());
        span.end_with_timestamp(end);
    }

    /// The server span of a request, child of the caller's `traceparent` context.
    pub fn server(&self, name: String, parent: &Context) -> Option<Context> {
        let tracer = self.0.as_ref()?;
        let span = tracer
            .span_builder(name)
            .with_kind(SpanKind::Server)
            .start_with_context(tracer, parent);
        Some(parent.with_span(span))
    }
}

/// Every instrument Tessera records.
pub struct Metrics {
    pub requests: Counter<u64>,
    pub request_duration: Histogram<f64>,
    pub security_events: Counter<u64>,
    pub tokens_issued: Counter<u64>,
    pub refreshes: Counter<u64>,
    /// Second steps and passkey sign-ins by method and outcome.
    pub second_factors: Counter<u64>,
    /// Token-endpoint answers by grant and outcome.
    pub oauth_tokens: Counter<u64>,
    pub revocations: Counter<u64>,
    pub rate_limited: Counter<u64>,
    pub hash_duration: Histogram<f64>,
    pub hashes_skipped: Counter<u64>,
    pub store_duration: Histogram<f64>,
    /// Mails the relay accepted.
    pub mail_sent: Counter<u64>,
    /// Mails given up (too old, or refused for good).
    pub mail_failed: Counter<u64>,
    /// Send attempts by outcome (`sent`, `temporary`, `permanent`).
    pub mail_attempts: Counter<u64>,
    /// Mails in the outbox neither sent nor given up, as of the sender's last round.
    pub outbox_depth: Arc<std::sync::atomic::AtomicU64>,
    meter: Meter,
}

impl Metrics {
    fn new(meter: Meter) -> Self {
        Self {
            requests: meter
                .u64_counter("tessera.http.requests")
                .with_description("HTTP requests by route template, method and status")
                .build(),
            request_duration: meter
                .f64_histogram("tessera.http.request.duration")
                .with_unit("s")
                .with_description("HTTP request latency by route template and method")
                .build(),
            security_events: meter
                .u64_counter("tessera.security.events")
                .with_description("Security events by kind: logins by outcome, lockouts, refresh reuse, logouts, …")
                .build(),
            tokens_issued: meter
                .u64_counter("tessera.tokens.issued")
                .with_description("Access tokens signed")
                .build(),
            refreshes: meter
                .u64_counter("tessera.refreshes")
                .with_description("Refresh-token exchanges by outcome")
                .build(),
            second_factors: meter
                .u64_counter("tessera.second_factors")
                .with_description(
                    "Second steps and passkey sign-ins by method (totp, recovery_code, \
                     webauthn, passkey) and outcome (ok, refused, error)",
                )
                .build(),
            oauth_tokens: meter
                .u64_counter("tessera.oauth_tokens")
                .with_description(
                    "Token-endpoint requests by grant (authorization_code, refresh_token, \
                     client_credentials) and outcome (ok, refused, error)",
                )
                .build(),
            revocations: meter
                .u64_counter("tessera.revocations")
                .with_description("Revocations by kind: token, session, user")
                .build(),
            rate_limited: meter
                .u64_counter("tessera.rate_limited")
                .with_description("Requests refused with 429 by action")
                .build(),
            hash_duration: meter
                .f64_histogram("tessera.password.hash.duration")
                .with_unit("s")
                .with_description("argon2 hashing and verification time")
                .build(),
            hashes_skipped: meter
                .u64_counter("tessera.password.hash.skipped")
                .with_description("Queued hashing jobs skipped because their request had gone away")
                .build(),
            store_duration: meter
                .f64_histogram("tessera.store.statement.duration")
                .with_unit("s")
                .with_description("SQL statement latency")
                .build(),
            mail_sent: meter
                .u64_counter("tessera.mail.sent")
                .with_description("Mails the relay accepted")
                .build(),
            mail_failed: meter
                .u64_counter("tessera.mail.failed")
                .with_description("Mails given up: too old to retry, or refused for good")
                .build(),
            mail_attempts: meter
                .u64_counter("tessera.mail.attempts")
                .with_description("SMTP send attempts by outcome")
                .build(),
            outbox_depth: Arc::default(),
            meter,
        }
    }

    /// Registers a gauge read at every collection.
    pub fn gauge(
        &self,
        name: &'static str,
        description: &'static str,
        read: impl Fn() -> Option<f64> + Send + Sync + 'static,
    ) {
        let _ = self
            .meter
            .f64_observable_gauge(name)
            .with_description(description)
            .with_callback(move |obs| {
                if let Some(v) = read() {
                    obs.observe(v, &[]);
                }
            })
            .build();
    }
}

/// One application's telemetry.
pub struct Telemetry {
    pub spans: Spans,
    pub metrics: Arc<Metrics>,
    registry: prometheus::Registry,
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: SdkMeterProvider,
}

impl Telemetry {
    /// # Errors
    /// When an exporter cannot be built from the configuration.
    pub fn build(config: &TelemetryConfig) -> anyhow::Result<Self> {
        let resource = Resource::builder()
            .with_service_name(config.service_name.clone())
            .with_attribute(KeyValue::new("service.version", crate::VERSION))
            .build();
        let protocol = match config.otlp_protocol {
            OtlpProtocol::HttpProtobuf => Protocol::HttpBinary,
            OtlpProtocol::HttpJson => Protocol::HttpJson,
        };
        let registry = prometheus::Registry::new();
        let prometheus = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .without_target_info()
            .scope_info_enabled(false)
            .build()?;
        let mut meters = SdkMeterProvider::builder()
            .with_resource(resource.clone())
            .with_reader(prometheus);
        let mut tracer_provider = None;
        if let Some(endpoint) = &config.otlp_endpoint {
            let base = endpoint.trim_end_matches('/');
            let spans = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(protocol)
                .with_endpoint(format!("{base}/v1/traces"))
                .with_timeout(Duration::from_secs(5))
                .build()?;
            tracer_provider = Some(
                SdkTracerProvider::builder()
                    .with_resource(resource.clone())
                    .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                        config.trace_sample_ratio,
                    ))))
                    .with_batch_exporter(spans)
                    .build(),
            );
            let metrics = opentelemetry_otlp::MetricExporter::builder()
                .with_http()
                .with_protocol(protocol)
                .with_endpoint(format!("{base}/v1/metrics"))
                .with_timeout(Duration::from_secs(5))
                .build()?;
            meters = meters.with_periodic_exporter(metrics);
        }
        let meter_provider = meters.build();
        let metrics = Arc::new(Metrics::new(meter_provider.meter("tessera")));
        let depth = Arc::clone(&metrics.outbox_depth);
        metrics.gauge(
            "tessera.mail.outbox.depth",
            "Mails waiting in the outbox (as of this instance's last sender round)",
            move || Some(depth.load(std::sync::atomic::Ordering::Relaxed) as f64),
        );
        Ok(Self {
            spans: Spans(tracer_provider.as_ref().map(|p| p.tracer("tessera"))),
            metrics,
            registry,
            tracer_provider,
            meter_provider,
        })
    }

    /// The metrics in the Prometheus text exposition format.
    pub fn render_prometheus(&self) -> String {
        let mut out = String::new();
        let encoder = prometheus::TextEncoder::new();
        if let Err(e) = encoder.encode_utf8(&self.registry.gather(), &mut out) {
            tracing::warn!(error = %e, "cannot encode metrics");
        }
        out
    }

    /// Exports what is buffered and stops the exporters.
    pub fn shutdown(&self) {
        if let Some(p) = &self.tracer_provider {
            let _ = p.force_flush();
            let _ = p.shutdown();
        }
        let _ = self.meter_provider.shutdown();
    }
}
