//! The HTTP assembly: every route with its middleware — request hygiene (header size,
//! body size and read time), problem types resolved against the public URL, `Allow` on
//! 405, CORS when configured, security headers, access logs and metrics — plus the
//! endpoints outside the OpenAPI operations (Swagger UI, the document, `/problems`,
//! `/metrics`).

use std::sync::Arc;
use std::time::Duration;

use poem::endpoint::BoxEndpoint;
use poem::http::Method;
use poem::http::{HeaderValue, StatusCode, header};
use poem::middleware::{Cors, SetHeader};
use poem::{Body, Endpoint, EndpointExt, IntoResponse, Request, Response, Route};

use crate::api;
use crate::config::{ServerConfig, TelemetryConfig};
use crate::edge::AppState;
use crate::observe::observe_request;
use crate::problem::{ApiError, render_error};
use crate::spec::{Documents, SpecSettings};
use crate::telemetry::Telemetry;

/// Swagger UI as poem-openapi renders it, told to keep what a developer enters under
/// "Authorize" across page reloads (Swagger UI's `persistAuthorization`, which
/// poem-openapi does not expose), with no favicon to fetch. The token stays in the docs
/// page's `localStorage`, on the origin that issued it; access tokens live minutes.
/// `tests/api/spec.rs` and the browser test in `tests/browser` notice if a poem-openapi
/// upgrade changes the template this edits.
fn swagger_ui(page: impl Fn() -> String + Send + Sync + 'static, public_url: String) -> Route {
    // Built on the first visit, not at start: the page embeds Swagger UI's 1.5 MB bundle,
    // which a server nobody browses should not hold (idle memory).
    let html = Arc::new(std::sync::OnceLock::new());
    let oauth_receiver = Arc::new(tokio::sync::OnceCell::new());
    let init_oauth = format!(
        "\n    }});\n    window.ui.initOAuth({{ clientId: \"{}\", usePkceWithAuthorizationCodeGrant: true, scopes: \"openid profile\" }});\n</script>",
        tessera_domain::oidc::DOCS_CLIENT_ID
    );
    Route::new()
        .at(
            "/",
            poem::endpoint::make_sync(move |_| {
                let html = html.get_or_init(|| {
                    page()
                        .replacen(
                            "deepLinking: true,",
                            "deepLinking: true,\n        persistAuthorization: true,",
                            1,
                        )
                        // The receiver next to the page, whatever deep link (`#/…`) the
                        // address shows: poem-openapi derives it from the whole href.
                        .replacen(
                            "    SwaggerUIBundle({",
                            "    oauth2RedirectUrl = location.origin + location.pathname.replace(/\\/?$/, \"/\") + \"oauth-receiver.html\";\n    window.ui = SwaggerUIBundle({",
                            1,
                        )
                        // "Authorize" signs in through Tessera: the built-in docs client,
                        // authorization code with PKCE.
                        .replacen("\n    })\n</script>", &init_oauth, 1)
                        // No icon to fetch: spares every visit a 404 for /favicon.ico.
                        .replacen(
                            "<head>",
                            "<head>\n    <link rel=\"icon\" href=\"data:,\">",
                            1,
                        )
                });
                poem::web::Html(html.clone())
            }),
        )
        .at(
            "/oauth-receiver.html",
            poem::endpoint::make(move |_| {
                let (cell, public_url) = (Arc::clone(&oauth_receiver), public_url.clone());
                async move {
                    let html = cell.get_or_init(|| oauth_receiver_html(public_url)).await;
                    poem::web::Html(html.clone())
                }
            }),
        )
}

/// poem-openapi's OAuth receiver page (Swagger UI's `oauth2-redirect.html`), where the
/// sign-in popup lands with the code and hands it to the docs page.
async fn oauth_receiver_html(public_url: String) -> String {
    let endpoint = api::service(&public_url).swagger_ui();
    let req = Request::builder()
        .uri(poem::http::Uri::from_static("/oauth-receiver.html"))
        .finish();
    match endpoint
        .get_response(req)
        .await
        .into_body()
        .into_string()
        .await
    {
        Ok(html) => html,
        Err(e) => {
            tracing::warn!(error = %e, "no OAuth receiver page");
            String::new()
        }
    }
}

/// Every route, with request hygiene (header size, body size and read time), CORS when
/// configured, security headers and problem+json errors.
pub fn routes(
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
    let documents = Arc::new(Documents::new(settings));
    let docs = {
        let documents = Arc::clone(&documents);
        swagger_ui(move || documents.swagger_ui_html(), public_url.to_owned())
    };
    let spec_json = {
        let documents = Arc::clone(&documents);
        text_endpoint("application/json", move || documents.json().to_owned())
    };
    let spec_yaml = {
        let documents = Arc::clone(&documents);
        text_endpoint("application/yaml", move || documents.yaml().to_owned())
    };
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
    route = crate::oidc::routes(crate::pages::routes(route));
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
            let (documents, public_url) = (Arc::clone(&documents), Arc::clone(&public_url));
            crate::problem::with_public_url(public_url, allow_header(next, req, documents))
        })
        .with(SetHeader::new().overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .around(move |next, req| observe_request(next, req, Arc::clone(&metrics), spans.clone()))
        .boxed()
}

/// A text body with its content type.
fn text_endpoint(
    content_type: &'static str,
    body: impl Fn() -> String + Send + Sync + 'static,
) -> impl Endpoint + 'static {
    poem::endpoint::make_sync(move |_| Response::builder().content_type(content_type).body(body()))
}

/// Adds `Allow` to a 405 (RFC 9110 §15.5.6): the methods the spec gives the path.
async fn allow_header<E: Endpoint>(
    next: Arc<E>,
    req: Request,
    documents: Arc<Documents>,
) -> poem::Result<Response> {
    // A `Uri` clone shares its bytes: no allocation on every request for the rare 405.
    let uri = req.uri().clone();
    let mut resp = next.call(req).await?.into_response();
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED
        && let Some(methods) = documents.allowed().for_path(uri.path())
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
pub fn metrics_endpoint(telemetry: Arc<Telemetry>) -> impl Endpoint + 'static {
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
