//! Decide only on a complete view, GitLab: the real `orgsync` binary against the simulator.
//! A token that sees part of the group fails the run and applies nothing; a member leaving
//! between two pages of the member list, or of a team's list, changes only that member (the
//! person the offset shift hid is contradicted by GitLab's per-user read and kept).
//! About 10 s.

use orgsync_simulator::gitlab::{GitlabMutation, GitlabServer};
use orgsync_simulator::scenario::{GitlabMember, GitlabProject, GitlabToken, GitlabUser, Scenario};
use orgsync_simulator::server::ServerOptions;
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

/// login -> (state, teams).
async fn people(config: &Path) -> BTreeMap<String, (String, Vec<String>)> {
    let out = run(config, &["users", "list", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let list: Vec<Value> = serde_json::from_slice(&out.stdout).expect("JSON");
    list.iter()
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
                (u["state"].as_str().unwrap_or_default().to_string(), teams),
            )
        })
        .collect()
}

fn edge() -> Scenario {
    Scenario::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/providers/simulator/scenarios/gitlab-edge-cases.toml"
    ))
    .expect("scenario")
}

/// The edge cases plus 150 Reporters of acme (ids 200..349, `r200`…) who are also Developers
/// of backend: acme's member list and backend's team list both span two pages.
fn two_pages() -> Scenario {
    let mut scenario = edge();
    let gitlab = scenario.gitlab.as_mut().expect("gitlab");
    for id in 200..350u64 {
        gitlab.users.push(GitlabUser {
            id,
            username: format!("r{id}"),
            name: None,
            email: None,
            state: Default::default(),
            bot: false,
            admin: false,
            external: false,
        });
        let member = |access_level| GitlabMember {
            user: id,
            access_level,
            expires_at: None,
            state: Default::default(),
            member_role: None,
        };
        for g in &mut gitlab.groups {
            match g.id {
                1 => g.members.push(member(20)),
                2 => g.members.push(member(30)),
                _ => {}
            }
        }
    }
    gitlab.tokens.push(GitlabToken {
        token: "gina-token".to_string(),
        user: Some(7),
        scopes: Some(vec!["read_api".to_string()]),
        rate_limit: None,
        name: None,
    });
    scenario
}

struct Setup {
    _dir: tempfile::TempDir,
    config: PathBuf,
    token: PathBuf,
}

fn setup(server: &GitlabServer) -> Setup {
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
    Setup {
        _dir: dir,
        config,
        token,
    }
}

async fn sync_ok(config: &Path) -> String {
    let out = run(config, &["sync"]).await;
    assert!(out.status.success(), "sync failed: {}", text(&out));
    text(&out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_that_sees_part_of_the_group_fails_the_run_and_applies_nothing() {
    let server = GitlabServer::start(two_pages(), ServerOptions::default())
        .await
        .expect("simulated GitLab");
    let s = setup(&server);
    sync_ok(&s.config).await;
    let before = people(&s.config).await;
    assert_eq!(before["carol"].0, "active");

    // gina has Minimal Access: GitLab would show her token no project at all.
    std::fs::write(&s.token, "gina-token").expect("token file");
    let check = run(&s.config, &["check-config", "--online"]).await;
    assert_ne!(check.status.code(), Some(0), "{}", text(&check));
    assert!(text(&check).contains("Reporter (20)"), "{}", text(&check));
    // Meanwhile carol leaves: a sync that could not see the group must not act on it.
    server
        .mutate(GitlabMutation::RemoveGroupMember { group: 1, user: 3 })
        .await
        .expect("carol leaves");
    let sync = run(&s.config, &["sync"]).await;
    assert_ne!(sync.status.code(), Some(0), "{}", text(&sync));
    let message = text(&sync);
    assert!(message.contains("Reporter (20)"), "{message}");
    assert!(message.contains("Manage > Members"), "{message}");
    assert!(
        !message.contains("gina-token"),
        "secret in output: {message}"
    );
    assert_eq!(people(&s.config).await, before, "nothing applied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_leaving_between_two_pages_changes_only_that_member() {
    let server = GitlabServer::start(two_pages(), ServerOptions::default())
        .await
        .expect("simulated GitLab");
    let s = setup(&server);
    sync_ok(&s.config).await;
    let before = people(&s.config).await;
    assert_eq!(before["r286"].0, "active");
    assert!(before["r297"].1.contains(&"backend".to_string()));

    // Page 1 of acme's members ends with r285: carol (3) leaving after it moves r286 onto
    // page 1, so the list never shows r286. Page 1 of backend's direct members ends with r296:
    // bob (2) leaving backend moves r297 onto it.
    server.on_page(
        "/api/v4/groups/1/members/all",
        1,
        GitlabMutation::RemoveGroupMember { group: 1, user: 3 },
    );
    server.on_page(
        "/api/v4/groups/2/members",
        1,
        GitlabMutation::RemoveGroupMember { group: 2, user: 2 },
    );
    sync_ok(&s.config).await;
    let fired = server.handle().page_hooks_fired();
    assert_eq!(fired.len(), 2, "both hooks fired: {fired:?}");
    assert!(fired.iter().all(|h| h.result.is_ok()), "{fired:?}");
    let during = people(&s.config).await;
    for (login, (state, _)) in &before {
        assert_eq!(
            &during[login].0, state,
            "{login}: nobody changes on a list that hid them"
        );
    }
    assert!(
        during["r297"].1.contains(&"backend".to_string()),
        "r297 stays in backend"
    );

    // The next run reads the lists as they now are: exactly carol leaves, bob leaves backend.
    sync_ok(&s.config).await;
    let after = people(&s.config).await;
    for (login, (state, teams)) in &before {
        match login.as_str() {
            "carol" => assert_eq!(after[login].0, "offboarded"),
            "bob" => {
                assert_eq!(after[login].0, "active");
                assert!(!after[login].1.contains(&"backend".to_string()));
            }
            _ => {
                assert_eq!(&after[login].0, state, "{login}");
                assert_eq!(&after[login].1, teams, "{login}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_list_that_keeps_moving_fails_the_run_and_applies_nothing() {
    // 110 more projects in acme: the project list spans two pages.
    let mut scenario = two_pages();
    let gitlab = scenario.gitlab.as_mut().expect("gitlab");
    for id in 1000..1110u64 {
        gitlab.projects.push(GitlabProject {
            id,
            path: format!("p{id}"),
            name: format!("P{id}"),
            namespace: 1,
            visibility: orgsync_core::Visibility::Private,
            archived: false,
            fork: false,
            members: Vec::new(),
            shared_with: Vec::new(),
        });
    }
    let server = GitlabServer::start(scenario, ServerOptions::default())
        .await
        .expect("simulated GitLab");
    let s = setup(&server);
    sync_ok(&s.config).await;
    let before = people(&s.config).await;
    assert_eq!(before["carol"].0, "active");

    // carol leaves, and the project list moves during both of the run's readings of it (a
    // project deleted after page 1 of each): nothing may be decided, carol's departure
    // included.
    server
        .mutate(GitlabMutation::RemoveGroupMember { group: 1, user: 3 })
        .await
        .expect("carol leaves");
    for project in [1109, 1108] {
        server.on_page(
            "/api/v4/groups/*/projects?*per_page=100*",
            1,
            GitlabMutation::DestroyProject { project },
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

    // The next run reads a list that stands still and applies carol's departure.
    sync_ok(&s.config).await;
    assert_eq!(people(&s.config).await["carol"].0, "offboarded");
}
