//! The GitLab REST v4 routes (PROVIDERS.md 2.3), under `/api/v4`.

use super::access::{self, Effective, Viewer};
use super::json::{
    BranchProtectionDefaults, CurrentUser, ForkedFrom, Group, GroupDetail, Member, Namespace,
    Project, SharedWithGroup, TokenSelf, UserBasic,
};
use super::{GitlabState, not_found};
use crate::scenario::{GitlabGroup, GitlabProject, GitlabScenario, GroupShare};
use crate::server::{Caller, Page, pagination::PageQuery, read};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use orgsync_core::Visibility;
use serde::Serialize;
use serde_json::json;
use std::collections::HashMap;

type Params = Query<HashMap<String, String>>;
/// Members filters repeat keys (`user_ids[]=1&user_ids[]=2`).
type PairParams = Query<Vec<(String, String)>>;

/// GitLab omits `x-total`, `x-total-pages` and `rel="last"` above this many rows.
const COUNT_LIMIT: usize = 10_000;

const CREATED_AT: &str = "2024-01-15T12:36:29.590Z";

pub(crate) fn router(state: GitlabState) -> Router {
    Router::new()
        .route("/api/v4/groups/{id}", get(get_group))
        .route("/api/v4/groups/{id}/subgroups", get(list_subgroups))
        .route(
            "/api/v4/groups/{id}/descendant_groups",
            get(list_descendant_groups),
        )
        .route("/api/v4/groups/{id}/members", get(list_group_members))
        .route(
            "/api/v4/groups/{id}/members/all",
            get(list_group_members_all),
        )
        .route(
            "/api/v4/groups/{id}/members/{user_id}",
            get(get_group_member),
        )
        .route(
            "/api/v4/groups/{id}/members/all/{user_id}",
            get(get_group_member_all),
        )
        .route("/api/v4/groups/{id}/projects", get(list_group_projects))
        .route(
            "/api/v4/groups/{id}/invited_groups",
            get(list_invited_groups),
        )
        .route("/api/v4/projects/{id}", get(get_project))
        .route("/api/v4/projects/{id}/members", get(list_project_members))
        .route(
            "/api/v4/projects/{id}/members/all",
            get(list_project_members_all),
        )
        .route(
            "/api/v4/projects/{id}/members/all/{user_id}",
            get(get_project_member_all),
        )
        .route("/api/v4/users/{id}", get(get_user))
        .route("/api/v4/user", get(current_user))
        .route("/api/v4/version", get(version))
        .route("/api/v4/personal_access_tokens/self", get(token_self))
        .route("/_sim/gitlab/mutations", post(super::mutation::http_mutate))
        .with_state(state)
}

/// One page of `items` with GitLab's offset-pagination headers.
pub(crate) fn paged<T: Serialize>(
    state: &GitlabState,
    uri: &Uri,
    params: &HashMap<String, String>,
    items: &[T],
) -> Response {
    let query = PageQuery {
        page: params.get("page").cloned(),
        per_page: params.get("per_page").cloned(),
    };
    let page = Page::from_query(&query, 20, 100);
    let mut response = Json(page.slice(items)).into_response();
    let headers = response.headers_mut();
    pagination_headers(headers, &state.base, uri, page, items.len());
    response
}

fn pagination_headers(headers: &mut HeaderMap, base: &str, uri: &Uri, page: Page, total: usize) {
    let last = page.last_page(total);
    let counted = total <= COUNT_LIMIT;
    let next = (page.page < last).then(|| page.page + 1);
    let prev = (page.page > 1).then(|| (page.page - 1).min(last));
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set("x-page", page.page.to_string());
    set("x-per-page", page.per_page.to_string());
    set(
        "x-next-page",
        next.map_or_else(String::new, |n| n.to_string()),
    );
    set(
        "x-prev-page",
        prev.map_or_else(String::new, |n| n.to_string()),
    );
    if counted {
        set("x-total", total.to_string());
        set("x-total-pages", last.to_string());
    }
    let url = format!("{base}{uri}");
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let kept: Vec<&str> = query
        .split('&')
        .filter(|kv| !kv.is_empty() && !kv.starts_with("page=") && !kv.starts_with("per_page="))
        .collect();
    let make = |n: usize, rel: &str| {
        let mut params = kept.clone();
        let p = format!("page={n}");
        let pp = format!("per_page={}", page.per_page);
        params.push(&p);
        params.push(&pp);
        format!("<{path}?{}>; rel=\"{rel}\"", params.join("&"))
    };
    let mut links = Vec::new();
    if let Some(p) = prev {
        links.push(make(p, "prev"));
    }
    if let Some(n) = next {
        links.push(make(n, "next"));
    }
    links.push(make(1, "first"));
    if counted {
        links.push(make(last, "last"));
    }
    set("link", links.join(", "));
}

fn viewer(world: &GitlabScenario, caller: &Caller) -> Viewer {
    let token = world.tokens.iter().find(|t| t.token == caller.token);
    match token.and_then(|t| t.user) {
        None => Viewer {
            user: None,
            admin: true,
        },
        Some(user) => Viewer {
            user: Some(user),
            admin: world.user(user).is_some_and(|u| u.admin),
        },
    }
}

fn visibility(v: Visibility) -> &'static str {
    match v {
        Visibility::Public => "public",
        Visibility::Internal => "internal",
        Visibility::Private => "private",
    }
}

fn group_json(state: &GitlabState, world: &GitlabScenario, g: &GitlabGroup) -> Group {
    let full_path = world.group_full_path(g.id);
    Group {
        id: g.id,
        web_url: format!("{}/groups/{full_path}", state.base),
        name: g.name.clone(),
        path: g.path.clone(),
        description: Some(String::new()),
        visibility: visibility(g.visibility).to_string(),
        share_with_group_lock: Some(false),
        require_two_factor_authentication: Some(false),
        two_factor_grace_period: Some(48),
        project_creation_level: Some("developer".to_string()),
        auto_devops_enabled: None,
        subgroup_creation_level: Some("maintainer".to_string()),
        emails_disabled: Some(false),
        emails_enabled: Some(true),
        mentions_disabled: None,
        lfs_enabled: Some(true),
        default_branch: None,
        default_branch_protection: Some(2),
        default_branch_protection_defaults: Some(BranchProtectionDefaults {
            allowed_to_push: vec![json!({"access_level": 40})],
            allow_force_push: false,
            allowed_to_merge: vec![json!({"access_level": 40})],
            developer_can_initial_push: None,
        }),
        avatar_url: None,
        request_access_enabled: false,
        repository_storage: Some("default".to_string()),
        full_name: world.group_full_name(g.id),
        full_path,
        file_template_project_id: None,
        parent_id: g.parent,
        created_at: CREATED_AT.to_string(),
    }
}

/// `invited_groups` rows carry a few more fields than other group lists.
fn invited_group_json(
    state: &GitlabState,
    world: &GitlabScenario,
    g: &GitlabGroup,
) -> serde_json::Value {
    let mut value = serde_json::to_value(group_json(state, world, g)).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.remove("repository_storage");
        map.remove("file_template_project_id");
        map.insert("math_rendering_limits_enabled".into(), json!(true));
        map.insert("lock_math_rendering_limits_enabled".into(), json!(false));
        map.insert("organization_id".into(), json!(1));
        map.insert("shared_runners_setting".into(), json!("enabled"));
        map.insert("ldap_cn".into(), serde_json::Value::Null);
        map.insert("ldap_access".into(), serde_json::Value::Null);
        map.insert("wiki_access_level".into(), json!("enabled"));
        if let Some(defaults) = map
            .get_mut("default_branch_protection_defaults")
            .and_then(|d| d.as_object_mut())
        {
            defaults.insert("developer_can_initial_push".into(), json!(false));
        }
    }
    value
}

fn shares_json(world: &GitlabScenario, shares: &[GroupShare]) -> Vec<SharedWithGroup> {
    shares
        .iter()
        .filter(|s| !world.expired(s.expires_at.as_deref()))
        .filter_map(|s| {
            let g = world.group(s.group)?;
            Some(SharedWithGroup {
                group_id: g.id,
                group_name: g.name.clone(),
                group_full_path: world.group_full_path(g.id),
                group_access_level: s.access_level,
                expires_at: s.expires_at.clone(),
            })
        })
        .collect()
}

fn project_json(state: &GitlabState, world: &GitlabScenario, p: &GitlabProject) -> Project {
    let ns_path = world.group_full_path(p.namespace);
    let full = format!("{ns_path}/{}", p.path);
    let host = state.base.trim_start_matches("http://");
    let ns = world.group(p.namespace);
    Project {
        id: p.id,
        description: Some(String::new()),
        default_branch: Some("main".to_string()),
        tag_list: Vec::new(),
        topics: Vec::new(),
        archived: p.archived,
        visibility: visibility(p.visibility).to_string(),
        ssh_url_to_repo: format!("git@{host}:{full}.git"),
        http_url_to_repo: format!("{}/{full}.git", state.base),
        web_url: format!("{}/{full}", state.base),
        name: p.name.clone(),
        name_with_namespace: format!("{} / {}", world.group_full_name(p.namespace), p.name),
        path: p.path.clone(),
        path_with_namespace: full,
        issues_enabled: true,
        merge_requests_enabled: true,
        wiki_enabled: true,
        jobs_enabled: true,
        snippets_enabled: true,
        container_registry_enabled: Some(true),
        created_at: CREATED_AT.to_string(),
        last_activity_at: CREATED_AT.to_string(),
        shared_runners_enabled: true,
        creator_id: 1,
        namespace: Namespace {
            id: p.namespace,
            name: ns.map_or_else(String::new, |g| g.name.clone()),
            path: ns.map_or_else(String::new, |g| g.path.clone()),
            kind: "group".to_string(),
            full_path: Some(ns_path.clone()),
            parent_id: ns.and_then(|g| g.parent),
            web_url: Some(format!("{}/groups/{ns_path}", state.base)),
        },
        avatar_url: None,
        star_count: 0,
        forks_count: 0,
        open_issues_count: 0,
        public_jobs: true,
        shared_with_groups: shares_json(world, &p.shared_with),
        request_access_enabled: Some(false),
        forked_from_project: p.fork.then(|| ForkedFrom {
            id: p.id + 1_000_000,
            path_with_namespace: format!("upstream/{}", p.path),
        }),
    }
}

fn member_json(
    state: &GitlabState,
    world: &GitlabScenario,
    e: &Effective,
    admin: bool,
) -> Option<Member> {
    let u = world.user(e.user)?;
    let name = u.name.clone().unwrap_or_else(|| u.username.clone());
    Some(Member {
        id: u.id,
        username: u.username.clone(),
        name,
        state: u.state.as_str().to_string(),
        avatar_url: Some(format!(
            "https://www.gravatar.com/avatar/{:032x}?s=80&d=identicon",
            u.id
        )),
        web_url: format!("{}/{}", state.base, u.username),
        access_level: e.access_level,
        created_at: CREATED_AT.to_string(),
        created_by: Some(UserBasic {
            id: 1,
            username: "root".to_string(),
            name: "Administrator".to_string(),
            state: "active".to_string(),
            avatar_url: None,
            web_url: format!("{}/root", state.base),
        }),
        expires_at: e.expires_at.clone(),
        group_saml_identity: None,
        email: if admin { u.email.clone() } else { None },
        membership_state: Some(e.state.as_str().to_string()),
        locked: Some(false),
        // EE's MemberRole entity: id, group_id, name, description, base_access_level and one
        // boolean per customizable permission.
        member_role: e.member_role.as_ref().map(|r| {
            json!({
                "id": r.id,
                "group_id": null,
                "name": r.name,
                "description": format!("{} with custom permissions", crate::scenario::role_title(e.access_level)),
                "base_access_level": e.access_level,
                "read_code": r.read_code,
                "read_vulnerability": false,
                "admin_merge_request": false,
                "remove_project": false
            })
        }),
    })
}

fn group_not_found() -> Response {
    not_found("404 Group Not Found")
}

fn project_not_found() -> Response {
    not_found("404 Project Not Found")
}

/// Resolves `:id` (numeric or URL-decoded full path) to a group the caller may see.
fn visible_group<'a>(
    world: &'a GitlabScenario,
    viewer: &Viewer,
    id: &str,
) -> Option<&'a GitlabGroup> {
    world
        .group_by_ref(id)
        .filter(|g| viewer.sees_group(world, g.id))
}

fn visible_project<'a>(
    world: &'a GitlabScenario,
    viewer: &Viewer,
    id: &str,
) -> Option<&'a GitlabProject> {
    world
        .project_by_ref(id)
        .filter(|p| viewer.sees_project(world, p.id))
}

fn flag(params: &HashMap<String, String>, name: &str) -> Option<bool> {
    params.get(name).map(|v| v == "true" || v == "1")
}

async fn get_group(
    State(state): State<GitlabState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(params): Params,
) -> Response {
    let world = read(&state.world);
    let viewer = viewer(&world, &caller);
    let Some(g) = visible_group(&world, &viewer, &id) else {
        return group_not_found();
    };
    let with_projects = flag(&params, "with_projects").unwrap_or(true);
    let projects = with_projects.then(|| {
        world
            .projects
            .iter()
            .filter(|p| p.namespace == g.id && viewer.sees_project(&world, p.id))
            .take(100)
            .map(|p| project_json(&state, &world, p))
            .collect()
    });
    let shared_projects = with_projects.then(|| {
        world
            .projects
            .iter()
            .filter(|p| p.shared_with.iter().any(|s| s.group == g.id))
            .filter(|p| viewer.sees_project(&world, p.id))
            .take(100)
            .map(|p| project_json(&state, &world, p))
            .collect()
    });
    Json(GroupDetail {
        group: group_json(&state, &world, g),
        shared_with_groups: shares_json(&world, &g.shared_with),
        runners_token: None,
        enabled_git_access_protocol: Some("all".to_string()),
        prevent_sharing_groups_outside_hierarchy: Some(false),
        ip_restriction_ranges: None,
        math_rendering_limits_enabled: Some(true),
        lock_math_rendering_limits_enabled: Some(false),
        projects,
        shared_projects,
    })
    .into_response()
}

fn list_groups(
    state: &GitlabState,
    caller: &Caller,
    id: &str,
    uri: &Uri,
    params: &HashMap<String, String>,
    descendants: bool,
) -> Response {
    let world = read(&state.world);
    let viewer = viewer(&world, caller);
    let Some(g) = visible_group(&world, &viewer, id) else {
        return group_not_found();
    };
    let ids: Vec<u64> = if descendants {
        world.descendants(g.id)
    } else {
        let mut v: Vec<u64> = world
            .groups
            .iter()
            .filter(|c| c.parent == Some(g.id))
            .map(|c| c.id)
            .collect();
        v.sort_unstable();
        v
    };
    let items: Vec<Group> = ids
        .iter()
        .filter(|id| viewer.sees_group(&world, **id))
        .filter_map(|id| world.group(*id))
        .map(|c| group_json(state, &world, c))
        .collect();
    paged(state, uri, params, &items)
}

async fn list_subgroups(
    State(state): State<GitlabState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    uri: Uri,
    Query(params): Params,
) -> Response {
    list_groups(&state, &caller, &id, &uri, &params, false)
}

async fn list_descendant_groups(
    State(state): State<GitlabState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    uri: Uri,
    Query(params): Params,
) -> Response {
    list_groups(&state, &caller, &id, &uri, &params, true)
}

async fn list_invited_groups(
    State(state): State<GitlabState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    uri: Uri,
    Query(params): Params,
) -> Response {
    let world = read(&state.world);
    let viewer = viewer(&world, &caller);
    let Some(g) = visible_group(&world, &viewer, &id) else {
        return group_not_found();
    };
    let items: Vec<serde_json::Value> = g
        .shared_with
        .iter()
        .filter(|s| !world.expired(s.expires_at.as_deref()))
        .filter_map(|s| world.group(s.group))
        .map(|c| invited_group_json(&state, &world, c))
        .collect();
    paged(&state, &uri, &params, &items)
}

/// Applies `query`, `user_ids` and `state` filters of the members endpoints.
fn filter_members(
    world: &GitlabScenario,
    rows: Vec<Effective>,
    params: &[(String, String)],
) -> Vec<Effective> {
    let wanted_ids: Option<Vec<u64>> = params
        .iter()
        .filter(|(k, _)| k.as_str() == "user_ids" || k.as_str() == "user_ids[]")
        .map(|(_, v)| {
            v.split(',')
                .filter_map(|s| s.trim().parse().ok())
                .collect::<Vec<u64>>()
        })
        .reduce(|mut a, b| {
            a.extend(b);
            a
        });
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let text = get("query").map(|q| q.to_lowercase());
    let approval = get("state");
    rows.into_iter()
        .filter(|r| wanted_ids.as_ref().is_none_or(|ids| ids.contains(&r.user)))
        .filter(|r| approval.as_deref().is_none_or(|s| r.state.as_str() == s))
        .filter(|r| {
            text.as_ref().is_none_or(|t| {
                world.user(r.user).is_some_and(|u| {
                    u.username.to_lowercase().contains(t)
                        || u.name
                            .as_deref()
                            .is_some_and(|n| n.to_lowercase().contains(t))
                })
            })
        })
        .collect()
}

fn members_response(
    state: &GitlabState,
    world: &GitlabScenario,
    viewer: &Viewer,
    rows: Vec<Effective>,
    uri: &Uri,
    params: &[(String, String)],
) -> Response {
    let rows = filter_members(world, rows, params);
    let page_params: HashMap<String, String> = params
        .iter()
        .filter(|(k, _)| k == "page" || k == "per_page")
        .cloned()
        .collect();
    let items: Vec<Member> = rows
        .iter()
        .filter_map(|r| member_json(state, world, r, viewer.admin))
        .collect();
    paged(state, uri, &page_params, &items)
}

async fn list_group_members(
    State(state): State<GitlabState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    uri: Uri,
    Query(params): PairParams,
) -> Response {
    let world = read(&state.world);
    let viewer = viewer(&world, &caller);
    let Some(g) = visible_group(&world, &viewer, &id) else {
        return group_not_found();
    };
    let rows = access::group_members(&world, g.id);
    members_response(&state, &world, &viewer, rows, &uri, &params)
}

async fn list_group_members_all(
    State(state): State<GitlabState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    uri: Uri,
    Query(params): PairParams,
) -> Response {
    let world = read(&state.world);
    let viewer = viewer(&world, &caller);
    let Some(g) = visible_group(&world, &viewer, &id) else {
        return group_not_found();
    };
    let rows =
        access::group_members_all_listed(&world, g.id, &|s| viewer.sees_invited(&world, s.group));
    members_response(&state, &world, &viewer, rows, &uri, &params)
}

fn one_member(
    state: &GitlabState,
    caller: &Caller,
    id: &str,
    user_id: &str,
    all: bool,
) -> Response {
    let world = read(&state.world);
    let viewer = viewer(&world, caller);
    let Some(g) = visible_group(&world, &viewer, id) else {
        return group_not_found();
    };
    let rows = if all {
        access::group_members_all_listed(&world, g.id, &|s| viewer.sees_invited(&world, s.group))
    } else {
        access::group_members(&world, g.id)
    };
    let Ok(user) = user_id.parse::<u64>() else {
        return not_found("404 Member Not Found");
    };
    rows.iter()
        .find(|r| r.user == user)
        .and_then(|r| member_json(state, &world, r, viewer.admin))
        .map_or_else(
            || not_found("404 Member Not Found"),
            |m| Json(m).into_response(),
        )
}

async fn get_group_member(
    State(state): State<GitlabState>,
    Extension(caller): Extension<Caller>,
    Path((id, user_id)): Path<(String, String)>,
) -> Response {
    one_member(&state, &caller, &id, &user_id, false)
}

async fn get_group_member_all(
    State(state): State<GitlabState>,
    Extension(caller): Extension<Caller>,
    Path((id, user_id)): Path<(String, String)>,
) -> Response {
    one_member(&state, &caller, &id, &user_id, true)
}

async fn list_group_projects(
    State(state): State<GitlabState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    uri: Uri,
    Query(params): Params,
) -> Response {
    let world = read(&state.world);
    let viewer = viewer(&world, &caller);
    let Some(g) = visible_group(&world, &viewer, &id) else {
        return group_not_found();
    };
    let include_subgroups = flag(&params, "include_subgroups").unwrap_or(false);
    let with_shared = flag(&params, "with_shared").unwrap_or(true);
    let archived = flag(&params, "archived");
    let wanted_visibility = params.get("visibility").cloned();
    let mut groups = vec![g.id];
    if include_subgroups {
        groups.extend(world.descendants(g.id));
    }
    let mut projects: Vec<&GitlabProject> = world
        .projects
        .iter()
        .filter(|p| {
            groups.contains(&p.namespace)
                || (with_shared
                    && !groups.contains(&p.namespace)
                    && p.shared_with.iter().any(|s| {
                        groups.contains(&s.group) && !world.expired(s.expires_at.as_deref())
                    }))
        })
        .filter(|p| archived.is_none_or(|a| p.archived == a))
        .filter(|p| {
            wanted_visibility
                .as_deref()
                .is_none_or(|v| visibility(p.visibility) == v)
        })
        .filter(|p| viewer.sees_project(&world, p.id))
        .collect();
    // GitLab's default order: created_at descending (newest, i.e. highest id, first).
    projects.sort_by_key(|p| std::cmp::Reverse(p.id));
    let items: Vec<Project> = projects
        .iter()
        .map(|p| project_json(&state, &world, p))
        .collect();
    paged(&state, &uri, &params, &items)
}

async fn get_project(
    State(state): State<GitlabState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let world = read(&state.world);
    let viewer = viewer(&world, &caller);
    let Some(p) = visible_project(&world, &viewer, &id) else {
        return project_not_found();
    };
    Json(project_json(&state, &world, p)).into_response()
}

async fn list_project_members(
    State(state): State<GitlabState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    uri: Uri,
    Query(params): PairParams,
) -> Response {
    let world = read(&state.world);
    let viewer = viewer(&world, &caller);
    let Some(p) = visible_project(&world, &viewer, &id) else {
        return project_not_found();
    };
    let rows = access::project_members(&world, p.id);
    members_response(&state, &world, &viewer, rows, &uri, &params)
}

async fn list_project_members_all(
    State(state): State<GitlabState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    uri: Uri,
    Query(params): PairParams,
) -> Response {
    let world = read(&state.world);
    let viewer = viewer(&world, &caller);
    let Some(p) = visible_project(&world, &viewer, &id) else {
        return project_not_found();
    };
    let rows =
        access::project_members_all_listed(&world, p.id, &|s| viewer.sees_invited(&world, s.group));
    members_response(&state, &world, &viewer, rows, &uri, &params)
}

async fn get_project_member_all(
    State(state): State<GitlabState>,
    Extension(caller): Extension<Caller>,
    Path((id, user_id)): Path<(String, String)>,
) -> Response {
    let world = read(&state.world);
    let viewer = viewer(&world, &caller);
    let Some(p) = visible_project(&world, &viewer, &id) else {
        return project_not_found();
    };
    let Ok(user) = user_id.parse::<u64>() else {
        return not_found("404 Member Not Found");
    };
    access::project_members_all_listed(&world, p.id, &|s| viewer.sees_invited(&world, s.group))
        .iter()
        .find(|r| r.user == user)
        .and_then(|r| member_json(&state, &world, r, viewer.admin))
        .map_or_else(
            || not_found("404 Member Not Found"),
            |m| Json(m).into_response(),
        )
}

/// `GET /users/:id`: administrators also see `is_admin` and `external`.
async fn get_user(
    State(state): State<GitlabState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let world = read(&state.world);
    let viewer = viewer(&world, &caller);
    let Some(u) = id.parse::<u64>().ok().and_then(|id| world.user(id)) else {
        return not_found("404 User Not Found");
    };
    let mut body = json!({
        "id": u.id,
        "username": u.username,
        "name": u.name.clone().unwrap_or_else(|| u.username.clone()),
        "state": u.state.as_str(),
        "avatar_url": null,
        "web_url": format!("{}/{}", state.base, u.username),
        "bot": u.bot,
    });
    if viewer.admin
        && let Some(map) = body.as_object_mut()
    {
        map.insert("is_admin".into(), json!(u.admin));
        map.insert("external".into(), json!(u.external));
    }
    Json(body).into_response()
}

/// `GET /version`: the instance's version and revision.
async fn version(State(state): State<GitlabState>) -> Response {
    let world = read(&state.world);
    Json(json!({
        "version": world.version_string(),
        "revision": "6c1b7d3a5f0"
    }))
    .into_response()
}

async fn current_user(
    State(state): State<GitlabState>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let world = read(&state.world);
    let token = world.tokens.iter().find(|t| t.token == caller.token);
    let user = token.and_then(|t| t.user).and_then(|u| world.user(u));
    let body = match user {
        Some(u) => CurrentUser {
            id: u.id,
            username: u.username.clone(),
            name: u.name.clone().unwrap_or_else(|| u.username.clone()),
            state: u.state.as_str().to_string(),
            avatar_url: None,
            web_url: format!("{}/{}", state.base, u.username),
            is_admin: u.admin,
            bot: u.bot,
            email: u.email.clone(),
        },
        None => CurrentUser {
            id: 1,
            username: "root".to_string(),
            name: "Administrator".to_string(),
            state: "active".to_string(),
            avatar_url: None,
            web_url: format!("{}/root", state.base),
            is_admin: true,
            bot: false,
            email: Some("admin@example.com".to_string()),
        },
    };
    Json(body).into_response()
}

async fn token_self(
    State(state): State<GitlabState>,
    Extension(caller): Extension<Caller>,
) -> Response {
    let world = read(&state.world);
    let Some((index, token)) = world
        .tokens
        .iter()
        .enumerate()
        .find(|(_, t)| t.token == caller.token)
    else {
        return not_found("404 Not Found");
    };
    let scopes = token.scopes.clone().unwrap_or_else(|| {
        ["api", "read_api", "read_user", "read_repository"]
            .map(String::from)
            .to_vec()
    });
    Json(TokenSelf {
        id: index as u64 + 1,
        name: token.name.clone().unwrap_or_else(|| "orgsync".to_string()),
        revoked: false,
        created_at: CREATED_AT.to_string(),
        description: None,
        scopes,
        user_id: token.user.unwrap_or(1),
        last_used_at: None,
        active: true,
        expires_at: None,
    })
    .into_response()
}
