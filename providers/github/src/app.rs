//! GitHub App authentication: an RS256 JWT signed with the App's private key buys a short-lived
//! installation token through the HTTP layer; the token is renewed before `expires_at` and once
//! more after a `401` (a token revoked or expired early, or a server clock ahead of ours).

use crate::api::InstallationToken;
use async_trait::async_trait;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use orgsync_core::http::{
    AuthHeader, Credential, CredentialError, HttpClient, Route, WorkspaceClient,
};
use orgsync_core::snapshot::RequestCounts;
use orgsync_core::{ProviderError, ProviderKind};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// GitHub accepts App JWTs that live at most ten minutes; `iat` is back-dated a minute for clock
/// drift, as GitHub recommends, so the JWT lives nine minutes from now.
const JWT_BACKDATE_SECS: i64 = 60;
const JWT_LIFETIME_SECS: i64 = 540;
/// Renew an installation token this long before it expires (a quarter of its life when that is
/// shorter), so a request never leaves with a token that dies on the way.
const RENEW_MARGIN: Duration = Duration::from_secs(300);

#[derive(Serialize)]
struct Claims {
    iat: i64,
    exp: i64,
    iss: u64,
}

/// The App's JWT as a credential, used only for the token exchange.
struct AppJwt {
    reference: String,
    fingerprint: String,
    app_id: u64,
    key: EncodingKey,
}

impl AppJwt {
    fn sign(&self) -> Result<SecretString, CredentialError> {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            iat: now - JWT_BACKDATE_SECS,
            exp: now + JWT_LIFETIME_SECS,
            iss: self.app_id,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key)
            .map(SecretString::from)
            .map_err(|e| CredentialError::new(format!("could not sign the App JWT: {e}")))
    }
}

#[async_trait]
impl Credential for AppJwt {
    fn reference(&self) -> &str {
        &self.reference
    }

    fn scope_fingerprint(&self) -> &str {
        &self.fingerprint
    }

    async fn authorize(&self) -> Result<AuthHeader, CredentialError> {
        AuthHeader::bearer(&self.sign()?)
    }
}

struct Installed {
    token: SecretString,
    renew_at: Instant,
    view: InstallationView,
}

/// What the installation may read, as GitHub reported it with the installation token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstallationView {
    /// `all` or `selected`; `None` when GitHub did not say.
    pub repository_selection: Option<String>,
    /// Permission name (`members`, `metadata`, …) -> `read` / `write` / `admin`.
    pub permissions: std::collections::BTreeMap<String, String>,
}

/// A GitHub App installation as a [`Credential`]: every request carries the current installation
/// token, which is exchanged (through the HTTP layer, so retries, pacing and counting apply) when
/// missing, near expiry, or rejected.
pub struct GithubAppCredential {
    reference: String,
    fingerprint: String,
    installation_id: u64,
    exchanger: WorkspaceClient,
    state: tokio::sync::Mutex<Option<Installed>>,
}

impl fmt::Debug for GithubAppCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubAppCredential")
            .field("reference", &self.reference)
            .field("installation_id", &self.installation_id)
            .finish_non_exhaustive()
    }
}

impl GithubAppCredential {
    /// `private_key_pem` is the App's key as GitHub hands it out (PKCS#1 `RSA PRIVATE KEY`, or
    /// PKCS#8). `reference` names the credential in messages (`GitHub App 12345 (installation 678)`).
    pub fn new(
        http: &HttpClient,
        workspace: &str,
        api_url: &str,
        reference: impl Into<String>,
        app_id: u64,
        installation_id: u64,
        private_key_pem: &SecretString,
    ) -> Result<Self, ProviderError> {
        let reference = reference.into();
        let key = EncodingKey::from_rsa_pem(private_key_pem.expose_secret().as_bytes()).map_err(
            |_| {
                ProviderError::Other(format!(
                    "{reference}: the private key is not an RSA key in PEM form; download a new \
                     one from the App's settings"
                ))
            },
        )?;
        let jwt = AppJwt {
            reference: format!("{reference}, App JWT"),
            fingerprint: format!("github-app-jwt:{app_id}"),
            app_id,
            key,
        };
        let exchanger = http.workspace(ProviderKind::Github, workspace, api_url, Arc::new(jwt))?;
        Ok(Self {
            fingerprint: format!("github-app:{app_id}:{installation_id}"),
            reference,
            installation_id,
            exchanger,
            state: tokio::sync::Mutex::new(None),
        })
    }

    /// The installation id, for messages.
    pub fn installation_id(&self) -> u64 {
        self.installation_id
    }

    /// What the current installation token may read (exchanging one first if there is none):
    /// the fetch proves from it that the installation sees every repository.
    pub async fn installation_view(&self) -> Result<InstallationView, ProviderError> {
        let mut state = self.state.lock().await;
        if state.is_none() {
            *state = Some(
                self.exchange()
                    .await
                    .map_err(|e| ProviderError::Other(format!("{}: {e}", self.reference)))?,
            );
        }
        Ok(state.as_ref().map(|i| i.view.clone()).unwrap_or_default())
    }

    /// Requests the token exchanges have sent so far, so a fetch can add its share to
    /// `Snapshot::requests`.
    pub fn exchange_counts(&self) -> RequestCounts {
        self.exchanger.request_counts()
    }

    async fn exchange(&self) -> Result<Installed, CredentialError> {
        let route = Route::new(
            "/app/installations/{installation_id}/access_tokens",
            format!("/app/installations/{}/access_tokens", self.installation_id),
        );
        let answer: InstallationToken = self
            .exchanger
            .post_json(&route, &serde_json::json!({}))
            .await
            .map_err(|e| {
                CredentialError::new(format!(
                    "the installation token exchange failed ({e}); check the App id, the \
                     installation id and the private key"
                ))
            })?;
        let expires = chrono::DateTime::parse_from_rfc3339(&answer.expires_at).map_err(|_| {
            CredentialError::new("the installation token's expires_at is not a time")
        })?;
        let life = (expires.with_timezone(&chrono::Utc) - chrono::Utc::now())
            .to_std()
            .unwrap_or(Duration::ZERO);
        let margin = RENEW_MARGIN.min(life / 4);
        tracing::debug!(
            credential = %self.reference,
            lifetime_s = life.as_secs(),
            "obtained a GitHub App installation token"
        );
        Ok(Installed {
            token: SecretString::from(answer.token),
            renew_at: Instant::now() + life.saturating_sub(margin),
            view: InstallationView {
                repository_selection: answer.repository_selection,
                permissions: answer.permissions,
            },
        })
    }
}

#[async_trait]
impl Credential for GithubAppCredential {
    fn reference(&self) -> &str {
        &self.reference
    }

    fn scope_fingerprint(&self) -> &str {
        &self.fingerprint
    }

    async fn authorize(&self) -> Result<AuthHeader, CredentialError> {
        let mut state = self.state.lock().await;
        let fresh = state
            .as_ref()
            .is_some_and(|installed| Instant::now() < installed.renew_at);
        if !fresh {
            *state = Some(self.exchange().await?);
        }
        match state.as_ref() {
            Some(installed) => AuthHeader::bearer(&installed.token),
            None => Err(CredentialError::new("no installation token")),
        }
    }

    async fn refresh_after_rejection(&self) -> bool {
        let mut state = self.state.lock().await;
        match self.exchange().await {
            Ok(installed) => {
                *state = Some(installed);
                true
            }
            Err(e) => {
                tracing::warn!(credential = %self.reference, error = %e, "could not renew the installation token");
                false
            }
        }
    }

    fn mask(&self, text: &str) -> String {
        match self.state.try_lock() {
            Ok(state) => match state.as_ref() {
                Some(installed) if !installed.token.expose_secret().is_empty() => {
                    text.replace(installed.token.expose_secret(), "[redacted]")
                }
                _ => text.to_owned(),
            },
            Err(_) => text.to_owned(),
        }
    }
}
