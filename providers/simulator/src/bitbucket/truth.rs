//! Brute-force ground truth for a Bitbucket workspace: for every member and every repository,
//! the best of every grant there is, with no shortcut and no code shared with the routes or any
//! client.
//!
//! Rules (PROVIDERS.md 3, ARCHITECTURE.md 1): workspace owners are admins of every repository;
//! otherwise a member's permission on a repository is the highest of the repository's grants to
//! them or to a group they belong to and the same grants on the repository's project
//! (`create-repo` counts as write); a public repository is readable by every member. Reading
//! means `read` or higher. Every member is active (Bitbucket has no suspended memberships).

use crate::SimError;
use crate::scenario::{BitbucketRepo, BitbucketScenario, BitbucketWorkspace, WorkspaceRole};
use orgsync_core::{AdmitRule, FetchPolicy, Permission, Repository, Visibility};
use std::collections::{BTreeMap, BTreeSet};

/// A group as orgsync should replicate it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedBitbucketTeam {
    /// Group slug.
    pub slug: String,
    /// Group display name.
    pub name: String,
    /// Member uuids.
    pub members: BTreeSet<String>,
    /// Repository slug -> the group's best grant on it (repository or project level).
    pub repositories: BTreeMap<String, Permission>,
}

/// The repository as the core model sees it (slug as name, forks by `parent`).
pub fn as_core_repository(repo: &BitbucketRepo) -> Repository {
    Repository {
        id: repo.uuid.clone(),
        name: repo.slug.clone(),
        archived: false,
        fork: repo.parent.is_some(),
        visibility: if repo.is_private {
            Visibility::Private
        } else {
            Visibility::Public
        },
    }
}

fn in_group(w: &BitbucketWorkspace, group: &str, user: &str) -> bool {
    w.groups
        .iter()
        .any(|g| g.slug.eq_ignore_ascii_case(group) && g.members.iter().any(|m| m == user))
}

/// `user`'s effective permission on `repo`, from every grant there is.
pub fn effective_permission(
    w: &BitbucketWorkspace,
    user: &str,
    repo: &BitbucketRepo,
) -> Permission {
    let Some(member) = w.members.iter().find(|m| m.user == user) else {
        return Permission::None;
    };
    if member.role == WorkspaceRole::Owner {
        return Permission::Admin;
    }
    let mut best = Permission::None;
    if !repo.is_private {
        best = Permission::Read;
    }
    let project = w
        .projects
        .iter()
        .find(|p| p.key.eq_ignore_ascii_case(&repo.project));
    let user_grants = repo
        .users
        .iter()
        .chain(project.into_iter().flat_map(|p| p.users.iter()));
    for g in user_grants {
        if g.user == user {
            best = best.max(g.permission.on_repository());
        }
    }
    let group_grants = repo
        .groups
        .iter()
        .chain(project.into_iter().flat_map(|p| p.groups.iter()));
    for g in group_grants {
        if in_group(w, &g.group, user) {
            best = best.max(g.permission.on_repository());
        }
    }
    best
}

fn workspace<'a>(
    world: &'a BitbucketScenario,
    slug: &str,
) -> Result<&'a BitbucketWorkspace, SimError> {
    world
        .workspace(slug)
        .ok_or_else(|| SimError::InvalidScenario(format!("bitbucket: no workspace {slug}")))
}

/// The uuids orgsync must admit for `policy`: members not excluded by nickname who, under
/// `all-repositories`, read every in-scope repository.
pub fn expected_admitted(
    world: &BitbucketScenario,
    workspace_slug: &str,
    policy: &FetchPolicy,
) -> Result<BTreeSet<String>, SimError> {
    let w = workspace(world, workspace_slug)?;
    let mut admitted = BTreeSet::new();
    for m in &w.members {
        let Some(user) = world.user(&m.user) else {
            continue;
        };
        if policy.exclude_members.matching(&user.nickname).is_some() {
            continue;
        }
        let reads_all = match policy.admit {
            AdmitRule::AllMembers => true,
            AdmitRule::AllRepositories => w
                .repositories
                .iter()
                .filter(|r| policy.scope.includes(&as_core_repository(r)))
                .all(|r| effective_permission(w, &m.user, r).can_read()),
        };
        if reads_all {
            admitted.insert(m.user.clone());
        }
    }
    Ok(admitted)
}

/// Every group of the workspace with its members and the repositories it has a grant on.
pub fn expected_teams(
    world: &BitbucketScenario,
    workspace_slug: &str,
) -> Result<BTreeMap<String, ExpectedBitbucketTeam>, SimError> {
    let w = workspace(world, workspace_slug)?;
    let mut teams = BTreeMap::new();
    for g in &w.groups {
        let mut repositories = BTreeMap::new();
        for r in &w.repositories {
            let project = w
                .projects
                .iter()
                .find(|p| p.key.eq_ignore_ascii_case(&r.project));
            let best = r
                .groups
                .iter()
                .chain(project.into_iter().flat_map(|p| p.groups.iter()))
                .filter(|grant| grant.group.eq_ignore_ascii_case(&g.slug))
                .map(|grant| grant.permission.on_repository())
                .max()
                .unwrap_or(Permission::None);
            if best > Permission::None {
                repositories.insert(r.slug.clone(), best);
            }
        }
        teams.insert(
            g.slug.clone(),
            ExpectedBitbucketTeam {
                slug: g.slug.clone(),
                name: g.name.clone(),
                members: g.members.iter().cloned().collect(),
                repositories,
            },
        );
    }
    Ok(teams)
}
