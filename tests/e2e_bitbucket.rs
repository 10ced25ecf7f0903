//! End to end: the real `orgsync` binary syncs a simulated Bitbucket workspace (the hand-written
//! edge cases) into a SQLite directory, then `orgsync users list --json` shows exactly the
//! people the admission rule allows, keyed by Bitbucket uuid, with roles mapped and groups as
//! teams; a member who loses a grant is offboarded by the next sync.

use orgsync_simulator::bitbucket::{BitbucketMutation, BitbucketServer};
use orgsync_simulator::scenario::{GrantPermission, Scenario};
use orgsync_simulator::server::ServerOptions;
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const ERIN: &str = "{00000000-0000-4000-8000-000000000006}";

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

struct Person {
    state: String,
    role: String,
    teams: Vec<String>,
    provider_user_id: String,
}

/// login -> person, for the `mobile` workspace.
fn users(out: &std::process::Output) -> BTreeMap<String, Person> {
    assert!(
        out.status.success(),
        "users list failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).expect("users list --json is JSON");
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    list.iter()
        .filter(|u| u["workspace"] == "mobile")
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
                text(&u["login"]),
                Person {
                    state: text(&u["state"]),
                    role: text(&u["role"]),
                    teams,
                    provider_user_id: text(&u["provider_user_id"]),
                },
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orgsync_sync_admits_exactly_who_reads_every_bitbucket_repository() {
    let scenario = Scenario::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/providers/simulator/scenarios/bitbucket-edge-cases.toml"
    ))
    .expect("scenario");
    let server = BitbucketServer::start(scenario, ServerOptions::default())
        .await
        .expect("simulated Bitbucket");
    let (email, token) = server.credential();
    let email = email
        .expect("an API token with its account e-mail")
        .to_string();
    let token = token.to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let token_path = dir.path().join("bitbucket-token");
    std::fs::write(&token_path, &token).expect("token file");
    std::fs::set_permissions(&token_path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let config = dir.path().join("orgsync.toml");
    std::fs::write(
        &config,
        format!(
            r#"[directory]
url = "sqlite://{db}"

[[workspace]]
name = "mobile"
provider = "bitbucket"
workspace = "acme"
api_url = "{api}"
username = "{email}"
token_file = "{token}"
exclude_forks = true
exclude_members = ["*-bot"]
"#,
            db = dir.path().join("orgsync.db").display(),
            api = server.base_url(),
            token = token_path.display(),
        ),
    )
    .expect("config");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).expect("chmod");

    let check = run(&config, &["check-config", "--online"]).await;
    let check_text = String::from_utf8_lossy(&check.stdout).to_string()
        + &String::from_utf8_lossy(&check.stderr);
    assert_eq!(check.status.code(), Some(0), "{check_text}");
    assert!(
        check_text.contains("effective repository permissions: readable"),
        "{check_text}"
    );
    assert!(!check_text.contains(&token), "{check_text}");

    let sync = run(&config, &["sync"]).await;
    assert!(
        sync.status.success(),
        "sync failed: {}\n{}",
        String::from_utf8_lossy(&sync.stdout),
        String::from_utf8_lossy(&sync.stderr)
    );
    assert!(!String::from_utf8_lossy(&sync.stderr).contains(&token));

    let people = users(&run(&config, &["users", "list", "--json"]).await);
    let active: Vec<&str> = people
        .iter()
        .filter(|(_, p)| p.state == "active")
        .map(|(login, _)| login.as_str())
        .collect();
    // The fork is out of scope; erin reads app-web through developers despite her explicit
    // `none`, and sec-vault directly; bob, frank and gina cannot read sec-vault, dave reads
    // app-api only; the bot is excluded.
    assert_eq!(active, vec!["alice", "carol", "erin", "olga"]);
    assert_eq!(
        people["olga"].role, "admin",
        "Bitbucket owner maps to admin"
    );
    assert_eq!(people["alice"].role, "member");
    assert_eq!(
        people["erin"].provider_user_id, ERIN,
        "keyed by Bitbucket uuid"
    );
    let alice_teams = &people["alice"].teams;
    assert!(
        alice_teams.contains(&"developers".to_string())
            && alice_teams.contains(&"core".to_string()),
        "{alice_teams:?}"
    );
    for never in ["bob", "dave", "frank", "gina", "deploy-bot"] {
        assert!(!people.contains_key(never), "{never} must not be onboarded");
    }

    server
        .mutate(BitbucketMutation::GrantRepository {
            workspace: "acme".into(),
            repository: "sec-vault".into(),
            user: ERIN.into(),
            permission: GrantPermission::None,
        })
        .await
        .expect("take erin's sec-vault grant");
    let again = run(&config, &["sync"]).await;
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    let people = users(&run(&config, &["users", "list", "--json"]).await);
    assert_eq!(people["erin"].state, "offboarded", "erin lost sec-vault");
    assert_eq!(people["alice"].state, "active");
}
