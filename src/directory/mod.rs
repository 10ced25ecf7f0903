//! The directory: workspaces, people, memberships, identities, teams, repositories, invitations,
//! sync runs, the audit trail, the outbox and the HTTP cache, on SQLite or PostgreSQL.
//!
//! One [`Store`] type serves both backends. The SQL is written once, in the dialect both accept
//! (`$1` parameters, `ON CONFLICT`, `RETURNING`): each file by concern wraps its SQL in
//! `per_backend!`, which instantiates it as a `sqlite` and a `postgres` module over that
//! backend's connection type, so the two cannot drift apart. `on_conn!` and `in_tx!` pick the
//! module of the store's backend. No SQL runs outside this module. ARCHITECTURE.md has the map.

/// Instantiates the SQL of a file once per backend: `mod sqlite` over `SqliteConnection` and
/// `mod postgres` over `PgConnection`, each with `type Conn` (with `Db` and `DbRow`, its
/// database and row types) and `db`, the same backend's SQL of the other files
/// (`db::audit::write`, `db::outbox::enqueue`, …).
macro_rules! per_backend {
    (@one $backend:ident, $conn:ty; $($body:tt)*) => {
        pub(crate) mod $backend {
            #![allow(unused_imports)]
            use super::*;
            use $crate::directory::$backend as db;
            use sqlx::Row;
            pub(crate) type Conn = $conn;
            /// The backend's database and row types, for helpers generic over a column's type
            /// or reading a fetched row.
            #[allow(dead_code)]
            type Db = <Conn as sqlx::Connection>::Database;
            #[allow(dead_code)]
            type DbRow = <Db as sqlx::Database>::Row;
            $($body)*
        }
    };
    ($($body:tt)*) => {
        per_backend!(@one sqlite, sqlx::SqliteConnection; $($body)*);
        per_backend!(@one postgres, sqlx::PgConnection; $($body)*);
    };
}

/// Runs one statement on the connection `$c` with its parameters bound in order: `$run` is
/// `execute`, `fetch_one`, `fetch_optional` or `fetch_all`. `sql! { c, execute, "DELETE … WHERE
/// id = $1", id }`; `scalar c, …` is `query_scalar`, `as T, c, …` is `query_as::<_, T>`.
macro_rules! sql {
    (scalar $c:expr, $run:ident, $sql:expr $(, $v:expr)* $(,)?) => {
        sqlx::query_scalar($sql)$(.bind($v))*.$run(&mut *$c).await?
    };
    (as $t:ty, $c:expr, $run:ident, $sql:expr $(, $v:expr)* $(,)?) => {
        sqlx::query_as::<_, $t>($sql)$(.bind($v))*.$run(&mut *$c).await?
    };
    ($c:expr, $run:ident, $sql:expr $(, $v:expr)* $(,)?) => {
        sqlx::query($sql)$(.bind($v))*.$run(&mut *$c).await?
    };
}

/// Runs `$body` with `$c` a connection of the store's backend and `$m` the calling file's SQL
/// for that backend: `on_conn!` on a pooled connection, `in_tx!` in a transaction that commits
/// when the body returns `Ok` and rolls back otherwise.
macro_rules! dispatch {
    ($store:expr, $how:ident, |$c:ident, $m:ident| $body:expr) => {
        match &$store.backend {
            $crate::directory::Backend::Sqlite(pool) => dispatch!(@$how pool, sqlite, $c, $m, $body),
            $crate::directory::Backend::Postgres(pool) => {
                dispatch!(@$how pool, postgres, $c, $m, $body)
            }
        }
    };
    (@conn $pool:ident, $backend:ident, $c:ident, $m:ident, $body:expr) => {{
        let mut conn = $pool.acquire().await?;
        let $c = &mut *conn;
        use $backend as $m;
        $body
    }};
    (@tx $pool:ident, $backend:ident, $c:ident, $m:ident, $body:expr) => {{
        let mut tx = $pool.begin().await?;
        let result = {
            let $c = &mut *tx;
            use $backend as $m;
            $body
        };
        match result {
            Ok(v) => {
                tx.commit().await?;
                Ok(v)
            }
            Err(e) => {
                tx.rollback().await?;
                Err(e)
            }
        }
    }};
}

/// Store methods that run one function of the calling file's SQL with the same arguments, on a
/// pooled connection (`on_conn`) or in a transaction (`in_tx`):
/// `forward! { on_conn workspace => workspace(name: &str) -> Result<…>; }` is
/// `pub async fn workspace(&self, name: &str)` calling `m::workspace(c, name)`. A block that
/// starts with `crate:` makes its methods `pub(crate)`: what only orgsync itself calls.
macro_rules! forward {
    (crate: $(
        $(#[$attr:meta])*
        $how:ident $name:ident => $inner:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty;
    )*) => {
        impl Store {$(
            $(#[$attr])*
            pub(crate) async fn $name(&self, $($arg: $ty),*) -> $ret {
                $how!(self, |c, m| m::$inner(c, $($arg),*).await)
            }
        )*}
    };
    ($(
        $(#[$attr:meta])*
        $how:ident $name:ident => $inner:ident($($arg:ident: $ty:ty),* $(,)?) -> $ret:ty;
    )*) => {
        impl Store {$(
            $(#[$attr])*
            pub async fn $name(&self, $($arg: $ty),*) -> $ret {
                $how!(self, |c, m| m::$inner(c, $($arg),*).await)
            }
        )*}
    };
}

macro_rules! on_conn {
    ($store:expr, |$c:ident, $m:ident| $body:expr) => {
        dispatch!($store, conn, |$c, $m| $body)
    };
}

macro_rules! in_tx {
    ($store:expr, |$c:ident, $m:ident| $body:expr) => {
        dispatch!($store, tx, |$c, $m| $body)
    };
}

mod accept;
mod apply;
mod batch;
mod cache;
pub mod claims;
mod current;
mod delivery;
mod error;
mod fetch_pages;
mod holds;
mod identities;
mod invitations;
mod listings;
pub mod outbox;
mod overrides;
pub mod people;
pub mod reads;
mod runs;
mod tables;
mod targets;
mod workspaces;

pub use error::DirectoryError;
pub use holds::{HoldChange, HoldRow, compress_evidence};
pub use listings::{AuditRow, RunRow, TeamRow, UserRow};
pub use runs::{RunOutcome, RunRecord};
pub use workspaces::WorkspaceKey;

/// Each backend's SQL of every file, for `db::…` in [`per_backend!`].
macro_rules! backend_index {
    ($($backend:ident),*) => {$(
        mod $backend {
            pub(super) use super::batch::$backend as batch;
            pub(super) use super::cache::$backend as cache;
            pub(super) use super::delivery::$backend as delivery;
            pub(super) use super::invitations::$backend as invitations;
            pub(super) use super::outbox::$backend as outbox;
            pub(super) use super::holds::$backend as holds;
            pub(super) use super::runs::$backend as runs;
            pub(super) use super::tables::audit::$backend as audit;
            pub(super) use super::tables::identities::$backend as identity_rows;
            pub(super) use super::tables::memberships::$backend as memberships;
            pub(super) use super::tables::teams::$backend as teams;
            pub(super) use super::tables::users::$backend as users;
        }
    )*};
}
backend_index!(sqlite, postgres);

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{PgPool, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

#[derive(Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The directory, on either backend.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    url: String,
}

/// Holds `<file>.migrate.lock` while a SQLite directory is migrated: sqlx takes no lock on
/// SQLite, so two first starts on a new file both tried to create the tables ("table workspaces
/// already exists"). The second now waits and finds the migrations applied. PostgreSQL needs
/// nothing: sqlx migrates it under an advisory lock.
async fn sqlite_migration_lock(
    options: &SqliteConnectOptions,
) -> Result<Option<std::fs::File>, DirectoryError> {
    let file = options.get_filename();
    let name = file.to_string_lossy();
    if name.is_empty() || name == ":memory:" {
        return Ok(None);
    }
    let lock_path = std::path::PathBuf::from(format!("{name}.migrate.lock"));
    let locked = tokio::task::spawn_blocking(move || -> std::io::Result<std::fs::File> {
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)?;
        lock.lock()?;
        Ok(lock)
    })
    .await
    .map_err(|e| DirectoryError::Sql(sqlx::Error::Io(std::io::Error::other(e))))?;
    locked
        .map(Some)
        .map_err(|e| DirectoryError::Sql(sqlx::Error::Io(e)))
}

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates the directory at `url`.
    pub async fn open(url: &str) -> Result<Store, DirectoryError> {
        let connect = |source| DirectoryError::Connect {
            url: redact_url(url),
            source,
        };
        let backend = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(connect)?
                .create_if_missing(true)
                .foreign_keys(true)
                .journal_mode(SqliteJournalMode::Wal)
                // Statement journals (one per multi-row insert) and sorts in memory, not in
                // temporary files. (A 64 MB page cache was tried for the 100,000-member apply:
                // 0–8 % faster, not worth up to 64 MB more per connection in the daemon.)
                .pragma("temp_store", "memory")
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                .connect_with(options.clone())
                .await
                .map_err(connect)?;
            let _migrating = sqlite_migration_lock(&options).await?;
            sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
            Backend::Sqlite(pool)
        } else {
            let options = PgConnectOptions::from_str(url).map_err(connect)?;
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .map_err(connect)?;
            sqlx::migrate!("./migrations/postgres").run(&pool).await?;
            Backend::Postgres(pool)
        };
        Ok(Store {
            backend,
            url: url.to_string(),
        })
    }

    /// Whether the directory is PostgreSQL (replicas, advisory locks) rather than SQLite.
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// The URL the directory was opened with (password included), for a tool or test that
    /// needs a connection of its own; never for messages (see [`redact_url`]).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(p) => p.close().await,
            Backend::Postgres(p) => p.close().await,
        }
    }
}

/// Hides the password of a database URL for messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
