//! In-memory fakes of every port the use cases depend on, and a [`World`] that wires
//! them into the services: the decisions that matter, in milliseconds, without HTTP,
//! SQL, RSA, argon2 or real cryptography. Compiled for the domain's own tests and,
//! with the `testing` feature, for other crates' tests:
//!
//! ```toml
//! [dev-dependencies]
//! tessera-domain = { workspace = true, features = ["testing"] }
//! ```
//!
//! The fakes keep what tests need to look at (the outbox, the audit trail, the rules)
//! and a shared [`Journal`] of the writes whose order matters. Where a real adapter's
//! cryptography would stand in the way, the fake is deterministic instead:
//! [`FakeTotp`] computes codes a test can compute too, [`ScriptedWebAuthn`] accepts the
//! credentials [`ScriptedWebAuthn::credential`] builds, and [`PlainHasher`] "hashes" a
//! password by prefixing it. None of them is fit for production.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod clients;
mod crypto;
mod factors;
mod stores;
mod world;

use std::sync::{Arc, Mutex};

pub use clients::Clients;
pub use crypto::{FakeIdTokens, FakeSealer, FakeTotp, JsonTokens, PlainHasher, ScriptedWebAuthn};
pub use factors::{Challenges, Factors};
pub use stores::{Audit, Mails, Rules, Sessions, Users};
pub use world::{PASSWORD, World, WorldBuilder};

/// The writes whose order tests assert, as the fakes describe them
/// (`"store: session ended"`, `"rule: session"`, …).
pub type Journal = Arc<Mutex<Vec<String>>>;

fn note(journal: &Journal, what: impl Into<String>) {
    journal.lock().unwrap().push(what.into());
}
