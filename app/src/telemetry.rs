//! Logging: tracing-subscriber, JSON when stdout is not a terminal (or when configured),
//! human-readable otherwise; the filter comes from `RUST_LOG` or `log.level`.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber once; later calls are no-ops.
pub fn init(config: &LogConfig, to_stderr: bool) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = match config.format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match (json, to_stderr) {
        (true, false) => builder.json().try_init(),
        (true, true) => builder.json().with_writer(std::io::stderr).try_init(),
        (false, false) => builder.try_init(),
        (false, true) => builder.with_writer(std::io::stderr).try_init(),
    };
}
