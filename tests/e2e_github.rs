//! End to end: the real `orgsync` binary syncs a simulated GitHub organisation (the hand-written
//! edge cases) into a SQLite directory, once with a token and once as a GitHub App, then
//! `orgsync users list --json` shows exactly the people the admission rule allows, keyed by
//! GitHub's numeric ids, with roles and teams; a renamed login keeps its user, and a member
//! removed on GitHub is offboarded by the next sync.

use orgsync_simulator::github::{GithubServer, Mutation};
use orgsync_simulator::scenario::{Scenario, TEST_APP_PRIVATE_KEY_PEM};
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

#[derive(Debug, Clone, PartialEq)]
struct Person {
    state: String,
    role: String,
    teams: Vec<String>,
    provider_user_id: String,
    user_id: String,
}

/// login -> person, for one workspace.
fn users(out: &std::process::Output, workspace: &str) -> BTreeMap<String, Person> {
    assert!(
        out.status.success(),
        "users list failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).expect("users list --json is JSON");
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), String::from);
    list.iter()
        .filter(|u| u["workspace"] == workspace)
        .map(|u| {
            let mut teams: Vec<String> = u["teams"]
                .as_array()
                .map(|t| {
                    t.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            teams.sort();
            (
                text(&u["login"]),
                Person {
                    state: text(&u["state"]),
                    role: text(&u["role"]),
                    teams,
                    provider_user_id: text(&u["provider_user_id"]),
                    user_id: text(&u["user_id"]),
                },
            )
        })
        .collect()
}

fn active(people: &BTreeMap<String, Person>) -> Vec<&str> {
    people
        .iter()
        .filter(|(_, p)| p.state == "active")
        .map(|(login, _)| login.as_str())
        .collect()
}

fn private_file(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orgsync_sync_admits_exactly_who_reads_every_github_repository() {
    let scenario = Scenario::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/providers/simulator/scenarios/github-edge-cases.toml"
    ))
    .expect("scenario");
    let server = GithubServer::start(scenario, ServerOptions::default())
        .await
        .expect("simulated GitHub");
    let dir = tempfile::tempdir().expect("temp dir");
    let token = dir.path().join("github-token");
    private_file(&token, server.token());
    let key = dir.path().join("app.pem");
    private_file(&key, TEST_APP_PRIVATE_KEY_PEM);
    let config = dir.path().join("orgsync.toml");
    // The token workspace talks to the github.com-style root, the App one to the Enterprise
    // Server root (`/api/v3`), so both paths are exercised by the real binary.
    private_file(
        &config,
        &format!(
            r#"[directory]
url = "sqlite://{db}"

[[workspace]]
name = "acme"
provider = "github"
organization = "acme"
api_url = "{api}"
token_file = "{token}"
exclude_archived = true
exclude_repositories = ["sandbox-*"]
exclude_members = ["renovate-*"]

[[workspace]]
name = "acme-app"
provider = "github"
organization = "acme"
api_url = "{ghes}"
app_id = 4242
installation_id = 7070
private_key_file = "{key}"
exclude_archived = true
exclude_repositories = ["sandbox-*"]
exclude_members = ["renovate-*"]
"#,
            db = dir.path().join("orgsync.db").display(),
            api = server.base_url(),
            ghes = server.ghes_base_url(),
            token = token.display(),
            key = key.display(),
        ),
    );

    let check = run(&config, &["check-config", "--online"]).await;
    let check_text = String::from_utf8_lossy(&check.stdout).to_string()
        + &String::from_utf8_lossy(&check.stderr);
    assert_eq!(check.status.code(), Some(0), "{check_text}");
    assert!(check_text.contains("reads collaborators"), "{check_text}");
    assert!(!check_text.contains(server.token()), "{check_text}");

    let sync = run(&config, &["sync"]).await;
    let sync_text =
        String::from_utf8_lossy(&sync.stdout).to_string() + &String::from_utf8_lossy(&sync.stderr);
    assert!(sync.status.success(), "sync failed: {sync_text}");
    assert!(!sync_text.contains(server.token()), "{sync_text}");
    assert!(!sync_text.contains("PRIVATE KEY"), "{sync_text}");

    let listing = run(&config, &["users", "list", "--json"]).await;
    let people = users(&listing, "acme");
    // In scope: api, web, secret, handbook (public). alice owns the org; gina reads api and web
    // through backend's parent team, secret directly, handbook as public. bob lacks secret,
    // carol has only web, erin is suspended, dave is still pending, frank is an outside
    // collaborator, and the bot is excluded.
    assert_eq!(active(&people), vec!["alice", "gina"]);
    assert_eq!(people["alice"].role, "admin", "GitHub owner maps to admin");
    assert_eq!(people["gina"].role, "member");
    assert_eq!(
        people["alice"].provider_user_id, "1",
        "keyed by GitHub user id"
    );
    assert_eq!(people["gina"].provider_user_id, "8");
    assert!(
        people["gina"].teams.contains(&"backend".to_string()),
        "{:?}",
        people["gina"]
    );
    for never in ["bob", "carol", "dave", "erin", "frank", "renovate-bot"] {
        assert!(
            people.get(never).is_none_or(|p| p.state != "active"),
            "{never} must not be active"
        );
    }
    // The App workspace (Enterprise Server root) sees the same organisation the same way.
    let by_app = users(&listing, "acme-app");
    assert_eq!(active(&by_app), vec!["alice", "gina"]);

    // A renamed login is the same person; a removed member is offboarded.
    server
        .mutate(Mutation::RenameLogin {
            login: "gina".into(),
            new_login: "gina-new".into(),
        })
        .await
        .expect("rename gina");
    let again = run(&config, &["sync", "--workspace", "acme"]).await;
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let renamed = users(&run(&config, &["users", "list", "--json"]).await, "acme");
    let gina = renamed.get("gina-new").expect("gina under her new login");
    assert_eq!(gina.state, "active");
    assert_eq!(gina.user_id, people["gina"].user_id, "same directory user");
    assert_eq!(gina.provider_user_id, "8");

    server
        .mutate(Mutation::RemoveMember {
            org: "acme".into(),
            login: "gina-new".into(),
        })
        .await
        .expect("remove gina");
    let last = run(&config, &["sync", "--workspace", "acme"]).await;
    assert!(
        last.status.success(),
        "{}",
        String::from_utf8_lossy(&last.stderr)
    );
    let after = users(&run(&config, &["users", "list", "--json"]).await, "acme");
    assert_eq!(
        after["gina-new"].state, "offboarded",
        "gina left the organisation"
    );
    assert_eq!(after["alice"].state, "active");
}
