//! Applying a plan: its changes, their audit events, the run row, the release of any hold and
//! the outbox events, in one transaction. New rows are gathered and written in batches
//! (`batch.rs`), always before a change that could read them; every update that depends on
//! what was loaded checks the rows it touched, so a stale plan rolls the run back.

use super::batch::in_flight::Link;
use super::batch::{Pending, Shared};
use super::error::concurrent_insert_is_a_conflict;
use super::outbox::Events;
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
/// an apply of 100,000 changes holds, and is the unit the writes overlap the gathering in.
const AUDIT_FLUSH: usize = 20_000;

/// Changes between two polls of the batch write in flight (see [`Link::poke`]).
const POKE_EVERY: usize = 64;

/// Ids reserved for the users and teams the plan creates, handed out in the plan's order.
struct NewIds {
    users: std::vec::IntoIter<i64>,
    teams: std::vec::IntoIter<i64>,
}

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

/// What the apply looks up by id: a person by provider user id, a synced team by slug, a
/// repository by name.
#[derive(Clone, Copy)]
enum Lookup<'a> {
    User(&'a str),
    Team(&'a str),
    Repository(&'a str),
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
    /// The apply's connection, free or held by a batch write in flight.
    type Line<'c> = Link<'c, Conn>;

    /// The id of `what`, from the apply's memo or else from the directory (and remembered); a
    /// row the plan needs that is gone is a conflict.
    async fn id_of(
        link: &mut Line<'_>,
        ws: &WorkspaceKey,
        what: Lookup<'_>,
        ids: &mut Ids,
    ) -> Result<i64, DirectoryError> {
        let (memo, key) = match what {
            Lookup::User(pid) => (&mut ids.users, pid),
            Lookup::Team(slug) => (&mut ids.teams, slug),
            Lookup::Repository(name) => (&mut ids.repositories, name),
        };
        if let Some(id) = memo.get(key) {
            return Ok(*id);
        }
        let c = link.conn().await?;
        let (found, gone) = match what {
            Lookup::User(pid) => {
                (db::identity_rows::user_of(c, ws, pid).await?, "no user holds identity")
            }
            Lookup::Team(slug) => {
                (db::teams::id(c, ws.id, slug, true).await?, "missing synced team")
            }
            Lookup::Repository(name) => {
                (db::teams::repository(c, ws.id, name, false).await?, "missing repository")
            }
        };
        let id = found.ok_or_else(|| missing(format!("{gone} {key}")))?;
        memo.insert(key.to_string(), id);
        Ok(id)
    }

    /// Starts writing what the batches hold, parents first, in the background of the apply;
    /// the repositories first and at once, since their ids are needed.
    async fn flush(
        link: &mut Line<'_>,
        pending: &mut Pending,
        shared: &Shared<'_>,
        ids: &mut Ids,
    ) -> Result<(), DirectoryError> {
        if let Some(rows) = pending.take_repositories(shared) {
            for (id, name) in db::batch::upsert_ids(link.conn().await?, rows).await? {
                ids.repositories.insert(name, id);
            }
        }
        let statements = pending.take(shared);
        if statements.is_empty() {
            return Ok(());
        }
        link.start(|c| {
            Box::pin(async move {
                for rows in statements {
                    db::batch::insert(&mut *c, rows).await?;
                }
                Ok(c)
            })
        })
        .await
    }

    /// Ids for the rows of `table` that the plan's changes create.
    async fn reserve(
        c: &mut Conn,
        plan: &Plan,
        table: &'static str,
        creates: fn(&Change) -> bool,
    ) -> Result<std::vec::IntoIter<i64>, DirectoryError> {
        let ids = match plan.changes.iter().filter(|c| creates(c)).count() {
            0 => Vec::new(),
            n => db::batch::reserve_ids(&mut *c, table, n).await?,
        };
        Ok(ids.into_iter())
    }

    pub async fn apply(
        c: &mut Conn,
        ws: &WorkspaceKey,
        plan: &Plan,
        run: &RunRecord,
    ) -> Result<i64, DirectoryError> {
        let run_id = db::runs::insert(c, ws, run, Some(plan)).await?;
        let mut new_ids = NewIds {
            users: reserve(c, plan, "users", |c| {
                matches!(c, Change::Onboard { existing_user_id: None, .. })
            })
            .await?,
            teams: reserve(c, plan, "teams", |c| matches!(c, Change::TeamCreate { .. })).await?,
        };
        let mut link = Link::Free(c);
        let applied = apply_changes(&mut link, ws, plan, run, run_id, &mut new_ids).await;
        // The write in flight ends before the transaction does, whatever happened.
        let settled = link.conn().await.map(drop);
        applied.and(settled).map(|()| run_id)
    }

    async fn apply_changes(
        link: &mut Line<'_>,
        ws: &WorkspaceKey,
        plan: &Plan,
        run: &RunRecord,
        run_id: i64,
        new_ids: &mut NewIds,
    ) -> Result<(), DirectoryError> {
        let shared = Shared {
            workspace_id: ws.id,
            provider: &ws.provider,
            host: &ws.host,
            run_id: Some(run_id),
            actor: &run.actor,
            now: run.finished_at,
        };
        let mut ids = Ids::default();
        let mut pending = Pending::default();
        let mut events = Events::new(ws, shared.now);
        for (k, change) in plan.changes.iter().enumerate() {
            if !independent_of_batches(change) && pending.holds_rows() {
                flush(link, &mut pending, &shared, &mut ids).await?;
            }
            apply_change(link, ws, change, &shared, &mut ids, &mut pending, new_ids).await?;
            // The change's event for downstream applications, in this transaction.
            pending.outbox.extend(events.row(change, &ids.users)?);
            // Repository bookkeeping is not a change to people or access: keep the audit
            // trail for what an auditor asks about.
            if !matches!(change, Change::RepositoryUpsert { .. } | Change::RepositoryRemove { .. }) {
                let detail = serde_json::to_string(change).unwrap_or_else(|_| "{}".to_string());
                pending.audit.push((change.kind().as_str(), subject(change).to_string(), detail));
                if pending.audit.len() >= AUDIT_FLUSH {
                    flush(link, &mut pending, &shared, &mut ids).await?;
                }
            }
            if k % POKE_EVERY == 0 {
                link.poke()?;
            }
        }
        // An applied plan ends any hold: approved, forced, or no longer refused.
        if db::holds::release(link.conn().await?, ws.id).await? {
            pending.audit.push(("hold_released", ws.name.clone(), "{}".to_string()));
        }
        // Verdicts the provider contradicted: nothing changes, the trail says why.
        for u in &plan.unconfirmed {
            let detail = serde_json::to_string(u).unwrap_or_else(|_| "{}".to_string());
            pending.audit.push(("unconfirmed", u.login.clone(), detail));
        }
        flush(link, &mut pending, &shared, &mut ids).await
    }

    async fn apply_change(
        link: &mut Line<'_>,
        ws: &WorkspaceKey,
        change: &Change,
        shared: &Shared<'_>,
        ids: &mut Ids,
        pending: &mut Pending,
        new_ids: &mut NewIds,
    ) -> Result<(), DirectoryError> {
        let now = shared.now;
        match change {
            Change::Onboard { provider_user_id, existing_user_id, login, name, email, role } => {
                let user_id = match existing_user_id {
                    Some(id) => *id,
                    None => {
                        let id = new_ids.users.next().ok_or_else(|| {
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
                let c = link.conn().await?;
                let rows = db::memberships::transition(c, ws.id, *user_id, &change, now).await?;
                expect_one(rows, "a membership to reactivate is no longer offboarded")?;
            }
            Change::Offboard { user_id, reason, .. } => {
                let reason = reason.to_string();
                let change = Transition::Offboard { reason: &reason };
                let c = link.conn().await?;
                let rows = db::memberships::transition(c, ws.id, *user_id, &change, now).await?;
                expect_one(rows, "a membership to offboard is no longer active")?;
                db::teams::leave_synced(c, ws.id, *user_id).await?;
            }
            Change::RoleChange { user_id, to, .. } => {
                let change = Transition::SyncedRole { role: to };
                let c = link.conn().await?;
                let rows = db::memberships::transition(c, ws.id, *user_id, &change, now).await?;
                expect_one(rows, "a role was pinned while the run was planned")?;
            }
            Change::IdentityUpdate { user_id, provider_user_id, login, name, email, .. } => {
                let c = link.conn().await?;
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
                db::teams::repository(link.conn().await?, ws.id, name, true).await?;
            }
            Change::TeamCreate { slug, name, parent, provider_team_id } => {
                let id = new_ids.teams.next().ok_or_else(|| {
                    missing("fewer team ids were reserved than the plan creates".into())
                })?;
                let (slug, name, parent) = (slug.clone(), name.clone(), parent.clone());
                pending.teams.push((id, slug.clone(), name, parent, provider_team_id.clone()));
                ids.teams.insert(slug, id);
            }
            Change::TeamUpdate { slug, name, parent } => {
                let c = link.conn().await?;
                let rows = db::teams::update(c, ws.id, slug, name, parent.as_deref(), now).await?;
                expect_one(rows, "a synced team to update is missing")?;
            }
            Change::TeamDelete { slug } => {
                ids.teams.remove(slug);
                db::teams::delete(link.conn().await?, ws.id, slug).await?;
            }
            Change::TeamMemberAdd { team, provider_user_id, .. }
            | Change::TeamMemberUpdate { team, provider_user_id, .. }
            | Change::TeamMemberRemove { team, provider_user_id, .. } => {
                let team_id = id_of(link, ws, Lookup::Team(team), ids).await?;
                let user_id = id_of(link, ws, Lookup::User(provider_user_id), ids).await?;
                match change {
                    Change::TeamMemberAdd { role, .. } => {
                        pending.team_members.push((team_id, user_id, role.as_str()))
                    }
                    Change::TeamMemberUpdate { role, .. } => {
                        let (c, role) = (link.conn().await?, Some(role.as_str()));
                        db::teams::set_synced_member(c, team_id, user_id, role).await?
                    }
                    _ => {
                        let c = link.conn().await?;
                        db::teams::set_synced_member(c, team_id, user_id, None).await?
                    }
                }
            }
            Change::TeamRepositoryGrant { team, repository, permission } => {
                if !pending.repositories.is_empty() {
                    // The grant needs the ids of the repositories gathered so far.
                    flush(link, pending, shared, ids).await?;
                }
                let team_id = id_of(link, ws, Lookup::Team(team), ids).await?;
                let repo_id = id_of(link, ws, Lookup::Repository(repository), ids).await?;
                pending.team_repositories.push((team_id, repo_id, permission.as_str()));
            }
            Change::TeamRepositoryRevoke { team, repository } => {
                let team_id = id_of(link, ws, Lookup::Team(team), ids).await?;
                db::teams::revoke(link.conn().await?, ws.id, team_id, repository).await?;
            }
        }
        Ok(())
    }
}
