//! `/healthz` (the process answers) and `/readyz` (its dependencies do).

use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use crate::edge::AppState;

pub struct HealthApi;

/// Liveness.
#[derive(Debug, Object)]
#[oai(example)]
pub struct Health {
    /// `ok`.
    pub status: String,
}

/// Readiness, naming each dependency.
#[derive(Debug, Object)]
#[oai(example)]
pub struct Readiness {
    /// `ok` or `unavailable`.
    pub status: String,
    /// The SQL store answers.
    pub store: String,
    /// The revocation list can vouch for its answers.
    pub revocation: String,
    /// A signing key is loaded.
    pub signing_key: String,
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// The process is up.
    #[oai(status = 200)]
    Ok(Json<Health>),
}

#[derive(ApiResponse)]
pub enum ReadyResponse {
    /// Ready to serve.
    #[oai(status = 200)]
    Ok(Json<Readiness>),
    /// A dependency is down; the body names it.
    #[oai(status = 503)]
    Unavailable(Json<Readiness>),
}

fn word(ok: bool) -> String {
    if ok { "ok" } else { "unavailable" }.to_owned()
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Liveness
    ///
    /// Answers as long as the process serves HTTP; it checks no dependency, so an
    /// orchestrator restarts the process only when the process itself is stuck.
    #[oai(path = "/healthz", method = "get", operation_id = "getHealth")]
    async fn healthz(&self) -> HealthResponse {
        HealthResponse::Ok(Json(Health {
            status: "ok".into(),
        }))
    }

    /// Readiness
    ///
    /// Checks the store, the revocation list and the signing key.
    #[oai(path = "/readyz", method = "get", operation_id = "getReadiness")]
    async fn readyz(&self, state: Data<&AppState>) -> ReadyResponse {
        let store = state.store_health.ping().await.is_ok();
        let revocation = state.revocations.check_ready().await.is_ok();
        let key = state.keys_admin.can_sign();
        let all = store && revocation && key;
        let body = Json(Readiness {
            status: if all { "ok" } else { "unavailable" }.into(),
            store: word(store),
            revocation: word(revocation),
            signing_key: word(key),
        });
        if all {
            ReadyResponse::Ok(body)
        } else {
            ReadyResponse::Unavailable(body)
        }
    }
}
