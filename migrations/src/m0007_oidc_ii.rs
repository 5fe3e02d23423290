//! The OpenID provider's second round: what a third-party app's tokens are for
//! (`oauth_clients.audience`, RFC 8707), where a client hears that its sessions ended
//! (`oauth_clients.backchannel_logout_*`, Back-Channel Logout 1.0), and an outbox that
//! carries those logout tokens beside mail (`outbox.kind`, `outbox.target`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{integer, string_len, string_len_null};

use crate::m0003_email::Outbox;
use crate::m0005_oidc::OauthClients;
use crate::schema::add_columns;

pub(crate) struct M0007OidcIi;

impl MigrationName for M0007OidcIi {
    fn name(&self) -> &str {
        "m20261208_000007_oidc_ii"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0007OidcIi {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        add_columns(
            m,
            OauthClients::Table,
            [
                string_len_null(Columns::Audience, 512),
                string_len_null(Columns::BackchannelLogoutUri, 512),
                integer(Columns::BackchannelLogoutSessionRequired)
                    .default(0)
                    .take(),
            ],
        )
        .await?;
        // `mail` rows are what the outbox held so far; a `backchannel_logout` row's
        // `recipient` is the client's id and `target` the URI it is POSTed to.
        add_columns(
            m,
            Outbox::Table,
            [
                string_len(Columns::Kind, 24).default("mail").take(),
                string_len_null(Columns::Target, 512),
            ],
        )
        .await
    }

    /// Keeps the columns, as M0006 does: older code never reads them.
    async fn down(&self, _: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Columns {
    Audience,
    BackchannelLogoutUri,
    BackchannelLogoutSessionRequired,
    Kind,
    Target,
}
