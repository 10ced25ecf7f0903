//! Behaviour of the simulated GitHub: auth, pagination, budgets, 304s, faults, webhooks, App
//! tokens and the Enterprise Server prefix.

use axum::routing::post;
use orgsync_simulator::github::{GithubServer, Mutation};
use orgsync_simulator::scenario::{Scenario, SyntheticSize, TEST_APP_PRIVATE_KEY_PEM};
use orgsync_simulator::server::{
    FaultAction, FaultRule, FaultTimes, ServerOptions, WebhookTarget, hmac_sha256_hex,
};
use reqwest::StatusCode;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

async fn get(server: &GithubServer, token: &str, path: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!("{}{path}", server.base_url()))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .await
        .expect("request completes")
}

fn logins(body: &Value) -> Vec<String> {
    body.as_array()
        .expect("array")
        .iter()
        .map(|u| u["login"].as_str().expect("login").to_string())
        .collect()
}

#[tokio::test]
async fn bad_token_gets_githubs_401_body() {
    let server = start(edge()).await;
    let response = get(&server, "nope", "/orgs/acme/members").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body,
        serde_json::json!({"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"})
    );
}

#[tokio::test]
async fn members_list_active_members_with_role_filter() {
    let server = start(edge()).await;
    let body: Value = get(&server, "edge-token", "/orgs/acme/members")
        .await
        .json()
        .await
        .expect("json");
    // dave is pending; frank is an outside collaborator.
    assert_eq!(
        logins(&body),
        ["alice", "bob", "carol", "erin", "renovate-bot", "gina"]
    );
    let admins: Value = get(&server, "edge-token", "/orgs/acme/members?role=admin")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(logins(&admins), ["alice"]);
    let org: Value = get(&server, "edge-token", "/orgs/acme")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(org["default_repository_permission"], "none");
}

#[tokio::test]
async fn exactly_one_full_page_has_no_link_and_more_pages_do() {
    let server = start(edge()).await;
    let response = get(&server, "edge-token", "/orgs/acme/members?per_page=6").await;
    assert!(response.headers().get("link").is_none());
    assert_eq!(logins(&response.json().await.expect("json")).len(), 6);
    let response = get(&server, "edge-token", "/orgs/acme/members?per_page=4").await;
    let link = response.headers()["link"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(link.contains("page=2>; rel=\"next\""), "{link}");
    assert!(link.contains("page=2>; rel=\"last\""), "{link}");
    let response = get(
        &server,
        "edge-token",
        "/orgs/acme/members?per_page=4&page=2",
    )
    .await;
    let link = response.headers()["link"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(
        link.contains("rel=\"prev\"") && !link.contains("rel=\"next\""),
        "{link}"
    );
    assert_eq!(
        logins(&response.json().await.expect("json")),
        ["renovate-bot", "gina"]
    );
}

#[tokio::test]
async fn empty_list_is_an_empty_array_without_link() {
    let server = start(edge()).await;
    let response = get(&server, "edge-token", "/orgs/acme/teams/docs/teams").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("link").is_none());
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        serde_json::json!([])
    );
}

#[tokio::test]
async fn team_members_include_child_team_members_and_repos_are_inherited() {
    let server = start(edge()).await;
    let body: Value = get(
        &server,
        "edge-token",
        "/orgs/acme/teams/engineering/members",
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(logins(&body), ["bob", "erin", "renovate-bot", "gina"]);
    let maintainers: Value = get(
        &server,
        "edge-token",
        "/orgs/acme/teams/backend/members?role=maintainer",
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(logins(&maintainers), ["bob"]);
    let repos: Value = get(&server, "edge-token", "/orgs/acme/teams/backend/repos")
        .await
        .json()
        .await
        .expect("json");
    let names: Vec<(&str, &str)> = repos
        .as_array()
        .expect("array")
        .iter()
        .map(|r| {
            (
                r["name"].as_str().expect("name"),
                r["role_name"].as_str().expect("role"),
            )
        })
        .collect();
    assert_eq!(names, [("api", "read"), ("web", "write")]);
}

#[tokio::test]
async fn collaborators_affiliation_all_lists_every_source_with_highest_permission() {
    let server = start(edge()).await;
    let all: Value = get(&server, "edge-token", "/repos/acme/api/collaborators")
        .await
        .json()
        .await
        .expect("json");
    let pairs: Vec<(String, String)> = all
        .as_array()
        .expect("array")
        .iter()
        .map(|c| {
            (
                c["login"].as_str().expect("l").to_string(),
                c["role_name"].as_str().expect("r").to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String)> = [
        ("alice", "admin"),
        ("bob", "read"),
        ("erin", "read"),
        ("frank", "write"),
        ("renovate-bot", "read"),
        ("gina", "read"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(pairs, expected);
    let outside: Value = get(
        &server,
        "edge-token",
        "/repos/acme/api/collaborators?affiliation=outside",
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(logins(&outside), ["frank"]);
    let writers: Value = get(
        &server,
        "edge-token",
        "/repos/acme/api/collaborators?permission=push",
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(logins(&writers), ["alice", "frank"]);
    let perm: Value = get(
        &server,
        "edge-token",
        "/repos/acme/secret/collaborators/gina/permission",
    )
    .await
    .json()
    .await
    .expect("json");
    assert_eq!(perm["permission"], "write");
}

#[tokio::test]
async fn token_without_scope_gets_403_with_scope_headers() {
    let server = start(edge()).await;
    let response = get(&server, "edge-token-repo-only", "/orgs/acme/members").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.headers()["x-accepted-oauth-scopes"], "read:org");
    assert_eq!(response.headers()["x-oauth-scopes"], "repo");
    let response = get(&server, "edge-token-repo-only", "/orgs/acme/repos").await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn budget_exhausts_then_resets_with_the_window() {
    let server = start(edge()).await;
    for expected_remaining in ["2", "1", "0"] {
        let response = get(&server, "edge-token-small-budget", "/orgs/acme").await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            response.headers()["x-ratelimit-remaining"],
            expected_remaining
        );
        assert_eq!(response.headers()["x-ratelimit-resource"], "core");
    }
    let response = get(&server, "edge-token-small-budget", "/orgs/acme").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.headers()["x-ratelimit-remaining"], "0");
    let body: Value = response.json().await.expect("json");
    assert!(
        body["message"]
            .as_str()
            .expect("msg")
            .starts_with("API rate limit exceeded")
    );
    // /rate_limit is free even with a spent budget.
    let response = get(&server, "edge-token-small-budget", "/rate_limit").await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["resources"]["core"]["remaining"], 0);
    server
        .handle()
        .set_exhausted_status(axum::http::StatusCode::TOO_MANY_REQUESTS);
    let response = get(&server, "edge-token-small-budget", "/orgs/acme").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    server.handle().advance_clock(Duration::from_secs(3600));
    let response = get(&server, "edge-token-small-budget", "/orgs/acme").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-ratelimit-remaining"], "2");
}

#[tokio::test]
async fn not_modified_costs_no_budget_and_is_counted_apart() {
    let server = start(edge()).await;
    let first = get(&server, "edge-token", "/orgs/acme/teams").await;
    let etag = first.headers()["etag"].to_str().expect("ascii").to_string();
    assert!(etag.starts_with("W/\""));
    let remaining = first.headers()["x-ratelimit-remaining"].clone();
    let second = reqwest::Client::new()
        .get(format!("{}/orgs/acme/teams", server.base_url()))
        .header("Authorization", "token edge-token")
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("request");
    assert_eq!(second.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(second.headers()["x-ratelimit-remaining"], remaining);
    assert!(second.bytes().await.expect("body").is_empty());
    let stats = server.handle().stats();
    let route = &stats.routes["GET /orgs/{org}/teams"];
    assert_eq!(
        (route.requests, route.not_modified, route.by_status[&200]),
        (2, 1, 1)
    );
    assert_eq!(stats.not_modified, 1);
}

#[tokio::test]
async fn enterprise_server_prefix_serves_the_same_routes_and_counts_them_together() {
    let server = start(edge()).await;
    let response = reqwest::Client::new()
        .get(format!("{}/orgs/acme/members", server.ghes_base_url()))
        .header("Authorization", "Bearer edge-token")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::OK);
    get(&server, "edge-token", "/orgs/acme/members").await;
    assert_eq!(
        server.handle().stats().requests("GET /orgs/{org}/members"),
        2
    );
}

#[tokio::test]
async fn status_fault_fires_once_then_the_route_answers() {
    let server = start(edge()).await;
    server.handle().add_fault(
        FaultRule::new(
            "/orgs/*/members",
            FaultAction::Status {
                status: 502,
                body: None,
            },
        )
        .method("GET")
        .times(FaultTimes::Once),
    );
    assert_eq!(
        get(&server, "edge-token", "/orgs/acme/members")
            .await
            .status(),
        StatusCode::BAD_GATEWAY
    );
    assert_eq!(
        get(&server, "edge-token", "/orgs/acme/members")
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(server.handle().stats().with_status(502), 1);
}

#[tokio::test]
async fn malformed_and_truncated_json_faults_break_parsing() {
    let server = start(edge()).await;
    server.handle().add_fault(
        FaultRule::new("/orgs/acme/teams", FaultAction::MalformedJson).times(FaultTimes::Once),
    );
    server.handle().add_fault(
        FaultRule::new("/orgs/acme/repos", FaultAction::TruncatedJson).times(FaultTimes::Times(2)),
    );
    let text = get(&server, "edge-token", "/orgs/acme/teams")
        .await
        .text()
        .await
        .expect("body");
    assert!(serde_json::from_str::<Value>(&text).is_err());
    for _ in 0..2 {
        let text = get(&server, "edge-token", "/orgs/acme/repos")
            .await
            .text()
            .await
            .expect("body");
        assert!(text.starts_with('['));
        assert!(serde_json::from_str::<Value>(&text).is_err());
    }
    let text = get(&server, "edge-token", "/orgs/acme/repos")
        .await
        .text()
        .await
        .expect("body");
    assert!(serde_json::from_str::<Value>(&text).is_ok());
}

#[tokio::test]
async fn dropped_connection_fault_fails_the_request() {
    let server = start(edge()).await;
    server.handle().add_fault(
        FaultRule::new("/orgs/acme", FaultAction::DropConnection).times(FaultTimes::Once),
    );
    let result = async {
        let response = reqwest::Client::new()
            .get(format!("{}/orgs/acme", server.base_url()))
            .header("Authorization", "Bearer edge-token")
            .send()
            .await?;
        response.bytes().await
    }
    .await;
    assert!(result.is_err(), "the client must see a broken response");
    assert_eq!(
        get(&server, "edge-token", "/orgs/acme").await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn delay_and_secondary_limit_and_probability_faults() {
    let server = start(edge()).await;
    let h = server.handle();
    h.add_fault(FaultRule::new("/orgs/acme", FaultAction::Delay { ms: 1 }).times(FaultTimes::Once));
    assert_eq!(
        get(&server, "edge-token", "/orgs/acme").await.status(),
        StatusCode::OK
    );
    h.add_fault(
        FaultRule::new(
            "/orgs/acme/teams",
            FaultAction::SecondaryRateLimit {
                retry_after_secs: Some(60),
            },
        )
        .times(FaultTimes::Once),
    );
    let response = get(&server, "edge-token", "/orgs/acme/teams").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.headers()["retry-after"], "60");
    let body: Value = response.json().await.expect("json");
    assert!(
        body["message"]
            .as_str()
            .expect("m")
            .contains("secondary rate limit")
    );
    h.add_fault(
        FaultRule::new(
            "/orgs/acme/repos",
            FaultAction::Status {
                status: 500,
                body: None,
            },
        )
        .times(FaultTimes::Probability(0.0)),
    );
    assert_eq!(
        get(&server, "edge-token", "/orgs/acme/repos")
            .await
            .status(),
        StatusCode::OK
    );
    h.clear_faults();
    h.add_fault(
        FaultRule::new(
            "/orgs/acme/repos",
            FaultAction::Status {
                status: 500,
                body: None,
            },
        )
        .times(FaultTimes::Probability(1.0)),
    );
    assert_eq!(
        get(&server, "edge-token", "/orgs/acme/repos")
            .await
            .status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
}

#[tokio::test]
async fn faults_can_be_injected_over_http() {
    let server = start(edge()).await;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/_sim/faults", server.base_url()))
        .json(&serde_json::json!({"method": "GET", "path": "/orgs/acme", "action": {"kind": "status", "status": 503}, "times": "once"}))
        .send()
        .await
        .expect("control call");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        get(&server, "edge-token", "/orgs/acme").await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    let stats: Value = client
        .get(format!("{}/_sim/stats", server.base_url()))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["routes"]["GET /orgs/{org}"]["by_status"]["503"], 1);
}

type Captured = Arc<Mutex<Vec<(axum::http::HeaderMap, Vec<u8>)>>>;

async fn receiver() -> (String, Captured, tokio::task::JoinHandle<()>) {
    let captured: Captured = Arc::default();
    let sink = Arc::clone(&captured);
    let app = axum::Router::new().route(
        "/hook",
        post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let sink = Arc::clone(&sink);
                async move {
                    sink.lock().expect("lock").push((headers, body.to_vec()));
                    axum::http::StatusCode::NO_CONTENT
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, captured, task)
}

#[tokio::test]
async fn removing_a_member_changes_the_world_and_delivers_a_signed_webhook() {
    let server = start(edge()).await;
    let (url, captured, task) = receiver().await;
    server.handle().set_webhook(Some(WebhookTarget {
        url,
        secret: "hook-secret".into(),
    }));
    let delivery = server
        .mutate(Mutation::RemoveMember {
            org: "acme".into(),
            login: "gina".into(),
        })
        .await
        .expect("mutation applies")
        .expect("a webhook is delivered");
    assert_eq!(delivery.status, Some(204));
    let members: Value = get(&server, "edge-token", "/orgs/acme/members")
        .await
        .json()
        .await
        .expect("json");
    assert!(!logins(&members).contains(&"gina".to_string()));
    let (headers, body) = captured.lock().expect("lock")[0].clone();
    assert_eq!(headers["x-github-event"], "organization");
    assert_eq!(
        headers["x-github-delivery"].to_str().expect("ascii").len(),
        36
    );
    let expected = format!("sha256={}", hmac_sha256_hex(b"hook-secret", &body));
    assert_eq!(
        headers["x-hub-signature-256"].to_str().expect("ascii"),
        expected
    );
    let payload: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(payload["action"], "member_removed");
    assert_eq!(payload["membership"]["user"]["id"], 8);
    assert_eq!(payload["organization"]["login"], "acme");
    // The world after the change drives the ground truth too.
    let after = server.scenario();
    assert!(
        after.github.as_ref().expect("gh").orgs[0]
            .member(8)
            .is_none()
    );
    task.abort();
}

#[tokio::test]
async fn rejected_mutation_leaves_the_world_unchanged() {
    let server = start(edge()).await;
    let before = server.scenario();
    let result = server
        .mutate(Mutation::AddTeamMember {
            org: "acme".into(),
            team: "docs".into(),
            login: "frank".into(),
            role: orgsync_core::TeamRole::Member,
        })
        .await;
    assert!(result.is_err());
    assert_eq!(server.scenario(), before);
    server
        .mutate(Mutation::RenameLogin {
            login: "bob".into(),
            new_login: "robert".into(),
        })
        .await
        .expect("rename");
    let membership = get(&server, "edge-token", "/orgs/acme/memberships/robert").await;
    assert_eq!(membership.status(), StatusCode::OK);
    let body: Value = membership.json().await.expect("json");
    assert_eq!(body["user"]["id"], 2);
}

fn app_jwt(iat: i64, exp: i64, iss: u64) -> String {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(TEST_APP_PRIVATE_KEY_PEM.as_bytes())
        .expect("test key");
    let claims = serde_json::json!({"iat": iat, "exp": exp, "iss": iss.to_string()});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .expect("sign")
}

#[tokio::test]
async fn app_jwt_buys_an_installation_token_that_expires() {
    let server = start(Scenario::synthetic(3, SyntheticSize::default())).await;
    let now = chrono::Utc::now().timestamp();
    let client = reqwest::Client::new();
    let installation: Value = client
        .get(format!("{}/orgs/acme/installation", server.base_url()))
        .bearer_auth(app_jwt(now - 60, now + 540, 4242))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(installation["id"], 7070);
    let response = client
        .post(format!(
            "{}/app/installations/7070/access_tokens",
            server.base_url()
        ))
        .bearer_auth(app_jwt(now - 60, now + 540, 4242))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.expect("json");
    let token = body["token"].as_str().expect("token").to_string();
    assert!(token.starts_with("ghs_"));
    assert!(body["expires_at"].as_str().expect("expires").ends_with('Z'));
    assert_eq!(
        get(&server, &token, "/orgs/acme/members").await.status(),
        StatusCode::OK
    );
    server.handle().advance_clock(Duration::from_secs(3601));
    assert_eq!(
        get(&server, &token, "/orgs/acme/members").await.status(),
        StatusCode::UNAUTHORIZED
    );

    for bad in [
        app_jwt(now - 60, now + 540, 1),       // wrong issuer
        app_jwt(now - 7200, now - 6600, 4242), // expired
        app_jwt(now, now + 3600, 4242),        // lives longer than ten minutes
        "not-a-jwt".to_string(),
    ] {
        let response = client
            .post(format!(
                "{}/app/installations/7070/access_tokens",
                server.base_url()
            ))
            .bearer_auth(bad)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test]
async fn membership_and_team_repository_checks_answer_204_or_404() {
    let server = start(edge()).await;
    assert_eq!(
        get(&server, "edge-token", "/orgs/acme/members/bob")
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    // dave is only invited; frank is an outside collaborator.
    assert_eq!(
        get(&server, "edge-token", "/orgs/acme/members/dave")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&server, "edge-token", "/orgs/acme/members/frank")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // backend inherits engineering's grant on web.
    assert_eq!(
        get(
            &server,
            "edge-token",
            "/orgs/acme/teams/backend/repos/acme/web"
        )
        .await
        .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        get(
            &server,
            "edge-token",
            "/orgs/acme/teams/docs/repos/acme/api"
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    let repo: Value = reqwest::Client::new()
        .get(format!(
            "{}/orgs/acme/teams/backend/repos/acme/web",
            server.base_url()
        ))
        .bearer_auth("edge-token")
        .header("Accept", "application/vnd.github.v3.repository+json")
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(repo["role_name"], "write");
    assert_eq!(repo["permissions"]["push"], true);
}
