//! What the read API and the SCIM push read: one person's membership and teams, a team's
//! members (`downstream::reads` re-exports the rows for them).

use super::{DirectoryError, Store};
use serde::Serialize;

/// A membership with what an application needs at login. `users list` shows the same
/// membership as a [`super::UserRow`], with the admin's pin and the workspace's provider.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct MemberView {
    /// The workspace's name.
    pub workspace: String,
    /// The directory user's id.
    pub user_id: i64,
    /// The workspace's provider when the person has an identity there; `None` otherwise.
    pub provider: Option<String>,
    /// The provider's immutable user id; `None` without an identity at the workspace's provider.
    pub provider_user_id: Option<String>,
    /// The login last seen at the provider; `None` without an identity there.
    pub login: Option<String>,
    /// The display name, if any.
    pub name: Option<String>,
    /// The e-mail address, if any.
    pub email: Option<String>,
    /// The directory role in the workspace.
    pub role: String,
    /// `active`, `offboarded`, `suspended` or `invited`: an application lets in only `active`.
    pub state: String,
    /// Who created the membership: `sync`, `invitation` or `manual`.
    pub source: String,
    /// Why the person was offboarded or suspended; `None` while active.
    pub reason: Option<String>,
    /// Slugs of the workspace's teams the person is in (filled by [`Store::member`] only).
    #[sqlx(skip)]
    pub teams: Vec<String>,
}

/// How the access call names the person.
pub enum Who<'a> {
    /// The login at the workspace's provider.
    Login(&'a str),
    /// The provider's immutable user id at the workspace's provider.
    ProviderId(&'a str),
    /// The directory user id.
    UserId(i64),
}

/// A team with its members' directory user ids (active memberships only).
#[derive(Debug, Clone)]
pub struct TeamView {
    /// The workspace's name.
    pub workspace: String,
    /// The team's slug.
    pub slug: String,
    /// The display name.
    pub name: String,
    /// Directory user ids of members whose membership of the workspace is active.
    pub members: Vec<i64>,
}

/// Memberships (`m`) with their workspace (`w`), their person (`u`) and the person's identity
/// for the workspace (`i`): the one at the workspace's provider and host, NULL without one. What
/// [`MemberView`] and `users list` ([`super::UserRow`]) are read from.
pub(super) const MEMBERSHIPS: &str = "memberships m
    JOIN workspaces w ON w.id = m.workspace_id
    JOIN users u ON u.id = m.user_id
    LEFT JOIN identities i ON i.user_id = u.id AND i.provider = w.provider AND i.host = w.host";

/// The columns of a [`MemberView`] (`teams` apart) from [`MEMBERSHIPS`].
const MEMBER: &str = "w.name AS workspace, u.id AS user_id, i.provider, i.provider_user_id,
    i.login, u.name, u.email, m.role, m.state, m.source, m.reason";

forward! {
    /// The membership of the person `who` names in `workspace`, with their teams.
    on_conn member => member(workspace: &str, who: &Who<'_>) -> Result<Option<MemberView>, DirectoryError>;

    /// The person's memberships in every workspace.
    on_conn memberships_of => memberships_of(user_id: i64) -> Result<Vec<MemberView>, DirectoryError>;

    /// A team of the workspace with its active members.
    on_conn team => team(workspace: &str, slug: &str) -> Result<Option<TeamView>, DirectoryError>;

    /// The provider of a workspace the directory knows, `None` if it does not.
    on_conn workspace_provider => workspace_provider(
        workspace: &str
    ) -> Result<Option<String>, DirectoryError>;
}

impl Store {
    /// The directory user ids of the workspace's members.
    pub async fn user_ids(&self, workspace: &str) -> Result<Vec<i64>, DirectoryError> {
        let sql = "SELECT m.user_id FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
                   WHERE w.name = $1 ORDER BY m.user_id";
        on_conn!(self, |c, m| m::column(c, sql, workspace).await)
    }

    /// The slugs of the workspace's teams.
    pub async fn team_slugs(&self, workspace: &str) -> Result<Vec<String>, DirectoryError> {
        let sql = "SELECT t.slug FROM teams t JOIN workspaces w ON w.id = t.workspace_id
                   WHERE w.name = $1 ORDER BY t.slug";
        on_conn!(self, |c, m| m::column(c, sql, workspace).await)
    }
}

per_backend! {
    /// The member of `workspace` that `condition` (on `$2`, bound to `value`) finds.
    async fn member_where<V>(
        c: &mut Conn,
        workspace: &str,
        condition: &str,
        value: V,
    ) -> Result<Option<MemberView>, DirectoryError>
    where
        V: for<'q> sqlx::Encode<'q, Db> + sqlx::Type<Db> + Send,
    {
        Ok(sqlx::query_as::<_, MemberView>(sqlx::AssertSqlSafe(format!(
            "SELECT {MEMBER} FROM {MEMBERSHIPS} WHERE w.name = $1 AND {condition}"
        )))
        .bind(workspace)
        .bind(value)
        .fetch_optional(&mut *c)
        .await?)
    }

    pub async fn member(
        c: &mut Conn,
        workspace: &str,
        who: &Who<'_>,
    ) -> Result<Option<MemberView>, DirectoryError> {
        let row = match who {
            Who::Login(l) => match member_where(c, workspace, "i.login = $2", *l).await? {
                Some(m) => Some(m),
                // Logins are case-insensitive at every provider.
                None => member_where(c, workspace, "LOWER(i.login) = LOWER($2)", *l).await?,
            },
            Who::ProviderId(id) => member_where(c, workspace, "i.provider_user_id = $2", *id).await?,
            Who::UserId(id) => member_where(c, workspace, "u.id = $2", *id).await?,
        };
        let Some(mut m) = row else { return Ok(None) };
        m.teams = sql! { scalar c, fetch_all,
            "SELECT t.slug FROM team_members tm JOIN teams t ON t.id = tm.team_id
             JOIN workspaces w ON w.id = t.workspace_id
             WHERE tm.user_id = $1 AND w.name = $2 ORDER BY t.slug",
            m.user_id, workspace };
        Ok(Some(m))
    }

    /// The person's memberships in every workspace.
    pub async fn memberships_of(
        c: &mut Conn,
        user_id: i64,
    ) -> Result<Vec<MemberView>, DirectoryError> {
        Ok(sqlx::query_as::<_, MemberView>(sqlx::AssertSqlSafe(format!(
            "SELECT {MEMBER} FROM {MEMBERSHIPS} WHERE u.id = $1 ORDER BY w.name"
        )))
        .bind(user_id)
        .fetch_all(&mut *c)
        .await?)
    }

    /// The one column of every row that `sql` finds for the workspace named `$1`.
    pub async fn column<T>(
        c: &mut Conn,
        sql: &'static str,
        workspace: &str,
    ) -> Result<Vec<T>, DirectoryError>
    where
        (T,): for<'r> sqlx::FromRow<'r, DbRow>,
        T: Send + Unpin,
    {
        Ok(sql! { scalar c, fetch_all, sql, workspace })
    }

    pub async fn team(
        c: &mut Conn,
        workspace: &str,
        slug: &str,
    ) -> Result<Option<TeamView>, DirectoryError> {
        let row = sql! { c, fetch_optional,
            "SELECT t.id, t.name FROM teams t JOIN workspaces w ON w.id = t.workspace_id
             WHERE w.name = $1 AND t.slug = $2",
            workspace, slug };
        let Some(row) = row else { return Ok(None) };
        let id: i64 = row.try_get("id")?;
        let members: Vec<i64> = sql! { scalar c, fetch_all,
            "SELECT tm.user_id FROM team_members tm
             JOIN teams t ON t.id = tm.team_id
             JOIN memberships m ON m.user_id = tm.user_id AND m.workspace_id = t.workspace_id
             WHERE tm.team_id = $1 AND m.state = 'active' ORDER BY tm.user_id",
            id };
        Ok(Some(TeamView {
            workspace: workspace.to_string(),
            slug: slug.to_string(),
            name: row.try_get("name")?,
            members,
        }))
    }

    pub async fn workspace_provider(
        c: &mut Conn,
        workspace: &str,
    ) -> Result<Option<String>, DirectoryError> {
        Ok(sql! { scalar c, fetch_optional,
            "SELECT provider FROM workspaces WHERE name = $1",
            workspace })
    }
}
