//! Signed webhook delivery to a configured URL.
//!
//! The provider module builds the event headers and body (GitHub: `X-GitHub-Event`,
//! `X-Hub-Signature-256`, …); this module posts them and records the outcome.

use super::lock;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;
use std::sync::Mutex;

/// Where deliveries go and the shared secret that signs them.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookTarget {
    /// Receiver URL the server POSTs deliveries to.
    pub url: String,
    /// Shared secret of the HMAC-SHA256 signature; hidden from `Debug`.
    pub secret: String,
}

impl fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookTarget")
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// One attempted delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The provider's delivery id (GitHub `X-GitHub-Delivery`).
    pub id: String,
    /// The event name (GitHub `X-GitHub-Event`).
    pub event: String,
    /// The `action` in the payload, if any.
    pub action: Option<String>,
    /// Receiver URL it was sent to.
    pub url: String,
    /// The receiver's status, or `None` when the request failed.
    pub status: Option<u16>,
    /// Why the request failed (connection refused, timeout, …); `None` when it got an answer.
    pub error: Option<String>,
    /// The exact bytes sent (what the signature covers).
    pub body: String,
}

/// `hex(HMAC-SHA256(secret, body))`, the value after `sha256=` in `X-Hub-Signature-256`.
pub fn hmac_sha256_hex(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

pub(crate) struct Webhooks {
    target: Mutex<Option<WebhookTarget>>,
    log: Mutex<Vec<Delivery>>,
    client: reqwest::Client,
}

impl Webhooks {
    pub fn new(target: Option<WebhookTarget>) -> Webhooks {
        Webhooks {
            target: Mutex::new(target),
            log: Mutex::new(Vec::new()),
            client: reqwest::Client::new(),
        }
    }

    pub fn set_target(&self, target: Option<WebhookTarget>) {
        *lock(&self.target) = target;
    }

    pub fn target(&self) -> Option<WebhookTarget> {
        lock(&self.target).clone()
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.log).clone()
    }

    /// Posts `body` with `headers` to the target (if one is set) and records the attempt.
    /// Returns the recorded delivery, or `None` when no target is configured.
    pub async fn post(
        &self,
        id: String,
        event: &str,
        action: Option<String>,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Option<Delivery> {
        let target = self.target()?;
        let mut request = self.client.post(&target.url).body(body.clone());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let (status, error) = match request.send().await {
            Ok(response) => (Some(response.status().as_u16()), None),
            Err(e) => (None, Some(e.to_string())),
        };
        let delivery = Delivery {
            id,
            event: event.to_string(),
            action,
            url: target.url,
            status,
            error,
            body: String::from_utf8_lossy(&body).into_owned(),
        };
        lock(&self.log).push(delivery.clone());
        Some(delivery)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_githubs_published_test_vector() {
        assert_eq!(
            hmac_sha256_hex(b"It's a Secret to Everybody", b"Hello, World!"),
            "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn target_debug_hides_the_secret() {
        let t = WebhookTarget {
            url: "http://127.0.0.1:1/hook".into(),
            secret: "s3cr3t".into(),
        };
        assert!(!format!("{t:?}").contains("s3cr3t"));
    }
}
