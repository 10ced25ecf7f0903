//! Members reached through an invited private group: before GitLab 17.0 `members/all` lists
//! them only to callers who belong to the invited group, so the provider reads the group's
//! `shared_with_groups` and the invited group's members itself; from 17.0 it trusts the list.
//! carol (a Reporter of acme, not in the invited partners or contractors) is the caller. The
//! members API documents the old rule as "the invited group is public or the requester is a
//! member of it": an internal invited group's members are readable by carol directly but left
//! out of acme's `members/all`; a private one's are readable by nobody outside it, so an old
//! instance's fetch fails rather than decide without them.

mod support;

use orgsync_core::{AdmitRule, FetchPolicy, Provider, ProviderError, TeamsMode, Visibility};
use orgsync_simulator::scenario::Scenario;
use orgsync_simulator::server::{FaultAction, FaultRule};
use support::*;

/// The edge cases at `version`, partners and contractors internal groups.
fn at_version(version: Option<&str>) -> Scenario {
    let mut scenario = edge();
    let gitlab = scenario.gitlab.as_mut().expect("gitlab");
    gitlab.version = version.map(str::to_string);
    for g in &mut gitlab.groups {
        if g.id == 90 || g.id == 91 {
            g.visibility = Visibility::Internal;
        }
    }
    scenario
}

fn policies() -> Vec<(&'static str, FetchPolicy)> {
    vec![
        ("all-repositories", FetchPolicy::default()),
        (
            "all-members",
            FetchPolicy {
                admit: AdmitRule::AllMembers,
                ..FetchPolicy::default()
            },
        ),
    ]
}

fn logins(snapshot: &orgsync_core::Snapshot) -> Vec<&str> {
    snapshot.members.iter().map(|m| m.login.as_str()).collect()
}

#[tokio::test]
async fn an_old_instance_hides_invited_members_and_the_fetch_resolves_them() {
    let scenario = at_version(Some("16.11.2-ee"));
    let server = start(scenario.clone()).await;
    // The simulator hides them from carol as GitLab 16 does...
    let client = reqwest_free_list(&server, "carol-read-api").await;
    assert!(!client.contains(&"leo".to_string()), "{client:?}");
    // ...and the fetch finds them anyway, admitting exactly the ground truth.
    let carol = provider_with(&server, "acme", "carol-read-api", None);
    for (name, policy) in policies() {
        let snapshot = carol.fetch(&policy).await.expect("fetch");
        assert!(logins(&snapshot).contains(&"leo"), "{name}");
        assert!(logins(&snapshot).contains(&"mia"), "{name}");
        let expected = scenario
            .gitlab_expected_admitted("acme", &policy)
            .expect("truth");
        assert_eq!(admitted(&snapshot, &policy), expected, "{name}");
    }
    // leo reads everything at Reporter (capped from Developer by the share); mia is capped at
    // Guest by hers.
    let snapshot = carol.fetch(&FetchPolicy::default()).await.expect("fetch");
    let role = |login: &str| {
        snapshot
            .members
            .iter()
            .find(|m| m.login == login)
            .map(|m| m.role.clone())
    };
    assert_eq!(role("leo").as_deref(), Some("reporter"));
    assert_eq!(role("mia").as_deref(), Some("guest"));
}

/// The members list as carol's token gets it, without the provider.
async fn reqwest_free_list(
    server: &orgsync_simulator::gitlab::GitlabServer,
    token: &str,
) -> Vec<String> {
    use orgsync_core::ProviderKind;
    use orgsync_core::http::{GitlabPrivateToken, HttpClient, Route};
    use secrecy::SecretString;
    let credential = std::sync::Arc::new(GitlabPrivateToken::new(
        "token_env = GITLAB_TOKEN",
        SecretString::from(token.to_string()),
    ));
    let client = HttpClient::new(fast_config())
        .expect("client")
        .workspace(ProviderKind::Gitlab, "t", &server.api_url(), credential)
        .expect("workspace");
    let rows: Vec<serde_json::Value> = client
        .get_all(&Route::new(
            "/groups/:id/members/all",
            "/groups/1/members/all",
        ))
        .await
        .expect("members");
    rows.iter()
        .filter_map(|r| r.get("username").and_then(|u| u.as_str()).map(String::from))
        .collect()
}

#[tokio::test]
async fn from_17_0_the_member_list_is_trusted_and_no_invited_group_is_read() {
    let scenario = at_version(Some("17.4.0"));
    let server = start(scenario.clone()).await;
    let carol = provider_with(&server, "acme", "carol-read-api", None);
    for (name, policy) in policies() {
        let policy = FetchPolicy {
            teams: TeamsMode::Off,
            ..policy
        };
        let snapshot = carol.fetch(&policy).await.expect("fetch");
        assert!(logins(&snapshot).contains(&"leo"), "{name}");
        let expected = scenario
            .gitlab_expected_admitted("acme", &policy)
            .expect("truth");
        assert_eq!(admitted(&snapshot, &policy), expected, "{name}");
    }
    let stats = server.handle().stats();
    assert_eq!(stats.requests("GET /groups/{id}/members"), 0, "{stats:?}");
    assert_eq!(stats.requests("GET /version"), 1, "read once per provider");
}

#[tokio::test]
async fn an_unreadable_version_counts_as_old() {
    let scenario = at_version(None);
    let server = start(scenario.clone()).await;
    server.handle().add_fault(FaultRule::new(
        "/api/v4/version",
        FaultAction::Status {
            status: 404,
            body: None,
        },
    ));
    let policy = FetchPolicy {
        teams: TeamsMode::Off,
        ..FetchPolicy::default()
    };
    let snapshot = provider_with(&server, "acme", "carol-read-api", None)
        .fetch(&policy)
        .await
        .expect("fetch");
    assert_eq!(
        admitted(&snapshot, &policy),
        scenario
            .gitlab_expected_admitted("acme", &policy)
            .expect("truth")
    );
    let stats = server.handle().stats();
    assert!(
        stats.requests("GET /groups/{id}/members") >= 2,
        "both invited groups read: {stats:?}"
    );
}

#[tokio::test]
async fn a_private_invited_group_the_token_cannot_read_fails_the_old_instances_fetch() {
    let mut scenario = at_version(Some("16.9.0"));
    let gitlab = scenario.gitlab.as_mut().expect("gitlab");
    for g in &mut gitlab.groups {
        if g.id == 90 {
            g.visibility = Visibility::Private;
        }
    }
    let server = start(scenario).await;
    let error = provider_with(&server, "acme", "carol-read-api", None)
        .fetch(&FetchPolicy::default())
        .await
        .map(|_| ())
        .expect_err("an invited group that cannot be read fails the fetch");
    assert!(
        matches!(error, ProviderError::Forbidden { .. }),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(text.contains("partners"), "{text}");
    assert!(text.contains("17.0"), "{text}");
    // An administrator's token reads it.
    provider(&server, "acme")
        .fetch(&FetchPolicy::default())
        .await
        .expect("an administrator sees every group");
}

/// Per-user reads hide invited members before 17.0 too: a confirmation of "left" or "cannot
/// read" about leo (in acme only through partners) must not agree with that silence.
#[tokio::test]
async fn confirmations_on_an_old_instance_see_members_through_invited_groups() {
    use orgsync_core::{Confirmation, Verdict};
    let scenario = at_version(Some("16.11.2-ee"));
    let server = start(scenario).await;
    let carol = provider_with(&server, "acme", "carol-read-api", None);
    let policy = FetchPolicy::default();
    let left = carol
        .confirm(&policy, "13", "leo", &Verdict::LeftAccount)
        .await
        .expect("confirm");
    assert!(
        matches!(&left, Confirmation::Contradicted { found } if found.contains("still a member")),
        "{left:?}"
    );
    let cannot_read = carol
        .confirm(
            &policy,
            "13",
            "leo",
            &Verdict::CannotRead {
                repository: "infra".to_string(),
            },
        )
        .await
        .expect("confirm");
    assert!(
        matches!(&cannot_read, Confirmation::Contradicted { found } if found.contains("partners")),
        "{cannot_read:?}"
    );
    // kim's membership expired: she has left, and says so.
    let kim = carol
        .confirm(&policy, "11", "kim", &Verdict::LeftAccount)
        .await
        .expect("confirm");
    assert_eq!(kim, Confirmation::Confirmed);
}
