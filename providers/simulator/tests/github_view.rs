//! What each caller of the simulated GitHub sees, and the page hook that changes the world
//! between two pages of a list.

use orgsync_simulator::github::{GithubServer, Mutation};
use orgsync_simulator::scenario::{Scenario, SyntheticSize};
use orgsync_simulator::server::ServerOptions;
use serde_json::Value;

fn edge() -> Scenario {
    Scenario::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/github-edge-cases.toml"
    ))
    .expect("edge-case scenario loads")
}

async fn start(scenario: Scenario) -> GithubServer {
    GithubServer::start(scenario, ServerOptions::default())
        .await
        .expect("server starts")
}

async fn get_as(server: &GithubServer, base: &str, token: &str, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .get(format!("{base}{path}"))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("request completes");
    let status = response.status().as_u16();
    let _ = server;
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(server: &GithubServer, path: &str) -> (u16, Value) {
    get_as(server, &server.base_url(), server.token(), path).await
}

fn logins(body: &Value) -> Vec<String> {
    body.as_array()
        .expect("array")
        .iter()
        .map(|u| u["login"].as_str().expect("login").to_string())
        .collect()
}

fn synthetic() -> Scenario {
    Scenario::synthetic(
        3,
        SyntheticSize {
            members: 250,
            repos: 20,
            teams: 3,
        },
    )
}

fn org_of(server: &GithubServer) -> String {
    server.scenario().github.expect("github").orgs[0]
        .login
        .clone()
}

#[tokio::test]
async fn a_member_leaving_after_page_one_shifts_page_two() {
    let server = start(synthetic()).await;
    let org = org_of(&server);
    let path = format!("/orgs/{org}/members?per_page=100");
    let (_, before) = get(&server, &format!("{path}&page=1")).await;
    let (_, before2) = get(&server, &format!("{path}&page=2")).await;
    let first_of_page_two = logins(&before2)[0].clone();
    let leaver = logins(&before)[10].clone();

    server.on_page(
        &format!("/orgs/{org}/members"),
        1,
        Mutation::RemoveMember {
            org: org.clone(),
            login: leaver.clone(),
        },
    );
    let (_, page1) = get(&server, &format!("{path}&page=1")).await;
    assert!(
        logins(&page1).contains(&leaver),
        "page 1 was read before the change"
    );
    let (_, page2) = get(&server, &format!("{path}&page=2")).await;
    assert!(
        !logins(&page2).contains(&first_of_page_two),
        "{first_of_page_two} moved up to page 1, which was already read: the offset shift"
    );
    let fired = server.handle().page_hooks_fired();
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].result, Ok(()));
    assert_eq!(server.handle().page_hooks_pending(), 0);
}

#[tokio::test]
async fn a_hook_fires_once_and_only_after_its_page() {
    let server = start(synthetic()).await;
    let org = org_of(&server);
    server.on_page(
        &format!("/orgs/{org}/repos"),
        2,
        Mutation::DeleteRepository {
            org: org.clone(),
            repo: "does-not-exist".into(),
        },
    );
    get(&server, &format!("/orgs/{org}/repos?per_page=5&page=1")).await;
    get(&server, &format!("/orgs/{org}/members?per_page=5&page=2")).await;
    assert!(server.handle().page_hooks_fired().is_empty());
    // Under the Enterprise Server prefix too; a refused change is reported, not swallowed.
    get_as(
        &server,
        &server.ghes_base_url(),
        server.token(),
        &format!("/orgs/{org}/repos?per_page=5&page=2"),
    )
    .await;
    get(&server, &format!("/orgs/{org}/repos?per_page=5&page=2")).await;
    let fired = server.handle().page_hooks_fired();
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert!(fired[0].result.is_err(), "{fired:?}");
}

#[tokio::test]
async fn a_user_is_read_by_id_after_a_rename_and_404s_once_deleted() {
    let server = start(edge()).await;
    server
        .mutate(Mutation::RenameLogin {
            login: "bob".into(),
            new_login: "robert".into(),
        })
        .await
        .expect("rename");
    let (status, body) = get(&server, "/user/2").await;
    assert_eq!(status, 200);
    assert_eq!(body["login"], "robert");
    server
        .mutate(Mutation::DeleteUser {
            login: "robert".into(),
        })
        .await
        .expect("delete");
    assert_eq!(get(&server, "/user/2").await.0, 404);
    let (_, members) = get(&server, "/orgs/acme/members").await;
    assert!(!logins(&members).contains(&"robert".to_string()));
}
