//! Tessera's schema, written once for SQLite, PostgreSQL and MySQL/MariaDB.
//!
//! Portable choices: identifiers are UUID strings (36 chars), instants are UNIX
//! milliseconds in BIGINT (no dialect's timestamp quirks: MySQL's 2038 limit, SQLite's
//! text dates), and uniqueness that must be case-insensitive is enforced on a lowercase
//! key column rather than a collation.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, big_integer_uniq, integer, string_len, string_len_null,
    string_len_uniq, text, text_null,
};

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(M0001Initial),
            Box::new(M0002BinaryUsernameKey),
            Box::new(M0003Email),
            Box::new(M0004SecondFactors),
            Box::new(M0005Oidc),
        ]
    }
}

/// The OpenID provider: registered clients (a confidential one's secret by its digest),
/// authorization codes (by digest, single use through `used_at`, with the session their
/// first exchange started), remembered consent, and which client a session belongs to.
struct M0005Oidc;

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

/// Second factors: TOTP enrollments (secret sealed by the application), recovery codes
/// (MACs), passkeys (credential id unique through its hash: ids run to 1,023 bytes,
/// longer than an index key may be on MySQL), the challenges of second steps and
/// WebAuthn ceremonies, and each session's `amr`.
struct M0004SecondFactors;

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

/// Email: the user's address, the mailed tokens (by hash) and the outbox.
///
/// `users.email_key` holds the canonical form of a *verified* address only, under a
/// unique index: NULLs do not collide on any dialect, so unverified addresses block
/// nobody. On MySQL/MariaDB it is compared byte for byte, like `username_key`.
struct M0003Email;

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

/// `users.username_key` compared byte for byte on MySQL/MariaDB too.
///
/// Their default collations (`utf8mb4_general_ci`, `uca1400_ai_ci`, `utf8mb4_0900_ai_ci`)
/// ignore accents, so `WHERE username_key = 'álice'` found `alice`: another spelling
/// logged into alice's account with its own lockout counter. The domain decides what is
/// the same name (`Username::canonical` in `tessera-domain`); the store must only
/// compare. PostgreSQL (deterministic collations) and SQLite (`BINARY`) already do.
struct M0002BinaryUsernameKey;

impl MigrationName for M0002BinaryUsernameKey {
    fn name(&self) -> &str {
        "m20261202_000002_binary_username_key"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0002BinaryUsernameKey {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        if m.get_database_backend() == sea_orm_migration::sea_orm::DatabaseBackend::MySql {
            m.get_connection()
                .execute_unprepared(
                    "ALTER TABLE users MODIFY username_key VARCHAR(256) \
                     CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL",
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, _: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

/// The first schema: users, sessions, refresh tokens, revocations, signing keys.
struct M0001Initial;

impl MigrationName for M0001Initial {
    fn name(&self) -> &str {
        "m20261125_000001_initial"
    }
}

#[derive(DeriveIden)]
enum Users {
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
enum Sessions {
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

const UUID_LEN: u32 = 36;

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
