//! Tessera's SQL adapter: one sea-orm implementation of the user, session, revocation and
//! signing-key ports that runs unchanged on SQLite, PostgreSQL and MySQL/MariaDB — the
//! dialect is chosen by the URL alone.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod audit;
mod device;
mod entities;
mod factors;
mod keys;
mod mail;
mod oidc;
mod revocations;
mod sessions;
mod users;

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, EntityTrait, QueryFilter,
    Select, UpdateMany, sea_query::IntoCondition,
};
use sea_orm_migration::MigratorTrait as _;
use tessera_domain::ports::StoreError;
use tessera_migrations::Migrator;

/// Pool settings from configuration.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_connections: u32,
    pub connect_timeout: Duration,
    pub acquire_timeout: Duration,
}

/// The store: a pooled connection to one database, implementing every SQL-backed port.
#[derive(Clone, Debug)]
pub struct SqlStore {
    db: DatabaseConnection,
}

impl SqlStore {
    /// Connects to `url` (`sqlite://…`, `postgres://…`, `mysql://…`). For SQLite the file
    /// and its folder are created when missing, in WAL mode.
    ///
    /// # Errors
    /// When the folder cannot be created or the database cannot be reached.
    pub async fn connect(url: &str, pool: &PoolOptions) -> anyhow::Result<Self> {
        let is_sqlite = url.starts_with("sqlite:");
        if is_sqlite {
            create_sqlite_folder(url)?;
        }
        let mut opts = ConnectOptions::new(url.to_owned());
        opts.max_connections(pool.max_connections)
            .connect_timeout(pool.connect_timeout)
            .acquire_timeout(pool.acquire_timeout)
            .sqlx_logging(false)
            .map_sqlx_sqlite_opts(|o| {
                o.create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
        let db = Database::connect(opts).await?;
        Ok(Self { db })
    }

    /// Calls `observe(elapsed, failed)` after every statement (for latency metrics and
    /// spans). Set it before cloning the store: clones made earlier do not see it.
    pub fn observe_statements(&mut self, observe: impl Fn(Duration, bool) + Send + Sync + 'static) {
        self.db
            .set_metric_callback(move |info| observe(info.elapsed, info.failed));
    }

    /// Applies every pending migration.
    ///
    /// # Errors
    /// When a migration fails; the database is left at the last applied one.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        Migrator::up(&self.db, None).await?;
        Ok(())
    }

    /// Whether the database answers a trivial query.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when it does not.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.map_err(unavailable)
    }

    /// Closes the pool.
    pub async fn close(self) {
        let _ = self.db.close().await;
    }

    fn conn(&self) -> &impl ConnectionTrait {
        &self.db
    }
}

/// `sqlite://./data/tessera.db?mode=rwc` → create `./data`.
fn create_sqlite_folder(url: &str) -> anyhow::Result<()> {
    let path = url
        .trim_start_matches("sqlite:")
        .trim_start_matches("//")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    if let Some(parent) = Path::new(path)
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", parent.display()))?;
    }
    Ok(())
}

fn unavailable(e: DbErr) -> StoreError {
    StoreError::Unavailable(e.into())
}

fn is_unique_violation(e: &DbErr) -> bool {
    matches!(
        e.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn instant(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// `s` cut to its first `max_chars` characters (never inside a character), to fit a
/// `VARCHAR(max_chars)` column on every dialect.
fn clip(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!("corrupt {what} row"))
}

/// An insert's outcome: a unique key already taken is [`StoreError::Conflict`].
fn conflict_or_unavailable<T>(res: Result<T, DbErr>) -> Result<(), StoreError> {
    match res {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict),
        Err(e) => Err(unavailable(e)),
    }
}

/// The row `select` finds, if any, read by `read`.
async fn one<E: EntityTrait, T>(
    conn: &impl ConnectionTrait,
    select: Select<E>,
    read: impl FnOnce(E::Model) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    select
        .one(conn)
        .await
        .map_err(unavailable)?
        .map(read)
        .transpose()
}

/// Every row `select` finds, each read by `read`.
async fn all<E: EntityTrait, T>(
    conn: &impl ConnectionTrait,
    select: Select<E>,
    read: impl FnMut(E::Model) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let rows = select.all(conn).await.map_err(unavailable)?;
    rows.into_iter().map(read).collect()
}

/// How many rows `update` changed.
async fn updated<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    update: UpdateMany<E>,
) -> Result<u64, StoreError> {
    Ok(update.exec(conn).await.map_err(unavailable)?.rows_affected)
}

/// How many rows of `E` matching `condition` a DELETE removed.
async fn delete_where<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    condition: impl IntoCondition,
) -> Result<u64, StoreError> {
    let delete = E::delete_many().filter(condition);
    Ok(delete.exec(conn).await.map_err(unavailable)?.rows_affected)
}

/// Creating and dropping whole databases on a PostgreSQL or MySQL/MariaDB server: for
/// test suites that give each test its own database, and for operators bootstrapping one.
pub mod provision {
    use sea_orm::{ConnectionTrait, Database};

    /// `postgres://u@h:5432/test?x=y` with `name` → `postgres://u@h:5432/name?x=y`.
    ///
    /// # Errors
    /// When the URL has no database path.
    pub fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
        let (base, query) = url
            .split_once('?')
            .map_or((url, None), |(b, q)| (b, Some(q)));
        let (server, _) = base
            .rsplit_once('/')
            .filter(|(server, _)| server.contains("://") && !server.ends_with('/'))
            .ok_or_else(|| anyhow::anyhow!("the URL names no database"))?;
        Ok(match query {
            Some(q) => format!("{server}/{name}?{q}"),
            None => format!("{server}/{name}"),
        })
    }

    fn check_name(name: &str) -> anyhow::Result<()> {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            anyhow::bail!("database names here are [a-z0-9_]+");
        }
        Ok(())
    }

    /// Creates database `name` on the server `url` points at; returns its URL.
    ///
    /// # Errors
    /// When the server refuses.
    pub async fn create_database(url: &str, name: &str) -> anyhow::Result<String> {
        check_name(name)?;
        let db = Database::connect(url).await?;
        db.execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await?;
        db.close().await?;
        with_database(url, name)
    }

    /// Drops database `name` (closing other sessions on PostgreSQL).
    ///
    /// # Errors
    /// When the server refuses.
    pub async fn drop_database(url: &str, name: &str) -> anyhow::Result<()> {
        check_name(name)?;
        let db = Database::connect(url).await?;
        let sql = if url.starts_with("postgres") {
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        } else {
            format!("DROP DATABASE IF EXISTS {name}")
        };
        db.execute_unprepared(&sql).await?;
        db.close().await?;
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn urls_get_the_new_database() {
            assert_eq!(
                super::with_database("postgres://p@127.0.0.1:5432/test", "t1").unwrap(),
                "postgres://p@127.0.0.1:5432/t1"
            );
            assert_eq!(
                super::with_database("mysql://root@127.0.0.1:3306/test?ssl-mode=disabled", "t1")
                    .unwrap(),
                "mysql://root@127.0.0.1:3306/t1?ssl-mode=disabled"
            );
            assert!(super::with_database("postgres://host", "t1").is_err());
        }
    }
}

#[async_trait::async_trait]
impl tessera_domain::ports::HealthCheck for SqlStore {
    async fn ping(&self) -> Result<(), StoreError> {
        SqlStore::ping(self).await
    }
}
