//! Micro-benchmarks of the engine on 100,000 members, without any provider traffic:
//!
//! * `admit_plan_cold`: admission and the plan against an empty directory;
//! * `admit_plan_no_change`: the same against a directory that already holds the result;
//! * `apply_cold_plan_sqlite` / `apply_cold_plan_postgres`: the cold plan (100,000 onboards,
//!   500 teams with 100,000 team memberships, 2,000 repositories) applied in one transaction,
//!   audit events included. PostgreSQL needs `ORGSYNC_TEST_POSTGRES_URL` (a database the
//!   benchmark may create databases from); without it that benchmark says so and is skipped.
//!
//! `cargo bench --bench engine`

use orgsync::config::{Config, WorkspaceConfig};
use orgsync::directory::{RunOutcome, RunRecord, Store, WorkspaceKey};
use orgsync::sync::{ChangeKind, Current, Plan, admit, plan};
use orgsync_core::{
    AccessVerdict, Account, Member, MemberState, Permission, ProviderKind, Repository, Snapshot,
    Team, TeamMember, TeamRepository, TeamRole, Visibility,
};
use std::sync::{Mutex, OnceLock};

const MEMBERS: usize = 100_000;
const REPOSITORIES: usize = 2_000;
const TEAMS: usize = 500;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime")
    })
}

fn workspace() -> &'static WorkspaceConfig {
    static WS: OnceLock<WorkspaceConfig> = OnceLock::new();
    WS.get_or_init(|| {
        let source = "[directory]\nurl = \"sqlite:///tmp/unused.db\"\n\n\
                      [[workspace]]\nname = \"bench\"\nprovider = \"github\"\norganization = \"acme\"\n\
                      token_env = \"ORGSYNC_BENCH_TOKEN\"\n";
        Config::parse(source, std::path::Path::new("bench.toml"))
            .expect("the bench configuration is valid")
            .workspaces
            .remove(0)
    })
}

/// 100,000 active members who all read everything (1 % owners), 2,000 repositories, 500 teams
/// of 200 members with four repositories each; some teams nested.
fn snapshot() -> &'static Snapshot {
    static SNAPSHOT: OnceLock<Snapshot> = OnceLock::new();
    SNAPSHOT.get_or_init(|| {
        let members = (0..MEMBERS)
            .map(|i| Member {
                id: (1_000_000 + i).to_string(),
                login: format!("user-{i:06}"),
                name: Some(format!("User {i}")),
                email: Some(format!("user-{i:06}@acme.example")),
                role: if i % 100 == 0 { "admin" } else { "member" }.to_string(),
                is_owner: i % 100 == 0,
                state: MemberState::Active,
                bot: false,
                access: AccessVerdict::ReadsAll,
            })
            .collect();
        let repositories = (0..REPOSITORIES)
            .map(|i| Repository {
                id: (20_000_000 + i).to_string(),
                name: format!("repo-{i:04}"),
                archived: i % 20 == 0,
                fork: i % 25 == 0,
                visibility: Visibility::Private,
            })
            .collect();
        let per_team = MEMBERS / TEAMS;
        let teams = (0..TEAMS)
            .map(|t| Team {
                id: (300_000 + t).to_string(),
                slug: format!("team-{t:03}"),
                name: format!("Team {t}"),
                parent: (t % 4 == 3).then(|| format!("team-{:03}", t - 1)),
                members: (0..per_team)
                    .map(|k| TeamMember {
                        member_id: (1_000_000 + t * per_team + k).to_string(),
                        role: if k == 0 {
                            TeamRole::Maintainer
                        } else {
                            TeamRole::Member
                        },
                    })
                    .collect(),
                repositories: (0..4)
                    .map(|k| TeamRepository {
                        repository: format!("repo-{:04}", (t * 4 + k) % REPOSITORIES),
                        permission: Permission::Write,
                    })
                    .collect(),
            })
            .collect();
        Snapshot {
            provider: ProviderKind::Github,
            host: "github.com".to_string(),
            account: Account {
                id: "4000000".to_string(),
                login: "acme".to_string(),
                name: Some("Acme".to_string()),
                base_permission: Permission::None,
            },
            members,
            repositories,
            teams: Some(teams),
            teams_unavailable: None,
            requests: Default::default(),
        }
    })
}

fn cold_plan() -> &'static Plan {
    static PLAN: OnceLock<Plan> = OnceLock::new();
    PLAN.get_or_init(|| {
        let ws = workspace();
        plan(&ws.name, &Current::default(), &admit(snapshot(), ws))
    })
}

fn record() -> RunRecord {
    let now = chrono::Utc::now();
    RunRecord {
        trigger: "bench".to_string(),
        started_at: now,
        finished_at: now,
        outcome: RunOutcome::Ok,
        requests: 0,
        requests_not_modified: 0,
        error: None,
        actor: "sync".to_string(),
    }
}

/// Temporary SQLite files and PostgreSQL databases, removed when the benchmarks are over.
static SQLITE_DIRS: Mutex<Vec<tempfile::TempDir>> = Mutex::new(Vec::new());
static PG_DATABASES: Mutex<Vec<String>> = Mutex::new(Vec::new());

async fn fresh_sqlite() -> (Store, WorkspaceKey) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("directory.db").display());
    let store = Store::open(&url).await.expect("sqlite directory");
    SQLITE_DIRS.lock().expect("dirs").push(dir);
    let key = key(&store).await;
    (store, key)
}

async fn fresh_postgres(base: &str) -> (Store, WorkspaceKey) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(base)
        .await
        .expect("connect to ORGSYNC_TEST_POSTGRES_URL");
    let name = format!(
        "orgsync_bench_{}_{}",
        std::process::id(),
        PG_DATABASES.lock().expect("dbs").len()
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create the bench database");
    PG_DATABASES.lock().expect("dbs").push(name.clone());
    let (prefix, _) = base.rsplit_once('/').expect("database URL with a path");
    let store = Store::open(&format!("{prefix}/{name}"))
        .await
        .expect("postgres directory");
    let key = key(&store).await;
    (store, key)
}

async fn key(store: &Store) -> WorkspaceKey {
    let ws = workspace();
    store
        .ensure_workspace(&ws.name, "github", "github.com", "acme", chrono::Utc::now())
        .await
        .expect("workspace row")
}

/// A directory that already holds the cold plan, as the next run loads it.
fn applied_current() -> &'static Current {
    static CURRENT: OnceLock<Current> = OnceLock::new();
    CURRENT.get_or_init(|| {
        runtime().block_on(async {
            let (store, key) = fresh_sqlite().await;
            store
                .apply(&key, cold_plan(), &record())
                .await
                .expect("apply");
            store
                .load_current(&key, &workspace().admin_role)
                .await
                .expect("load")
        })
    })
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn admit_plan_cold(bencher: divan::Bencher) {
    let ws = workspace();
    let snapshot = snapshot();
    let empty = Current::default();
    bencher.bench(|| {
        let desired = admit(divan::black_box(snapshot), ws);
        plan(&ws.name, &empty, &desired)
    });
}

#[divan::bench(sample_count = 10, sample_size = 1)]
fn admit_plan_no_change(bencher: divan::Bencher) {
    let ws = workspace();
    let snapshot = snapshot();
    let current = applied_current();
    bencher.bench(|| {
        let desired = admit(divan::black_box(snapshot), ws);
        let p = plan(&ws.name, current, &desired);
        assert!(
            p.changes.is_empty(),
            "nothing changed: {} changes",
            p.changes.len()
        );
        p
    });
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn apply_cold_plan_sqlite(bencher: divan::Bencher) {
    let plan = cold_plan();
    bencher
        .with_inputs(|| runtime().block_on(fresh_sqlite()))
        .bench_values(|(store, key)| {
            runtime()
                .block_on(store.apply(&key, plan, &record()))
                .expect("apply")
        });
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn apply_cold_plan_postgres(bencher: divan::Bencher) {
    let Ok(base) = std::env::var("ORGSYNC_TEST_POSTGRES_URL") else {
        eprintln!("ORGSYNC_TEST_POSTGRES_URL is unset: skipping apply_cold_plan_postgres");
        return;
    };
    let plan = cold_plan();
    bencher
        .with_inputs(|| runtime().block_on(fresh_postgres(&base)))
        .bench_values(|(store, key)| {
            runtime()
                .block_on(store.apply(&key, plan, &record()))
                .expect("apply")
        });
}

fn main() {
    // Build the inputs before timing anything, and say how big the plan is.
    let p = cold_plan();
    eprintln!(
        "cold plan: {} changes ({} onboards, {} team member adds, {} repositories)",
        p.changes.len(),
        p.tally()[ChangeKind::Onboard],
        p.tally()[ChangeKind::TeamMemberAdd],
        p.tally()[ChangeKind::RepositoryUpsert],
    );
    divan::main();
    if let Ok(base) = std::env::var("ORGSYNC_TEST_POSTGRES_URL") {
        let names: Vec<String> = std::mem::take(&mut *PG_DATABASES.lock().expect("dbs"));
        runtime().block_on(async {
            use sqlx::Connection;
            if let Ok(mut conn) = sqlx::PgConnection::connect(&base).await {
                for name in names {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            }
        });
    }
    SQLITE_DIRS.lock().expect("dirs").clear();
}
