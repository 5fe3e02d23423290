//! Generates the client from the committed spec, `openapi/openapi.json`, on every build:
//! the client can never drift from the document that CI checks against the server.
//!
//! progenitor handles a subset of OpenAPI; the spec is correct as it stands, so two
//! adaptations happen here, on the way in, never in the generated code:
//! - responses typed `application/problem+json` (RFC 9457) are presented as
//!   `application/json`, the only media type progenitor decodes into a type — that is
//!   what makes every error a typed `Problem`;
//! - operations that accept several request media types (`revokeToken` and
//!   `introspectToken` take a form, as RFC 7009/7662 say, or JSON) keep the JSON one,
//!   since progenitor takes one body type per operation.

use std::path::Path;

use serde_json::Value;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let spec_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi.json");
    println!("cargo:rerun-if-changed={}", spec_path.display());

    let mut spec: Value = serde_json::from_slice(&std::fs::read(&spec_path)?)?;
    adapt(&mut spec);
    let spec: openapiv3::OpenAPI = serde_json::from_value(spec)?;

    let mut settings = progenitor::GenerationSettings::default();
    settings
        .with_interface(progenitor::InterfaceStyle::Positional)
        .with_tag(progenitor::TagStyle::Merged);
    let tokens = progenitor::Generator::new(&settings).generate_tokens(&spec)?;

    let out = Path::new(&std::env::var("OUT_DIR")?).join("tessera_api.rs");
    std::fs::write(out, tokens.to_string())?;
    Ok(())
}

fn adapt(spec: &mut Value) {
    let Some(paths) = spec.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for operation in paths.values_mut().filter_map(Value::as_object_mut) {
        for op in operation.values_mut() {
            if let Some(content) = op
                .pointer_mut("/requestBody/content")
                .and_then(Value::as_object_mut)
                && content.len() > 1
            {
                content.retain(|media, _| media.starts_with("application/json"));
            }
            let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
                continue;
            };
            for response in responses.values_mut() {
                if let Some(content) = response.get_mut("content").and_then(Value::as_object_mut)
                    && let Some(problem) = content.remove("application/problem+json")
                {
                    content.insert("application/json".into(), problem);
                }
            }
        }
    }
}
