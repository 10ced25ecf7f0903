//! The targeted re-read behind webhooks: one member, without a full fetch.
//!
//! `GET /orgs/{org}/memberships/{username}` says whether the person is still a member (404: not
//! any more), with the role and state; `GET /users/{username}` confirms that the login still
//! belongs to the same account (a login renamed or reused between the event and the read proves
//! nothing) and fills in name, e-mail and suspension. A member who stays and is not an owner
//! needs every repository checked unless the base permission already grants read: that is a
//! full fetch's work, so the provider answers `Unsupported` and the caller runs one.

use crate::api;
use orgsync_core::http::{Route, WorkspaceClient};
use orgsync_core::{
    AccessVerdict, AdmitRule, FetchPolicy, Member, MemberState, Permission, ProviderError,
    ProviderKind,
};
use serde::Deserialize;

/// `org-membership`.
#[derive(Debug, Deserialize)]
struct OrgMembership {
    state: String,
    role: String,
    user: Option<api::SimpleUser>,
}

fn unsupported(what: &str) -> ProviderError {
    ProviderError::Unsupported {
        provider: ProviderKind::Github,
        what: what.to_owned(),
    }
}

pub(crate) async fn fetch_member(
    client: &WorkspaceClient,
    org: &str,
    policy: &FetchPolicy,
    id: &str,
    login: Option<&str>,
) -> Result<Option<Member>, ProviderError> {
    let Some(login) = login else {
        return Err(unsupported("a member known only by id"));
    };
    let user_route = Route::new("/users/{username}", format!("/users/{login}"));
    let membership = match client
        .get_json::<OrgMembership>(&Route::new(
            "/orgs/{org}/memberships/{username}",
            format!("/orgs/{org}/memberships/{login}"),
        ))
        .await
    {
        Ok(m) => Some(m),
        Err(ProviderError::NotFound { .. }) => None,
        Err(e) => return Err(e),
    };
    let user = match client.get_json::<api::PublicUser>(&user_route).await {
        Ok(u) if u.id.to_string() == id => u,
        // The login is gone or belongs to someone else now: a 404 above proves nothing about
        // the member we were asked about.
        Ok(_) | Err(ProviderError::NotFound { .. }) => {
            return Err(unsupported("a member whose login changed"));
        }
        Err(e) => return Err(e),
    };
    let Some(membership) = membership else {
        return Ok(None);
    };
    let is_owner = membership.role == "admin";
    let mut state = match membership.state.as_str() {
        "active" => MemberState::Active,
        _ => MemberState::Pending,
    };
    if user.suspended_at.is_some() {
        state = MemberState::Suspended;
    }
    let bot = membership
        .user
        .as_ref()
        .and_then(|u| u.kind.as_deref())
        .is_some_and(|k| k == "Bot");
    let access = if state != MemberState::Active || !policy.needs_access_verdict(login) {
        AccessVerdict::NotEvaluated
    } else if is_owner {
        AccessVerdict::ReadsAll
    } else if policy.admit == AdmitRule::AllRepositories {
        let org_full = client
            .get_json::<api::Organization>(&Route::new("/orgs/{org}", format!("/orgs/{org}")))
            .await?;
        let base = org_full
            .default_repository_permission
            .as_deref()
            .and_then(Permission::parse)
            .unwrap_or(Permission::None);
        if base.can_read() {
            AccessVerdict::ReadsAll
        } else {
            return Err(unsupported("the repository access of one member"));
        }
    } else {
        AccessVerdict::NotEvaluated
    };
    Ok(Some(Member {
        id: id.to_owned(),
        login: login.to_owned(),
        name: user.name,
        email: user.email,
        role: if is_owner { "admin" } else { "member" }.to_owned(),
        is_owner,
        state,
        bot,
        access,
    }))
}
