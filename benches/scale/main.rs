//! The scale benchmark: requests, wall time, peak memory and directory writes of a real sync
//! against the simulated providers at sizes S, M and L, next to what the obvious approach would
//! need and a lower bound.
//!
//! `cargo bench --bench scale [-- github|gitlab|bitbucket S|M|L …]`
//!
//! The process that `cargo bench` starts is the *driver*: it owns the simulator (20 ms latency
//! per request), mutates the world between phases and prints the tables. Each provider and size
//! is synced by a fresh *child* (this same program re-executed with `--child CONFIG`), so the
//! peak RSS reported is orgsync's alone, never the simulator's and never another size's. The
//! child runs the engine exactly as `orgsync sync` does (`orgsync::providers::build`, the
//! directory as the conditional-request cache, `sync_workspace`) and answers one phase per line
//! it reads on stdin: `cold` (empty directory), `nochange`, then `churn` (after the driver
//! applied 1 % churn: joins, leaves, lost grants).

mod bitbucket;
mod child;
mod github;
mod gitlab;
mod paced;
mod table;

use orgsync_simulator::server::Stats;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Latency the simulator adds to every request, as the issue asks.
const LATENCY: Duration = Duration::from_millis(20);

/// What the child measured for one phase.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ChildPhase {
    pub phase: String,
    pub outcome: String,
    pub error: Option<String>,
    pub wall_seconds: f64,
    /// VmHWM after the phase, in kB (reset before each phase where the kernel allows it).
    pub peak_rss_kb: u64,
    pub peak_reset: bool,
    pub plan_changes: usize,
    pub audit_events: usize,
    pub cache_writes: u64,
    pub onboarded: usize,
    pub offboarded: usize,
    pub active_members: usize,
}

/// One row of the tables.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub provider: &'static str,
    pub size: &'static str,
    pub shape: String,
    pub phase: ChildPhase,
    pub requests: u64,
    pub not_modified: u64,
    /// REST requests the budget charged (GraphQL queries are charged in points instead).
    pub quota: u64,
    /// GraphQL requests (in `requests`, not in `quota`) and the points they cost (GitHub).
    pub graphql_requests: u64,
    pub graphql_points: u64,
    pub obvious: u64,
    pub lower_bound: u64,
    pub churn_events: usize,
    /// The same requests with the default pacing, on a virtual clock ([`paced`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paced: Option<PacedFigures>,
}

/// What a user waits with the default pacing ([`paced::replay_phase`]).
#[derive(Debug, Clone, Serialize)]
pub struct PacedFigures {
    pub wall: Duration,
    pub windows: u64,
    pub quota_waits: u64,
    pub longest_wait: Duration,
}

/// A simulated account of one provider at one size, driven by the driver.
#[async_trait::async_trait]
pub trait World: Send + Sync {
    /// The `[[workspace]]` table (the token comes from `ORGSYNC_BENCH_TOKEN`).
    fn workspace_toml(&self) -> String;
    fn token(&self) -> String;
    fn stats(&self) -> Stats;
    fn reset_stats(&self);
    /// Whether a `304` is free of quota at this provider.
    fn free_not_modified(&self) -> bool;
    /// Requests of the obvious approach and of the lower bound, for the world as it is now.
    fn baselines(&self) -> (u64, u64);
    fn shape(&self) -> String;
    /// Applies 1 % churn; returns how many events.
    async fn churn(&mut self) -> usize;
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.first().map(String::as_str) == Some("--child") {
        let config = args.get(1).expect("--child CONFIG");
        child::run(std::path::Path::new(config));
        return;
    }
    let providers: Vec<&str> = ["github", "gitlab", "bitbucket"]
        .into_iter()
        .filter(|p| !args.iter().any(|a| is_provider(a)) || args.iter().any(|a| a == p))
        .collect();
    let sizes: Vec<&str> = ["S", "M", "L"]
        .into_iter()
        .filter(|s| !args.iter().any(|a| is_size(a)) || args.iter().any(|a| a == s))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut rows = Vec::new();
    for provider in &providers {
        for size in &sizes {
            match runtime.block_on(run_one(provider, size)) {
                Ok(mut r) => {
                    for row in &r {
                        eprintln!("{}", table::line(row));
                    }
                    rows.append(&mut r);
                }
                Err(e) => eprintln!("{provider} {size}: skipped: {e}"),
            }
        }
    }
    println!("{}", table::markdown(&rows));
    println!("{}", paced::markdown(&rows));
    let json = serde_json::to_string_pretty(&rows).expect("rows serialise");
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-scale.json");
    if std::fs::write(&out, json).is_ok() {
        println!("raw figures: {}", out.display());
    }
}

fn is_provider(a: &str) -> bool {
    matches!(a, "github" | "gitlab" | "bitbucket")
}

fn is_size(a: &str) -> bool {
    matches!(a, "S" | "M" | "L")
}

async fn world(provider: &str, size: &str) -> Result<Box<dyn World>, String> {
    match provider {
        "github" => github::GithubWorld::start(size).await,
        "gitlab" => gitlab::GitlabWorld::start(size).await,
        "bitbucket" => bitbucket::BitbucketWorld::start(size).await,
        other => Err(format!("unknown provider {other}")),
    }
}

/// Syncs one provider at one size in a fresh child: cold, no change, 1 % churn.
async fn run_one(provider: &'static str, size: &'static str) -> Result<Vec<Row>, String> {
    let mut world = world(provider, size).await?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let config = dir.path().join("orgsync.toml");
    std::fs::write(
        &config,
        format!(
            "[directory]\nurl = \"sqlite://{}\"\n\n\
             # Churn offboards more than the default guard allows at once; the benchmark\n\
             # measures the sync, not the guard.\n\
             [safety]\nmax_offboard_percent = 100\nmax_offboard_count = 1000000\n\n{}",
            dir.path().join("directory.db").display(),
            world.workspace_toml()
        ),
    )
    .map_err(|e| e.to_string())?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = Command::new(exe)
        .arg("--child")
        .arg(&config)
        .env("ORGSYNC_BENCH_TOKEN", world.token())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start the child: {e}"))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut rows = Vec::new();
    for phase in ["cold", "nochange", "churn"] {
        let churn_events = if phase == "churn" {
            world.churn().await
        } else {
            0
        };
        let (obvious, lower_bound) = world.baselines();
        world.reset_stats();
        writeln!(stdin, "{phase}").map_err(|e| e.to_string())?;
        stdin.flush().map_err(|e| e.to_string())?;
        // The child blocks this thread only while it syncs; the simulator runs on the runtime's
        // worker threads meanwhile.
        let line = tokio::task::block_in_place(|| {
            let mut line = String::new();
            loop {
                line.clear();
                match stdout.read_line(&mut line) {
                    Ok(0) => return Err("the child exited".to_string()),
                    Ok(_) if line.starts_with("RESULT ") => return Ok(line.clone()),
                    Ok(_) => {}
                    Err(e) => return Err(e.to_string()),
                }
            }
        })?;
        let measured: ChildPhase = serde_json::from_str(line.trim_start_matches("RESULT ").trim())
            .map_err(|e| format!("child answered {line}: {e}"))?;
        let stats = world.stats();
        let replayed = paced::replay_phase(
            provider,
            &stats,
            world.free_not_modified(),
            measured.wall_seconds,
        );
        let paced = Some(PacedFigures {
            wall: replayed.wall,
            windows: replayed.windows,
            quota_waits: replayed.quota_waits,
            longest_wait: replayed.longest_wait,
        });
        let graphql_requests = stats.requests("POST /graphql");
        let quota = if world.free_not_modified() {
            stats.total - stats.not_modified
        } else {
            stats.total
        } - graphql_requests;
        rows.push(Row {
            provider,
            size,
            shape: world.shape(),
            phase: measured,
            requests: stats.total,
            not_modified: stats.not_modified,
            quota,
            graphql_requests,
            graphql_points: stats.points,
            obvious,
            lower_bound,
            churn_events,
            paced,
        });
        if std::env::var_os("ORGSYNC_BENCH_ROUTES").is_some() {
            for (route, s) in &stats.routes {
                eprintln!(
                    "    {phase} {route}: {} ({} 304)",
                    s.requests, s.not_modified
                );
            }
        }
    }
    let _ = writeln!(stdin, "quit");
    drop(stdin);
    let _ = tokio::task::block_in_place(|| child.wait());
    Ok(rows)
}

/// Pages of a list of `n` items at `per_page` (an empty list still costs one request).
pub fn pages(n: usize, per_page: usize) -> u64 {
    n.div_ceil(per_page).max(1) as u64
}
