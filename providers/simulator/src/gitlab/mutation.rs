//! Changes to a running GitLab world, each followed by the group webhook GitLab sends for it
//! (Member Hook, Subgroup Hook, Project Hook), delivered with `X-Gitlab-Token` (the secret,
//! verbatim), `X-Gitlab-Event`, `X-Gitlab-Event-UUID`, `X-Gitlab-Webhook-UUID`,
//! `X-Gitlab-Instance` and `Idempotency-Key`.
//!
//! The world's write lock is held while the change is applied and the payload built, and
//! released before delivery, so readers see the world before or after a change, never half of it.

use super::GitlabState;
use super::json::{HookOwner, MemberHook, ProjectHook, SubgroupHook};
use crate::SimError;
use crate::scenario::{
    GitlabGroup, GitlabMember, GitlabProject, GitlabScenario, GitlabUser, MembershipApproval,
    UserState, role_title,
};
use crate::server::{Delivery, SimHandle, write};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orgsync_core::Visibility;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::RwLock;

/// One change. As JSON: `{"op": "remove_group_member", "group": 1000, "user": 7}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum GitlabMutation {
    /// Adds a user (created when the id is new) to a group: `user_add_to_group`.
    AddGroupMember {
        /// Id of the group.
        group: u64,
        /// The account; created when its id is new.
        user: GitlabUser,
        /// GitLab's access level number (10 guest … 50 owner).
        access_level: u8,
        /// `YYYY-MM-DD` the membership ends; `None` for no expiry.
        #[serde(default)]
        expires_at: Option<String>,
    },
    /// Changes a member's level: `user_update_for_group`.
    UpdateGroupMember {
        /// Id of the group.
        group: u64,
        /// Id of the user.
        user: u64,
        /// GitLab's access level number (10 guest … 50 owner).
        access_level: u8,
    },
    /// `user_remove_from_group`.
    RemoveGroupMember {
        /// Id of the group.
        group: u64,
        /// Id of the user.
        user: u64,
    },
    /// Blocks, deactivates or reactivates an account (no group webhook exists for this).
    SetUserState {
        /// Id of the user.
        user: u64,
        /// The new state.
        state: UserState,
    },
    /// Renames a user; the id stays (no group webhook).
    RenameUser {
        /// Id of the user.
        user: u64,
        /// Username after the rename.
        username: String,
    },
    /// Adds a direct project member (GitLab has no group webhook for project members).
    AddProjectMember {
        /// Id of the project.
        project: u64,
        /// Id of the user.
        user: u64,
        /// GitLab's access level number (10 guest … 50 owner).
        access_level: u8,
    },
    /// `subgroup_create`.
    CreateSubgroup {
        /// Id of the new group; must be unused.
        id: u64,
        /// Id of the parent group.
        parent: u64,
        /// The new last path segment.
        path: String,
        /// Display name.
        name: String,
    },
    /// `subgroup_destroy` (its projects go with it).
    DeleteSubgroup {
        /// Id of the group.
        group: u64,
    },
    /// `project_create`.
    CreateProject {
        /// Id of the new project; must be unused.
        id: u64,
        /// Id of the group it lives in.
        namespace: u64,
        /// The new last path segment.
        path: String,
        /// Visibility; private when `None`.
        #[serde(default)]
        visibility: Option<Visibility>,
    },
    /// `project_destroy`.
    DestroyProject {
        /// Id of the project.
        project: u64,
    },
    /// Archives or unarchives a project (no group webhook).
    SetArchived {
        /// Id of the project.
        project: u64,
        /// True archives, false unarchives.
        archived: bool,
    },
}

struct Event {
    name: &'static str,
    event_name: String,
    payload: Value,
}

fn now_text() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn check_level(level: u8) -> Result<(), SimError> {
    if [5, 10, 15, 20, 30, 40, 50].contains(&level) {
        Ok(())
    } else {
        Err(SimError::Mutation(format!(
            "access_level {level} is not a GitLab level"
        )))
    }
}

fn group_mut(world: &mut GitlabScenario, id: u64) -> Result<&mut GitlabGroup, SimError> {
    world
        .groups
        .iter_mut()
        .find(|g| g.id == id)
        .ok_or_else(|| SimError::Mutation(format!("no group {id}")))
}

fn member_event(
    world: &GitlabScenario,
    group: u64,
    user: u64,
    level: u8,
    expires_at: Option<String>,
    event_name: &str,
) -> Option<Event> {
    let g = world.group(group)?;
    let u = world.user(user)?;
    let now = now_text();
    let payload = MemberHook {
        created_at: now.clone(),
        updated_at: now,
        group_name: g.name.clone(),
        group_path: g.path.clone(),
        group_id: g.id,
        user_username: u.username.clone(),
        user_name: u.name.clone().unwrap_or_else(|| u.username.clone()),
        user_email: u.email.clone(),
        user_id: u.id,
        group_access: role_title(level).to_string(),
        group_plan: None,
        expires_at: expires_at.map(|d| format!("{d}T00:00:00Z")),
        event_name: event_name.to_string(),
    };
    Some(Event {
        name: "Member Hook",
        event_name: event_name.to_string(),
        payload: serde_json::to_value(payload).ok()?,
    })
}

fn subgroup_event(world: &GitlabScenario, group: &GitlabGroup, event_name: &str) -> Option<Event> {
    let parent = world.group(group.parent?)?;
    let now = now_text();
    let parent_full = world.group_full_path(parent.id);
    let payload = SubgroupHook {
        created_at: now.clone(),
        updated_at: now,
        event_name: event_name.to_string(),
        name: group.name.clone(),
        path: group.path.clone(),
        full_path: format!("{parent_full}/{}", group.path),
        group_id: group.id,
        parent_group_id: parent.id,
        parent_name: parent.name.clone(),
        parent_path: parent.path.clone(),
        parent_full_path: parent_full,
    };
    Some(Event {
        name: "Subgroup Hook",
        event_name: event_name.to_string(),
        payload: serde_json::to_value(payload).ok()?,
    })
}

fn project_event(world: &GitlabScenario, p: &GitlabProject, event_name: &str) -> Option<Event> {
    let now = now_text();
    let owners = world
        .group(p.namespace)
        .map(|g| {
            g.members
                .iter()
                .filter(|m| m.access_level >= 50)
                .filter_map(|m| world.user(m.user))
                .map(|u| HookOwner {
                    name: u.name.clone().unwrap_or_else(|| u.username.clone()),
                    email: u.email.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let payload = ProjectHook {
        event_name: event_name.to_string(),
        created_at: now.clone(),
        updated_at: now,
        name: p.name.clone(),
        path: p.path.clone(),
        path_with_namespace: world.project_full_path(p),
        project_id: p.id,
        project_namespace_id: p.id + 100_000,
        owners,
        project_visibility: match p.visibility {
            Visibility::Public => "public",
            Visibility::Internal => "internal",
            Visibility::Private => "private",
        }
        .to_string(),
    };
    Some(Event {
        name: "Project Hook",
        event_name: event_name.to_string(),
        payload: serde_json::to_value(payload).ok()?,
    })
}

fn change(world: &mut GitlabScenario, mutation: GitlabMutation) -> Result<Option<Event>, SimError> {
    match mutation {
        GitlabMutation::AddGroupMember {
            group,
            user,
            access_level,
            expires_at,
        } => {
            check_level(access_level)?;
            let user_id = user.id;
            if world.user(user_id).is_none() {
                world.users.push(user);
            }
            let g = group_mut(world, group)?;
            if g.members.iter().any(|m| m.user == user_id) {
                return Err(SimError::Mutation(format!(
                    "user {user_id} is already a member"
                )));
            }
            g.members.push(GitlabMember {
                user: user_id,
                access_level,
                expires_at: expires_at.clone(),
                state: MembershipApproval::Active,
                member_role: None,
            });
            Ok(member_event(
                world,
                group,
                user_id,
                access_level,
                expires_at,
                "user_add_to_group",
            ))
        }
        GitlabMutation::UpdateGroupMember {
            group,
            user,
            access_level,
        } => {
            check_level(access_level)?;
            let g = group_mut(world, group)?;
            let m = g
                .members
                .iter_mut()
                .find(|m| m.user == user)
                .ok_or_else(|| SimError::Mutation(format!("user {user} is not a member")))?;
            m.access_level = access_level;
            let expires = m.expires_at.clone();
            Ok(member_event(
                world,
                group,
                user,
                access_level,
                expires,
                "user_update_for_group",
            ))
        }
        GitlabMutation::RemoveGroupMember { group, user } => {
            let g = group_mut(world, group)?;
            let Some(pos) = g.members.iter().position(|m| m.user == user) else {
                return Err(SimError::Mutation(format!("user {user} is not a member")));
            };
            let m = g.members.remove(pos);
            Ok(member_event(
                world,
                group,
                user,
                m.access_level,
                m.expires_at,
                "user_remove_from_group",
            ))
        }
        GitlabMutation::SetUserState { user, state } => {
            let u = world
                .users
                .iter_mut()
                .find(|u| u.id == user)
                .ok_or_else(|| SimError::Mutation(format!("no user {user}")))?;
            u.state = state;
            Ok(None)
        }
        GitlabMutation::RenameUser { user, username } => {
            if world
                .users
                .iter()
                .any(|u| u.username.eq_ignore_ascii_case(&username) && u.id != user)
            {
                return Err(SimError::Mutation(format!("username {username} is taken")));
            }
            let u = world
                .users
                .iter_mut()
                .find(|u| u.id == user)
                .ok_or_else(|| SimError::Mutation(format!("no user {user}")))?;
            u.username = username;
            Ok(None)
        }
        GitlabMutation::AddProjectMember {
            project,
            user,
            access_level,
        } => {
            check_level(access_level)?;
            if world.user(user).is_none() {
                return Err(SimError::Mutation(format!("no user {user}")));
            }
            let p = world
                .projects
                .iter_mut()
                .find(|p| p.id == project)
                .ok_or_else(|| SimError::Mutation(format!("no project {project}")))?;
            p.members.retain(|m| m.user != user);
            p.members.push(GitlabMember {
                user,
                access_level,
                expires_at: None,
                state: MembershipApproval::Active,
                member_role: None,
            });
            Ok(None)
        }
        GitlabMutation::CreateSubgroup {
            id,
            parent,
            path,
            name,
        } => {
            if world.group(id).is_some() {
                return Err(SimError::Mutation(format!("group id {id} exists")));
            }
            if world.group(parent).is_none() {
                return Err(SimError::Mutation(format!("no parent group {parent}")));
            }
            let group = GitlabGroup {
                id,
                path,
                name,
                parent: Some(parent),
                visibility: Visibility::Private,
                members: Vec::new(),
                shared_with: Vec::new(),
            };
            world.groups.push(group.clone());
            Ok(subgroup_event(world, &group, "subgroup_create"))
        }
        GitlabMutation::DeleteSubgroup { group } => {
            let Some(g) = world.group(group).cloned() else {
                return Err(SimError::Mutation(format!("no group {group}")));
            };
            if g.parent.is_none() {
                return Err(SimError::Mutation(
                    "a top-level group is not a subgroup".into(),
                ));
            }
            let event = subgroup_event(world, &g, "subgroup_destroy");
            let mut gone = world.descendants(group);
            gone.push(group);
            world.groups.retain(|x| !gone.contains(&x.id));
            world.projects.retain(|p| !gone.contains(&p.namespace));
            Ok(event)
        }
        GitlabMutation::CreateProject {
            id,
            namespace,
            path,
            visibility,
        } => {
            if world.project(id).is_some() {
                return Err(SimError::Mutation(format!("project id {id} exists")));
            }
            if world.group(namespace).is_none() {
                return Err(SimError::Mutation(format!("no group {namespace}")));
            }
            let project = GitlabProject {
                id,
                name: path.clone(),
                path,
                namespace,
                visibility: visibility.unwrap_or(Visibility::Private),
                archived: false,
                fork: false,
                members: Vec::new(),
                shared_with: Vec::new(),
            };
            world.projects.push(project.clone());
            Ok(project_event(world, &project, "project_create"))
        }
        GitlabMutation::DestroyProject { project } => {
            let Some(p) = world.project(project).cloned() else {
                return Err(SimError::Mutation(format!("no project {project}")));
            };
            let event = project_event(world, &p, "project_destroy");
            world.projects.retain(|x| x.id != project);
            Ok(event)
        }
        GitlabMutation::SetArchived { project, archived } => {
            let p = world
                .projects
                .iter_mut()
                .find(|p| p.id == project)
                .ok_or_else(|| SimError::Mutation(format!("no project {project}")))?;
            p.archived = archived;
            Ok(None)
        }
    }
}

/// Applies `mutation` without any webhook (page hooks: the world moves while a list is read).
pub(crate) fn apply_silently(
    world: &RwLock<GitlabScenario>,
    mutation: GitlabMutation,
) -> Result<(), SimError> {
    let mut w = write(world);
    let mut next = w.clone();
    change(&mut next, mutation)?;
    next.validate()?;
    *w = next;
    Ok(())
}

pub(crate) async fn apply(
    world: &RwLock<GitlabScenario>,
    infra: &SimHandle,
    base: &str,
    mutation: GitlabMutation,
) -> Result<Option<Delivery>, SimError> {
    let event = {
        let mut w = write(world);
        change(&mut w, mutation)?
    };
    let Some(event) = event else {
        return Ok(None);
    };
    Ok(deliver(infra, base, event).await)
}

async fn deliver(infra: &SimHandle, base: &str, event: Event) -> Option<Delivery> {
    let target = infra.webhook.target()?;
    let body = serde_json::to_vec(&event.payload).unwrap_or_default();
    let id = infra.guid();
    let headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        ("User-Agent".to_string(), "GitLab/17.10.0".to_string()),
        ("X-Gitlab-Event".to_string(), event.name.to_string()),
        ("X-Gitlab-Token".to_string(), target.secret.clone()),
        ("X-Gitlab-Event-UUID".to_string(), id.clone()),
        (
            "X-Gitlab-Webhook-UUID".to_string(),
            "02affd2d-2cba-4033-917d-ec22d5dc4b38".to_string(),
        ),
        ("X-Gitlab-Instance".to_string(), base.to_string()),
        ("Idempotency-Key".to_string(), infra.guid()),
    ];
    infra
        .webhook
        .post(id, event.name, Some(event.event_name), headers, body)
        .await
}

pub(crate) async fn http_mutate(
    State(state): State<GitlabState>,
    Json(m): Json<GitlabMutation>,
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
