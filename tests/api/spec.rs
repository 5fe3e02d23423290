//! The committed `openapi/openapi.json` is what the code generates, and every operation
//! carries what SDK generators need.

use serde_json::Value;

fn generated() -> Value {
    serde_json::from_str(&tessera::api::service("http://127.0.0.1:8080").spec()).unwrap()
}

#[test]
fn the_committed_spec_is_fresh() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(
        committed == generated(),
        "openapi/openapi.json is stale: run `cargo run -q -- openapi > openapi/openapi.json`"
    );
}

#[test]
fn every_operation_is_named_tagged_and_documents_its_errors() {
    let spec = generated();
    let mut seen = std::collections::HashSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path}: no operationId"));
            assert!(seen.insert(id.to_owned()), "duplicate operationId {id}");
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{id}: no tag"
            );
            assert!(op["summary"].is_string(), "{id}: no summary");
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            if secured {
                assert!(op["responses"]["401"].is_object(), "{id}: 401 undocumented");
            }
            for (status, resp) in op["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    if path == "/readyz" {
                        continue;
                    }
                    assert!(
                        resp["content"]["application/problem+json"].is_object(),
                        "{id} {status}: not problem+json"
                    );
                }
            }
        }
    }
    assert!(spec["components"]["securitySchemes"]["bearerAuth"].is_object());
    for id in [
        "register",
        "login",
        "refresh",
        "logout",
        "logoutAll",
        "getMe",
        "getDashboard",
        "getJwks",
        "revokeToken",
        "introspectToken",
    ] {
        assert!(seen.contains(id), "missing {id}");
    }
}

/// What generators trip over (logto#8006, better-auth#9608): unnamed operations, inline
/// schemas they must invent names for, operations whose successes differ in shape.
#[test]
fn the_spec_gives_generators_names_examples_and_one_success_shape() {
    let spec = generated();
    assert_eq!(spec["info"]["version"], tessera::VERSION);
    assert_eq!(spec["info"]["license"]["name"], "Apache-2.0");
    assert!(spec["servers"][0]["url"].is_string(), "servers");
    let bearer = &spec["components"]["securitySchemes"]["bearerAuth"];
    assert_eq!(
        (&bearer["type"], &bearer["scheme"], &bearer["bearerFormat"]),
        (&"http".into(), &"bearer".into(), &"JWT".into())
    );

    for (name, schema) in spec["components"]["schemas"].as_object().unwrap() {
        if schema["type"] == "object" {
            assert!(
                schema["example"].is_object(),
                "schema {name} has no example"
            );
        }
    }

    // A body is a named schema, or a list of one; anything else becomes `InlineResponse200`.
    let named = |schema: &Value| {
        schema["$ref"].is_string()
            || (schema["type"] == "array" && schema["items"]["$ref"].is_string())
    };
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            assert!(
                id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                    && id.chars().all(|c| c.is_ascii_alphanumeric()),
                "{method} {path}: operationId {id} is not camelCase"
            );
            assert!(
                op["description"].as_str().is_some_and(|d| d.len() > 20),
                "{id}: no description"
            );
            for (media, body) in op["requestBody"]["content"]
                .as_object()
                .into_iter()
                .flatten()
            {
                assert!(
                    named(&body["schema"]),
                    "{id}: inline {media} request schema"
                );
            }
            let mut success_shapes = std::collections::BTreeSet::new();
            for (status, resp) in op["responses"].as_object().unwrap() {
                let content = resp["content"].as_object();
                for (media, body) in content.into_iter().flatten() {
                    if body["schema"]["type"] == "string" {
                        continue; // a header-only answer's text body
                    }
                    assert!(
                        named(&body["schema"]),
                        "{id} {status}: inline {media} schema"
                    );
                }
                if status.starts_with('2') {
                    let shape = content
                        .and_then(|c| c.values().next())
                        .map(|b| b["schema"].to_string());
                    success_shapes.insert(shape);
                }
            }
            assert_eq!(
                success_shapes.len(),
                1,
                "{id}: successes of different shapes"
            );
        }
    }
}

#[tokio::test]
async fn swagger_ui_keeps_the_authorization_and_fetches_no_icon() {
    let app = crate::helpers::TestApp::spawn().await;
    for path in ["/docs", "/docs/"] {
        let r = app.get(path, None).await;
        assert_eq!(r.status(), 200, "{path}");
        let html = r.text().await.unwrap();
        assert!(html.contains("persistAuthorization: true,"), "{path}");
        assert!(
            html.contains(r#"<link rel="icon" href="data:,">"#),
            "{path}"
        );
    }
}
