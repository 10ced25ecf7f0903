//! Credentials and hosts: Enterprise Server's `/api/v3` root, GitHub App installation tokens
//! (exchanged through the HTTP layer and renewed), login renames, and `check`.

mod common;

use common::*;
use orgsync_core::cache::MemoryCache;
use orgsync_core::http::HttpClient;
use orgsync_core::{FetchPolicy, Provider, ProviderError, ProviderKind};
use orgsync_github::{GithubAppCredential, GithubProvider};
use orgsync_simulator::github::Mutation;
use orgsync_simulator::scenario::{Scenario, SyntheticSize, TEST_APP_PRIVATE_KEY_PEM};
use std::sync::Arc;
use std::time::Duration;

fn synthetic() -> Scenario {
    Scenario::synthetic(
        3,
        SyntheticSize {
            members: 60,
            repos: 25,
            teams: 6,
        },
    )
}

#[tokio::test]
async fn enterprise_server_api_v3_root_gives_the_same_answer() {
    let server = start(synthetic()).await;
    let policy = FetchPolicy::default();
    let ghes = provider_with(
        &server,
        &server.ghes_base_url(),
        server.token(),
        Arc::new(MemoryCache::default()),
    );
    let snapshot = ghes.fetch(&policy).await.expect("fetch over /api/v3");
    assert_eq!(
        admitted(&snapshot, &policy),
        server.scenario().expected_admitted(&policy).expect("truth")
    );
    // Every request went to the prefixed routes: the unprefixed ones were never matched raw.
    assert_eq!(server.handle().stats().requests("GET <unmatched>"), 0);
    assert!(server.handle().stats().total > 0);
}

fn app_provider(
    http: &HttpClient,
    base: &str,
    org: &str,
) -> (GithubProvider, Arc<GithubAppCredential>) {
    let app = Arc::new(
        GithubAppCredential::new(
            http,
            "test",
            base,
            "GitHub App 4242 (installation 7070)",
            4242,
            7070,
            &TEST_APP_PRIVATE_KEY_PEM.to_string().into(),
        )
        .expect("app credential"),
    );
    let client = http
        .workspace(ProviderKind::Github, "test", base, app.clone())
        .expect("workspace");
    (GithubProvider::new(client, org).with_app(app.clone()), app)
}

#[tokio::test]
async fn github_app_installation_token_works_and_is_renewed_after_expiry() {
    let mut scenario = synthetic();
    if let Some(app) = scenario.github.as_mut().and_then(|g| g.app.as_mut()) {
        // Short-lived tokens, so the test can outlive one on the simulated clock.
        app.token_lifetime_secs = 120;
    }
    let server = start(scenario).await;
    let policy = FetchPolicy::default();
    let (provider, app) = app_provider(&fast_http(), &server.base_url(), "acme");

    let first = provider.fetch(&policy).await.expect("fetch with an App");
    assert_eq!(
        admitted(&first, &policy),
        server.scenario().expected_admitted(&policy).expect("truth")
    );
    let exchange = "POST /app/installations/{installation_id}/access_tokens";
    assert_eq!(server.handle().stats().requests(exchange), 1);
    assert_eq!(app.exchange_counts().total, 1);
    // The exchange is part of this fetch's request count.
    assert_eq!(first.requests.total, server.handle().stats().total);

    // The installation token dies on the server's clock; the next fetch gets a 401, renews the
    // token once and carries on.
    server.handle().advance_clock(Duration::from_secs(180));
    let second = provider.fetch(&policy).await.expect("fetch after expiry");
    assert_eq!(admitted(&second, &policy), admitted(&first, &policy));
    let stats = server.handle().stats();
    assert_eq!(stats.requests(exchange), 2);
    assert!(
        stats.with_status(401) >= 1,
        "the old token was refused first"
    );
}

#[tokio::test]
async fn github_app_with_a_wrong_key_fails_with_the_reference_and_no_secret() {
    let server = start(synthetic()).await;
    let http = fast_http();
    // A valid RSA key that is not the App's: the exchange is refused.
    let error = GithubAppCredential::new(
        &http,
        "test",
        &server.base_url(),
        "GitHub App 4242 (installation 7070)",
        4242,
        7070,
        &"not a pem".to_string().into(),
    )
    .expect_err("garbage is not a key");
    assert!(error.to_string().contains("GitHub App 4242"), "{error}");

    let (provider, _) = app_provider(&http, &server.base_url(), "acme");
    let _ = provider;
    let app = Arc::new(
        GithubAppCredential::new(
            &http,
            "test",
            &server.base_url(),
            "GitHub App 4243 (installation 7070)",
            4243,
            7070,
            &TEST_APP_PRIVATE_KEY_PEM.to_string().into(),
        )
        .expect("credential"),
    );
    let client = http
        .workspace(ProviderKind::Github, "test", &server.base_url(), app)
        .expect("workspace");
    let error = GithubProvider::new(client, "acme")
        .fetch(&FetchPolicy::default())
        .await
        .expect_err("a wrong app id cannot buy a token");
    assert!(
        matches!(error, ProviderError::Unauthorized { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(text.contains("GitHub App 4243"), "{text}");
    assert!(!text.contains("PRIVATE KEY"), "{text}");
}

#[tokio::test]
async fn a_login_rename_keeps_the_member_id() {
    let server = start(edge()).await;
    let provider = provider(&server);
    let policy = FetchPolicy::default();
    let before = provider.fetch(&policy).await.expect("fetch");
    let gina = before
        .members
        .iter()
        .find(|m| m.login == "gina")
        .expect("gina")
        .clone();
    server
        .mutate(Mutation::RenameLogin {
            login: "gina".into(),
            new_login: "gina-renamed".into(),
        })
        .await
        .expect("rename");
    let after = provider.fetch(&policy).await.expect("fetch");
    let renamed = after
        .members
        .iter()
        .find(|m| m.id == gina.id)
        .expect("same id");
    assert_eq!(renamed.login, "gina-renamed");
    assert_eq!(renamed.access, gina.access);
    assert!(!after.members.iter().any(|m| m.login == "gina"));
    assert_eq!(admitted(&after, &policy), admitted(&before, &policy));
}

#[tokio::test]
async fn check_lists_what_a_full_token_can_do() {
    let server = start(edge()).await;
    let lines = provider(&server)
        .check(&FetchPolicy::default())
        .await
        .expect("check passes");
    let text = lines.join("\n");
    for part in [
        "reads organisation acme",
        "members",
        "teams",
        "repositories",
        "collaborators",
    ] {
        assert!(text.contains(part), "{part} missing from {text}");
    }
}

#[tokio::test]
async fn check_names_the_missing_scope() {
    let server = start(edge()).await;
    let p = provider_with(
        &server,
        &server.base_url(),
        "edge-token-repo-only",
        Arc::new(MemoryCache::default()),
    );
    let error = p
        .check(&FetchPolicy::default())
        .await
        .expect_err("repo-only token lacks read:org");
    let text = error.to_string();
    assert!(
        matches!(error, ProviderError::Forbidden { .. }),
        "{error:?}"
    );
    assert!(text.contains("read:org"), "{text}");
    assert!(text.contains("Members: read"), "{text}");
    assert!(!text.contains("edge-token-repo-only"), "{text}");
}

#[tokio::test]
async fn check_reports_a_bad_token_as_unauthorized() {
    let server = start(edge()).await;
    let p = provider_with(
        &server,
        &server.base_url(),
        "not-a-token",
        Arc::new(MemoryCache::default()),
    );
    let error = p
        .check(&FetchPolicy::default())
        .await
        .expect_err("unknown token");
    assert!(
        matches!(error, ProviderError::Unauthorized { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("token_env = TEST_TOKEN"));
}
