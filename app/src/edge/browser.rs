//! What the browser-facing doors (the hosted pages and the OpenID authorize and logout
//! pages) know of the deployment: cookie names and attributes, and the CSRF key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use blake2::Blake2bMac512;
use blake2::digest::{KeyInit, Mac};

/// What the pages need to know of the deployment, built once at start.
#[derive(Clone)]
pub struct PagesConfig {
    /// Behind https (`server.public_url` is `https://…`): cookies are `Secure` and
    /// `__Host-` prefixed.
    pub secure: bool,
    csrf_key: [u8; 32],
}

impl PagesConfig {
    pub fn new(secure: bool, csrf_key: [u8; 32]) -> Self {
        Self { secure, csrf_key }
    }

    pub(crate) fn session_cookie(&self) -> &'static str {
        if self.secure {
            "__Host-tessera_session"
        } else {
            "tessera_session"
        }
    }

    pub(crate) fn form_cookie(&self) -> &'static str {
        if self.secure {
            "__Host-tessera_form"
        } else {
            "tessera_form"
        }
    }

    /// The CSRF token of forms shown to the visitor identified by `binding`.
    pub(crate) fn csrf_for(&self, binding: &str) -> String {
        let Ok(mut mac) = <Blake2bMac512 as KeyInit>::new_from_slice(&self.csrf_key) else {
            // A 32-byte key is always valid for BLAKE2b; no token then matches nothing.
            return String::new();
        };
        mac.update(b"tessera page csrf v1\0");
        mac.update(binding.as_bytes());
        let out = mac.finalize().into_bytes();
        URL_SAFE_NO_PAD.encode(out.get(..32).unwrap_or_default())
    }

    /// `Set-Cookie` for a cookie only this origin's pages read.
    pub(crate) fn cookie(&self, name: &str, value: &str, max_age: Option<i64>) -> String {
        let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
        if self.secure {
            c.push_str("; Secure");
        }
        if let Some(secs) = max_age {
            c.push_str(&format!("; Max-Age={secs}"));
        }
        c
    }
}
