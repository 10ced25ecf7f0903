//! The GitHub REST routes (PROVIDERS.md 1.2), registered at the root (github.com) and under
//! `/api/v3` (Enterprise Server).
//!
//! Access is computed here from the scenario's grants, independently of [`crate::truth`], the
//! way GitHub's own endpoints expose it: each route shows one view (collaborators with their
//! highest role, a team's repositories with inherited grants, …).

use super::json::{
    Collaborator, CollaboratorPermission, OrganizationInvitation, Permissions, TeamMember,
    TeamMembership,
};
use super::{GithubState, app, not_found, urls, view};
use crate::scenario::{
    GithubOrg, GithubRepo, GithubScenario, GithubTeam, GithubUser, MembershipState, OrgRole,
};
use crate::server::{Caller, Page, pagination::PageQuery, read};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use orgsync_core::{Permission, TeamRole, Visibility};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

type Params = Query<HashMap<String, String>>;
pub(super) type CallerExt = Option<Extension<Caller>>;

pub(super) fn caller_of(caller: &CallerExt) -> Option<&Caller> {
    caller.as_ref().map(|Extension(c)| c)
}

/// The caller's view of `o` ([`view`]).
pub(super) fn view_for(world: &GithubScenario, o: &GithubOrg, caller: &CallerExt) -> view::View {
    view::of(world, o, caller_of(caller))
}

/// Whether the caller sees repository `r` of `o`.
pub(super) fn sees_repo(v: &view::View, o: &GithubOrg, r: &GithubRepo) -> bool {
    v.sees_repo(r, |user| {
        all_collaborators(o, r)
            .get(&user)
            .copied()
            .unwrap_or(Permission::None)
    })
}

/// Whether the caller sees team `slug` of `o` (secret teams: owners and the team's members).
pub(super) fn sees_team(
    world: &GithubScenario,
    v: &view::View,
    o: &GithubOrg,
    t: &GithubTeam,
) -> bool {
    v.sees_team(t, |user| {
        team_member_list(world, o, &t.slug).contains_key(&user)
    })
}

pub(crate) fn router(state: GithubState) -> Router {
    let mut router = Router::new();
    for prefix in ["", "/api/v3"] {
        let p = |path: &str| format!("{prefix}{path}");
        router = router
            .route(&p("/orgs/{org}"), get(get_org))
            .route(&p("/orgs/{org}/members"), get(list_members))
            .route(
                &p("/orgs/{org}/memberships/{username}"),
                get(get_membership),
            )
            .route(&p("/orgs/{org}/outside_collaborators"), get(list_outside))
            .route(&p("/orgs/{org}/invitations"), get(list_invitations))
            .route(&p("/orgs/{org}/teams"), get(list_teams))
            .route(&p("/orgs/{org}/teams/{team_slug}"), get(get_team))
            .route(
                &p("/orgs/{org}/teams/{team_slug}/teams"),
                get(list_child_teams),
            )
            .route(
                &p("/orgs/{org}/teams/{team_slug}/members"),
                get(list_team_members),
            )
            .route(
                &p("/orgs/{org}/teams/{team_slug}/memberships/{username}"),
                get(get_team_membership),
            )
            .route(
                &p("/orgs/{org}/teams/{team_slug}/repos"),
                get(list_team_repos),
            )
            .route(&p("/orgs/{org}/repos"), get(list_org_repos))
            .route(
                &p("/repos/{owner}/{repo}/collaborators"),
                get(list_collaborators),
            )
            .route(
                &p("/repos/{owner}/{repo}/collaborators/{username}/permission"),
                get(get_collaborator_permission),
            )
            .route(&p("/repos/{owner}/{repo}/teams"), get(list_repo_teams))
            .route(&p("/orgs/{org}/members/{username}"), get(check_member))
            .route(
                &p("/orgs/{org}/teams/{team_slug}/repos/{owner}/{repo}"),
                get(check_team_repo),
            )
            .route(&p("/users/{username}"), get(get_user))
            .route(&p("/user/{account_id}"), get(get_user_by_id))
            .route(&p("/user/memberships/orgs/{org}"), get(get_own_membership))
            .route(&p("/orgs/{org}/organization-roles"), get(list_org_roles))
            .route(
                &p("/orgs/{org}/organization-roles/{role_id}/users"),
                get(list_org_role_users),
            )
            .route(
                &p("/orgs/{org}/organization-roles/{role_id}/teams"),
                get(list_org_role_teams),
            )
            .route(
                &p("/orgs/{org}/installation"),
                get(app::get_org_installation),
            )
            .route(
                &p("/app/installations/{installation_id}/access_tokens"),
                post(app::create_installation_token),
            )
            .route(&p("/rate_limit"), get(app::rate_limit));
    }
    // GraphQL: `/graphql` on github.com, `/api/graphql` on Enterprise Server (not under
    // `/api/v3`).
    router = router
        .route("/graphql", post(super::graphql::serve))
        .route("/api/graphql", post(super::graphql::serve));
    router
        .route("/_sim/github/mutations", post(super::mutation::http_mutate))
        .with_state(state)
}

/// One page of `items`, with GitHub's `Link` header when there is more than one page.
fn paged<T: Serialize>(
    state: &GithubState,
    uri: &Uri,
    params: &HashMap<String, String>,
    items: &[T],
) -> Response {
    let query = PageQuery {
        page: params.get("page").cloned(),
        per_page: params.get("per_page").cloned(),
    };
    let page = Page::from_query(&query, 30, 100);
    let mut response = Json(page.slice(items)).into_response();
    if let Some(link) = page.link_header(&format!("{}{}", state.base, uri), items.len())
        && let Ok(value) = HeaderValue::from_str(&link)
    {
        response.headers_mut().insert(header::LINK, value);
    }
    response
}

pub(super) fn find_org<'a>(world: &'a GithubScenario, login: &str) -> Option<&'a GithubOrg> {
    world.org(login)
}

fn active_member(org: &GithubOrg, user: u64) -> bool {
    org.members
        .iter()
        .any(|m| m.user == user && m.state == MembershipState::Active)
}

/// Active members' ids, built once per request so list routes stay linear in large orgs.
pub(super) fn active_set(org: &GithubOrg) -> HashSet<u64> {
    org.members
        .iter()
        .filter(|m| m.state == MembershipState::Active)
        .map(|m| m.user)
        .collect()
}

/// Users by id, built once per request for the same reason.
pub(super) fn users_by_id(world: &GithubScenario) -> HashMap<u64, &GithubUser> {
    world.users.iter().map(|u| (u.id, u)).collect()
}

/// `team` and every team below it.
pub(super) fn with_descendants<'a>(org: &'a GithubOrg, slug: &str) -> Vec<&'a GithubTeam> {
    let mut out: Vec<&GithubTeam> = org.team(slug).into_iter().collect();
    let mut i = 0;
    while i < out.len() {
        let current = out[i].slug.clone();
        for t in &org.teams {
            if t.parent
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case(&current))
                && !out.iter().any(|o| o.slug == t.slug)
            {
                out.push(t);
            }
        }
        i += 1;
    }
    out
}

/// `team` and every team above it.
fn with_ancestors<'a>(org: &'a GithubOrg, slug: &str) -> Vec<&'a GithubTeam> {
    let mut out: Vec<&GithubTeam> = Vec::new();
    let mut cursor = org.team(slug);
    while let Some(t) = cursor {
        if out.iter().any(|o| o.slug == t.slug) {
            break;
        }
        out.push(t);
        cursor = t.parent.as_deref().and_then(|p| org.team(p));
    }
    out
}

/// The team's repositories with the highest grant, the parent teams' grants included.
pub(super) fn team_repos(org: &GithubOrg, slug: &str) -> BTreeMap<u64, Permission> {
    let mut grants = BTreeMap::new();
    for t in with_ancestors(org, slug) {
        for g in &t.repos {
            if let Some(r) = org.repo(&g.repo) {
                let e = grants.entry(r.id).or_insert(g.permission);
                *e = (*e).max(g.permission);
            }
        }
    }
    grants
}

/// Who GitHub lists as collaborators with `affiliation=all`, with their highest permission:
/// outside and direct collaborators, team-granted members (child teams included), members via
/// the base permission, and owners.
pub(super) fn all_collaborators(org: &GithubOrg, repo: &GithubRepo) -> BTreeMap<u64, Permission> {
    let active = active_set(org);
    let mut out: BTreeMap<u64, Permission> = BTreeMap::new();
    let mut raise = |user: u64, p: Permission| {
        if p > Permission::None {
            let e = out.entry(user).or_insert(p);
            *e = (*e).max(p);
        }
    };
    for m in &org.members {
        if m.state != MembershipState::Active {
            continue;
        }
        if m.role == OrgRole::Admin {
            raise(m.user, Permission::Admin);
        }
        raise(m.user, org.default_repository_permission);
    }
    for t in &org.teams {
        // The team's grant on this repository, its ancestors' grants included.
        let grant = with_ancestors(org, &t.slug)
            .iter()
            .flat_map(|a| a.repos.iter())
            .filter(|g| g.repo.eq_ignore_ascii_case(&repo.name))
            .map(|g| g.permission)
            .max();
        let Some(p) = grant else {
            continue;
        };
        for m in &t.members {
            if active.contains(&m.user) {
                raise(m.user, p);
            }
        }
    }
    for c in &repo.collaborators {
        if active.contains(&c.user) || org.outside_collaborators.contains(&c.user) {
            raise(c.user, c.permission);
        }
    }
    // Organisation roles with a base role grant it on every repository, to their users and to
    // the members of their teams (child teams included).
    for role in &org.organization_roles {
        let p = role.base_role();
        for user in &role.users {
            if active.contains(user) {
                raise(*user, p);
            }
        }
        for slug in &role.teams {
            for t in with_descendants(org, slug) {
                for m in &t.members {
                    if active.contains(&m.user) {
                        raise(m.user, p);
                    }
                }
            }
        }
    }
    out
}

fn role_json(
    base: &str,
    o: &GithubOrg,
    role: &crate::scenario::OrganizationRole,
) -> serde_json::Value {
    let predefined = role.name.starts_with("all_repo_") || role.name == "security_manager";
    serde_json::json!({
        "id": role.id,
        "name": role.name,
        "description": null,
        "base_role": role.base_role.map(|p| p.as_str()),
        "source": if predefined { "Predefined" } else { "Organization" },
        "permissions": [],
        "organization": urls::org_simple(base, o),
        "created_at": "2020-01-01T00:00:00Z",
        "updated_at": "2020-01-01T00:00:00Z"
    })
}

/// `GET /orgs/{org}/organization-roles`: owners only (others get `404`, as GitHub answers a
/// caller without the right).
async fn list_org_roles(
    State(state): State<GithubState>,
    Path(org): Path<String>,
    caller: CallerExt,
) -> Response {
    let world = read(&state.world);
    let Some(o) = find_org(&world, &org).filter(|o| view_for(&world, o, &caller).owner) else {
        return not_found();
    };
    let roles: Vec<_> = o
        .organization_roles
        .iter()
        .map(|r| role_json(&state.base, o, r))
        .collect();
    Json(serde_json::json!({"total_count": roles.len(), "roles": roles})).into_response()
}

fn find_role<'a>(o: &'a GithubOrg, role_id: &str) -> Option<&'a crate::scenario::OrganizationRole> {
    let id = role_id.parse::<u64>().ok()?;
    o.organization_roles.iter().find(|r| r.id == id)
}

async fn list_org_role_users(
    State(state): State<GithubState>,
    Path((org, role_id)): Path<(String, String)>,
    uri: Uri,
    Query(params): Params,
    caller: CallerExt,
) -> Response {
    let world = read(&state.world);
    let Some(o) = find_org(&world, &org).filter(|o| view_for(&world, o, &caller).owner) else {
        return not_found();
    };
    let Some(role) = find_role(o, &role_id) else {
        return not_found();
    };
    let index = users_by_id(&world);
    let users: Vec<_> = role
        .users
        .iter()
        .filter_map(|id| index.get(id))
        .map(|u| {
            let mut v = serde_json::to_value(urls::simple_user(&state.base, u)).unwrap_or_default();
            if let Some(map) = v.as_object_mut() {
                map.insert("assignment".into(), "direct".into());
            }
            v
        })
        .collect();
    paged(&state, &uri, &params, &users)
}

async fn list_org_role_teams(
    State(state): State<GithubState>,
    Path((org, role_id)): Path<(String, String)>,
    uri: Uri,
    Query(params): Params,
    caller: CallerExt,
) -> Response {
    let world = read(&state.world);
    let Some(o) = find_org(&world, &org).filter(|o| view_for(&world, o, &caller).owner) else {
        return not_found();
    };
    let Some(role) = find_role(o, &role_id) else {
        return not_found();
    };
    let teams: Vec<_> = role
        .teams
        .iter()
        .filter_map(|slug| o.team(slug))
        .map(|t| {
            let mut v =
                serde_json::to_value(urls::team(&state.base, o, t, None)).unwrap_or_default();
            if let Some(map) = v.as_object_mut() {
                map.insert("assignment".into(), "direct".into());
            }
            v
        })
        .collect();
    paged(&state, &uri, &params, &teams)
}

fn collaborator(
    state: &GithubState,
    users: &HashMap<u64, &GithubUser>,
    user: u64,
    p: Permission,
) -> Option<Collaborator> {
    let u = users.get(&user)?;
    Some(Collaborator {
        user: urls::simple_user(&state.base, u),
        permissions: Some(Permissions::from_permission(p)),
        role_name: urls::role_name(p).to_string(),
    })
}

async fn get_org(
    State(state): State<GithubState>,
    Path(org): Path<String>,
    caller: CallerExt,
) -> Response {
    let world = read(&state.world);
    let Some(o) = find_org(&world, &org) else {
        return not_found();
    };
    let mut full = urls::org_full(&state.base, o);
    if !view_for(&world, o, &caller).owner {
        // Owner-only fields: GitHub leaves the keys out for everyone else.
        full.default_repository_permission = None;
        full.total_private_repos = None;
        full.owned_private_repos = None;
    }
    Json(full).into_response()
}

/// `GET /user/memberships/orgs/{org}`: the token's own membership (`404` when its user is not a
/// member; `403` for an App installation, which is not a user).
async fn get_own_membership(
    State(state): State<GithubState>,
    Path(org): Path<String>,
    caller: CallerExt,
) -> Response {
    let world = read(&state.world);
    let Some(o) = find_org(&world, &org) else {
        return not_found();
    };
    let caller = caller_of(&caller);
    if caller.is_some_and(|c| c.kind == crate::server::TokenKind::Installation) {
        return (
            StatusCode::FORBIDDEN,
            Json(serde_json::json!({
                "message": "Resource not accessible by integration",
                "documentation_url": "https://docs.github.com/rest/orgs/members#get-an-organization-membership-for-the-authenticated-user",
                "status": "403"
            })),
        )
            .into_response();
    }
    let spec_user = caller
        .and_then(|c| world.tokens.iter().find(|t| t.token == c.token))
        .and_then(|t| t.user.clone());
    let member = match spec_user {
        Some(login) => world
            .user_by_login(&login)
            .and_then(|u| o.member(u.id).map(|m| (u, m.clone()))),
        // The scenario's all-owning user: the first owner, or an owner membership of nobody.
        None => o
            .members
            .iter()
            .find(|m| m.role == OrgRole::Admin && m.state == MembershipState::Active)
            .and_then(|m| world.user(m.user).map(|u| (u, m.clone()))),
    };
    let Some((u, m)) = member else {
        return not_found();
    };
    let org_url = format!("{}/orgs/{}", state.base, o.login);
    Json(super::json::OrgMembership {
        url: format!("{org_url}/memberships/{}", u.login),
        state: m.state.as_str().to_string(),
        role: m.role.as_str().to_string(),
        organization_url: org_url,
        direct_membership: Some(true),
        organization: urls::org_simple(&state.base, o),
        user: Some(urls::simple_user(&state.base, u)),
    })
    .into_response()
}

async fn list_members(
    State(state): State<GithubState>,
    Path(org): Path<String>,
    uri: Uri,
    Query(params): Params,
    caller: CallerExt,
) -> Response {
    let world = read(&state.world);
    let Some(o) = find_org(&world, &org) else {
        return not_found();
    };
    let v = view_for(&world, o, &caller);
    let role = params.get("role").map_or("all", String::as_str);
    let index = users_by_id(&world);
    let users: Vec<_> = o
        .members
        .iter()
        .filter(|m| m.state == MembershipState::Active)
        .filter(|m| v.sees_member(m.concealed))
        .filter(|m| match role {
            "admin" => m.role == OrgRole::Admin,
            "member" => m.role == OrgRole::Member,
            _ => true,
        })
        .filter_map(|m| index.get(&m.user))
        .map(|u| urls::simple_user(&state.base, u))
        .collect();
    paged(&state, &uri, &params, &users)
}

async fn get_membership(
    State(state): State<GithubState>,
    Path((org, username)): Path<(String, String)>,
) -> Response {
    let world = read(&state.world);
    let (Some(o), Some(u)) = (find_org(&world, &org), world.user_by_login(&username)) else {
        return not_found();
    };
    let Some(m) = o.member(u.id) else {
        return not_found();
    };
    let org_url = format!("{}/orgs/{}", state.base, o.login);
    Json(super::json::OrgMembership {
        url: format!("{org_url}/memberships/{}", u.login),
        state: m.state.as_str().to_string(),
        role: m.role.as_str().to_string(),
        organization_url: org_url,
        direct_membership: Some(true),
        organization: urls::org_simple(&state.base, o),
        user: Some(urls::simple_user(&state.base, u)),
    })
    .into_response()
}

async fn list_outside(
    State(state): State<GithubState>,
    Path(org): Path<String>,
    uri: Uri,
    Query(params): Params,
) -> Response {
    let world = read(&state.world);
    let Some(o) = find_org(&world, &org) else {
        return not_found();
    };
    let index = users_by_id(&world);
    let users: Vec<_> = o
        .outside_collaborators
        .iter()
        .filter_map(|id| index.get(id))
        .map(|u| urls::simple_user(&state.base, u))
        .collect();
    paged(&state, &uri, &params, &users)
}

async fn list_invitations(
    State(state): State<GithubState>,
    Path(org): Path<String>,
    uri: Uri,
    Query(params): Params,
) -> Response {
    let world = read(&state.world);
    let Some(o) = find_org(&world, &org) else {
        return not_found();
    };
    let Some(inviter) = o
        .members
        .iter()
        .find(|m| m.role == OrgRole::Admin && m.state == MembershipState::Active)
        .and_then(|m| world.user(m.user))
        .map(|u| urls::simple_user(&state.base, u))
        .or_else(|| Some(urls::org_as_owner(&state.base, o)))
    else {
        return not_found();
    };
    let role_name = |r: OrgRole| match r {
        OrgRole::Admin => "admin",
        OrgRole::Member => "direct_member",
    };
    let mut out = Vec::new();
    for m in o
        .members
        .iter()
        .filter(|m| m.state == MembershipState::Pending)
    {
        let Some(u) = world.user(m.user) else {
            continue;
        };
        out.push(OrganizationInvitation {
            id: u.id,
            login: Some(u.login.clone()),
            node_id: format!("OI_{}", u.id),
            email: u.email.clone(),
            role: role_name(m.role).to_string(),
            created_at: "2020-01-01T00:00:00Z".to_string(),
            failed_at: None,
            failed_reason: None,
            inviter: inviter.clone(),
            team_count: 0,
            invitation_teams_url: format!(
                "{}/organizations/{}/invitations/{}/teams",
                state.base, o.id, u.id
            ),
            invitation_source: Some("member".to_string()),
        });
    }
    for inv in &o.invitations {
        out.push(OrganizationInvitation {
            id: inv.id,
            login: None,
            node_id: format!("OI_{}", inv.id),
            email: Some(inv.email.clone()),
            role: role_name(inv.role).to_string(),
            created_at: "2020-01-01T00:00:00Z".to_string(),
            failed_at: None,
            failed_reason: None,
            inviter: inviter.clone(),
            team_count: 0,
            invitation_teams_url: format!(
                "{}/organizations/{}/invitations/{}/teams",
                state.base, o.id, inv.id
            ),
            invitation_source: Some("member".to_string()),
        });
    }
    paged(&state, &uri, &params, &out)
}

async fn list_teams(
    State(state): State<GithubState>,
    Path(org): Path<String>,
    uri: Uri,
    Query(params): Params,
    caller: CallerExt,
) -> Response {
    let world = read(&state.world);
    let Some(o) = find_org(&world, &org) else {
        return not_found();
    };
    let v = view_for(&world, o, &caller);
    let teams: Vec<_> = o
        .teams
        .iter()
        .filter(|t| sees_team(&world, &v, o, t))
        .map(|t| urls::team(&state.base, o, t, None))
        .collect();
    paged(&state, &uri, &params, &teams)
}

async fn get_team(
    State(state): State<GithubState>,
    Path((org, slug)): Path<(String, String)>,
) -> Response {
    let world = read(&state.world);
    let Some(o) = find_org(&world, &org) else {
        return not_found();
    };
    let Some(t) = o.team(&slug) else {
        return not_found();
    };
    let members = team_member_list(&world, o, &t.slug).len() as u64;
    let organization = serde_json::to_value(urls::org_full(&state.base, o)).unwrap_or_default();
    Json(super::json::TeamFull {
        team: urls::team(&state.base, o, t, None),
        members_count: members,
        repos_count: team_repos(o, &t.slug).len() as u64,
        created_at: "2020-01-01T00:00:00Z".to_string(),
        updated_at: "2020-01-01T00:00:00Z".to_string(),
        organization,
    })
    .into_response()
}

async fn list_child_teams(
    State(state): State<GithubState>,
    Path((org, slug)): Path<(String, String)>,
    uri: Uri,
    Query(params): Params,
) -> Response {
    let world = read(&state.world);
    let Some(o) = find_org(&world, &org) else {
        return not_found();
    };
    if o.team(&slug).is_none() {
        return not_found();
    }
    let teams: Vec<_> = o
        .teams
        .iter()
        .filter(|t| {
            t.parent
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case(&slug))
        })
        .map(|t| urls::team(&state.base, o, t, None))
        .collect();
    paged(&state, &uri, &params, &teams)
}

/// Members of a team and its descendants: user id -> (role, inherited). A direct membership
/// wins over an inherited one.
pub(super) fn team_member_list(
    world: &GithubScenario,
    o: &GithubOrg,
    slug: &str,
) -> BTreeMap<u64, (TeamRole, bool)> {
    let mut out: BTreeMap<u64, (TeamRole, bool)> = BTreeMap::new();
    let active = active_set(o);
    let users = users_by_id(world);
    for (i, t) in with_descendants(o, slug).into_iter().enumerate() {
        let direct = i == 0;
        for m in &t.members {
            if !active.contains(&m.user) || !users.contains_key(&m.user) {
                continue;
            }
            let entry = if direct {
                (m.role, false)
            } else {
                (TeamRole::Member, true)
            };
            out.entry(m.user)
                .and_modify(|e| {
                    if direct {
                        *e = entry;
                    }
                })
                .or_insert(entry);
        }
    }
    out
}

async fn list_team_members(
    State(state): State<GithubState>,
    Path((org, slug)): Path<(String, String)>,
    uri: Uri,
    Query(params): Params,
    caller: CallerExt,
) -> Response {
    let world = read(&state.world);
    let Some(o) = find_org(&world, &org) else {
        return not_found();
    };
    let v = view_for(&world, o, &caller);
    if !o.team(&slug).is_some_and(|t| sees_team(&world, &v, o, t)) {
        return not_found();
    }
    let role = params.get("role").map_or("all", String::as_str);
    let index = users_by_id(&world);
    let members: Vec<TeamMember> = team_member_list(&world, o, &slug)
        .into_iter()
        .filter(|(_, (r, _))| match role {
            "member" => *r == TeamRole::Member,
            "maintainer" => *r == TeamRole::Maintainer,
            _ => true,
        })
        .filter_map(|(id, (r, inherited))| {
            index.get(&id).map(|u| TeamMember {
                user: urls::simple_user(&state.base, u),
                role: Some(r.as_str().to_string()),
                inherited: Some(inherited),
            })
        })
        .collect();
    paged(&state, &uri, &params, &members)
}

async fn get_team_membership(
    State(state): State<GithubState>,
    Path((org, slug, username)): Path<(String, String, String)>,
    caller: CallerExt,
) -> Response {
    let world = read(&state.world);
    let (Some(o), Some(u)) = (find_org(&world, &org), world.user_by_login(&username)) else {
        return not_found();
    };
    let v = view_for(&world, o, &caller);
    let Some(t) = o.team(&slug).filter(|t| sees_team(&world, &v, o, t)) else {
        return not_found();
    };
    match team_member_list(&world, o, &t.slug).get(&u.id) {
        Some((role, _)) => Json(TeamMembership {
            url: format!(
                "{}/organizations/{}/team/{}/memberships/{}",
                state.base, o.id, t.id, u.login
            ),
            role: role.as_str().to_string(),
            state: "active".to_string(),
        })
        .into_response(),
        None => not_found(),
    }
}

/// `204` for an active member, `404` otherwise (pending invitees are not members yet).
async fn check_member(
    State(state): State<GithubState>,
    Path((org, username)): Path<(String, String)>,
) -> Response {
    let world = read(&state.world);
    let member = find_org(&world, &org)
        .zip(world.user_by_login(&username))
        .is_some_and(|(o, u)| active_member(o, u.id));
    if member {
        StatusCode::NO_CONTENT.into_response()
    } else {
        not_found()
    }
}

/// Whether a team (with its parents' grants) has access to a repository: `204`, or `200` with
/// the repository and the team's permissions when asked with
/// `Accept: application/vnd.github.v3.repository+json`; `404` without access.
async fn check_team_repo(
    State(state): State<GithubState>,
    Path((org, slug, owner, repo)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let world = read(&state.world);
    let Some(o) = find_org(&world, &org).filter(|o| o.login.eq_ignore_ascii_case(&owner)) else {
        return not_found();
    };
    let (Some(t), Some(r)) = (o.team(&slug), o.repo(&repo)) else {
        return not_found();
    };
    let Some(p) = team_repos(o, &t.slug).get(&r.id).copied() else {
        return not_found();
    };
    let wants_repository = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/vnd.github.v3.repository+json"));
    if wants_repository {
        Json(urls::repository(&state.base, o, r, Some(p))).into_response()
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

async fn list_team_repos(
    State(state): State<GithubState>,
    Path((org, slug)): Path<(String, String)>,
    uri: Uri,
    Query(params): Params,
    caller: CallerExt,
) -> Response {
    let world = read(&state.world);
    let Some(o) = find_org(&world, &org) else {
        return not_found();
    };
    let v = view_for(&world, o, &caller);
    if !o.team(&slug).is_some_and(|t| sees_team(&world, &v, o, t)) {
        return not_found();
    }
    let grants = team_repos(o, &slug);
    let repos: Vec<_> = o
        .repos
        .iter()
        .filter(|r| sees_repo(&v, o, r))
        .filter_map(|r| {
            grants
                .get(&r.id)
                .map(|p| urls::repository(&state.base, o, r, Some(*p)))
        })
        .collect();
    paged(&state, &uri, &params, &repos)
}

async fn list_org_repos(
    State(state): State<GithubState>,
    Path(org): Path<String>,
    uri: Uri,
    Query(params): Params,
    caller: CallerExt,
) -> Response {
    let world = read(&state.world);
    let Some(o) = find_org(&world, &org) else {
        return not_found();
    };
    let v = view_for(&world, o, &caller);
    let kind = params.get("type").map_or("all", String::as_str);
    let mut repos: Vec<&GithubRepo> = o
        .repos
        .iter()
        .filter(|r| sees_repo(&v, o, r))
        .filter(|r| match kind {
            "public" => r.visibility == Visibility::Public,
            "private" => r.visibility != Visibility::Public,
            "forks" => r.fork,
            "sources" => !r.fork,
            _ => true,
        })
        .collect();
    // Creation order (ids grow with creation): stable across pages.
    repos.sort_by_key(|r| r.id);
    let repos: Vec<_> = repos
        .into_iter()
        .map(|r| urls::repository(&state.base, o, r, Some(Permission::Admin)))
        .collect();
    paged(&state, &uri, &params, &repos)
}

async fn list_collaborators(
    State(state): State<GithubState>,
    Path((owner, repo)): Path<(String, String)>,
    uri: Uri,
    Query(params): Params,
    caller: CallerExt,
) -> Response {
    let world = read(&state.world);
    let Some(o) = find_org(&world, &owner) else {
        return not_found();
    };
    let v = view_for(&world, o, &caller);
    let Some(r) = o.repo(&repo).filter(|r| sees_repo(&v, o, r)) else {
        return not_found();
    };
    let affiliation = params.get("affiliation").map_or("all", String::as_str);
    let min = params
        .get("permission")
        .and_then(|p| Permission::parse(p))
        .unwrap_or(Permission::Read);
    let mut entries: BTreeMap<u64, Permission> = match affiliation {
        "outside" => r
            .collaborators
            .iter()
            .filter(|c| o.outside_collaborators.contains(&c.user))
            .map(|c| (c.user, c.permission))
            .collect(),
        "direct" => r
            .collaborators
            .iter()
            .map(|c| (c.user, c.permission))
            .collect(),
        _ => all_collaborators(o, r),
    };
    entries.retain(|_, p| *p >= min);
    let users = users_by_id(&world);
    let list: Vec<Collaborator> = entries
        .into_iter()
        .filter_map(|(id, p)| collaborator(&state, &users, id, p))
        .collect();
    paged(&state, &uri, &params, &list)
}

async fn get_collaborator_permission(
    State(state): State<GithubState>,
    Path((owner, repo, username)): Path<(String, String, String)>,
    caller: CallerExt,
) -> Response {
    let world = read(&state.world);
    let (Some(o), Some(u)) = (find_org(&world, &owner), world.user_by_login(&username)) else {
        return not_found();
    };
    let v = view_for(&world, o, &caller);
    let Some(r) = o.repo(&repo).filter(|r| sees_repo(&v, o, r)) else {
        return not_found();
    };
    let mut p = all_collaborators(o, r)
        .get(&u.id)
        .copied()
        .unwrap_or(Permission::None);
    let visible_to_user = r.visibility == Visibility::Public
        || (r.visibility == Visibility::Internal && active_member(o, u.id));
    if visible_to_user {
        p = p.max(Permission::Read);
    }
    let legacy = match p {
        Permission::Admin => "admin",
        Permission::Maintain | Permission::Write => "write",
        Permission::Triage | Permission::Read => "read",
        Permission::None => "none",
    };
    Json(CollaboratorPermission {
        permission: legacy.to_string(),
        role_name: urls::role_name(p).to_string(),
        user: Some(Collaborator {
            user: urls::simple_user(&state.base, u),
            permissions: Some(Permissions::from_permission(p)),
            role_name: urls::role_name(p).to_string(),
        }),
    })
    .into_response()
}

async fn list_repo_teams(
    State(state): State<GithubState>,
    Path((owner, repo)): Path<(String, String)>,
    uri: Uri,
    Query(params): Params,
) -> Response {
    let world = read(&state.world);
    let Some(o) = find_org(&world, &owner) else {
        return not_found();
    };
    let Some(r) = o.repo(&repo) else {
        return not_found();
    };
    let teams: Vec<_> = o
        .teams
        .iter()
        .filter_map(|t| {
            t.repos
                .iter()
                .find(|g| g.repo.eq_ignore_ascii_case(&r.name))
                .map(|g| urls::team(&state.base, o, t, Some(g.permission)))
        })
        .collect();
    paged(&state, &uri, &params, &teams)
}

/// A user's profile. `name` and `email` are always present (null when unset), as the schema
/// requires; `suspended_at` appears for suspended accounts, as on Enterprise Server.
async fn get_user(State(state): State<GithubState>, Path(username): Path<String>) -> Response {
    let world = read(&state.world);
    match world.user_by_login(&username) {
        Some(u) => public_user(&state, u),
        None => not_found(),
    }
}

/// `GET /user/{account_id}`: the same profile by the durable id, whatever the login is now.
async fn get_user_by_id(
    State(state): State<GithubState>,
    Path(account_id): Path<String>,
) -> Response {
    let world = read(&state.world);
    match account_id.parse::<u64>().ok().and_then(|id| world.user(id)) {
        Some(u) => public_user(&state, u),
        None => not_found(),
    }
}

fn public_user(state: &GithubState, u: &GithubUser) -> Response {
    let mut user = urls::simple_user(&state.base, u);
    user.name = u.name.clone();
    user.email = u.email.clone();
    let mut value = serde_json::to_value(super::json::PublicUser {
        user,
        bio: None,
        blog: None,
        company: None,
        location: None,
        hireable: None,
        followers: 0,
        following: 0,
        public_gists: 0,
        public_repos: 0,
        created_at: "2020-01-01T00:00:00Z".to_string(),
        updated_at: "2020-01-01T00:00:00Z".to_string(),
        suspended_at: u.suspended.then(|| "2024-01-01T00:00:00Z".to_string()),
    })
    .unwrap_or_default();
    // The schema requires `name` and `email` keys even when null.
    for key in ["name", "email"] {
        if let Some(map) = value.as_object_mut() {
            map.entry(key).or_insert(serde_json::Value::Null);
        }
    }
    Json(value).into_response()
}
