//! The key-encryption key that seals signing keys and derives the refresh-token MAC key:
//! from configuration, else from its file, else generated once into that file.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tessera_keys::Kek;

use crate::config::Config;

/// The key-encryption key: from configuration, else from its file, else generated once
/// into that file (mode 0600) with a warning.
///
/// # Errors
/// When the configured key is not base64 of 32 bytes, or the file cannot be read or
/// written.
pub fn load_kek(config: &Config) -> anyhow::Result<Kek> {
    if let Some(secret) = &config.keys.encryption_key {
        return decode_kek(secret.expose().trim())
            .map_err(|e| anyhow::anyhow!("keys.encryption_key: {e}"));
    }
    let path = &config.keys.encryption_key_file;
    if path.exists() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        return decode_kek(text.trim()).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
    }
    let kek = Kek::generate()?;
    write_secret_file(path, &STANDARD.encode(kek.as_bytes()))?;
    tracing::warn!(
        file = %path.display(),
        "no keys.encryption_key configured: generated one into this file. Back it up, or \
         set TESSERA_KEYS__ENCRYPTION_KEY; without it the stored signing keys cannot be opened"
    );
    Ok(kek)
}

fn decode_kek(b64: &str) -> anyhow::Result<Kek> {
    let bytes = STANDARD
        .decode(b64)
        .map_err(|_| anyhow::anyhow!("not base64"))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("must be 32 bytes (base64 of `openssl rand 32`)"))?;
    Ok(Kek::from_bytes(bytes))
}

fn write_secret_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    f.write_all(b"\n")?;
    Ok(())
}
