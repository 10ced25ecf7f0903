//! A benchmark-sized organisation generates, evaluates and serves without trouble (no timing
//! assertion: a run that became quadratic shows up as a slow test, not a flaky one).

use orgsync_core::FetchPolicy;
use orgsync_simulator::github::GithubServer;
use orgsync_simulator::scenario::{Scenario, SyntheticSize};
use orgsync_simulator::server::ServerOptions;

#[tokio::test]
async fn five_thousand_members_generate_evaluate_and_serve() {
    let scenario = Scenario::synthetic(
        11,
        SyntheticSize {
            members: 5000,
            repos: 800,
            teams: 120,
        },
    );
    let admitted = scenario
        .expected_admitted(&FetchPolicy::default())
        .expect("org");
    // Owners (3 %) at least; far from everyone.
    assert!(
        admitted.len() >= 150 && admitted.len() < 2500,
        "{}",
        admitted.len()
    );
    assert_eq!(scenario.expected_teams().expect("org").len(), 120);

    let server = GithubServer::start(scenario, ServerOptions::default())
        .await
        .expect("server");
    let client = reqwest::Client::new();
    let response = client
        .get(format!(
            "{}/orgs/acme/members?per_page=100&page=49",
            server.base_url()
        ))
        .bearer_auth(server.token())
        .send()
        .await
        .expect("request");
    let link = response.headers()["link"]
        .to_str()
        .expect("ascii")
        .to_string();
    // 4,900 active members (2 % are pending): page 49 is the last, and full.
    assert!(
        link.contains("rel=\"prev\"") && !link.contains("rel=\"next\""),
        "{link}"
    );
    let page: Vec<serde_json::Value> = response.json().await.expect("json");
    assert_eq!(page.len(), 100);
    let collaborators: Vec<serde_json::Value> = client
        .get(format!(
            "{}/repos/acme/repo-0000/collaborators?per_page=100",
            server.base_url()
        ))
        .bearer_auth(server.token())
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(collaborators.len(), 100, "{:?}", collaborators.first());
}
