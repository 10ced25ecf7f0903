//! Decide only on a complete view, Bitbucket: the real `orgsync` binary against the simulator.
//! A member's credential (not a workspace administrator's) fails the run and applies nothing; a
//! member leaving between two pages of the member list changes only that member (the person
//! the offset shift hid is contradicted by the per-user read and kept). Groups come from the
//! 1.0 API in one unpaged answer, so a group list cannot shift between pages. About 8 s.

use orgsync_simulator::bitbucket::{BitbucketMutation, BitbucketServer};
use orgsync_simulator::scenario::{
    BitbucketMember, BitbucketRepo, BitbucketToken, BitbucketUser, Scenario, WorkspaceRole,
};
use orgsync_simulator::server::ServerOptions;
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BOB: &str = "{00000000-0000-4000-8000-000000000003}";

fn orgsync(config: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .env_remove("ORGSYNC_CONFIG")
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("orgsync runs")
}

async fn run(config: &Path, args: &'static [&'static str]) -> Output {
    let config = config.to_path_buf();
    tokio::task::spawn_blocking(move || orgsync(&config, args))
        .await
        .expect("join")
}

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

/// provider user id -> state.
async fn people(config: &Path) -> BTreeMap<String, String> {
    let out = run(config, &["users", "list", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    list.iter()
        .map(|u| {
            (
                u["provider_user_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                u["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn uuid(i: usize) -> String {
    format!("{{60000000-0000-4000-8000-{i:012}}}")
}

/// The edge cases plus 150 members (m000…m149) after the edge's nine: the member list spans two
/// pages, and m091 is the first row of page 2. Alice gets a member's token.
fn two_pages() -> Scenario {
    let mut scenario = Scenario::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/providers/simulator/scenarios/bitbucket-edge-cases.toml"
    ))
    .expect("scenario");
    let bb = scenario.bitbucket.as_mut().expect("bitbucket");
    for i in 0..150 {
        bb.users.push(BitbucketUser {
            uuid: uuid(i),
            account_id: format!("557058:m{i:03}"),
            display_name: format!("M {i}"),
            nickname: format!("m{i:03}"),
            email: None,
        });
        bb.workspaces[0].members.push(BitbucketMember {
            user: uuid(i),
            role: WorkspaceRole::Member,
        });
    }
    let mut token = BitbucketToken::api_token("alice@acme.example", "alice-member-token");
    token.user = Some("{00000000-0000-4000-8000-000000000002}".to_string());
    bb.tokens.push(token);
    scenario
}

struct Setup {
    _dir: tempfile::TempDir,
    config: PathBuf,
}

fn setup(server: &BitbucketServer, email: &str, token: &str) -> Setup {
    let dir = tempfile::tempdir().expect("temp dir");
    let token_path = dir.path().join("bitbucket-token");
    std::fs::write(&token_path, token).expect("token file");
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
admit = "all-members"
exclude_members = ["*-bot"]
"#,
            db = dir.path().join("orgsync.db").display(),
            api = server.base_url(),
            token = token_path.display(),
        ),
    )
    .expect("config");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    Setup { _dir: dir, config }
}

async fn start() -> BitbucketServer {
    BitbucketServer::start(two_pages(), ServerOptions::default())
        .await
        .expect("simulated Bitbucket")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_credential_fails_the_run_and_applies_nothing() {
    let server = start().await;
    let (email, token) = server.credential();
    let admin = setup(&server, email.expect("email"), token);
    let first = run(&admin.config, &["sync"]).await;
    assert!(first.status.success(), "{}", text(&first));
    let before = people(&admin.config).await;

    // The same directory, read with alice's token: she is a member, not an administrator.
    let config = std::fs::read_to_string(&admin.config).expect("config");
    let token_line = config
        .lines()
        .find(|l| l.starts_with("token_file"))
        .expect("token_file")
        .to_string();
    let member_token = admin.config.with_file_name("member-token");
    std::fs::write(&member_token, "alice-member-token").expect("token");
    std::fs::set_permissions(&member_token, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let config = config
        .replace(
            &token_line,
            &format!("token_file = \"{}\"", member_token.display()),
        )
        .replace(email.expect("email"), "alice@acme.example");
    std::fs::write(&admin.config, config).expect("config");
    server
        .mutate(BitbucketMutation::RemoveMember {
            workspace: "acme".to_string(),
            user: BOB.to_string(),
        })
        .await
        .expect("bob leaves");

    let check = run(&admin.config, &["check-config", "--online"]).await;
    assert_ne!(check.status.code(), Some(0), "{}", text(&check));
    assert!(
        text(&check).contains("workspace administrator"),
        "{}",
        text(&check)
    );
    let sync = run(&admin.config, &["sync"]).await;
    assert_ne!(sync.status.code(), Some(0), "{}", text(&sync));
    let message = text(&sync);
    assert!(message.contains("workspace administrator"), "{message}");
    assert!(!message.contains("alice-member-token"), "{message}");
    assert_eq!(people(&admin.config).await, before, "nothing applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_leaving_between_two_pages_changes_only_that_member() {
    let server = start().await;
    let (email, token) = server.credential();
    let s = setup(&server, email.expect("email"), token);
    let first = run(&s.config, &["sync"]).await;
    assert!(first.status.success(), "{}", text(&first));
    let before = people(&s.config).await;
    assert_eq!(before[&uuid(91)], "active");

    // bob (third) leaves after page 1 was read: m091 moves onto page 1 and is never listed.
    server.on_page(
        "/2.0/workspaces/acme/members",
        1,
        BitbucketMutation::RemoveMember {
            workspace: "acme".to_string(),
            user: BOB.to_string(),
        },
    );
    let during = run(&s.config, &["sync"]).await;
    assert!(during.status.success(), "{}", text(&during));
    let fired = server.handle().page_hooks_fired();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert_eq!(fired[0].result, Ok(()));
    assert_eq!(
        people(&s.config).await,
        before,
        "nobody changes on a list that hid them"
    );

    let next = run(&s.config, &["sync"]).await;
    assert!(next.status.success(), "{}", text(&next));
    let after = people(&s.config).await;
    for (id, state) in &before {
        if id == BOB {
            assert_eq!(after[id], "offboarded");
        } else {
            assert_eq!(&after[id], state, "{id}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_list_that_keeps_moving_fails_the_run_and_applies_nothing() {
    // 110 more repositories: the repository list spans two pages.
    let mut scenario = two_pages();
    let w = &mut scenario.bitbucket.as_mut().expect("bitbucket").workspaces[0];
    for i in 0..110 {
        w.repositories.push(BitbucketRepo {
            uuid: format!("{{70000000-0000-4000-8000-{i:012}}}"),
            slug: format!("r{i:03}"),
            name: None,
            is_private: true,
            project: w.projects[0].key.clone(),
            parent: None,
            users: Vec::new(),
            groups: Vec::new(),
        });
    }
    let server = BitbucketServer::start(scenario, ServerOptions::default())
        .await
        .expect("simulated Bitbucket");
    let (email, token) = server.credential();
    let s = setup(&server, email.expect("email"), token);
    let first = run(&s.config, &["sync"]).await;
    assert!(first.status.success(), "{}", text(&first));
    let before = people(&s.config).await;

    // bob leaves, and the repository list moves during both readings: nothing is decided.
    server
        .mutate(BitbucketMutation::RemoveMember {
            workspace: "acme".to_string(),
            user: BOB.to_string(),
        })
        .await
        .expect("bob leaves");
    for slug in ["r000", "r001"] {
        server.on_page(
            "/2.0/repositories/acme?*pagelen=100*",
            1,
            BitbucketMutation::DeleteRepository {
                workspace: "acme".to_string(),
                slug: slug.to_string(),
            },
        );
    }
    let sync = run(&s.config, &["sync"]).await;
    assert_ne!(sync.status.code(), Some(0), "{}", text(&sync));
    assert!(
        text(&sync).contains("changed while it was read, twice"),
        "{}",
        text(&sync)
    );
    assert_eq!(server.handle().page_hooks_fired().len(), 2);
    assert_eq!(people(&s.config).await, before, "nothing applied");
}
