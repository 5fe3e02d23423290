//! The committed `openapi/openapi.json` is what the code generates, and every operation
//! carries what SDK generators need.

use serde_json::Value;

/// Every `operationId` of the committed document.
pub fn operation_ids() -> std::collections::BTreeSet<String> {
    generated()["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .map(|op| op["operationId"].as_str().unwrap().to_owned())
        .collect()
}

fn generated() -> Value {
    tessera::spec::document(&tessera::spec::SpecSettings::default())
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
        // Authorize signs in through Tessera: the built-in docs client, with PKCE.
        assert!(html.contains("window.ui.initOAuth({ clientId: \"7e55e7a0-d0c5-4000-8000-000000000001\", usePkceWithAuthorizationCodeGrant: true"), "{path}");
        assert!(html.contains("\"tesseraSignIn\""), "{path}");
    }
    let receiver = app.get("/docs/oauth-receiver.html", None).await;
    assert_eq!(receiver.status(), 200);
    assert!(
        receiver
            .text()
            .await
            .unwrap()
            .contains("swaggerUIRedirectOauth2")
    );
    // The committed document, which SDK generators read, has the bearer scheme only.
    let spec = generated();
    assert!(
        spec["components"]["securitySchemes"]
            .get("tesseraSignIn")
            .is_none()
    );
}

/// A parameter that does not parse (a UUID that is not one, `page=x`) is a client error
/// the spec documents, so generated clients can type it — not an undocumented status.
#[tokio::test]
async fn malformed_parameters_get_an_answer_the_spec_documents() {
    let app = crate::helpers::TestApp::spawn().await;
    let admin = app.signed_in_with_role("admin").await;
    let spec = generated();
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            let typed =
                |p: &Value| p["schema"]["type"] != "string" || p["schema"]["format"].is_string();
            for malformed in op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| typed(p))
            {
                let name = malformed["name"].as_str().unwrap();
                let mut url = path.clone();
                if malformed["in"] == "path" {
                    url = url.replace(&format!("{{{name}}}"), "not-a-number-or-uuid");
                } else {
                    url = format!("{url}?{name}=not-a-number-or-uuid");
                }
                // Any other path parameter gets a well-formed value.
                url = url
                    .replace("{kid}", "some-kid")
                    .replace("{id}", &uuid::Uuid::new_v4().to_string());
                let r = app
                    .client
                    .request(method.to_uppercase().parse().unwrap(), app.url(&url))
                    .bearer_auth(&admin.access_token)
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16().to_string();
                assert_eq!(status, "400", "{id} with malformed {name}");
                assert!(
                    op["responses"][&status].is_object(),
                    "{id} answers {status} to a malformed {name}, which its spec does not list"
                );
                let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
                assert!(ct.starts_with("application/problem+json"), "{id}: {ct}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 13, "typed parameters checked");
}

/// Every operation the spec marks `bearerAuth` refuses a request without a token with
/// the documented 401 and an RFC 6750 challenge — whatever else it would parse first.
#[tokio::test]
async fn every_secured_operation_challenges_a_missing_token() {
    let app = crate::helpers::TestApp::spawn().await;
    let spec = generated();
    let mut checked = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op["security"].as_array().is_none_or(|s| s.is_empty()) {
                continue;
            }
            let id = op["operationId"].as_str().unwrap();
            let url = path
                .replace("{kid}", "some-kid")
                .replace("{id}", &uuid::Uuid::new_v4().to_string());
            let r = app
                .client
                .request(method.to_uppercase().parse().unwrap(), app.url(&url))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 401, "{id}");
            let challenge = r.headers()["www-authenticate"].to_str().unwrap();
            assert!(challenge.starts_with("Bearer"), "{id}: {challenge}");
            checked += 1;
        }
    }
    assert!(checked >= 14, "only {checked} secured operations");
}

/// The problem codes a response description names: "… (`invalid_token`,
/// `token_revoked`)" — words of the catalog, each with its page at `/problems/{code}`.
fn codes_in(description: &str) -> Vec<String> {
    description
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| tessera::problem::describe(w).is_some())
        .map(str::to_owned)
        .collect()
}

/// Swagger UI and generated docs show one example per status: each must be a body of
/// that status and one of the codes the response documents. A new operation added
/// without a code in an error description, or with a success body whose schema has no
/// example, fails here.
#[test]
fn every_response_has_an_example_of_its_own_status() {
    let spec = generated();
    let schemas = &spec["components"]["schemas"];
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap();
            for (status, resp) in op["responses"].as_object().unwrap() {
                for (media, body) in resp["content"].as_object().into_iter().flatten() {
                    if media == "application/problem+json" {
                        let example = &body["example"];
                        let codes = codes_in(resp["description"].as_str().unwrap_or(""));
                        assert!(!codes.is_empty(), "{id} {status}: no `code` documented");
                        assert_eq!(example["status"].to_string(), *status, "{id} {status}");
                        let code = example["code"].as_str().unwrap_or("");
                        assert!(codes.iter().any(|c| c == code), "{id} {status}: {code}");
                        assert!(
                            example["type"]
                                .as_str()
                                .is_some_and(|t| t.ends_with(&format!("/problems/{code}"))),
                            "{id} {status}: {example}"
                        );
                        continue;
                    }
                    let schema = &body["schema"];
                    let named = schema["$ref"]
                        .as_str()
                        .or(schema["items"]["$ref"].as_str())
                        .map(|r| r.trim_start_matches("#/components/schemas/"));
                    let has_example = body["example"].is_object()
                        || named.is_some_and(|n| !schemas[n]["example"].is_null())
                        || schema["type"] == "string";
                    assert!(has_example, "{method} {path} {status}: no example");
                }
            }
        }
    }
}

/// Every integer a client may send has its bounds in the spec (schemathesis and
/// generated validators read them; an unbounded one once crashed the SQL layer).
#[test]
fn every_integer_parameter_is_bounded() {
    let spec = generated();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for param in op["parameters"].as_array().into_iter().flatten() {
                let schema = &param["schema"];
                if schema["type"] == "integer" {
                    assert!(
                        schema["minimum"].is_number() && schema["maximum"].is_number(),
                        "{method} {path}: integer parameter {} is unbounded",
                        param["name"]
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn the_served_spec_states_the_running_password_rules() {
    let app = crate::helpers::TestApp::builder()
        .with_config(|c| {
            c.passwords.min_length = 12;
            c.passwords.max_length = 64;
            c.server.public_url = Some("https://auth.example.test".into());
        })
        .spawn()
        .await;
    let served: Value = app.get_json("/openapi.json", None).await;
    for (schema, field) in [
        ("Registration", "password"),
        ("PasswordChange", "new_password"),
    ] {
        let rules = &served["components"]["schemas"][schema]["properties"][field];
        assert_eq!(
            (&rules["minLength"], &rules["maxLength"]),
            (&12.into(), &64.into())
        );
    }
    let committed = generated();
    let rules = &committed["components"]["schemas"]["Registration"]["properties"]["password"];
    assert_eq!(
        (&rules["minLength"], &rules["maxLength"]),
        (&8.into(), &128.into())
    );
    assert_eq!(served["servers"][0]["url"], "https://auth.example.test");
    let yaml = app.get("/openapi.yaml", None).await.text().await.unwrap();
    assert!(
        yaml.contains("minLength: 12"),
        "the YAML is the same document"
    );
    let docs = app.get("/docs", None).await.text().await.unwrap();
    assert!(
        docs.contains("\"minLength\": 12"),
        "Swagger UI shows the same document"
    );
}

/// RFC 9110 §15.5.6: a 405 lists what the resource accepts.
#[tokio::test]
async fn every_405_says_which_methods_are_allowed() {
    let app = crate::helpers::TestApp::spawn().await;
    let spec = generated();
    for (path, item) in spec["paths"].as_object().unwrap() {
        let concrete = path
            .split('/')
            .map(|s| {
                if s.starts_with('{') {
                    "0193f0e5-5b1a-7c3d-9e2f-4a6b8c0d1e2f"
                } else {
                    s
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let r = app
            .client
            .request(reqwest::Method::PUT, app.url(&concrete))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "PUT {path}");
        let allow: std::collections::BTreeSet<String> = r.headers()["allow"]
            .to_str()
            .unwrap()
            .split(',')
            .map(|m| m.trim().to_owned())
            .collect();
        let expected: std::collections::BTreeSet<String> = item
            .as_object()
            .unwrap()
            .keys()
            .map(|m| m.to_ascii_uppercase())
            .collect();
        assert_eq!(allow, expected, "{path}");
        crate::helpers::assert_problem(
            r,
            reqwest::StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        )
        .await;
    }
}

/// RFC 9457 §3.1.1: a problem `type` resolves to a page about it, on this server.
#[tokio::test]
async fn problem_types_resolve_to_their_pages() {
    let app = crate::helpers::TestApp::spawn().await;
    let r = app.get("/v1/me", None).await;
    let problem =
        crate::helpers::assert_problem(r, reqwest::StatusCode::UNAUTHORIZED, "invalid_token").await;
    let ty = problem["type"].as_str().unwrap();
    assert_eq!(ty, app.url("/problems/invalid_token"));
    let page = app.client.get(ty).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("invalid_token"));
    for (code, _) in tessera::problem::CATALOG {
        let r = app.get(&format!("/problems/{code}"), None).await;
        assert_eq!(r.status(), 200, "{code}");
    }
    let index = app.get("/problems", None).await.text().await.unwrap();
    assert!(index.contains("weak_password"));
    let r = app.get("/problems/no_such_thing", None).await;
    crate::helpers::assert_problem(r, reqwest::StatusCode::NOT_FOUND, "not_found").await;
}
