//! Crash safety: `kill -9` of the real `orgsync sync` at random moments of a large cold sync
//! against the GitHub simulator, on SQLite (50 kills) and PostgreSQL (20 kills). After each kill
//! the directory is exactly as before the sync or exactly as after it (full dumps of users,
//! identities, memberships, repositories, teams, team members and grants, invitations, audit
//! events and run rows), SQLite's `PRAGMA integrity_check` says ok, and a re-run completes and
//! leaves exactly what an uninterrupted sync (or a second one) leaves. Then `kill -9` of
//! `orgsync run` in the middle of a run, and a restart that starts cleanly and syncs.
//!
//! The kill moments come from a seeded generator (the seed is printed; `ORGSYNC_CRASH_SEED`
//! replays one); the tally of states seen is printed. Two things are deliberately outside the
//! before/after comparison: `http_cache` (the provider responses' ETag cache, written while
//! fetching, a cache only) and the `workspaces` row, which a run registers before it fetches
//! (it must then be absent or exactly the finished sync's row, and is tallied as "registered").
//! Bounded: about 2 minutes of CPU time in all (a cold sync of a 300-member organisation with
//! teams is about 2,500 rows and 330 requests).

// Test helpers fail the test with a message (the crate denies clippy::panic elsewhere).
#![allow(clippy::panic)]

mod support;

use orgsync::directory::Store;
use orgsync_simulator::github::GithubServer;
use orgsync_simulator::scenario::{Scenario, SyntheticSize};
use orgsync_simulator::server::ServerOptions;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SQLITE_KILLS: usize = 50;
const POSTGRES_KILLS: usize = 20;

/// The tables compared exactly, in dump order.
const TABLES: &[&str] = &[
    "users",
    "identities",
    "memberships",
    "repositories",
    "teams",
    "team_members",
    "team_repositories",
    "invitations",
    "sync_runs",
    "audit_events",
];

/// Which table an id column points into, for renumbering (PostgreSQL sequences are not
/// rolled back, so a re-run after a killed apply gets other ids for the same rows).
const REFERENCES: &[(&str, &str)] = &[
    ("workspace_id", "workspaces"),
    ("user_id", "users"),
    ("accepted_user_id", "users"),
    ("team_id", "teams"),
    ("repository_id", "repositories"),
    ("run_id", "sync_runs"),
];

/// SplitMix64: a seeded, dependency-free generator for the kill moments.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A duration uniformly in `0..=max`.
    fn below(&mut self, max: Duration) -> Duration {
        let micros = max.as_micros().max(1) as u64;
        Duration::from_micros(self.next() % (micros + 1))
    }
}

fn seed() -> u64 {
    std::env::var("ORGSYNC_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(7)
        })
}

/// A large organisation: thousands of rows per table once synced.
async fn large_github() -> GithubServer {
    let scenario = Scenario::synthetic(
        20,
        SyntheticSize {
            members: 300,
            repos: 12,
            teams: 8,
        },
    );
    GithubServer::start(
        scenario,
        ServerOptions {
            rate_limit: u64::MAX / 4,
            ..ServerOptions::default()
        },
    )
    .await
    .expect("simulator")
}

fn write_config(dir: &Path, db_url: &str, sim: &GithubServer, schedule: &str) -> PathBuf {
    let org = sim.scenario().github.expect("github").orgs[0].login.clone();
    let path = dir.join("orgsync.toml");
    std::fs::write(
        &path,
        format!(
            "[directory]\nurl = \"{db_url}\"\n\n[daemon]\nschedule = \"{schedule}\"\ntimezone = \"UTC\"\n\
             listen = \"127.0.0.1:0\"\nrun_on_start = false\n\n[http]\nrequests_per_second = 5000\nburst = 5000\n\n\
             [safety]\nmax_offboard_percent = 100\nmax_offboard_count = 100000\n\n\
             [[workspace]]\nname = \"acme\"\nprovider = \"github\"\norganization = \"{org}\"\n\
             api_url = \"{}\"\ntoken_env = \"SIM_TOKEN\"\nadmit = \"all-members\"\nteams = \"full\"\n",
            sim.base_url()
        ),
    )
    .expect("write config");
    path
}

fn sync_command(config: &Path, token: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orgsync"));
    cmd.env_remove("ORGSYNC_CONFIG")
        .env_remove("ORGSYNC_LOG")
        .env("SIM_TOKEN", token)
        .arg("--config")
        .arg(config)
        .args(["sync", "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

/// Runs `orgsync sync` to its end; panics with its stderr unless it exits 0.
fn sync_to_completion(config: &Path, token: &str) -> Duration {
    let started = Instant::now();
    let out = sync_command(config, token).output().expect("orgsync sync");
    assert!(
        out.status.success(),
        "orgsync sync exited {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed()
}

/// Runs `orgsync sync` to its end while watching the simulator: how long until it had served
/// `fetch_requests` requests (the fetch is complete) and how long in all.
fn timed_sync(
    config: &Path,
    token: &str,
    sim: &GithubServer,
    fetch_requests: u64,
) -> (Duration, Duration) {
    let served = sim.handle().stats().total;
    let started = Instant::now();
    let mut child = sync_command(config, token)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn orgsync sync");
    let mut fetched = None;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if fetched.is_none() && sim.handle().stats().total - served >= fetch_requests {
            fetched = Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let total = started.elapsed();
    assert!(status.success(), "orgsync sync exited {status}");
    (fetched.unwrap_or(total), total)
}

/// Every row of a table as a JSON object, on either backend.
async fn rows(store: &Store, table: &str) -> Vec<serde_json::Map<String, Value>> {
    let texts: Vec<String> = if let Some(mut conn) = support::sqlite_conn(store).await {
        let columns: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
        )))
        .fetch_all(&mut conn)
        .await
        .expect("columns");
        let pairs: Vec<String> = columns.iter().map(|c| format!("'{c}', \"{c}\"")).collect();
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT json_object({}) FROM {table}",
            pairs.join(", ")
        )))
        .fetch_all(&mut conn)
        .await
        .expect("sqlite rows")
    } else {
        let mut conn = support::postgres_conn(store).await.expect("a connection");
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT row_to_json(t)::text FROM {table} t"
        )))
        .fetch_all(&mut conn)
        .await
        .expect("postgres rows")
    };
    texts
        .iter()
        .map(|t| match serde_json::from_str(t) {
            Ok(Value::Object(m)) => m,
            other => panic!("{table}: not a JSON object: {other:?}"),
        })
        .collect()
}

/// How a dump is made comparable: which columns are masked.
#[derive(Clone, Copy)]
struct Mask {
    /// Request counters of run rows: a re-run after a killed fetch finds part of the ETag
    /// cache filled, so it asks the same questions but gets more free answers.
    requests: bool,
}

/// A comparable dump of the directory: timestamps masked (present or absent is kept), ids
/// renumbered by their order within each table, rows sorted.
#[derive(Debug, Clone, PartialEq)]
struct Dump {
    tables: BTreeMap<String, Vec<String>>,
    workspaces: Vec<String>,
}

impl Dump {
    fn rows(&self) -> usize {
        self.tables.values().map(Vec::len).sum()
    }
}

async fn dump(store: &Store, mask: Mask) -> Dump {
    let mut raw: BTreeMap<&str, Vec<serde_json::Map<String, Value>>> = BTreeMap::new();
    for table in TABLES.iter().chain(["workspaces"].iter()) {
        raw.insert(table, rows(store, table).await);
    }
    // Old id -> rank within its table.
    let mut ranks: HashMap<&str, HashMap<String, usize>> = HashMap::new();
    for (table, rows) in &raw {
        let mut ids: Vec<i64> = rows
            .iter()
            .filter_map(|r| r.get("id").and_then(Value::as_i64))
            .collect();
        ids.sort_unstable();
        ranks.insert(
            table,
            ids.iter()
                .enumerate()
                .map(|(i, id)| (id.to_string(), i + 1))
                .collect(),
        );
    }
    let normal = |table: &str, row: &serde_json::Map<String, Value>| -> String {
        let mut out = serde_json::Map::new();
        for (column, value) in row {
            let value = if column == "at" || column.ends_with("_at") {
                if value.is_null() {
                    Value::Null
                } else {
                    Value::String("<time>".into())
                }
            } else if mask.requests
                && table == "sync_runs"
                && (column == "requests" || column == "requests_not_modified")
            {
                Value::String("<requests>".into())
            } else if column == "id" || REFERENCES.iter().any(|(c, _)| c == column) {
                let target = if column == "id" {
                    table
                } else {
                    REFERENCES
                        .iter()
                        .find(|(c, _)| c == column)
                        .map(|(_, t)| *t)
                        .unwrap_or(table)
                };
                match value {
                    Value::Null => Value::Null,
                    v => {
                        let key = v.as_i64().map(|i| i.to_string()).unwrap_or_default();
                        let rank = ranks.get(target).and_then(|m| m.get(&key)).copied();
                        Value::String(format!("{target}#{}", rank.unwrap_or(0)))
                    }
                }
            } else {
                value.clone()
            };
            out.insert(column.clone(), value);
        }
        Value::Object(out).to_string()
    };
    let mut tables = BTreeMap::new();
    let mut workspaces = Vec::new();
    for (table, rows) in &raw {
        let mut lines: Vec<String> = rows.iter().map(|r| normal(table, r)).collect();
        lines.sort();
        if *table == "workspaces" {
            workspaces = lines;
        } else {
            tables.insert(table.to_string(), lines);
        }
    }
    Dump { tables, workspaces }
}

async fn integrity_ok(store: &Store) {
    if let Some(mut conn) = support::sqlite_conn(store).await {
        let verdict: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&mut conn)
            .await
            .expect("integrity_check");
        assert_eq!(verdict, ["ok"], "PRAGMA integrity_check");
        let fk: Vec<(String, i64, String, i64)> = sqlx::query_as("PRAGMA foreign_key_check")
            .fetch_all(&mut conn)
            .await
            .expect("foreign_key_check");
        assert!(fk.is_empty(), "foreign key violations: {fk:?}");
    }
}

/// A new, migrated, empty directory for one attempt.
trait Backend {
    fn name(&self) -> &'static str;
    async fn fresh(&self, dir: &Path) -> String;
    async fn discard(&self, url: &str);
}

struct Sqlite;
impl Backend for Sqlite {
    fn name(&self) -> &'static str {
        "SQLite"
    }
    async fn fresh(&self, dir: &Path) -> String {
        format!("sqlite://{}", dir.join("directory.db").display())
    }
    async fn discard(&self, _url: &str) {}
}

struct Postgres(String);
impl Backend for Postgres {
    fn name(&self) -> &'static str {
        "PostgreSQL"
    }
    async fn fresh(&self, _dir: &Path) -> String {
        support::fresh_pg_database(&self.0).await
    }
    async fn discard(&self, url: &str) {
        use sqlx::Connection;
        let name = url.rsplit('/').next().unwrap_or_default().to_string();
        if let Ok(mut conn) = sqlx::PgConnection::connect(&self.0).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await;
        }
    }
}

async fn open(url: &str) -> Store {
    Store::open(url).await.expect("open the directory")
}

#[derive(Default, Debug)]
struct Tally {
    before: usize,
    after: usize,
    registered: usize,
    /// Killed after the fetch was complete: while planning or applying.
    fetched: usize,
    exited_before_kill: usize,
}

/// The whole experiment on one backend: reference dumps, then `kills` killed syncs, each
/// followed by a re-run.
async fn kill_sync_repeatedly(backend: impl Backend, kills: usize) {
    let sim = large_github().await;
    let token = sim.token().to_string();
    let seed = seed();
    let mut rng = Rng(seed);
    let strict = Mask { requests: false };
    let loose = Mask { requests: true };

    // Reference: empty, after one uninterrupted sync, after a second one.
    let dir = tempfile::tempdir().expect("dir");
    let url = backend.fresh(dir.path()).await;
    let config = write_config(dir.path(), &url, &sim, "0 3 1 1 *");
    let store = open(&url).await;
    let empty = dump(&store, strict).await;
    store.close().await;
    let served = sim.handle().stats().total;
    let full = sync_to_completion(&config, &token);
    let fetch_requests = sim.handle().stats().total - served;
    let store = open(&url).await;
    let after_one = dump(&store, strict).await;
    let after_one_loose = dump(&store, loose).await;
    store.close().await;
    sync_to_completion(&config, &token);
    let store = open(&url).await;
    let after_two_loose = dump(&store, loose).await;
    store.close().await;
    backend.discard(&url).await;
    eprintln!(
        "{}: rows per table after one sync: {:?}; took {full:?}",
        backend.name(),
        after_one
            .tables
            .iter()
            .map(|(t, r)| (t.as_str(), r.len()))
            .collect::<Vec<_>>()
    );
    assert_eq!(empty.rows(), 0);
    assert!(empty.workspaces.is_empty());
    assert!(
        after_one.rows() > 1500,
        "a large sync: {} rows",
        after_one.rows()
    );
    assert_ne!(
        after_one_loose, after_two_loose,
        "a second run adds its run row"
    );
    eprintln!(
        "{}: a cold sync makes {fetch_requests} requests and writes {} rows in {full:?}; seed {seed}",
        backend.name(),
        after_one.rows()
    );

    let mut tally = Tally::default();
    let (mut fetched, mut total) = (full, full);
    for attempt in 0..kills {
        let dir = tempfile::tempdir().expect("dir");
        let url = backend.fresh(dir.path()).await;
        let config = write_config(dir.path(), &url, &sim, "0 3 1 1 *");
        open(&url).await.close().await;
        // A third of the kills anywhere in a sync, a third in its second half, a third between
        // the end of the fetch and the end (planning and the apply), by the latest re-run's
        // timing: the machine's load changes how long a sync takes.
        let delay = match attempt % 3 {
            0 => rng.below(total),
            1 => total / 2 + rng.below(total / 2),
            _ => fetched + rng.below(total.saturating_sub(fetched)),
        };
        let served = sim.handle().stats().total;
        let mut child = sync_command(&config, &token)
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn orgsync sync");
        let deadline = Instant::now() + delay;
        let mut exited = None;
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().expect("wait") {
                exited = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        if exited.is_none() {
            child.kill().expect("kill -9");
        }
        child.wait().expect("wait");
        if let Some(status) = exited {
            assert!(status.success(), "attempt {attempt}: sync failed: {status}");
            tally.exited_before_kill += 1;
        }

        let store = open(&url).await;
        integrity_ok(&store).await;
        let now = dump(&store, strict).await;
        store.close().await;
        let state_before = now.tables == empty.tables;
        let state_after = now.tables == after_one.tables;
        if !(state_before || state_after) {
            let diff: Vec<String> = now
                .tables
                .iter()
                .filter(|(t, rows)| {
                    empty.tables.get(*t) != Some(rows) && after_one.tables.get(*t) != Some(rows)
                })
                .map(|(t, rows)| format!("{t}: {} rows", rows.len()))
                .collect();
            panic!(
                "{} attempt {attempt} (seed {seed}, kill after {delay:?}): neither before nor \
                 after; tables in between: {diff:?}",
                backend.name()
            );
        }
        assert!(
            now.workspaces.is_empty() || now.workspaces == after_one.workspaces,
            "attempt {attempt}: workspaces {:?} vs {:?}",
            now.workspaces,
            after_one.workspaces
        );
        if state_after {
            tally.after += 1;
        } else {
            tally.before += 1;
            if !now.workspaces.is_empty() {
                tally.registered += 1;
            }
            if sim.handle().stats().total - served >= fetch_requests {
                tally.fetched += 1;
            }
        }

        // The re-run completes and leaves what an uninterrupted history leaves.
        (fetched, total) = timed_sync(&config, &token, &sim, fetch_requests);
        let store = open(&url).await;
        integrity_ok(&store).await;
        let rerun = dump(&store, loose).await;
        store.close().await;
        let want = if state_after {
            &after_two_loose
        } else {
            &after_one_loose
        };
        assert!(
            rerun == *want,
            "{} attempt {attempt} (seed {seed}): the re-run after a kill left another directory",
            backend.name()
        );
        backend.discard(&url).await;
    }
    eprintln!(
        "{}: {kills} kills of `orgsync sync` (seed {seed}): {} before ({} with only the \
         workspace registered, {} killed after the fetch was complete, i.e. planning or \
         applying), {} after ({} had exited before the kill); every re-run completed",
        backend.name(),
        tally.before,
        tally.registered,
        tally.fetched,
        tally.after,
        tally.exited_before_kill
    );
    assert_eq!(tally.before + tally.after, kills);
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_of_sync_on_sqlite_leaves_before_or_after() {
    kill_sync_repeatedly(Sqlite, SQLITE_KILLS).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_of_sync_on_postgres_leaves_before_or_after() {
    let Ok(base) = std::env::var("ORGSYNC_TEST_POSTGRES_URL") else {
        eprintln!("ORGSYNC_TEST_POSTGRES_URL is unset: skipping the PostgreSQL crash test");
        return;
    };
    kill_sync_repeatedly(Postgres(base), POSTGRES_KILLS).await;
}

/// `orgsync run` with its stderr collected.
struct Daemon {
    child: std::process::Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    fn start(config: &Path, token: &str) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_orgsync"))
            .env_remove("ORGSYNC_CONFIG")
            .env_remove("NOTIFY_SOCKET")
            .env("ORGSYNC_LOG", "info")
            .env("SIM_TOKEN", token)
            .arg("--config")
            .arg(config)
            .args(["--log-format", "json", "run"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start orgsync run");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("lines").push(line);
            }
        });
        Daemon { child, lines }
    }

    fn wait_for(&mut self, needle: &str, within: Duration) {
        let end = Instant::now() + within;
        loop {
            if self
                .lines
                .lock()
                .expect("lines")
                .iter()
                .any(|l| l.contains(needle))
            {
                return;
            }
            if let Some(status) = self.child.try_wait().expect("wait") {
                panic!(
                    "orgsync run exited ({status}) before {needle:?}:\n{}",
                    self.lines.lock().expect("lines").join("\n")
                );
            }
            assert!(
                Instant::now() < end,
                "no {needle:?} within {within:?}:\n{}",
                self.lines.lock().expect("lines").join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{name}");
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_of_the_daemon_mid_run_and_a_restart_starts_cleanly() {
    let sim = large_github().await;
    let token = sim.token().to_string();
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("directory.db").display());
    let config = write_config(dir.path(), &url, &sim, "0 3 1 1 *");
    let mut rng = Rng(seed());
    let mut killed_mid_run = 0;
    let mut recorded = 0;
    for round in 0..3 {
        let mut daemon = Daemon::start(&config, &token);
        daemon.wait_for("orgsync daemon started", Duration::from_secs(30));
        daemon.signal("USR1");
        // Somewhere inside the run: after it started, before a large sync can finish.
        std::thread::sleep(Duration::from_millis(50) + rng.below(Duration::from_millis(400)));
        daemon.child.kill().expect("kill -9");
        let _ = daemon.child.wait();
        let store = open(&url).await;
        integrity_ok(&store).await;
        // A run the kill interrupted is recorded as failed "interrupted" at the next start:
        // count only the runs that finished on their own.
        let runs = completed(store.recent_runs(Some("acme"), 100).await.expect("runs"));
        store.close().await;
        let finished = runs.len() > recorded;
        recorded = runs.len();
        if !finished {
            killed_mid_run += 1;
        }
        eprintln!(
            "daemon round {round}: killed {}",
            if finished { "after the run" } else { "mid-run" }
        );
    }
    // The restart: the SQLite lock of a killed daemon is gone with it, the directory is sound,
    // and a run completes.
    let store = open(&url).await;
    integrity_ok(&store).await;
    let before = completed(store.recent_runs(Some("acme"), 100).await.expect("runs"));
    store.close().await;
    let mut daemon = Daemon::start(&config, &token);
    daemon.wait_for("orgsync daemon started", Duration::from_secs(30));
    daemon.signal("USR1");
    let store = open(&url).await;
    let end = Instant::now() + Duration::from_secs(60);
    let run = loop {
        let runs = completed(store.recent_runs(Some("acme"), 100).await.expect("runs"));
        if runs.len() > before.len() {
            break runs[0].clone();
        }
        assert!(Instant::now() < end, "no run after the restart");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(run.outcome, "ok", "{:?}", run.error);
    daemon.signal("TERM");
    let status = daemon.child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
    eprintln!(
        "daemon: 3 kill -9 ({killed_mid_run} mid-run), {} runs recorded before the restart, the \
         restart synced ok",
        before.len()
    );
}

/// Runs that finished on their own, newest first: not the "interrupted" records a start writes
/// for a run that a kill cut short.
fn completed(runs: Vec<orgsync::directory::RunRow>) -> Vec<orgsync::directory::RunRow> {
    runs.into_iter()
        .filter(|r| {
            !r.error
                .as_deref()
                .is_some_and(|e| e.starts_with("interrupted"))
        })
        .collect()
}
