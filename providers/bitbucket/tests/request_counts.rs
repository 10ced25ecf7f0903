//! Request counts for a generated workspace of 400 members and 250 repositories, cold and on a
//! no-change re-fetch with a shared conditional-request cache, per policy, and what they cost at
//! Bitbucket's 1,000 requests per hour. Run with `--nocapture` to see the table.

mod support;

use orgsync_core::cache::{HttpCache, MemoryCache};
use orgsync_core::{AdmitRule, FetchPolicy, Provider, TeamsMode};
use orgsync_simulator::bitbucket::synthetic::BitbucketSize;
use orgsync_simulator::scenario::Scenario;
use std::sync::Arc;
use support::*;

const SIZE: BitbucketSize = BitbucketSize {
    members: 400,
    repos: 250,
    groups: 12,
};

fn hours(requests: u64) -> f64 {
    requests as f64 / 1000.0
}

async fn measure(label: &str, policy: &FetchPolicy) -> (u64, u64, u64) {
    let server = start(Scenario::synthetic_bitbucket(42, SIZE)).await;
    let cache: Arc<dyn HttpCache> = Arc::new(MemoryCache::default());
    let provider = provider_with(&server, test_config(), credential(&server), Some(cache));
    let cold = provider.fetch(policy).await.expect("cold fetch");
    let charged_cold = server.handle().stats().total;
    server.handle().reset_stats();
    let warm = provider.fetch(policy).await.expect("no-change fetch");
    let stats = server.handle().stats();
    assert_eq!(
        without_counts(cold.clone()),
        without_counts(warm.clone()),
        "a no-change re-fetch sees the same world"
    );
    // The repository list's size is read before and after the list: the second read is a 304
    // of the first even on a cold cache.
    assert_eq!(
        cold.requests.not_modified, 1,
        "nothing cached before but the size read just before"
    );
    assert_eq!(
        warm.requests.not_modified, warm.requests.total,
        "every answer of a no-change re-fetch is a 304"
    );
    assert_eq!(stats.not_modified, warm.requests.not_modified);
    assert_eq!(charged_cold, cold.requests.total);
    println!(
        "{label:<52} cold {:>4} requests ({:.2} h at 1,000/h); no-change {:>4} requests, {:>4} of them 304 (Bitbucket does not document 304s as free: {:.2} h)",
        cold.requests.total,
        hours(cold.requests.total),
        warm.requests.total,
        warm.requests.not_modified,
        hours(warm.requests.total),
    );
    (
        cold.requests.total,
        warm.requests.total,
        warm.requests.not_modified,
    )
}

#[tokio::test]
async fn request_counts_for_400_members_and_250_repositories() {
    let mut p = policy(AdmitRule::AllRepositories, false, &[], &[]);
    p.teams = TeamsMode::Off;
    let (all_repos, _, _) = measure("all-repositories, teams off", &p).await;

    p.teams = TeamsMode::WithoutRepositories;
    let (with_groups, _, _) = measure("all-repositories, teams without-repositories", &p).await;
    assert_eq!(with_groups, all_repos + 1, "one request for the 1.0 groups");

    p.teams = TeamsMode::Full;
    let (full, _, _) = measure("all-repositories, teams full", &p).await;
    // Per repository and per project group grants (250 repositories, 12 projects).
    assert_eq!(full, with_groups + 250 + 12);

    let mut members = policy(AdmitRule::AllMembers, false, &[], &[]);
    members.teams = TeamsMode::Off;
    let (all_members, _, _) = measure("all-members, teams off", &members).await;
    // Workspace, 4 pages of members, 4 of roles, 3 of repositories and the list's size read
    // before and after it (a list that moved while it was read is read again).
    assert_eq!(all_members, 1 + 4 + 4 + 3 + 2);
    assert!(all_repos > all_members);
}
