//! Applying a plan: its changes, their audit events, the run row, the release of any hold and
//! the outbox events, in one transaction. New rows are gathered and written in batches
//! (`batch.rs`), always before a change that could read them; every update that depends on
//! what was loaded checks the rows it touched, so a stale plan rolls the run back.

use super::batch::{Pending, Shared};
use super::error::concurrent_insert_is_a_conflict;
use super::tables::memberships::Transition;
use super::{DirectoryError, RunRecord, Store, WorkspaceKey};
use crate::sync::plan::{Change, Plan};
use std::collections::HashMap;

/// Row ids an apply already knows, so a plan of 100,000 changes does not look the same team or
/// user up again for every membership.
#[derive(Default)]
struct Ids {
    teams: HashMap<String, i64>,
    users: HashMap<String, i64>,
    repositories: HashMap<String, i64>,
}

/// Audit rows gathered before they are written with the rows they describe; bounds the memory
/// an apply of 100,000 changes holds.
const AUDIT_FLUSH: usize = 20_000;

/// Changes written one statement each that never read what the batches still hold (a new
/// team, a team's name, a repository), so the batches need not be written before them.
fn independent_of_batches(change: &Change) -> bool {
    matches!(
        change,
        Change::Onboard { .. }
            | Change::TeamMemberAdd { .. }
            | Change::TeamRepositoryGrant { .. }
            | Change::TeamCreate { .. }
            | Change::TeamUpdate { .. }
            | Change::RepositoryUpsert { .. }
    )
}

/// What a change's audit event is about: a login, a repository or a team.
fn subject(change: &Change) -> &str {
    match change {
        Change::Onboard { login, .. }
        | Change::Reactivate { login, .. }
        | Change::Offboard { login, .. }
        | Change::RoleChange { login, .. }
        | Change::IdentityUpdate { login, .. }
        | Change::TeamMemberAdd { login, .. }
        | Change::TeamMemberUpdate { login, .. }
        | Change::TeamMemberRemove { login, .. } => login,
        Change::RepositoryUpsert { name, .. } | Change::RepositoryRemove { name } => name,
        Change::TeamCreate { slug, .. }
        | Change::TeamUpdate { slug, .. }
        | Change::TeamDelete { slug } => slug,
        Change::TeamRepositoryGrant { team, .. } | Change::TeamRepositoryRevoke { team, .. } => {
            team
        }
    }
}

/// A row an update expected to change is gone or changed: the plan is stale.
fn expect_one(rows: u64, what: &str) -> Result<(), DirectoryError> {
    if rows == 1 {
        Ok(())
    } else {
        Err(DirectoryError::Conflict(what.to_string()))
    }
}

fn missing(what: String) -> DirectoryError {
    DirectoryError::Conflict(what)
}

/// The id of `key` from the apply's memo, or from `find` (run only on a miss) and remembered;
/// a row the plan needs that is gone is a conflict.
async fn remembered(
    memo: &mut HashMap<String, i64>,
    key: &str,
    find: impl Future<Output = Result<Option<i64>, DirectoryError>>,
    what: impl FnOnce() -> String,
) -> Result<i64, DirectoryError> {
    if let Some(id) = memo.get(key) {
        return Ok(*id);
    }
    let id = find.await?.ok_or_else(|| missing(what()))?;
    memo.insert(key.to_string(), id);
    Ok(id)
}

impl Store {
    /// Applies a plan and records the run and its audit events, in one transaction.
    /// Returns the run id.
    pub async fn apply(
        &self,
        ws: &WorkspaceKey,
        plan: &Plan,
        run: &RunRecord,
    ) -> Result<i64, DirectoryError> {
        let applied: Result<i64, DirectoryError> =
            in_tx!(self, |c, m| m::apply(c, ws, plan, run).await);
        applied.map_err(concurrent_insert_is_a_conflict)
    }
}

per_backend! {
    async fn user_of(
        c: &mut Conn,
        ws: &WorkspaceKey,
        pid: &str,
        ids: &mut Ids,
    ) -> Result<i64, DirectoryError> {
        let found = db::identity_rows::user_of(c, ws, pid);
        remembered(&mut ids.users, pid, found, || format!("no user holds identity {pid}")).await
    }

    async fn team_of(
        c: &mut Conn,
        ws: &WorkspaceKey,
        slug: &str,
        ids: &mut Ids,
    ) -> Result<i64, DirectoryError> {
        let found = db::teams::id(c, ws.id, slug, true);
        remembered(&mut ids.teams, slug, found, || format!("synced team {slug} is missing")).await
    }

    /// Writes what the batches hold, parents first; remembers the ids of the repositories.
    async fn flush(
        c: &mut Conn,
        pending: &mut Pending,
        shared: &Shared<'_>,
        ids: &mut Ids,
    ) -> Result<(), DirectoryError> {
        if let Some(rows) = pending.take_repositories(shared) {
            for (id, name) in db::batch::upsert_ids(&mut *c, rows).await? {
                ids.repositories.insert(name, id);
            }
        }
        for rows in pending.take(shared) {
            db::batch::insert(&mut *c, rows).await?;
        }
        Ok(())
    }

    pub async fn apply(
        c: &mut Conn,
        ws: &WorkspaceKey,
        plan: &Plan,
        run: &RunRecord,
    ) -> Result<i64, DirectoryError> {
        let run_id = db::runs::insert(c, ws, run, Some(plan)).await?;
        let shared = Shared {
            workspace_id: ws.id,
            provider: &ws.provider,
            host: &ws.host,
            run_id: Some(run_id),
            actor: &run.actor,
            now: run.finished_at,
        };
        let new_users = plan
            .changes
            .iter()
            .filter(|c| matches!(c, Change::Onboard { existing_user_id: None, .. }))
            .count();
        let mut new_ids = match new_users {
            0 => Vec::new(),
            n => db::batch::reserve_ids(&mut *c, "users", n).await?,
        }
        .into_iter();
        let mut ids = Ids::default();
        let mut pending = Pending::default();
        for change in &plan.changes {
            if !independent_of_batches(change) && pending.holds_rows() {
                flush(c, &mut pending, &shared, &mut ids).await?;
            }
            apply_change(c, ws, change, &shared, &mut ids, &mut pending, &mut new_ids).await?;
            // Repository bookkeeping is not a change to people or access: keep the audit
            // trail for what an auditor asks about.
            if !matches!(change, Change::RepositoryUpsert { .. } | Change::RepositoryRemove { .. }) {
                let detail = serde_json::to_string(change).unwrap_or_else(|_| "{}".to_string());
                pending.audit.push((change.kind().as_str(), subject(change).to_string(), detail));
                if pending.audit.len() >= AUDIT_FLUSH {
                    flush(c, &mut pending, &shared, &mut ids).await?;
                }
            }
        }
        // An applied plan ends any hold: approved, forced, or no longer refused.
        if db::holds::release(c, ws.id).await? {
            pending.audit.push(("hold_released", ws.name.clone(), "{}".to_string()));
        }
        // Verdicts the provider contradicted: nothing changes, the trail says why.
        for u in &plan.unconfirmed {
            let detail = serde_json::to_string(u).unwrap_or_else(|_| "{}".to_string());
            pending.audit.push(("unconfirmed", u.login.clone(), detail));
        }
        flush(c, &mut pending, &shared, &mut ids).await?;
        // The run's change events for downstream applications, in this transaction.
        db::outbox::enqueue(c, ws, run_id, plan, shared.now).await?;
        Ok(run_id)
    }

    async fn apply_change(
        c: &mut Conn,
        ws: &WorkspaceKey,
        change: &Change,
        shared: &Shared<'_>,
        ids: &mut Ids,
        pending: &mut Pending,
        new_ids: &mut std::vec::IntoIter<i64>,
    ) -> Result<(), DirectoryError> {
        let now = shared.now;
        match change {
            Change::Onboard { provider_user_id, existing_user_id, login, name, email, role } => {
                let user_id = match existing_user_id {
                    Some(id) => *id,
                    None => {
                        let id = new_ids.next().ok_or_else(|| {
                            missing("fewer user ids were reserved than the plan onboards".into())
                        })?;
                        pending.users.push((id, name.clone(), email.clone()));
                        pending.identities.push((id, provider_user_id.clone(), login.clone()));
                        id
                    }
                };
                ids.users.insert(provider_user_id.clone(), user_id);
                pending.memberships.push((user_id, role.clone()));
            }
            Change::Reactivate { user_id, role, .. } => {
                let change = Transition::Reactivate { role };
                let rows = db::memberships::transition(c, ws.id, *user_id, &change, now).await?;
                expect_one(rows, "a membership to reactivate is no longer offboarded")?;
            }
            Change::Offboard { user_id, reason, .. } => {
                let reason = reason.to_string();
                let change = Transition::Offboard { reason: &reason };
                let rows = db::memberships::transition(c, ws.id, *user_id, &change, now).await?;
                expect_one(rows, "a membership to offboard is no longer active")?;
                db::teams::leave_synced(c, ws.id, *user_id).await?;
            }
            Change::RoleChange { user_id, to, .. } => {
                let change = Transition::SyncedRole { role: to };
                let rows = db::memberships::transition(c, ws.id, *user_id, &change, now).await?;
                expect_one(rows, "a role was pinned while the run was planned")?;
            }
            Change::IdentityUpdate { user_id, provider_user_id, login, name, email, .. } => {
                db::identity_rows::set_login(c, ws, provider_user_id, login).await?;
                db::users::update(c, *user_id, name.as_deref(), email.as_deref(), now).await?;
            }
            Change::RepositoryUpsert { name, info } => {
                ids.repositories.remove(name);
                pending.repositories.push((
                    name.clone(),
                    info.provider_repo_id.clone(),
                    info.archived,
                    info.fork,
                    info.visibility.clone(),
                ));
            }
            Change::RepositoryRemove { name } => {
                ids.repositories.remove(name);
                db::teams::repository(c, ws.id, name, true).await?;
            }
            Change::TeamCreate { slug, name, parent, provider_team_id } => {
                let id = db::teams::create(
                    c, ws.id, slug, name, parent.as_deref(), provider_team_id, now,
                )
                .await?;
                ids.teams.insert(slug.clone(), id);
            }
            Change::TeamUpdate { slug, name, parent } => {
                let rows = db::teams::update(c, ws.id, slug, name, parent.as_deref(), now).await?;
                expect_one(rows, "a synced team to update is missing")?;
            }
            Change::TeamDelete { slug } => {
                ids.teams.remove(slug);
                db::teams::delete(c, ws.id, slug).await?;
            }
            Change::TeamMemberAdd { team, provider_user_id, .. }
            | Change::TeamMemberUpdate { team, provider_user_id, .. }
            | Change::TeamMemberRemove { team, provider_user_id, .. } => {
                let team_id = team_of(c, ws, team, ids).await?;
                let user_id = user_of(c, ws, provider_user_id, ids).await?;
                match change {
                    Change::TeamMemberAdd { role, .. } => {
                        pending.team_members.push((team_id, user_id, role.as_str()))
                    }
                    Change::TeamMemberUpdate { role, .. } => {
                        let role = Some(role.as_str());
                        db::teams::set_synced_member(c, team_id, user_id, role).await?
                    }
                    _ => db::teams::set_synced_member(c, team_id, user_id, None).await?,
                }
            }
            Change::TeamRepositoryGrant { team, repository, permission } => {
                if !pending.repositories.is_empty() {
                    // The grant needs the ids of the repositories gathered so far.
                    flush(c, pending, shared, ids).await?;
                }
                let team_id = team_of(c, ws, team, ids).await?;
                let found = db::teams::repository(c, ws.id, repository, false);
                let repo_id = remembered(&mut ids.repositories, repository, found, || {
                    format!("repository {repository} is missing")
                })
                .await?;
                pending.team_repositories.push((team_id, repo_id, permission.as_str()));
            }
            Change::TeamRepositoryRevoke { team, repository } => {
                let team_id = team_of(c, ws, team, ids).await?;
                db::teams::revoke(c, ws.id, team_id, repository).await?;
            }
        }
        Ok(())
    }
}
