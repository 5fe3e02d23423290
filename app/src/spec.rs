//! The OpenAPI document as it is served (`/openapi.json`, `/openapi.yaml`, Swagger UI)
//! and committed (`tessera openapi`): what poem-openapi generates from the handlers,
//! finished in this one place with what its attributes cannot say — the order of the
//! tags, the registration rules of the running configuration, and an example problem
//! per error status. `tests/api/spec.rs` pins each step.

use serde_json::{Value, json};
use tessera_domain::user::{PasswordPolicy, Username};

use crate::problem::{describe, type_uri};

/// What the finished document depends on: the running configuration.
#[derive(Debug, Clone)]
pub struct SpecSettings {
    /// `servers[0].url`, and the base of every problem `type`.
    pub public_url: String,
    pub passwords: PasswordPolicy,
}

impl Default for SpecSettings {
    /// The committed document: the default configuration.
    fn default() -> Self {
        Self {
            public_url: "http://127.0.0.1:8080".into(),
            passwords: PasswordPolicy::default(),
        }
    }
}

/// The finished document in the forms the server serves, built on first use: a server
/// nobody asks for its spec does not hold it (it and the Swagger UI page were most of the
/// idle heap).
pub struct Documents {
    settings: SpecSettings,
    built: std::sync::OnceLock<Built>,
}

struct Built {
    json: String,
    yaml: String,
    allowed: AllowedMethods,
}

impl Documents {
    pub fn new(settings: SpecSettings) -> Self {
        Self {
            settings,
            built: std::sync::OnceLock::new(),
        }
    }

    fn built(&self) -> &Built {
        self.built.get_or_init(|| {
            let doc = document(&self.settings);
            Built {
                json: serde_json::to_string_pretty(&doc).unwrap_or_default(),
                yaml: serde_yaml::to_string(&doc).unwrap_or_default(),
                allowed: AllowedMethods::from_document(&doc),
            }
        })
    }

    /// `/openapi.json`.
    pub fn json(&self) -> &str {
        &self.built().json
    }

    /// `/openapi.yaml`.
    pub fn yaml(&self) -> &str {
        &self.built().yaml
    }

    /// What each path accepts, for `Allow`.
    pub fn allowed(&self) -> &AllowedMethods {
        &self.built().allowed
    }

    /// Swagger UI as poem-openapi renders it, embedding the finished document instead of
    /// its own, with one addition: the page's copy offers signing in through Tessera
    /// itself ([`with_sign_in`]).
    pub fn swagger_ui_html(&self) -> String {
        let mut doc = document(&self.settings);
        with_sign_in(&mut doc, &self.settings.public_url);
        let json = serde_json::to_string_pretty(&doc).unwrap_or_default();
        crate::api::service(&self.settings.public_url)
            .swagger_ui_html()
            .replacen(&raw(&self.settings), &json, 1)
    }
}

/// The name of the sign-in scheme in the Swagger UI page's copy of the document.
pub const SIGN_IN_SCHEME: &str = "tesseraSignIn";

/// Adds an OAuth 2.0 authorization-code scheme (Tessera's own provider, with the
/// built-in `/docs` client and PKCE) as an alternative to `bearerAuth` on every
/// operation that takes a token, so Swagger UI's Authorize dialog can sign an explorer
/// in on the hosted page. Only the docs page's copy has it: SDK generators read
/// `/openapi.json`, where a bearer token is the one way in.
pub fn with_sign_in(doc: &mut Value, public_url: &str) {
    let base = public_url.trim_end_matches('/');
    let scheme = serde_json::json!({
        "type": "oauth2",
        "description": "Sign in on Tessera's hosted page (authorization code with PKCE, the built-in docs client): the access token it gives is sent as a Bearer token.",
        "flows": {"authorizationCode": {
            "authorizationUrl": format!("{base}/oauth2/authorize"),
            "tokenUrl": format!("{base}/oauth2/token"),
            "scopes": {
                "openid": "your account's id",
                "profile": "your username",
                "email": "your email address",
            },
        }},
    });
    if let Some(schemes) = doc
        .pointer_mut("/components/securitySchemes")
        .and_then(Value::as_object_mut)
    {
        schemes.insert(SIGN_IN_SCHEME.into(), scheme);
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for op in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
    {
        let Some(security) = op.get_mut("security").and_then(Value::as_array_mut) else {
            continue;
        };
        if security.iter().any(|r| r.get("bearerAuth").is_some()) {
            security.push(serde_json::json!({ SIGN_IN_SCHEME: ["openid"] }));
        }
    }
}

/// The document for these settings.
pub fn document(settings: &SpecSettings) -> Value {
    finish(raw(settings), settings)
}

/// poem-openapi's document, as its Swagger UI page embeds it.
pub fn raw(settings: &SpecSettings) -> String {
    crate::api::service(&settings.public_url).spec()
}

fn finish(raw: String, settings: &SpecSettings) -> Value {
    let mut doc: Value = serde_json::from_str(&raw).unwrap_or(Value::Null);
    order_tags(&mut doc);
    request_field_rules(&mut doc, &settings.passwords);
    optional_request_fields_accept_null(&mut doc);
    problem_examples(&mut doc, &settings.public_url);
    doc
}

/// The order a newcomer reads in (poem-openapi sorts tags by name, which put "Account"
/// before "Auth"): register and log in first.
const TAG_ORDER: [&str; 6] = ["Auth", "Account", "OAuth", "Keys", "Admin", "Health"];

fn order_tags(doc: &mut Value) {
    if let Some(tags) = doc.get_mut("tags").and_then(Value::as_array_mut) {
        let rank = |t: &Value| {
            let name = t.get("name").and_then(Value::as_str).unwrap_or_default();
            TAG_ORDER
                .iter()
                .position(|n| *n == name)
                .unwrap_or(TAG_ORDER.len())
        };
        tags.sort_by_key(rank);
    }
}

/// Usernames, new passwords, addresses and mailed tokens are checked by the domain (after
/// NFKC, so a few compatibility forms count differently) and refused with their own codes,
/// not by the framework's validators (which would answer 400 `invalid_request`): the
/// schema states the same rules for clients and documentation, with the password lengths
/// of the running configuration.
fn request_field_rules(doc: &mut Value, passwords: &PasswordPolicy) {
    let password = json!({
        "minLength": passwords.min_chars,
        "maxLength": passwords.max_chars,
    });
    // No `pattern` for the characters: the rule is Unicode letters and digits, which no
    // dialect generators share can say (ECMAScript's `\w` is ASCII-only, so a generated
    // validator would refuse `álice`; Python's `re` has no `\p{L}`). The description
    // states it; the server answers 422 `invalid_username`.
    let username = json!({
        "minLength": Username::MIN_CHARS,
        "maxLength": Username::MAX_CHARS,
    });
    // Mailed tokens are 256 bits in base64url; anything else is refused as
    // `invalid_email_token` (400), the same answer as a token that is not live. Addresses
    // are bounded by RFC 5321; their shape is the server's to judge (422 `invalid_email`:
    // JSON Schema's `format: email` would refuse internationalised domains).
    let token = json!({
        "minLength": 43,
        "maxLength": 43,
        "pattern": "^[A-Za-z0-9_-]{43}$",
    });
    let email = json!({ "maxLength": tessera_domain::email::Email::MAX_CHARS });
    // Authenticator apps show 6 digits. Whether they are the right ones is the server's
    // state: 400/401 `invalid_code`, like a dead token.
    let code = json!({ "minLength": 6, "maxLength": 6, "pattern": "^[0-9]{6}$" });
    // Recovery codes are 12 characters; people type spaces and hyphens between groups.
    let recovery_code = json!({ "minLength": 12, "maxLength": 64 });
    // Trimmed, without control characters: the server's to judge (422 `invalid_name`).
    let passkey_name = json!({ "minLength": 1, "maxLength": 64 });
    for (schema, field, rules) in [
        ("Registration", "password", &password),
        ("Registration", "username", &username),
        ("Registration", "email", &email),
        ("PasswordChange", "new_password", &password),
        ("PasswordResetConfirm", "new_password", &password),
        ("PasswordResetConfirm", "token", &token),
        ("EmailTokenRequest", "token", &token),
        ("EmailChange", "email", &email),
        ("PasswordResetRequest", "email", &email),
        ("SecondStep", "mfa_token", &token),
        ("SecondStep", "code", &code),
        ("SecondStep", "recovery_code", &recovery_code),
        ("MfaTokenBody", "mfa_token", &token),
        ("PasskeySignIn", "challenge_id", &token),
        ("CodeBody", "code", &code),
        ("Reauth", "code", &code),
        ("StepUp", "code", &code),
        ("StepUp", "recovery_code", &recovery_code),
        ("StepUp", "challenge_id", &token),
        ("NewPasskeyBody", "name", &passkey_name),
        ("PasskeyRename", "name", &passkey_name),
    ] {
        // `pointer_mut`, not indexing: indexing a JSON value inserts what is missing.
        let target = doc
            .pointer_mut(&format!("/components/schemas/{schema}/properties/{field}"))
            .and_then(Value::as_object_mut);
        if let (Some(target), Some(rules)) = (target, rules.as_object()) {
            for (k, v) in rules {
                target.insert(k.clone(), v.clone());
            }
        }
    }
}

/// An optional field of a JSON request body may be absent or `null`: the server reads both as
/// "not given" (poem-openapi's `Option`), so the schema says `nullable` — else a client
/// sending `null` would be told it broke a rule the server does not have.
fn optional_request_fields_accept_null(doc: &mut Value) {
    let mut request_schemas: Vec<String> = Vec::new();
    for item in doc["paths"].as_object().into_iter().flatten() {
        for op in item.1.as_object().into_iter().flatten() {
            let bodies =
                op.1.pointer("/requestBody/content")
                    .and_then(Value::as_object);
            // JSON only: a form has no `null`, and "null" is no value of an enum.
            let json = bodies
                .into_iter()
                .flatten()
                .filter(|(media, _)| media.starts_with("application/json"));
            for body in json {
                if let Some(name) = body.1.pointer("/schema/$ref").and_then(Value::as_str) {
                    request_schemas.push(name.trim_start_matches("#/components/schemas/").into());
                }
            }
        }
    }
    for name in request_schemas {
        let Some(schema) = doc
            .pointer_mut(&format!("/components/schemas/{name}"))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        let required: Vec<String> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
            continue;
        };
        for (field, property) in properties.iter_mut() {
            if required.contains(field) {
                continue;
            }
            if let Some(reference) = property.get("$ref").cloned() {
                // OpenAPI 3.0 ignores siblings of `$ref`: wrap it to add `nullable`.
                *property = json!({ "allOf": [{ "$ref": reference }], "nullable": true });
            } else if let Some(p) = property.as_object_mut() {
                p.insert("nullable".into(), Value::Bool(true));
            }
        }
    }
}

/// Each problem response gets an example of its own status, with the first code its
/// description names (descriptions say "… (`code`, `other_code`)"), so Swagger UI and
/// generated docs never show a 401 body under a 409.
fn problem_examples(doc: &mut Value, public_url: &str) {
    // The schema's own example was made outside a request: its type is relative.
    if let Some(ty) = doc
        .pointer_mut("/components/schemas/Problem/example/type")
        .filter(|t| t.as_str().is_some_and(|t| t.starts_with('/')))
    {
        *ty = json!(format!("{public_url}{}", ty.as_str().unwrap_or_default()));
    }
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for operation in paths.values_mut().filter_map(Value::as_object_mut) {
        for op in operation.values_mut() {
            let id = op
                .get("operationId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                continue;
            };
            for (status, response) in responses.iter_mut() {
                let shared = SHARED_RESPONSE_CODES
                    .iter()
                    .find(|(op, st, _)| *op == id && st == status)
                    .map(|(_, _, code)| (*code).to_owned());
                let code = shared.or_else(|| {
                    response
                        .get("description")
                        .and_then(Value::as_str)
                        .and_then(first_code)
                });
                let media = response
                    .pointer_mut("/content/application~1problem+json")
                    .and_then(Value::as_object_mut);
                let (Some(media), Some(code)) = (media, code) else {
                    continue;
                };
                let status: u16 = status.parse().unwrap_or(500);
                let title = poem::http::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("Error");
                let relative = type_uri(&code);
                media.insert(
                    "example".into(),
                    json!({
                        "type": format!("{public_url}{relative}"),
                        "title": title,
                        "status": status,
                        "detail": describe(&code).unwrap_or(title),
                        "code": code,
                    }),
                );
            }
        }
    }
}

/// Operations that share a response type whose description names several codes: the
/// code this operation answers (login and refresh share `TokenResponse`).
const SHARED_RESPONSE_CODES: [(&str, &str, &str); 1] = [("refresh", "401", "invalid_grant")];

/// The first problem code (a `` `word` `` of the catalog) a response description names.
fn first_code(description: &str) -> Option<String> {
    description
        .split('`')
        .skip(1)
        .step_by(2)
        .find(|w| describe(w).is_some())
        .map(str::to_owned)
}

/// The methods each path of the document accepts, for the `Allow` header of a 405
/// (RFC 9110 §15.5.6).
#[derive(Debug, Clone, Default)]
pub struct AllowedMethods(Vec<(Vec<String>, String)>);

impl AllowedMethods {
    pub fn from_document(doc: &Value) -> Self {
        let mut table = Vec::new();
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            let segments = path.split('/').map(str::to_owned).collect();
            let methods: Vec<String> = item
                .as_object()
                .into_iter()
                .flatten()
                .map(|(m, _)| m.to_ascii_uppercase())
                .collect();
            table.push((segments, methods.join(", ")));
        }
        Self(table)
    }

    /// The `Allow` value for a request path, matching `{param}` segments to anything.
    pub fn for_path(&self, path: &str) -> Option<&str> {
        let wanted: Vec<&str> = path.split('/').collect();
        self.0
            .iter()
            .filter(|(segments, _)| segments.len() == wanted.len())
            .find(|(segments, _)| {
                segments
                    .iter()
                    .zip(&wanted)
                    .all(|(s, w)| s == w || (s.starts_with('{') && !w.is_empty()))
            })
            .map(|(_, methods)| methods.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_read_from_descriptions() {
        assert_eq!(
            first_code("Missing or revoked token (`invalid_token`, `token_revoked`)."),
            Some("invalid_token".into())
        );
        assert_eq!(
            first_code("Uses `Retry-After` (`rate_limited`)"),
            Some("rate_limited".into())
        );
        assert_eq!(first_code("no code"), None);
        assert_eq!(
            first_code("No key has this `kid` (`key_not_found`)"),
            Some("key_not_found".into())
        );
    }

    #[test]
    fn allowed_methods_match_templates() {
        let doc = json!({"paths": {
            "/v1/me/sessions/{id}": {"delete": {}},
            "/v1/me/sessions": {"get": {}},
            "/v1/auth/login": {"post": {}},
        }});
        let allow = AllowedMethods::from_document(&doc);
        assert_eq!(allow.for_path("/v1/me/sessions/abc"), Some("DELETE"));
        assert_eq!(allow.for_path("/v1/me/sessions"), Some("GET"));
        assert_eq!(allow.for_path("/v1/me/sessions/"), None);
        assert_eq!(allow.for_path("/nope"), None);
    }
}
