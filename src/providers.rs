//! Builds the [`Provider`] for a configured workspace.

use crate::config::WorkspaceConfig;
use crate::directory::Store;
use orgsync_core::Provider;

/// Builds the provider client of a workspace, with the directory as its HTTP cache.
pub fn build(ws: &WorkspaceConfig, _store: &Store) -> Result<Box<dyn Provider>, String> {
    Err(format!(
        "workspace `{}`: the {} provider is not part of this build yet",
        ws.name, ws.provider
    ))
}
