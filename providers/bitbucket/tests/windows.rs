//! A fetch larger than one rate-limit window: Bitbucket counts requests in a rolling window
//! and says nothing about what is left, so the client paces itself on its own count and, when a
//! run's deadline comes before the next window, keeps the pages it read with their time; the
//! next fetch continues from them instead of failing again on the same first pages. The
//! simulator is given 40 requests per 2 s so the windows pass in seconds.

mod support;

use orgsync_core::http::{HttpClient, RollingLimit};
use orgsync_core::pages::{MemoryPages, PageSession};
use orgsync_core::{AdmitRule, Provider, ProviderError, ProviderKind};
use orgsync_simulator::bitbucket::BitbucketServer;
use orgsync_simulator::bitbucket::synthetic::BitbucketSize;
use orgsync_simulator::bitbucket::truth::expected_admitted;
use orgsync_simulator::scenario::Scenario;
use orgsync_simulator::server::ServerOptions;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::*;

const WINDOW: Duration = Duration::from_secs(2);
const BUDGET: u64 = 40;
const SIZE: BitbucketSize = BitbucketSize {
    members: 150,
    repos: 60,
    groups: 5,
};

async fn small_budget_server() -> BitbucketServer {
    BitbucketServer::start(
        Scenario::synthetic_bitbucket(7, SIZE),
        ServerOptions {
            rate_limit: BUDGET,
            rate_window: WINDOW,
            ..ServerOptions::default()
        },
    )
    .await
    .expect("simulator starts")
}

fn paced_provider(server: &BitbucketServer) -> orgsync_bitbucket::BitbucketProvider {
    let http = HttpClient::new(test_config()).expect("http client");
    let client = http
        .workspace(
            ProviderKind::Bitbucket,
            WORKSPACE,
            &server.base_url(),
            credential(server),
        )
        .expect("workspace client")
        .with_rolling_limit(RollingLimit {
            requests: BUDGET,
            window: WINDOW,
        });
    orgsync_bitbucket::BitbucketProvider::new(client, WORKSPACE, "127.0.0.1")
}

fn throttled(server: &BitbucketServer) -> u64 {
    server.handle().stats().with_status(429)
}

fn workspace_reads(server: &BitbucketServer) -> u64 {
    server
        .handle()
        .stats()
        .requests("GET /2.0/workspaces/{workspace}")
}

#[tokio::test]
async fn a_fetch_spanning_windows_waits_for_them_and_decides_the_ground_truth() {
    let server = small_budget_server().await;
    let world = server.scenario().bitbucket.expect("world");
    let policy = policy(AdmitRule::AllRepositories, false, &[], &[]);
    let started = Instant::now();
    let snapshot = paced_provider(&server)
        .fetch(&policy)
        .await
        .expect("the fetch waits for the next windows instead of failing");
    let requests = snapshot.requests.total;
    assert!(
        requests > 2 * BUDGET,
        "the fetch needs more than two windows ({requests} requests)"
    );
    assert!(
        started.elapsed() >= WINDOW * 2,
        "it waited for the windows: {:?}",
        started.elapsed()
    );
    assert_eq!(throttled(&server), 0, "paced: Bitbucket never answered 429");
    assert_eq!(
        admitted(&snapshot, &policy),
        expected_admitted(&world, WORKSPACE, &policy).expect("truth")
    );
}

#[tokio::test]
async fn a_fetch_cut_by_its_deadline_continues_from_the_kept_pages_in_the_next_window() {
    let server = small_budget_server().await;
    let world = server.scenario().bitbucket.expect("world");
    let provider = paced_provider(&server);
    let session = Arc::new(PageSession::new(
        Arc::new(MemoryPages::default()),
        Duration::from_secs(600),
    ));
    let mut policy = policy(AdmitRule::AllRepositories, false, &[], &[]);
    policy.pages = Some(Arc::clone(&session));
    let mut cut = 0;
    let snapshot = loop {
        // Each run may last a second: less than a window, so it stops when the window is spent.
        policy.deadline = Some(Instant::now() + Duration::from_secs(1));
        match provider.fetch(&policy).await {
            Ok(snapshot) => break snapshot,
            // Stopped by the window (a wait past the deadline) or by the deadline itself (on a
            // loaded machine an attempt may be cut short by it).
            Err(
                ProviderError::RateLimited { .. }
                | ProviderError::Cancelled { .. }
                | ProviderError::Unavailable { .. },
            ) => {
                cut += 1;
                assert!(cut < 10, "the fetch makes progress from run to run");
                let (kept, oldest) = session.progress().await;
                assert!(kept > 0 && oldest.is_some(), "pages kept with their time");
                session.restart();
                tokio::time::sleep(WINDOW).await;
            }
            Err(other) => panic!("unexpected failure: {other}"),
        }
    };
    assert!(
        cut >= 2,
        "the fetch needed several windows (cut {cut} times)"
    );
    assert_eq!(
        workspace_reads(&server),
        1,
        "a page kept by an earlier run is not read again"
    );
    assert_eq!(throttled(&server), 0);
    assert_eq!(
        admitted(&snapshot, &policy),
        expected_admitted(&world, WORKSPACE, &policy).expect("truth")
    );
}

#[tokio::test]
async fn a_kept_page_older_than_the_max_age_is_read_again() {
    let server = small_budget_server().await;
    let provider = paced_provider(&server);
    let session = Arc::new(PageSession::new(
        Arc::new(MemoryPages::default()),
        Duration::from_secs(1),
    ));
    let mut policy = policy(AdmitRule::AllRepositories, false, &[], &[]);
    policy.pages = Some(Arc::clone(&session));
    policy.deadline = Some(Instant::now() + Duration::from_secs(1));
    let first = provider.fetch(&policy).await;
    assert!(
        matches!(
            first,
            Err(ProviderError::RateLimited { .. }
                | ProviderError::Cancelled { .. }
                | ProviderError::Unavailable { .. })
        ),
        "{first:?}"
    );
    assert_eq!(workspace_reads(&server), 1);
    let (kept, _) = session.progress().await;
    assert!(kept > 1);
    // The window passes, and with it the kept pages' one-second maximum age.
    tokio::time::sleep(WINDOW).await;
    session.restart();
    policy.deadline = Some(Instant::now() + Duration::from_secs(1));
    let _ = provider.fetch(&policy).await;
    assert_eq!(
        workspace_reads(&server),
        2,
        "the page older than max_page_age_seconds was read again, not used"
    );
}
