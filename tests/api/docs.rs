//! The README keeps up with the code: its configuration reference lists every key the
//! config structs accept, with the real defaults, and the verifier code it quotes is
//! the code CI runs.

use std::collections::BTreeMap;

use serde_json::Value;

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

/// `section.key` → the default as the README writes it (`–` for unset).
fn defaults() -> BTreeMap<String, String> {
    let config = serde_json::to_value(tessera::Config::default()).unwrap();
    let mut keys = BTreeMap::new();
    for (section, fields) in config.as_object().unwrap() {
        for (key, value) in fields.as_object().unwrap() {
            let shown = match value {
                Value::Null => "–".to_owned(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            keys.insert(format!("{section}.{key}"), shown);
        }
    }
    keys
}

/// The rows of the README's configuration table: `| `key` | `default` | meaning |`.
fn documented() -> BTreeMap<String, String> {
    let readme = read("README.md");
    let section = readme
        .split("\n## Configuration reference\n")
        .nth(1)
        .expect("README has a '## Configuration reference' section");
    let section = section.split("\n## ").next().unwrap();
    let mut rows = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line
            .split(" | ")
            .map(|c| c.trim_matches(['|', ' ']))
            .collect();
        let key = cells[0].trim_matches('`').to_owned();
        let default = cells[1].trim_matches('`').to_owned();
        assert!(
            rows.insert(key.clone(), default).is_none(),
            "{key} documented twice"
        );
    }
    rows
}

#[test]
fn the_configuration_reference_lists_every_key_with_its_default() {
    let code = defaults();
    let readme = documented();
    let missing: Vec<_> = code.keys().filter(|k| !readme.contains_key(*k)).collect();
    let unknown: Vec<_> = readme.keys().filter(|k| !code.contains_key(*k)).collect();
    assert!(missing.is_empty(), "README lacks config keys {missing:?}");
    assert!(
        unknown.is_empty(),
        "README documents keys the code lacks {unknown:?}"
    );
    for (key, default) in &code {
        assert_eq!(&readme[key], default, "README's default for {key}");
    }
}

#[test]
fn the_readme_quotes_the_verifier_examples_ci_runs() {
    let readme = read("README.md");
    for (file, region) in [
        ("examples/python-verifier/verify_token.py", "verifier"),
        ("examples/node-verifier/verify-token.mjs", "verifier"),
        ("examples/rust-verifier/src/lib.rs", "verifier"),
        // The openid-client snippet the OpenID provider's browser test runs.
        ("tests/browser/sign-in-with-tessera.mjs", "oidc"),
    ] {
        let source = read(file);
        let region = source
            .split(&format!("--8<-- [start:{region}]\n"))
            .nth(1)
            .and_then(|rest| rest.split(&format!("--8<-- [end:{region}]")).next())
            .unwrap_or_else(|| panic!("{file} marks no verifier region"));
        // Drop the end marker's comment leader (`# `, `// `) left on the last line.
        let quoted = region.rsplit_once('\n').map_or(region, |(body, _)| body);
        assert!(
            readme.contains(quoted),
            "README does not quote {file} as it is:\n{quoted}"
        );
    }
}
