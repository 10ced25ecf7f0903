//! OAuth 2.0 client credentials (an OAuth consumer's key and secret), exchanged for short-lived
//! Bearer access tokens at `POST /site/oauth2/access_token`, through the same HTTP layer as
//! every other request.

use crate::model::OauthToken;
use async_trait::async_trait;
use orgsync_core::http::{
    AuthHeader, BasicAuth, Credential, CredentialError, HttpClient, WorkspaceClient,
};
use orgsync_core::{ProviderError, ProviderKind};
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;

const TOKEN_ROUTE: &str = "/site/oauth2/access_token";
/// A token is renewed this long before Bitbucket says it expires, so a long request never
/// starts with a token about to lapse.
const RENEW_MARGIN: Duration = Duration::from_secs(120);

/// Where the token endpoint lives for an API host: `bitbucket.org` for the public
/// `api.bitbucket.org`, the same host otherwise (the simulator serves both).
pub fn token_origin(api_url: &str) -> String {
    let trimmed = api_url.trim_end_matches('/');
    if trimmed == "https://api.bitbucket.org" {
        "https://bitbucket.org".to_string()
    } else {
        trimmed.to_string()
    }
}

/// An OAuth consumer's client credentials. [`Credential::authorize`] returns a cached Bearer
/// token and fetches a new one when it is about to expire or after a `401`.
pub struct OauthClientCredentials {
    reference: String,
    fingerprint: String,
    token_client: WorkspaceClient,
    token_url: String,
    cached: Mutex<Option<(SecretString, Instant)>>,
}

impl fmt::Debug for OauthClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OauthClientCredentials")
            .field("reference", &self.reference)
            .field("token_url", &self.token_url)
            .finish_non_exhaustive()
    }
}

impl OauthClientCredentials {
    /// `api_url` is the workspace's API host (`https://api.bitbucket.org`); the consumer's
    /// `client_id` and `secret` authenticate the token request with Basic.
    pub fn new(
        http: &HttpClient,
        workspace: &str,
        api_url: &str,
        reference: impl Into<String>,
        client_id: &str,
        secret: SecretString,
    ) -> Result<Self, ProviderError> {
        let reference = reference.into();
        let basic = BasicAuth::new(reference.clone(), client_id, secret);
        let fingerprint = format!("oauth-client:{}", basic.scope_fingerprint());
        let origin = token_origin(api_url);
        let token_client =
            http.workspace(ProviderKind::Bitbucket, workspace, &origin, Arc::new(basic))?;
        Ok(Self {
            reference,
            fingerprint,
            token_client,
            token_url: format!("{origin}{TOKEN_ROUTE}"),
            cached: Mutex::new(None),
        })
    }

    async fn exchange(&self) -> Result<(SecretString, Instant), CredentialError> {
        let request = http::Request::builder()
            .method(http::Method::POST)
            .uri(&self.token_url)
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(b"grant_type=client_credentials".to_vec())
            .map_err(|e| CredentialError::new(format!("cannot build the token request: {e}")))?;
        let response = self
            .token_client
            .send(TOKEN_ROUTE, request)
            .await
            .map_err(|e| CredentialError::new(format!("the OAuth token request failed: {e}")))?;
        if !response.status().is_success() {
            return Err(CredentialError::new(format!(
                "Bitbucket refused the OAuth client credentials ({}); check the consumer key and secret",
                response.status().as_u16()
            )));
        }
        let token: OauthToken = serde_json::from_slice(response.body()).map_err(|_| {
            CredentialError::new("the OAuth token endpoint sent an answer that is not a token")
        })?;
        let lifetime = Duration::from_secs(token.expires_in.unwrap_or(3600));
        let expires = orgsync_core::http::instant_after(
            Instant::now(),
            lifetime.saturating_sub(RENEW_MARGIN),
        );
        Ok((SecretString::from(token.access_token), expires))
    }
}

#[async_trait]
impl Credential for OauthClientCredentials {
    fn reference(&self) -> &str {
        &self.reference
    }

    fn scope_fingerprint(&self) -> &str {
        &self.fingerprint
    }

    async fn authorize(&self) -> Result<AuthHeader, CredentialError> {
        let mut cached = self.cached.lock().await;
        if let Some((token, expires)) = cached.as_ref()
            && Instant::now() < *expires
        {
            return AuthHeader::bearer(token);
        }
        let (token, expires) = self.exchange().await?;
        let header = AuthHeader::bearer(&token);
        *cached = Some((token, expires));
        header
    }

    async fn refresh_after_rejection(&self) -> bool {
        *self.cached.lock().await = None;
        true
    }

    fn mask(&self, text: &str) -> String {
        match self.cached.try_lock() {
            Ok(guard) => match guard.as_ref() {
                Some((token, _)) if !token.expose_secret().is_empty() => {
                    text.replace(token.expose_secret(), "[redacted]")
                }
                _ => text.to_owned(),
            },
            Err(_) => text.to_owned(),
        }
    }
}
