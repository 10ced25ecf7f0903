//! Admission: which provider members belong in the workspace, with which directory role.
//! Pure: a [`Snapshot`] and the workspace's policy in, a [`Desired`] state out.

use crate::config::WorkspaceConfig;
use orgsync_core::{AccessVerdict, AdmitRule, MemberState, Permission, Snapshot, TeamRole};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// Why a member is, or would be, offboarded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OffboardReason {
    /// No longer a member of the provider account.
    LeftAccount,
    /// Still a member, but cannot read this in-scope repository.
    LostAccess {
        /// An in-scope repository the member cannot read, or `(access not evaluated)` when the
        /// provider did not evaluate them.
        repository: String,
    },
    /// The provider account or membership is not active (blocked, suspended, pending, …).
    AccountState {
        /// The member state (`pending`, `awaiting`, `blocked`, `suspended`, `deactivated`).
        state: String,
    },
    /// The login matches an `exclude_members` pattern.
    Excluded {
        /// The `exclude_members` glob that matched the login.
        pattern: String,
    },
    /// A bot user created by an access token.
    Bot,
}

impl fmt::Display for OffboardReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OffboardReason::LeftAccount => f.write_str("left the account"),
            OffboardReason::LostAccess { repository } => write!(
                f,
                "lost access to repository {}",
                crate::text::Escaped(repository)
            ),
            OffboardReason::AccountState { state } => {
                write!(f, "account {}", crate::text::Escaped(state))
            }
            OffboardReason::Excluded { pattern } => {
                write!(f, "excluded by exclude_members `{pattern}`")
            }
            OffboardReason::Bot => f.write_str("bot account"),
        }
    }
}

/// A member who should be active in the workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredMember {
    /// The login at the provider now.
    pub login: String,
    /// The display name, when the provider shows it.
    pub name: Option<String>,
    /// The e-mail address, when the provider shows it.
    pub email: Option<String>,
    /// The directory role, mapped from the provider role.
    pub role: String,
}

/// A team as the directory should hold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredTeam {
    /// The display name.
    pub name: String,
    /// The parent team's slug; `None` for a root team or a parent outside the provider's list.
    pub parent: Option<String>,
    /// The provider's immutable team id.
    pub provider_team_id: String,
    /// Admitted members only, by provider user id.
    pub members: BTreeMap<String, TeamRole>,
    /// Grants on in-scope repositories by repository name (empty unless `teams = "full"`).
    pub repositories: BTreeMap<String, Permission>,
}

/// A repository of the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepositoryInfo {
    /// The provider's immutable repository id.
    pub provider_repo_id: String,
    /// Archived (read-only) at the provider.
    pub archived: bool,
    /// A fork of another repository.
    pub fork: bool,
    /// `public`, `internal` or `private`.
    pub visibility: String,
}

/// The state the directory should reach for one workspace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Desired {
    /// Admitted members by provider user id.
    pub members: BTreeMap<String, DesiredMember>,
    /// Members of the account who are not admitted, with the reason (for offboarding).
    pub refused: BTreeMap<String, (String, OffboardReason)>,
    /// `None`: leave teams as they are (teams unknown or unavailable).
    /// `Some(empty)` with teams off: remove every synced team.
    pub teams: Option<BTreeMap<String, DesiredTeam>>,
    /// In-scope repositories by name.
    pub repositories: BTreeMap<String, RepositoryInfo>,
    /// How many members the provider reported in all (for the empty-source guard).
    pub provider_member_count: usize,
}

/// Applies the workspace's admission rule to a snapshot.
pub fn admit(snapshot: &Snapshot, ws: &WorkspaceConfig) -> Desired {
    let exclusions = &ws.exclude_members;
    let mut desired = Desired {
        provider_member_count: snapshot.members.len(),
        ..Desired::default()
    };
    for m in &snapshot.members {
        let refusal = if m.state != MemberState::Active {
            Some(OffboardReason::AccountState {
                state: m.state.as_str().to_string(),
            })
        } else if let Some(pattern) = exclusions.matching(&m.login) {
            Some(OffboardReason::Excluded {
                pattern: pattern.to_string(),
            })
        } else if m.bot && !ws.include_bots {
            Some(OffboardReason::Bot)
        } else if ws.admit == AdmitRule::AllRepositories && !m.is_owner {
            match &m.access {
                AccessVerdict::ReadsAll => None,
                AccessVerdict::CannotRead { repository } => Some(OffboardReason::LostAccess {
                    repository: repository.clone(),
                }),
                // A provider that did not evaluate a member it should have cannot prove access:
                // refuse admission, but say why.
                AccessVerdict::NotEvaluated => Some(OffboardReason::LostAccess {
                    repository: "(access not evaluated)".to_string(),
                }),
            }
        } else {
            None
        };
        match refusal {
            Some(reason) => {
                desired
                    .refused
                    .insert(m.id.clone(), (m.login.clone(), reason));
            }
            None => {
                desired.members.insert(
                    m.id.clone(),
                    DesiredMember {
                        login: m.login.clone(),
                        name: m.name.clone(),
                        email: m.email.clone(),
                        role: ws.map_role(&m.role),
                    },
                );
            }
        }
    }

    for r in &snapshot.repositories {
        desired.repositories.insert(
            r.name.clone(),
            RepositoryInfo {
                provider_repo_id: r.id.clone(),
                archived: r.archived,
                fork: r.fork,
                visibility: match r.visibility {
                    orgsync_core::Visibility::Public => "public",
                    orgsync_core::Visibility::Internal => "internal",
                    orgsync_core::Visibility::Private => "private",
                }
                .to_string(),
            },
        );
    }

    desired.teams = match (ws.teams, &snapshot.teams) {
        (orgsync_core::TeamsMode::Off, _) => Some(BTreeMap::new()),
        (_, None) => None,
        (mode, Some(teams)) => {
            let known: BTreeSet<&str> = teams.iter().map(|t| t.slug.as_str()).collect();
            Some(
                teams
                    .iter()
                    .map(|t| {
                        let members = t
                            .members
                            .iter()
                            .filter(|tm| desired.members.contains_key(&tm.member_id))
                            .map(|tm| (tm.member_id.clone(), tm.role))
                            .collect();
                        let repositories = if mode == orgsync_core::TeamsMode::Full {
                            t.repositories
                                .iter()
                                .filter(|g| desired.repositories.contains_key(&g.repository))
                                .map(|g| (g.repository.clone(), g.permission))
                                .collect()
                        } else {
                            BTreeMap::new()
                        };
                        (
                            t.slug.clone(),
                            DesiredTeam {
                                name: t.name.clone(),
                                // A parent outside the list would dangle: treat as a root team.
                                parent: t.parent.clone().filter(|p| known.contains(p.as_str())),
                                provider_team_id: t.id.clone(),
                                members,
                                repositories,
                            },
                        )
                    })
                    .collect(),
            )
        }
    };
    desired
}
