//! The command line: `tessera [serve] | migrate | openapi [--yaml] | keys … | users …`.

use std::io::BufRead as _;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tessera_domain::SystemClock;
use tessera_domain::auth::{AccountError, RegisterError};
use tessera_domain::email::Email;
use tessera_domain::session::ClientInfo;
use tessera_domain::user::{Password, PasswordHash, Role, Username};
use tessera_keys::{KeyError, KeyEvent};

use crate::api::AppState;
use crate::config::Config;
use crate::startup::{Application, build_state, connect_store};

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
    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// User accounts.
    #[command(subcommand)]
    Users(UsersCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List every key and its lifecycle state.
    List,
    /// Start a rotation: a new key is published now and signs after keys.prepublish.
    Rotate {
        /// Emergency: the new key signs at once.
        #[arg(long)]
        now: bool,
    },
    /// Take a compromised key out of service at once.
    Revoke { kid: String },
}

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user; the password is read from the first line of standard input.
    Create {
        username: String,
        /// Give the user the admin role.
        #[arg(long)]
        admin: bool,
        /// Extra roles (repeatable).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// The user's email address; a verification link is mailed to it (through the
        /// outbox: a running server sends it).
        #[arg(long)]
        email: Option<String>,
        /// The address is known to be the user's: mark it verified, mail nothing.
        #[arg(long, requires = "email")]
        email_verified: bool,
    },
    /// Disable a user: no more logins, and every token of theirs stops working.
    Disable { username: String },
    /// Import users from JSON lines `{"username": …, "password_hash": "$2b$…"}` (bcrypt,
    /// as bcryptjs writes it; `password` is accepted for `password_hash` and other fields
    /// are ignored, so a `mongoexport` of the tutorial's users works as it is). They log
    /// in with their old passwords and are upgraded to argon2id on that login. Existing
    /// usernames are skipped, so re-running is safe.
    Import { file: PathBuf },
}

/// Runs the command line.
///
/// # Errors
/// Whatever the chosen command fails with.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi { yaml } = command {
        let document = crate::spec::document(&crate::spec::SpecSettings::default());
        let text = if yaml {
            serde_yaml::to_string(&document)?
        } else {
            serde_json::to_string_pretty(&document)?
        };
        println!("{text}");
        return Ok(());
    }
    let config = Config::load(cli.config.as_deref())?;
    // The server logs to stdout; one-shot commands keep stdout for their answer.
    crate::telemetry::init(&config.log, !matches!(command, Command::Serve));
    match command {
        Command::Openapi { .. } => Ok(()),
        Command::Migrate => {
            connect_store(&config).await?.migrate().await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::Serve => Application::build(config).await?.run_until_stopped().await,
        Command::Keys(cmd) => {
            let (state, store) = build_state(&config, Arc::new(SystemClock)).await?;
            let done = keys(state, cmd).await;
            store.close().await;
            done
        }
        Command::Users(cmd) => {
            let (state, store) = build_state(&config, Arc::new(SystemClock)).await?;
            let done = users(state, cmd).await;
            store.close().await;
            done
        }
    }
}

/// Who a command-line operation is audited as.
fn cli_client() -> ClientInfo {
    ClientInfo {
        ip: None,
        user_agent: Some("tessera-cli".into()),
    }
}

async fn keys(state: AppState, cmd: KeysCommand) -> anyhow::Result<()> {
    let cli = cli_client();
    let events = match cmd {
        KeysCommand::List => Vec::new(),
        KeysCommand::Rotate { now: immediate } => state
            .keys_admin
            .rotate(immediate, &cli)
            .await
            .map_err(explain)?,
        KeysCommand::Revoke { kid } => {
            state.keys_admin.revoke(&kid, &cli).await.map_err(explain)?
        }
    };
    for e in &events {
        match e {
            KeyEvent::Generated { kid, state } => println!("generated {kid} ({})", state.as_str()),
            KeyEvent::Promoted { kid, .. } => println!("{kid} now signs"),
            KeyEvent::Retired { kid } => println!("retired {kid}; private part destroyed"),
        }
    }
    println!(
        "{:<44} {:<9} {:<20} {:<20} {:<20}",
        "KID", "STATE", "CREATED", "ACTIVATED", "RETIRING/RETIRED"
    );
    for r in state.keys_admin.records() {
        let fmt = |t: Option<chrono::DateTime<chrono::Utc>>| {
            t.map_or_else(|| "-".to_owned(), |t| t.to_rfc3339())
        };
        println!(
            "{:<44} {:<9} {:<20} {:<20} {:<20}",
            r.kid,
            r.state.as_str(),
            fmt(Some(r.created_at)),
            fmt(r.activated_at),
            fmt(r.retired_at.or(r.retiring_at)),
        );
    }
    Ok(())
}

fn explain(e: KeyError) -> anyhow::Error {
    match e {
        KeyError::ExternallyManaged => anyhow::anyhow!(
            "keys come from files (keys.source = \"files\"): rotation belongs to the operator; \
             add a new PEM file (as NAME.pending.pem to pre-publish it) and remove old ones"
        ),
        other => anyhow::anyhow!("{other}"),
    }
}

async fn users(state: AppState, cmd: UsersCommand) -> anyhow::Result<()> {
    let cli = cli_client();
    match cmd {
        UsersCommand::Create {
            username,
            admin,
            roles,
            email,
            email_verified,
        } => {
            let username =
                Username::parse(&username).map_err(|e| anyhow::anyhow!("username: {e}"))?;
            let email = email
                .as_deref()
                .map(Email::parse)
                .transpose()
                .map_err(|e| anyhow::anyhow!("email: {e}"))?;
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            let password = Password::parse(
                line.trim_end_matches(['\r', '\n']),
                &username,
                &state.password_policy,
            )
            .map_err(|e| anyhow::anyhow!("password: {e}"))?;
            let mut all: Vec<Role> = roles
                .iter()
                .map(|r| Role::parse(r).ok_or_else(|| anyhow::anyhow!("invalid role {r:?}")))
                .collect::<anyhow::Result<_>>()?;
            if admin {
                all.push(Role::admin());
            }
            let mailed = email.clone().filter(|_| !email_verified);
            match state
                .auth
                .register(username, password, all, mailed, &cli)
                .await
            {
                Ok(user) => {
                    if let Some(email) = email.filter(|_| email_verified) {
                        state
                            .auth
                            .mark_email_verified(user.id, Some(email), &cli)
                            .await
                            .map_err(|e| anyhow::anyhow!("email: {e}"))?;
                    }
                    println!("created {} ({})", user.username, user.id);
                }
                Err(RegisterError::UsernameTaken) => anyhow::bail!("that username is taken"),
                Err(e) => anyhow::bail!("{e}"),
            }
        }
        UsersCommand::Import { file } => {
            let report = import(&state.auth, &file, &cli).await?;
            println!(
                "imported {}, skipped {} existing, rejected {}",
                report.imported,
                report.existing,
                report.rejected.len()
            );
            for (line, why) in &report.rejected {
                println!("  line {line}: {why}");
            }
        }
        UsersCommand::Disable { username } => {
            let name = Username::parse(&username).map_err(|e| anyhow::anyhow!("username: {e}"))?;
            match state.auth.disable_user_by_name(&name, &cli).await {
                Ok(user) => println!("disabled {} ({})", user.username, user.id),
                Err(AccountError::AccountGone) => anyhow::bail!("no user named {username}"),
                Err(e) => anyhow::bail!("{e}"),
            }
        }
    }
    Ok(())
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub imported: usize,
    pub existing: usize,
    /// Line number and reason.
    pub rejected: Vec<(usize, String)>,
}

/// One exported user. Other fields (`_id`, `email`, `__v` of a `mongoexport`) are
/// ignored, and the tutorial's field name `password` is read as the hash it holds.
#[derive(serde::Deserialize)]
struct ImportLine {
    username: String,
    #[serde(alias = "password")]
    password_hash: String,
}

/// The highest bcrypt cost an import accepts.
pub const MAX_IMPORTED_BCRYPT_COST: u32 = 14;

/// Imports bcrypt users from a JSON-lines file.
///
/// # Errors
/// When the file cannot be read or the store fails; bad lines are reported, not fatal.
pub async fn import(
    auth: &tessera_domain::auth::AuthService,
    file: &std::path::Path,
    client: &ClientInfo,
) -> anyhow::Result<ImportReport> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let mut report = ImportReport::default();
    for (n, line) in text.lines().enumerate() {
        let line_no = n + 1;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: ImportLine = match serde_json::from_str(line) {
            Ok(p) => p,
            Err(e) => {
                report.rejected.push((
                    line_no,
                    format!("not a {{username, password_hash}} object: {e}"),
                ));
                continue;
            }
        };
        let username = match Username::parse(&parsed.username) {
            Ok(u) => u,
            Err(e) => {
                report.rejected.push((line_no, format!("username: {e}")));
                continue;
            }
        };
        let parts = tessera_domain::password::is_bcrypt(&parsed.password_hash)
            .then(|| parsed.password_hash.parse::<bcrypt::HashParts>().ok())
            .flatten();
        let Some(parts) = parts else {
            report.rejected.push((
                line_no,
                "password_hash is not a bcrypt hash ($2a$/$2b$/$2y$)".into(),
            ));
            continue;
        };
        // Each login verifies at the stored cost: a cost-31 hash would hold a hashing
        // thread for days per attempt. bcryptjs defaults to 10; 14 is ~1 s.
        if parts.get_cost() > MAX_IMPORTED_BCRYPT_COST {
            report.rejected.push((
                line_no,
                format!(
                    "bcrypt cost {} is above {MAX_IMPORTED_BCRYPT_COST}: each login would take too long",
                    parts.get_cost()
                ),
            ));
            continue;
        }
        match auth
            .import_user(username, PasswordHash::new(parsed.password_hash), client)
            .await
        {
            Ok(_) => report.imported += 1,
            Err(RegisterError::UsernameTaken) => report.existing += 1,
            Err(e) => return Err(anyhow::anyhow!("line {line_no}: {e}")),
        }
    }
    Ok(report)
}
