//! Loading what the directory holds for a workspace: the `Current` the planner compares with
//! the provider's snapshot. Enum columns decode strictly: an unknown value is
//! [`DirectoryError::Corrupt`], never a guess.

use super::error::decode;
use super::{DirectoryError, Store, WorkspaceKey};
use crate::sync::admit::RepositoryInfo;
use crate::sync::plan::{Current, CurrentMember, CurrentTeam, MembershipSource, MembershipState};
use orgsync_core::Permission;
use std::collections::BTreeMap;

fn team_role(s: &str) -> Option<orgsync_core::TeamRole> {
    match s {
        "member" => Some(orgsync_core::TeamRole::Member),
        "maintainer" => Some(orgsync_core::TeamRole::Maintainer),
        _ => None,
    }
}

fn members(team: &mut CurrentTeam) -> &mut BTreeMap<String, orgsync_core::TeamRole> {
    &mut team.members
}

fn repositories(team: &mut CurrentTeam) -> &mut BTreeMap<String, Permission> {
    &mut team.repositories
}

/// Files `(team slug, key, enum text)` rows into the loaded teams' `map`, decoding the enum
/// strictly (`table.column` names it in the error).
fn file_into<V>(
    teams: &mut BTreeMap<String, CurrentTeam>,
    rows: Vec<(String, String, String)>,
    (table, column): (&'static str, &'static str),
    parse: fn(&str) -> Option<V>,
    map: fn(&mut CurrentTeam) -> &mut BTreeMap<String, V>,
) -> Result<(), DirectoryError> {
    for (slug, key, value) in rows {
        if let Some(team) = teams.get_mut(&slug) {
            map(team).insert(key, decode(table, column, value, parse)?);
        }
    }
    Ok(())
}

forward! {
    /// Loads what the directory holds for a workspace.
    on_conn load_current => load(
        ws: &WorkspaceKey, admin_role: &str
    ) -> Result<Current, DirectoryError>;
}

per_backend! {
    pub async fn load(
        c: &mut Conn,
        ws: &WorkspaceKey,
        admin_role: &str,
    ) -> Result<Current, DirectoryError> {
        let mut current = Current::default();
        let rows = sql! { c, fetch_all,
            "SELECT i.provider_user_id, i.login, u.id AS user_id, u.name, u.email,
                    m.role, m.role_pinned, m.state, m.source
             FROM identities i
             JOIN users u ON u.id = i.user_id
             JOIN memberships m ON m.user_id = u.id AND m.workspace_id = $1
             WHERE i.provider = $2 AND i.host = $3",
            ws.id, &ws.provider, &ws.host };
        for r in rows {
            let state: String = r.try_get("state")?;
            let source: String = r.try_get("source")?;
            current.members.insert(
                r.try_get("provider_user_id")?,
                CurrentMember {
                    user_id: r.try_get("user_id")?,
                    login: r.try_get::<Option<String>, _>("login")?.unwrap_or_default(),
                    name: r.try_get("name")?,
                    email: r.try_get("email")?,
                    role: r.try_get("role")?,
                    role_pinned: r.try_get("role_pinned")?,
                    state: decode("memberships", "state", state, MembershipState::parse)?,
                    source: decode(
                        "memberships",
                        "source",
                        source,
                        MembershipSource::parse,
                    )?,
                },
            );
        }
        let rows = sql! { c, fetch_all,
            "SELECT i.provider_user_id, i.user_id FROM identities i
             WHERE i.provider = $1 AND i.host = $2
               AND NOT EXISTS (SELECT 1 FROM memberships m
                               WHERE m.user_id = i.user_id AND m.workspace_id = $3)",
            &ws.provider, &ws.host, ws.id };
        for r in rows {
            current
                .identities
                .insert(r.try_get("provider_user_id")?, r.try_get("user_id")?);
        }
        let rows = sql! { c, fetch_all,
            "SELECT user_id FROM memberships
             WHERE workspace_id = $1 AND state = 'active' AND role = $2",
            ws.id, admin_role };
        for r in rows {
            current.admins.insert(r.try_get("user_id")?);
        }
        let rows = sql! { c, fetch_all,
            "SELECT name, provider_repo_id, archived, fork, visibility
             FROM repositories WHERE workspace_id = $1",
            ws.id };
        for r in rows {
            current.repositories.insert(
                r.try_get("name")?,
                RepositoryInfo {
                    provider_repo_id: r.try_get("provider_repo_id")?,
                    archived: r.try_get("archived")?,
                    fork: r.try_get("fork")?,
                    visibility: r.try_get("visibility")?,
                },
            );
        }
        let rows = sql! { c, fetch_all,
            "SELECT slug, name, parent_slug, source FROM teams WHERE workspace_id = $1",
            ws.id };
        for r in rows {
            let source: String = r.try_get("source")?;
            current.teams.insert(
                r.try_get("slug")?,
                CurrentTeam {
                    name: r.try_get("name")?,
                    parent: r.try_get("parent_slug")?,
                    source: decode("teams", "source", source, MembershipSource::parse)?,
                    members: BTreeMap::new(),
                    repositories: BTreeMap::new(),
                },
            );
        }
        let rows = sql! { as (String, String, String), c, fetch_all,
            "SELECT t.slug, i.provider_user_id, tm.role
             FROM team_members tm
             JOIN teams t ON t.id = tm.team_id
             JOIN identities i ON i.user_id = tm.user_id AND i.provider = $2 AND i.host = $3
             WHERE t.workspace_id = $1 AND tm.source = 'sync'",
            ws.id, &ws.provider, &ws.host };
        file_into(&mut current.teams, rows, ("team_members", "role"), team_role, members)?;
        let rows = sql! { as (String, String, String), c, fetch_all,
            "SELECT t.slug, r.name, tr.permission
             FROM team_repositories tr
             JOIN teams t ON t.id = tr.team_id
             JOIN repositories r ON r.id = tr.repository_id
             WHERE t.workspace_id = $1",
            ws.id };
        let column = ("team_repositories", "permission");
        file_into(&mut current.teams, rows, column, Permission::parse, repositories)?;
        Ok(current)
    }
}
