//! The crate's one error type.

use std::path::PathBuf;

/// What can go wrong when loading a scenario or starting or driving a simulated server.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot read scenario file {path}: {source}")]
    ReadScenario {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("scenario file {path} is not valid {format}: {reason}")]
    ParseScenario {
        path: PathBuf,
        format: &'static str,
        reason: String,
    },
    #[error("scenario is inconsistent: {0}")]
    InvalidScenario(String),
    #[error("cannot bind the simulator's listener on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("mutation rejected: {0}")]
    Mutation(String),
    #[error("the scenario has no GitHub organisation to serve")]
    NoGithubOrg,
    #[error("the scenario has no GitLab group to serve")]
    NoGitlabGroup,
}
