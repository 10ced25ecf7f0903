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
use crate::scenario::{
    GithubOrg, GithubRepo, GithubScenario, MembershipState, OrgMember, OrgRole, Scenario,
};
use orgsync_core::{AdmitRule, FetchPolicy, Permission, Repository, TeamRole, Visibility};
use std::collections::{BTreeMap, BTreeSet};

/// A team as a correct client should replicate it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedTeam {
    /// The team's numeric id as a string.
    pub id: String,
    /// Display name.
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

/// The slugs of every team whose grants reach `user`: the teams the user is a direct member
/// of, and all their ancestors (a child team inherits its parent's repositories).
fn teams_reaching(org: &GithubOrg, user: u64) -> BTreeSet<String> {
    let direct: Vec<&str> = org
        .teams
        .iter()
        .filter(|t| t.members.iter().any(|m| m.user == user))
        .map(|t| t.slug.as_str())
        .collect();
    ancestors_of(org, &direct)
}

/// The given teams and all their ancestors, as lower-case slugs.
fn ancestors_of(org: &GithubOrg, direct: &[&str]) -> BTreeSet<String> {
    let mut reached = BTreeSet::new();
    for slug in direct {
        let mut cursor = Some(slug.to_ascii_lowercase());
        while let Some(slug) = cursor {
            if !reached.insert(slug.clone()) {
                break;
            }
            cursor = org
                .teams
                .iter()
                .find(|t| t.slug.eq_ignore_ascii_case(&slug))
                .and_then(|t| t.parent.as_ref().map(|p| p.to_ascii_lowercase()));
        }
    }
    reached
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
    let membership = org
        .members
        .iter()
        .find(|m| m.user == user && m.state == MembershipState::Active);
    let teams = teams_reaching(org, user);
    let mut grants = team_grants(org, &teams);
    add_role_grant(org, user, &teams, &mut grants);
    permission_from(org, membership, user, &grants, repo)
}

/// Organisation roles with a base role (the predefined all-repository roles, security
/// managers) grant it on every repository, to the users they are assigned to and to the members
/// of the teams they are assigned to (child teams' members included, as with repository
/// grants). Kept in `grants` under the key `*`.
fn add_role_grant(
    org: &GithubOrg,
    user: u64,
    teams: &BTreeSet<String>,
    grants: &mut BTreeMap<String, Permission>,
) {
    let best = org
        .organization_roles
        .iter()
        .filter(|r| {
            r.users.contains(&user)
                || r.teams
                    .iter()
                    .any(|t| teams.contains(&t.to_ascii_lowercase()))
        })
        .map(|r| r.base_role())
        .max()
        .unwrap_or(Permission::None);
    if best > Permission::None {
        grants.insert("*".to_string(), best);
    }
}

/// Repository name (lower case) -> the best permission any team reaching `user` grants on it.
fn team_grants(org: &GithubOrg, teams: &BTreeSet<String>) -> BTreeMap<String, Permission> {
    let mut grants: BTreeMap<String, Permission> = BTreeMap::new();
    for team in &org.teams {
        if !teams.contains(&team.slug.to_ascii_lowercase()) {
            continue;
        }
        for grant in &team.repos {
            let e = grants
                .entry(grant.repo.to_ascii_lowercase())
                .or_insert(grant.permission);
            *e = (*e).max(grant.permission);
        }
    }
    grants
}

/// One member x one repository, with the per-member parts (membership, team grants) computed
/// once per member, which keeps "every member x every repository" affordable for organisations
/// of thousands.
fn permission_from(
    org: &GithubOrg,
    membership: Option<&OrgMember>,
    user: u64,
    team_grants: &BTreeMap<String, Permission>,
    repo: &GithubRepo,
) -> Permission {
    let mut best = Permission::None;
    if let Some(m) = membership.filter(|m| m.state == MembershipState::Active) {
        if m.role == OrgRole::Admin {
            return Permission::Admin;
        }
        best = best.max(org.default_repository_permission);
        if matches!(repo.visibility, Visibility::Public | Visibility::Internal) {
            best = best.max(Permission::Read);
        }
        if let Some(p) = team_grants.get(&repo.name.to_ascii_lowercase()) {
            best = best.max(*p);
        }
        if let Some(p) = team_grants.get("*") {
            best = best.max(*p);
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
    let in_scope: Vec<&GithubRepo> = org
        .repos
        .iter()
        .filter(|r| policy.scope.includes(&as_core_repository(r)))
        .collect();
    // Who is directly in which team, gathered once instead of once per member.
    let mut direct_teams: BTreeMap<u64, Vec<&str>> = BTreeMap::new();
    for t in &org.teams {
        for m in &t.members {
            direct_teams
                .entry(m.user)
                .or_default()
                .push(t.slug.as_str());
        }
    }
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
            AdmitRule::AllRepositories => {
                let direct = direct_teams.get(&m.user).map_or(&[][..], Vec::as_slice);
                let teams = ancestors_of(org, direct);
                let mut grants = team_grants(org, &teams);
                add_role_grant(org, m.user, &teams, &mut grants);
                in_scope
                    .iter()
                    .all(|r| permission_from(org, Some(m), m.user, &grants, r) >= Permission::Read)
            }
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
