//! The statements every migration repeats, each written once.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{string_len, string_len_null};

/// Identifiers are UUID strings.
pub(crate) const UUID_LEN: u32 = 36;

/// A `VARCHAR(36) NOT NULL` column holding a UUID.
pub(crate) fn uuid(col: impl IntoIden) -> ColumnDef {
    string_len(col, UUID_LEN)
}

/// A `VARCHAR(36) NULL` column holding a UUID.
pub(crate) fn uuid_null(col: impl IntoIden) -> ColumnDef {
    string_len_null(col, UUID_LEN)
}

/// A `BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY` column.
pub(crate) fn serial_id(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .big_integer()
        .not_null()
        .auto_increment()
        .primary_key()
        .to_owned()
}

/// `CREATE TABLE IF NOT EXISTS name (columns…)`, the columns in their order.
pub(crate) fn table(
    name: impl IntoIden,
    columns: impl IntoIterator<Item = ColumnDef>,
) -> TableCreateStatement {
    let mut stmt = Table::create();
    stmt.table(name).if_not_exists();
    for mut col in columns {
        stmt.col(&mut col);
    }
    stmt
}

/// `CREATE INDEX name ON table (col)`.
pub(crate) async fn index(
    m: &SchemaManager<'_>,
    name: &str,
    table: impl IntoIden,
    col: impl IntoIden,
) -> Result<(), DbErr> {
    m.create_index(Index::create().name(name).table(table).col(col).to_owned())
        .await
}

/// `ALTER TABLE table ADD COLUMN …`, one column per statement: SQLite alters one at a time.
pub(crate) async fn add_columns(
    m: &SchemaManager<'_>,
    table: impl IntoIden,
    columns: impl IntoIterator<Item = ColumnDef>,
) -> Result<(), DbErr> {
    let table = table.into_iden();
    for mut col in columns {
        m.alter_table(
            Table::alter()
                .table(table.clone())
                .add_column(&mut col)
                .to_owned(),
        )
        .await?;
    }
    Ok(())
}

/// `DROP TABLE IF EXISTS …` for each of `tables`, in their order.
pub(crate) async fn drop_tables(
    m: &SchemaManager<'_>,
    tables: impl IntoIterator<Item = DynIden>,
) -> Result<(), DbErr> {
    for table in tables {
        m.drop_table(Table::drop().table(table).if_exists().to_owned())
            .await?;
    }
    Ok(())
}

/// Runs `sql` on MySQL/MariaDB only (for what the schema builder cannot say).
pub(crate) async fn on_mysql(m: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    if m.get_database_backend() == sea_orm_migration::sea_orm::DatabaseBackend::MySql {
        m.get_connection().execute_unprepared(sql).await?;
    }
    Ok(())
}
