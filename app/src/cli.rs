//! The command line: `tessera [serve] | migrate | openapi [--yaml] | keys … | users … |
//! clients …`.

use std::io::BufRead as _;
use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tessera_domain::SystemClock;
use tessera_domain::auth::{AccountError, RegisterError};
use tessera_domain::email::Email;
use tessera_domain::oidc::{ClientSecret, GrantType, NewClient, OAuthClient};
use tessera_domain::session::ClientInfo;
use tessera_domain::user::{Password, PasswordHash, Role, Username};
use tessera_keys::{KeyError, KeyEvent};

use crate::config::Config;
use crate::edge::AppState;
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
    /// OAuth / OpenID Connect clients: the apps and services that sign in through Tessera.
    #[command(subcommand)]
    Clients(ClientsCommand),
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a client. A confidential one's secret is printed this once.
    Create {
        /// Shown to people on the consent page.
        #[arg(long)]
        name: String,
        /// An exact redirect URI (repeatable).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Where RP-initiated logout may send the browser afterwards (repeatable).
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// authorization_code, refresh_token, client_credentials, device_code (repeatable;
        /// default: authorization_code and refresh_token).
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// Space-separated scopes among "openid profile email".
        #[arg(long, default_value = "openid profile email")]
        scope: String,
        /// A browser or native app: no secret, PKCE only.
        #[arg(long)]
        public: bool,
        /// One of your own apps: no consent page, tokens for Tessera's API.
        #[arg(long)]
        first_party: bool,
        /// The resource (an absolute URI) a third-party app's tokens are for, beside UserInfo.
        #[arg(long)]
        audience: Option<String>,
        /// Where Tessera POSTs a logout token when a session of the client ends.
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
        /// The client needs `sid` in logout tokens (always sent).
        #[arg(long)]
        backchannel_logout_session_required: bool,
        /// Print the client as JSON (with `client_secret` when there is one).
        #[arg(long)]
        json: bool,
    },
    /// List the registered clients.
    List,
    /// Delete a client (its codes and consents go too).
    Delete { client_id: String },
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
        Command::Clients(cmd) => {
            let (state, store) = build_state(&config, Arc::new(SystemClock)).await?;
            let done = clients(state, cmd).await;
            store.close().await;
            done
        }
    }
}

fn client_json(c: &OAuthClient, secret: Option<&ClientSecret>) -> serde_json::Value {
    let mut v = serde_json::json!({
        "client_id": c.id,
        "name": c.name,
        "redirect_uris": c.redirect_uris,
        "post_logout_redirect_uris": c.post_logout_redirect_uris,
        "grant_types": c.grant_types.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "scopes": c.scopes.join(),
        "public": c.is_public(),
        "first_party": c.first_party,
        "audience": c.audience,
        "backchannel_logout_uri": c.backchannel_logout_uri,
        "backchannel_logout_session_required": c.backchannel_logout_session_required,
        "created_at": c.created_at,
    });
    if let (Some(map), Some(secret)) = (v.as_object_mut(), secret) {
        map.insert("client_secret".into(), secret.expose().into());
    }
    v
}

async fn clients(state: AppState, cmd: ClientsCommand) -> anyhow::Result<()> {
    match cmd {
        ClientsCommand::Create {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            grants,
            scope,
            public,
            first_party,
            audience,
            backchannel_logout_uri,
            backchannel_logout_session_required,
            json,
        } => {
            let grant_types = if grants.is_empty() {
                vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
            } else {
                grants
                    .iter()
                    .map(|g| {
                        GrantType::parse(g).ok_or_else(|| anyhow::anyhow!("unknown grant {g:?}"))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?
            };
            let new = NewClient {
                name,
                redirect_uris,
                post_logout_redirect_uris,
                grant_types,
                scopes: scope,
                public,
                first_party,
                audience,
                backchannel_logout_uri,
                backchannel_logout_session_required,
            };
            let (client, secret) = state
                .oidc
                .create_client(new, &cli_client())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if json {
                println!("{}", client_json(&client, secret.as_ref()));
            } else {
                println!("client_id     {}", client.id);
                match &secret {
                    Some(s) => println!("client_secret {} (shown once)", s.expose()),
                    None => println!("public client: no secret, PKCE required"),
                }
            }
        }
        ClientsCommand::List => {
            for c in state.oidc.clients().await? {
                println!("{}", client_json(&c, None));
            }
        }
        ClientsCommand::Delete { client_id } => state
            .oidc
            .delete_client(&client_id, &cli_client())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    }
    Ok(())
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
                .accounts
                .register(username, password, all, mailed, &cli)
                .await
            {
                Ok(user) => {
                    if let Some(email) = email.filter(|_| email_verified) {
                        state
                            .emails
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
            let report = import(&state.accounts, &file, &cli).await?;
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
            match state.accounts.disable_user_by_name(&name, &cli).await {
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
    auth: &tessera_domain::auth::Accounts,
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
