//! Multi-row writes for the apply: a plan of 100,000 onboards is a handful of statements, not
//! 300,000.
//!
//! Rows are gathered column by column ([`Rows`]) and written by the backend's own form:
//!
//! * SQLite: `INSERT … SELECT value ->> 0, … FROM json_each(?)`, 10,000 rows per statement as
//!   one JSON array in one parameter; one SQL text per table, prepared once per connection.
//! * PostgreSQL: one `INSERT … SELECT * FROM UNNEST($1::bigint[], $2::text[], …)` per table,
//!   whatever the row count: one statement, one round trip, no parameter limit.
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
}

impl Rows {
    pub fn new(table: &'static str, columns: &'static str, values: Vec<Values>) -> Rows {
        Rows {
            table,
            columns,
            tail: "",
            values,
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
    /// New synced team memberships: team id, user id, role.
    pub team_members: Vec<(i64, i64, &'static str)>,
    /// Team grants: team id, repository id, permission.
    pub team_repositories: Vec<(i64, i64, &'static str)>,
    /// Audit events of the run: action, subject, detail.
    pub audit: Vec<(&'static str, String, String)>,
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
            && self.identities.is_empty()
            && self.memberships.is_empty()
            && self.team_members.is_empty()
            && self.team_repositories.is_empty())
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
            ),
        ];
        statements
            .into_iter()
            .filter(|rows| rows.len() > 0)
            .collect()
    }
}

pub(super) mod sqlite {
    use super::{Rows, SQLITE_ROWS_PER_STATEMENT, Values};
    use chrono::{DateTime, SecondsFormat, Utc};
    use sqlx::SqliteConnection;

    /// Ids for `n` new rows of an `AUTOINCREMENT` table, above every id it ever handed out.
    /// Safe because the apply's transaction already holds SQLite's write lock (its first
    /// statement writes the run).
    pub async fn reserve_ids(
        c: &mut SqliteConnection,
        table: &'static str,
        n: usize,
    ) -> Result<Vec<i64>, sqlx::Error> {
        let top: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = '{table}'), 0),
                        COALESCE((SELECT MAX(id) FROM {table}), 0))"
        )))
        .fetch_one(&mut *c)
        .await?;
        Ok((1..=n as i64).map(|k| top + k).collect())
    }

    /// Writes `rows` and empties them: each chunk of rows is one JSON array bound as one
    /// parameter and read back by `json_each`, so a chunk costs one bind and one short
    /// statement instead of 30,000 bound values (each an allocation in sqlx and a copy in
    /// SQLite) and a statement of 5,000 `VALUES` rows to compile.
    pub async fn insert(c: &mut SqliteConnection, rows: Rows) -> Result<(), sqlx::Error> {
        let n = rows.len();
        let mut sql = rows.head();
        sql.push_str("SELECT ");
        for i in 0..rows.width() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("value ->> {i}"));
        }
        // `WHERE true` keeps SQLite from reading an `ON CONFLICT` tail as a join constraint;
        // `ORDER BY key` keeps the rows (and so the ids of audit and outbox rows) in their order.
        sql.push_str(" FROM jsonb_each(?) WHERE true ORDER BY key");
        sql.push_str(rows.tail);
        let mut start = 0;
        while start < n {
            let end = n.min(start + SQLITE_ROWS_PER_STATEMENT);
            let json =
                json_rows(&rows, start..end).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .bind(json)
                .execute(&mut *c)
                .await?;
            start = end;
        }
        Ok(())
    }

    /// Rows `range` of `rows` as a JSON array of arrays, each value as sqlx would bind it:
    /// booleans become 0/1 through `->>`, times the RFC 3339 text sqlx writes.
    fn json_rows(rows: &Rows, range: std::ops::Range<usize>) -> Result<String, serde_json::Error> {
        let mut out = Vec::with_capacity(range.len() * 32 * rows.width());
        let mut time: Option<(DateTime<Utc>, String)> = None;
        out.push(b'[');
        for (k, i) in range.enumerate() {
            if k > 0 {
                out.push(b',');
            }
            out.push(b'[');
            for (j, v) in rows.values.iter().enumerate() {
                if j > 0 {
                    out.push(b',');
                }
                match v {
                    Values::Int(v) => serde_json::to_writer(&mut out, &v[i])?,
                    Values::OptInt(v) => serde_json::to_writer(&mut out, &v[i])?,
                    Values::Bool(v) => serde_json::to_writer(&mut out, &v[i])?,
                    Values::Text(v) => serde_json::to_writer(&mut out, &v[i])?,
                    Values::OptText(v) => serde_json::to_writer(&mut out, &v[i])?,
                    Values::Time(v) => {
                        let at = v[i];
                        let text = match &time {
                            Some((t, text)) if *t == at => text,
                            _ => {
                                let text = at.to_rfc3339_opts(SecondsFormat::AutoSi, false);
                                &time.insert((at, text)).1
                            }
                        };
                        serde_json::to_writer(&mut out, text)?
                    }
                }
            }
            out.push(b']');
        }
        out.push(b']');
        // serde_json writes UTF-8 only.
        Ok(String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }
}

pub(super) mod postgres {
    use super::{Rows, Values};
    use sqlx::PgConnection;

    /// Ids for `n` new rows from the table's own sequence (not necessarily consecutive when
    /// another writer draws at the same time; each is ours alone).
    pub async fn reserve_ids(
        c: &mut PgConnection,
        table: &'static str,
        n: usize,
    ) -> Result<Vec<i64>, sqlx::Error> {
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, $1)"
        )))
        .bind(i64::try_from(n).unwrap_or(i64::MAX))
        .fetch_all(&mut *c)
        .await
    }

    /// Writes `rows` in one statement and empties them.
    pub async fn insert(c: &mut PgConnection, rows: Rows) -> Result<(), sqlx::Error> {
        let mut sql = rows.head();
        sql.push_str("SELECT * FROM UNNEST(");
        for (i, v) in rows.values.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("${}::{}", i + 1, v.pg_array()));
        }
        sql.push(')');
        sql.push_str(rows.tail);
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for v in rows.values {
            q = match v {
                Values::Int(v) => q.bind(v),
                Values::OptInt(v) => q.bind(v),
                Values::Bool(v) => q.bind(v),
                Values::Text(v) => q.bind(v),
                Values::OptText(v) => q.bind(v),
                Values::Time(v) => q.bind(v),
            };
        }
        q.execute(&mut *c).await?;
        Ok(())
    }
}
