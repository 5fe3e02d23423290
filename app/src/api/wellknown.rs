//! `/.well-known/jwks.json`: the public keys resource servers verify access tokens with.

use poem::web::Data;
use poem_openapi::param::Header;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::ApiTags;
use crate::edge::AppState;

pub struct KeysApi;

/// A public RSA signing key (RFC 7517).
#[derive(Debug, Object)]
#[oai(example)]
pub struct Jwk {
    /// Always `RSA`.
    pub kty: String,
    /// Key id: the RFC 7638 thumbprint; tokens name it in their header.
    pub kid: String,
    /// Always `sig`.
    #[oai(rename = "use")]
    pub use_: String,
    /// Always `RS256`.
    pub alg: String,
    /// Modulus, base64url.
    pub n: String,
    /// Exponent, base64url.
    pub e: String,
}

/// A JWK set (RFC 7517 §5).
#[derive(Debug, Object)]
#[oai(example)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

#[derive(ApiResponse)]
pub enum JwksResponse {
    /// The keys that may have signed a live access token, and the next key before it
    /// signs. Cache for `max-age`; on an unknown `kid`, fetch again.
    #[oai(status = 200)]
    Ok(
        Json<Jwks>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "ETag")] String,
    ),
    /// The keys are unchanged since the `ETag` given in `If-None-Match`.
    #[oai(status = 304)]
    NotModified(
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "ETag")] String,
    ),
}

#[OpenApi(tag = "ApiTags::Keys")]
impl KeysApi {
    /// JSON Web Key Set
    ///
    /// Public keys for verifying access tokens offline (RS256; select by `kid`).
    #[oai(
        path = "/.well-known/jwks.json",
        method = "get",
        operation_id = "getJwks"
    )]
    async fn jwks(
        &self,
        state: Data<&AppState>,
        /// An `ETag` from an earlier answer: 304 when the keys have not changed.
        #[oai(name = "If-None-Match")]
        if_none_match: Header<Option<String>>,
    ) -> JwksResponse {
        let ring = state.keys.snapshot();
        let cache = format!("public, max-age={}", state.jwks_max_age_secs);
        let etag = ring.etag().to_owned();
        let matches = if_none_match.0.as_deref().is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == etag || t.trim() == "*")
        });
        if matches {
            return JwksResponse::NotModified(cache, etag);
        }
        let keys = ring
            .jwks()
            .iter()
            .map(|k| Jwk {
                kty: k.kty.clone(),
                kid: k.kid.clone(),
                use_: k.use_.clone(),
                alg: k.alg.clone(),
                n: k.n.clone(),
                e: k.e.clone(),
            })
            .collect();
        JwksResponse::Ok(Json(Jwks { keys }), cache, etag)
    }
}
