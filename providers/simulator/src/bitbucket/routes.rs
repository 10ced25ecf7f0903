//! The Bitbucket Cloud routes (PROVIDERS.md 3), with the paginated envelope and the BBQL `q=`
//! filters orgsync needs.
//!
//! Effective permissions are computed here per repository from the scenario's raw grants
//! (owners, repository and project grants to users and groups), independently of
//! [`super::truth`], the way Bitbucket's `permissions/repositories` routes expose them: one row
//! per user with the highest permission. Public repositories add no rows: Bitbucket lists
//! permissions, not visibility, so clients apply the visibility rule themselves.

use super::{AccessRow, BitbucketState, OAUTH_TOKEN_LIFETIME, error_response};
use crate::scenario::{
    BitbucketGroup, BitbucketProject, BitbucketRepo, BitbucketScenario, BitbucketUser,
    BitbucketWorkspace, GroupGrant, GroupsApi, UserGrant, WorkspaceRole,
};
use crate::server::{Caller, TokenKind, lock, read};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use orgsync_core::Permission;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};

type Params = Query<HashMap<String, String>>;

pub(crate) fn router(state: BitbucketState) -> Router {
    Router::new()
        .route("/2.0/workspaces/{workspace}", get(get_workspace))
        .route("/2.0/workspaces/{workspace}/members", get(list_members))
        .route("/2.0/workspaces/{workspace}/permissions", get(list_roles))
        .route("/2.0/repositories/{workspace}", get(list_repositories))
        .route(
            "/2.0/repositories/{workspace}/{repo_slug}",
            get(get_repository),
        )
        .route(
            "/2.0/workspaces/{workspace}/permissions/repositories",
            get(list_repository_permissions),
        )
        .route(
            "/2.0/workspaces/{workspace}/permissions/repositories/{repo_slug}",
            get(list_one_repository_permissions),
        )
        .route(
            "/2.0/repositories/{workspace}/{repo_slug}/permissions-config/users",
            get(repository_user_grants),
        )
        .route(
            "/2.0/repositories/{workspace}/{repo_slug}/permissions-config/groups",
            get(repository_group_grants),
        )
        .route("/2.0/workspaces/{workspace}/projects", get(list_projects))
        .route(
            "/2.0/workspaces/{workspace}/projects/{project_key}/permissions-config/users",
            get(project_user_grants),
        )
        .route(
            "/2.0/workspaces/{workspace}/projects/{project_key}/permissions-config/groups",
            get(project_group_grants),
        )
        .route("/2.0/user", get(current_user))
        .route("/1.0/groups/{workspace}", get(groups_v1))
        .route("/site/oauth2/access_token", post(oauth_token))
        .route(
            "/_sim/bitbucket/mutations",
            post(super::mutation::http_mutate),
        )
        .with_state(state)
}

// ----- payloads ---------------------------------------------------------------------------------

fn link(href: &str) -> Value {
    json!({ "href": href })
}

pub(crate) fn user_json(base: &str, u: &BitbucketUser) -> Value {
    json!({
        "type": "user",
        "uuid": u.uuid,
        "account_id": u.account_id,
        "display_name": u.display_name,
        "nickname": u.nickname,
        "account_status": "active",
        "links": {
            "self": link(&format!("{base}/2.0/users/{}", enc(&u.uuid))),
            "html": link(&format!("{base}/{}/", enc(&u.uuid))),
            "avatar": link(&format!("{base}/account/{}/avatar", enc(&u.uuid))),
        }
    })
}

pub(crate) fn workspace_json(base: &str, w: &BitbucketWorkspace) -> Value {
    json!({
        "type": "workspace",
        "uuid": w.uuid,
        "slug": w.slug,
        "name": w.name,
        "is_private": w.is_private,
        "forking_mode": "allow_forks",
        "links": {
            "self": link(&format!("{base}/2.0/workspaces/{}", w.slug)),
            "html": link(&format!("{base}/{}/", w.slug)),
            "avatar": link(&format!("{base}/workspaces/{}/avatar", w.slug)),
            "members": link(&format!("{base}/2.0/workspaces/{}/members", w.slug)),
            "projects": link(&format!("{base}/2.0/workspaces/{}/projects", w.slug)),
            "repositories": link(&format!("{base}/2.0/repositories/{}", w.slug)),
        }
    })
}

fn project_json(base: &str, w: &BitbucketWorkspace, p: &BitbucketProject) -> Value {
    let public_repos = w
        .repositories
        .iter()
        .any(|r| r.project.eq_ignore_ascii_case(&p.key) && !r.is_private);
    json!({
        "type": "project",
        "uuid": p.uuid,
        "key": p.key,
        "name": p.name,
        "is_private": p.is_private,
        "has_publicly_visible_repos": public_repos,
        "links": {
            "html": link(&format!("{base}/{}/workspace/projects/{}", w.slug, p.key)),
            "avatar": link(&format!("{base}/{}/workspace/projects/{}/avatar", w.slug, p.key)),
        }
    })
}

/// The short repository object permission rows embed.
fn repository_ref(base: &str, w: &BitbucketWorkspace, r: &BitbucketRepo) -> Value {
    json!({
        "type": "repository",
        "uuid": r.uuid,
        "name": r.display_name(),
        "full_name": format!("{}/{}", w.slug, r.slug),
        "links": {
            "self": link(&format!("{base}/2.0/repositories/{}/{}", w.slug, r.slug)),
            "html": link(&format!("{base}/{}/{}", w.slug, r.slug)),
        }
    })
}

pub(crate) fn repository_json(base: &str, w: &BitbucketWorkspace, r: &BitbucketRepo) -> Value {
    let mut v = json!({
        "type": "repository",
        "uuid": r.uuid,
        "name": r.display_name(),
        "slug": r.slug,
        "full_name": format!("{}/{}", w.slug, r.slug),
        "is_private": r.is_private,
        "scm": "git",
        "fork_policy": if r.is_private { "no_public_forks" } else { "allow_forks" },
        "description": "",
        "language": "",
        "has_issues": false,
        "has_wiki": false,
        "owner": {
            "type": "team",
            "uuid": w.uuid,
            "display_name": w.name,
            "links": {"avatar": link(&format!("{base}/workspaces/{}/avatar", w.slug))},
        },
        "links": {
            "self": link(&format!("{base}/2.0/repositories/{}/{}", w.slug, r.slug)),
            "html": link(&format!("{base}/{}/{}", w.slug, r.slug)),
            "avatar": link(&format!("{base}/{}/{}/avatar", w.slug, r.slug)),
        }
    });
    if let Some(p) = w.project(&r.project) {
        v["project"] = project_json(base, w, p);
    }
    if let Some(parent) = &r.parent {
        let (pw, ps) = parent.split_once('/').unwrap_or((w.slug.as_str(), parent));
        v["parent"] = json!({
            "type": "repository",
            "full_name": format!("{pw}/{ps}"),
            "name": ps,
            "links": {"self": link(&format!("{base}/2.0/repositories/{pw}/{ps}"))},
        });
    }
    v
}

fn group_json(base: &str, w: &BitbucketWorkspace, g: &BitbucketGroup) -> Value {
    json!({
        "type": "group",
        "name": g.name,
        "slug": g.slug,
        "full_slug": format!("{}:{}", w.slug, g.slug),
        "links": {
            "self": link(&format!("{base}/2.0/groups/{}/{}", w.slug, g.slug)),
            "html": link(&format!("{base}/{}/workspace/settings/groups/{}", w.slug, g.slug)),
        }
    })
}

fn membership_json(
    base: &str,
    w: &BitbucketWorkspace,
    u: &BitbucketUser,
    role: Option<WorkspaceRole>,
) -> Value {
    let mut v = json!({
        "type": "workspace_membership",
        "user": user_json(base, u),
        "workspace": workspace_json(base, w),
        "links": {
            "self": link(&format!("{base}/2.0/workspaces/{}/members/{}", w.slug, enc(&u.uuid))),
        }
    });
    if let Some(role) = role {
        v["permission"] = json!(role.as_str());
    }
    v
}

/// Percent-encodes the braces of a uuid for use in a URL path.
fn enc(text: &str) -> String {
    text.replace('{', "%7B").replace('}', "%7D")
}

// ----- pagination and errors ---------------------------------------------------------------------

/// One page of `items` in Bitbucket's envelope (`pagelen` default 10, at most 100).
fn paged(
    state: &BitbucketState,
    uri: &Uri,
    params: &HashMap<String, String>,
    items: &[Value],
) -> Response {
    paged_lazy(state, uri, params, items.len(), |i| items[i].clone())
}

/// [`paged`] for long lists: only the rows of the requested page are turned into JSON.
fn paged_lazy(
    state: &BitbucketState,
    uri: &Uri,
    params: &HashMap<String, String>,
    total: usize,
    row: impl Fn(usize) -> Value,
) -> Response {
    let number = |name: &str| {
        params
            .get(name)
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|v| *v >= 1)
    };
    let pagelen = number("pagelen").unwrap_or(10).min(100);
    let page = number("page").unwrap_or(1);
    let start = (page - 1).saturating_mul(pagelen).min(total);
    let end = start.saturating_add(pagelen).min(total);
    let values: Vec<Value> = (start..end).map(row).collect();
    let mut body = json!({
        "pagelen": pagelen,
        "size": total,
        "page": page,
        "values": values,
    });
    let page_url = |n: usize| {
        let kept: Vec<&str> = uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter(|kv| !kv.is_empty() && !kv.starts_with("page="))
            .collect();
        let mut query = kept.join("&");
        if !query.is_empty() {
            query.push('&');
        }
        format!("{}{}?{query}page={n}", state.base, uri.path())
    };
    if end < total {
        body["next"] = json!(page_url(page + 1));
    }
    if page > 1 {
        body["previous"] = json!(page_url(page - 1));
    }
    Json(body).into_response()
}

fn no_workspace(slug: &str) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        &format!("No workspace with identifier '{slug}'."),
    )
}

fn no_repository(workspace: &str, slug: &str) -> Response {
    error_response(
        StatusCode::NOT_FOUND,
        &format!("Repository {workspace}/{slug} not found"),
    )
}

/// Bitbucket's permission routes answer only workspace administrators (a repository's own
/// list also its administrators): a token that acts as a plain member gets a `403`. Tokens with
/// no `user` act as the first owner, or are workspace access tokens.
fn not_admin(
    world: &BitbucketScenario,
    w: &BitbucketWorkspace,
    caller: Option<&Caller>,
    repo_admin: Option<&BitbucketRepo>,
) -> Option<Response> {
    let user = caller
        .and_then(|c| world.tokens.iter().find(|t| t.key() == c.token))
        .and_then(|t| t.user.clone())?;
    let owner = w
        .members
        .iter()
        .any(|m| m.user == user && m.role == WorkspaceRole::Owner);
    let admin_of_repo = repo_admin.is_some_and(|r| {
        let members: HashSet<&str> = w.members.iter().map(|m| m.user.as_str()).collect();
        effective(w, &members, r).get(&user) == Some(&Permission::Admin)
    });
    (!owner && !admin_of_repo).then(|| {
        error_response(
            StatusCode::FORBIDDEN,
            "You must be an administrator of this workspace to access its permissions.",
        )
    })
}

fn bad_query(message: &str) -> Response {
    error_response(StatusCode::BAD_REQUEST, message)
}

// ----- BBQL -------------------------------------------------------------------------------------

/// One `field op "value"` comparison of a `q=` filter.
#[derive(Debug, Clone)]
struct Clause {
    field: String,
    op: &'static str,
    value: String,
}

/// Parses the subset of BBQL the simulator supports: comparisons `field op "value"` (op one of
/// `=`, `!=`, `>`, `>=`, `<`, `<=`) joined by `AND` and `OR`, `AND` binding tighter, as in
/// Bitbucket's filtering syntax (parentheses are not supported here). The result is a
/// disjunction of conjunctions: a row is kept when every comparison of some group holds.
fn parse_bbql(q: &str) -> Result<Vec<Vec<Clause>>, String> {
    let mut groups = vec![Vec::new()];
    let mut rest = q.trim();
    while !rest.is_empty() {
        let op_at = rest
            .find(['=', '!', '<', '>'])
            .ok_or_else(|| format!("Invalid query: expected a comparison in `{rest}`"))?;
        let field = rest[..op_at].trim().to_string();
        if field.is_empty() || field.contains(char::is_whitespace) || field.contains(['(', ')']) {
            return Err(format!("Invalid query: bad field name `{field}`"));
        }
        let after = &rest[op_at..];
        let op = ["!=", ">=", "<=", "=", ">", "<"]
            .into_iter()
            .find(|op| after.starts_with(op))
            .ok_or_else(|| format!("Invalid query: bad operator in `{rest}`"))?;
        let value_part = after[op.len()..].trim_start();
        let Some(quoted) = value_part.strip_prefix('"') else {
            return Err(format!(
                "Invalid query: expected a quoted value after {field}{op}"
            ));
        };
        let close = quoted
            .find('"')
            .ok_or_else(|| "Invalid query: unterminated string".to_string())?;
        if let Some(group) = groups.last_mut() {
            group.push(Clause {
                field,
                op,
                value: quoted[..close].to_string(),
            });
        }
        rest = quoted[close + 1..].trim_start();
        if rest.is_empty() {
            break;
        }
        let lower = rest.to_ascii_lowercase();
        if let Some(stripped) = lower.strip_prefix("and ") {
            rest = rest[rest.len() - stripped.len()..].trim_start();
        } else if let Some(stripped) = lower.strip_prefix("or ") {
            rest = rest[rest.len() - stripped.len()..].trim_start();
            groups.push(Vec::new());
        } else {
            return Err(format!("Invalid query: expected AND or OR (at `{rest}`)"));
        }
    }
    if groups.iter().any(Vec::is_empty) && !(groups.len() == 1 && q.trim().is_empty()) {
        return Err("Invalid query: an empty comparison".to_string());
    }
    Ok(groups)
}

/// Whether a row is kept: some group's comparisons all hold. Every comparison is evaluated,
/// so a bad field or operator is an error wherever it is.
fn matches_bbql(
    groups: &[Vec<Clause>],
    mut holds: impl FnMut(&Clause) -> Result<bool, String>,
) -> Result<bool, String> {
    let mut any = groups.is_empty() || groups.iter().all(Vec::is_empty);
    for group in groups {
        let mut all = true;
        for c in group {
            all &= holds(c)?;
        }
        any |= all && !group.is_empty();
    }
    Ok(any)
}

fn compare_text(op: &str, have: &str, want: &str) -> Result<bool, String> {
    match op {
        "=" => Ok(have == want),
        "!=" => Ok(have != want),
        other => Err(format!(
            "Invalid query: {other} applies to permissions only"
        )),
    }
}

fn compare_order(op: &str, have: u8, want: u8) -> bool {
    match op {
        "=" => have == want,
        "!=" => have != want,
        ">" => have > want,
        ">=" => have >= want,
        "<" => have < want,
        _ => have <= want,
    }
}

fn repo_rank(name: &str) -> Option<u8> {
    match name {
        "none" => Some(0),
        "read" => Some(1),
        "write" => Some(2),
        "admin" => Some(3),
        _ => None,
    }
}

fn permission_name(p: Permission) -> &'static str {
    match p {
        Permission::None => "none",
        Permission::Read | Permission::Triage => "read",
        Permission::Write | Permission::Maintain => "write",
        Permission::Admin => "admin",
    }
}

// ----- access -----------------------------------------------------------------------------------

fn raise(map: &mut BTreeMap<String, Permission>, user: &str, p: Permission) {
    let e = map.entry(user.to_string()).or_insert(p);
    *e = (*e).max(p);
}

fn apply_user_grants(map: &mut BTreeMap<String, Permission>, grants: &[UserGrant]) {
    for g in grants {
        raise(map, &g.user, g.permission.on_repository());
    }
}

fn apply_group_grants(
    map: &mut BTreeMap<String, Permission>,
    w: &BitbucketWorkspace,
    grants: &[GroupGrant],
) {
    for g in grants {
        if let Some(group) = w.group(&g.group) {
            for u in &group.members {
                raise(map, u, g.permission.on_repository());
            }
        }
    }
}

/// Every workspace member's effective (highest) permission on `repo`, as Bitbucket's
/// `permissions/repositories` routes list it: owners are admins everywhere; otherwise the best of
/// the repository's and its project's grants to the user and to groups the user is in.
fn effective(
    w: &BitbucketWorkspace,
    members: &HashSet<&str>,
    repo: &BitbucketRepo,
) -> BTreeMap<String, Permission> {
    let mut map = BTreeMap::new();
    apply_user_grants(&mut map, &repo.users);
    apply_group_grants(&mut map, w, &repo.groups);
    if let Some(p) = w.project(&repo.project) {
        apply_user_grants(&mut map, &p.users);
        apply_group_grants(&mut map, w, &p.groups);
    }
    for m in &w.members {
        if m.role == WorkspaceRole::Owner {
            map.insert(m.user.clone(), Permission::Admin);
        }
    }
    map.retain(|user, p| *p > Permission::None && members.contains(user.as_str()));
    map
}

// ----- handlers ---------------------------------------------------------------------------------

async fn get_workspace(State(state): State<BitbucketState>, Path(slug): Path<String>) -> Response {
    let world = read(&state.world);
    match world.workspace(&slug) {
        Some(w) => Json(workspace_json(&state.base, w)).into_response(),
        None => no_workspace(&slug),
    }
}

async fn list_members(
    State(state): State<BitbucketState>,
    Path(slug): Path<String>,
    uri: Uri,
    Query(params): Params,
) -> Response {
    if params.contains_key("q") {
        return bad_query("The simulator does not filter workspace members.");
    }
    memberships(&state, &slug, &uri, &params, false)
}

async fn list_roles(
    State(state): State<BitbucketState>,
    caller: Option<Extension<Caller>>,
    Path(slug): Path<String>,
    uri: Uri,
    Query(params): Params,
) -> Response {
    {
        let world = read(&state.world);
        if let Some(w) = world.workspace(&slug)
            && let Some(refused) = not_admin(&world, w, caller.as_deref(), None)
        {
            return refused;
        }
    }
    memberships(&state, &slug, &uri, &params, true)
}

fn memberships(
    state: &BitbucketState,
    slug: &str,
    uri: &Uri,
    params: &HashMap<String, String>,
    with_role: bool,
) -> Response {
    let world = read(&state.world);
    let Some(w) = world.workspace(slug) else {
        return no_workspace(slug);
    };
    let clauses = match params.get("q").map(|q| parse_bbql(q)).transpose() {
        Ok(c) => c.unwrap_or_default(),
        Err(e) => return bad_query(&e),
    };
    let mut rows = Vec::new();
    for m in &w.members {
        let Some(u) = world.user(&m.user) else {
            continue;
        };
        let keep = matches_bbql(&clauses, |c| {
            let have = match c.field.as_str() {
                "permission" => m.role.as_str(),
                "user.uuid" => u.uuid.as_str(),
                "user.account_id" => u.account_id.as_str(),
                other => return Err(format!("Invalid field name: {other}")),
            };
            compare_text(c.op, have, &c.value)
        });
        let keep = match keep {
            Ok(keep) => keep,
            Err(e) => return bad_query(&e),
        };
        if keep {
            rows.push(membership_json(
                &state.base,
                w,
                u,
                with_role.then_some(m.role),
            ));
        }
    }
    paged(state, uri, params, &rows)
}

async fn list_repositories(
    State(state): State<BitbucketState>,
    Path(slug): Path<String>,
    uri: Uri,
    Query(params): Params,
) -> Response {
    if params.contains_key("q") {
        return bad_query("The simulator does not filter repositories.");
    }
    let world = read(&state.world);
    let Some(w) = world.workspace(&slug) else {
        return no_workspace(&slug);
    };
    let rows: Vec<Value> = w
        .repositories
        .iter()
        .map(|r| repository_json(&state.base, w, r))
        .collect();
    paged(&state, &uri, &params, &rows)
}

async fn get_repository(
    State(state): State<BitbucketState>,
    Path((slug, repo_slug)): Path<(String, String)>,
) -> Response {
    let world = read(&state.world);
    let Some(w) = world.workspace(&slug) else {
        return no_workspace(&slug);
    };
    match w.repo(&repo_slug) {
        Some(r) => Json(repository_json(&state.base, w, r)).into_response(),
        None => no_repository(&slug, &repo_slug),
    }
}

async fn list_repository_permissions(
    State(state): State<BitbucketState>,
    caller: Option<Extension<Caller>>,
    Path(slug): Path<String>,
    uri: Uri,
    Query(params): Params,
) -> Response {
    {
        let world = read(&state.world);
        if let Some(w) = world.workspace(&slug)
            && let Some(refused) = not_admin(&world, w, caller.as_deref(), None)
        {
            return refused;
        }
    }
    repository_permissions(&state, &slug, None, &uri, &params)
}

async fn list_one_repository_permissions(
    State(state): State<BitbucketState>,
    caller: Option<Extension<Caller>>,
    Path((slug, repo_slug)): Path<(String, String)>,
    uri: Uri,
    Query(params): Params,
) -> Response {
    {
        let world = read(&state.world);
        if let Some(w) = world.workspace(&slug)
            && let Some(r) = w.repo(&repo_slug)
            && let Some(refused) = not_admin(&world, w, caller.as_deref(), Some(r))
        {
            return refused;
        }
    }
    repository_permissions(&state, &slug, Some(&repo_slug), &uri, &params)
}

fn repository_permissions(
    state: &BitbucketState,
    slug: &str,
    only: Option<&str>,
    uri: &Uri,
    params: &HashMap<String, String>,
) -> Response {
    let world = read(&state.world);
    let generation = state.generation.load(std::sync::atomic::Ordering::SeqCst);
    let Some(w) = world.workspace(slug) else {
        return no_workspace(slug);
    };
    if let Some(repo_slug) = only
        && w.repo(repo_slug).is_none()
    {
        return no_repository(slug, repo_slug);
    }
    let key = format!(
        "{}\n{}\n{}",
        w.slug,
        only.unwrap_or(""),
        params.get("q").map_or("", String::as_str)
    );
    let cached = {
        let cache = lock(&state.access_cache);
        (cache.generation == generation)
            .then(|| cache.rows.get(&key).cloned())
            .flatten()
    };
    let rows = match cached {
        Some(rows) => rows,
        None => match permission_rows(&world, w, only, params.get("q")) {
            Ok(rows) => {
                let rows = std::sync::Arc::new(rows);
                let mut cache = lock(&state.access_cache);
                if cache.generation != generation {
                    cache.generation = generation;
                    cache.rows.clear();
                }
                cache.rows.insert(key, std::sync::Arc::clone(&rows));
                rows
            }
            Err(e) => return bad_query(&e),
        },
    };
    paged_lazy(state, uri, params, rows.len(), |i| {
        let (r, u, p) = rows[i];
        let (r, u) = (&w.repositories[r], &world.users[u]);
        json!({
            "type": "repository_permission",
            "permission": permission_name(p),
            "user": user_json(&state.base, u),
            "repository": repository_ref(&state.base, w, r),
        })
    })
}

/// The effective permission rows of the workspace (or one repository), filtered by `q`.
fn permission_rows(
    world: &BitbucketScenario,
    w: &BitbucketWorkspace,
    only: Option<&str>,
    q: Option<&String>,
) -> Result<Vec<AccessRow>, String> {
    let clauses = q.map(|q| parse_bbql(q)).transpose()?.unwrap_or_default();
    let member_set: HashSet<&str> = w.members.iter().map(|m| m.user.as_str()).collect();
    let users: HashMap<&str, usize> = world
        .users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.uuid.as_str(), i))
        .collect();
    let mut rows = Vec::new();
    for (ri, r) in w.repositories.iter().enumerate() {
        if only.is_some_and(|o| !r.slug.eq_ignore_ascii_case(o)) {
            continue;
        }
        let access = effective(w, &member_set, r);
        // Rows in member order, as a stable listing.
        for m in &w.members {
            let Some(p) = access.get(&m.user) else {
                continue;
            };
            let Some(ui) = users.get(m.user.as_str()).copied() else {
                continue;
            };
            let u = &world.users[ui];
            let keep = matches_bbql(&clauses, |c| {
                Ok(match c.field.as_str() {
                    "permission" => match repo_rank(&c.value) {
                        Some(want) => {
                            compare_order(c.op, repo_rank(permission_name(*p)).unwrap_or(0), want)
                        }
                        None => return Err(format!("Invalid permission: {}", c.value)),
                    },
                    "repository.name" => compare_text(c.op, r.display_name(), &c.value)?,
                    "repository.full_name" => {
                        compare_text(c.op, &format!("{}/{}", w.slug, r.slug), &c.value)?
                    }
                    "repository.uuid" => compare_text(c.op, &r.uuid, &c.value)?,
                    "user.uuid" => compare_text(c.op, &u.uuid, &c.value)?,
                    "user.account_id" => compare_text(c.op, &u.account_id, &c.value)?,
                    other => return Err(format!("Invalid field name: {other}")),
                })
            })?;
            if keep {
                rows.push((ri, ui, *p));
            }
        }
    }
    Ok(rows)
}

fn user_grant_rows(
    state: &BitbucketState,
    world: &BitbucketScenario,
    grants: &[UserGrant],
    kind: &str,
    self_base: &str,
) -> Vec<Value> {
    grants
        .iter()
        .filter_map(|g| {
            let u = world.user(&g.user)?;
            Some(json!({
                "type": kind,
                "permission": g.permission.as_str(),
                "user": user_json(&state.base, u),
                "links": {"self": link(&format!("{self_base}/users/{}", enc(&u.uuid)))},
            }))
        })
        .collect()
}

fn group_grant_rows(
    state: &BitbucketState,
    w: &BitbucketWorkspace,
    grants: &[GroupGrant],
    kind: &str,
    self_base: &str,
) -> Vec<Value> {
    grants
        .iter()
        .filter_map(|g| {
            let group = w.group(&g.group)?;
            Some(json!({
                "type": kind,
                "permission": g.permission.as_str(),
                "group": group_json(&state.base, w, group),
                "links": {"self": link(&format!("{self_base}/groups/{}", group.slug))},
            }))
        })
        .collect()
}

async fn repository_user_grants(
    State(state): State<BitbucketState>,
    Path((slug, repo_slug)): Path<(String, String)>,
    uri: Uri,
    Query(params): Params,
) -> Response {
    let world = read(&state.world);
    let Some(w) = world.workspace(&slug) else {
        return no_workspace(&slug);
    };
    let Some(r) = w.repo(&repo_slug) else {
        return no_repository(&slug, &repo_slug);
    };
    let self_base = format!(
        "{}/2.0/repositories/{}/{}/permissions-config",
        state.base, w.slug, r.slug
    );
    let mut rows = user_grant_rows(
        &state,
        &world,
        &r.users,
        "repository_user_permission",
        &self_base,
    );
    for row in &mut rows {
        row["repository"] = repository_ref(&state.base, w, r);
    }
    paged(&state, &uri, &params, &rows)
}

async fn repository_group_grants(
    State(state): State<BitbucketState>,
    Path((slug, repo_slug)): Path<(String, String)>,
    uri: Uri,
    Query(params): Params,
) -> Response {
    let world = read(&state.world);
    let Some(w) = world.workspace(&slug) else {
        return no_workspace(&slug);
    };
    let Some(r) = w.repo(&repo_slug) else {
        return no_repository(&slug, &repo_slug);
    };
    let self_base = format!(
        "{}/2.0/repositories/{}/{}/permissions-config",
        state.base, w.slug, r.slug
    );
    let mut rows = group_grant_rows(
        &state,
        w,
        &r.groups,
        "repository_group_permission",
        &self_base,
    );
    for row in &mut rows {
        row["repository"] = repository_ref(&state.base, w, r);
    }
    paged(&state, &uri, &params, &rows)
}

async fn list_projects(
    State(state): State<BitbucketState>,
    Path(slug): Path<String>,
    uri: Uri,
    Query(params): Params,
) -> Response {
    let world = read(&state.world);
    let Some(w) = world.workspace(&slug) else {
        return no_workspace(&slug);
    };
    let rows: Vec<Value> = w
        .projects
        .iter()
        .map(|p| project_json(&state.base, w, p))
        .collect();
    paged(&state, &uri, &params, &rows)
}

fn find_project<'a>(
    world: &'a BitbucketScenario,
    slug: &str,
    key: &str,
) -> Result<(&'a BitbucketWorkspace, &'a BitbucketProject), Box<Response>> {
    let w = world
        .workspace(slug)
        .ok_or_else(|| Box::new(no_workspace(slug)))?;
    let p = w.project(key).ok_or_else(|| {
        Box::new(error_response(
            StatusCode::NOT_FOUND,
            &format!("Project {key} not found in workspace {slug}"),
        ))
    })?;
    Ok((w, p))
}

async fn project_user_grants(
    State(state): State<BitbucketState>,
    Path((slug, key)): Path<(String, String)>,
    uri: Uri,
    Query(params): Params,
) -> Response {
    let world = read(&state.world);
    let (w, p) = match find_project(&world, &slug, &key) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let self_base = format!(
        "{}/2.0/workspaces/{}/projects/{}/permissions-config",
        state.base, w.slug, p.key
    );
    let mut rows = user_grant_rows(
        &state,
        &world,
        &p.users,
        "project_user_permission",
        &self_base,
    );
    for row in &mut rows {
        row["project"] = project_json(&state.base, w, p);
    }
    paged(&state, &uri, &params, &rows)
}

async fn project_group_grants(
    State(state): State<BitbucketState>,
    Path((slug, key)): Path<(String, String)>,
    uri: Uri,
    Query(params): Params,
) -> Response {
    let world = read(&state.world);
    let (w, p) = match find_project(&world, &slug, &key) {
        Ok(found) => found,
        Err(response) => return *response,
    };
    let self_base = format!(
        "{}/2.0/workspaces/{}/projects/{}/permissions-config",
        state.base, w.slug, p.key
    );
    let mut rows = group_grant_rows(&state, w, &p.groups, "project_group_permission", &self_base);
    for row in &mut rows {
        row["project"] = project_json(&state.base, w, p);
    }
    paged(&state, &uri, &params, &rows)
}

async fn current_user(
    State(state): State<BitbucketState>,
    caller: Option<Extension<Caller>>,
) -> Response {
    let world = read(&state.world);
    let configured = caller
        .as_ref()
        .and_then(|Extension(c)| world.tokens.iter().find(|t| t.key() == c.token))
        .and_then(|t| t.user.clone());
    let first_owner = || {
        world.workspaces.first().and_then(|w| {
            w.members
                .iter()
                .find(|m| m.role == WorkspaceRole::Owner)
                .map(|m| m.user.clone())
        })
    };
    let uuid = configured.or_else(first_owner);
    match uuid.as_deref().and_then(|u| world.user(u)) {
        Some(u) => Json(user_json(&state.base, u)).into_response(),
        None => error_response(StatusCode::NOT_FOUND, "No account for this credential"),
    }
}

/// The 1.0 groups route: every group of the workspace with its members, not paginated.
async fn groups_v1(State(state): State<BitbucketState>, Path(slug): Path<String>) -> Response {
    let world = read(&state.world);
    match world.groups_api {
        GroupsApi::Available => {}
        GroupsApi::NotFound => return error_response(StatusCode::NOT_FOUND, "Resource not found"),
        GroupsApi::Gone => {
            return error_response(
                StatusCode::GONE,
                "This API is no longer supported. Please use the 2.0 API.",
            );
        }
    }
    let Some(w) = world.workspace(&slug) else {
        return no_workspace(&slug);
    };
    let groups: Vec<Value> = w
        .groups
        .iter()
        .map(|g| {
            let members: Vec<Value> = g
                .members
                .iter()
                .filter_map(|m| world.user(m))
                .map(|u| {
                    json!({
                        "display_name": u.display_name,
                        "uuid": u.uuid,
                        "account_id": u.account_id,
                        "nickname": u.nickname,
                        "is_team": false,
                        "avatar": format!("{}/account/{}/avatar", state.base, enc(&u.uuid)),
                        "resource_uri": format!("/1.0/users/{}", enc(&u.uuid)),
                    })
                })
                .collect();
            json!({
                "name": g.name,
                "slug": g.slug,
                "permission": null,
                "auto_add": false,
                "email_forwarding_disabled": false,
                "owner": {
                    "display_name": w.name,
                    "uuid": w.uuid,
                    "is_team": true,
                    "username": w.slug,
                },
                "members": members,
            })
        })
        .collect();
    Json(groups).into_response()
}

/// `POST /site/oauth2/access_token` with `grant_type=client_credentials`: the consumer
/// authenticates with Basic `key:secret` (or `client_id`/`client_secret` form fields).
async fn oauth_token(
    State(state): State<BitbucketState>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let form: HashMap<String, String> = body
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace('+', " ")))
        .collect();
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            pair.split_once(':')
                .map(|(k, s)| (k.to_string(), s.to_string()))
        });
    let credentials = from_header.or_else(|| {
        Some((
            form.get("client_id")?.clone(),
            form.get("client_secret")?.clone(),
        ))
    });
    let oauth_error = |status: StatusCode, error: &str, description: &str| {
        (
            status,
            Json(json!({"error": error, "error_description": description})),
        )
            .into_response()
    };
    if form.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Only client_credentials is supported by the simulator",
        );
    }
    let consumer = {
        let world = read(&state.world);
        credentials.and_then(|(key, secret)| {
            world
                .oauth_consumers
                .iter()
                .find(|c| c.key == key && c.secret == secret)
                .cloned()
        })
    };
    let Some(consumer) = consumer else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_client",
            "Invalid OAuth client credentials",
        );
    };
    let token = format!(
        "sim-bb-oauth-{:016x}{:016x}",
        state.infra.next_random(),
        state.infra.next_random()
    );
    let lifetime = OAUTH_TOKEN_LIFETIME.as_secs();
    state.infra.add_token(
        token.clone(),
        TokenKind::Installation,
        consumer.scopes.clone(),
        None,
        Some(state.infra.now_secs() + lifetime),
    );
    Json(json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": lifetime,
        "scopes": consumer.scopes.map(|s| s.join(" ")).unwrap_or_else(|| "account repository repository:admin project project:admin team".into()),
        "state": "client_credentials",
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bbql_parses_comparisons_joined_by_and() {
        let c = parse_bbql(r#"repository.name="api" AND permission>="read""#).expect("valid");
        assert_eq!(c.len(), 1);
        let c = &c[0];
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].field.as_str(), c[0].op, c[0].value.as_str()),
            ("repository.name", "=", "api")
        );
        assert_eq!(
            (c[1].field.as_str(), c[1].op, c[1].value.as_str()),
            ("permission", ">=", "read")
        );
        assert!(parse_bbql(r#"permission="owner" XOR x="y""#).is_err());
        assert!(parse_bbql(r#"permission="owner" OR"#).is_err());
        assert!(parse_bbql("permission=owner").is_err());
    }

    #[test]
    fn bbql_or_keeps_a_row_when_some_and_group_holds() {
        let groups =
            parse_bbql(r#"user.uuid="a" OR user.uuid="b" AND permission="admin" or user.uuid="c""#)
                .expect("valid");
        assert_eq!(groups.iter().map(Vec::len).collect::<Vec<_>>(), [1, 2, 1]);
        let row = |uuid: &'static str, permission: &'static str| {
            move |c: &Clause| -> Result<bool, String> {
                Ok(match c.field.as_str() {
                    "user.uuid" => c.value == uuid,
                    _ => c.value == permission,
                })
            }
        };
        assert_eq!(matches_bbql(&groups, row("a", "read")), Ok(true));
        assert_eq!(matches_bbql(&groups, row("b", "read")), Ok(false));
        assert_eq!(matches_bbql(&groups, row("b", "admin")), Ok(true));
        assert_eq!(matches_bbql(&groups, row("c", "read")), Ok(true));
        assert_eq!(matches_bbql(&groups, row("d", "admin")), Ok(false));
        assert_eq!(matches_bbql(&[], row("d", "admin")), Ok(true));
    }
}
