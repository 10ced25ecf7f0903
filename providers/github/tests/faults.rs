//! The fault matrix: every fault kind injected at every route a fetch uses. Transient faults
//! (5xx, 429, secondary rate limit, dropped connections) are retried and the fetch still reaches
//! the ground truth; permanent ones (401, 404, malformed or truncated pages) fail the fetch, so
//! nobody is offboarded on a partial answer.

mod common;

use common::*;
use orgsync_core::{FetchPolicy, Provider, ProviderError};
use orgsync_simulator::scenario::{Scenario, SyntheticSize};
use orgsync_simulator::server::{FaultAction, FaultRule, FaultTimes};

/// The routes a default fetch of the scenario below reads, as fault path globs.
const ROUTES: &[(&str, &str)] = &[
    ("org", "/orgs/acme"),
    ("members", "/orgs/acme/members"),
    ("repositories", "/orgs/acme/repos"),
    ("teams", "/orgs/acme/teams"),
    ("team repositories", "/orgs/acme/teams/*/repos"),
    ("team members", "/orgs/acme/teams/*/members"),
    ("collaborators", "/repos/acme/*/collaborators"),
    ("view", "/user/memberships/orgs/acme"),
    ("users", "/user/*"),
];

/// Small enough to run the matrix quickly, large enough that lists have several pages... of one
/// page each at 100 per page; the scenario still exercises every route.
fn scenario() -> Scenario {
    Scenario::synthetic(
        7,
        SyntheticSize {
            members: 60,
            repos: 30,
            teams: 6,
        },
    )
}

fn transient() -> Vec<(&'static str, FaultAction)> {
    vec![
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
            "429",
            FaultAction::Status {
                status: 429,
                body: None,
            },
        ),
        (
            "secondary rate limit",
            FaultAction::SecondaryRateLimit {
                retry_after_secs: Some(0),
            },
        ),
        ("dropped connection", FaultAction::DropConnection),
    ]
}

fn permanent() -> Vec<(&'static str, FaultAction)> {
    vec![
        (
            "401",
            FaultAction::Status {
                status: 401,
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
        ("malformed page", FaultAction::MalformedJson),
        ("truncated page", FaultAction::TruncatedJson),
    ]
}

#[tokio::test]
async fn transient_faults_at_every_route_are_retried_and_the_fetch_reaches_the_truth() {
    let server = start_unmetered(scenario()).await;
    let policy = FetchPolicy::default();
    let expected = server.scenario().expected_admitted(&policy).expect("truth");
    for (route_name, path) in ROUTES {
        for (fault_name, action) in transient() {
            server.handle().clear_faults();
            server.handle().reset_stats();
            server.handle().add_fault(
                FaultRule::new(*path, action)
                    .method("GET")
                    .times(FaultTimes::Times(2)),
            );
            // A fresh cache each time, so every route is really requested.
            let snapshot = provider(&server)
                .fetch(&policy)
                .await
                .unwrap_or_else(|e| panic!("{fault_name} at {route_name} was not retried: {e}"));
            assert_eq!(
                admitted(&snapshot, &policy),
                expected,
                "{fault_name} at {route_name}"
            );
            let stats = server.handle().stats();
            let faulted: u64 = [429u16, 502, 503, 403]
                .iter()
                .map(|s| stats.with_status(*s))
                .sum();
            assert!(
                faulted >= 1 || fault_name == "dropped connection",
                "{fault_name} at {route_name} never fired"
            );
        }
    }
}

#[tokio::test]
async fn permanent_faults_at_every_route_fail_the_fetch() {
    let server = start_unmetered(scenario()).await;
    let policy = FetchPolicy::default();
    for (route_name, path) in ROUTES {
        for (fault_name, action) in permanent() {
            server.handle().clear_faults();
            server
                .handle()
                .add_fault(FaultRule::new(*path, action).method("GET"));
            let outcome = provider(&server).fetch(&policy).await;
            let error = match outcome {
                Ok(_) => panic!("{fault_name} at {route_name} did not fail the fetch"),
                Err(e) => e,
            };
            let fitting = match fault_name {
                "401" => matches!(error, ProviderError::Unauthorized { .. }),
                // `GET /user/memberships/orgs/{org}` answering 404 says the token's user is not
                // a member: a missing right, named as such (`/user/*` reaches it first).
                "404" if matches!(*route_name, "view" | "users") => {
                    matches!(error, ProviderError::Forbidden { .. })
                }
                "404" => matches!(error, ProviderError::NotFound { .. }),
                _ => matches!(error, ProviderError::Malformed { .. }),
            };
            assert!(fitting, "{fault_name} at {route_name} gave {error:?}");
            assert!(
                !error.to_string().contains(server.token()),
                "the token leaked into {error}"
            );
        }
    }
}

#[tokio::test]
async fn a_fault_on_a_later_collaborator_page_fails_the_fetch_instead_of_shortening_the_list() {
    // 250 members with read on most repositories: collaborator lists span several pages.
    let server = start(Scenario::synthetic(
        9,
        SyntheticSize {
            members: 250,
            repos: 20,
            teams: 4,
        },
    ))
    .await;
    server.handle().add_fault(
        FaultRule::new("/repos/acme/*/collaborators", FaultAction::TruncatedJson)
            .method("GET")
            .times(FaultTimes::Always),
    );
    let error = provider(&server)
        .fetch(&FetchPolicy::default())
        .await
        .expect_err("a truncated collaborator page must fail the fetch");
    assert!(
        matches!(error, ProviderError::Malformed { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_timed_out_request_at_every_route_is_retried() {
    use orgsync_core::ProviderKind;
    use orgsync_core::http::{BearerToken, HttpClient, HttpConfig};
    use orgsync_github::GithubProvider;
    use std::num::NonZeroU32;
    use std::sync::Arc;
    use std::time::Duration;

    let server = start_unmetered(scenario()).await;
    let http = HttpClient::new(HttpConfig {
        request_timeout: Duration::from_millis(300),
        min_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(10),
        requests_per_second: NonZeroU32::new(100_000).expect("not zero"),
        burst: NonZeroU32::new(10_000).expect("not zero"),
        ..HttpConfig::default()
    })
    .expect("http");
    let policy = FetchPolicy::default();
    let expected = server.scenario().expected_admitted(&policy).expect("truth");
    for (route_name, path) in ROUTES {
        server.handle().clear_faults();
        server.handle().add_fault(
            FaultRule::new(*path, FaultAction::Delay { ms: 2_000 })
                .method("GET")
                .times(FaultTimes::Once),
        );
        let client = http
            .workspace(
                ProviderKind::Github,
                "timeouts",
                &server.base_url(),
                Arc::new(BearerToken::new(
                    "token_env = TEST_TOKEN",
                    server.token().to_string().into(),
                )),
            )
            .expect("client");
        let snapshot = GithubProvider::new(client, "acme")
            .fetch(&policy)
            .await
            .unwrap_or_else(|e| panic!("a timeout at {route_name} was not retried: {e}"));
        assert_eq!(
            admitted(&snapshot, &policy),
            expected,
            "timeout at {route_name}"
        );
    }
}
