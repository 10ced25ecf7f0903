//! The crate's one error type.

use std::path::PathBuf;

/// What can go wrong when loading a scenario or starting or driving a simulated server.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A scenario file could not be read.
    #[error("cannot read scenario file {path}: {source}")]
    ReadScenario {
        /// The file.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// A scenario file is not valid JSON or TOML for the scenario model.
    #[error("scenario file {path} is not valid {format}: {reason}")]
    ParseScenario {
        /// The file; `<json>` or `<toml>` for text parsed from memory.
        path: PathBuf,
        /// `JSON` or `TOML`.
        format: &'static str,
        /// The parser's message.
        reason: String,
    },
    /// The scenario parsed but is inconsistent: a duplicate id or a reference that does not
    /// resolve.
    #[error("scenario is inconsistent: {0}")]
    InvalidScenario(String),
    /// The listening socket could not be bound.
    #[error("cannot bind the simulator's listener on {addr}: {source}")]
    Bind {
        /// The address asked for (`127.0.0.1:PORT`).
        addr: String,
        /// Why binding failed.
        source: std::io::Error,
    },
    /// A mutation names something that does not exist or would break the scenario's consistency.
    #[error("mutation rejected: {0}")]
    Mutation(String),
    /// A GitHub server was asked for a scenario without organisations.
    #[error("the scenario has no GitHub organisation to serve")]
    NoGithubOrg,
    /// A GitLab server was asked for a scenario without groups.
    #[error("the scenario has no GitLab group to serve")]
    NoGitlabGroup,
}
