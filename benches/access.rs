//! The access call (`GET /api/v1/access`) at 10,000 members: requests per second and latency
//! percentiles of the real API router over loopback HTTP, against a SQLite directory (and
//! PostgreSQL when `ORGSYNC_TEST_POSTGRES_URL` is set).
//!
//! `cargo bench --bench access` (about 40 s). Options through the environment:
//! `ACCESS_MEMBERS` (10000), `ACCESS_CLIENTS` (concurrent keep-alive clients, 16),
//! `ACCESS_SECONDS` (measured seconds per backend, 10).

use chrono::Utc;
use orgsync::api::Api;
use orgsync::directory::{RunOutcome, RunRecord, Store};
use orgsync::sync::plan::{Change, Plan};
use orgsync_core::TeamRole;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-token";

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn populate(store: &Store, members: usize) {
    let ws = store
        .ensure_workspace("acme", "github", "api.github.com", "acme", Utc::now())
        .await
        .expect("workspace");
    let teams = 50;
    let mut changes = Vec::with_capacity(members * 2 + teams);
    for t in 0..teams {
        changes.push(Change::TeamCreate {
            slug: format!("team-{t:02}"),
            name: format!("Team {t}"),
            parent: None,
            provider_team_id: t.to_string(),
        });
    }
    for i in 0..members {
        changes.push(Change::Onboard {
            provider_user_id: (100_000 + i).to_string(),
            existing_user_id: None,
            login: format!("user-{i:05}"),
            name: Some(format!("User {i}")),
            email: Some(format!("user-{i:05}@acme.example")),
            role: if i % 50 == 0 { "admin" } else { "member" }.to_string(),
        });
        changes.push(Change::TeamMemberAdd {
            team: format!("team-{:02}", i % teams),
            provider_user_id: (100_000 + i).to_string(),
            login: format!("user-{i:05}"),
            role: TeamRole::Member,
        });
    }
    let now = Utc::now();
    let run = RunRecord {
        trigger: "bench".into(),
        started_at: now,
        finished_at: now,
        outcome: RunOutcome::Ok,
        requests: 0,
        requests_not_modified: 0,
        error: None,
        actor: "sync".into(),
    };
    store
        .apply(
            &ws,
            &Plan {
                workspace: "acme".into(),
                changes,
                unconfirmed: Vec::new(),
            },
            &run,
        )
        .await
        .expect("apply");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

async fn measure(label: &str, store: Store, dir: &std::path::Path, members: usize) {
    let started = Instant::now();
    populate(&store, members).await;
    let populate_s = started.elapsed().as_secs_f64();
    let tokens = dir.join("tokens");
    std::fs::write(&tokens, format!("{TOKEN}\n")).expect("tokens");
    let app = Api::new(store.clone(), tokens).router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let clients = env("ACCESS_CLIENTS", 16);
    let seconds = env("ACCESS_SECONDS", 10) as u64;
    let run = |duration: Duration| {
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for c in 0..clients {
            let stop = Arc::clone(&stop);
            tasks.push(tokio::spawn(async move {
                let http = reqwest::Client::new();
                let mut latencies = Vec::new();
                let mut errors = 0u64;
                let mut i = c * 7919;
                while !stop.load(Ordering::Relaxed) {
                    i = (i + 104_729) % members;
                    // Every fifth call names the person by provider id, the rest by login.
                    let query = if i % 5 == 0 {
                        format!("id={}", 100_000 + i)
                    } else {
                        format!("login=user-{i:05}")
                    };
                    let t = Instant::now();
                    let ok = http
                        .get(format!(
                            "http://{addr}/api/v1/access?workspace=acme&{query}"
                        ))
                        .bearer_auth(TOKEN)
                        .send()
                        .await
                        .map(|r| r.status().is_success())
                        .unwrap_or(false);
                    latencies.push(t.elapsed());
                    if !ok {
                        errors += 1;
                    }
                }
                (latencies, errors)
            }));
        }
        async move {
            tokio::time::sleep(duration).await;
            stop.store(true, Ordering::Relaxed);
            let mut all = Vec::new();
            let mut errors = 0;
            for t in tasks {
                let (l, e) = t.await.expect("client");
                all.extend(l);
                errors += e;
            }
            (all, errors)
        }
    };
    let _ = run(Duration::from_secs(1)).await; // warm-up: connections, SQLite page cache
    let (mut latencies, errors) = run(Duration::from_secs(seconds)).await;
    latencies.sort();
    let n = latencies.len();
    println!(
        "{label:<10} members={members} clients={clients} populate={populate_s:.1}s requests={n} errors={errors} \
         rps={:.0} p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms",
        n as f64 / seconds as f64,
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.90).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    server.abort();
    store.close().await;
}

async fn fresh_pg(base: &str) -> String {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(base).await.expect("connect");
    let name = format!("orgsync_bench_access_{}", std::process::id());
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&mut conn)
    .await
    .expect("drop");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create");
    let (prefix, _) = base.rsplit_once('/').expect("url with a database");
    format!("{prefix}/{name}")
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let members = env("ACCESS_MEMBERS", 10_000);
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        let store = Store::open(&url).await.expect("sqlite");
        measure("sqlite", store, dir.path(), members).await;
        if let Ok(base) = std::env::var("ORGSYNC_TEST_POSTGRES_URL") {
            let url = fresh_pg(&base).await;
            let store = Store::open(&url).await.expect("postgres");
            measure("postgres", store, dir.path(), members).await;
        } else {
            println!("postgres   skipped (ORGSYNC_TEST_POSTGRES_URL is unset)");
        }
    });
}
