//! End to end: the real `orgsync` binary syncs a simulated GitLab group (the hand-written edge
//! cases) into a SQLite directory, then `orgsync users list --json` shows exactly the people the
//! admission rule allows, with GitLab roles mapped, subgroup teams and stable ids; a member
//! removed on GitLab is offboarded by the next sync.

use orgsync_simulator::gitlab::{GitlabMutation, GitlabServer};
use orgsync_simulator::scenario::Scenario;
use orgsync_simulator::server::ServerOptions;
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn orgsync(config: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .env_remove("ORGSYNC_CONFIG")
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("orgsync runs")
}

async fn run(config: &Path, args: &'static [&'static str]) -> std::process::Output {
    let config = config.to_path_buf();
    tokio::task::spawn_blocking(move || orgsync(&config, args))
        .await
        .expect("join")
}

/// login -> (state, role, teams) of the workspace's users.
fn users(out: &std::process::Output) -> BTreeMap<String, (String, String, Vec<String>, String)> {
    assert!(
        out.status.success(),
        "users list failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).expect("users list --json is JSON");
    list.iter()
        .filter(|u| u["workspace"] == "platform")
        .map(|u| {
            let teams = u["teams"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            (
                u["login"].as_str().unwrap_or_default().to_string(),
                (
                    u["state"].as_str().unwrap_or_default().to_string(),
                    u["role"].as_str().unwrap_or_default().to_string(),
                    teams,
                    u["provider_user_id"]
                        .as_str()
                        .map_or_else(|| u["provider_user_id"].to_string(), String::from),
                ),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orgsync_sync_admits_exactly_who_reads_every_gitlab_project() {
    let scenario = Scenario::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/providers/simulator/scenarios/gitlab-edge-cases.toml"
    ))
    .expect("scenario");
    let server = GitlabServer::start(scenario, ServerOptions::default())
        .await
        .expect("simulated GitLab");
    let dir = tempfile::tempdir().expect("temp dir");
    let token = dir.path().join("gitlab-token");
    std::fs::write(&token, server.token()).expect("token file");
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let config = dir.path().join("orgsync.toml");
    std::fs::write(
        &config,
        format!(
            r#"[directory]
url = "sqlite://{db}"

[[workspace]]
name = "platform"
provider = "gitlab"
group = "acme"
api_url = "{api}"
token_file = "{token}"
exclude_repositories = ["sandbox-*"]
"#,
            db = dir.path().join("orgsync.db").display(),
            api = server.base_url(),
            token = token.display(),
        ),
    )
    .expect("config");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).expect("chmod");

    let check = run(&config, &["check-config", "--online"]).await;
    let check_text = String::from_utf8_lossy(&check.stdout).to_string()
        + &String::from_utf8_lossy(&check.stderr);
    assert_eq!(check.status.code(), Some(0), "{check_text}");
    assert!(check_text.contains("token scopes: api"), "{check_text}");
    assert!(!check_text.contains(server.token()), "{check_text}");

    let sync = run(&config, &["sync"]).await;
    assert!(
        sync.status.success(),
        "sync failed: {}\n{}",
        String::from_utf8_lossy(&sync.stdout),
        String::from_utf8_lossy(&sync.stderr)
    );
    assert!(!String::from_utf8_lossy(&sync.stderr).contains(server.token()));

    let people = users(&run(&config, &["users", "list", "--json"]).await);
    let active: Vec<&str> = people
        .iter()
        .filter(|(_, (state, ..))| state == "active")
        .map(|(login, _)| login.as_str())
        .collect();
    // Owners and Reporters+ of acme (oscar's membership expires only in 2031), leo through the
    // partners group, erin through project memberships on every project in scope.
    assert_eq!(
        active,
        vec!["alice", "bob", "carol", "erin", "leo", "oscar"]
    );
    assert_eq!(people["alice"].1, "admin", "GitLab owner maps to admin");
    assert_eq!(people["leo"].1, "member", "reporter maps to member");
    assert_eq!(people["alice"].3, "1", "keyed by GitLab user id");
    assert!(
        people["bob"].2.contains(&"backend".to_string()),
        "{:?}",
        people["bob"]
    );
    assert!(
        people["carol"].2.contains(&"backend/api".to_string()),
        "{:?}",
        people["carol"]
    );
    for never in [
        "dave",
        "frank",
        "gina",
        "hank",
        "ivan",
        "judy",
        "kim",
        "mia",
        "nina",
        "group_1_bot_abc123",
    ] {
        assert!(!people.contains_key(never), "{never} must not be onboarded");
    }

    server
        .mutate(GitlabMutation::RemoveGroupMember { group: 1, user: 2 })
        .await
        .expect("remove bob");
    let again = run(&config, &["sync"]).await;
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let people = users(&run(&config, &["users", "list", "--json"]).await);
    assert_eq!(people["bob"].0, "offboarded", "bob left the group");
    assert_eq!(people["carol"].0, "active");
}
