//! What every command opens, in one place: the configuration, the directory and the provider
//! clients. The CLI, the daemon and the demo start from here, so none of them depends on another
//! (nothing below the CLI imports `cli`).

use crate::config::{Config, ConfigError, WorkspaceConfig};
use crate::directory::{DirectoryError, Store};
use crate::failure::Failure;
use crate::providers::{ProviderContext, Unbuildable};
use orgsync_core::Provider;
use orgsync_core::http::{HttpClient, HttpObserver, NoopObserver};
use std::sync::Arc;

impl From<DirectoryError> for Failure {
    fn from(e: DirectoryError) -> Self {
        match e {
            // The configuration disagrees with the directory: the operator must decide.
            DirectoryError::WorkspaceMismatch { .. } => Failure::usage(e.to_string()),
            _ => Failure::runtime(e.to_string()),
        }
    }
}

impl From<Vec<ConfigError>> for Failure {
    /// Every error of the file, one per line, each located by line:column.
    fn from(errors: Vec<ConfigError>) -> Self {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        Failure::usage(lines.join("\n"))
    }
}

/// Reads and validates the configuration file (exit code 2 on any error).
pub fn load_config(path: &std::path::Path) -> Result<Config, Failure> {
    Ok(Config::load(path)?)
}

/// Opens the directory the configuration names (and migrates it).
pub async fn open_store(config: &Config) -> Result<Store, Failure> {
    Ok(Store::open(&config.directory_url).await?)
}

/// What the provider clients share: one HTTP client, the directory as the conditional-request
/// cache, and `observer` of the requests (the metrics, a progress line, or nothing).
pub fn provider_context(
    config: &Config,
    store: &Store,
    observer: Arc<dyn HttpObserver>,
) -> Result<ProviderContext, Failure> {
    let http =
        HttpClient::new(config.http.http_config()).map_err(|e| Failure::runtime(e.to_string()))?;
    Ok(ProviderContext {
        http,
        cache: Arc::new(store.clone()),
        observer,
    })
}

/// [`provider_context`] without a directory and without an observer: `check-config --online`
/// writes nothing and caches nothing.
pub fn offline_provider_context(config: &Config) -> Result<ProviderContext, Failure> {
    let http =
        HttpClient::new(config.http.http_config()).map_err(|e| Failure::runtime(e.to_string()))?;
    Ok(ProviderContext {
        http,
        cache: Arc::new(orgsync_core::cache::NoCache),
        observer: Arc::new(NoopObserver),
    })
}

/// The provider client of a workspace, for a run. A client that cannot be built (a missing
/// token file, say) becomes a provider whose fetch fails with the reason, so the run is recorded
/// as failed instead of being skipped: every command that syncs gets its client here.
pub fn provider(ws: &WorkspaceConfig, ctx: &ProviderContext) -> Box<dyn Provider> {
    crate::providers::build(ws, ctx).unwrap_or_else(|reason| {
        Box::new(Unbuildable {
            kind: ws.provider,
            reason,
        })
    })
}
