//! The command line: `tessera [serve] | migrate | openapi [--yaml]`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::startup::{Application, connect_store};

#[derive(Debug, Parser)]
#[command(name = "tessera", version, about = "Token authentication service")]
pub struct Cli {
    /// Configuration file (default: ./tessera.toml when it exists).
    #[arg(long, global = true, env = "TESSERA_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the OpenAPI document (JSON, or YAML with --yaml); needs no database.
    Openapi {
        #[arg(long)]
        yaml: bool,
    },
}

/// Runs the command line.
///
/// # Errors
/// Whatever the chosen command fails with.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Openapi { yaml } => {
            let service = crate::api::service("http://127.0.0.1:8080");
            let text = if yaml {
                service.spec_yaml()
            } else {
                service.spec()
            };
            println!("{text}");
            Ok(())
        }
        Command::Migrate => {
            let config = Config::load(cli.config.as_deref())?;
            crate::telemetry::init(&config.log);
            let store = connect_store(&config).await?;
            store.migrate().await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Serve => {
            let config = Config::load(cli.config.as_deref())?;
            crate::telemetry::init(&config.log);
            let app = Application::build(config).await?;
            app.run_until_stopped().await
        }
    }
}
