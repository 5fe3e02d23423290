//! M0003: creates the `users` email columns, `email_tokens` and the mail `outbox`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, integer, string_len, string_len_null, text,
};

use crate::m0001_initial::Users;
use crate::schema::{add_columns, drop_tables, index, on_mysql, serial_id, table, uuid_null};

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
pub(crate) enum Outbox {
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
        let email_columns = [
            string_len_null(Users::Email, 254),
            string_len_null(Users::EmailKey, 254),
            big_integer_null(Users::EmailVerifiedAt),
        ];
        add_columns(m, Users::Table, email_columns).await?;
        on_mysql(
            m,
            "ALTER TABLE users MODIFY email_key VARCHAR(254) \
             CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL",
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_users_email_key")
                .table(Users::Table)
                .col(Users::EmailKey)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(table(
            EmailTokens::Table,
            [
                string_len(EmailTokens::Hash, 64).primary_key().to_owned(),
                string_len(EmailTokens::Purpose, 16),
                uuid_null(EmailTokens::UserId),
                string_len(EmailTokens::Email, 254),
                big_integer(EmailTokens::CreatedAt),
                big_integer(EmailTokens::ExpiresAt),
                big_integer_null(EmailTokens::UsedAt),
            ],
        ))
        .await?;
        for (name, col) in [
            ("idx_email_tokens_user", EmailTokens::UserId),
            ("idx_email_tokens_expires", EmailTokens::ExpiresAt),
        ] {
            index(m, name, EmailTokens::Table, col).await?;
        }

        m.create_table(table(
            Outbox::Table,
            [
                serial_id(Outbox::Id),
                string_len(Outbox::Recipient, 254),
                string_len(Outbox::Subject, 512),
                text(Outbox::TextBody),
                text(Outbox::HtmlBody),
                big_integer(Outbox::CreatedAt),
                big_integer(Outbox::NextAttemptAt),
                big_integer(Outbox::ClaimedUntil),
                string_len_null(Outbox::ClaimedBy, 64),
                integer(Outbox::Attempts),
                big_integer_null(Outbox::SentAt),
                big_integer_null(Outbox::FailedAt),
                string_len_null(Outbox::LastError, 512),
            ],
        ))
        .await?;
        index(m, "idx_outbox_due", Outbox::Table, Outbox::NextAttemptAt).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(
            m,
            [Outbox::Table.into_iden(), EmailTokens::Table.into_iden()],
        )
        .await
    }
}
