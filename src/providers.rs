//! Builds the [`Provider`] client of a configured workspace.
//!
//! All provider traffic shares one [`HttpClient`] (one connection pool, one pacing registry),
//! the directory as the conditional-request cache, and the metrics observer.

use crate::config::{Credentials, WorkspaceConfig};
use orgsync_core::Provider;
use orgsync_core::cache::HttpCache;
use orgsync_core::http::{HttpClient, HttpObserver};
use std::sync::Arc;

/// What every provider client of the process shares.
#[derive(Clone)]
pub struct ProviderContext {
    /// The process's one HTTP client: its connection pool, pacing and retry policy.
    pub http: HttpClient,
    /// The conditional-request cache (the directory, in the daemon and the CLI).
    pub cache: Arc<dyn HttpCache>,
    /// Sees every provider request: the metrics and the CLI's progress.
    pub observer: Arc<dyn HttpObserver>,
}

/// Builds the provider client of a workspace. Secrets are read here, at each build, so a rotated
/// token file is picked up by the next run.
pub fn build(ws: &WorkspaceConfig, ctx: &ProviderContext) -> Result<Box<dyn Provider>, String> {
    match ws.provider {
        orgsync_core::ProviderKind::Github => github(ws, ctx),
        orgsync_core::ProviderKind::Gitlab => gitlab(ws, ctx),
        orgsync_core::ProviderKind::Bitbucket => bitbucket(ws, ctx),
    }
}

fn secret(ws: &WorkspaceConfig) -> Result<secrecy::SecretString, String> {
    ws.credentials
        .read_secret()
        .map_err(|e| format!("workspace `{}`: {e}", ws.name))
}

/// GitHub: `api_url` is the REST root (`https://api.github.com`, or `https://HOST/api/v3` on
/// Enterprise Server). A token (classic or fine-grained) goes as `Bearer`; a GitHub App signs a
/// JWT with its private key and exchanges it for installation tokens through the same HTTP layer.
fn github(ws: &WorkspaceConfig, ctx: &ProviderContext) -> Result<Box<dyn Provider>, String> {
    use orgsync_core::http::{BearerToken, Credential};
    let reference = ws.credentials.reference();
    let mut app = None;
    let credential: Arc<dyn Credential> = match &ws.credentials {
        Credentials::GithubApp {
            app_id,
            installation_id,
            ..
        } => {
            let credential = Arc::new(
                orgsync_github::GithubAppCredential::new(
                    &ctx.http,
                    &ws.name,
                    &ws.api_url,
                    reference,
                    *app_id,
                    *installation_id,
                    &secret(ws)?,
                )
                .map_err(|e| format!("workspace `{}`: {e}", ws.name))?,
            );
            app = Some(Arc::clone(&credential));
            credential
        }
        Credentials::OauthClient { .. } => {
            return Err(format!(
                "workspace `{}`: an OAuth consumer cannot authenticate to GitHub; use token_file, \
                 token_env or a GitHub App (app_id, installation_id, private_key_file)",
                ws.name
            ));
        }
        _ => Arc::new(BearerToken::new(reference, secret(ws)?)),
    };
    let client = ctx
        .http
        .workspace(
            orgsync_core::ProviderKind::Github,
            ws.name.clone(),
            &ws.api_url,
            credential,
        )
        .map_err(|e| e.to_string())?
        .with_cache(Arc::clone(&ctx.cache))
        .with_observer(Arc::clone(&ctx.observer));
    let mut provider =
        orgsync_github::GithubProvider::new(client, ws.account.clone()).with_host(ws.host());
    if let Some(app) = app {
        provider = provider.with_app(app);
    }
    Ok(Box::new(provider))
}

/// GitLab: `api_url` is the instance root; the REST API is under `/api/v4`. Tokens (personal,
/// group or project access tokens) go in `PRIVATE-TOKEN`.
fn gitlab(ws: &WorkspaceConfig, ctx: &ProviderContext) -> Result<Box<dyn Provider>, String> {
    let credential = Arc::new(orgsync_core::http::GitlabPrivateToken::new(
        ws.credentials.reference(),
        secret(ws)?,
    ));
    let rest_root = format!("{}/api/v4", ws.api_url.trim_end_matches('/'));
    let client = ctx
        .http
        .workspace(
            orgsync_core::ProviderKind::Gitlab,
            ws.name.clone(),
            &rest_root,
            credential,
        )
        .map_err(|e| e.to_string())?
        .with_cache(Arc::clone(&ctx.cache))
        .with_observer(Arc::clone(&ctx.observer));
    Ok(Box::new(orgsync_gitlab::GitlabProvider::new(
        client,
        ws.account.clone(),
        ws.host(),
    )))
}

/// Bitbucket Cloud: an API token with `username` (Basic `email:token`), an access token without
/// it (Bearer), or an OAuth consumer (client credentials, exchanged for short-lived tokens).
fn bitbucket(ws: &WorkspaceConfig, ctx: &ProviderContext) -> Result<Box<dyn Provider>, String> {
    use orgsync_core::http::{BasicAuth, BearerToken, Credential};
    let reference = ws.credentials.reference();
    let credential: Arc<dyn Credential> = match (&ws.credentials, &ws.username) {
        (Credentials::GithubApp { .. }, _) => {
            return Err(format!(
                "workspace `{}`: a GitHub App cannot authenticate to Bitbucket; use token_file, \
                 token_env or oauth_client_id",
                ws.name
            ));
        }
        (Credentials::OauthClient { client_id, .. }, _) => Arc::new(
            orgsync_bitbucket::oauth::OauthClientCredentials::new(
                &ctx.http,
                &ws.name,
                &ws.api_url,
                reference,
                client_id,
                secret(ws)?,
            )
            .map_err(|e| e.to_string())?,
        ),
        (_, Some(username)) => Arc::new(BasicAuth::new(reference, username, secret(ws)?)),
        (_, None) => Arc::new(BearerToken::new(reference, secret(ws)?)),
    };
    let client = ctx
        .http
        .workspace(
            orgsync_core::ProviderKind::Bitbucket,
            ws.name.clone(),
            &ws.api_url,
            credential,
        )
        .map_err(|e| e.to_string())?
        .with_cache(Arc::clone(&ctx.cache))
        .with_observer(Arc::clone(&ctx.observer))
        .with_rolling_limit(orgsync_core::http::RollingLimit {
            requests: ws.requests_per_hour,
            window: std::time::Duration::from_secs(3600),
        });
    Ok(Box::new(orgsync_bitbucket::BitbucketProvider::new(
        client,
        ws.account.clone(),
        ws.host(),
    )))
}

/// Stands in for a provider whose client could not be built (a missing token file, say), so the
/// daemon records the run as failed with the reason instead of skipping it silently.
pub(crate) struct Unbuildable {
    /// The provider the workspace is configured for.
    pub kind: orgsync_core::ProviderKind,
    /// Why the client could not be built; the failed run reports it.
    pub reason: String,
}

#[async_trait::async_trait]
impl Provider for Unbuildable {
    fn kind(&self) -> orgsync_core::ProviderKind {
        self.kind
    }

    async fn fetch(
        &self,
        _policy: &orgsync_core::FetchPolicy,
    ) -> Result<orgsync_core::Snapshot, orgsync_core::ProviderError> {
        Err(orgsync_core::ProviderError::Other(self.reason.clone()))
    }

    async fn check(
        &self,
        _policy: &orgsync_core::FetchPolicy,
    ) -> Result<Vec<String>, orgsync_core::ProviderError> {
        Err(orgsync_core::ProviderError::Other(self.reason.clone()))
    }
}
