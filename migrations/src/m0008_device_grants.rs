//! The device authorization grant (RFC 8628): `device_grants`, one row per device code
//! (by its digest), with its user code (unique while it exists), where it stands, and
//! when the device last polled.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_integer_null, string_len, string_len_null};

use crate::schema::{drop_tables, index, table, uuid, uuid_null};

pub(crate) struct M0008DeviceGrants;

impl MigrationName for M0008DeviceGrants {
    fn name(&self) -> &str {
        "m20261208_000008_device_grants"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for M0008DeviceGrants {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(table(
            DeviceGrants::Table,
            [
                string_len(DeviceGrants::DeviceCodeHash, 64)
                    .primary_key()
                    .to_owned(),
                string_len(DeviceGrants::UserCode, 8)
                    .unique_key()
                    .to_owned(),
                uuid(DeviceGrants::ClientId),
                string_len(DeviceGrants::Scopes, 64),
                big_integer(DeviceGrants::CreatedAt),
                big_integer(DeviceGrants::ExpiresAt),
                string_len(DeviceGrants::State, 16),
                uuid_null(DeviceGrants::UserId),
                big_integer_null(DeviceGrants::AuthTime),
                string_len_null(DeviceGrants::Amr, 64),
                big_integer_null(DeviceGrants::LastPolledAt),
            ],
        ))
        .await?;
        index(
            m,
            "idx_device_grants_expiry",
            DeviceGrants::Table,
            DeviceGrants::ExpiresAt,
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(m, [DeviceGrants::Table.into_iden()]).await
    }
}

#[derive(DeriveIden)]
enum DeviceGrants {
    Table,
    DeviceCodeHash,
    UserCode,
    ClientId,
    Scopes,
    CreatedAt,
    ExpiresAt,
    State,
    UserId,
    AuthTime,
    Amr,
    LastPolledAt,
}
