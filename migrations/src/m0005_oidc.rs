//! M0005: creates `oauth_clients`, `authorization_codes`, `oauth_consents`, `sessions.oauth_*`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, integer, string_len, string_len_null, text, text_null,
};

use crate::m0001_initial::{Sessions, UUID_LEN};

/// The OpenID provider: registered clients (a confidential one's secret by its digest),
/// authorization codes (by digest, single use through `used_at`, with the session their
/// first exchange started), remembered consent, and which client a session belongs to.
pub(crate) struct M0005Oidc;

impl MigrationName for M0005Oidc {
    fn name(&self) -> &str {
        "m20261207_000005_oidc"
    }
}

#[derive(DeriveIden)]
enum OauthClients {
    Table,
    Id,
    Name,
    SecretHash,
    RedirectUris,
    PostLogoutRedirectUris,
    GrantTypes,
    Scopes,
    FirstParty,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuthorizationCodes {
    Table,
    Hash,
    ClientId,
    UserId,
    RedirectUri,
    Scopes,
    Nonce,
    CodeChallenge,
    AuthTime,
    Amr,
    ExpiresAt,
    UsedAt,
    SessionId,
}

#[derive(DeriveIden)]
enum OauthConsents {
    Table,
    UserId,
    ClientId,
    Scopes,
    GrantedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for M0005Oidc {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for col in [
            string_len_null(Sessions::OauthClient, UUID_LEN),
            string_len_null(Sessions::OauthScope, 64),
        ] {
            let mut col = col;
            m.alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(&mut col)
                    .to_owned(),
            )
            .await?;
        }
        m.create_table(
            Table::create()
                .table(OauthClients::Table)
                .if_not_exists()
                .col(string_len(OauthClients::Id, UUID_LEN).primary_key())
                .col(string_len(OauthClients::Name, 256))
                .col(string_len_null(OauthClients::SecretHash, 64))
                .col(text(OauthClients::RedirectUris))
                .col(text(OauthClients::PostLogoutRedirectUris))
                .col(string_len(OauthClients::GrantTypes, 128))
                .col(string_len(OauthClients::Scopes, 64))
                .col(integer(OauthClients::FirstParty))
                .col(big_integer(OauthClients::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(AuthorizationCodes::Table)
                .if_not_exists()
                .col(string_len(AuthorizationCodes::Hash, 64).primary_key())
                .col(string_len(AuthorizationCodes::ClientId, UUID_LEN))
                .col(string_len(AuthorizationCodes::UserId, UUID_LEN))
                .col(text(AuthorizationCodes::RedirectUri))
                .col(string_len(AuthorizationCodes::Scopes, 64))
                .col(text_null(AuthorizationCodes::Nonce))
                .col(string_len(AuthorizationCodes::CodeChallenge, 64))
                .col(big_integer(AuthorizationCodes::AuthTime))
                .col(string_len(AuthorizationCodes::Amr, 32))
                .col(big_integer(AuthorizationCodes::ExpiresAt))
                .col(big_integer_null(AuthorizationCodes::UsedAt))
                .col(string_len_null(AuthorizationCodes::SessionId, UUID_LEN))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_authorization_codes_expires")
                .table(AuthorizationCodes::Table)
                .col(AuthorizationCodes::ExpiresAt)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(OauthConsents::Table)
                .if_not_exists()
                .col(string_len(OauthConsents::UserId, UUID_LEN))
                .col(string_len(OauthConsents::ClientId, UUID_LEN))
                .col(string_len(OauthConsents::Scopes, 64))
                .col(big_integer(OauthConsents::GrantedAt))
                .primary_key(
                    Index::create()
                        .col(OauthConsents::UserId)
                        .col(OauthConsents::ClientId),
                )
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            OauthConsents::Table.into_iden(),
            AuthorizationCodes::Table.into_iden(),
            OauthClients::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        for col in [Sessions::OauthClient, Sessions::OauthScope] {
            m.alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
