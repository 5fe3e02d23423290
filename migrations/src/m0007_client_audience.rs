//! The resource a third-party app's tokens are for (`oauth_clients.audience`, RFC 8707):
//! their `aud`, beside UserInfo. NULL: UserInfo only.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::string_len_null;

use crate::m0005_oidc::OauthClients;
use crate::schema::add_columns;

pub(crate) struct M0007ClientAudience;

impl MigrationName for M0007ClientAudience {
    fn name(&self) -> &str {
        "m20261208_000007_client_audience"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0007ClientAudience {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        add_columns(
            m,
            OauthClients::Table,
            [string_len_null(ClientAudience::Audience, 512)],
        )
        .await
    }

    /// Keeps the column, as M0006 does: older code never reads it.
    async fn down(&self, _: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

#[derive(DeriveIden)]
enum ClientAudience {
    Audience,
}
