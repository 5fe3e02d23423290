//! Registered clients, authorization codes and remembered consent, in memory.

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::oidc::{
    AuthorizationCode, ClientId, ClientStore, Consent, DeviceGrant, DeviceGrantState, OAuthClient,
    Scopes, UserCode,
};
use crate::ports::StoreError;
use crate::session::SessionId;
use crate::user::UserId;

struct Code {
    code: AuthorizationCode,
    used_at: Option<DateTime<Utc>>,
}

struct Given {
    user: UserId,
    client: ClientId,
    scopes: Scopes,
    granted_at: DateTime<Utc>,
}

/// Clients, codes (single use, by the digest of the code) and consents.
#[derive(Default)]
pub struct Clients {
    clients: Mutex<Vec<OAuthClient>>,
    codes: Mutex<Vec<Code>>,
    consents: Mutex<Vec<Given>>,
    /// Device grants with the instant of their last poll.
    devices: Mutex<Vec<(DeviceGrant, Option<DateTime<Utc>>)>>,
}

impl Clients {
    /// The code stored under `hash`, and whether it was used.
    pub fn code(&self, hash: &str) -> Option<(AuthorizationCode, bool)> {
        let codes = self.codes.lock().unwrap();
        let c = codes.iter().find(|c| c.code.hash == hash)?;
        Some((c.code.clone(), c.used_at.is_some()))
    }
}

#[async_trait]
impl ClientStore for Clients {
    async fn create_client(&self, client: &OAuthClient) -> Result<(), StoreError> {
        let mut clients = self.clients.lock().unwrap();
        if clients.iter().any(|c| c.id == client.id) {
            return Err(StoreError::Conflict);
        }
        clients.push(client.clone());
        Ok(())
    }
    async fn find_client(&self, id: ClientId) -> Result<Option<OAuthClient>, StoreError> {
        let clients = self.clients.lock().unwrap();
        Ok(clients.iter().find(|c| c.id == id).cloned())
    }
    async fn list_clients(&self) -> Result<Vec<OAuthClient>, StoreError> {
        Ok(self.clients.lock().unwrap().clone())
    }
    async fn delete_client(&self, id: ClientId) -> Result<bool, StoreError> {
        self.codes.lock().unwrap().retain(|c| c.code.client != id);
        self.consents.lock().unwrap().retain(|c| c.client != id);
        let mut clients = self.clients.lock().unwrap();
        let was = clients.len();
        clients.retain(|c| c.id != id);
        Ok(clients.len() < was)
    }
    async fn put_code(&self, code: &AuthorizationCode) -> Result<(), StoreError> {
        self.codes.lock().unwrap().push(Code {
            code: code.clone(),
            used_at: None,
        });
        Ok(())
    }
    async fn redeem_code(
        &self,
        hash: &str,
        now: DateTime<Utc>,
        session: SessionId,
    ) -> Result<Option<(AuthorizationCode, bool)>, StoreError> {
        let mut codes = self.codes.lock().unwrap();
        let Some(c) = codes.iter_mut().find(|c| c.code.hash == hash) else {
            return Ok(None);
        };
        let first = c.used_at.is_none();
        if first {
            c.used_at = Some(now);
            c.code.session = Some(session);
        }
        Ok(Some((c.code.clone(), first)))
    }
    async fn purge_codes(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut codes = self.codes.lock().unwrap();
        let was = codes.len();
        codes.retain(|c| c.code.expires_at >= now);
        Ok((was - codes.len()) as u64)
    }
    async fn consent(&self, user: UserId, client: ClientId) -> Result<Option<Scopes>, StoreError> {
        let consents = self.consents.lock().unwrap();
        Ok(consents
            .iter()
            .find(|c| c.user == user && c.client == client)
            .map(|c| c.scopes.clone()))
    }
    async fn grant_consent(
        &self,
        user: UserId,
        client: ClientId,
        scopes: &Scopes,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut consents = self.consents.lock().unwrap();
        consents.retain(|c| !(c.user == user && c.client == client));
        consents.push(Given {
            user,
            client,
            scopes: scopes.clone(),
            granted_at: now,
        });
        Ok(())
    }
    async fn revoke_consent(&self, user: UserId, client: ClientId) -> Result<bool, StoreError> {
        let mut consents = self.consents.lock().unwrap();
        let was = consents.len();
        consents.retain(|c| !(c.user == user && c.client == client));
        Ok(consents.len() < was)
    }
    async fn consents(&self, user: UserId) -> Result<Vec<Consent>, StoreError> {
        let consents = self.consents.lock().unwrap();
        let clients = self.clients.lock().unwrap();
        Ok(consents
            .iter()
            .rev()
            .filter(|c| c.user == user)
            .filter_map(|c| {
                let client = clients.iter().find(|k| k.id == c.client)?;
                Some(Consent {
                    client: c.client,
                    client_name: client.name.clone(),
                    scopes: c.scopes.clone(),
                    granted_at: c.granted_at,
                })
            })
            .collect())
    }
    async fn put_device_grant(&self, grant: &DeviceGrant) -> Result<(), StoreError> {
        let mut devices = self.devices.lock().unwrap();
        if devices.iter().any(|(g, _)| g.user_code == grant.user_code) {
            return Err(StoreError::Conflict);
        }
        devices.push((grant.clone(), None));
        Ok(())
    }
    async fn device_grant_by_user_code(
        &self,
        code: &UserCode,
    ) -> Result<Option<DeviceGrant>, StoreError> {
        let devices = self.devices.lock().unwrap();
        Ok(devices
            .iter()
            .find(|(g, _)| &g.user_code == code)
            .map(|(g, _)| g.clone()))
    }
    async fn poll_device_grant(
        &self,
        device_code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(DeviceGrant, Option<DateTime<Utc>>)>, StoreError> {
        let mut devices = self.devices.lock().unwrap();
        Ok(devices
            .iter_mut()
            .find(|(g, _)| g.device_code_hash == device_code_hash)
            .map(|(g, polled)| (g.clone(), polled.replace(now))))
    }
    async fn decide_device_grant(
        &self,
        code: &UserCode,
        to: &DeviceGrantState,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut devices = self.devices.lock().unwrap();
        let Some((g, _)) = devices.iter_mut().find(|(g, _)| &g.user_code == code) else {
            return Ok(false);
        };
        if g.state != DeviceGrantState::Pending || now >= g.expires_at {
            return Ok(false);
        }
        g.state = to.clone();
        Ok(true)
    }
    async fn use_device_grant(&self, device_code_hash: &str) -> Result<bool, StoreError> {
        let mut devices = self.devices.lock().unwrap();
        let Some((g, _)) = devices
            .iter_mut()
            .find(|(g, _)| g.device_code_hash == device_code_hash)
        else {
            return Ok(false);
        };
        if !matches!(g.state, DeviceGrantState::Approved { .. }) {
            return Ok(false);
        }
        g.state = DeviceGrantState::Used;
        Ok(true)
    }
    async fn purge_device_grants(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut devices = self.devices.lock().unwrap();
        let was = devices.len();
        devices.retain(|(g, _)| g.expires_at >= now);
        Ok((was - devices.len()) as u64)
    }
}
