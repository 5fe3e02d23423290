//! M0001: creates users, sessions, refresh_tokens, revocations, signing_keys and audit_events.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, big_integer_uniq, string_len, string_len_null, string_len_uniq,
    text, text_null,
};

use crate::schema::{drop_tables, index, serial_id, table, uuid, uuid_null};

/// The first schema: users, sessions, refresh tokens, revocations, signing keys.
pub(crate) struct M0001Initial;

impl MigrationName for M0001Initial {
    fn name(&self) -> &str {
        "m20261125_000001_initial"
    }
}

#[derive(DeriveIden)]
pub(crate) enum Users {
    Table,
    Id,
    Username,
    UsernameKey,
    PasswordHash,
    Roles,
    CreatedAt,
    DisabledAt,
    Email,
    EmailKey,
    EmailVerifiedAt,
}

#[derive(DeriveIden)]
pub(crate) enum Sessions {
    Table,
    Id,
    UserId,
    CreatedAt,
    LastUsedAt,
    IdleExpiresAt,
    AbsoluteExpiresAt,
    UserAgent,
    ClientIp,
    RevokedAt,
    Amr,
    OauthClient,
    OauthScope,
    AuthenticatedAt,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    Hash,
    SessionId,
    IssuedAt,
    RotatedAt,
}

#[derive(DeriveIden)]
enum Revocations {
    Table,
    Id,
    Kind,
    Subject,
    BeforeAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Kid,
    Seq,
    Algorithm,
    State,
    PublicJwk,
    PrivateSealed,
    CreatedAt,
    ActivatedAt,
    RetiringAt,
    RetiredAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    At,
    Event,
    UserId,
    ClientIp,
    UserAgent,
    Detail,
}

#[async_trait::async_trait]
impl MigrationTrait for M0001Initial {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(table(
            Users::Table,
            [
                uuid(Users::Id).primary_key().to_owned(),
                // 64 characters of up to 4 bytes each.
                string_len(Users::Username, 256),
                string_len_uniq(Users::UsernameKey, 256),
                string_len(Users::PasswordHash, 512),
                text(Users::Roles),
                big_integer(Users::CreatedAt),
                big_integer_null(Users::DisabledAt),
            ],
        ))
        .await?;

        m.create_table(table(
            Sessions::Table,
            [
                uuid(Sessions::Id).primary_key().to_owned(),
                uuid(Sessions::UserId),
                big_integer(Sessions::CreatedAt),
                big_integer(Sessions::LastUsedAt),
                big_integer(Sessions::IdleExpiresAt),
                big_integer(Sessions::AbsoluteExpiresAt),
                string_len_null(Sessions::UserAgent, 512),
                string_len_null(Sessions::ClientIp, 64),
                big_integer_null(Sessions::RevokedAt),
            ],
        ))
        .await?;
        index(m, "idx_sessions_user", Sessions::Table, Sessions::UserId).await?;

        m.create_table(table(
            RefreshTokens::Table,
            [
                string_len(RefreshTokens::Hash, 64).primary_key().to_owned(),
                uuid(RefreshTokens::SessionId),
                big_integer(RefreshTokens::IssuedAt),
                big_integer_null(RefreshTokens::RotatedAt),
            ],
        ))
        .await?;
        let session = RefreshTokens::SessionId;
        index(
            m,
            "idx_refresh_tokens_session",
            RefreshTokens::Table,
            session,
        )
        .await?;

        m.create_table(table(
            Revocations::Table,
            [
                serial_id(Revocations::Id),
                string_len(Revocations::Kind, 16),
                uuid(Revocations::Subject),
                big_integer_null(Revocations::BeforeAt),
                big_integer(Revocations::ExpiresAt),
            ],
        ))
        .await?;
        let expires = Revocations::ExpiresAt;
        index(m, "idx_revocations_expires", Revocations::Table, expires).await?;

        m.create_table(table(
            SigningKeys::Table,
            [
                string_len(SigningKeys::Kid, 64).primary_key().to_owned(),
                // Unique: of two instances generating the next key, one insert fails.
                big_integer_uniq(SigningKeys::Seq),
                string_len(SigningKeys::Algorithm, 16),
                string_len(SigningKeys::State, 16),
                text(SigningKeys::PublicJwk),
                text_null(SigningKeys::PrivateSealed),
                big_integer(SigningKeys::CreatedAt),
                big_integer_null(SigningKeys::ActivatedAt),
                big_integer_null(SigningKeys::RetiringAt),
                big_integer_null(SigningKeys::RetiredAt),
            ],
        ))
        .await?;

        m.create_table(table(
            AuditEvents::Table,
            [
                serial_id(AuditEvents::Id),
                big_integer(AuditEvents::At),
                string_len(AuditEvents::Event, 32),
                uuid_null(AuditEvents::UserId),
                string_len_null(AuditEvents::ClientIp, 64),
                string_len_null(AuditEvents::UserAgent, 512),
                text(AuditEvents::Detail),
            ],
        ))
        .await?;
        for (name, col) in [
            ("idx_audit_user", AuditEvents::UserId),
            ("idx_audit_event", AuditEvents::Event),
            ("idx_audit_at", AuditEvents::At),
        ] {
            index(m, name, AuditEvents::Table, col).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            AuditEvents::Table.into_iden(),
            SigningKeys::Table.into_iden(),
            Revocations::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
            Sessions::Table.into_iden(),
            Users::Table.into_iden(),
        ];
        drop_tables(m, tables).await
    }
}
