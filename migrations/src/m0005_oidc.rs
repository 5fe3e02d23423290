//! M0005: creates `oauth_clients`, `authorization_codes`, `oauth_consents`, `sessions.oauth_*`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, integer, string_len, string_len_null, text, text_null,
};

use crate::m0001_initial::Sessions;
use crate::schema::{add_columns, drop_tables, index, table, uuid, uuid_null};

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
pub(crate) enum OauthClients {
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
        let grant_columns = [
            uuid_null(Sessions::OauthClient),
            string_len_null(Sessions::OauthScope, 64),
        ];
        add_columns(m, Sessions::Table, grant_columns).await?;
        m.create_table(table(
            OauthClients::Table,
            [
                uuid(OauthClients::Id).primary_key().to_owned(),
                string_len(OauthClients::Name, 256),
                string_len_null(OauthClients::SecretHash, 64),
                text(OauthClients::RedirectUris),
                text(OauthClients::PostLogoutRedirectUris),
                string_len(OauthClients::GrantTypes, 128),
                string_len(OauthClients::Scopes, 64),
                integer(OauthClients::FirstParty),
                big_integer(OauthClients::CreatedAt),
            ],
        ))
        .await?;
        m.create_table(table(
            AuthorizationCodes::Table,
            [
                string_len(AuthorizationCodes::Hash, 64)
                    .primary_key()
                    .to_owned(),
                uuid(AuthorizationCodes::ClientId),
                uuid(AuthorizationCodes::UserId),
                text(AuthorizationCodes::RedirectUri),
                string_len(AuthorizationCodes::Scopes, 64),
                text_null(AuthorizationCodes::Nonce),
                string_len(AuthorizationCodes::CodeChallenge, 64),
                big_integer(AuthorizationCodes::AuthTime),
                string_len(AuthorizationCodes::Amr, 32),
                big_integer(AuthorizationCodes::ExpiresAt),
                big_integer_null(AuthorizationCodes::UsedAt),
                uuid_null(AuthorizationCodes::SessionId),
            ],
        ))
        .await?;
        let (codes, expires) = (AuthorizationCodes::Table, AuthorizationCodes::ExpiresAt);
        index(m, "idx_authorization_codes_expires", codes, expires).await?;
        m.create_table(
            table(
                OauthConsents::Table,
                [
                    uuid(OauthConsents::UserId),
                    uuid(OauthConsents::ClientId),
                    string_len(OauthConsents::Scopes, 64),
                    big_integer(OauthConsents::GrantedAt),
                ],
            )
            .primary_key(
                Index::create()
                    .col(OauthConsents::UserId)
                    .col(OauthConsents::ClientId),
            )
            .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            OauthConsents::Table.into_iden(),
            AuthorizationCodes::Table.into_iden(),
            OauthClients::Table.into_iden(),
        ];
        drop_tables(m, tables).await?;
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
