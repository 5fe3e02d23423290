//! M0004: creates `totp_factors`, `recovery_codes`, `passkeys`, `challenges`, `sessions.amr`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, integer, string_len, string_len_null, string_len_uniq, text,
    text_null,
};

use crate::m0001_initial::Sessions;
use crate::schema::{add_columns, drop_tables, index, table, uuid, uuid_null};

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
        let amr = string_len(Sessions::Amr, 32).default("pwd").to_owned();
        add_columns(m, Sessions::Table, [amr]).await?;
        m.create_table(table(
            TotpFactors::Table,
            [
                uuid(TotpFactors::UserId).primary_key().to_owned(),
                text(TotpFactors::Secret),
                big_integer(TotpFactors::CreatedAt),
                big_integer_null(TotpFactors::ConfirmedAt),
                big_integer_null(TotpFactors::LastStep),
            ],
        ))
        .await?;
        m.create_table(
            table(
                RecoveryCodes::Table,
                [
                    uuid(RecoveryCodes::UserId),
                    string_len(RecoveryCodes::Hash, 64),
                    big_integer(RecoveryCodes::CreatedAt),
                    big_integer_null(RecoveryCodes::UsedAt),
                ],
            )
            .primary_key(
                Index::create()
                    .col(RecoveryCodes::UserId)
                    .col(RecoveryCodes::Hash),
            )
            .to_owned(),
        )
        .await?;
        m.create_table(table(
            Passkeys::Table,
            [
                uuid(Passkeys::Id).primary_key().to_owned(),
                uuid(Passkeys::UserId),
                string_len(Passkeys::Name, 256),
                string_len_uniq(Passkeys::CredentialKey, 64),
                text(Passkeys::CredentialId),
                text(Passkeys::Data),
                big_integer(Passkeys::CreatedAt),
                big_integer_null(Passkeys::LastUsedAt),
                big_integer(Passkeys::SignCount),
                integer(Passkeys::BackupEligible),
                integer(Passkeys::BackupState),
            ],
        ))
        .await?;
        index(m, "idx_passkeys_user", Passkeys::Table, Passkeys::UserId).await?;
        m.create_table(table(
            Challenges::Table,
            [
                string_len(Challenges::Id, 64).primary_key().to_owned(),
                string_len(Challenges::Purpose, 16),
                uuid_null(Challenges::UserId),
                string_len_null(Challenges::Binding, 64),
                text_null(Challenges::State),
                integer(Challenges::Attempts),
                big_integer(Challenges::CreatedAt),
                big_integer(Challenges::ExpiresAt),
            ],
        ))
        .await?;
        let expires = Challenges::ExpiresAt;
        index(m, "idx_challenges_expires", Challenges::Table, expires).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let tables = [
            Challenges::Table.into_iden(),
            Passkeys::Table.into_iden(),
            RecoveryCodes::Table.into_iden(),
            TotpFactors::Table.into_iden(),
        ];
        drop_tables(m, tables).await
    }
}
