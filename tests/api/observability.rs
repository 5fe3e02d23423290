//! Operations: traces received by an OTLP/HTTP collector inside this test binary,
//! `/metrics` in the Prometheus format, request ids, readiness and graceful shutdown.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::{EndpointExt, Route, Server, handler, post, web::Data};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, unique_name};

#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<String>>>);

#[handler]
fn collect(body: String, Data(received): Data<&Received>) -> &'static str {
    received.0.lock().unwrap().push(body);
    "{}"
}

/// A minimal OTLP/HTTP (JSON) collector on a free port.
async fn collector() -> (String, Received) {
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .unwrap();
    let port = acceptor.local_addr()[0].as_socket_addr().unwrap().port();
    let received = Received::default();
    let app = Route::new()
        .at("/v1/traces", post(collect))
        .at("/v1/metrics", post(collect))
        .data(received.clone());
    tokio::spawn(Server::new_with_acceptor(acceptor).run(app));
    (format!("http://127.0.0.1:{port}"), received)
}

fn span_names(bodies: &[String]) -> Vec<String> {
    let mut names = Vec::new();
    for b in bodies {
        let Ok(v) = serde_json::from_str::<Value>(b) else {
            continue;
        };
        for rs in v["resourceSpans"].as_array().into_iter().flatten() {
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for span in ss["spans"].as_array().into_iter().flatten() {
                    names.push(span["name"].as_str().unwrap_or_default().to_owned());
                }
            }
        }
    }
    names
}

/// An application exporting traces as OTLP/JSON to a fresh collector.
async fn traced(sample_ratio: f64) -> (TestApp, Received) {
    let (endpoint, received) = collector().await;
    let app = TestApp::builder()
        .with_config(move |c| {
            c.telemetry.otlp_endpoint = Some(endpoint);
            c.telemetry.otlp_protocol = tessera::config::OtlpProtocol::HttpJson;
            c.telemetry.trace_sample_ratio = sample_ratio;
        })
        .spawn()
        .await;
    (app, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_is_traced_without_secrets() {
    let (app, received) = traced(1.0).await;
    let name = unique_name();
    app.register(&name, PASSWORD).await;
    let pair = app.login_ok(&name, PASSWORD).await;
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let r = app
        .client
        .get(app.url("/v1/dashboard"))
        .bearer_auth(&pair.access_token)
        .header("traceparent", traceparent)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.stop().await; // flushes the exporter

    let bodies = received.0.lock().unwrap().clone();
    let names = span_names(&bodies);
    for expected in [
        "POST /v1/auth/login",
        "password.verify",
        "token.sign",
        "db.statement",
        "GET /v1/dashboard",
        "revocation.check",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "no {expected:?} span in {names:?}"
        );
    }
    let all = bodies.join("\n");
    assert!(
        all.contains("4bf92f3577b34da6a3ce929d0e0e4736"),
        "incoming traceparent not honoured"
    );
    for secret in [
        PASSWORD,
        pair.access_token.as_str(),
        pair.refresh_token.as_str(),
    ] {
        assert!(!all.contains(secret), "a secret reached the traces");
    }
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_count_logins() {
    let app = TestApp::spawn().await;
    let scrape = async || -> prometheus_parse::Scrape {
        let text = app.get("/metrics", None).await.text().await.unwrap();
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
    };
    let logins = |s: &prometheus_parse::Scrape| -> f64 {
        s.samples
            .iter()
            .filter(|x| {
                x.metric == "tessera_security_events_total"
                    && x.labels.get("event") == Some("login_succeeded")
            })
            .map(|x| match x.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
                _ => 0.0,
            })
            .sum()
    };
    let before = logins(&scrape().await);
    app.signed_in_user().await;
    let after = scrape().await;
    assert_eq!(logins(&after) - before, 1.0);
    let names: Vec<&str> = after.samples.iter().map(|s| s.metric.as_str()).collect();
    for m in [
        "tessera_http_requests_total",
        "tessera_http_request_duration_seconds",
        "tessera_tokens_issued_total",
        "tessera_password_hash_duration_seconds",
        "tessera_store_statement_duration_seconds",
        "tessera_signing_key_age",
        "tessera_signing_keys_published",
        "tessera_password_queue_depth",
    ] {
        assert!(names.contains(&m), "missing {m} in {names:?}");
    }
    let routes: Vec<&str> = after
        .samples
        .iter()
        .filter(|s| s.metric == "tessera_http_requests_total")
        .filter_map(|s| s.labels.get("route"))
        .collect();
    assert!(routes.contains(&"/v1/auth/login"), "{routes:?}");
}

#[tokio::test]
async fn request_ids_round_trip_and_are_generated_when_missing_or_malformed() {
    let app = TestApp::spawn().await;
    let id_of = async |value: Option<&str>| {
        let mut req = app.client.get(app.url("/healthz"));
        if let Some(v) = value {
            req = req.header("x-request-id", v);
        }
        req.send().await.unwrap().headers()["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(id_of(Some("abc-123.XYZ_9")).await, "abc-123.XYZ_9");
    for bad in [None, Some("has space"), Some(&*"x".repeat(200))] {
        let id = id_of(bad).await;
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    }
    let r = app.get("/nowhere", None).await;
    assert!(
        r.headers().contains_key("x-request-id"),
        "errors carry it too"
    );
}

#[tokio::test]
async fn readyz_turns_503_when_the_store_is_gone() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/readyz", None).await.status(), StatusCode::OK);
    app.pool.clone().close().await;
    let r = app.get("/readyz", None).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["store"], "unavailable");
    assert_eq!(body["signing_key"], "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_an_in_flight_request() {
    let mut app = TestApp::spawn().await;
    let name = unique_name();
    let body = json!({"username": name, "password": PASSWORD})
        .to_string()
        .into_bytes();
    let (first, rest) = body.split_at(5);
    let (first, rest) = (first.to_vec(), rest.to_vec());
    let slow = tokio_stream::StreamExt::throttle(
        tokio_stream::iter(vec![Ok::<_, std::io::Error>(first), Ok(rest)]),
        Duration::from_millis(400),
    );
    let client = app.client.clone();
    let url = app.url("/v1/auth/register");
    let in_flight = tokio::spawn(async move {
        client
            .post(url)
            .header("content-type", "application/json")
            .body(reqwest::Body::wrap_stream(slow))
            .send()
            .await
            .map(|r| r.status())
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    app.begin_stop();
    assert_eq!(in_flight.await.unwrap().unwrap(), StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_sample_ratio_traces_only_what_the_caller_sampled() {
    let (app, received) = traced(0.0).await;
    app.get("/healthz", None).await;
    let r = app
        .client
        .get(app.url("/readyz"))
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    app.stop().await;
    let names = span_names(&received.0.lock().unwrap());
    assert!(names.iter().any(|n| n == "GET /readyz"), "{names:?}");
    assert!(
        !names.iter().any(|n| n == "GET /healthz"),
        "unsampled request traced: {names:?}"
    );
}
