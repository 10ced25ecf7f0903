//! Explanations: why a person is in or out, from the snapshot a run read. Pure: the evidence per
//! in-scope repository is derived from the facts the provider returned (owners, base permission,
//! visibility, team grants with parents, the access verdict of the per-repository lists), so
//! `orgsync explain` needs no provider call.

use super::admit::{OffboardReason, admit};
use crate::config::WorkspaceConfig;
use orgsync_core::{AccessVerdict, Member, Permission, Snapshot, Visibility};
use serde::Serialize;
use std::fmt;

/// Why a person can (or cannot) read one repository, as the run saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "evidence", rename_all = "snake_case")]
pub enum Evidence {
    /// An owner or administrator of the account reads everything.
    Owner,
    /// The account's base permission gives every member this.
    BasePermission {
        /// The base permission.
        permission: Permission,
    },
    /// Public repositories count as readable by all members.
    Public,
    /// Internal repositories are readable by the account's members.
    Internal,
    /// A team the person is in grants this (through a child team they are in, if `via`).
    Team {
        /// The slug of the team whose grant counts.
        team: String,
        /// The permission the team has on the repository.
        permission: Permission,
        /// The child team the person is in, when membership comes through it; `None` when they are
        /// in `team` itself.
        via: Option<String>,
    },
    /// The provider's per-repository list showed read or more (a direct grant, an outside team
    /// or an organisation role).
    Listed,
    /// The provider's per-repository list showed no read access.
    CannotRead,
    /// Not evaluated: the policy admits all members, or the person could not be admitted anyway.
    NotEvaluated,
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Evidence::Owner => f.write_str("owner of the account"),
            Evidence::BasePermission { permission } => {
                write!(f, "base permission {permission} for every member")
            }
            Evidence::Public => f.write_str("public repository"),
            Evidence::Internal => f.write_str("internal repository"),
            Evidence::Team {
                team,
                permission,
                via: Some(child),
            } => write!(
                f,
                "team {} ({permission}), through its child team {}",
                crate::text::Escaped(team),
                crate::text::Escaped(child)
            ),
            Evidence::Team {
                team, permission, ..
            } => write!(f, "team {} ({permission})", crate::text::Escaped(team)),
            Evidence::Listed => f.write_str(
                "read or more on the repository's access list (direct grant, outside team or organisation role)",
            ),
            Evidence::CannotRead => f.write_str("CANNOT READ: no read access on the repository's access list"),
            Evidence::NotEvaluated => f.write_str("not evaluated"),
        }
    }
}

/// What the run decided about the person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Admitted to the workspace.
    Admitted {
        /// The directory role the provider role maps to.
        role: String,
    },
    /// A member of the account, but refused admission.
    Refused {
        /// Why: the same reason an offboard would give.
        reason: OffboardReason,
    },
    /// Not in the account's member list the run read.
    NotAMember,
}

/// One person, as a run saw them.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The person as the account's member list showed them; `None` when not a member.
    pub member: Option<Member>,
    /// What the run decided.
    pub decision: Decision,
    /// Every in-scope repository with the evidence that decided it (empty for non-members).
    pub repositories: Vec<(String, Evidence)>,
    /// The teams the person is in (a child team's members belong to its parents too).
    pub teams: Vec<String>,
}

/// Finds a member by immutable id or login (logins compare case-insensitively).
pub fn find<'a>(snapshot: &'a Snapshot, who: &str) -> Option<&'a Member> {
    snapshot.members.iter().find(|m| m.id == who).or_else(|| {
        snapshot
            .members
            .iter()
            .find(|m| m.login.eq_ignore_ascii_case(who))
    })
}

/// Explains the person `who` (id or login) from the snapshot a run read.
pub fn explain(snapshot: &Snapshot, ws: &WorkspaceConfig, who: &str) -> Explanation {
    let Some(m) = find(snapshot, who) else {
        return Explanation {
            member: None,
            decision: Decision::NotAMember,
            repositories: Vec::new(),
            teams: Vec::new(),
        };
    };
    let desired = admit(snapshot, ws);
    let decision = match (desired.members.get(&m.id), desired.refused.get(&m.id)) {
        (Some(d), _) => Decision::Admitted {
            role: d.role.clone(),
        },
        (None, Some((_, reason))) => Decision::Refused {
            reason: reason.clone(),
        },
        (None, None) => Decision::NotAMember,
    };
    let teams: Vec<&orgsync_core::Team> = snapshot
        .teams
        .iter()
        .flatten()
        .filter(|t| t.members.iter().any(|tm| tm.member_id == m.id))
        .collect();
    let scope = &ws.scope;
    let repositories = snapshot
        .repositories
        .iter()
        .filter(|r| scope.includes(r))
        .map(|r| (r.name.clone(), evidence(snapshot, m, r, &teams)))
        .collect();
    Explanation {
        member: Some(m.clone()),
        decision,
        repositories,
        teams: teams.iter().map(|t| t.slug.clone()).collect(),
    }
}

fn evidence(
    snapshot: &Snapshot,
    m: &Member,
    repo: &orgsync_core::Repository,
    teams: &[&orgsync_core::Team],
) -> Evidence {
    if m.is_owner {
        return Evidence::Owner;
    }
    if snapshot.account.base_permission.can_read() {
        return Evidence::BasePermission {
            permission: snapshot.account.base_permission,
        };
    }
    match repo.visibility {
        Visibility::Public => return Evidence::Public,
        Visibility::Internal => return Evidence::Internal,
        Visibility::Private => {}
    }
    let granting = teams.iter().find_map(|t| {
        t.repositories
            .iter()
            .find(|g| g.repository == repo.name && g.permission.can_read())
            .map(|g| (t, g.permission))
    });
    if let Some((team, permission)) = granting {
        // Members of a child team are members of its parent: name the child they are in.
        let via = teams
            .iter()
            .find(|c| c.parent.as_deref() == Some(team.slug.as_str()))
            .map(|c| c.slug.clone());
        return Evidence::Team {
            team: team.slug.clone(),
            permission,
            via,
        };
    }
    match &m.access {
        AccessVerdict::CannotRead { repository } if *repository == repo.name => {
            Evidence::CannotRead
        }
        AccessVerdict::ReadsAll => Evidence::Listed,
        // The provider stops at the first repository a member cannot read.
        AccessVerdict::CannotRead { .. } | AccessVerdict::NotEvaluated => Evidence::NotEvaluated,
    }
}
