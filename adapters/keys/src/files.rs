//! The files key source: a directory of PEM private keys managed by the operator (for
//! example a mounted secret). `*.pem` files are published; the one whose name sorts last
//! signs, the others only verify; `*.pending.pem` files are published without signing
//! (pre-publication). Removing a file retires its key.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use tessera_domain::keys::{KeyState, SigningKeyRecord};

use crate::material::KeyMaterial;

/// Names, sizes and modification times of the PEM files: changes when the set changes.
pub(crate) async fn fingerprint(dir: PathBuf) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let mut parts = Vec::new();
        for (name, path) in pem_files(&dir)? {
            let meta = std::fs::metadata(&path)?;
            let modified = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            parts.push(format!("{name}:{}:{modified}", meta.len()));
        }
        Ok(parts.join("|"))
    })
    .await?
}

fn pem_files(dir: &std::path::Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut files: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("cannot read key directory {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(name, _)| name.ends_with(".pem"))
        .collect();
    files.sort();
    Ok(files)
}

/// Reads every key of the directory with its state.
pub(crate) async fn load(
    dir: PathBuf,
) -> anyhow::Result<(String, Vec<(SigningKeyRecord, KeyMaterial)>)> {
    let print = fingerprint(dir.clone()).await?;
    let keys = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let files = pem_files(&dir)?;
        let signer = files
            .iter()
            .rev()
            .find(|(name, _)| !name.ends_with(".pending.pem"))
            .map(|(name, _)| name.clone());
        let mut keys = Vec::new();
        for (seq, (name, path)) in files.iter().enumerate() {
            let text = std::fs::read(path)?;
            let material = parse_pem(&text).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
            let state = if name.ends_with(".pending.pem") {
                KeyState::Pending
            } else if Some(name) == signer.as_ref() {
                KeyState::Active
            } else {
                KeyState::Retiring
            };
            let modified: DateTime<Utc> = std::fs::metadata(path)?
                .modified()
                .map(DateTime::<Utc>::from)
                .unwrap_or_default();
            let record = SigningKeyRecord {
                kid: material.kid().to_owned(),
                seq: i64::try_from(seq).unwrap_or(i64::MAX),
                algorithm: "RS256".into(),
                state,
                public_jwk: serde_json::to_string(material.jwk())?,
                private_sealed: None,
                created_at: modified,
                activated_at: (state == KeyState::Active).then_some(modified),
                retiring_at: None,
                retired_at: None,
            };
            keys.push((record, material));
        }
        Ok(keys)
    })
    .await??;
    Ok((print, keys))
}

/// PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`) PEM.
fn parse_pem(text: &[u8]) -> anyhow::Result<KeyMaterial> {
    let block = pem::parse(text).map_err(|e| anyhow::anyhow!("not PEM: {e}"))?;
    match block.tag() {
        "PRIVATE KEY" => KeyMaterial::from_pkcs8(block.contents()),
        "RSA PRIVATE KEY" => KeyMaterial::from_pkcs1(block.contents()),
        other => anyhow::bail!("unsupported PEM block {other:?}; want an RSA private key"),
    }
}
