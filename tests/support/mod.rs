//! Shared test fixtures: fresh directories on both backends, snapshots and configs.
#![allow(dead_code)]

use orgsync::config::{Config, WorkspaceConfig};
use orgsync::directory::Store;
use orgsync_core::snapshot::RequestCounts;
use orgsync_core::{
    AccessVerdict, Account, Member, MemberState, Permission, ProviderKind, Repository, Snapshot,
    Team, TeamMember, TeamRepository, TeamRole, Visibility,
};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

/// Defines `mod $name` with a `sqlite` and a `postgres` test that each run `$body(store)` on a
/// fresh directory of that backend.
#[allow(unused_macros)]
macro_rules! on_both_backends {
    ($name:ident, $body:ident) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                let (store, _dir) = fresh_store(Backend::Sqlite).await.expect("sqlite");
                $body(store).await;
            }
            #[tokio::test]
            async fn postgres() {
                if let Some((store, _)) = fresh_store(Backend::Postgres).await {
                    $body(store).await;
                }
            }
        }
    };
}

pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, migrated directory. `None` when the backend is not available here (PostgreSQL
/// without `ORGSYNC_TEST_POSTGRES_URL`), after saying so on stderr.
pub async fn fresh_store(backend: Backend) -> Option<(Store, Option<tempfile::TempDir>)> {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}", dir.path().join("directory.db").display());
            let store = Store::open(&url).await.expect("open sqlite directory");
            Some((store, Some(dir)))
        }
        Backend::Postgres => {
            let Ok(base) = std::env::var("ORGSYNC_TEST_POSTGRES_URL") else {
                // CI sets this: there a skipped PostgreSQL half is a failure, not a pass.
                assert!(
                    std::env::var_os("ORGSYNC_REQUIRE_POSTGRES").is_none(),
                    "ORGSYNC_REQUIRE_POSTGRES is set but ORGSYNC_TEST_POSTGRES_URL is not: \
                     the PostgreSQL half of this test would be skipped"
                );
                eprintln!(
                    "ORGSYNC_TEST_POSTGRES_URL is unset: skipping the PostgreSQL half of this test"
                );
                return None;
            };
            Some((
                Store::open(&fresh_pg_database(&base).await)
                    .await
                    .expect("open postgres directory"),
                None,
            ))
        }
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// Creates an empty database for one test, so tests run in parallel without sharing rows.
pub async fn fresh_pg_database(base: &str) -> String {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(base)
        .await
        .expect("connect to ORGSYNC_TEST_POSTGRES_URL");
    let name = format!(
        "orgsync_t_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        chrono::Utc::now().timestamp_micros() % 1_000_000
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let (prefix, _) = base.rsplit_once('/').expect("database URL with a path");
    format!("{prefix}/{name}")
}

/// A connection of the test's own to a store's SQLite file; `None` for PostgreSQL.
pub async fn sqlite_conn(store: &Store) -> Option<sqlx::SqliteConnection> {
    use sqlx::Connection;
    let url = store.url();
    if !url.starts_with("sqlite:") {
        return None;
    }
    Some(
        sqlx::SqliteConnection::connect(url)
            .await
            .expect("connect to the test's SQLite directory"),
    )
}

/// A connection of the test's own to a store's PostgreSQL database; `None` for SQLite.
pub async fn postgres_conn(store: &Store) -> Option<sqlx::PgConnection> {
    use sqlx::Connection;
    let url = store.url();
    if url.starts_with("sqlite:") {
        return None;
    }
    Some(
        sqlx::PgConnection::connect(url)
            .await
            .expect("connect to the test's PostgreSQL database"),
    )
}

/// Runs raw SQL (valid on both backends) against a store: for setting up states that the
/// CLI of later issues creates (suspended users, pinned roles, manual memberships).
pub async fn exec(store: &Store, sql: &'static str) {
    if let Some(mut conn) = sqlite_conn(store).await {
        sqlx::query(sql)
            .execute(&mut conn)
            .await
            .expect("sqlite exec");
    } else if let Some(mut conn) = postgres_conn(store).await {
        sqlx::query(sql)
            .execute(&mut conn)
            .await
            .expect("postgres exec");
    }
}

pub async fn count(store: &Store, sql: &'static str) -> i64 {
    if let Some(mut conn) = sqlite_conn(store).await {
        sqlx::query_scalar(sql)
            .fetch_one(&mut conn)
            .await
            .expect("sqlite count")
    } else {
        let mut conn = postgres_conn(store).await.expect("a connection");
        sqlx::query_scalar(sql)
            .fetch_one(&mut conn)
            .await
            .expect("postgres count")
    }
}

pub fn config(toml_workspace_extra: &str) -> Config {
    let text = format!(
        r#"
[directory]
url = "sqlite://unused.db"

[safety]
max_offboard_percent = 10
max_offboard_count = 5

[[workspace]]
name = "acme"
provider = "github"
organization = "acme"
token_env = "ORGSYNC_TEST_TOKEN"
{toml_workspace_extra}
"#
    );
    Config::parse(&text, Path::new("test.toml")).expect("valid test config")
}

pub fn workspace(config: &Config) -> &WorkspaceConfig {
    &config.workspaces[0]
}

pub fn member(id: u64, login: &str, role: &str, access: AccessVerdict) -> Member {
    Member {
        id: id.to_string(),
        login: login.to_string(),
        name: Some(format!("{login} name")),
        email: None,
        role: role.to_string(),
        is_owner: role == "admin",
        state: MemberState::Active,
        bot: false,
        access,
    }
}

pub fn reads_all(id: u64, login: &str) -> Member {
    member(id, login, "member", AccessVerdict::ReadsAll)
}

pub fn owner(id: u64, login: &str) -> Member {
    member(id, login, "admin", AccessVerdict::ReadsAll)
}

pub fn cannot_read(id: u64, login: &str, repo: &str) -> Member {
    member(
        id,
        login,
        "member",
        AccessVerdict::CannotRead {
            repository: repo.to_string(),
        },
    )
}

pub fn repo(name: &str) -> Repository {
    Repository {
        id: format!("r-{name}"),
        name: name.to_string(),
        archived: false,
        fork: false,
        visibility: Visibility::Private,
    }
}

pub fn team(
    slug: &str,
    parent: Option<&str>,
    members: &[(u64, TeamRole)],
    repos: &[(&str, Permission)],
) -> Team {
    Team {
        id: format!("t-{slug}"),
        slug: slug.to_string(),
        name: slug.to_uppercase(),
        parent: parent.map(str::to_string),
        members: members
            .iter()
            .map(|(id, role)| TeamMember {
                member_id: id.to_string(),
                role: *role,
            })
            .collect(),
        repositories: repos
            .iter()
            .map(|(r, p)| TeamRepository {
                repository: r.to_string(),
                permission: *p,
            })
            .collect(),
    }
}

pub fn snapshot(members: Vec<Member>, teams: Option<Vec<Team>>) -> Snapshot {
    Snapshot {
        provider: ProviderKind::Github,
        host: "api.github.com".to_string(),
        account: Account {
            id: "1".to_string(),
            login: "acme".to_string(),
            name: None,
            base_permission: Permission::None,
        },
        members,
        repositories: vec![repo("api"), repo("web")],
        teams,
        teams_unavailable: None,
        requests: RequestCounts::default(),
    }
}
