//! The `tessera` binary: parses the command line and hands over to the library.

use clap::Parser as _;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match tessera::cli::run(tessera::cli::Cli::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tessera: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
