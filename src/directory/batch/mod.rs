//! Multi-row writes for the apply: a plan of 100,000 onboards is a handful of statements, not
//! 300,000.
//!
//! Rows are gathered column by column ([`Rows`]) and written by the backend's own form:
//!
//! * SQLite: `INSERT … SELECT value ->> 0, … FROM jsonb_each(?1)`, 10,000 rows per statement as
//!   one JSON array in one parameter and a column every row shares bound once beside it (only
//!   the logs' rows are sorted back into their order); one SQL text per table, prepared once
//!   per connection.
//! * PostgreSQL: one `COPY … FROM STDIN (FORMAT binary)` per table, or one `INSERT … SELECT *
//!   FROM UNNEST($1::bigint[], $2::text[], …)` when the statement has a tail (`ON CONFLICT`,
//!   `RETURNING`), whatever the row count: one statement, no parameter limit.
//!
//! New users get their ids before they are written ([`sqlite::reserve_ids`],
//! [`postgres::reserve_ids`], called for one row or more), because neither backend promises that a multi-row `RETURNING`
//! comes back in the order of the rows; the memberships, identities and team memberships of the
//! same plan need those ids.

use chrono::{DateTime, Utc};

/// Rows per SQLite statement: bounds the JSON text a chunk holds (a few MB for audit rows).
const SQLITE_ROWS_PER_STATEMENT: usize = 10_000;

/// One column's values.
#[derive(Debug)]
pub(super) enum Values {
    Int(Vec<i64>),
    OptInt(Vec<Option<i64>>),
    Bool(Vec<bool>),
    Text(Vec<String>),
    OptText(Vec<Option<String>>),
    Time(Vec<DateTime<Utc>>),
}

impl Values {
    fn len(&self) -> usize {
        match self {
            Values::Int(v) => v.len(),
            Values::OptInt(v) => v.len(),
            Values::Bool(v) => v.len(),
            Values::Text(v) => v.len(),
            Values::OptText(v) => v.len(),
            Values::Time(v) => v.len(),
        }
    }

    /// The PostgreSQL array type `UNNEST` reads this column as.
    fn pg_array(&self) -> &'static str {
        match self {
            Values::Int(_) | Values::OptInt(_) => "bigint[]",
            Values::Bool(_) => "boolean[]",
            Values::Text(_) | Values::OptText(_) => "text[]",
            Values::Time(_) => "timestamptz[]",
        }
    }
}

/// Rows for one table, column by column, and what follows the rows in the statement
/// (`ON CONFLICT …`).
#[derive(Debug)]
pub(super) struct Rows {
    pub table: &'static str,
    /// The column names, comma-separated, in the order of `values`.
    pub columns: &'static str,
    pub tail: &'static str,
    pub values: Vec<Values>,
    /// The rows' ids must follow their order (the logs: audit events, outbox events, whose ids
    /// are the order they are read and delivered in). Other tables' rows either carry reserved
    /// ids or have ids nothing orders by.
    pub in_order: bool,
}

impl Rows {
    pub fn new(table: &'static str, columns: &'static str, values: Vec<Values>) -> Rows {
        Rows {
            table,
            columns,
            tail: "",
            values,
            in_order: false,
        }
    }

    /// The same rows, with ids in their order (see [`Rows::in_order`]).
    fn keeping_order(self) -> Rows {
        Rows {
            in_order: true,
            ..self
        }
    }

    pub fn len(&self) -> usize {
        self.values.first().map_or(0, Values::len)
    }

    fn width(&self) -> usize {
        self.values.len()
    }

    fn head(&self) -> String {
        format!("INSERT INTO {} ({}) ", self.table, self.columns)
    }
}

/// The rows an apply gathers before it writes them, table by table.
#[derive(Debug, Default)]
pub(super) struct Pending {
    /// New users: id (reserved), name, e-mail.
    pub users: Vec<(i64, Option<String>, Option<String>)>,
    /// New identities: user id, provider user id, login.
    pub identities: Vec<(i64, String, String)>,
    /// New synced memberships: user id, role.
    pub memberships: Vec<(i64, String)>,
    /// New synced teams: id (reserved), slug, name, parent's slug, provider team id.
    pub teams: Vec<(i64, String, String, Option<String>, String)>,
    /// New synced team memberships: team id, user id, role.
    pub team_members: Vec<(i64, i64, &'static str)>,
    /// Repositories to insert or update: name, provider id, archived, fork, visibility. Written
    /// first, by [`Pending::take_repositories`], since grants need their ids.
    pub repositories: Vec<(String, String, bool, bool, String)>,
    /// Team grants: team id, repository id, permission.
    pub team_repositories: Vec<(i64, i64, &'static str)>,
    /// Audit events of the run: action, subject, detail.
    pub audit: Vec<(&'static str, String, String)>,
    /// Outbox events of the run, in the plan's order (see [`super::outbox::Events`]).
    pub outbox: Vec<super::outbox::EventRow>,
}

/// Splits rows into their columns.
fn unzip3<A, B, C>(rows: Vec<(A, B, C)>) -> (Vec<A>, Vec<B>, Vec<C>) {
    let mut columns = (
        Vec::with_capacity(rows.len()),
        Vec::with_capacity(rows.len()),
        Vec::with_capacity(rows.len()),
    );
    for (a, b, c) in rows {
        columns.0.push(a);
        columns.1.push(b);
        columns.2.push(c);
    }
    columns
}

/// Splits rows of five into their columns.
#[allow(clippy::type_complexity)]
fn unzip5<A, B, C, D, E>(rows: Vec<(A, B, C, D, E)>) -> (Vec<A>, Vec<B>, Vec<C>, Vec<D>, Vec<E>) {
    let n = rows.len();
    let mut columns = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for (a, b, c, d, e) in rows {
        columns.0.push(a);
        columns.1.push(b);
        columns.2.push(c);
        columns.3.push(d);
        columns.4.push(e);
    }
    columns
}

/// What every row of one apply shares.
pub(super) struct Shared<'a> {
    pub workspace_id: i64,
    pub provider: &'a str,
    pub host: &'a str,
    pub run_id: Option<i64>,
    pub actor: &'a str,
    pub now: DateTime<Utc>,
}

impl Pending {
    /// Whether rows that a later statement may read are still unwritten (audit rows are never
    /// read back within a run).
    pub fn holds_rows(&self) -> bool {
        !(self.users.is_empty()
            && self.repositories.is_empty()
            && self.identities.is_empty()
            && self.memberships.is_empty()
            && self.teams.is_empty()
            && self.team_members.is_empty()
            && self.team_repositories.is_empty())
    }

    /// Takes the gathered repositories as one upsert whose `RETURNING id, name` gives their ids.
    pub fn take_repositories(&mut self, s: &Shared<'_>) -> Option<Rows> {
        use Values::*;
        if self.repositories.is_empty() {
            return None;
        }
        let (name, pid, archived, fork, visibility) =
            unzip5(std::mem::take(&mut self.repositories));
        let n = name.len();
        Some(Rows {
            tail: " ON CONFLICT (workspace_id, name) DO UPDATE SET
                 provider_repo_id = excluded.provider_repo_id, archived = excluded.archived,
                 fork = excluded.fork, visibility = excluded.visibility
             RETURNING id, name",
            ..Rows::new(
                "repositories",
                "workspace_id, name, provider_repo_id, archived, fork, visibility",
                vec![
                    Int(vec![s.workspace_id; n]),
                    Text(name),
                    Text(pid),
                    Bool(archived),
                    Bool(fork),
                    Text(visibility),
                ],
            )
        })
    }

    /// Takes the gathered rows as statements to run, parents first.
    pub fn take(&mut self, s: &Shared<'_>) -> Vec<Rows> {
        use Values::*;
        // A value every row of a table shares, and a column of static texts.
        let same = |text: &str, n: usize| Text(vec![text.to_string(); n]);
        let at = |n: usize| Time(vec![s.now; n]);
        let texts = |v: Vec<&str>| Text(v.into_iter().map(str::to_string).collect());

        let (id, name, email) = unzip3(std::mem::take(&mut self.users));
        let n = id.len();
        let users = vec![
            Int(id),
            OptText(name),
            OptText(email),
            same("person", n),
            at(n),
            at(n),
        ];

        let (user, pid, login) = unzip3(std::mem::take(&mut self.identities));
        let (n, login) = (user.len(), login.into_iter().map(Some).collect());
        let (provider, host) = (same(s.provider, n), same(s.host, n));
        let identities = vec![Int(user), provider, host, Text(pid), OptText(login), at(n)];

        let (user, role): (Vec<i64>, Vec<String>) =
            std::mem::take(&mut self.memberships).into_iter().unzip();
        let n = user.len();
        let (workspace, unpinned) = (Int(vec![s.workspace_id; n]), Bool(vec![false; n]));
        let synced = [same("active", n), same("sync", n), at(n), at(n)];
        let mut memberships = vec![workspace, Int(user), Text(role), unpinned];
        memberships.extend(synced);

        let (id, slug, name, parent, pid) = unzip5(std::mem::take(&mut self.teams));
        let n = id.len();
        let workspace = Int(vec![s.workspace_id; n]);
        let (slug, name, parent, pid) = (Text(slug), Text(name), OptText(parent), Text(pid));
        let teams = vec![
            Int(id),
            workspace,
            slug,
            name,
            parent,
            pid,
            same("sync", n),
            at(n),
            at(n),
        ];

        let (team, user, role) = unzip3(std::mem::take(&mut self.team_members));
        let n = team.len();
        let team_members = vec![Int(team), Int(user), texts(role), same("sync", n)];

        let (team, repository, permission) = unzip3(std::mem::take(&mut self.team_repositories));
        let grants = vec![Int(team), Int(repository), texts(permission)];

        let (action, subject, detail) = unzip3(std::mem::take(&mut self.audit));
        let n = action.len();
        let (run, workspace) = (
            OptInt(vec![s.run_id; n]),
            OptInt(vec![Some(s.workspace_id); n]),
        );
        let audit = vec![
            run,
            workspace,
            at(n),
            same(s.actor, n),
            texts(action),
            Text(subject),
            Text(detail),
        ];

        let (event, kind, user, team, payload) = unzip5(std::mem::take(&mut self.outbox));
        let n = event.len();
        let outbox = vec![
            Text(event),
            Int(vec![s.workspace_id; n]),
            OptInt(vec![s.run_id; n]),
            texts(kind),
            OptInt(user),
            OptText(team),
            Text(payload),
            at(n),
        ];

        let statements = [
            Rows::new(
                "users",
                "id, name, email, kind, created_at, updated_at",
                users,
            ),
            Rows::new(
                "identities",
                "user_id, provider, host, provider_user_id, login, created_at",
                identities,
            ),
            Rows::new(
                "memberships",
                "workspace_id, user_id, role, role_pinned, state, source, created_at, updated_at",
                memberships,
            ),
            Rows::new(
                "teams",
                "id, workspace_id, slug, name, parent_slug, provider_team_id, source, created_at, updated_at",
                teams,
            ),
            Rows::new(
                "team_members",
                "team_id, user_id, role, source",
                team_members,
            ),
            Rows {
                tail: " ON CONFLICT (team_id, repository_id) DO UPDATE SET permission = excluded.permission",
                ..Rows::new(
                    "team_repositories",
                    "team_id, repository_id, permission",
                    grants,
                )
            },
            Rows::new(
                "audit_events",
                "run_id, workspace_id, at, actor, action, subject, detail",
                audit,
            )
            .keeping_order(),
            Rows::new(
                "outbox",
                "event_id, workspace_id, run_id, type, user_id, team_slug, payload, created_at",
                outbox,
            )
            .keeping_order(),
        ];
        statements
            .into_iter()
            .filter(|rows| rows.len() > 0)
            .collect()
    }
}

/// A backend's `insert` and `upsert_ids`, over its own `write` (which runs the statements and
/// returns what they return).
macro_rules! writers {
    ($conn:ty) => {
        /// Writes `rows` and empties them.
        pub async fn insert(c: &mut $conn, rows: Rows) -> Result<(), sqlx::Error> {
            write(c, rows).await.map(drop)
        }

        /// Writes `rows` whose tail ends in `RETURNING id, name`; returns those pairs.
        pub async fn upsert_ids(
            c: &mut $conn,
            rows: Rows,
        ) -> Result<Vec<(i64, String)>, sqlx::Error> {
            write(c, rows)
                .await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect()
        }
    };
}
use writers;

pub(super) mod in_flight;
pub(super) mod postgres;
pub(super) mod sqlite;
