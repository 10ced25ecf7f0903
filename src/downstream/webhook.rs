//! Webhooks out, signed as the Standard Webhooks specification describes: the headers
//! `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature: v1,<base64>`, where
//! the signature is HMAC-SHA256 over `{id}.{timestamp}.{body}` with the secret's key. The
//! secret is written as the specification's `whsec_<base64 key>`, so receivers can use its
//! published verifier libraries with the same string.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// A signing key (never printed).
pub struct Signer {
    key: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(…)")
    }
}

impl Signer {
    /// Reads a `whsec_…` secret (the prefix is optional). The error never contains the secret.
    pub fn from_secret(secret: &str) -> Result<Signer, String> {
        let b64 = secret.trim();
        let b64 = b64.strip_prefix("whsec_").unwrap_or(b64);
        let key = STANDARD.decode(b64).map_err(|_| {
            "the webhook secret is not a Standard Webhooks secret (whsec_ followed by base64); \
             make one with: echo \"whsec_$(head -c 32 /dev/urandom | base64)\""
                .to_string()
        })?;
        if key.len() < 16 {
            return Err(
                "the webhook secret's key is shorter than 16 bytes; use 32 random bytes".into(),
            );
        }
        Ok(Signer { key })
    }

    /// The `webhook-signature` header value.
    pub fn sign(&self, id: &str, timestamp: i64, body: &str) -> String {
        // HMAC accepts keys of any length.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.key) else {
            return String::new();
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

/// Posts one event. Any 2xx is delivered; anything else is an error naming the status.
pub async fn post(
    http: &reqwest::Client,
    url: &str,
    signer: &Signer,
    event_id: &str,
    body: &str,
    timeout: std::time::Duration,
) -> Result<(), String> {
    let ts = chrono::Utc::now().timestamp();
    let response = http
        .post(url)
        .timeout(timeout)
        .header("content-type", "application/json")
        .header("webhook-id", event_id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signer.sign(event_id, ts, body))
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| format!("POST {url} failed: {}", super::describe(&e)))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("POST {url} answered {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_specifications_example() {
        // The example of the Standard Webhooks specification (spec/standard-webhooks.md).
        let signer = Signer::from_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            signer.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn a_secret_that_is_not_base64_is_refused_without_echoing_it() {
        let e = Signer::from_secret("whsec_not base64!!").expect_err("refused");
        assert!(!e.contains("not base64!!"));
    }
}
