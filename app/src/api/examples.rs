//! Example values for the spec's schemas: Swagger UI pre-fills requests with them and
//! generated clients quote them in their docs. One consistent story — alice, her
//! session, her tokens — so the examples read as one exchange.

use chrono::{DateTime, Utc};
use poem_openapi::types::Example;
use uuid::Uuid;

use super::UserView;
use super::account::{Dashboard, DashboardData, PasswordChange, SessionView};
use super::admin::{AdminUserView, AuditEntry, AuditPage, KeyStateView, KeyView, UserPage};
use super::auth::{RefreshRequest, TokenPairView};
use super::email::{
    EmailChange, EmailTokenRequest, MailAccepted, PasswordResetConfirm, PasswordResetRequest,
};
use super::health::{Health, Readiness};
use super::oauth::{IntrospectionView, TokenForm, TokenJson, TokenTypeHint};
use super::wellknown::{Jwk, Jwks};

const USER_ID: Uuid = Uuid::from_u128(0x0193_6f0e_5b1a_7c3d_9e2f_4a6b_8c0d_1e2f);
const SESSION_ID: Uuid = Uuid::from_u128(0x0193_6f0e_5b1b_7a90_8d1c_2b3a_4f5e_6d7c);
const KID: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
pub(crate) const ACCESS_TOKEN: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6Ik56YkxzWGg4dURDY2QtNk1Od1hGNFdfN25vV1hGWkFmSGt4WnNSR0M5WHMifQ.eyJzdWIiOiIwMTkzNmYwZS01YjFhLTdjM2QtOWUyZi00YTZiOGMwZDFlMmYifQ.c2lnbmF0dXJl";
/// 256 random bits, base64url without padding: the shape the server issues.
const REFRESH_TOKEN: &str = "4q1Yk8mZ0f3VtC2pXw9LhR7sNbE5uJ6aQdGiK_oHyTc";
/// The token of a mailed link: 256 random bits, base64url, like a refresh token.
const MAIL_TOKEN: &str = "Jd3kQ0vWc9mZ2xYtB7nLpR4sHfA6uE1oKiG8yNqTzXw";
const ISSUED_AT: i64 = 1_764_115_200; // 2025-11-26T00:00:00Z

fn at(offset_secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(ISSUED_AT + offset_secs, 0).unwrap_or_default()
}

impl Example for RefreshRequest {
    fn example() -> Self {
        Self {
            refresh_token: REFRESH_TOKEN.into(),
        }
    }
}

impl Example for TokenPairView {
    fn example() -> Self {
        Self {
            access_token: ACCESS_TOKEN.into(),
            token_type: "Bearer".into(),
            expires_in: 900,
            refresh_token: REFRESH_TOKEN.into(),
            refresh_expires_in: 604_800,
        }
    }
}

impl Example for UserView {
    fn example() -> Self {
        Self {
            id: USER_ID,
            username: "alice".into(),
            roles: vec![],
            created_at: at(0),
            email: Some("alice@example.com".into()),
            email_verified: true,
        }
    }
}

impl Example for EmailChange {
    fn example() -> Self {
        Self {
            email: "alice@example.org".into(),
        }
    }
}

impl Example for EmailTokenRequest {
    fn example() -> Self {
        Self {
            token: MAIL_TOKEN.into(),
        }
    }
}

impl Example for PasswordResetRequest {
    fn example() -> Self {
        Self {
            email: "alice@example.com".into(),
        }
    }
}

impl Example for PasswordResetConfirm {
    fn example() -> Self {
        Self {
            token: MAIL_TOKEN.into(),
            new_password: "plaid tortoise juggles quietly".into(),
        }
    }
}

impl Example for MailAccepted {
    fn example() -> Self {
        Self {
            detail: crate::edge::RESET_ACCEPTED.into(),
        }
    }
}

impl Example for Dashboard {
    fn example() -> Self {
        Self {
            message: "Welcome alice".into(),
            data: DashboardData::example(),
        }
    }
}

impl Example for DashboardData {
    fn example() -> Self {
        Self {
            user_id: USER_ID,
            username: "alice".into(),
            roles: vec![],
            session_id: SESSION_ID,
            token_expires_at: at(900),
        }
    }
}

impl Example for PasswordChange {
    fn example() -> Self {
        Self {
            current_password: "correct horse battery staple".into(),
            new_password: "plaid tortoise juggles quietly".into(),
        }
    }
}

impl Example for SessionView {
    fn example() -> Self {
        Self {
            id: SESSION_ID,
            created_at: at(0),
            last_used_at: at(600),
            expires_at: at(600 + 604_800),
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64)".into()),
            ip: Some("203.0.113.7".into()),
            current: true,
        }
    }
}

impl Example for AdminUserView {
    fn example() -> Self {
        Self {
            id: USER_ID,
            username: "alice".into(),
            roles: vec![],
            created_at: at(0),
            disabled_at: None,
            email: Some("alice@example.com".into()),
            email_verified: true,
        }
    }
}

/// The example of a page of listings: one item, on the first page of 50.
macro_rules! page_example {
    ($page:ident, $item:ident) => {
        impl Example for $page {
            fn example() -> Self {
                Self {
                    items: vec![$item::example()],
                    page: 1,
                    per_page: 50,
                    total: 1,
                }
            }
        }
    };
}

page_example!(UserPage, AdminUserView);

impl Example for TokenJson {
    fn example() -> Self {
        Self {
            token: REFRESH_TOKEN.into(),
            token_type_hint: Some(TokenTypeHint::RefreshToken),
        }
    }
}

impl Example for TokenForm {
    fn example() -> Self {
        Self {
            token: REFRESH_TOKEN.into(),
            token_type_hint: Some(TokenTypeHint::RefreshToken),
        }
    }
}

impl Example for IntrospectionView {
    fn example() -> Self {
        Self {
            active: true,
            token_type: Some("access_token".into()),
            sub: Some(USER_ID),
            username: Some("alice".into()),
            exp: Some(ISSUED_AT + 900),
            iat: Some(ISSUED_AT),
            nbf: Some(ISSUED_AT),
            iss: Some("http://127.0.0.1:8080".into()),
            aud: Some("tessera".into()),
            jti: Some(Uuid::from_u128(0x0193_6f0e_5b1c_7e11_a2b3_c4d5_e6f7_0819)),
            sid: Some(SESSION_ID),
            roles: Some(vec![]),
            amr: Some(vec!["pwd".into(), "otp".into(), "mfa".into()]),
            auth_time: Some(ISSUED_AT),
            client_id: None,
            scope: None,
        }
    }
}

impl Example for Jwk {
    fn example() -> Self {
        Self {
            kty: "RSA".into(),
            kid: KID.into(),
            use_: "sig".into(),
            alg: "RS256".into(),
            n: "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw".into(),
            e: "AQAB".into(),
        }
    }
}

impl Example for Jwks {
    fn example() -> Self {
        Self {
            keys: vec![Jwk::example()],
        }
    }
}

impl Example for KeyView {
    fn example() -> Self {
        Self {
            kid: KID.into(),
            state: KeyStateView::Active,
            created_at: at(-86_400),
            activated_at: Some(at(0)),
            retiring_at: None,
            retired_at: None,
        }
    }
}

impl Example for AuditEntry {
    fn example() -> Self {
        Self {
            at: at(0),
            event: "login_succeeded".into(),
            user_id: Some(USER_ID),
            ip: Some("203.0.113.7".into()),
            user_agent: Some("Mozilla/5.0 (X11; Linux x86_64)".into()),
            detail: serde_json::json!({ "session": SESSION_ID }),
        }
    }
}

page_example!(AuditPage, AuditEntry);

impl Example for Health {
    fn example() -> Self {
        Self {
            status: "ok".into(),
        }
    }
}

impl Example for Readiness {
    fn example() -> Self {
        Self {
            status: "ok".into(),
            store: "ok".into(),
            revocation: "ok".into(),
            signing_key: "ok".into(),
        }
    }
}
