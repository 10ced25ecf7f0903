//! Proving the view before deciding. GitHub answers every caller with a `200` and what *that
//! caller* may see: a token whose user is not an owner gets no owner-only organisation fields,
//! only the private repositories it can read and no secret teams it is not in; an App installed
//! on selected repositories, or a fine-grained token limited to some, lists only those. A
//! decision on such a view admits people who cannot read what was never listed. So every fetch
//! (and `check-config --online`) first establishes what the credential sees, and fails (nothing
//! applied) with the missing right and how to grant it when the workspace's policy needs more:
//!
//! | policy | the credential needs |
//! |---|---|
//! | `admit = "all-repositories"` (any teams mode) | a token whose user is an **owner** of the organisation (`GET /user/memberships/orgs/{org}`: `role: admin`, `state: active`), classic scopes `read:org` and `repo`, or fine-grained access to **all** repositories with "Members: read" and "Metadata: read"; or a GitHub App installation with **all** repositories (`repository_selection: "all"`) and the permissions "Members: read" and "Metadata: read" |
//! | `admit = "all-members"` with `teams = "full"` or `"members"` | the same (secret teams are listed only to owners and their members) |
//! | `admit = "all-members"` with `teams = "off"` | a token whose user is an active **member** (members see concealed members too) with `read:org` (classic) or "Members: read", or an App installation with "Members: read" on any repository selection |
//!
//! Where `GET /orgs/{org}` returns `owned_private_repos` (or else `total_private_repos`), it must
//! equal the private and internal repositories listed, and `public_repos` the public ones. A repository created or deleted while the
//! list was read moves the count, and a repository lost to an offset shift (a deletion before
//! it while page 1 was read) is exactly what this catches: the organisation and the list are read
//! again once, and a second mismatch fails the fetch.
//!
//! Sources: `GET /user/memberships/orgs/{org}` ("Get an organization membership for the
//! authenticated user", docs.github.com/rest/orgs/members) is not in the OpenAPI subset in
//! `api/github/`; `repository_selection` and `permissions` come with the installation token
//! (`POST /app/installations/{installation_id}/access_tokens`, example in `api/github/`).

use crate::app::GithubAppCredential;
use orgsync_core::http::{Route, WorkspaceClient};
use orgsync_core::{AdmitRule, FetchPolicy, ProviderError, ProviderKind, TeamsMode};
use serde::Deserialize;

/// `org-membership` of the authenticated user.
#[derive(Debug, Deserialize)]
struct OwnMembership {
    state: String,
    role: String,
    #[serde(default)]
    user: Option<OwnUser>,
}

#[derive(Debug, Deserialize)]
struct OwnUser {
    login: String,
}

/// What a policy needs the credential to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Needs {
    /// Every repository, every team: an owner, or an App on all repositories.
    Everything,
    /// The member list only (`all-members`, teams off).
    Members,
}

impl Needs {
    pub(crate) fn of(policy: &FetchPolicy) -> Needs {
        if policy.admit == AdmitRule::AllRepositories || policy.teams != TeamsMode::Off {
            Needs::Everything
        } else {
            Needs::Members
        }
    }

    fn why(self) -> &'static str {
        match self {
            Needs::Everything => {
                "admit = \"all-repositories\" and team replication need every repository and \
                 every team"
            }
            Needs::Members => "admit = \"all-members\" needs the whole member list",
        }
    }
}

const OWNER_HOW: &str = "a token of an organisation owner (the organisation's People page: Role \
                         Owner) with the `read:org` and `repo` scopes (classic) or access to all \
                         repositories with \"Members: read\" and \"Metadata: read\" \
                         (fine-grained), or a GitHub App installed on all repositories with \
                         \"Members: read\" and \"Metadata: read\"";

fn forbidden(
    client: &WorkspaceClient,
    route: &str,
    detail: String,
    needed: String,
) -> ProviderError {
    ProviderError::Forbidden {
        provider: ProviderKind::Github,
        credential: client.credential_reference().to_owned(),
        route: route.to_owned(),
        detail,
        needed,
    }
}

/// Establishes that the credential sees what `needs` asks, or says precisely what is missing.
/// Returns one line saying what was proved.
pub(crate) async fn prove(
    client: &WorkspaceClient,
    org: &str,
    app: Option<&GithubAppCredential>,
    needs: Needs,
) -> Result<String, ProviderError> {
    if let Some(app) = app {
        return prove_app(client, org, app, needs).await;
    }
    let route = "/user/memberships/orgs/{org}";
    let membership = match client
        .get_json::<OwnMembership>(&Route::new(route, format!("/user/memberships/orgs/{org}")))
        .await
    {
        Ok(m) => m,
        Err(ProviderError::NotFound { .. }) => {
            return Err(forbidden(
                client,
                route,
                format!(
                    "the token's user is not a member of {org}, and GitHub shows a non-member \
                     only public members and repositories; {}",
                    needs.why()
                ),
                match needs {
                    Needs::Everything => OWNER_HOW.to_owned(),
                    Needs::Members => format!("to belong to a member of {org}"),
                },
            ));
        }
        Err(e) => return Err(e),
    };
    let login = membership
        .user
        .map_or_else(|| "the token's user".to_owned(), |u| u.login);
    if membership.state != "active" {
        return Err(forbidden(
            client,
            route,
            format!(
                "{login}'s membership of {org} is {} (not accepted yet)",
                membership.state
            ),
            format!("{login} to accept the invitation to {org}, or a token of an owner"),
        ));
    }
    match (needs, membership.role.as_str()) {
        (_, "admin") => Ok(format!("the token's user {login} is an owner of {org}")),
        (Needs::Members, _) => Ok(format!(
            "the token's user {login} is a member of {org} (enough for admit = \"all-members\" \
             without teams)"
        )),
        (Needs::Everything, role) => Err(forbidden(
            client,
            route,
            format!(
                "the token's user {login} is a {role} of {org}, not an owner: GitHub shows a \
                 non-owner only the private repositories it can read, no secret teams and no \
                 owner-only organisation fields, so {}",
                "a sync would admit people on a partial view"
            ),
            OWNER_HOW.to_owned(),
        )),
    }
}

async fn prove_app(
    client: &WorkspaceClient,
    org: &str,
    app: &GithubAppCredential,
    needs: Needs,
) -> Result<String, ProviderError> {
    let route = "/app/installations/{installation_id}/access_tokens";
    let view = app.installation_view().await?;
    let id = app.installation_id();
    let settings =
        format!("in {org}'s settings, GitHub Apps, the App's Configure page (installation {id})");
    let mut missing: Vec<&str> = Vec::new();
    let readable = |name: &str| {
        view.permissions
            .get(name)
            .is_some_and(|level| matches!(level.as_str(), "read" | "write" | "admin"))
    };
    if !readable("members") {
        missing.push("the organisation permission \"Members: read\"");
    }
    if needs == Needs::Everything && !readable("metadata") {
        missing.push("the repository permission \"Metadata: read\"");
    }
    if !missing.is_empty() {
        return Err(forbidden(
            client,
            route,
            format!(
                "the GitHub App installation {id} lacks {}; {}",
                missing.join(" and "),
                needs.why()
            ),
            format!(
                "{}: grant it in the App's settings (Permissions), then approve the new \
                 permissions {settings}",
                missing.join(" and ")
            ),
        ));
    }
    let selection = view.repository_selection.as_deref().unwrap_or("unknown");
    if needs == Needs::Everything && selection != "all" {
        return Err(forbidden(
            client,
            route,
            format!(
                "the GitHub App installation {id} on {org} reads {selection} repositories \
                 (repository_selection: {selection}), so the private repositories it was not \
                 given look like repositories nobody reads; {}",
                needs.why()
            ),
            format!("access to all repositories: {settings}, Repository access: All repositories"),
        ));
    }
    Ok(format!(
        "the GitHub App installation {id} reads {selection} repositories of {org} with Members: \
         read"
    ))
}

/// The organisation's own counts of its repositories where the credential is shown them:
/// (private and internal, public).
pub(crate) fn counts(org: &crate::api::Organization) -> (Option<u64>, Option<u64>) {
    (
        org.owned_private_repos.or(org.total_private_repos),
        org.public_repos,
    )
}

/// The failure when a count and the list still disagree after one re-read.
pub(crate) fn count_mismatch(
    client: &WorkspaceClient,
    org: &str,
    kind: &str,
    counted: u64,
    listed: u64,
) -> ProviderError {
    forbidden(
        client,
        "/orgs/{org}/repos",
        format!(
            "GitHub counts {counted} {kind} repositories in {org} but the repository list \
             showed {listed}, twice; a credential limited to some repositories, or repositories \
             created and deleted while the list was read, which the next run reads again"
        ),
        "the `repo` scope (classic token) or access to all repositories with \"Metadata: read\" \
         (fine-grained token or GitHub App)"
            .to_owned(),
    )
}
