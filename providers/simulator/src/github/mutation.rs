//! Changes to a running GitHub world, each followed by the webhook GitHub sends for it.
//!
//! A mutation takes the world's write lock, checks and applies the change, builds the payload
//! from the world as changed, and releases the lock before delivering: readers see the world
//! before or after the change, never half of it.

use super::{GithubState, urls};
use crate::SimError;
use crate::scenario::{
    GithubRepo, GithubScenario, GithubUser, MembershipState, OrgMember, OrgRole, TeamGrant,
    TeamMembership,
};
use crate::server::{Delivery, SimHandle, hmac_sha256_hex, write};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orgsync_core::{Permission, TeamRole};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::RwLock;

/// One change to the GitHub world. As JSON: `{"op": "remove_member", "org": "acme", "login": "x"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Mutation {
    /// Adds a user (created if the id is new) as an active member.
    AddMember {
        /// Login of the organisation.
        org: String,
        /// The account; created when its id is new, else the existing one is used.
        user: GithubUser,
        /// The organisation role it gets.
        role: OrgRole,
    },
    /// Removes a member from the organisation, its teams and its repositories.
    RemoveMember {
        /// Login of the organisation.
        org: String,
        /// Login of the user.
        login: String,
    },
    /// Renames a user; the id stays. GitHub sends no organisation webhook for this.
    RenameLogin {
        /// Current login.
        login: String,
        /// Login after the rename.
        new_login: String,
    },
    /// Changes a member's organisation role (`member_added` is GitHub's event for a role change
    /// through an invitation; a direct change sends no webhook).
    ChangeRole {
        /// Login of the organisation.
        org: String,
        /// Login of the user.
        login: String,
        /// The new role.
        role: OrgRole,
    },
    /// Adds an organisation member to a team, or changes their team role (`membership` `added`).
    AddTeamMember {
        /// Login of the organisation.
        org: String,
        /// Slug of the team.
        team: String,
        /// Login of the user.
        login: String,
        /// Member or maintainer; member when omitted.
        #[serde(default = "member_role")]
        role: TeamRole,
    },
    /// Removes a user from a team (`membership` `removed`).
    RemoveTeamMember {
        /// Login of the organisation.
        org: String,
        /// Slug of the team.
        team: String,
        /// Login of the user.
        login: String,
    },
    /// Grants, changes or (with `permission: null`) revokes a team's access to a repository.
    SetTeamRepoPermission {
        /// Login of the organisation.
        org: String,
        /// Slug of the team.
        team: String,
        /// Name of the repository.
        repo: String,
        /// The new role; `None` removes the grant.
        permission: Option<Permission>,
    },
    /// Creates a repository (`repository` `created`).
    AddRepository {
        /// Login of the organisation.
        org: String,
        /// The repository; its id and name must be new in the organisation.
        repo: GithubRepo,
    },
    /// Archives a repository (`repository` `archived`).
    ArchiveRepository {
        /// Login of the organisation.
        org: String,
        /// Name of the repository.
        repo: String,
    },
    /// Removes a direct collaborator from a repository.
    RemoveCollaborator {
        /// Login of the organisation.
        org: String,
        /// Name of the repository.
        repo: String,
        /// Login of the user.
        login: String,
    },
    /// Deletes a repository with its grants (`repository` `deleted`).
    DeleteRepository {
        /// Login of the organisation.
        org: String,
        /// Name of the repository.
        repo: String,
    },
    /// Deletes a GitHub account: it leaves every organisation, team and repository, and its id
    /// and login answer `404`. GitHub sends no organisation webhook for it.
    DeleteUser {
        /// Login of the user.
        login: String,
    },
}

fn member_role() -> TeamRole {
    TeamRole::Member
}

/// The event to deliver after a change.
struct Event {
    name: &'static str,
    action: &'static str,
    payload: Value,
}

fn err(message: impl Into<String>) -> SimError {
    SimError::Mutation(message.into())
}

/// Applies the change under the write lock and builds the event payload.
fn change(world: &mut GithubScenario, base: &str, m: Mutation) -> Result<Option<Event>, SimError> {
    let sender = |w: &GithubScenario, org: &str| {
        w.org(org)
            .and_then(|o| {
                o.members
                    .iter()
                    .find(|m| m.role == OrgRole::Admin && m.state == MembershipState::Active)
            })
            .and_then(|m| w.user(m.user))
            .map(|u| json!(urls::simple_user(base, u)))
            .unwrap_or(Value::Null)
    };
    match m {
        Mutation::AddMember { org, user, role } => {
            let existing = world.user(user.id).cloned();
            if existing.is_none() {
                if world.user_by_login(&user.login).is_some() {
                    return Err(err(format!("login {} is taken", user.login)));
                }
                world.users.push(user.clone());
            }
            let u = existing.unwrap_or(user);
            let o = world
                .org_mut(&org)
                .ok_or_else(|| err(format!("no organisation {org}")))?;
            if o.member(u.id).is_some() {
                return Err(err(format!("{} is already a member of {org}", u.login)));
            }
            o.outside_collaborators.retain(|id| *id != u.id);
            o.members.push(OrgMember {
                user: u.id,
                role,
                state: MembershipState::Active,
                concealed: false,
            });
            let o = world
                .org(&org)
                .ok_or_else(|| err("organisation vanished"))?;
            Ok(Some(Event {
                name: "organization",
                action: "member_added",
                payload: json!({
                    "action": "member_added",
                    "membership": membership_json(base, &o.login, &u, role, "active"),
                    "organization": urls::org_simple(base, o),
                    "sender": sender(world, &org),
                }),
            }))
        }
        Mutation::RemoveMember { org, login } => {
            let u = world
                .user_by_login(&login)
                .cloned()
                .ok_or_else(|| err(format!("no user {login}")))?;
            let payload_sender = sender(world, &org);
            let o = world
                .org_mut(&org)
                .ok_or_else(|| err(format!("no organisation {org}")))?;
            let m = o
                .member(u.id)
                .cloned()
                .ok_or_else(|| err(format!("{login} is not a member of {org}")))?;
            o.members.retain(|x| x.user != u.id);
            for t in &mut o.teams {
                t.members.retain(|x| x.user != u.id);
            }
            for r in &mut o.repos {
                r.collaborators.retain(|c| c.user != u.id);
            }
            let o = world
                .org(&org)
                .ok_or_else(|| err("organisation vanished"))?;
            Ok(Some(Event {
                name: "organization",
                action: "member_removed",
                payload: json!({
                    "action": "member_removed",
                    "membership": membership_json(base, &o.login, &u, m.role, m.state.as_str()),
                    "organization": urls::org_simple(base, o),
                    "sender": payload_sender,
                }),
            }))
        }
        Mutation::RenameLogin { login, new_login } => {
            if world.user_by_login(&new_login).is_some() {
                return Err(err(format!("login {new_login} is taken")));
            }
            let u = world
                .users
                .iter_mut()
                .find(|u| u.login.eq_ignore_ascii_case(&login))
                .ok_or_else(|| err(format!("no user {login}")))?;
            u.login = new_login;
            Ok(None)
        }
        Mutation::ChangeRole { org, login, role } => {
            let u = world
                .user_by_login(&login)
                .cloned()
                .ok_or_else(|| err(format!("no user {login}")))?;
            let o = world
                .org_mut(&org)
                .ok_or_else(|| err(format!("no organisation {org}")))?;
            let m = o
                .members
                .iter_mut()
                .find(|m| m.user == u.id)
                .ok_or_else(|| err(format!("{login} is not a member of {org}")))?;
            m.role = role;
            Ok(None)
        }
        Mutation::AddTeamMember {
            org,
            team,
            login,
            role,
        } => {
            let u = world
                .user_by_login(&login)
                .cloned()
                .ok_or_else(|| err(format!("no user {login}")))?;
            let payload_sender = sender(world, &org);
            let o = world
                .org_mut(&org)
                .ok_or_else(|| err(format!("no organisation {org}")))?;
            if o.member(u.id).is_none() {
                return Err(err(format!("{login} is not a member of {org}")));
            }
            let t = o
                .teams
                .iter_mut()
                .find(|t| t.slug.eq_ignore_ascii_case(&team))
                .ok_or_else(|| err(format!("no team {team}")))?;
            match t.members.iter_mut().find(|m| m.user == u.id) {
                Some(existing) => existing.role = role,
                None => t.members.push(TeamMembership { user: u.id, role }),
            }
            team_membership_event(world, base, &org, &team, &u, "added", &payload_sender)
        }
        Mutation::RemoveTeamMember { org, team, login } => {
            let u = world
                .user_by_login(&login)
                .cloned()
                .ok_or_else(|| err(format!("no user {login}")))?;
            let payload_sender = sender(world, &org);
            let o = world
                .org_mut(&org)
                .ok_or_else(|| err(format!("no organisation {org}")))?;
            let t = o
                .teams
                .iter_mut()
                .find(|t| t.slug.eq_ignore_ascii_case(&team))
                .ok_or_else(|| err(format!("no team {team}")))?;
            let before = t.members.len();
            t.members.retain(|m| m.user != u.id);
            if t.members.len() == before {
                return Err(err(format!("{login} is not a member of team {team}")));
            }
            team_membership_event(world, base, &org, &team, &u, "removed", &payload_sender)
        }
        Mutation::SetTeamRepoPermission {
            org,
            team,
            repo,
            permission,
        } => {
            let payload_sender = sender(world, &org);
            let o = world
                .org_mut(&org)
                .ok_or_else(|| err(format!("no organisation {org}")))?;
            let repo_name = o
                .repo(&repo)
                .map(|r| r.name.clone())
                .ok_or_else(|| err(format!("no repository {repo}")))?;
            let t = o
                .teams
                .iter_mut()
                .find(|t| t.slug.eq_ignore_ascii_case(&team))
                .ok_or_else(|| err(format!("no team {team}")))?;
            let previous = t
                .repos
                .iter()
                .find(|g| g.repo.eq_ignore_ascii_case(&repo_name))
                .map(|g| g.permission);
            t.repos.retain(|g| !g.repo.eq_ignore_ascii_case(&repo_name));
            if let Some(p) = permission {
                t.repos.push(TeamGrant {
                    repo: repo_name.clone(),
                    permission: p,
                });
            }
            let o = world
                .org(&org)
                .ok_or_else(|| err("organisation vanished"))?;
            let t = o.team(&team).ok_or_else(|| err("team vanished"))?;
            let r = o
                .repo(&repo_name)
                .ok_or_else(|| err("repository vanished"))?;
            let team_json = json!(urls::team(base, o, t, permission));
            let repo_json = urls::webhook_repository(base, o, r);
            let (action, mut payload) = match (previous, permission) {
                (None, Some(_)) => ("added_to_repository", json!({})),
                (Some(_), None) => ("removed_from_repository", json!({})),
                (Some(from), Some(_)) => (
                    "edited",
                    json!({"changes": {"repository": {"permissions": {"from": {
                        "admin": from >= Permission::Admin,
                        "pull": from >= Permission::Read,
                        "push": from >= Permission::Write,
                    }}}}}),
                ),
                (None, None) => return Ok(None),
            };
            payload["action"] = json!(action);
            payload["team"] = team_json;
            payload["repository"] = repo_json;
            payload["organization"] = json!(urls::org_simple(base, o));
            payload["sender"] = payload_sender;
            Ok(Some(Event {
                name: "team",
                action,
                payload,
            }))
        }
        Mutation::AddRepository { org, repo } => {
            let payload_sender = sender(world, &org);
            let o = world
                .org_mut(&org)
                .ok_or_else(|| err(format!("no organisation {org}")))?;
            if o.repo(&repo.name).is_some() {
                return Err(err(format!("repository {} exists", repo.name)));
            }
            let name = repo.name.clone();
            o.repos.push(repo);
            repository_event(world, base, &org, &name, "created", &payload_sender)
        }
        Mutation::ArchiveRepository { org, repo } => {
            let payload_sender = sender(world, &org);
            let o = world
                .org_mut(&org)
                .ok_or_else(|| err(format!("no organisation {org}")))?;
            let r = o
                .repos
                .iter_mut()
                .find(|r| r.name.eq_ignore_ascii_case(&repo))
                .ok_or_else(|| err(format!("no repository {repo}")))?;
            r.archived = true;
            repository_event(world, base, &org, &repo, "archived", &payload_sender)
        }
        Mutation::RemoveCollaborator { org, repo, login } => {
            let u = world
                .user_by_login(&login)
                .cloned()
                .ok_or_else(|| err(format!("no user {login}")))?;
            let payload_sender = sender(world, &org);
            let o = world
                .org_mut(&org)
                .ok_or_else(|| err(format!("no organisation {org}")))?;
            let r = o
                .repos
                .iter_mut()
                .find(|r| r.name.eq_ignore_ascii_case(&repo))
                .ok_or_else(|| err(format!("no repository {repo}")))?;
            let before = r.collaborators.len();
            r.collaborators.retain(|c| c.user != u.id);
            if r.collaborators.len() == before {
                return Err(err(format!(
                    "{login} is not a direct collaborator on {repo}"
                )));
            }
            let o = world
                .org(&org)
                .ok_or_else(|| err("organisation vanished"))?;
            let r = o.repo(&repo).ok_or_else(|| err("repository vanished"))?;
            Ok(Some(Event {
                name: "member",
                action: "removed",
                payload: json!({
                    "action": "removed",
                    "member": urls::simple_user(base, &u),
                    "repository": urls::webhook_repository(base, o, r),
                    "organization": urls::org_simple(base, o),
                    "sender": payload_sender,
                }),
            }))
        }
        Mutation::DeleteRepository { org, repo } => {
            let payload_sender = sender(world, &org);
            delete_repository(world, base, &org, &repo, &payload_sender)
        }
        Mutation::DeleteUser { login } => delete_user(world, &login),
    }
}

fn delete_repository(
    world: &mut GithubScenario,
    base: &str,
    org: &str,
    repo: &str,
    sender: &Value,
) -> Result<Option<Event>, SimError> {
    let event = repository_event(world, base, org, repo, "deleted", sender)?;
    let o = world
        .org_mut(org)
        .ok_or_else(|| err(format!("no organisation {org}")))?;
    o.repos.retain(|r| !r.name.eq_ignore_ascii_case(repo));
    for t in &mut o.teams {
        t.repos.retain(|g| !g.repo.eq_ignore_ascii_case(repo));
    }
    Ok(event)
}

fn delete_user(world: &mut GithubScenario, login: &str) -> Result<Option<Event>, SimError> {
    let u = world
        .user_by_login(login)
        .cloned()
        .ok_or_else(|| err(format!("no user {login}")))?;
    world.users.retain(|x| x.id != u.id);
    for o in &mut world.orgs {
        o.members.retain(|m| m.user != u.id);
        o.outside_collaborators.retain(|id| *id != u.id);
        for t in &mut o.teams {
            t.members.retain(|m| m.user != u.id);
        }
        for r in &mut o.repos {
            r.collaborators.retain(|c| c.user != u.id);
        }
    }
    Ok(None)
}

fn membership_json(base: &str, org: &str, u: &GithubUser, role: OrgRole, state: &str) -> Value {
    json!({
        "url": format!("{base}/orgs/{org}/memberships/{}", u.login),
        "state": state,
        "role": role.as_str(),
        "organization_url": format!("{base}/orgs/{org}"),
        "user": urls::simple_user(base, u),
    })
}

fn team_membership_event(
    world: &GithubScenario,
    base: &str,
    org: &str,
    team: &str,
    u: &GithubUser,
    action: &'static str,
    sender: &Value,
) -> Result<Option<Event>, SimError> {
    let o = world.org(org).ok_or_else(|| err("organisation vanished"))?;
    let t = o.team(team).ok_or_else(|| err("team vanished"))?;
    Ok(Some(Event {
        name: "membership",
        action,
        payload: json!({
            "action": action,
            "scope": "team",
            "member": urls::simple_user(base, u),
            "sender": sender,
            "team": urls::team(base, o, t, None),
            "organization": urls::org_simple(base, o),
        }),
    }))
}

fn repository_event(
    world: &GithubScenario,
    base: &str,
    org: &str,
    repo: &str,
    action: &'static str,
    sender: &Value,
) -> Result<Option<Event>, SimError> {
    let o = world.org(org).ok_or_else(|| err("organisation vanished"))?;
    let r = o.repo(repo).ok_or_else(|| err("repository vanished"))?;
    Ok(Some(Event {
        name: "repository",
        action,
        payload: json!({
            "action": action,
            "repository": urls::webhook_repository(base, o, r),
            "organization": urls::org_simple(base, o),
            "sender": sender,
        }),
    }))
}

/// Applies `m` to the world without delivering any webhook (page hooks: the change happens
/// while a list is being read, and the test is about the list).
pub(crate) fn apply_silently(
    world: &RwLock<GithubScenario>,
    base: &str,
    m: Mutation,
) -> Result<(), SimError> {
    let mut w = write(world);
    let mut next = w.clone();
    change(&mut next, base, m)?;
    next.validate()?;
    *w = next;
    Ok(())
}

/// Applies `m` to the world, then delivers its webhook, if any, to the configured target.
pub(crate) async fn apply(
    world: &RwLock<GithubScenario>,
    infra: &SimHandle,
    base: &str,
    m: Mutation,
) -> Result<Option<Delivery>, SimError> {
    let event = {
        let mut w = write(world);
        // Work on a copy so a rejected change leaves the world untouched.
        let mut next = w.clone();
        let event = change(&mut next, base, m)?;
        next.validate()?;
        *w = next;
        event
    };
    let Some(event) = event else {
        return Ok(None);
    };
    Ok(deliver(infra, event).await)
}

async fn deliver(infra: &SimHandle, event: Event) -> Option<Delivery> {
    let target = infra.webhook.target()?;
    let body = serde_json::to_vec(&event.payload).unwrap_or_default();
    let id = infra.guid();
    let signature = format!(
        "sha256={}",
        hmac_sha256_hex(target.secret.as_bytes(), &body)
    );
    let headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        (
            "User-Agent".to_string(),
            "GitHub-Hookshot/orgsync-sim".to_string(),
        ),
        ("X-GitHub-Event".to_string(), event.name.to_string()),
        ("X-GitHub-Delivery".to_string(), id.clone()),
        ("X-GitHub-Hook-ID".to_string(), "1".to_string()),
        (
            "X-GitHub-Hook-Installation-Target-Type".to_string(),
            "organization".to_string(),
        ),
        ("X-Hub-Signature-256".to_string(), signature),
    ];
    infra
        .webhook
        .post(
            id,
            event.name,
            Some(event.action.to_string()),
            headers,
            body,
        )
        .await
}

/// `POST /_sim/github/mutations` with a [`Mutation`] as JSON.
pub(crate) async fn http_mutate(
    State(state): State<GithubState>,
    Json(m): Json<Mutation>,
) -> Response {
    match apply(&state.world, &state.infra, &state.base, m).await {
        Ok(delivery) => (StatusCode::OK, Json(json!({"delivery": delivery}))).into_response(),
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"message": e.to_string()})),
        )
            .into_response(),
    }
}
