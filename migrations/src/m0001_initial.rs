//! M0001: creates users, sessions, refresh_tokens, revocations, signing_keys and audit_events.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, big_integer_uniq, string_len, string_len_null, string_len_uniq,
    text, text_null,
};

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

pub(crate) const UUID_LEN: u32 = 36;

#[async_trait::async_trait]
impl MigrationTrait for M0001Initial {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Users::Table)
                .if_not_exists()
                .col(string_len(Users::Id, UUID_LEN).primary_key())
                // 64 characters of up to 4 bytes each.
                .col(string_len(Users::Username, 256))
                .col(string_len_uniq(Users::UsernameKey, 256))
                .col(string_len(Users::PasswordHash, 512))
                .col(text(Users::Roles))
                .col(big_integer(Users::CreatedAt))
                .col(big_integer_null(Users::DisabledAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Sessions::Table)
                .if_not_exists()
                .col(string_len(Sessions::Id, UUID_LEN).primary_key())
                .col(string_len(Sessions::UserId, UUID_LEN))
                .col(big_integer(Sessions::CreatedAt))
                .col(big_integer(Sessions::LastUsedAt))
                .col(big_integer(Sessions::IdleExpiresAt))
                .col(big_integer(Sessions::AbsoluteExpiresAt))
                .col(string_len_null(Sessions::UserAgent, 512))
                .col(string_len_null(Sessions::ClientIp, 64))
                .col(big_integer_null(Sessions::RevokedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_sessions_user")
                .table(Sessions::Table)
                .col(Sessions::UserId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(RefreshTokens::Table)
                .if_not_exists()
                .col(string_len(RefreshTokens::Hash, 64).primary_key())
                .col(string_len(RefreshTokens::SessionId, UUID_LEN))
                .col(big_integer(RefreshTokens::IssuedAt))
                .col(big_integer_null(RefreshTokens::RotatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_refresh_tokens_session")
                .table(RefreshTokens::Table)
                .col(RefreshTokens::SessionId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Revocations::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(Revocations::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(string_len(Revocations::Kind, 16))
                .col(string_len(Revocations::Subject, UUID_LEN))
                .col(big_integer_null(Revocations::BeforeAt))
                .col(big_integer(Revocations::ExpiresAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_revocations_expires")
                .table(Revocations::Table)
                .col(Revocations::ExpiresAt)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(SigningKeys::Table)
                .if_not_exists()
                .col(string_len(SigningKeys::Kid, 64).primary_key())
                // Unique: of two instances generating the next key, one insert fails.
                .col(big_integer_uniq(SigningKeys::Seq))
                .col(string_len(SigningKeys::Algorithm, 16))
                .col(string_len(SigningKeys::State, 16))
                .col(text(SigningKeys::PublicJwk))
                .col(text_null(SigningKeys::PrivateSealed))
                .col(big_integer(SigningKeys::CreatedAt))
                .col(big_integer_null(SigningKeys::ActivatedAt))
                .col(big_integer_null(SigningKeys::RetiringAt))
                .col(big_integer_null(SigningKeys::RetiredAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuditEvents::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(AuditEvents::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(big_integer(AuditEvents::At))
                .col(string_len(AuditEvents::Event, 32))
                .col(string_len_null(AuditEvents::UserId, UUID_LEN))
                .col(string_len_null(AuditEvents::ClientIp, 64))
                .col(string_len_null(AuditEvents::UserAgent, 512))
                .col(text(AuditEvents::Detail))
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("idx_audit_user", AuditEvents::UserId),
            ("idx_audit_event", AuditEvents::Event),
            ("idx_audit_at", AuditEvents::At),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(AuditEvents::Table)
                    .col(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditEvents::Table.into_iden(),
            SigningKeys::Table.into_iden(),
            Revocations::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
            Sessions::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
