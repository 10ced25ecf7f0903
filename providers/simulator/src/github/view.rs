//! What one caller may see of an organisation, as GitHub decides it: owners see everything; a
//! member sees public and internal repositories and the private ones it can read, every member
//! (concealed ones included), the visible teams and the secret teams it belongs to, and none of
//! the owner-only organisation fields; anyone else sees public members and public repositories.
//! A fine-grained token or an App installation limited to selected repositories sees only those
//! (and public ones).

use crate::scenario::{
    GithubOrg, GithubRepo, GithubScenario, GithubTeam, MembershipState, OrgRole, TeamPrivacy,
};
use crate::server::{Caller, TokenKind};
use orgsync_core::{Permission, Visibility};
use std::collections::HashSet;

#[derive(Debug, Clone)]
pub(crate) struct View {
    pub owner: bool,
    pub member: bool,
    /// The caller's user id (`None`: an App, or a token of the scenario's all-owning user).
    pub user: Option<u64>,
    /// Selected repositories, lower case; `None`: no selection.
    pub repositories: Option<HashSet<String>>,
}

impl View {
    fn everything() -> View {
        View {
            owner: true,
            member: true,
            user: None,
            repositories: None,
        }
    }
}

fn lower(names: &[String]) -> HashSet<String> {
    names.iter().map(|n| n.to_ascii_lowercase()).collect()
}

pub(crate) fn of(world: &GithubScenario, org: &GithubOrg, caller: Option<&Caller>) -> View {
    let Some(caller) = caller else {
        return View::everything();
    };
    if caller.kind == TokenKind::Installation {
        return View {
            repositories: world
                .app
                .as_ref()
                .and_then(|a| a.repositories.as_deref())
                .map(lower),
            ..View::everything()
        };
    }
    let Some(spec) = world.tokens.iter().find(|t| t.token == caller.token) else {
        return View::everything();
    };
    let repositories = spec.repositories.as_deref().map(lower);
    let Some(login) = spec.user.as_deref() else {
        return View {
            repositories,
            ..View::everything()
        };
    };
    let user = world.user_by_login(login).map(|u| u.id);
    let membership = user.and_then(|id| {
        org.members
            .iter()
            .find(|m| m.user == id && m.state == MembershipState::Active)
    });
    View {
        owner: membership.is_some_and(|m| m.role == OrgRole::Admin),
        member: membership.is_some(),
        user,
        repositories,
    }
}

impl View {
    pub(crate) fn sees_repo(&self, repo: &GithubRepo, reads: impl Fn(u64) -> Permission) -> bool {
        if repo.visibility == Visibility::Public {
            return true;
        }
        if let Some(selected) = &self.repositories
            && !selected.contains(&repo.name.to_ascii_lowercase())
        {
            return false;
        }
        if self.owner {
            return true;
        }
        if !self.member {
            return false;
        }
        repo.visibility == Visibility::Internal || self.user.is_some_and(|u| reads(u).can_read())
    }

    pub(crate) fn sees_member(&self, concealed: bool) -> bool {
        !concealed || self.member
    }

    /// `in_team`: whether the caller is a member of the team (or of a team below it).
    pub(crate) fn sees_team(&self, team: &GithubTeam, in_team: impl Fn(u64) -> bool) -> bool {
        team.privacy != TeamPrivacy::Secret || self.owner || self.user.is_some_and(in_team)
    }
}
