//! The fault matrix: every fault injected at every route a fetch uses. Transient ones (5xx,
//! Bitbucket's bare 429, a dropped connection, a timeout) are retried and the fetch returns the
//! same snapshot as without faults; permanent ones (401, 404, a malformed or truncated page) fail
//! the fetch with an error, so nobody is offboarded on a partial answer. The 1.0 groups route is
//! the exception the design allows: a 404 there means "groups gone", teams become unknown.

mod support;

use orgsync_core::{AdmitRule, FetchPolicy, Provider, ProviderError, TeamsMode};
use orgsync_simulator::bitbucket::synthetic::BitbucketSize;
use orgsync_simulator::scenario::Scenario;
use orgsync_simulator::server::{FaultAction, FaultRule, FaultTimes};
use support::*;

/// Many members and (with [`full_policy`]'s narrow scope) few repositories to check, so the
/// fetch uses both permission routes: the workspace-wide probe, then repository by repository.
fn scenario() -> Scenario {
    Scenario::synthetic_bitbucket(
        9,
        BitbucketSize {
            members: 250,
            repos: 12,
            groups: 3,
        },
    )
}

/// Every route the fetch reads: the fault path pattern and the route as the simulator counts it.
const ROUTES: &[(&str, &str)] = &[
    ("/2.0/workspaces/acme", "GET /2.0/workspaces/{workspace}"),
    (
        "/2.0/workspaces/acme/members",
        "GET /2.0/workspaces/{workspace}/members",
    ),
    (
        "/2.0/workspaces/acme/permissions",
        "GET /2.0/workspaces/{workspace}/permissions",
    ),
    (
        "/2.0/repositories/acme",
        "GET /2.0/repositories/{workspace}",
    ),
    (
        "/2.0/workspaces/acme/permissions/repositories",
        "GET /2.0/workspaces/{workspace}/permissions/repositories",
    ),
    (
        "/2.0/workspaces/acme/permissions/repositories/*",
        "GET /2.0/workspaces/{workspace}/permissions/repositories/{repo_slug}",
    ),
    (
        "/2.0/repositories/acme/*/permissions-config/groups",
        "GET /2.0/repositories/{workspace}/{repo_slug}/permissions-config/groups",
    ),
    (
        "/2.0/workspaces/acme/projects/*/permissions-config/groups",
        "GET /2.0/workspaces/{workspace}/projects/{project_key}/permissions-config/groups",
    ),
    ("/1.0/groups/acme", "GET /1.0/groups/{workspace}"),
];

fn full_policy() -> FetchPolicy {
    let mut p = policy(
        AdmitRule::AllRepositories,
        false,
        &["repo-000[2-9]", "repo-001*"],
        &[],
    );
    p.teams = TeamsMode::Full;
    p
}

fn transient() -> Vec<(&'static str, FaultAction)> {
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
            "429",
            FaultAction::SecondaryRateLimit {
                retry_after_secs: None,
            },
        ),
        ("dropped connection", FaultAction::DropConnection),
        // Longer than the test client's 1.5 s attempt timeout.
        ("timeout", FaultAction::Delay { ms: 2_500 }),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_faults_on_every_route_are_retried_and_the_fetch_succeeds() {
    let server = start(scenario()).await;
    let provider = provider(&server);
    let p = full_policy();
    let baseline = without_counts(provider.fetch(&p).await.expect("baseline fetch"));
    let stats = server.handle().stats();
    for (_, counted) in ROUTES {
        assert!(
            stats.routes.contains_key(*counted),
            "the fetch does not use {counted}: {:?}",
            stats.routes.keys()
        );
    }
    assert_eq!(
        stats.routes.len(),
        ROUTES.len(),
        "{:?}",
        stats.routes.keys()
    );
    for (route, _) in ROUTES {
        for (name, action) in transient() {
            server.handle().clear_faults();
            server.handle().add_fault(
                FaultRule::new(*route, action)
                    .method("GET")
                    .times(FaultTimes::Times(2)),
            );
            let snapshot = provider
                .fetch(&p)
                .await
                .unwrap_or_else(|e| panic!("{name} on {route} must be retried: {e}"));
            assert_eq!(without_counts(snapshot), baseline, "{name} on {route}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_faults_on_every_route_fail_the_fetch() {
    let server = start(scenario()).await;
    let provider = provider(&server);
    let p = full_policy();
    let permanent = [
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
    ];
    for (route, _) in ROUTES {
        for (name, action) in permanent.clone() {
            server.handle().clear_faults();
            server
                .handle()
                .add_fault(FaultRule::new(*route, action).method("GET"));
            let outcome = provider.fetch(&p).await;
            if *route == "/1.0/groups/acme" && name == "404" {
                let snapshot = outcome.expect("a missing groups API only hides teams");
                assert_eq!(snapshot.teams, None);
                assert!(snapshot.teams_unavailable.is_some());
                continue;
            }
            let error = outcome.expect_err(&format!("{name} on {route} must fail the fetch"));
            match (name, &error) {
                ("401", ProviderError::Unauthorized { credential, .. }) => {
                    assert_eq!(credential, "token_env = BITBUCKET_TOKEN");
                }
                ("404", ProviderError::NotFound { .. })
                | ("malformed page" | "truncated page", ProviderError::Malformed { .. }) => {}
                _ => panic!("{name} on {route}: unexpected error {error:?}"),
            }
        }
    }
}

#[tokio::test]
async fn a_spent_budget_fails_the_fetch_and_the_next_window_succeeds() {
    let server = start(edge()).await;
    // Enough for a few requests only.
    server
        .handle()
        .set_rate_limit(3, std::time::Duration::from_secs(3600));
    let provider = provider(&server);
    let p = policy(AdmitRule::AllRepositories, false, &[], &[]);
    let error = provider.fetch(&p).await.expect_err("budget spent");
    assert!(
        matches!(error, ProviderError::RateLimited { .. }),
        "{error:?}"
    );
    let stats = server.handle().stats();
    assert!(
        stats
            .routes
            .values()
            .any(|r| r.by_status.contains_key(&429))
    );
    server
        .handle()
        .advance_clock(std::time::Duration::from_secs(3600));
    server
        .handle()
        .set_rate_limit(1000, std::time::Duration::from_secs(3600));
    provider.fetch(&p).await.expect("a new window");
}
