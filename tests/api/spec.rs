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
