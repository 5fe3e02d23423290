//! Back-channel logout over HTTP (OpenID Connect Back-Channel Logout 1.0 §2.5): the
//! outbox's sender POSTs each logout token to its client's URI as the form parameter
//! `logout_token`, within `mail.timeout`, and follows no redirect. A 2xx is done; a 4xx
//! is the client's refusal, for good; anything else is tried again on the outbox's
//! schedule.

use std::time::Duration;

use async_trait::async_trait;
use tessera_domain::oidc::LogoutNotice;
use tessera_domain::ports::{LogoutTransport, MailError};

pub struct HttpLogoutTransport {
    client: reqwest::Client,
}

impl HttpLogoutTransport {
    /// # Errors
    /// When the HTTP client cannot be built (no TLS roots).
    pub fn new(timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "Tessera/",
                env!("CARGO_PKG_VERSION"),
                " back-channel logout"
            ))
            .build()?;
        Ok(Self { client })
    }
}

#[async_trait]
impl LogoutTransport for HttpLogoutTransport {
    async fn deliver(&self, notice: &LogoutNotice) -> Result<(), MailError> {
        let answer = self
            .client
            .post(&notice.uri)
            .form(&[("logout_token", notice.token.as_str())])
            .send()
            .await
            .map_err(|e| MailError::Temporary(e.into()))?;
        let status = answer.status();
        if status.is_success() {
            Ok(())
        } else if status.is_client_error()
            && status != reqwest::StatusCode::REQUEST_TIMEOUT
            && status != reqwest::StatusCode::TOO_MANY_REQUESTS
        {
            Err(MailError::Permanent(anyhow::anyhow!(
                "{} refused the logout token: {status}",
                notice.uri
            )))
        } else {
            Err(MailError::Temporary(anyhow::anyhow!(
                "{} answered the logout token with {status}",
                notice.uri
            )))
        }
    }
}
