//! The fault matrix: every fault kind injected at every route a fetch uses. Transient faults
//! (5xx, 429 with Retry-After, timeouts, dropped connections) are retried and the fetch returns
//! the same snapshot as without faults; permanent ones (401, 403, 404, malformed or truncated
//! JSON) fail the whole fetch, so nobody is offboarded on a partial answer.

mod support;

use orgsync_core::http::{GitlabPrivateToken, HttpClient};
use orgsync_core::{FetchPolicy, Provider, ProviderError, ProviderKind, Snapshot};
use orgsync_gitlab::GitlabProvider;
use orgsync_simulator::gitlab::GitlabServer;
use orgsync_simulator::server::{FaultAction, FaultRule, FaultTimes};
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;
use support::*;

/// Every route the default fetch of the edge-case group uses, as fault path patterns.
const ROUTES: [&str; 7] = [
    "/api/v4/groups/acme",
    "/api/v4/user",
    "/api/v4/groups/1/members/all",
    "/api/v4/groups/1/projects",
    "/api/v4/groups/1/descendant_groups",
    "/api/v4/groups/*/members",
    "/api/v4/projects/*/members/all",
];

/// A provider whose attempts time out after 300 ms, so a delayed answer counts as a timeout.
fn impatient(server: &GitlabServer) -> GitlabProvider {
    let credential = Arc::new(GitlabPrivateToken::new(
        "token_env = GITLAB_TOKEN",
        SecretString::from(server.token().to_string()),
    ));
    let config = orgsync_core::http::HttpConfig {
        request_timeout: Duration::from_millis(300),
        ..fast_config()
    };
    let client = HttpClient::new(config)
        .expect("client")
        .workspace(ProviderKind::Gitlab, "test", &server.api_url(), credential)
        .expect("workspace");
    GitlabProvider::new(client, "acme", "127.0.0.1")
}

fn without_counts(mut s: Snapshot) -> Snapshot {
    s.requests = Default::default();
    s
}

fn transient_faults() -> Vec<(&'static str, FaultAction)> {
    vec![
        (
            "500",
            FaultAction::Status {
                status: 500,
                body: None,
            },
        ),
        (
            "502",
            FaultAction::Status {
                status: 502,
                body: None,
            },
        ),
        (
            "503",
            FaultAction::Status {
                status: 503,
                body: None,
            },
        ),
        (
            "429 Retry later",
            FaultAction::SecondaryRateLimit {
                retry_after_secs: Some(1),
            },
        ),
        ("timeout", FaultAction::Delay { ms: 1_000 }),
        ("dropped connection", FaultAction::DropConnection),
    ]
}

fn permanent_faults() -> Vec<(&'static str, FaultAction)> {
    vec![
        (
            "401",
            FaultAction::Status {
                status: 401,
                body: None,
            },
        ),
        (
            "403",
            FaultAction::Status {
                status: 403,
                body: None,
            },
        ),
        (
            "404",
            FaultAction::Status {
                status: 404,
                body: None,
            },
        ),
        ("malformed JSON", FaultAction::MalformedJson),
        ("truncated JSON", FaultAction::TruncatedJson),
    ]
}

#[tokio::test]
async fn transient_faults_on_any_route_are_retried_and_change_nothing() {
    let server = start(edge()).await;
    let provider = impatient(&server);
    let policy = FetchPolicy::default();
    let baseline = without_counts(provider.fetch(&policy).await.expect("clean fetch"));
    for route in ROUTES {
        for (name, action) in transient_faults() {
            server.handle().clear_faults();
            server.handle().reset_stats();
            server.handle().add_fault(
                FaultRule::new(route, action)
                    .method("GET")
                    .times(FaultTimes::Times(2)),
            );
            let snapshot = provider
                .fetch(&policy)
                .await
                .unwrap_or_else(|e| panic!("{name} on {route} was not retried: {e}"));
            assert_eq!(
                without_counts(snapshot.clone()),
                baseline,
                "{name} on {route} changed the answer"
            );
            let faulted: u64 = server
                .handle()
                .stats()
                .routes
                .values()
                .map(|r| {
                    r.by_status
                        .iter()
                        .filter(|(s, _)| **s >= 429)
                        .map(|(_, n)| n)
                        .sum::<u64>()
                })
                .sum();
            if name != "timeout" && name != "dropped connection" {
                assert_eq!(faulted, 2, "{name} on {route}: the fault fired twice");
            }
        }
    }
}

#[tokio::test]
async fn permanent_faults_on_any_route_fail_the_whole_fetch() {
    let server = start(edge()).await;
    let provider = provider(&server, "acme");
    let policy = FetchPolicy::default();
    provider.fetch(&policy).await.expect("clean fetch");
    for route in ROUTES {
        for (name, action) in permanent_faults() {
            server.handle().clear_faults();
            server
                .handle()
                .add_fault(FaultRule::new(route, action.clone()).method("GET"));
            let result = provider.fetch(&policy).await;
            let error = match result {
                Ok(_) => panic!("{name} on {route} did not fail the fetch"),
                Err(e) => e,
            };
            let fits = match name {
                "401" => matches!(error, ProviderError::Unauthorized { .. }),
                "403" => matches!(
                    error,
                    ProviderError::Forbidden { .. } | ProviderError::Status { status: 403, .. }
                ),
                "404" => matches!(
                    error,
                    ProviderError::NotFound { .. } | ProviderError::Status { status: 404, .. }
                ),
                _ => matches!(error, ProviderError::Malformed { .. }),
            };
            assert!(fits, "{name} on {route} gave the wrong error: {error:?}");
            assert!(
                !error.to_string().contains(server.token()),
                "the token leaked into an error"
            );
        }
    }
}

#[tokio::test]
async fn a_bad_second_page_fails_the_fetch_instead_of_shortening_the_list() {
    let scenario = orgsync_simulator::scenario::Scenario::synthetic_gitlab(
        5,
        orgsync_simulator::gitlab::synthetic::GitlabSize {
            members: 250,
            projects: 10,
            subgroups: 2,
        },
    );
    let server = start(scenario).await;
    let provider = provider(&server, "acme");
    let clean = provider
        .fetch(&FetchPolicy::default())
        .await
        .expect("clean fetch");
    assert!(clean.members.len() > 200);
    server.handle().add_fault(
        FaultRule::new(
            "/api/v4/groups/1000/members/all",
            FaultAction::TruncatedJson,
        )
        .method("GET")
        .times(FaultTimes::Probability(0.5)),
    );
    // Each page of the three-page member list is cut in half with probability one half.
    let mut failures = 0;
    for _ in 0..6 {
        match provider.fetch(&FetchPolicy::default()).await {
            Ok(s) => assert_eq!(
                s.members.len(),
                clean.members.len(),
                "a fetch shortened the list"
            ),
            Err(ProviderError::Malformed { .. }) => failures += 1,
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert!(failures > 0, "the fault never fired");
}

#[tokio::test]
async fn a_spent_rate_limit_past_the_deadline_fails_at_once_with_rate_limited() {
    let server = start(edge()).await;
    let provider = provider(&server, "acme");
    server
        .handle()
        .set_rate_limit(3, Duration::from_secs(3_600));
    let policy = FetchPolicy {
        deadline: Some(std::time::Instant::now() + Duration::from_secs(5)),
        ..FetchPolicy::default()
    };
    let error = provider
        .fetch(&policy)
        .await
        .expect_err("the budget runs out after three requests");
    assert!(
        matches!(error, ProviderError::RateLimited { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_cancelled_run_ends_the_fetch_with_cancelled() {
    let server = start(edge()).await;
    let provider = provider(&server, "acme");
    server.handle().set_latency(Duration::from_millis(200));
    let cancel = orgsync_core::http::CancellationToken::new();
    let policy = FetchPolicy {
        cancel: Some(cancel.clone()),
        ..FetchPolicy::default()
    };
    let fetch = provider.fetch(&policy);
    cancel.cancel();
    let error = fetch.await.expect_err("cancelled");
    assert!(
        matches!(error, ProviderError::Cancelled { .. }),
        "{error:?}"
    );
}
