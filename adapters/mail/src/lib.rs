//! Tessera's outgoing mail: the [`MailTransport`] port over SMTP with lettre (rustls;
//! `smtps://` implicit TLS, `smtp://` STARTTLS, `smtp://…?tls=none` plain), and the log
//! transport for development, which delivers nothing and logs each link instead.
//!
//! Every send is bounded by one deadline covering connect, greeting, EHLO, TLS, AUTH and
//! DATA: lettre's own timeout only bounds the connect, so a relay that accepts and then
//! stalls would otherwise hold a sender for ever.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tessera_domain::email::OutgoingMail;
use tessera_domain::ports::{MailError, MailTransport};

/// Where and how to hand mail over.
#[derive(Clone)]
pub struct SmtpSettings {
    /// `smtps://user:pass@host:465`, `smtp://host:587` (STARTTLS required) or
    /// `smtp://host:25?tls=none`. May carry a password: never printed.
    pub url: String,
    /// `Tessera <no-reply@example.com>`.
    pub from: String,
    /// The deadline of one whole send.
    pub timeout: Duration,
    /// A PEM certificate to trust besides the web PKI roots (a private relay's CA).
    pub ca_pem: Option<Vec<u8>>,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// How the connection is secured, from the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    Implicit,
    StartTls,
    Plain,
}

/// The parts of an SMTP URL.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpUrl {
    pub security: Security,
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
}

impl fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpUrl")
            .field("security", &self.security)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

fn percent_decode(s: &str) -> anyhow::Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .ok_or_else(|| anyhow::anyhow!("bad % escape"))?;
            out.push(u8::from_str_radix(hex, 16)?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(String::from_utf8(out)?)
}

impl SmtpUrl {
    /// Parses `smtp[s]://[user[:password]@]host[:port][?tls=none]`.
    ///
    /// # Errors
    /// On another scheme, a missing host, a bad port or an unknown `tls` value.
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| anyhow::anyhow!("mail.smtp_url must start with smtp:// or smtps://"))?;
        let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
        let authority = authority.trim_end_matches('/');
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(u) => {
                let (user, pass) = u.split_once(':').map_or((u, None), |(a, b)| (a, Some(b)));
                (
                    Some(percent_decode(user)?),
                    pass.map(percent_decode).transpose()?,
                )
            }
            None => (None, None),
        };
        let mut security = match scheme {
            "smtps" => Security::Implicit,
            "smtp" => Security::StartTls,
            other => anyhow::bail!("mail.smtp_url: unknown scheme {other:?} (smtp or smtps)"),
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair {
                "tls=none" if security == Security::StartTls => security = Security::Plain,
                "tls=required" | "tls=starttls" if security == Security::StartTls => {}
                other => anyhow::bail!("mail.smtp_url: unsupported parameter {other:?}"),
            }
        }
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => (
                h,
                Some(
                    p.parse::<u16>()
                        .map_err(|_| anyhow::anyhow!("mail.smtp_url: bad port"))?,
                ),
            ),
            _ => (hostport, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            anyhow::bail!("mail.smtp_url names no host");
        }
        let port = port.unwrap_or(match security {
            Security::Implicit => 465,
            Security::StartTls => 587,
            Security::Plain => 25,
        });
        Ok(Self {
            security,
            host: host.to_owned(),
            port,
            user,
            password,
        })
    }
}

/// SMTP through lettre, one connection per mail (the outbox sends few and rarely).
pub struct SmtpTransport {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    timeout: Duration,
    /// For spans and logs: `host:port`.
    pub relay: String,
}

impl SmtpTransport {
    /// Checks the settings now, so that a typo fails at startup rather than at the first
    /// mail.
    ///
    /// # Errors
    /// On an unreadable URL, sender or certificate.
    pub fn new(settings: &SmtpSettings) -> anyhow::Result<Self> {
        let url = SmtpUrl::parse(&settings.url)?;
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("mail.from {:?} is not a mailbox: {e}", settings.from))?;
        let tls = || -> anyhow::Result<TlsParameters> {
            let mut builder = TlsParameters::builder(url.host.clone());
            if let Some(pem) = &settings.ca_pem {
                builder = builder.add_root_certificate(Certificate::from_pem(pem)?);
            }
            Ok(builder.build_rustls()?)
        };
        let tls = match url.security {
            Security::Implicit => Tls::Wrapper(tls()?),
            Security::StartTls => Tls::Required(tls()?),
            Security::Plain => Tls::None,
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(url.host.clone())
            .port(url.port)
            .tls(tls)
            .timeout(Some(settings.timeout));
        if let Some(user) = &url.user {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                url.password.clone().unwrap_or_default(),
            ));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            timeout: settings.timeout,
            relay: format!("{}:{}", url.host, url.port),
        })
    }

    fn message(&self, mail: &OutgoingMail) -> Result<Message, MailError> {
        let to: Mailbox = mail
            .to
            .as_str()
            .parse()
            .map_err(|e| MailError::Permanent(anyhow::anyhow!("recipient: {e}")))?;
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                mail.text.clone(),
                mail.html.clone(),
            ))
            .map_err(|e| MailError::Permanent(anyhow::anyhow!("message: {e}")))
    }
}

#[async_trait]
impl MailTransport for SmtpTransport {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let message = self.message(mail)?;
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Err(_) => Err(MailError::Temporary(anyhow::anyhow!(
                "no answer from {} within {:?}",
                self.relay,
                self.timeout
            ))),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) if e.is_permanent() => Err(MailError::Permanent(e.into())),
            Ok(Err(e)) => Err(MailError::Temporary(e.into())),
        }
    }
}

/// Development: delivers nothing; each mail's links are logged at INFO. The server warns
/// at startup that this transport is in use.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogTransport;

#[async_trait]
impl MailTransport for LogTransport {
    async fn send(&self, mail: &OutgoingMail) -> Result<(), MailError> {
        let links: Vec<&str> = mail
            .text
            .lines()
            .filter(|l| l.starts_with("http://") || l.starts_with("https://"))
            .collect();
        tracing::info!(
            to = %mail.to,
            subject = %mail.subject,
            link = %links.join(" "),
            "mail not delivered (mail.transport = \"log\")"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls_choose_the_security_and_keep_credentials() {
        let u = SmtpUrl::parse("smtps://me%40x.org:p%3Ass@mail.example.org").unwrap();
        assert_eq!(u.security, Security::Implicit);
        assert_eq!(u.port, 465);
        assert_eq!(u.user.as_deref(), Some("me@x.org"));
        assert_eq!(u.password.as_deref(), Some("p:ss"));
        assert!(!format!("{u:?}").contains("p:ss"));
        let u = SmtpUrl::parse("smtp://mail.example.org").unwrap();
        assert_eq!((u.security, u.port), (Security::StartTls, 587));
        let u = SmtpUrl::parse("smtp://127.0.0.1:2525?tls=none").unwrap();
        assert_eq!(
            (u.security, u.port, u.host.as_str()),
            (Security::Plain, 2525, "127.0.0.1")
        );
        let u = SmtpUrl::parse("smtp://[::1]:2525?tls=none").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 2525));
        assert!(SmtpUrl::parse("http://x").is_err());
        assert!(
            SmtpUrl::parse("smtps://x?tls=none").is_err(),
            "smtps cannot be plain"
        );
        assert!(SmtpUrl::parse("smtp://x:notaport").is_err());
        assert!(SmtpUrl::parse("smtp://").is_err());
    }
}
