//! Migration 0011 on both backends: a directory migrated up to 0010 and filled with runs, audit
//! events, outbox events with a failed delivery, a hold and evidence naming runs keeps every row
//! and every reference through the migration (on SQLite, a rebuild of three tables), the logs
//! lose their foreign keys, `continuing` becomes a run outcome, and a cleared run marker no
//! longer named by the logs is nulled by the directory itself.

#[macro_use]
mod support;

use orgsync::directory::Store;
use sqlx::migrate::Migrator;
use sqlx::{Connection, SqliteConnection};
use support::*;

/// A connection of the test's own to either backend.
enum Db {
    Sqlite(SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Db {
    async fn open(url: &str) -> Db {
        if url.starts_with("sqlite:") {
            use sqlx::sqlite::SqliteConnectOptions;
            use std::str::FromStr;
            let options = SqliteConnectOptions::from_str(url)
                .expect("sqlite url")
                .create_if_missing(true)
                .foreign_keys(true);
            Db::Sqlite(
                SqliteConnection::connect_with(&options)
                    .await
                    .expect("connect to sqlite"),
            )
        } else {
            Db::Postgres(
                sqlx::PgConnection::connect(url)
                    .await
                    .expect("connect to postgres"),
            )
        }
    }

    /// Applies the backend's migrations older than `version`, as a directory of that age has.
    async fn migrate_before(&mut self, version: i64) {
        let dir = match self {
            Db::Sqlite(_) => "migrations/sqlite",
            Db::Postgres(_) => "migrations/postgres",
        };
        let all = Migrator::new(std::path::Path::new(dir))
            .await
            .expect("read the migrations");
        let older: Vec<_> = all
            .iter()
            .filter(|m| m.version < version)
            .cloned()
            .collect();
        assert_eq!(older.len(), 10, "migrations 0001 to 0010");
        let migrator = Migrator::with_migrations(older);
        match self {
            Db::Sqlite(c) => migrator.run(c).await,
            Db::Postgres(c) => migrator.run(c).await,
        }
        .expect("migrate up to 0010");
    }

    async fn exec(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        match self {
            Db::Sqlite(c) => sqlx::query(sql).execute(c).await.map(drop),
            Db::Postgres(c) => sqlx::query(sql).execute(c).await.map(drop),
        }
    }

    /// The rows of a query whose one column is text.
    async fn texts(&mut self, sql: &'static str) -> Vec<String> {
        match self {
            Db::Sqlite(c) => sqlx::query_scalar(sql).fetch_all(c).await,
            Db::Postgres(c) => sqlx::query_scalar(sql).fetch_all(c).await,
        }
        .expect("query")
    }

    async fn number(&mut self, sql: &'static str) -> i64 {
        match self {
            Db::Sqlite(c) => sqlx::query_scalar(sql).fetch_one(c).await,
            Db::Postgres(c) => sqlx::query_scalar(sql).fetch_one(c).await,
        }
        .expect("query")
    }

    /// How many foreign keys `table` has.
    async fn foreign_keys(&mut self, table: &str) -> i64 {
        match self {
            Db::Sqlite(c) => {
                sqlx::query_scalar("SELECT count(*) FROM pragma_foreign_key_list($1)")
                    .bind(table)
                    .fetch_one(c)
                    .await
            }
            Db::Postgres(c) => {
                sqlx::query_scalar(
                    "SELECT count(*) FROM pg_constraint
                     WHERE contype = 'f' AND conrelid = $1::regclass",
                )
                .bind(table)
                .fetch_one(c)
                .await
            }
        }
        .expect("foreign keys")
    }
}

/// A directory as 0010 left it, written as orgsync wrote it: with foreign keys on. Run 3 was a
/// start marker, deleted (so the counter is above every id left).
const FILL: &[&str] = &[
    "INSERT INTO workspaces (name, provider, host, account, created_at)
     VALUES ('acme', 'github', 'github.com', 'acme', '2026-01-01T00:00:00Z'),
            ('beta', 'gitlab', 'gitlab.com', 'beta', '2026-01-01T00:00:00Z')",
    "INSERT INTO sync_runs (workspace_id, trigger, started_at, finished_at, outcome, onboarded, error)
     VALUES (1, 'schedule', '2026-01-02T00:00:00Z', '2026-01-02T00:01:00Z', 'ok', 2, NULL),
            (2, 'webhook', '2026-01-02T00:00:00Z', '2026-01-02T00:01:00Z', 'failed', 0, 'boom'),
            (1, 'schedule', '2026-01-03T00:00:00Z', NULL, 'running', 0, 'running on a')",
    "DELETE FROM sync_runs WHERE id = 3",
    "INSERT INTO audit_events (run_id, workspace_id, at, actor, action, subject, detail)
     VALUES (1, 1, '2026-01-02T00:01:00Z', 'sync', 'onboard', 'alice', '{\"role\":\"member\"}'),
            (1, 1, '2026-01-02T00:01:00Z', 'sync', 'run_ok', 'acme', '{}'),
            (2, 2, '2026-01-02T00:01:00Z', 'sync', 'run_failed', 'beta', '{}'),
            (NULL, NULL, '2026-01-02T00:02:00Z', 'cli:root', 'config', '-', '{}')",
    "INSERT INTO outbox (event_id, workspace_id, run_id, type, user_id, team_slug, payload, created_at)
     VALUES ('e-1', 1, 1, 'user.onboarded', 7, NULL, '{}', '2026-01-02T00:01:00Z'),
            ('e-2', 1, 1, 'team.member_added', 7, 'core', '{}', '2026-01-02T00:01:00Z'),
            ('e-3', 2, NULL, 'user.offboarded', 8, NULL, '{}', '2026-01-02T00:02:00Z')",
    "INSERT INTO downstream_targets (name, delivered_through, updated_at)
     VALUES ('hooks', 1, '2026-01-02T00:03:00Z')",
    "INSERT INTO downstream_failures (target, outbox_id, state, attempts, next_attempt_ms, last_error, updated_at)
     VALUES ('hooks', 2, 'dead', 5, 0, '500', '2026-01-02T00:03:00Z')",
    "INSERT INTO holds (workspace_id, digest, plan, trips, first_run_id, last_run_id, runs, created_at, updated_at)
     VALUES (2, 'd', '{}', '[]', 2, 2, 1, '2026-01-02T00:01:00Z', '2026-01-02T00:01:00Z')",
    "INSERT INTO evidence (workspace_id, run_id, at, snapshot)
     VALUES (1, 1, '2026-01-02T00:01:00Z', '{}'), (2, 2, '2026-01-02T00:01:00Z', '{}')",
];

/// Every row of the tables the migration touches or that name them, with their references.
const DUMPS: &[&str] = &[
    "SELECT id || ' ' || workspace_id || ' ' || trigger || ' ' || outcome || ' ' || onboarded
            || ' ' || COALESCE(error, '-') FROM sync_runs ORDER BY id",
    "SELECT id || ' ' || COALESCE(run_id, 0) || ' ' || COALESCE(workspace_id, 0) || ' ' || actor
            || ' ' || action || ' ' || subject || ' ' || detail FROM audit_events ORDER BY id",
    "SELECT id || ' ' || event_id || ' ' || workspace_id || ' ' || COALESCE(run_id, 0) || ' '
            || type || ' ' || COALESCE(team_slug, '-') FROM outbox ORDER BY id",
    "SELECT target || ' ' || outbox_id || ' ' || state FROM downstream_failures",
    "SELECT workspace_id || ' ' || first_run_id || ' ' || last_run_id FROM holds",
    "SELECT workspace_id || ' ' || run_id FROM evidence ORDER BY workspace_id",
];

async fn dump(db: &mut Db) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for sql in DUMPS {
        out.push(db.texts(sql).await);
    }
    out
}

const CONTINUING: &str = "INSERT INTO sync_runs (workspace_id, trigger, started_at, outcome)
     VALUES (1, 'schedule', '2026-01-04T00:00:00Z', 'continuing')";

async fn migration_0011_keeps_every_row_and_drops_the_logs_keys(url: String) {
    let mut db = Db::open(&url).await;
    db.migrate_before(11).await;
    for sql in FILL {
        db.exec(sql).await.expect("fill the 0010 directory");
    }
    assert!(
        db.exec(CONTINUING).await.is_err(),
        "before 0011, `continuing` is not an outcome"
    );
    let before = dump(&mut db).await;
    assert_eq!(before[0].len(), 2);
    assert_eq!(before[1].len(), 4);
    assert_eq!(before[2].len(), 3);
    assert_eq!(db.foreign_keys("audit_events").await, 2);
    assert_eq!(db.foreign_keys("outbox").await, 2);
    drop(db);

    let store = Store::open(&url).await.expect("migrate to 0011");
    let mut db = Db::open(&url).await;
    assert_eq!(
        dump(&mut db).await,
        before,
        "no row lost, no reference nulled"
    );
    assert_eq!(db.foreign_keys("audit_events").await, 0);
    assert_eq!(db.foreign_keys("outbox").await, 0);
    assert_eq!(db.foreign_keys("downstream_failures").await, 1);
    assert_eq!(db.foreign_keys("holds").await, 3);
    assert_eq!(db.foreign_keys("evidence").await, 2);
    assert_eq!(db.foreign_keys("sync_runs").await, 1);
    if let Db::Sqlite(c) = &mut db {
        let violations: Vec<(String, i64)> =
            sqlx::query_as("SELECT \"table\", rowid FROM pragma_foreign_key_check")
                .fetch_all(&mut *c)
                .await
                .expect("foreign_key_check");
        assert_eq!(violations, vec![]);
        let indexes: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_schema WHERE type = 'index'
               AND tbl_name IN ('sync_runs', 'audit_events', 'outbox') ORDER BY name",
        )
        .fetch_all(&mut *c)
        .await
        .expect("indexes");
        assert_eq!(
            indexes,
            [
                "audit_events_workspace",
                "sqlite_autoindex_outbox_1",
                "sync_runs_workspace"
            ]
        );
    }
    db.exec(CONTINUING)
        .await
        .expect("after 0011, `continuing` is an outcome");
    // Above 3 (the deleted marker's id); PostgreSQL's sequence also spent 4 on the refused row.
    assert!(
        db.number("SELECT max(id) FROM sync_runs").await > 3,
        "the id of the deleted marker is not handed out again"
    );
    db.exec(
        "INSERT INTO audit_events (run_id, workspace_id, at, actor, action, subject)
             VALUES (99, 99, '2026-01-05T00:00:00Z', 'sync', 'x', 'y')",
    )
    .await
    .expect("a log row's references are plain values");
    assert_eq!(
        db.number("SELECT max(id) FROM audit_events").await,
        5,
        "ids go on where they were"
    );
    // The workspace's other rows still cascade: the keys that stay are enforced.
    assert!(
        db.exec(
            "INSERT INTO holds (workspace_id, digest, plan, trips, created_at, updated_at)
                 VALUES (99, 'd', '{}', '[]', '2026-01-05T00:00:00Z', '2026-01-05T00:00:00Z')"
        )
        .await
        .is_err(),
        "holds keeps its foreign key"
    );
    store.close().await;
}

#[tokio::test]
async fn migration_0011_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("directory.db").display());
    migration_0011_keeps_every_row_and_drops_the_logs_keys(url).await;
}

#[tokio::test]
async fn migration_0011_on_postgres() {
    if let Ok(base) = std::env::var("ORGSYNC_TEST_POSTGRES_URL") {
        migration_0011_keeps_every_row_and_drops_the_logs_keys(fresh_pg_database(&base).await)
            .await;
    } else {
        assert!(
            std::env::var_os("ORGSYNC_REQUIRE_POSTGRES").is_none(),
            "ORGSYNC_REQUIRE_POSTGRES is set but ORGSYNC_TEST_POSTGRES_URL is not"
        );
    }
}

/// A cleared start marker: gone, and the log rows that named it name no run, in the same
/// transaction (no foreign key does it any more). A recorded run is not a marker: neither it nor
/// the logs' references to it are touched.
async fn cleared_marker_leaves_no_run_id_in_the_logs(store: Store) {
    store
        .ensure_workspace("acme", "github", "github.com", "acme", chrono::Utc::now())
        .await
        .expect("workspace");
    let marker = store
        .mark_run_started("acme", "schedule", "replica-a")
        .await
        .expect("mark")
        .expect("a marker for a known workspace");
    exec(
        &store,
        "INSERT INTO sync_runs (workspace_id, trigger, started_at, outcome)
         SELECT id, 'schedule', '2026-01-02T00:00:00Z', 'ok' FROM workspaces",
    )
    .await;
    exec(
        &store,
        "INSERT INTO audit_events (run_id, workspace_id, at, actor, action, subject)
         SELECT r.id, r.workspace_id, '2026-01-02T00:00:00Z', 'sync', 'x', r.outcome
         FROM sync_runs r",
    )
    .await;
    exec(
        &store,
        "INSERT INTO outbox (event_id, workspace_id, run_id, type, payload, created_at)
         SELECT 'e-' || r.outcome, r.workspace_id, r.id, 't', '{}', '2026-01-02T00:00:00Z'
         FROM sync_runs r",
    )
    .await;
    let recorded = count(&store, "SELECT id FROM sync_runs WHERE outcome = 'ok'").await;
    assert_ne!(recorded, marker);

    store.clear_run_marker(marker).await;
    store.clear_run_marker(recorded).await;

    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM sync_runs WHERE outcome = 'running'"
        )
        .await,
        0
    );
    assert_eq!(count(&store, "SELECT count(*) FROM sync_runs").await, 1);
    for table in [
        "SELECT count(*) FROM audit_events WHERE run_id IS NULL AND subject = 'running'",
        "SELECT count(*) FROM outbox WHERE run_id IS NULL AND event_id = 'e-running'",
    ] {
        assert_eq!(count(&store, table).await, 1, "{table}");
    }
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM audit_events a JOIN sync_runs r ON r.id = a.run_id"
        )
        .await,
        1,
        "the recorded run is still named"
    );
    assert_eq!(
        count(
            &store,
            "SELECT count(*) FROM outbox o JOIN sync_runs r ON r.id = o.run_id"
        )
        .await,
        1
    );
}

on_both_backends!(cleared_marker, cleared_marker_leaves_no_run_id_in_the_logs);
