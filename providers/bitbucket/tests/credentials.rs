//! Credentials and `check`: API tokens (Basic), access tokens (Bearer) and OAuth client
//! credentials all fetch; `check` lists what it verified and names the missing scope; secrets
//! never show in errors.

mod support;

use orgsync_bitbucket::oauth::OauthClientCredentials;
use orgsync_core::http::{BasicAuth, BearerToken, HttpClient};
use orgsync_core::{AdmitRule, FetchPolicy, Provider, ProviderError, TeamsMode};
use orgsync_simulator::scenario::GroupsApi;
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;
use support::*;

#[tokio::test]
async fn check_lists_what_the_credential_can_read() {
    let server = start(edge()).await;
    let lines = provider(&server)
        .check(&FetchPolicy::default())
        .await
        .expect("full credential");
    let text = lines.join("\n");
    for needle in [
        "workspace acme",
        "members: readable",
        "workspace roles: readable",
        "repositories: readable",
        "effective repository permissions: readable",
        "groups (1.0 API): 3 readable",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
}

#[tokio::test]
async fn check_names_the_missing_scope_without_showing_the_token() {
    let server = start(edge()).await;
    let members_only: Arc<BasicAuth> = Arc::new(BasicAuth::new(
        "token_file = /run/bb",
        "reader@example.com",
        SecretString::from("sim-bitbucket-members-only"),
    ));
    let provider = provider_with(&server, test_config(), members_only, None);
    let error = provider
        .check(&FetchPolicy::default())
        .await
        .expect_err("no repository scope");
    let text = error.to_string();
    match &error {
        ProviderError::Forbidden { needed, route, .. } => {
            assert!(needed.contains("`repository`"), "{needed}");
            assert_eq!(route, "/2.0/repositories/{workspace}");
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }
    assert!(text.contains("token_file = /run/bb"), "{text}");
    assert!(!text.contains("sim-bitbucket-members-only"), "{text}");
}

#[tokio::test]
async fn check_reports_a_gone_groups_api_without_failing() {
    let server = start(edge()).await;
    server.set_groups_api(GroupsApi::Gone);
    let lines = provider(&server)
        .check(&FetchPolicy::default())
        .await
        .expect("members still readable");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("groups (1.0 API) unavailable") && l.contains("410")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_wrong_token_fails_with_the_credential_reference_only() {
    let server = start(edge()).await;
    let wrong = Arc::new(BasicAuth::new(
        "token_env = BITBUCKET_TOKEN",
        "admin@example.com",
        SecretString::from("not-the-token"),
    ));
    let provider = provider_with(&server, test_config(), wrong, None);
    let error = provider
        .fetch(&policy(AdmitRule::AllRepositories, false, &[], &[]))
        .await
        .expect_err("401");
    assert!(
        matches!(error, ProviderError::Unauthorized { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(text.contains("token_env = BITBUCKET_TOKEN"), "{text}");
    assert!(!text.contains("not-the-token"), "{text}");
}

#[tokio::test]
async fn an_access_token_authenticates_with_bearer() {
    let server = start(edge()).await;
    let bearer = Arc::new(BearerToken::new(
        "token_env = BB_ACCESS_TOKEN",
        SecretString::from("sim-bitbucket-access-token"),
    ));
    let p = policy(AdmitRule::AllRepositories, false, &[], &[]);
    let with_bearer = provider_with(&server, test_config(), bearer, None)
        .fetch(&p)
        .await
        .expect("bearer works");
    let with_basic = provider(&server).fetch(&p).await.expect("basic works");
    assert_eq!(without_counts(with_bearer), without_counts(with_basic));
}

#[tokio::test]
async fn oauth_client_credentials_fetch_and_renew_an_expired_token() {
    let server = start(edge()).await;
    let http = HttpClient::new(test_config()).expect("client");
    let oauth = Arc::new(
        OauthClientCredentials::new(
            &http,
            WORKSPACE,
            &server.base_url(),
            "OAuth consumer sim-consumer",
            "sim-consumer",
            SecretString::from("sim-consumer-secret"),
        )
        .expect("credential"),
    );
    let client = http
        .workspace(
            orgsync_core::ProviderKind::Bitbucket,
            WORKSPACE,
            &server.base_url(),
            oauth,
        )
        .expect("workspace client");
    let provider = orgsync_bitbucket::BitbucketProvider::new(client, WORKSPACE, "127.0.0.1");
    let p = policy(AdmitRule::AllRepositories, false, &[], &[]);
    let first = provider.fetch(&p).await.expect("oauth fetch");
    let tokens_issued = |server: &orgsync_simulator::bitbucket::BitbucketServer| {
        server
            .handle()
            .stats()
            .routes
            .get("POST /site/oauth2/access_token")
            .map_or(0, |r| r.requests)
    };
    assert_eq!(tokens_issued(&server), 1, "one token for the whole fetch");
    // Two hours later the token has expired on the server: the 401 makes the credential fetch
    // a new one and the fetch goes on.
    server
        .handle()
        .advance_clock(Duration::from_secs(2 * 3600 + 60));
    let second = provider.fetch(&p).await.expect("renewed token");
    assert_eq!(tokens_issued(&server), 2);
    assert_eq!(without_counts(first), without_counts(second));
}

#[tokio::test]
async fn wrong_oauth_secret_fails_as_unauthorized() {
    let server = start(edge()).await;
    let http = HttpClient::new(test_config()).expect("client");
    let oauth = Arc::new(
        OauthClientCredentials::new(
            &http,
            WORKSPACE,
            &server.base_url(),
            "OAuth consumer sim-consumer",
            "sim-consumer",
            SecretString::from("wrong-secret"),
        )
        .expect("credential"),
    );
    let client = http
        .workspace(
            orgsync_core::ProviderKind::Bitbucket,
            WORKSPACE,
            &server.base_url(),
            oauth,
        )
        .expect("workspace client");
    let provider = orgsync_bitbucket::BitbucketProvider::new(client, WORKSPACE, "127.0.0.1");
    let error = provider
        .fetch(&policy(AdmitRule::AllMembers, false, &[], &[]))
        .await
        .expect_err("refused");
    assert!(
        matches!(error, ProviderError::Unauthorized { .. }),
        "{error:?}"
    );
    assert!(!error.to_string().contains("wrong-secret"));
}

/// check-config --online probes what the workspace's policy reads, no more: all-members reads
/// no repository permissions and teams off reads no groups.
#[tokio::test]
async fn check_probes_what_the_workspaces_policy_needs() {
    let server = start(edge()).await;
    let policy = orgsync_core::FetchPolicy {
        admit: AdmitRule::AllMembers,
        teams: TeamsMode::Off,
        ..FetchPolicy::default()
    };
    let lines = provider(&server).check(&policy).await.expect("admin");
    let text = lines.join("\n");
    assert!(
        text.contains("effective repository permissions: not read (admit = \"all-members\""),
        "{text}"
    );
    assert!(
        text.contains("groups: not read (teams = \"off\")"),
        "{text}"
    );
    let stats = server.handle().stats();
    assert_eq!(
        stats.requests("GET /2.0/workspaces/{workspace}/permissions/repositories"),
        0,
        "{stats:?}"
    );
    assert_eq!(
        stats.requests("GET /1.0/groups/{workspace}"),
        0,
        "{stats:?}"
    );
    // The default policy reads both.
    let lines = provider(&server)
        .check(&FetchPolicy::default())
        .await
        .expect("admin");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("enough for admit = \"all-repositories\"")),
        "{lines:?}"
    );
    let stats = server.handle().stats();
    assert_eq!(
        stats.requests("GET /2.0/workspaces/{workspace}/permissions/repositories"),
        1
    );
    assert_eq!(stats.requests("GET /1.0/groups/{workspace}"), 1);
}
