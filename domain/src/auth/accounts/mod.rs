//! [`Accounts`]: who may have an account and prove it ([`credentials`]), refresh-token
//! rotation ([`refresh`]), the signed-in caller's account and sessions ([`account`]),
//! what administrators do with accounts and the audit trail ([`admin`]), and RFC 7009
//! revocation and RFC 7662 introspection ([`oauth`]).

mod account;
mod admin;
mod credentials;
mod oauth;
mod refresh;

use super::*;

/// Accounts, sessions and tokens.
///
/// It holds the [`SecondFactors`], because a right password opens a second step when a
/// factor is enrolled, and the [`EmailFlows`], because a registration with an address
/// mails its verification link.
#[derive(Clone)]
pub struct Accounts {
    core: Core,
    factors: SecondFactors,
    email: EmailFlows,
}

impl Accounts {
    pub fn new(core: Core, factors: SecondFactors, email: EmailFlows) -> Self {
        Self {
            core,
            factors,
            email,
        }
    }

    pub fn core(&self) -> &Core {
        &self.core
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.core.now()
    }
}
