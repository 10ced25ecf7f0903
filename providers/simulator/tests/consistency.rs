//! The server exposes enough for a client to reach the ground truth: a deliberately naive client
//! (members, repositories, per-repository collaborators, user profiles for suspension) computes
//! the admitted set over HTTP and must agree with `expected_admitted`, which never looks at the
//! server. A disagreement means the server's views and the truth's rules have drifted apart.

use orgsync_core::{FetchPolicy, RepositoryScope};
use orgsync_simulator::github::GithubServer;
use orgsync_simulator::scenario::{Scenario, SyntheticSize};
use orgsync_simulator::server::ServerOptions;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

async fn all_pages(client: &reqwest::Client, token: &str, first: String) -> Vec<Value> {
    let mut out = Vec::new();
    let mut next = Some(first);
    while let Some(url) = next.take() {
        let response = client
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        assert!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
        next = response
            .headers()
            .get("link")
            .and_then(|l| l.to_str().ok())
            .and_then(|l| {
                l.split(", ")
                    .find(|part| part.ends_with("rel=\"next\""))
                    .and_then(|part| part.split(['<', '>']).nth(1))
                    .map(str::to_string)
            });
        let page: Vec<Value> = response.json().await.expect("json array");
        out.extend(page);
    }
    out
}

async fn admitted_over_http(
    server: &GithubServer,
    org: &str,
    policy: &FetchPolicy,
) -> BTreeSet<String> {
    let client = reqwest::Client::new();
    let token = server.token();
    let base = server.base_url();
    let members = all_pages(
        &client,
        token,
        format!("{base}/orgs/{org}/members?per_page=100"),
    )
    .await;
    let owners: BTreeSet<u64> = all_pages(
        &client,
        token,
        format!("{base}/orgs/{org}/members?role=admin&per_page=100"),
    )
    .await
    .iter()
    .map(|u| u["id"].as_u64().expect("id"))
    .collect();
    let org_json: Value = client
        .get(format!("{base}/orgs/{org}"))
        .bearer_auth(token)
        .send()
        .await
        .expect("org")
        .json()
        .await
        .expect("json");
    let base_reads = org_json["default_repository_permission"] != "none";
    let repos = all_pages(
        &client,
        token,
        format!("{base}/orgs/{org}/repos?per_page=100"),
    )
    .await;
    let mut readers: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    let mut in_scope = Vec::new();
    for r in &repos {
        let core = orgsync_core::Repository {
            id: r["id"].to_string(),
            name: r["name"].as_str().expect("name").to_string(),
            archived: r["archived"].as_bool().expect("archived"),
            fork: r["fork"].as_bool().expect("fork"),
            visibility: match r["visibility"].as_str().expect("visibility") {
                "public" => orgsync_core::Visibility::Public,
                "internal" => orgsync_core::Visibility::Internal,
                _ => orgsync_core::Visibility::Private,
            },
        };
        if !policy.scope.includes(&core) {
            continue;
        }
        in_scope.push(core.clone());
        if core.visibility != orgsync_core::Visibility::Private {
            continue;
        }
        let collaborators = all_pages(
            &client,
            token,
            format!(
                "{base}/repos/{org}/{}/collaborators?per_page=100",
                core.name
            ),
        )
        .await;
        readers.insert(
            core.name.clone(),
            collaborators
                .iter()
                .filter(|c| c["permissions"]["pull"] == true)
                .map(|c| c["id"].as_u64().expect("id"))
                .collect(),
        );
    }
    let mut admitted = BTreeSet::new();
    for m in &members {
        let id = m["id"].as_u64().expect("id");
        let login = m["login"].as_str().expect("login");
        if policy.exclude_members.matching(login).is_some() {
            continue;
        }
        let profile: Value = client
            .get(format!("{base}/users/{login}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("user")
            .json()
            .await
            .expect("json");
        if !profile["suspended_at"].is_null() {
            continue;
        }
        let reads_all = owners.contains(&id)
            || base_reads
            || in_scope.iter().all(|r| {
                r.visibility != orgsync_core::Visibility::Private
                    || readers.get(&r.name).is_some_and(|set| set.contains(&id))
            });
        if reads_all {
            admitted.insert(id.to_string());
        }
    }
    admitted
}

#[tokio::test]
async fn naive_http_client_agrees_with_ground_truth_on_synthetic_orgs() {
    for seed in [1, 2] {
        let scenario = Scenario::synthetic(
            seed,
            SyntheticSize {
                members: 120,
                repos: 25,
                teams: 9,
            },
        );
        let server = GithubServer::start(scenario.clone(), ServerOptions::default())
            .await
            .expect("server");
        for policy in [
            FetchPolicy::default(),
            FetchPolicy {
                scope: RepositoryScope::new(true, true, &["secret-*".to_string()]).expect("globs"),
                ..FetchPolicy::default()
            },
        ] {
            let truth = scenario.expected_admitted(&policy).expect("org");
            let seen = admitted_over_http(&server, "acme", &policy).await;
            assert_eq!(seen, truth, "seed {seed}");
        }
    }
}

#[tokio::test]
async fn naive_http_client_agrees_with_ground_truth_on_the_edge_cases() {
    let scenario = Scenario::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/github-edge-cases.toml"
    ))
    .expect("scenario");
    let server = GithubServer::start(scenario.clone(), ServerOptions::default())
        .await
        .expect("server");
    let policy = FetchPolicy {
        scope: RepositoryScope::new(true, false, &["sandbox-*".to_string()]).expect("globs"),
        ..FetchPolicy::default()
    };
    let truth = scenario.expected_admitted(&policy).expect("org");
    assert_eq!(admitted_over_http(&server, "acme", &policy).await, truth);
}
