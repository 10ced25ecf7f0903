//! Issue 16 on GitHub, end to end with the real binary: a credential that sees part of the
//! organisation fails the run and applies nothing; a member leaving between two pages of the
//! member list, or of a team's member list, changes only that member (the offset shift hides the
//! next person from the list, and the per-user confirmation keeps them).

use orgsync_core::TeamRole;
use orgsync_simulator::github::{GithubServer, Mutation};
use orgsync_simulator::scenario::{
    MembershipState, Scenario, SyntheticSize, TeamMembership, TokenSpec,
};
use orgsync_simulator::server::ServerOptions;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn private_file(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

async fn orgsync(config: &Path, args: &[&str]) -> (bool, String, Vec<u8>) {
    let config = config.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_orgsync"))
            .env_remove("ORGSYNC_CONFIG")
            .arg("--config")
            .arg(&config)
            .args(&args)
            .output()
            .expect("orgsync runs")
    })
    .await
    .expect("join");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text, out.stdout)
}

/// A config for one workspace `acme` on `server` with `token`, plus `extra` workspace lines.
fn config(dir: &Path, server: &GithubServer, token: &str, extra: &str) -> PathBuf {
    let token_file = dir.join("github-token");
    private_file(&token_file, token);
    let config = dir.join("orgsync.toml");
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
{extra}
"#,
            db = dir.join("orgsync.db").display(),
            api = server.base_url(),
            token = token_file.display(),
        ),
    );
    config
}

/// login -> (state, teams).
async fn people(config: &Path) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let (ok, text, stdout) = orgsync(config, &["users", "list", "--json"]).await;
    assert!(ok, "users list: {text}");
    let list: Vec<Value> = serde_json::from_slice(&stdout).expect("json");
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

fn active(people: &BTreeMap<String, (String, BTreeSet<String>)>) -> BTreeSet<String> {
    people
        .iter()
        .filter(|(_, (state, _))| state == "active")
        .map(|(login, _)| login.clone())
        .collect()
}

fn edge() -> Scenario {
    Scenario::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/providers/simulator/scenarios/github-edge-cases.toml"
    ))
    .expect("scenario")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_of_a_member_who_is_not_an_owner_fails_the_run_and_applies_nothing() {
    let mut scenario = edge();
    let github = scenario.github.as_mut().expect("github");
    github.tokens.push(TokenSpec {
        user: Some("bob".into()),
        ..TokenSpec::full("bobs-token")
    });
    let server = GithubServer::start(scenario, ServerOptions::default())
        .await
        .expect("simulated GitHub");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path(), &server, "bobs-token", "");

    let (ok, text, _) = orgsync(&config, &["sync", "--workspace", "acme"]).await;
    assert!(!ok, "a sync on a member's view must fail: {text}");
    assert!(
        text.contains("bob is a member of acme, not an owner"),
        "{text}"
    );
    assert!(text.contains("Role Owner"), "says how to grant it: {text}");
    assert!(!text.contains("bobs-token"), "{text}");
    assert!(active(&people(&config).await).is_empty(), "nothing applied");

    // check-config --online says the same.
    let (_, check, _) = orgsync(&config, &["check-config", "--online"]).await;
    assert!(
        check.contains("bob is a member of acme, not an owner"),
        "{check}"
    );
}

/// 250 members, few repositories, two teams; everyone active reads everything (admit
/// all-members), so the only changes between syncs are the ones a test makes.
fn paged_world() -> Scenario {
    let mut scenario = Scenario::synthetic(
        5,
        SyntheticSize {
            members: 250,
            repos: 6,
            teams: 2,
        },
    );
    let org = &mut scenario.github.as_mut().expect("github").orgs[0];
    // all-readers gets the first 150 active members, so its member list has two pages.
    let active: Vec<u64> = org
        .members
        .iter()
        .filter(|m| m.state == MembershipState::Active)
        .map(|m| m.user)
        .take(150)
        .collect();
    org.teams[0].members = active
        .into_iter()
        .map(|user| TeamMembership {
            user,
            role: TeamRole::Member,
        })
        .collect();
    scenario
}

fn login_of(server: &GithubServer, id: u64) -> String {
    server
        .scenario()
        .github
        .expect("github")
        .users
        .iter()
        .find(|u| u.id == id)
        .map(|u| u.login.clone())
        .expect("user")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_leaving_between_two_pages_of_the_member_list_changes_only_that_member() {
    let server = GithubServer::start(paged_world(), ServerOptions::default())
        .await
        .expect("simulated GitHub");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(
        dir.path(),
        &server,
        server.token(),
        "admit = \"all-members\"\nteams = \"off\"",
    );
    let (ok, text, _) = orgsync(&config, &["sync", "--workspace", "acme"]).await;
    assert!(ok, "{text}");
    let before = active(&people(&config).await);

    // The member list in the order GitHub pages it: the leaver is on page 1, so the first
    // member of page 2 moves up to page 1, which was already read.
    let world = server.scenario().github.expect("github");
    let listed: Vec<u64> = world.orgs[0]
        .members
        .iter()
        .filter(|m| m.state == MembershipState::Active)
        .map(|m| m.user)
        .collect();
    let leaver = login_of(&server, listed[10]);
    let hidden = login_of(&server, listed[100]);
    assert!(before.contains(&leaver) && before.contains(&hidden));
    // The full list (orgsync reads `?per_page=100&role=admin` first).
    server.on_page(
        "/orgs/acme/members?per_page=100",
        1,
        Mutation::RemoveMember {
            org: "acme".into(),
            login: leaver.clone(),
        },
    );
    // This sync read page 1 before the leave (the leaver is on it) and page 2 after it (the
    // hidden member moved up to page 1): the list says the hidden member left, and the
    // confirmation by id contradicts it, so nothing changes.
    let (ok, text, _) = orgsync(&config, &["sync", "--workspace", "acme"]).await;
    assert!(ok, "{text}");
    let fired = server.handle().page_hooks_fired();
    assert_eq!(fired.len(), 1, "the hook fired");
    assert_eq!(fired[0].result, Ok(()));
    assert_eq!(active(&people(&config).await), before, "nobody offboarded");
    // The next sync sees the leave, and only the leaver goes.
    let (ok, text, _) = orgsync(&config, &["sync", "--workspace", "acme"]).await;
    assert!(ok, "{text}");
    let after = active(&people(&config).await);
    let gone: Vec<&String> = before.difference(&after).collect();
    assert_eq!(gone, vec![&leaver], "only the leaver is offboarded");
    assert!(after.contains(&hidden), "{hidden} stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_leaving_a_team_between_two_pages_of_its_list_changes_only_that_member() {
    let server = GithubServer::start(paged_world(), ServerOptions::default())
        .await
        .expect("simulated GitHub");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(
        dir.path(),
        &server,
        server.token(),
        "admit = \"all-members\"\nteams = \"without-repositories\"",
    );
    let (ok, text, _) = orgsync(&config, &["sync", "--workspace", "acme"]).await;
    assert!(ok, "{text}");
    let before = people(&config).await;
    let in_team = |p: &BTreeMap<String, (String, BTreeSet<String>)>| -> BTreeSet<String> {
        p.iter()
            .filter(|(_, (_, teams))| teams.contains("all-readers"))
            .map(|(l, _)| l.clone())
            .collect()
    };
    let team_before = in_team(&before);
    assert!(team_before.len() > 100, "two pages: {}", team_before.len());

    // Team members are listed by id.
    let world = server.scenario().github.expect("github");
    let mut ids: Vec<u64> = world.orgs[0].teams[0]
        .members
        .iter()
        .map(|m| m.user)
        .collect();
    ids.sort_unstable();
    let leaver = login_of(&server, ids[10]);
    let hidden = login_of(&server, ids[100]);
    server.on_page(
        "/orgs/acme/teams/all-readers/members",
        1,
        Mutation::RemoveTeamMember {
            org: "acme".into(),
            team: "all-readers".into(),
            login: leaver.clone(),
        },
    );
    let (ok, text, _) = orgsync(&config, &["sync", "--workspace", "acme"]).await;
    assert!(ok, "{text}");
    let fired = server.handle().page_hooks_fired();
    assert_eq!(fired.len(), 1, "the hook fired");
    assert_eq!(fired[0].result, Ok(()));
    let during = people(&config).await;
    assert_eq!(
        in_team(&during),
        team_before,
        "the hidden member kept, nobody removed"
    );
    let (ok, text, _) = orgsync(&config, &["sync", "--workspace", "acme"]).await;
    assert!(ok, "{text}");
    let after = people(&config).await;
    let team_after = in_team(&after);
    let left: Vec<&String> = team_before.difference(&team_after).collect();
    assert_eq!(left, vec![&leaver], "only the leaver left the team");
    assert!(team_after.contains(&hidden), "{hidden} stays");
    assert_eq!(active(&before), active(&after), "nobody was offboarded");
}
