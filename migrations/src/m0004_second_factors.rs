//! M0004: creates `totp_factors`, `recovery_codes`, `passkeys`, `challenges`, `sessions.amr`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, integer, string_len, string_len_null, string_len_uniq, text,
    text_null,
};

use crate::m0001_initial::{Sessions, UUID_LEN};

/// Second factors: TOTP enrollments (secret sealed by the application), recovery codes
/// (MACs), passkeys (credential id unique through its hash: ids run to 1,023 bytes,
/// longer than an index key may be on MySQL), the challenges of second steps and
/// WebAuthn ceremonies, and each session's `amr`.
pub(crate) struct M0004SecondFactors;

impl MigrationName for M0004SecondFactors {
    fn name(&self) -> &str {
        "m20261205_000004_second_factors"
    }
}

#[derive(DeriveIden)]
enum TotpFactors {
    Table,
    UserId,
    Secret,
    CreatedAt,
    ConfirmedAt,
    LastStep,
}

#[derive(DeriveIden)]
enum RecoveryCodes {
    Table,
    UserId,
    Hash,
    CreatedAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Passkeys {
    Table,
    Id,
    UserId,
    Name,
    CredentialKey,
    CredentialId,
    Data,
    CreatedAt,
    LastUsedAt,
    SignCount,
    BackupEligible,
    BackupState,
}

#[derive(DeriveIden)]
enum Challenges {
    Table,
    Id,
    Purpose,
    UserId,
    Binding,
    State,
    Attempts,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for M0004SecondFactors {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Sessions::Table)
                .add_column(string_len(Sessions::Amr, 32).default("pwd"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(TotpFactors::Table)
                .if_not_exists()
                .col(string_len(TotpFactors::UserId, UUID_LEN).primary_key())
                .col(text(TotpFactors::Secret))
                .col(big_integer(TotpFactors::CreatedAt))
                .col(big_integer_null(TotpFactors::ConfirmedAt))
                .col(big_integer_null(TotpFactors::LastStep))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(RecoveryCodes::Table)
                .if_not_exists()
                .col(string_len(RecoveryCodes::UserId, UUID_LEN))
                .col(string_len(RecoveryCodes::Hash, 64))
                .col(big_integer(RecoveryCodes::CreatedAt))
                .col(big_integer_null(RecoveryCodes::UsedAt))
                .primary_key(
                    Index::create()
                        .col(RecoveryCodes::UserId)
                        .col(RecoveryCodes::Hash),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Passkeys::Table)
                .if_not_exists()
                .col(string_len(Passkeys::Id, UUID_LEN).primary_key())
                .col(string_len(Passkeys::UserId, UUID_LEN))
                .col(string_len(Passkeys::Name, 256))
                .col(string_len_uniq(Passkeys::CredentialKey, 64))
                .col(text(Passkeys::CredentialId))
                .col(text(Passkeys::Data))
                .col(big_integer(Passkeys::CreatedAt))
                .col(big_integer_null(Passkeys::LastUsedAt))
                .col(big_integer(Passkeys::SignCount))
                .col(integer(Passkeys::BackupEligible))
                .col(integer(Passkeys::BackupState))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_passkeys_user")
                .table(Passkeys::Table)
                .col(Passkeys::UserId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Challenges::Table)
                .if_not_exists()
                .col(string_len(Challenges::Id, 64).primary_key())
                .col(string_len(Challenges::Purpose, 16))
                .col(string_len_null(Challenges::UserId, UUID_LEN))
                .col(string_len_null(Challenges::Binding, 64))
                .col(text_null(Challenges::State))
                .col(integer(Challenges::Attempts))
                .col(big_integer(Challenges::CreatedAt))
                .col(big_integer(Challenges::ExpiresAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_challenges_expires")
                .table(Challenges::Table)
                .col(Challenges::ExpiresAt)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Challenges::Table.into_iden(),
            Passkeys::Table.into_iden(),
            RecoveryCodes::Table.into_iden(),
            TotpFactors::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
