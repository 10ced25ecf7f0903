//! The world a simulated provider serves, as plain serde data.
//!
//! A [`Scenario`] holds one section per provider. Only GitHub exists so far; GitLab and Bitbucket
//! sections are added as new optional fields (`#[serde(default)]`), so every existing scenario file
//! stays valid.
//!
//! Files are JSON (`.json`) or TOML (anything else). Everyone is keyed on immutable numeric ids;
//! logins are data and may be renamed at run time through the mutation API.

mod bitbucket;
mod github;
mod gitlab;
mod synthetic;

pub use bitbucket::*;
pub use github::*;
pub use gitlab::*;
pub use synthetic::{SyntheticSize, synthetic_github};

use crate::SimError;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Everything the simulated providers serve.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Free text saying what the scenario is for (edge cases it covers).
    #[serde(default)]
    pub description: String,
    /// The GitHub world (users, organisations, tokens, the GitHub App); `None` when the scenario
    /// does not involve GitHub.
    #[serde(default)]
    pub github: Option<GithubScenario>,
    /// The GitLab instance (users, group trees, projects, tokens); `None` when the scenario
    /// does not involve GitLab.
    #[serde(default)]
    pub gitlab: Option<GitlabScenario>,
    /// Bitbucket Cloud (users, workspaces, projects, repositories, groups, credentials);
    /// `None` when the scenario does not involve Bitbucket.
    #[serde(default)]
    pub bitbucket: Option<BitbucketScenario>,
}

impl Scenario {
    /// Reads a scenario from a `.json` or `.toml` file and checks that its references resolve.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Scenario, SimError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| SimError::ReadScenario {
            path: path.to_path_buf(),
            source,
        })?;
        let is_json = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
        let scenario = if is_json {
            Scenario::from_json(&text)
        } else {
            Scenario::from_toml(&text)
        };
        scenario.map_err(|e| match e {
            SimError::ParseScenario { format, reason, .. } => SimError::ParseScenario {
                path: path.to_path_buf(),
                format,
                reason,
            },
            other => other,
        })
    }

    /// Parses and validates a scenario written as JSON.
    pub fn from_json(text: &str) -> Result<Scenario, SimError> {
        let scenario: Scenario =
            serde_json::from_str(text).map_err(|e| SimError::ParseScenario {
                path: "<json>".into(),
                format: "JSON",
                reason: e.to_string(),
            })?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// Parses and validates a scenario written as TOML.
    pub fn from_toml(text: &str) -> Result<Scenario, SimError> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| SimError::ParseScenario {
            path: "<toml>".into(),
            format: "TOML",
            reason: e.to_string(),
        })?;
        scenario.validate()?;
        Ok(scenario)
    }

    /// A generated GitHub organisation of the given size, the same for the same seed.
    pub fn synthetic(seed: u64, size: SyntheticSize) -> Scenario {
        Scenario {
            description: format!(
                "synthetic seed={seed} members={} repos={} teams={}",
                size.members, size.repos, size.teams
            ),
            github: Some(synthetic_github(seed, size)),
            ..Scenario::default()
        }
    }

    /// A generated GitLab group tree of the given size, the same for the same seed (see
    /// [`crate::gitlab::synthetic`]).
    pub fn synthetic_gitlab(seed: u64, size: crate::gitlab::synthetic::GitlabSize) -> Scenario {
        Scenario {
            description: format!(
                "synthetic gitlab seed={seed} members={} projects={} subgroups={}",
                size.members, size.projects, size.subgroups
            ),
            gitlab: Some(crate::gitlab::synthetic::synthetic_gitlab(seed, size)),
            ..Scenario::default()
        }
    }

    /// A generated Bitbucket workspace of the given size, the same for the same seed (see
    /// [`crate::bitbucket::synthetic`]).
    pub fn synthetic_bitbucket(
        seed: u64,
        size: crate::bitbucket::synthetic::BitbucketSize,
    ) -> Scenario {
        Scenario {
            description: format!(
                "synthetic bitbucket seed={seed} members={} repos={} groups={}",
                size.members, size.repos, size.groups
            ),
            bitbucket: Some(crate::bitbucket::synthetic::synthetic_bitbucket(seed, size)),
            ..Scenario::default()
        }
    }

    /// Checks that every id and slug a scenario refers to exists, so a typo in a hand-written
    /// file fails at load time and not as a puzzling answer from the server.
    pub fn validate(&self) -> Result<(), SimError> {
        if let Some(github) = &self.github {
            github.validate()?;
        }
        if let Some(gitlab) = &self.gitlab {
            gitlab.validate()?;
        }
        if let Some(bitbucket) = &self.bitbucket {
            bitbucket.validate()?;
        }
        Ok(())
    }

    /// The GitHub section, or [`SimError::NoGithubOrg`].
    pub fn github(&self) -> Result<&GithubScenario, SimError> {
        self.github.as_ref().ok_or(SimError::NoGithubOrg)
    }
}
