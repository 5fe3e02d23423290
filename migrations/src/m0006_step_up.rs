//! Step-up: when a session's owner last proved it is them (`sessions.authenticated_at`,
//! NULL until a step-up, which reads as the session's start).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::big_integer_null;

use crate::m0001_initial::Sessions;
use crate::schema::add_columns;

/// `sessions.authenticated_at`: the instant of the last proof, the token's `auth_time`.
pub(crate) struct M0006StepUp;

impl MigrationName for M0006StepUp {
    fn name(&self) -> &str {
        "m20261207_000006_step_up"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0006StepUp {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        add_columns(
            m,
            Sessions::Table,
            [big_integer_null(Sessions::AuthenticatedAt)],
        )
        .await
    }

    /// Keeps the column: a nullable column older code never reads harms nothing, and
    /// SQLite drops columns only by rebuilding the table.
    async fn down(&self, _: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
