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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_larger_than_the_allowance_continues_run_after_run_and_applies_the_ground_truth() {
    let size = BitbucketSize {
        members: 150,
        repos: 60,
        groups: 5,
    };
    let server = BitbucketServer::start(
        Scenario::synthetic_bitbucket(7, size),
        ServerOptions {
            rate_limit: 40,
            rate_window: Duration::from_secs(2),
            ..ServerOptions::default()
        },
    )
    .await
    .expect("simulated Bitbucket");
    let world = server.scenario().bitbucket.expect("world");
    let (email, token) = server.credential();
    let dir = tempfile::tempdir().expect("temp dir");
    let token_path = dir.path().join("bitbucket-token");
    std::fs::write(&token_path, token).expect("token file");
    std::fs::set_permissions(&token_path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let config: PathBuf = dir.path().join("orgsync.toml");
    std::fs::write(
        &config,
        format!(
            r#"[directory]
url = "sqlite://{db}"

[daemon]
run_deadline_seconds = 4

[[workspace]]
name = "big"
provider = "bitbucket"
workspace = "acme"
api_url = "{api}"
username = "{email}"
token_file = "{token}"
requests_per_hour = 40
"#,
            db = dir.path().join("orgsync.db").display(),
            api = server.base_url(),
            email = email.expect("an API token"),
            token = token_path.display(),
        ),
    )
    .expect("config");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).expect("chmod");

    let mut cut = 0;
    loop {
        let sync = orgsync(&config, &["sync"]).await;
        if sync.status.success() {
            break;
        }
        cut += 1;
        assert!(
            text(&sync).contains("the fetch continues in the next run"),
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
