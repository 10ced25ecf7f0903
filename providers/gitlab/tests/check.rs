//! `check-config --online`: what the token can do, and precisely what it lacks.

mod support;

use orgsync_core::{AdmitRule, FetchPolicy, Provider, ProviderError, TeamsMode};
use support::*;

#[tokio::test]
async fn an_admin_token_passes_and_the_report_names_scopes_user_and_group() {
    let server = start(edge()).await;
    let lines = provider(&server, "acme")
        .check(&FetchPolicy::default())
        .await
        .expect("check passes");
    let text = lines.join("\n");
    assert!(text.contains("token scopes: api"), "{text}");
    assert!(text.contains("administrator"), "{text}");
    assert!(text.contains("group acme (id 1)"), "{text}");
    assert!(text.contains("2 invited group(s)"), "{text}");
}

#[tokio::test]
async fn a_reporter_with_read_api_passes() {
    let server = start(edge()).await;
    let lines = provider_with(&server, "acme", "carol-read-api", None)
        .check(&FetchPolicy::default())
        .await
        .expect("check passes");
    assert!(
        lines.iter().any(|l| l.contains("reporter (20)")),
        "{lines:?}"
    );
}

#[tokio::test]
async fn a_token_without_read_api_is_refused_with_the_scope_it_needs() {
    let server = start(edge()).await;
    let error = provider_with(&server, "acme", "carol-read-user", None)
        .check(&FetchPolicy::default())
        .await
        .expect_err("read_user is not enough");
    match &error {
        ProviderError::Forbidden { needed, detail, .. } => {
            assert!(needed.contains("read_api"), "{error}");
            assert!(detail.contains("read_user"), "{error}");
        }
        other => panic!("wrong error {other:?}"),
    }
    assert!(
        !error.to_string().contains("carol-read-user"),
        "token in message"
    );
}

#[tokio::test]
async fn a_minimal_access_user_is_refused_with_the_level_it_needs() {
    let server = start(edge()).await;
    let error = provider_with(&server, "acme", "gina-read-api", None)
        .check(&FetchPolicy::default())
        .await
        .expect_err("minimal access cannot see private projects");
    let text = error.to_string();
    assert!(
        text.contains("minimal_access (5)") && text.contains("Reporter (20)"),
        "{text}"
    );
}

#[tokio::test]
async fn an_unknown_token_is_unauthorized_and_named_by_reference() {
    let server = start(edge()).await;
    let error = provider_with(&server, "acme", "not-a-token", None)
        .check(&FetchPolicy::default())
        .await
        .expect_err("401");
    assert!(
        matches!(error, ProviderError::Unauthorized { .. }),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("token_env = GITLAB_TOKEN"),
        "{error}"
    );
    assert!(!error.to_string().contains("not-a-token"));
}

#[tokio::test]
async fn a_missing_group_is_not_found() {
    let server = start(edge()).await;
    let error = provider(&server, "nope/missing")
        .check(&FetchPolicy::default())
        .await
        .expect_err("404");
    assert!(matches!(error, ProviderError::NotFound { .. }), "{error:?}");
}

/// check-config --online gives the verdict of the workspace's own policy: a Guest's token is
/// refused for admit = "all-repositories" (as the fetch is) and passes for "all-members".
#[tokio::test]
async fn the_verdict_follows_the_workspaces_admission_policy() {
    let server = start(edge()).await;
    let carol = provider_with(&server, "acme", "carol-read-api", None);
    let lines = carol
        .check(&FetchPolicy::default())
        .await
        .expect("a Reporter is enough for all-repositories");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("enough for admit = \"all-repositories\"")),
        "{lines:?}"
    );
    let gina = provider_with(&server, "acme", "gina-read-api", None);
    let members_only = FetchPolicy {
        admit: AdmitRule::AllMembers,
        teams: TeamsMode::Off,
        ..FetchPolicy::default()
    };
    let refused = gina
        .check(&members_only)
        .await
        .expect_err("minimal access is not enough even for all-members");
    assert!(refused.to_string().contains("Guest (10)"), "{refused}");
}

/// check-config --online says what the instance's version means for invited groups, and what a
/// token that is not an administrator's cannot tell about external users.
#[tokio::test]
async fn check_reports_the_version_and_what_a_non_administrator_cannot_see() {
    let mut scenario = edge();
    scenario.gitlab.as_mut().expect("gitlab").version = Some("16.8.1".to_string());
    let server = start(scenario).await;
    // partners and contractors are private: carol cannot read them, as a fetch could not.
    let error = provider_with(&server, "acme", "carol-read-api", None)
        .check(&FetchPolicy::default())
        .await
        .expect_err("invited private groups carol cannot read");
    assert!(error.to_string().contains("17.0"), "{error}");
    let lines = provider(&server, "acme")
        .check(&FetchPolicy::default())
        .await
        .expect("an administrator reads them");
    let text = lines.join("\n");
    assert!(text.contains("GitLab 16.8.1 (before 17.0)"), "{text}");

    let current = start(edge()).await;
    let lines = provider_with(&current, "acme", "carol-read-api", None)
        .check(&FetchPolicy::default())
        .await
        .expect("carol on a current GitLab");
    let text = lines.join("\n");
    assert!(
        text.contains("lists the members of invited groups"),
        "{text}"
    );
    assert!(text.contains("external user"), "{text}");
}
