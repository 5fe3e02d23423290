//! Tessera's schema, written once for SQLite, PostgreSQL and MySQL/MariaDB.
//!
//! Portable choices: identifiers are UUID strings (36 chars), instants are UNIX
//! milliseconds in BIGINT (no dialect's timestamp quirks: MySQL's 2038 limit, SQLite's
//! text dates), and uniqueness that must be case-insensitive is enforced on a lowercase
//! key column rather than a collation.

mod m0001_initial;
mod m0002_binary_username_key;
mod m0003_email;
mod m0004_second_factors;
mod m0005_oidc;
mod m0006_step_up;
mod m0007_oidc_ii;
mod m0008_device_grants;
mod schema;

use sea_orm_migration::prelude::*;

use m0001_initial::M0001Initial;
use m0002_binary_username_key::M0002BinaryUsernameKey;
use m0003_email::M0003Email;
use m0004_second_factors::M0004SecondFactors;
use m0005_oidc::M0005Oidc;
use m0006_step_up::M0006StepUp;
use m0007_oidc_ii::M0007OidcIi;
use m0008_device_grants::M0008DeviceGrants;

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
            Box::new(M0006StepUp),
            Box::new(M0007OidcIi),
            Box::new(M0008DeviceGrants),
        ]
    }
}
