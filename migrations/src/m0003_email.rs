//! M0003: creates the `users` email columns, `email_tokens` and the mail `outbox`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, integer, string_len, string_len_null, text,
};

use crate::m0001_initial::{UUID_LEN, Users};

/// Email: the user's address, the mailed tokens (by hash) and the outbox.
///
/// `users.email_key` holds the canonical form of a *verified* address only, under a
/// unique index: NULLs do not collide on any dialect, so unverified addresses block
/// nobody. On MySQL/MariaDB it is compared byte for byte, like `username_key`.
pub(crate) struct M0003Email;

impl MigrationName for M0003Email {
    fn name(&self) -> &str {
        "m20261204_000003_email"
    }
}

#[derive(DeriveIden)]
enum EmailTokens {
    Table,
    Hash,
    Purpose,
    UserId,
    Email,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Id,
    Recipient,
    Subject,
    TextBody,
    HtmlBody,
    CreatedAt,
    NextAttemptAt,
    ClaimedUntil,
    ClaimedBy,
    Attempts,
    SentAt,
    FailedAt,
    LastError,
}

#[async_trait::async_trait]
impl MigrationTrait for M0003Email {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one at a time.
        for col in [
            string_len_null(Users::Email, 254),
            string_len_null(Users::EmailKey, 254),
            big_integer_null(Users::EmailVerifiedAt),
        ] {
            let mut col = col;
            m.alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(&mut col)
                    .to_owned(),
            )
            .await?;
        }
        if m.get_database_backend() == sea_orm_migration::sea_orm::DatabaseBackend::MySql {
            m.get_connection()
                .execute_unprepared(
                    "ALTER TABLE users MODIFY email_key VARCHAR(254) \
                     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL",
                )
                .await?;
        }
        m.create_index(
            Index::create()
                .name("idx_users_email_key")
                .table(Users::Table)
                .col(Users::EmailKey)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(EmailTokens::Table)
                .if_not_exists()
                .col(string_len(EmailTokens::Hash, 64).primary_key())
                .col(string_len(EmailTokens::Purpose, 16))
                .col(string_len_null(EmailTokens::UserId, UUID_LEN))
                .col(string_len(EmailTokens::Email, 254))
                .col(big_integer(EmailTokens::CreatedAt))
                .col(big_integer(EmailTokens::ExpiresAt))
                .col(big_integer_null(EmailTokens::UsedAt))
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("idx_email_tokens_user", EmailTokens::UserId),
            ("idx_email_tokens_expires", EmailTokens::ExpiresAt),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(EmailTokens::Table)
                    .col(col)
                    .to_owned(),
            )
            .await?;
        }

        m.create_table(
            Table::create()
                .table(Outbox::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(Outbox::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(string_len(Outbox::Recipient, 254))
                .col(string_len(Outbox::Subject, 512))
                .col(text(Outbox::TextBody))
                .col(text(Outbox::HtmlBody))
                .col(big_integer(Outbox::CreatedAt))
                .col(big_integer(Outbox::NextAttemptAt))
                .col(big_integer(Outbox::ClaimedUntil))
                .col(string_len_null(Outbox::ClaimedBy, 64))
                .col(integer(Outbox::Attempts))
                .col(big_integer_null(Outbox::SentAt))
                .col(big_integer_null(Outbox::FailedAt))
                .col(string_len_null(Outbox::LastError, 512))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_outbox_due")
                .table(Outbox::Table)
                .col(Outbox::NextAttemptAt)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [Outbox::Table.into_iden(), EmailTokens::Table.into_iden()] {
            m.drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}
