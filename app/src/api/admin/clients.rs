//! `/v1/admin/clients*`: the OpenID provider's registered applications.

use chrono::{DateTime, Utc};
use poem::Request;
use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Enum, Object, OpenApi};
use tessera_domain::oidc::{GrantType, NewClient, OAuthClient};
use uuid::Uuid;

use super::ListResponse;
use crate::api::responses::{answer, answers, bad_request};
use crate::api::{AdminAuth, ApiTags};
use crate::edge::{AppState, client_info};

/// `/v1/admin/clients*` operations.
pub struct AdminClientsApi;

answers! {
    /// The answer of `createClient`.
    #[oai(bad_request_handler = "bad_request")]
    CreateClientResponse {
        /// Registered. A confidential client's `client_secret` is in this answer only.
        #[oai(status = 201)]
        Created(Json<RegisteredClient>),
    }
    problems {
        bearer Unauthorized,
        admin Forbidden,
        /// The body is not the expected JSON (`invalid_request`).
        400 BadRequest,
        /// The description breaks a rule (`invalid_client_metadata`).
        422 Invalid,
        down Unavailable,
    }
}

answers! {
    /// The answer of `deleteClient`.
    #[oai(bad_request_handler = "bad_request")]
    DeleteClientResponse {
        /// Deleted, with its codes and consents.
        #[oai(status = 204)]
        Deleted,
    }
    problems {
        bearer Unauthorized,
        admin Forbidden,
        /// The id is not a UUID (`invalid_request`).
        400 BadRequest,
        /// No client has this id (`client_not_found`).
        404 NotFound,
        down Unavailable,
    }
}

/// An OAuth 2.0 grant type a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "GrantType", rename_all = "snake_case")]
pub enum GrantTypeView {
    /// Sign users in (with PKCE S256).
    AuthorizationCode,
    /// Refresh the tokens of a signed-in user.
    RefreshToken,
    /// Service tokens for the client itself (confidential clients only).
    ClientCredentials,
    /// RFC 8628: a device without a browser; the person approves on `/device`.
    DeviceCode,
}

impl From<GrantType> for GrantTypeView {
    fn from(g: GrantType) -> Self {
        match g {
            GrantType::AuthorizationCode => Self::AuthorizationCode,
            GrantType::RefreshToken => Self::RefreshToken,
            GrantType::ClientCredentials => Self::ClientCredentials,
            GrantType::DeviceCode => Self::DeviceCode,
        }
    }
}

impl From<GrantTypeView> for GrantType {
    fn from(g: GrantTypeView) -> Self {
        match g {
            GrantTypeView::AuthorizationCode => Self::AuthorizationCode,
            GrantTypeView::RefreshToken => Self::RefreshToken,
            GrantTypeView::ClientCredentials => Self::ClientCredentials,
            GrantTypeView::DeviceCode => Self::DeviceCode,
        }
    }
}

fn default_grants() -> Vec<GrantTypeView> {
    vec![
        GrantTypeView::AuthorizationCode,
        GrantTypeView::RefreshToken,
    ]
}

fn default_scopes() -> String {
    "openid profile email".into()
}

/// An app or service to register as an OAuth client.
#[derive(Debug, Object)]
#[oai(rename = "NewClient", example)]
pub struct NewClientBody {
    /// Shown to people on the consent page.
    #[oai(validator(min_length = 1, max_length = 100))]
    pub name: String,
    /// Exact redirect URIs (https, or http on a loopback host; no fragment).
    #[oai(default, validator(max_items = 20))]
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser afterwards.
    #[oai(default, validator(max_items = 20))]
    pub post_logout_redirect_uris: Vec<String>,
    /// Default: `authorization_code` and `refresh_token`.
    #[oai(default = "default_grants")]
    pub grant_types: Vec<GrantTypeView>,
    /// Space-separated, among `openid profile email` (the default).
    #[oai(default = "default_scopes", validator(max_length = 64))]
    pub scopes: String,
    /// A public client (a browser or native app) has no secret and must use PKCE.
    #[oai(default)]
    pub public: bool,
    /// One of your own apps: its users are not asked for consent, and its tokens are for
    /// Tessera's API (`aud` as for a sign-in of Tessera's own, with the user's roles).
    #[oai(default)]
    pub first_party: bool,
    /// The resource a third-party app's tokens are for (RFC 8707): their `aud`, beside
    /// UserInfo, and what the `resource` parameter may name. An absolute URI such as
    /// `https://api.example.com`. Without one, a third-party app's tokens are for
    /// UserInfo only. Their tokens never carry Tessera's own audience nor the user's roles.
    #[oai(validator(max_length = 512))]
    pub audience: Option<String>,
    /// Where Tessera POSTs a logout token (OpenID Connect Back-Channel Logout 1.0) when
    /// a session of this client ends: a logout, signing out everywhere, a password reset,
    /// an administrator's disabling, the user removing the app's access. https, or http
    /// on a loopback host; no query.
    #[oai(validator(max_length = 512))]
    pub backchannel_logout_uri: Option<String>,
    /// The client needs `sid` in logout tokens (Tessera always sends it).
    #[oai(default)]
    pub backchannel_logout_session_required: bool,
}

impl poem_openapi::types::Example for NewClientBody {
    fn example() -> Self {
        Self {
            name: "Billing dashboard".into(),
            redirect_uris: vec!["https://billing.example.com/callback".into()],
            post_logout_redirect_uris: vec!["https://billing.example.com/".into()],
            grant_types: default_grants(),
            scopes: default_scopes(),
            public: false,
            first_party: false,
            audience: Some("https://billing.example.com/api".into()),
            backchannel_logout_uri: Some("https://billing.example.com/backchannel-logout".into()),
            backchannel_logout_session_required: true,
        }
    }
}

/// A registered OAuth client (never its secret).
#[derive(Debug, Object)]
#[oai(rename = "Client", example)]
pub struct ClientView {
    pub client_id: Uuid,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantTypeView>,
    /// Space-separated.
    pub scopes: String,
    pub public: bool,
    pub first_party: bool,
    /// The resource its tokens are for, beside UserInfo.
    #[oai(skip_serializing_if_is_none)]
    pub audience: Option<String>,
    /// Where logout tokens are POSTed when a session of it ends.
    #[oai(skip_serializing_if_is_none)]
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    pub created_at: DateTime<Utc>,
}

impl From<&OAuthClient> for ClientView {
    fn from(c: &OAuthClient) -> Self {
        Self {
            client_id: c.id.0,
            name: c.name.clone(),
            redirect_uris: c.redirect_uris.clone(),
            post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
            grant_types: c.grant_types.iter().map(|g| (*g).into()).collect(),
            scopes: c.scopes.join(),
            public: c.is_public(),
            first_party: c.first_party,
            audience: c.audience.clone(),
            backchannel_logout_uri: c.backchannel_logout_uri.clone(),
            backchannel_logout_session_required: c.backchannel_logout_session_required,
            created_at: c.created_at,
        }
    }
}

impl poem_openapi::types::Example for ClientView {
    /// The example registration, as registered.
    fn example() -> Self {
        let body = NewClientBody::example();
        Self {
            client_id: Uuid::nil(),
            name: body.name,
            redirect_uris: body.redirect_uris,
            post_logout_redirect_uris: body.post_logout_redirect_uris,
            grant_types: body.grant_types,
            scopes: body.scopes,
            public: body.public,
            first_party: body.first_party,
            audience: body.audience,
            backchannel_logout_uri: body.backchannel_logout_uri,
            backchannel_logout_session_required: body.backchannel_logout_session_required,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }
}

/// A client just registered: its secret, if confidential, is shown this once.
#[derive(Debug, Object)]
#[oai(rename = "RegisteredClient", example)]
pub struct RegisteredClient {
    #[oai(flatten)]
    pub client: ClientView,
    /// The confidential client's secret (43 characters). Stored only as a digest.
    #[oai(skip_serializing_if_is_none)]
    pub client_secret: Option<String>,
}

impl poem_openapi::types::Example for RegisteredClient {
    fn example() -> Self {
        Self {
            client: ClientView::example(),
            client_secret: Some("kq3mF0s7Jv9Xz1cR5tY8uW2eA4dG6hL0nP3bV5xZ7cQ".into()),
        }
    }
}

/// Turns an API description into the domain's, checked there.
fn new_client(body: NewClientBody) -> NewClient {
    NewClient {
        name: body.name,
        redirect_uris: body.redirect_uris,
        post_logout_redirect_uris: body.post_logout_redirect_uris,
        grant_types: body.grant_types.into_iter().map(Into::into).collect(),
        scopes: body.scopes,
        public: body.public,
        first_party: body.first_party,
        audience: body.audience,
        backchannel_logout_uri: body.backchannel_logout_uri,
        backchannel_logout_session_required: body.backchannel_logout_session_required,
    }
}

#[OpenApi(prefix_path = "/v1/admin", tag = "ApiTags::Admin")]
impl AdminClientsApi {
    /// Register an OAuth client
    ///
    /// An app that signs its users in through Tessera (authorization code + PKCE), or a
    /// service that gets tokens of its own (`client_credentials`). A confidential
    /// client's secret is in this answer only. Audited as `client_created`.
    #[oai(path = "/clients", method = "post", operation_id = "createClient")]
    async fn create_client(
        &self,
        state: Data<&AppState>,
        req: &Request,
        _auth: AdminAuth,
        body: Json<NewClientBody>,
    ) -> poem::Result<CreateClientResponse> {
        match state
            .oidc
            .create_client(new_client(body.0), &client_info(req))
            .await
        {
            Ok((client, secret)) => Ok(CreateClientResponse::Created(Json(RegisteredClient {
                client: ClientView::from(&client),
                client_secret: secret.map(|s| s.expose().to_owned()),
            }))),
            Err(e) => answer(e),
        }
    }

    /// List OAuth clients
    ///
    /// Every registered client, oldest first (never a secret).
    #[oai(path = "/clients", method = "get", operation_id = "listClients")]
    async fn list_clients(
        &self,
        state: Data<&AppState>,
        _auth: AdminAuth,
    ) -> poem::Result<ListResponse<Vec<ClientView>>> {
        match state.oidc.clients().await {
            Ok(clients) => Ok(ListResponse::Ok(Json(
                clients.iter().map(ClientView::from).collect(),
            ))),
            Err(e) => answer(e),
        }
    }

    /// Delete an OAuth client
    ///
    /// The client can no longer sign anyone in or refresh; its codes and the consents
    /// given to it go too. Access tokens it holds expire on their own. Audited as
    /// `client_deleted`.
    #[oai(
        path = "/clients/:client_id",
        method = "delete",
        operation_id = "deleteClient"
    )]
    async fn delete_client(
        &self,
        state: Data<&AppState>,
        req: &Request,
        _auth: AdminAuth,
        /// The client's id.
        client_id: Path<Uuid>,
    ) -> poem::Result<DeleteClientResponse> {
        match state
            .oidc
            .delete_client(&client_id.0.to_string(), &client_info(req))
            .await
        {
            Ok(()) => Ok(DeleteClientResponse::Deleted),
            Err(e) => answer(e),
        }
    }
}
