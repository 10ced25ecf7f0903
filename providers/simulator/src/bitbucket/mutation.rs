//! Changes to a running Bitbucket world, with the webhooks Bitbucket sends for them.
//!
//! Bitbucket has no membership or group events (PROVIDERS.md 3): only repository changes send a
//! delivery (`repo:created`, `repo:deleted`); everything else changes the world silently, so a
//! client must poll. The world's write lock is released before delivering.

use super::BitbucketState;
use super::routes::{repository_json, user_json};
use crate::SimError;
use crate::scenario::{
    BitbucketRepo, BitbucketScenario, GrantPermission, UserGrant, WorkspaceRole,
};
use crate::server::{Delivery, SimHandle, hmac_sha256_hex, write};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

/// One change. As JSON: `{"op": "delete_repository", "workspace": "acme", "slug": "api"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum BitbucketMutation {
    /// Creates a repository (webhook `repo:created`).
    CreateRepository {
        /// Slug of the workspace.
        workspace: String,
        /// The new repository; its slug and uuid must be unused.
        repository: BitbucketRepo,
    },
    /// Creates a repository at `index` of the workspace's listing order, not at its end
    /// (webhook `repo:created`). Bitbucket does not document the default order of
    /// `/repositories/{workspace}`, so a new repository may land anywhere in it: every
    /// repository after it moves one place down, and a client reading by offset sees the last
    /// one of a page again on the next page and misses the new one.
    InsertRepository {
        /// Slug of the workspace.
        workspace: String,
        /// The new repository; its slug and uuid must be unused.
        repository: BitbucketRepo,
        /// Position in the listing order; past the end appends.
        index: usize,
    },
    /// Deletes a repository (webhook `repo:deleted`).
    DeleteRepository {
        /// Slug of the workspace.
        workspace: String,
        /// Slug of the repository.
        slug: String,
    },
    /// Removes a member from the workspace, its groups and every grant.
    RemoveMember {
        /// Slug of the workspace.
        workspace: String,
        /// Uuid of the user, braces included.
        user: String,
    },
    /// Changes a member's workspace role.
    SetRole {
        /// Slug of the workspace.
        workspace: String,
        /// Uuid of the user, braces included.
        user: String,
        /// The new role.
        role: WorkspaceRole,
    },
    /// Sets (or replaces) a user's explicit grant on a repository.
    GrantRepository {
        /// Slug of the workspace.
        workspace: String,
        /// Slug of the repository.
        repository: String,
        /// Uuid of the user, braces included.
        user: String,
        /// The permission the grant gives.
        permission: GrantPermission,
    },
    /// Adds a member to a group.
    AddGroupMember {
        /// Slug of the workspace.
        workspace: String,
        /// Slug of the group.
        group: String,
        /// Uuid of the user, braces included.
        user: String,
    },
}

struct Event {
    key: &'static str,
    payload: Value,
}

fn change(
    world: &mut BitbucketScenario,
    base: &str,
    mutation: BitbucketMutation,
) -> Result<Option<Event>, SimError> {
    let bad = |m: String| SimError::Mutation(m);
    let actor = world
        .workspaces
        .first()
        .and_then(|w| w.members.iter().find(|m| m.role == WorkspaceRole::Owner))
        .and_then(|m| world.user(&m.user))
        .map(|u| user_json(base, u));
    let ws_index = |world: &BitbucketScenario, slug: &str| {
        world
            .workspaces
            .iter()
            .position(|w| w.slug.eq_ignore_ascii_case(slug))
            .ok_or_else(|| bad(format!("no workspace {slug}")))
    };
    match mutation {
        BitbucketMutation::CreateRepository {
            workspace,
            repository,
        } => {
            let i = ws_index(world, &workspace)?;
            let w = &mut world.workspaces[i];
            if w.repo(&repository.slug).is_some() {
                return Err(bad(format!("repository {} exists", repository.slug)));
            }
            if w.project(&repository.project).is_none() {
                return Err(bad(format!("no project {}", repository.project)));
            }
            w.repositories.push(repository.clone());
            let payload = json!({
                "actor": actor,
                "repository": repository_json(base, w, &repository),
            });
            Ok(Some(Event {
                key: "repo:created",
                payload,
            }))
        }
        BitbucketMutation::InsertRepository {
            workspace,
            repository,
            index,
        } => {
            let event = change(
                world,
                base,
                BitbucketMutation::CreateRepository {
                    workspace: workspace.clone(),
                    repository,
                },
            )?;
            let i = ws_index(world, &workspace)?;
            let repositories = &mut world.workspaces[i].repositories;
            if let Some(created) = repositories.pop() {
                let at = index.min(repositories.len());
                repositories.insert(at, created);
            }
            Ok(event)
        }
        BitbucketMutation::DeleteRepository { workspace, slug } => {
            let i = ws_index(world, &workspace)?;
            let w = &mut world.workspaces[i];
            let Some(pos) = w
                .repositories
                .iter()
                .position(|r| r.slug.eq_ignore_ascii_case(&slug))
            else {
                return Err(bad(format!("no repository {slug}")));
            };
            let repository = w.repositories.remove(pos);
            let payload = json!({
                "actor": actor,
                "repository": repository_json(base, w, &repository),
            });
            Ok(Some(Event {
                key: "repo:deleted",
                payload,
            }))
        }
        BitbucketMutation::RemoveMember { workspace, user } => {
            let i = ws_index(world, &workspace)?;
            let w = &mut world.workspaces[i];
            let before = w.members.len();
            w.members.retain(|m| m.user != user);
            if w.members.len() == before {
                return Err(bad(format!("{user} is not a member")));
            }
            for g in &mut w.groups {
                g.members.retain(|m| *m != user);
            }
            for p in &mut w.projects {
                p.users.retain(|g| g.user != user);
            }
            for r in &mut w.repositories {
                r.users.retain(|g| g.user != user);
            }
            Ok(None)
        }
        BitbucketMutation::SetRole {
            workspace,
            user,
            role,
        } => {
            let i = ws_index(world, &workspace)?;
            let member = world.workspaces[i]
                .members
                .iter_mut()
                .find(|m| m.user == user)
                .ok_or_else(|| bad(format!("{user} is not a member")))?;
            member.role = role;
            Ok(None)
        }
        BitbucketMutation::GrantRepository {
            workspace,
            repository,
            user,
            permission,
        } => {
            let i = ws_index(world, &workspace)?;
            let w = &mut world.workspaces[i];
            if w.member(&user).is_none() {
                return Err(bad(format!("{user} is not a member")));
            }
            let repo = w
                .repositories
                .iter_mut()
                .find(|r| r.slug.eq_ignore_ascii_case(&repository))
                .ok_or_else(|| bad(format!("no repository {repository}")))?;
            repo.users.retain(|g| g.user != user);
            repo.users.push(UserGrant { user, permission });
            Ok(None)
        }
        BitbucketMutation::AddGroupMember {
            workspace,
            group,
            user,
        } => {
            let i = ws_index(world, &workspace)?;
            let w = &mut world.workspaces[i];
            if w.member(&user).is_none() {
                return Err(bad(format!("{user} is not a member")));
            }
            let g = w
                .groups
                .iter_mut()
                .find(|g| g.slug.eq_ignore_ascii_case(&group))
                .ok_or_else(|| bad(format!("no group {group}")))?;
            if !g.members.contains(&user) {
                g.members.push(user);
            }
            Ok(None)
        }
    }
}

/// Applies `mutation` without any webhook (page hooks: the world moves while a list is read).
pub(crate) fn apply_silently(
    world: &RwLock<BitbucketScenario>,
    generation: &AtomicU64,
    base: &str,
    mutation: BitbucketMutation,
) -> Result<(), SimError> {
    let mut guard = write(world);
    let mut draft = guard.clone();
    change(&mut draft, base, mutation)?;
    draft.validate()?;
    *guard = draft;
    generation.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// Applies `mutation` and delivers its webhook, if Bitbucket sends one and a target is set.
pub(crate) async fn apply(
    world: &RwLock<BitbucketScenario>,
    generation: &AtomicU64,
    infra: &SimHandle,
    base: &str,
    mutation: BitbucketMutation,
) -> Result<Option<Delivery>, SimError> {
    let event = {
        let mut guard = write(world);
        let mut draft = guard.clone();
        let event = change(&mut draft, base, mutation)?;
        draft.validate()?;
        *guard = draft;
        generation.fetch_add(1, Ordering::SeqCst);
        event
    };
    match event {
        Some(event) => Ok(deliver(infra, event).await),
        None => Ok(None),
    }
}

fn braced(guid: &str) -> String {
    format!("{{{guid}}}")
}

async fn deliver(infra: &SimHandle, event: Event) -> Option<Delivery> {
    let target = infra.webhook.target()?;
    let body = serde_json::to_vec(&event.payload).unwrap_or_default();
    let request_uuid = infra.guid();
    let mut headers = vec![
        ("Content-Type".to_string(), "application/json".to_string()),
        (
            "User-Agent".to_string(),
            "Bitbucket-Webhooks/2.0".to_string(),
        ),
        ("X-Event-Key".to_string(), event.key.to_string()),
        ("X-Request-UUID".to_string(), request_uuid.clone()),
        (
            "X-Hook-UUID".to_string(),
            braced("6f3d0c6a-0000-4000-8000-000000000001"),
        ),
        ("X-Attempt-Number".to_string(), "1".to_string()),
    ];
    if !target.secret.is_empty() {
        headers.push((
            "X-Hub-Signature".to_string(),
            format!(
                "sha256={}",
                hmac_sha256_hex(target.secret.as_bytes(), &body)
            ),
        ));
    }
    infra
        .webhook
        .post(request_uuid, event.key, None, headers, body)
        .await
}

/// `POST /_sim/bitbucket/mutations` with a [`BitbucketMutation`] as JSON.
pub(crate) async fn http_mutate(
    State(state): State<BitbucketState>,
    Json(m): Json<BitbucketMutation>,
) -> Response {
    match apply(
        &state.world,
        &state.generation,
        &state.infra,
        &state.base,
        m,
    )
    .await
    {
        Ok(delivery) => (StatusCode::OK, Json(json!({"delivery": delivery}))).into_response(),
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"type": "error", "error": {"message": e.to_string()}})),
        )
            .into_response(),
    }
}
