//! M0002: creates nothing; makes `users.username_key` compare byte for byte on MySQL/MariaDB.

use sea_orm_migration::prelude::*;

use crate::schema::on_mysql;

/// `users.username_key` compared byte for byte on MySQL/MariaDB too.
///
/// Their default collations (`utf8mb4_general_ci`, `uca1400_ai_ci`, `utf8mb4_0900_ai_ci`)
/// ignore accents, so `WHERE username_key = 'álice'` found `alice`: another spelling
/// logged into alice's account with its own lockout counter. The domain decides what is
/// the same name (`Username::canonical` in `tessera-domain`); the store must only
/// compare. PostgreSQL (deterministic collations) and SQLite (`BINARY`) already do.
pub(crate) struct M0002BinaryUsernameKey;

impl MigrationName for M0002BinaryUsernameKey {
    fn name(&self) -> &str {
        "m20261202_000002_binary_username_key"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0002BinaryUsernameKey {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        on_mysql(
            m,
            "ALTER TABLE users MODIFY username_key VARCHAR(256) \
             CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL",
        )
        .await
    }

    async fn down(&self, _: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
