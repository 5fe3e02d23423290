//! OpenID Connect and OAuth 2.1: the apps and machines registered as clients, the scopes
//! Tessera grants, authorization codes bound to PKCE, remembered consent, and the store
//! they live in. The flows themselves are use cases in `auth::oidc`.

use std::fmt;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

use crate::mfa::AuthMethod;
use crate::ports::StoreError;
use crate::session::SessionId;
use crate::user::UserId;

/// A registered client's id: a UUID, which is also the `sub` of its own service tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientId(pub Uuid);

impl ClientId {
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Uuid::parse_str(raw).ok().map(Self)
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The built-in public client of the API explorer at `/docs` (Swagger UI's Authorize
/// dialog signs in through Tessera with it).
pub const DOCS_CLIENT_ID: ClientId =
    ClientId(Uuid::from_u128(0x7e55_e7a0_d0c5_4000_8000_0000_0000_0001));

/// What a client may ask the token endpoint for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
    /// RFC 8628: a device without a browser; the person approves on another one.
    DeviceCode,
}

impl GrantType {
    pub const ALL: [Self; 4] = [
        Self::AuthorizationCode,
        Self::RefreshToken,
        Self::ClientCredentials,
        Self::DeviceCode,
    ];

    /// The name at the token endpoint (RFC 8628 §3.4 names the device grant by URN).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
        }
    }

    /// A grant by its name at the token endpoint, or (for the device grant) by its
    /// short name `device_code`, as the CLI and the admin API spell it.
    pub fn parse(s: &str) -> Option<Self> {
        if s == "device_code" {
            return Some(Self::DeviceCode);
        }
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }
}

/// The scopes Tessera grants: `openid` (an ID token), `profile` (`preferred_username`),
/// `email` (`email`, `email_verified`).
pub const SCOPES: [&str; 3] = ["openid", "profile", "email"];

/// A set of scopes, in the order of [`SCOPES`], each once.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scopes(Vec<&'static str>);

impl Scopes {
    /// A space-separated list (RFC 6749 §3.3).
    ///
    /// # Errors
    /// The first scope Tessera does not know.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let mut found = Vec::new();
        for word in raw.split(' ').filter(|w| !w.is_empty()) {
            let known = SCOPES
                .into_iter()
                .find(|s| *s == word)
                .ok_or_else(|| word.to_owned())?;
            if !found.contains(&known) {
                found.push(known);
            }
        }
        found.sort_by_key(|s| SCOPES.iter().position(|k| k == s));
        Ok(Self(found))
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(&scope)
    }

    /// Both sets' scopes, in the usual order.
    #[must_use]
    pub fn union(&self, other: &Self) -> Self {
        let mut all = self.0.clone();
        all.extend(other.0.iter().filter(|s| !self.0.contains(s)));
        all.sort_by_key(|s| SCOPES.iter().position(|k| k == s));
        Self(all)
    }

    pub fn covers(&self, other: &Self) -> bool {
        other.0.iter().all(|s| self.0.contains(s))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.0.iter().copied()
    }

    pub fn join(&self) -> String {
        self.0.join(" ")
    }
}

/// What a session of a registered client was granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthGrant {
    pub client: ClientId,
    pub scopes: Scopes,
}

/// A registered client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthClient {
    pub id: ClientId,
    pub name: String,
    /// The digest of a confidential client's secret; `None` for a public client, which
    /// authenticates by PKCE alone.
    pub secret_hash: Option<String>,
    /// Exact redirect URIs: an authorization request must name one of these, byte for byte.
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser afterwards.
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Scopes,
    /// Tessera's own apps: no consent page, and tokens for Tessera's API.
    pub first_party: bool,
    /// The resource (RFC 8707) a third-party app's tokens are for, as an administrator
    /// set it: their `aud`, beside UserInfo. `None`: UserInfo only.
    pub audience: Option<String>,
    /// Where Tessera POSTs a logout token when a session of this client ends (OpenID
    /// Connect Back-Channel Logout 1.0).
    pub backchannel_logout_uri: Option<String>,
    /// Whether the client needs `sid` in the logout token (it always gets one here).
    pub backchannel_logout_session_required: bool,
    pub created_at: DateTime<Utc>,
}

impl OAuthClient {
    /// The registered redirect URI `requested` names: byte for byte (RFC 9700 §4.1.3),
    /// except that a loopback IP redirect may name any port (RFC 8252 §7.3: a native
    /// app listens on whichever port it got).
    pub fn redirect_uri_for(&self, requested: &str) -> Option<String> {
        self.redirect_uris
            .iter()
            .any(|r| r == requested || same_but_loopback_port(r, requested))
            .then(|| requested.to_owned())
    }

    pub fn is_public(&self) -> bool {
        self.secret_hash.is_none()
    }

    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

/// A client as an administrator describes it.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub scopes: String,
    pub public: bool,
    pub first_party: bool,
    /// See [`OAuthClient::audience`].
    pub audience: Option<String>,
    /// See [`OAuthClient::backchannel_logout_uri`].
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
}

/// Why a client description was refused; the message is safe to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidClient(pub String);

impl NewClient {
    /// Checks the description before anything is stored.
    ///
    /// # Errors
    /// [`InvalidClient`] naming the first rule broken.
    pub fn validate(&self) -> Result<Scopes, InvalidClient> {
        let bad = |s: String| Err(InvalidClient(s));
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return bad("a client's name is 1 to 100 characters, no control characters".into());
        }
        if self.grant_types.is_empty() {
            return bad("give at least one grant type".into());
        }
        if self.public && self.grant_types.contains(&GrantType::ClientCredentials) {
            return bad("a public client has no secret, so no client_credentials grant".into());
        }
        if self.grant_types.contains(&GrantType::AuthorizationCode) && self.redirect_uris.is_empty()
        {
            return bad("the authorization_code grant needs at least one redirect URI".into());
        }
        for uri in self
            .redirect_uris
            .iter()
            .chain(&self.post_logout_redirect_uris)
        {
            check_redirect_uri(uri).map_err(InvalidClient)?;
        }
        if let Some(aud) = &self.audience {
            check_audience(aud).map_err(InvalidClient)?;
        }
        if let Some(uri) = &self.backchannel_logout_uri {
            // An https URL, or http on loopback, as for redirects; never a query
            // parameter that could be mistaken for the token (§2.2).
            if !uri.starts_with("http") || uri.contains('?') {
                return bad(format!(
                    "{uri:?} is not a back-channel logout URI Tessera accepts"
                ));
            }
            check_redirect_uri(uri).map_err(InvalidClient)?;
        }
        if self.redirect_uris.len() + self.post_logout_redirect_uris.len() > 20 {
            return bad("at most 20 redirect URIs".into());
        }
        Scopes::parse(&self.scopes).map_err(|s| InvalidClient(format!("unknown scope {s:?}")))
    }
}

/// A resource a client's tokens may be for (RFC 8707 §2): an absolute URI without a
/// fragment, as resource servers compare `aud` byte for byte.
fn check_audience(aud: &str) -> Result<(), String> {
    let ok = aud.len() <= 512
        && !aud.contains('#')
        && !aud.chars().any(|c| c.is_whitespace() || c.is_control())
        && aud.split_once(':').is_some_and(|(scheme, rest)| {
            !rest.is_empty()
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{aud:?} is not an audience Tessera accepts: an absolute URI such as \
             https://api.example.com, without a fragment"
        ))
    }
}

/// Whether `a` and `b` are the same `http` loopback IP literal redirect (127.0.0.1 or
/// [::1], not `localhost`: RFC 8252 §8.3) but perhaps for the port.
fn same_but_loopback_port(a: &str, b: &str) -> bool {
    fn split(uri: &str) -> Option<(&str, &str)> {
        let rest = uri.strip_prefix("http://")?;
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let host = match authority.rsplit_once(':') {
            Some((h, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => h,
            Some(_) => return None,
            None => authority,
        };
        matches!(host, "127.0.0.1" | "[::1]").then_some((host, tail))
    }
    matches!((split(a), split(b)), (Some(x), Some(y)) if x == y)
}

/// A private-use URI scheme of a native app (RFC 8252 §7.1): a reverse domain name such
/// as `com.example.app`, so that no two apps claim the same one.
fn is_private_use_scheme(scheme: &str) -> bool {
    scheme.contains('.')
        && !scheme.starts_with('.')
        && !scheme.ends_with('.')
        && scheme.starts_with(|c: char| c.is_ascii_lowercase())
        && scheme
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}

/// A redirect URI a client may register (RFC 9700 §2.1, OAuth 2.1 §2.3.1): absolute,
/// without a fragment; https, or http on a loopback host (native and development apps).
fn check_redirect_uri(uri: &str) -> Result<(), String> {
    let bad = || format!("{uri:?} is not a redirect URI Tessera accepts");
    if uri.len() > 512 || uri.contains('#') || uri.chars().any(|c| c.is_whitespace()) {
        return Err(bad());
    }
    // A native app's private-use scheme: `com.example.app:/callback`.
    if let Some((scheme, rest)) = uri.split_once(':')
        && is_private_use_scheme(scheme)
    {
        return if rest.starts_with('/') && rest.len() > 1 && !rest.starts_with("//") {
            Ok(())
        } else {
            Err(bad())
        };
    }
    let Some((scheme, rest)) = uri.split_once("://") else {
        return Err(bad());
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => authority,
    };
    if host.is_empty() || authority.contains('@') {
        return Err(bad());
    }
    let loopback = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
    match scheme {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(bad()),
    }
}

crate::opaque::opaque_secret! {
    /// A client secret as handed out once: 256 random bits, base64url.
    ClientSecret
}

impl ClientSecret {
    /// # Errors
    /// Only when the OS has no randomness to give.
    pub fn generate() -> anyhow::Result<Self> {
        crate::opaque::random().map(Self)
    }

    /// What the store keeps.
    pub fn hash_of(raw: &str) -> String {
        crate::opaque::digest(raw)
    }
}

/// How long an authorization code lives: long enough for a redirect and a token request.
pub const CODE_TTL: TimeDelta = TimeDelta::seconds(60);

/// An authorization code as the store keeps it (by the digest of the code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationCode {
    pub hash: String,
    pub client: ClientId,
    pub user: UserId,
    pub redirect_uri: String,
    pub scopes: Scopes,
    pub nonce: Option<String>,
    /// PKCE S256 challenge (RFC 7636), base64url.
    pub code_challenge: String,
    /// When the user authenticated, and how (for the ID token).
    pub auth_time: DateTime<Utc>,
    pub amr: Vec<AuthMethod>,
    pub expires_at: DateTime<Utc>,
    /// The session the first exchange started: a second exchange ends it.
    pub session: Option<SessionId>,
}

/// How long a device authorization lasts (RFC 8628 §3.2 `expires_in`).
pub const DEVICE_GRANT_TTL: TimeDelta = TimeDelta::minutes(10);
/// The least time between two polls of a device (§3.2 `interval`); faster is `slow_down`.
pub const DEVICE_POLL_INTERVAL: TimeDelta = TimeDelta::seconds(5);

/// A user code (RFC 8628 §6.1): 8 letters from 20 consonants (no vowels, so no words;
/// about 34 bits), typed by a person on another device and shown as `XXXX-XXXX`.
#[derive(Clone, PartialEq, Eq)]
pub struct UserCode(String);

impl UserCode {
    const ALPHABET: &'static [u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

    /// # Errors
    /// Only when the OS has no randomness to give.
    pub fn generate() -> anyhow::Result<Self> {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
        // 256 is not a multiple of 20: redraw the bytes that would bias the choice.
        let mut code = String::with_capacity(8);
        let mut fresh = [0u8; 1];
        for mut b in bytes {
            while b >= 240 {
                getrandom::fill(&mut fresh)
                    .map_err(|e| anyhow::anyhow!("no OS randomness: {e}"))?;
                b = fresh[0];
            }
            code.push(char::from(Self::ALPHABET[usize::from(b % 20)]));
        }
        Ok(Self(code))
    }

    /// What a person typed: case, spaces and dashes do not matter.
    pub fn parse(raw: &str) -> Option<Self> {
        let code: String = raw
            .chars()
            .filter(|c| !matches!(c, '-' | ' ' | '\u{2010}'..='\u{2015}'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        (code.len() == 8 && code.bytes().all(|b| Self::ALPHABET.contains(&b))).then_some(Self(code))
    }

    /// The 8 letters, as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `XXXX-XXXX`, as shown.
    pub fn display(&self) -> String {
        format!("{}-{}", &self.0[..4], &self.0[4..])
    }
}

impl fmt::Debug for UserCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UserCode(…)")
    }
}

/// Where a device authorization stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceGrantState {
    Pending,
    /// The person approved; how and when they signed in goes into the tokens.
    Approved {
        user: UserId,
        auth_time: DateTime<Utc>,
        amr: Vec<AuthMethod>,
    },
    Denied,
    /// The device got its tokens.
    Used,
}

/// A device authorization (RFC 8628 §3.1–3.2) as the store keeps it: the device code by
/// its digest, the user code as typed (it is short-lived and single use).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceGrant {
    pub device_code_hash: String,
    pub user_code: UserCode,
    pub client: ClientId,
    pub scopes: Scopes,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub state: DeviceGrantState,
}

/// The event a logout token announces (Back-Channel Logout 1.0 §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A logout token on its way to a client's back-channel logout URI, through the outbox.
#[derive(Clone, PartialEq, Eq)]
pub struct LogoutNotice {
    pub client: ClientId,
    pub uri: String,
    /// The signed logout token (JWT, `typ: logout+jwt`).
    pub token: String,
}

impl fmt::Debug for LogoutNotice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogoutNotice")
            .field("client", &self.client)
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

/// Whether `verifier` answers the S256 `challenge` (RFC 7636 §4.6). A verifier is 43 to
/// 128 unreserved characters.
pub fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    let digest = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    well_formed && digest.len() == challenge.len() && digest == challenge
}

/// A user's remembered consent for one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consent {
    pub client: ClientId,
    pub client_name: String,
    pub scopes: Scopes,
    pub granted_at: DateTime<Utc>,
}

/// Registered clients, authorization codes and remembered consent.
///
/// # Errors
/// Every method MUST return [`StoreError::Unavailable`] when the store cannot be reached;
/// `create_client` MUST return [`StoreError::Conflict`] for an id that exists.
#[async_trait]
pub trait ClientStore: Send + Sync + 'static {
    async fn create_client(&self, client: &OAuthClient) -> Result<(), StoreError>;
    async fn find_client(&self, id: ClientId) -> Result<Option<OAuthClient>, StoreError>;
    /// Oldest first.
    async fn list_clients(&self) -> Result<Vec<OAuthClient>, StoreError>;
    /// Deletes the client with its codes and consents; returns whether it existed.
    async fn delete_client(&self, id: ClientId) -> Result<bool, StoreError>;
    async fn put_code(&self, code: &AuthorizationCode) -> Result<(), StoreError>;
    /// Marks the code used at `now`, with the `session` its exchange is to start, in one
    /// conditional statement, and returns it (as stored: with the first caller's
    /// session), with `true` for the one caller that used it first; `None` for an
    /// unknown code. A later caller thus always knows which session to end.
    async fn redeem_code(
        &self,
        hash: &str,
        now: DateTime<Utc>,
        session: SessionId,
    ) -> Result<Option<(AuthorizationCode, bool)>, StoreError>;
    /// Deletes codes that expired before `now`.
    async fn purge_codes(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
    async fn consent(&self, user: UserId, client: ClientId) -> Result<Option<Scopes>, StoreError>;
    /// Remembers (or widens) the user's consent for the client.
    async fn grant_consent(
        &self,
        user: UserId,
        client: ClientId,
        scopes: &Scopes,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Returns whether there was one.
    async fn revoke_consent(&self, user: UserId, client: ClientId) -> Result<bool, StoreError>;
    /// The user's consents, newest first.
    async fn consents(&self, user: UserId) -> Result<Vec<Consent>, StoreError>;
    /// Stores a new device authorization; [`StoreError::Conflict`] when its user code is
    /// taken (the caller draws another).
    async fn put_device_grant(&self, grant: &DeviceGrant) -> Result<(), StoreError>;
    async fn device_grant_by_user_code(
        &self,
        code: &UserCode,
    ) -> Result<Option<DeviceGrant>, StoreError>;
    /// Records a device's poll at `now` in one statement and returns the grant with the
    /// instant of the poll before this one (`None` for the first).
    async fn poll_device_grant(
        &self,
        device_code_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(DeviceGrant, Option<DateTime<Utc>>)>, StoreError>;
    /// Moves a pending, unexpired grant to `to` (approved or denied) in one conditional
    /// statement; `false` when it was not pending any more, or had expired.
    async fn decide_device_grant(
        &self,
        code: &UserCode,
        to: &DeviceGrantState,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Marks an approved grant used, in one conditional statement: `true` for the one
    /// caller that did.
    async fn use_device_grant(&self, device_code_hash: &str) -> Result<bool, StoreError>;
    /// Deletes device grants that expired before `now`.
    async fn purge_device_grants(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_the_rfc_7636_example() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(pkce_matches(verifier, challenge));
        assert!(!pkce_matches(challenge, challenge));
        assert!(!pkce_matches("short", challenge));
        assert!(!pkce_matches(verifier, verifier), "plain is not S256");
    }

    #[test]
    fn scopes_are_known_ordered_and_once() {
        let s = Scopes::parse("email openid email").unwrap();
        assert_eq!(s.join(), "openid email");
        assert!(Scopes::parse("openid admin").is_err());
        assert!(Scopes::parse("openid profile email").unwrap().covers(&s));
        assert!(!s.covers(&Scopes::parse("profile").unwrap()));
        let both = s.union(&Scopes::parse("profile openid").unwrap());
        assert_eq!(both.join(), "openid profile email");
    }

    #[test]
    fn redirect_uris_are_https_or_loopback_http_without_fragments() {
        for ok in [
            "https://app.example/cb",
            "http://127.0.0.1:8000/cb",
            "http://localhost/cb?x=1",
            "http://[::1]:9/cb",
            "com.example.app:/oauth2redirect",
        ] {
            assert!(check_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://app.example/cb",
            "https://app.example/cb#frag",
            "javascript:alert(1)",
            "https://user@app.example/",
            "/relative",
            "https://",
            "com.example.app://host/cb",
            "com.example.app:cb",
            "myapp:/cb",
            "javascript.x:/alert(1)x#",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn loopback_ip_redirects_match_on_any_port_and_nothing_else_does() {
        let client = |uri: &str| OAuthClient {
            id: ClientId::new_random(),
            name: "native".into(),
            secret_hash: None,
            redirect_uris: vec![uri.into()],
            post_logout_redirect_uris: Vec::new(),
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: Scopes::default(),
            first_party: false,
            audience: None,
            backchannel_logout_uri: None,
            backchannel_logout_session_required: false,
            created_at: DateTime::<Utc>::UNIX_EPOCH,
        };
        let native = client("http://127.0.0.1:8123/cb");
        for ok in [
            "http://127.0.0.1:8123/cb",
            "http://127.0.0.1:50111/cb",
            "http://127.0.0.1/cb",
        ] {
            assert_eq!(native.redirect_uri_for(ok).as_deref(), Some(ok));
        }
        for bad in [
            "http://127.0.0.1:8123/cb/",
            "http://127.0.0.1:8123/other",
            "http://localhost:8123/cb",
            "http://[::1]:8123/cb",
            "http://127.0.0.1:x/cb",
            "http://127.0.0.1:8123@evil/cb",
            "https://127.0.0.1:8123/cb",
        ] {
            assert!(native.redirect_uri_for(bad).is_none(), "{bad}");
        }
        let v6 = client("http://[::1]:9/cb");
        assert!(v6.redirect_uri_for("http://[::1]:10/cb").is_some());
        let web = client("https://app.example/cb");
        assert!(web.redirect_uri_for("https://app.example:444/cb").is_none());
        let named = client("http://localhost:8123/cb");
        assert!(named.redirect_uri_for("http://localhost:9/cb").is_none());
    }
}
