//! Resolving a validated plan against the world, as the caller may see it.

use super::schema::{Plan, Sel};
use crate::github::routes::{
    active_set, all_collaborators, sees_repo, sees_team, team_member_list, team_repos, users_by_id,
    with_descendants,
};
use crate::github::view::{self, View};
use crate::scenario::{
    GithubOrg, GithubRepo, GithubScenario, GithubTeam, GithubUser, MembershipState, OrgRole,
    TeamPrivacy,
};
use crate::server::{BudgetView, Caller};
use base64::Engine as _;
use orgsync_core::{Permission, TeamRole, Visibility};
use serde_json::{Map, Value as Json, json};
use std::collections::{BTreeMap, HashMap};

/// One edge of a connection: its sort key, node, and the edge's own field (`role` or
/// `permission`).
#[derive(Clone)]
struct Edge<'a> {
    key: u64,
    node: Obj<'a>,
    extra: Option<&'static str>,
}

#[derive(Clone)]
enum Obj<'a> {
    Query,
    Org(&'a GithubOrg),
    Team(&'a GithubOrg, &'a GithubTeam),
    User(&'a GithubUser),
    Repo(&'a GithubOrg, &'a GithubRepo),
    /// A page of a connection: (type name, edges on this page, total count, more after).
    Conn(&'static str, Vec<Edge<'a>>, usize, bool),
    Edge(&'static str, Box<Edge<'a>>),
    PageInfo(Option<String>, Option<String>, bool),
    RateLimit,
}

fn cursor(key: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("cursor:v2:{key}"))
}

fn decode_cursor(text: &str) -> Option<u64> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    String::from_utf8(bytes)
        .ok()?
        .strip_prefix("cursor:v2:")?
        .parse()
        .ok()
}

fn node_id(prefix: &str, id: u64) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{prefix}{id}"))
}

fn permission_enum(p: Permission) -> &'static str {
    match p {
        Permission::Admin => "ADMIN",
        Permission::Maintain => "MAINTAIN",
        Permission::Write => "WRITE",
        Permission::Triage => "TRIAGE",
        Permission::Read | Permission::None => "READ",
    }
}

struct Ctx<'a> {
    world: &'a GithubScenario,
    caller: &'a Caller,
    users: HashMap<u64, &'a GithubUser>,
    views: HashMap<u64, View>,
    plan: &'a Plan,
    budget: &'a BudgetView,
    errors: Vec<Json>,
    path: Vec<String>,
}

pub(super) fn run(
    world: &GithubScenario,
    caller: &Caller,
    plan: &Plan,
    budget: &BudgetView,
) -> (Json, Vec<Json>) {
    let mut ctx = Ctx {
        world,
        caller,
        users: users_by_id(world),
        views: HashMap::new(),
        plan,
        budget,
        errors: Vec::new(),
        path: Vec::new(),
    };
    let data = ctx.object(&Obj::Query, &plan.root);
    (data, ctx.errors)
}

impl<'a> Ctx<'a> {
    fn view(&mut self, org: &GithubOrg) -> View {
        self.views
            .entry(org.id)
            .or_insert_with(|| view::of(self.world, org, Some(self.caller)))
            .clone()
    }

    fn not_found(&mut self, key: &str, message: &str) {
        let mut path: Vec<Json> = self.path.iter().map(|p| Json::from(p.clone())).collect();
        path.push(Json::from(key.to_owned()));
        self.errors.push(json!({
            "type": "NOT_FOUND",
            "path": path,
            "message": message
        }));
    }

    fn object(&mut self, obj: &Obj<'a>, sels: &[Sel]) -> Json {
        let mut out = Map::new();
        for sel in sels {
            self.path.push(sel.key.clone());
            let value = self.field(obj, sel);
            self.path.pop();
            out.insert(sel.key.clone(), value);
        }
        Json::Object(out)
    }

    fn value(&mut self, obj: Option<Obj<'a>>, sel: &Sel) -> Json {
        match obj {
            Some(o) => self.object(&o, &sel.children),
            None => Json::Null,
        }
    }

    /// One page of `items` (sorted by key) after the `after` cursor.
    fn page(
        &mut self,
        type_name: &'static str,
        mut items: Vec<Edge<'a>>,
        sel: &Sel,
    ) -> Option<Obj<'a>> {
        items.sort_by_key(|e| e.key);
        let total = items.len();
        let start = match sel.arg_str("after") {
            Some(after) => match decode_cursor(after) {
                Some(key) => items.partition_point(|e| e.key <= key),
                None => {
                    self.errors.push(json!({
                        "type": "INVALID_CURSOR_ARGUMENTS",
                        "path": self.path.clone(),
                        "message": format!("`{after}` does not appear to be a valid cursor.")
                    }));
                    return None;
                }
            },
            None => 0,
        };
        let first = usize::try_from(sel.arg_u64("first").unwrap_or(100)).unwrap_or(100);
        let end = start.saturating_add(first).min(total);
        let more = end < total;
        let page: Vec<Edge<'a>> = items.get(start..end).map(<[_]>::to_vec).unwrap_or_default();
        Some(Obj::Conn(type_name, page, total, more))
    }

    fn field(&mut self, obj: &Obj<'a>, sel: &Sel) -> Json {
        if sel.name == "__typename" {
            return Json::from(type_name(obj));
        }
        match obj {
            Obj::Query => self.query_field(sel),
            Obj::Org(o) => self.org_field(o, sel),
            Obj::Team(o, t) => self.team_field(o, t, sel),
            Obj::User(u) => user_field(u, sel),
            Obj::Repo(o, r) => self.repo_field(o, r, sel),
            Obj::Conn(name, edges, total, more) => match sel.name.as_str() {
                "totalCount" => Json::from(*total),
                "pageInfo" => {
                    let info = Obj::PageInfo(
                        edges.first().map(|e| cursor(e.key)),
                        edges.last().map(|e| cursor(e.key)),
                        *more,
                    );
                    self.object(&info, &sel.children)
                }
                "edges" => {
                    let edge_type = edge_type(name);
                    let items: Vec<Json> = edges
                        .iter()
                        .map(|e| {
                            self.object(&Obj::Edge(edge_type, Box::new(e.clone())), &sel.children)
                        })
                        .collect();
                    Json::Array(items)
                }
                "nodes" => {
                    let items: Vec<Json> = edges
                        .iter()
                        .map(|e| self.object(&e.node, &sel.children))
                        .collect();
                    Json::Array(items)
                }
                _ => Json::Null,
            },
            Obj::Edge(_, e) => match sel.name.as_str() {
                "cursor" => Json::from(cursor(e.key)),
                "node" => self.object(&e.node, &sel.children),
                "role" | "permission" => e.extra.map_or(Json::Null, Json::from),
                _ => Json::Null,
            },
            Obj::PageInfo(start, end, more) => match sel.name.as_str() {
                "startCursor" => start.clone().map_or(Json::Null, Json::from),
                "endCursor" => end.clone().map_or(Json::Null, Json::from),
                "hasNextPage" => Json::from(*more),
                "hasPreviousPage" => Json::from(false),
                _ => Json::Null,
            },
            Obj::RateLimit => match sel.name.as_str() {
                "cost" => Json::from(self.plan.cost),
                "limit" => Json::from(self.budget.limit),
                "remaining" => Json::from(self.budget.remaining),
                "used" => Json::from(self.budget.used),
                "nodeCount" => Json::from(self.plan.nodes),
                "resetAt" => Json::from(
                    chrono::DateTime::from_timestamp(
                        i64::try_from(self.budget.reset).unwrap_or(i64::MAX),
                        0,
                    )
                    .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                    .unwrap_or_default(),
                ),
                _ => Json::Null,
            },
        }
    }

    fn query_field(&mut self, sel: &Sel) -> Json {
        match sel.name.as_str() {
            "organization" => {
                let login = sel.arg_str("login").unwrap_or_default();
                let org = self.world.org(login);
                if org.is_none() {
                    self.not_found(
                        &sel.key,
                        &format!(
                            "Could not resolve to an Organization with the login of '{login}'."
                        ),
                    );
                }
                self.value(org.map(Obj::Org), sel)
            }
            "rateLimit" => self.object(&Obj::RateLimit, &sel.children),
            _ => Json::Null,
        }
    }

    fn org_field(&mut self, o: &'a GithubOrg, sel: &Sel) -> Json {
        let v = self.view(o);
        match sel.name.as_str() {
            "id" => Json::from(node_id("O_", o.id)),
            "databaseId" => Json::from(o.id),
            "login" => Json::from(o.login.clone()),
            "name" => o.name.clone().map_or(Json::Null, Json::from),
            "team" => {
                let slug = sel.arg_str("slug").unwrap_or_default();
                let team = o
                    .team(slug)
                    .filter(|t| sees_team(self.world, &v, o, t))
                    .map(|t| Obj::Team(o, t));
                // GitHub answers `null` without an error for a team the caller cannot see.
                self.value(team, sel)
            }
            "teams" => {
                let items: Vec<Edge<'a>> = o
                    .teams
                    .iter()
                    .filter(|t| sees_team(self.world, &v, o, t))
                    .map(|t| Edge {
                        key: t.id,
                        node: Obj::Team(o, t),
                        extra: None,
                    })
                    .collect();
                let page = self.page("TeamConnection", items, sel);
                self.value(page, sel)
            }
            "membersWithRole" => {
                let concealed_ok = v.sees_member(true);
                let items: Vec<Edge<'a>> = o
                    .members
                    .iter()
                    .filter(|m| m.state == MembershipState::Active)
                    .filter(|m| concealed_ok || !m.concealed)
                    .filter_map(|m| {
                        self.users.get(&m.user).map(|u| Edge {
                            key: u.id,
                            node: Obj::User(u),
                            extra: Some(if m.role == OrgRole::Admin {
                                "ADMIN"
                            } else {
                                "MEMBER"
                            }),
                        })
                    })
                    .collect();
                let page = self.page("OrganizationMemberConnection", items, sel);
                self.value(page, sel)
            }
            "repositories" => {
                let items: Vec<Edge<'a>> = o
                    .repos
                    .iter()
                    .filter(|r| sees_repo(&v, o, r))
                    .map(|r| Edge {
                        key: r.id,
                        node: Obj::Repo(o, r),
                        extra: None,
                    })
                    .collect();
                let page = self.page("RepositoryConnection", items, sel);
                self.value(page, sel)
            }
            "repository" => {
                let name = sel.arg_str("name").unwrap_or_default();
                let repo = o.repo(name).filter(|r| sees_repo(&v, o, r));
                if repo.is_none() {
                    self.not_found(
                        &sel.key,
                        &format!(
                            "Could not resolve to a Repository with the name '{}/{name}'.",
                            o.login
                        ),
                    );
                }
                self.value(repo.map(|r| Obj::Repo(o, r)), sel)
            }
            _ => Json::Null,
        }
    }

    fn team_field(&mut self, o: &'a GithubOrg, t: &'a GithubTeam, sel: &Sel) -> Json {
        match sel.name.as_str() {
            "id" => Json::from(node_id("T_", t.id)),
            "databaseId" => Json::from(t.id),
            "slug" => Json::from(t.slug.clone()),
            "name" => Json::from(t.name.clone()),
            "privacy" => Json::from(match t.privacy {
                TeamPrivacy::Secret => "SECRET",
                TeamPrivacy::Closed => "VISIBLE",
            }),
            "parentTeam" => {
                let v = self.view(o);
                let parent = t
                    .parent
                    .as_deref()
                    .and_then(|p| o.team(p))
                    .filter(|p| sees_team(self.world, &v, o, p))
                    .map(|p| Obj::Team(o, p));
                self.value(parent, sel)
            }
            "members" => {
                let membership = sel.arg_str("membership").unwrap_or("ALL");
                let role = sel.arg_str("role");
                let mut listed: BTreeMap<u64, TeamRole> = BTreeMap::new();
                match membership {
                    "IMMEDIATE" => {
                        let active = active_set(o);
                        for m in &t.members {
                            if active.contains(&m.user) && self.users.contains_key(&m.user) {
                                listed.insert(m.user, m.role);
                            }
                        }
                    }
                    "CHILD_TEAM" => {
                        let active = active_set(o);
                        let direct: Vec<u64> = t.members.iter().map(|m| m.user).collect();
                        for child in with_descendants(o, &t.slug).into_iter().skip(1) {
                            for m in &child.members {
                                if active.contains(&m.user)
                                    && self.users.contains_key(&m.user)
                                    && !direct.contains(&m.user)
                                {
                                    listed.insert(m.user, TeamRole::Member);
                                }
                            }
                        }
                    }
                    _ => {
                        for (id, (r, _)) in team_member_list(self.world, o, &t.slug) {
                            listed.insert(id, r);
                        }
                    }
                }
                let items: Vec<Edge<'a>> = listed
                    .into_iter()
                    .filter(|(_, r)| match role {
                        Some("MAINTAINER") => *r == TeamRole::Maintainer,
                        Some("MEMBER") => *r == TeamRole::Member,
                        _ => true,
                    })
                    .filter_map(|(id, r)| {
                        self.users.get(&id).map(|u| Edge {
                            key: id,
                            node: Obj::User(u),
                            extra: Some(match r {
                                TeamRole::Maintainer => "MAINTAINER",
                                TeamRole::Member => "MEMBER",
                            }),
                        })
                    })
                    .collect();
                let page = self.page("TeamMemberConnection", items, sel);
                self.value(page, sel)
            }
            "repositories" => {
                let v = self.view(o);
                let grants = team_repos(o, &t.slug);
                let items: Vec<Edge<'a>> = o
                    .repos
                    .iter()
                    .filter(|r| sees_repo(&v, o, r))
                    .filter_map(|r| {
                        grants.get(&r.id).map(|p| Edge {
                            key: r.id,
                            node: Obj::Repo(o, r),
                            extra: Some(permission_enum(*p)),
                        })
                    })
                    .collect();
                let page = self.page("TeamRepositoryConnection", items, sel);
                self.value(page, sel)
            }
            _ => Json::Null,
        }
    }

    fn repo_field(&mut self, o: &'a GithubOrg, r: &'a GithubRepo, sel: &Sel) -> Json {
        match sel.name.as_str() {
            "id" => Json::from(node_id("R_", r.id)),
            "databaseId" => Json::from(r.id),
            "name" => Json::from(r.name.clone()),
            "visibility" => Json::from(match r.visibility {
                Visibility::Public => "PUBLIC",
                Visibility::Internal => "INTERNAL",
                Visibility::Private => "PRIVATE",
            }),
            "isPrivate" => Json::from(r.visibility != Visibility::Public),
            "isArchived" => Json::from(r.archived),
            "isFork" => Json::from(r.fork),
            "collaborators" => {
                let entries: BTreeMap<u64, Permission> =
                    match sel.arg_str("affiliation").unwrap_or("ALL") {
                        "OUTSIDE" => r
                            .collaborators
                            .iter()
                            .filter(|c| o.outside_collaborators.contains(&c.user))
                            .map(|c| (c.user, c.permission))
                            .collect(),
                        "DIRECT" => r
                            .collaborators
                            .iter()
                            .map(|c| (c.user, c.permission))
                            .collect(),
                        _ => all_collaborators(o, r),
                    };
                // `login`: "the login of one specific collaborator" (GitHub matches logins
                // without regard to case): the list narrowed to that account, if it is on it.
                let login = sel.arg_str("login");
                let items: Vec<Edge<'a>> = entries
                    .into_iter()
                    .filter(|(_, p)| p.can_read())
                    .filter_map(|(id, p)| self.users.get(&id).map(|u| (u, p)))
                    .filter(|(u, _)| login.is_none_or(|l| u.login.eq_ignore_ascii_case(l)))
                    .map(|(u, p)| Edge {
                        key: u.id,
                        node: Obj::User(u),
                        extra: Some(permission_enum(p)),
                    })
                    .collect();
                let page = self.page("RepositoryCollaboratorConnection", items, sel);
                self.value(page, sel)
            }
            _ => Json::Null,
        }
    }
}

fn user_field(u: &GithubUser, sel: &Sel) -> Json {
    match sel.name.as_str() {
        "id" => Json::from(node_id("U_", u.id)),
        "databaseId" => Json::from(u.id),
        "login" => Json::from(u.login.clone()),
        "name" => u.name.clone().map_or(Json::Null, Json::from),
        // `String!`: the public e-mail, empty when there is none.
        "email" => Json::from(u.email.clone().unwrap_or_default()),
        _ => Json::Null,
    }
}

fn edge_type(connection: &str) -> &'static str {
    match connection {
        "TeamConnection" => "TeamEdge",
        "TeamMemberConnection" => "TeamMemberEdge",
        "OrganizationMemberConnection" => "OrganizationMemberEdge",
        "RepositoryConnection" => "RepositoryEdge",
        "RepositoryCollaboratorConnection" => "RepositoryCollaboratorEdge",
        _ => "TeamRepositoryEdge",
    }
}

fn type_name(obj: &Obj<'_>) -> &'static str {
    match obj {
        Obj::Query => "Query",
        Obj::Org(_) => "Organization",
        Obj::Team(..) => "Team",
        Obj::User(_) => "User",
        Obj::Repo(..) => "Repository",
        Obj::Conn(name, ..) => name,
        Obj::Edge(name, _) => name,
        Obj::PageInfo(..) => "PageInfo",
        Obj::RateLimit => "RateLimit",
    }
}
