//! Tessera's shared security state, in process or in Redis: the revocation list every
//! protected request is checked against (`rules`, answered from memory; `memory` and
//! `redis::revocations` keep it current) and the rate limits (`memory_limits`,
//! `redis::limits`).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod follower;
mod memory;
mod memory_limits;
mod redis;
mod rules;

pub use memory::MemoryRevocationList;
pub use memory_limits::{ClientQuota, ClientQuotas, MemoryRateLimiter};
pub use redis::delete_prefix;
pub use redis::limits::RedisRateLimiter;
pub use redis::revocations::RedisRevocationList;
