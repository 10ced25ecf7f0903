//! The simulated Bitbucket behaves as Bitbucket documents: Basic and Bearer auth with the
//! `{"type":"error"}` 401, scopes, the paginated envelope, BBQL filters, the bare 429 without
//! Retry-After, charged 304s, the 1.0 groups switch, OAuth client credentials and signed
//! `repo:created` / `repo:deleted` webhooks.

use axum::Router;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use base64::Engine;
use orgsync_simulator::bitbucket::{BitbucketMutation, BitbucketServer, RATE_LIMIT_MESSAGE};
use orgsync_simulator::scenario::{BitbucketRepo, GroupsApi, Scenario};
use orgsync_simulator::server::{ServerOptions, WebhookTarget, hmac_sha256_hex};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn edge() -> Scenario {
    Scenario::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/bitbucket-edge-cases.toml"
    ))
    .expect("scenario")
}

fn basic(user: &str, token: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"))
    )
}

const ADMIN: (&str, &str) = ("admin@example.com", "sim-bitbucket-token");

async fn get(server: &BitbucketServer, path: &str, auth: Option<String>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(format!("{}{path}", server.base_url()));
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    request.send().await.expect("simulator answers")
}

async fn json(server: &BitbucketServer, path: &str) -> Value {
    let response = get(server, path, Some(basic(ADMIN.0, ADMIN.1))).await;
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.expect("JSON")
}

#[tokio::test]
async fn basic_and_bearer_authenticate_and_bad_credentials_get_bitbucket_401() {
    let server = BitbucketServer::start(edge(), ServerOptions::default())
        .await
        .expect("start");
    let ok = get(
        &server,
        "/2.0/workspaces/acme",
        Some(basic(ADMIN.0, ADMIN.1)),
    )
    .await;
    assert_eq!(ok.status(), 200);
    let bearer = get(
        &server,
        "/2.0/workspaces/acme",
        Some("Bearer sim-bitbucket-access-token".into()),
    )
    .await;
    assert_eq!(bearer.status(), 200);
    for auth in [
        None,
        Some(basic(ADMIN.0, "wrong")),
        Some(basic("other@example.com", ADMIN.1)),
        Some("Bearer nope".into()),
    ] {
        let response = get(&server, "/2.0/workspaces/acme/members", auth.clone()).await;
        assert_eq!(response.status(), 401, "{auth:?}");
        assert!(response.headers().contains_key("www-authenticate"));
        let body: Value = response.json().await.expect("JSON error");
        assert_eq!(body["type"], "error");
        assert!(body["error"]["message"].is_string());
    }
}

#[tokio::test]
async fn a_missing_scope_is_a_403_that_names_it() {
    let server = BitbucketServer::start(edge(), ServerOptions::default())
        .await
        .expect("start");
    let reader = Some(basic("reader@example.com", "sim-bitbucket-members-only"));
    assert_eq!(
        get(&server, "/2.0/workspaces/acme/members", reader.clone())
            .await
            .status(),
        200
    );
    let refused = get(&server, "/2.0/repositories/acme", reader).await;
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.expect("JSON");
    assert_eq!(body["error"]["data"]["required"][0], "repository");
}

#[tokio::test]
async fn lists_use_the_envelope_with_pagelen_10_by_default_and_100_at_most() {
    let server = BitbucketServer::start(edge(), ServerOptions::default())
        .await
        .expect("start");
    let first = json(&server, "/2.0/workspaces/acme/members?pagelen=4").await;
    assert_eq!(first["pagelen"], 4);
    assert_eq!(first["size"], 9);
    assert_eq!(first["values"].as_array().expect("values").len(), 4);
    assert!(first.get("previous").is_none());
    let next = first["next"].as_str().expect("next on page 1");
    assert!(next.ends_with("pagelen=4&page=2"), "{next}");
    let last = json(&server, "/2.0/workspaces/acme/members?pagelen=4&page=3").await;
    assert_eq!(last["values"].as_array().expect("values").len(), 1);
    assert!(last.get("next").is_none(), "no next on the last page");
    assert!(last["previous"].is_string());
    let default = json(&server, "/2.0/workspaces/acme/permissions/repositories").await;
    assert_eq!(default["pagelen"], 10);
    let clamped = json(&server, "/2.0/workspaces/acme/members?pagelen=1000").await;
    assert_eq!(clamped["pagelen"], 100);
}

#[tokio::test]
async fn bbql_filters_roles_and_effective_permissions() {
    let server = BitbucketServer::start(edge(), ServerOptions::default())
        .await
        .expect("start");
    let owners = json(
        &server,
        "/2.0/workspaces/acme/permissions?q=permission%3D%22owner%22",
    )
    .await;
    assert_eq!(owners["size"], 1);
    assert_eq!(owners["values"][0]["user"]["nickname"], "olga");
    // Effective permissions: core's project write beats the repository's read grant; erin's
    // direct read shows, bob (developers only) does not.
    let vault = json(
        &server,
        "/2.0/workspaces/acme/permissions/repositories/sec-vault?pagelen=100",
    )
    .await;
    let rows: Vec<(String, String)> = vault["values"]
        .as_array()
        .expect("values")
        .iter()
        .map(|r| {
            (
                r["user"]["nickname"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                r["permission"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(rows.contains(&("alice".into(), "write".into())), "{rows:?}");
    assert!(rows.contains(&("erin".into(), "read".into())), "{rows:?}");
    assert!(rows.contains(&("olga".into(), "admin".into())), "{rows:?}");
    assert!(!rows.iter().any(|(n, _)| n == "bob"), "{rows:?}");
    let writers = json(
        &server,
        "/2.0/workspaces/acme/permissions/repositories?pagelen=100&q=repository.name%3D%22sec-vault%22%20AND%20permission%3E%22read%22",
    )
    .await;
    assert!(
        writers["values"]
            .as_array()
            .expect("values")
            .iter()
            .all(|r| r["permission"] != "read" && r["repository"]["full_name"] == "acme/sec-vault")
    );
    let bad = get(
        &server,
        "/2.0/workspaces/acme/permissions/repositories?q=bogus",
        Some(basic(ADMIN.0, ADMIN.1)),
    )
    .await;
    assert_eq!(bad.status(), 400);
}

#[tokio::test]
async fn a_spent_budget_answers_a_bare_429_and_304s_are_charged() {
    let server = BitbucketServer::start(edge(), ServerOptions::default())
        .await
        .expect("start");
    let h = server.handle();
    let key = format!("{}:{}", ADMIN.0, ADMIN.1);
    assert_eq!(h.budget(&key).expect("known").limit, 1000, "1,000 per hour");
    let first = get(
        &server,
        "/2.0/workspaces/acme",
        Some(basic(ADMIN.0, ADMIN.1)),
    )
    .await;
    assert!(
        first
            .headers()
            .keys()
            .all(|k| !k.as_str().starts_with("x-ratelimit")),
        "API tokens get no rate-limit headers"
    );
    let etag = first
        .headers()
        .get("etag")
        .expect("etag")
        .to_str()
        .expect("text")
        .to_string();
    let used_before = h.budget(&key).expect("known").used;
    let again = reqwest::Client::new()
        .get(format!("{}/2.0/workspaces/acme", server.base_url()))
        .header("authorization", basic(ADMIN.0, ADMIN.1))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("answer");
    assert_eq!(again.status(), 304);
    assert_eq!(
        h.budget(&key).expect("known").used,
        used_before + 1,
        "a 304 costs a request on Bitbucket (undocumented either way; the safe assumption)"
    );

    h.set_rate_limit(2, Duration::from_secs(3600));
    for _ in 0..2 {
        assert_eq!(
            get(
                &server,
                "/2.0/workspaces/acme",
                Some(basic(ADMIN.0, ADMIN.1))
            )
            .await
            .status(),
            200
        );
    }
    let limited = get(
        &server,
        "/2.0/workspaces/acme",
        Some(basic(ADMIN.0, ADMIN.1)),
    )
    .await;
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().get("retry-after").is_none());
    assert_eq!(limited.text().await.expect("body"), RATE_LIMIT_MESSAGE);
    h.advance_clock(Duration::from_secs(3600));
    assert_eq!(
        get(
            &server,
            "/2.0/workspaces/acme",
            Some(basic(ADMIN.0, ADMIN.1))
        )
        .await
        .status(),
        200,
        "the next window"
    );
}

#[tokio::test]
async fn the_groups_api_can_be_switched_off() {
    let server = BitbucketServer::start(edge(), ServerOptions::default())
        .await
        .expect("start");
    let groups = json(&server, "/1.0/groups/acme").await;
    let developers = groups
        .as_array()
        .expect("array")
        .iter()
        .find(|g| g["slug"] == "developers")
        .expect("developers");
    assert_eq!(developers["members"].as_array().expect("members").len(), 5);
    for (state, status) in [(GroupsApi::Gone, 410), (GroupsApi::NotFound, 404)] {
        server.set_groups_api(state);
        let r = get(&server, "/1.0/groups/acme", Some(basic(ADMIN.0, ADMIN.1))).await;
        assert_eq!(r.status(), status);
    }
}

#[tokio::test]
async fn oauth_client_credentials_issue_two_hour_bearer_tokens() {
    let server = BitbucketServer::start(edge(), ServerOptions::default())
        .await
        .expect("start");
    let response = reqwest::Client::new()
        .post(format!("{}/site/oauth2/access_token", server.base_url()))
        .header(
            "authorization",
            basic("sim-consumer", "sim-consumer-secret"),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials")
        .send()
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);
    let token: Value = response.json().await.expect("JSON");
    assert_eq!(token["expires_in"], 7200);
    let bearer = format!("Bearer {}", token["access_token"].as_str().expect("token"));
    assert_eq!(
        get(&server, "/2.0/user", Some(bearer.clone()))
            .await
            .status(),
        200
    );
    server.handle().advance_clock(Duration::from_secs(7201));
    assert_eq!(get(&server, "/2.0/user", Some(bearer)).await.status(), 401);
    let refused = reqwest::Client::new()
        .post(format!("{}/site/oauth2/access_token", server.base_url()))
        .header("authorization", basic("sim-consumer", "nope"))
        .body("grant_type=client_credentials")
        .send()
        .await
        .expect("answer");
    assert_eq!(refused.status(), 400);
}

type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let sink = Arc::clone(&received);
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let sink = Arc::clone(&sink);
            async move {
                sink.lock().expect("lock").push((headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, received)
}

#[tokio::test]
async fn repository_changes_deliver_signed_webhooks() {
    let server = BitbucketServer::start(edge(), ServerOptions::default())
        .await
        .expect("start");
    let (url, received) = receiver().await;
    server.handle().set_webhook(Some(WebhookTarget {
        url,
        secret: "It's a Secret to Everybody".into(),
    }));
    let repo = BitbucketRepo {
        uuid: "{30000000-0000-4000-8000-0000000000ff}".into(),
        slug: "new-service".into(),
        name: None,
        is_private: true,
        project: "APP".into(),
        parent: None,
        users: Vec::new(),
        groups: Vec::new(),
    };
    server
        .mutate(BitbucketMutation::CreateRepository {
            workspace: "acme".into(),
            repository: repo,
        })
        .await
        .expect("create")
        .expect("delivered");
    server
        .mutate(BitbucketMutation::DeleteRepository {
            workspace: "acme".into(),
            slug: "docs".into(),
        })
        .await
        .expect("delete")
        .expect("delivered");
    let none = server
        .mutate(BitbucketMutation::RemoveMember {
            workspace: "acme".into(),
            user: "{00000000-0000-4000-8000-000000000003}".into(),
        })
        .await
        .expect("remove");
    assert!(none.is_none(), "Bitbucket has no membership webhooks");

    let got = received.lock().expect("lock").clone();
    assert_eq!(got.len(), 2);
    for ((headers, body), (key, slug)) in got
        .iter()
        .zip([("repo:created", "new-service"), ("repo:deleted", "docs")])
    {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string()
        };
        assert_eq!(header("x-event-key"), key);
        assert!(!header("x-request-uuid").is_empty());
        assert!(header("x-hook-uuid").starts_with('{'));
        assert_eq!(
            header("x-hub-signature"),
            format!(
                "sha256={}",
                hmac_sha256_hex(b"It's a Secret to Everybody", body)
            )
        );
        let payload: Value = serde_json::from_slice(body).expect("JSON payload");
        assert_eq!(
            payload["repository"]["full_name"],
            format!("acme/{slug}"),
            "{key}"
        );
        assert_eq!(payload["actor"]["type"], "user");
    }
    let world = server.scenario().bitbucket.expect("world");
    let w = world.workspace("acme").expect("acme");
    assert!(w.repo("new-service").is_some() && w.repo("docs").is_none());
}

/// As Bitbucket documents: the scaled limits (1,000 per hour plus 10 per paid seat above 100,
/// at most 10,000) apply to access tokens on `/2.0/repositories/*` only, counted apart, and only
/// those answers carry `X-RateLimit-Limit`, `X-RateLimit-Resource` and `X-RateLimit-NearLimit`;
/// API tokens and every other endpoint get no such header.
#[tokio::test]
async fn scaled_limit_headers_come_only_for_access_tokens_on_repositories_routes() {
    use orgsync_simulator::scenario::{BitbucketToken, scaled_rate_limit};
    let mut scenario = edge();
    let world = scenario.bitbucket.as_mut().expect("bitbucket");
    let mut access = BitbucketToken::access_token("sim-workspace-access-token");
    access.scaled_rate_limit = Some(scaled_rate_limit(350));
    world.tokens.push(access);
    let server = BitbucketServer::start(
        scenario,
        ServerOptions {
            rate_limit: 1_000,
            ..ServerOptions::default()
        },
    )
    .await
    .expect("start");
    let bearer = || Some("Bearer sim-workspace-access-token".to_string());
    let headers = |r: &reqwest::Response| {
        [
            "x-ratelimit-limit",
            "x-ratelimit-resource",
            "x-ratelimit-nearlimit",
        ]
        .map(|h| {
            r.headers()
                .get(h)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
    };

    let scaled = get(&server, "/2.0/repositories/acme", bearer()).await;
    assert_eq!(scaled.status(), 200);
    assert_eq!(
        headers(&scaled),
        [
            Some("3500".to_string()),
            Some("api".to_string()),
            Some("false".to_string())
        ]
    );
    let other = get(&server, "/2.0/workspaces/acme", bearer()).await;
    assert_eq!(other.status(), 200);
    assert_eq!(headers(&other), [None, None, None], "not a scaled endpoint");
    let api_token = get(
        &server,
        "/2.0/repositories/acme",
        Some(basic(ADMIN.0, ADMIN.1)),
    )
    .await;
    assert_eq!(api_token.status(), 200);
    assert_eq!(
        headers(&api_token),
        [None, None, None],
        "API tokens have no scaled limit"
    );

    // Counted apart: the access token's other allowance is 1,000; spending 3 of a 3-request
    // allowance elsewhere leaves its repository reads alone.
    server.handle().set_rate_limit(3, Duration::from_secs(3600));
    for _ in 0..3 {
        assert_eq!(
            get(&server, "/2.0/workspaces/acme", bearer())
                .await
                .status(),
            200
        );
    }
    assert_eq!(
        get(&server, "/2.0/workspaces/acme", bearer())
            .await
            .status(),
        429
    );
    assert_eq!(
        get(&server, "/2.0/repositories/acme", bearer())
            .await
            .status(),
        200,
        "the scaled allowance is its own"
    );
}

/// Bitbucket measures its hourly allowance in a rolling hour: a request counts until an hour
/// after it was made, not until a fixed window resets. (3 s windows stand in for the hour.)
#[tokio::test]
async fn the_allowance_is_a_rolling_window_not_a_fixed_one() {
    let server = BitbucketServer::start(
        edge(),
        ServerOptions {
            rate_limit: 2,
            rate_window: Duration::from_secs(3),
            ..ServerOptions::default()
        },
    )
    .await
    .expect("start");
    let auth = || Some(basic(ADMIN.0, ADMIN.1));
    let started = std::time::Instant::now();
    assert_eq!(
        get(&server, "/2.0/workspaces/acme", auth()).await.status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        get(&server, "/2.0/workspaces/acme", auth()).await.status(),
        200
    );
    assert_eq!(
        get(&server, "/2.0/workspaces/acme", auth()).await.status(),
        429
    );
    tokio::time::sleep(Duration::from_millis(3300).saturating_sub(started.elapsed())).await;
    // The first request left the window; the second is still in it: one more, not two.
    assert_eq!(
        get(&server, "/2.0/workspaces/acme", auth()).await.status(),
        200
    );
    assert_eq!(
        get(&server, "/2.0/workspaces/acme", auth()).await.status(),
        429,
        "a fixed window would have reset both"
    );
}
