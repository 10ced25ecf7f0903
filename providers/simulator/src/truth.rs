//! Ground truth, computed by brute force from the raw grants of a scenario.
//!
//! This module deliberately shares no code with any provider client, nor with the simulated
//! server's routes: it evaluates every member against every in-scope repository straight from the
//! scenario's grants, so a test that compares a client's answer with it checks the client's
//! reasoning, not a copy of it.
//!
//! Rules (ARCHITECTURE.md section 1, GitHub):
//! * owners (`admin` role) read everything;
//! * a base permission (`default_repository_permission`) of read or more gives every member every
//!   repository;
//! * public repositories are readable by every member; so are internal ones, because GitHub gives
//!   every enterprise member read access to internal repositories;
//! * team grants apply to the team's members and to the members of its child teams (a child team
//!   inherits its parent's repositories);
//! * direct collaborator grants apply to that user;
//! * outside collaborators, pending invitees, suspended accounts and logins matching
//!   `exclude_members` are never admitted; `AdmitRule::AllMembers` admits every other active
//!   member.

use crate::SimError;
use crate::scenario::{GithubOrg, GithubRepo, GithubScenario, MembershipState, OrgRole, Scenario};
use orgsync_core::{AdmitRule, FetchPolicy, Permission, Repository, TeamRole, Visibility};
use std::collections::{BTreeMap, BTreeSet};

/// A team as a correct client should replicate it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedTeam {
    pub id: String,
    pub name: String,
    /// The parent team's slug.
    pub parent: Option<String>,
    /// Member id -> role; includes the members of child teams (as `member` unless they are also
    /// direct members). Only active, non-suspended organisation members.
    pub members: BTreeMap<String, TeamRole>,
    /// Repository name -> the highest permission from the team's own and its ancestors' grants.
    pub repositories: BTreeMap<String, Permission>,
}

impl Scenario {
    /// The member ids (as strings, like `Member::id`) a correct sync admits for the scenario's
    /// first GitHub organisation.
    pub fn expected_admitted(&self, policy: &FetchPolicy) -> Result<BTreeSet<String>, SimError> {
        let github = self.github()?;
        let org = github.orgs.first().ok_or(SimError::NoGithubOrg)?;
        Ok(expected_admitted(github, org, policy))
    }

    /// Teams of the scenario's first GitHub organisation, keyed by slug.
    pub fn expected_teams(&self) -> Result<BTreeMap<String, ExpectedTeam>, SimError> {
        let github = self.github()?;
        let org = github.orgs.first().ok_or(SimError::NoGithubOrg)?;
        Ok(expected_teams(github, org))
    }
}

/// The core model's view of a repository, for [`orgsync_core::RepositoryScope::includes`].
fn as_core_repository(repo: &GithubRepo) -> Repository {
    Repository {
        id: repo.id.to_string(),
        name: repo.name.clone(),
        archived: repo.archived,
        fork: repo.fork,
        visibility: repo.visibility,
    }
}

/// True when `user` is a direct member of `team_slug` or of any team below it.
fn in_team_or_descendant(org: &GithubOrg, team_slug: &str, user: u64) -> bool {
    org.teams.iter().any(|t| {
        t.members.iter().any(|m| m.user == user)
            && team_is_or_descends_from(org, &t.slug, team_slug)
    })
}

fn team_is_or_descends_from(org: &GithubOrg, slug: &str, ancestor: &str) -> bool {
    let mut cursor = Some(slug.to_string());
    let mut steps = 0;
    while let Some(current) = cursor {
        if current.eq_ignore_ascii_case(ancestor) {
            return true;
        }
        steps += 1;
        if steps > org.teams.len() {
            return false;
        }
        cursor = org
            .teams
            .iter()
            .find(|t| t.slug.eq_ignore_ascii_case(&current))
            .and_then(|t| t.parent.clone());
    }
    false
}

/// The effective permission of `user` on `repo`, from every grant there is.
pub fn effective_permission(org: &GithubOrg, user: u64, repo: &GithubRepo) -> Permission {
    let mut best = Permission::None;
    let membership = org
        .members
        .iter()
        .find(|m| m.user == user && m.state == MembershipState::Active);
    if let Some(m) = membership {
        if m.role == OrgRole::Admin {
            return Permission::Admin;
        }
        best = best.max(org.default_repository_permission);
        if matches!(repo.visibility, Visibility::Public | Visibility::Internal) {
            best = best.max(Permission::Read);
        }
        for team in &org.teams {
            for grant in &team.repos {
                if grant.repo.eq_ignore_ascii_case(&repo.name)
                    && in_team_or_descendant(org, &team.slug, user)
                {
                    best = best.max(grant.permission);
                }
            }
        }
    }
    for c in &repo.collaborators {
        if c.user == user {
            best = best.max(c.permission);
        }
    }
    best
}

/// Brute-force admission for one organisation.
pub fn expected_admitted(
    github: &GithubScenario,
    org: &GithubOrg,
    policy: &FetchPolicy,
) -> BTreeSet<String> {
    let mut admitted = BTreeSet::new();
    for m in &org.members {
        if m.state != MembershipState::Active {
            continue;
        }
        let Some(user) = github.user(m.user) else {
            continue;
        };
        if user.suspended || policy.exclude_members.matching(&user.login).is_some() {
            continue;
        }
        let admit = match policy.admit {
            AdmitRule::AllMembers => true,
            AdmitRule::AllRepositories => org
                .repos
                .iter()
                .filter(|r| policy.scope.includes(&as_core_repository(r)))
                .all(|r| effective_permission(org, m.user, r) >= Permission::Read),
        };
        if admit {
            admitted.insert(m.user.to_string());
        }
    }
    admitted
}

/// Every team with its members (children's included) and repositories (ancestors' included).
pub fn expected_teams(github: &GithubScenario, org: &GithubOrg) -> BTreeMap<String, ExpectedTeam> {
    let counts = |user: u64| {
        org.members
            .iter()
            .any(|m| m.user == user && m.state == MembershipState::Active)
            && github.user(user).is_some_and(|u| !u.suspended)
    };
    let mut out = BTreeMap::new();
    for team in &org.teams {
        let mut members = BTreeMap::new();
        for other in &org.teams {
            if !team_is_or_descends_from(org, &other.slug, &team.slug) {
                continue;
            }
            for m in &other.members {
                if !counts(m.user) {
                    continue;
                }
                let role = if other.slug == team.slug {
                    m.role
                } else {
                    TeamRole::Member
                };
                let entry = members.entry(m.user.to_string()).or_insert(role);
                *entry = (*entry).max(role);
            }
        }
        let mut repositories: BTreeMap<String, Permission> = BTreeMap::new();
        for ancestor in &org.teams {
            if !team_is_or_descends_from(org, &team.slug, &ancestor.slug) {
                continue;
            }
            for g in &ancestor.repos {
                let name = org
                    .repos
                    .iter()
                    .find(|r| r.name.eq_ignore_ascii_case(&g.repo))
                    .map_or_else(|| g.repo.clone(), |r| r.name.clone());
                let entry = repositories.entry(name).or_insert(g.permission);
                *entry = (*entry).max(g.permission);
            }
        }
        out.insert(
            team.slug.clone(),
            ExpectedTeam {
                id: team.id.to_string(),
                name: team.name.clone(),
                parent: team.parent.clone(),
                members,
                repositories,
            },
        );
    }
    out
}
