//! End to end: a Bitbucket fetch that needs more requests than the credential's allowance
//! (here 40 per window, the simulator's window 2 s standing in for the hour) is cut by the
//! run's deadline and kept; `orgsync status` shows it under way; the next `orgsync sync` runs
//! continue from the kept pages instead of reading them again, and the last one applies exactly
//! the ground truth.

use orgsync_core::FetchPolicy;
use orgsync_simulator::bitbucket::BitbucketServer;
use orgsync_simulator::bitbucket::synthetic::BitbucketSize;
use orgsync_simulator::bitbucket::truth::expected_admitted;
use orgsync_simulator::scenario::Scenario;
use orgsync_simulator::server::ServerOptions;
use serde_json::Value;
use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

async fn orgsync(config: &Path, args: &'static [&'static str]) -> std::process::Output {
    let config = config.to_path_buf();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_orgsync"))
            .env_remove("ORGSYNC_CONFIG")
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .expect("orgsync runs")
    })
    .await
    .expect("join")
}

fn text(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

/// A workspace that needs several windows of 40 requests.
const SIZE: BitbucketSize = BitbucketSize {
    members: 150,
    repos: 60,
    groups: 5,
};

/// Starts a simulated Bitbucket of `size` whose credential may send `rate_limit` requests per
/// 2 s window (standing in for the hour).
async fn bitbucket(size: BitbucketSize, rate_limit: u64) -> BitbucketServer {
    BitbucketServer::start(
        Scenario::synthetic_bitbucket(7, size),
        ServerOptions {
            rate_limit,
            rate_window: Duration::from_secs(2),
            ..ServerOptions::default()
        },
    )
    .await
    .expect("simulated Bitbucket")
}

/// A configuration of one workspace `big` on `server`, with `daemon` (a `[daemon]` table) and
/// the client's own count of the hour.
fn write_config(
    server: &BitbucketServer,
    dir: &Path,
    daemon: &str,
    requests_per_hour: u64,
) -> PathBuf {
    let (email, token) = server.credential();
    let token_path = dir.join("bitbucket-token");
    std::fs::write(&token_path, token).expect("token file");
    std::fs::set_permissions(&token_path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let config: PathBuf = dir.join("orgsync.toml");
    std::fs::write(
        &config,
        format!(
            r#"[directory]
url = "sqlite://{db}"

{daemon}
[[workspace]]
name = "big"
provider = "bitbucket"
workspace = "acme"
api_url = "{api}"
username = "{email}"
token_file = "{token}"
requests_per_hour = {requests_per_hour}
"#,
            db = dir.join("orgsync.db").display(),
            api = server.base_url(),
            email = email.expect("an API token"),
            token = token_path.display(),
        ),
    )
    .expect("config");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_larger_than_the_allowance_continues_run_after_run_and_applies_the_ground_truth() {
    let server = bitbucket(SIZE, 40).await;
    let world = server.scenario().bitbucket.expect("world");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = write_config(
        &server,
        dir.path(),
        "[daemon]\nrun_deadline_seconds = 4\n",
        40,
    );

    let mut cut = 0;
    loop {
        let sync = orgsync(&config, &["sync"]).await;
        if sync.status.success() {
            break;
        }
        cut += 1;
        assert!(
            text(&sync).contains("CONTINUES in the next run")
                && text(&sync).contains("the fetch continues in the next run"),
            "{}",
            text(&sync)
        );
        assert!(cut < 12, "each run makes progress: {}", text(&sync));
        let status = orgsync(&config, &["status"]).await;
        assert!(
            text(&status).contains("fetch under way across rate-limit windows"),
            "{}",
            text(&status)
        );
        // The simulator's window passes (Bitbucket's hour).
        tokio::time::sleep(Duration::from_millis(2100)).await;
    }
    assert!(
        cut >= 2,
        "the sync needed several windows (cut {cut} times)"
    );
    assert_eq!(
        server
            .handle()
            .stats()
            .requests("GET /2.0/workspaces/{workspace}"),
        1,
        "a page an earlier run kept is not read again"
    );
    let status = orgsync(&config, &["status"]).await;
    assert!(
        !text(&status).contains("fetch under way"),
        "the kept pages are dropped once the fetch is complete: {}",
        text(&status)
    );

    let list = orgsync(&config, &["users", "list", "--json"]).await;
    assert!(list.status.success(), "{}", text(&list));
    let users: Vec<Value> = serde_json::from_slice(&list.stdout).expect("JSON");
    let active: BTreeSet<String> = users
        .iter()
        .filter(|u| u["state"] == "active")
        .filter_map(|u| u["provider_user_id"].as_str().map(String::from))
        .collect();
    assert_eq!(
        active,
        expected_admitted(&world, "acme", &FetchPolicy::default()).expect("truth")
    );
}

/// The daemon does not wait for the next scheduled instant (here once a year) to continue a
/// fetch that was cut: it starts the continuing run when the window frees (or at once when the
/// run's deadline cut a fetch that was still making progress), run after run, until the fetch
/// is complete and applied; the cut runs are recorded `continuing`, not failed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_continues_a_cut_fetch_when_the_window_frees_not_at_the_next_schedule() {
    let server = bitbucket(SIZE, 40).await;
    let dir = tempfile::tempdir().expect("temp dir");
    // The client's own hourly count is no limit here: the simulator's 2 s window answers 429
    // and the deadline (3 s) cuts the fetch while it waits.
    let config = write_config(
        &server,
        dir.path(),
        "[daemon]\nschedule = \"0 0 1 1 *\"\ntimezone = \"UTC\"\nlisten = \"127.0.0.1:0\"\nrun_on_start = true\nrun_deadline_seconds = 3\n",
        10_000,
    );
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .env_remove("ORGSYNC_CONFIG")
        .env_remove("NOTIFY_SOCKET")
        .arg("--config")
        .arg(&config)
        .arg("run")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("daemon.log")).expect("log file"))
        .spawn()
        .expect("orgsync run starts");
    let url = format!("sqlite://{}", dir.path().join("orgsync.db").display());
    let mut store = None;
    let end = std::time::Instant::now() + Duration::from_secs(120);
    let runs = loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if store.is_none() {
            store = orgsync::directory::Store::open(&url).await.ok();
        }
        let Some(store) = &store else { continue };
        let runs = store
            .recent_runs(Some("big"), 100)
            .await
            .unwrap_or_default();
        if runs.iter().any(|r| r.outcome == "ok") {
            break runs;
        }
        if std::time::Instant::now() > end {
            let _ = daemon.kill();
            let log = std::fs::read_to_string(dir.path().join("daemon.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            panic!(
                "no applied run within 120 s: {runs:?}\nlog (newest first):\n{}",
                tail.join("\n")
            );
        }
    };
    let _ = daemon.kill();
    let _ = daemon.wait();
    // Newest first: the applied run, then the cut ones back to the start.
    let outcomes: Vec<(&str, &str)> = runs
        .iter()
        .map(|r| (r.trigger.as_str(), r.outcome.as_str()))
        .collect();
    assert!(
        outcomes.len() >= 2,
        "the fetch needed several windows: {outcomes:?}"
    );
    assert_eq!(outcomes[0], ("continue", "ok"), "{outcomes:?}");
    assert_eq!(
        outcomes.last(),
        Some(&("start", "continuing")),
        "{outcomes:?}"
    );
    assert!(
        outcomes[1..]
            .iter()
            .all(|(trigger, outcome)| *outcome == "continuing" && *trigger != "schedule"),
        "{outcomes:?}"
    );
}
