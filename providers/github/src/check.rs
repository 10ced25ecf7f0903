//! `check-config --online`: one small request per capability a sync needs, each answered with
//! what it proved or precisely what is missing.

use crate::view;
use orgsync_core::http::WorkspaceClient;
use orgsync_core::{ProviderError, ProviderKind};
use serde::Deserialize;

/// What one capability needs, in the words of GitHub's token settings.
struct Need {
    what: &'static str,
    template: &'static str,
    /// Classic token scope, fine-grained token / App permission.
    needed: &'static str,
}

const ORG: Need = Need {
    what: "read the organisation",
    template: "/orgs/{org}",
    needed: "the `read:org` scope (classic token), or the organisation permission \"Members: read\" \
             (fine-grained token or GitHub App)",
};
const MEMBERS: Need = Need {
    what: "list members and their roles",
    template: "/orgs/{org}/members",
    needed: "the `read:org` scope (classic token), or the organisation permission \"Members: read\" \
             (fine-grained token or GitHub App)",
};
const TEAMS: Need = Need {
    what: "list teams",
    template: "/orgs/{org}/teams",
    needed: "the `read:org` scope (classic token), or the organisation permission \"Members: read\" \
             (fine-grained token or GitHub App)",
};
const REPOS: Need = Need {
    what: "list repositories",
    template: "/orgs/{org}/repos",
    needed: "the `repo` scope (classic token), or the repository permission \"Metadata: read\" on \
             all repositories (fine-grained token or GitHub App)",
};
const COLLABORATORS: Need = Need {
    what: "read repository collaborators",
    template: "/repos/{owner}/{repo}/collaborators",
    needed: "the `repo` and `read:org` scopes (classic token; the user must also be able to push), \
             or the repository permission \"Metadata: read\" on all repositories (fine-grained \
             token or GitHub App)",
};

#[derive(Deserialize)]
struct Org {
    #[serde(default)]
    default_repository_permission: Option<String>,
}

#[derive(Deserialize)]
struct Repo {
    name: String,
    #[serde(default)]
    visibility: Option<String>,
    #[serde(default)]
    private: bool,
}

/// GETs `path` and returns the body, or an error that names what is missing.
async fn probe(
    client: &WorkspaceClient,
    need: &Need,
    path: &str,
) -> Result<Vec<u8>, ProviderError> {
    let url = format!("{}{path}", client.base_url());
    let request = http::Request::get(url)
        .body(Vec::new())
        .map_err(|e| ProviderError::Other(format!("could not build a request for {path}: {e}")))?;
    let response = client.send(need.template, request).await?;
    let status = response.status();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let message = serde_json::from_slice::<serde_json::Value>(response.body())
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "no details given".to_owned());
    match status.as_u16() {
        200..=299 => Ok(response.body().to_vec()),
        403 => {
            let has = header("x-oauth-scopes");
            let accepted = header("x-accepted-oauth-scopes").filter(|s| !s.trim().is_empty());
            let needed = match (accepted, has) {
                (Some(accepted), Some(has)) => format!(
                    "one of the scopes `{accepted}` (it has `{}`), or: {}",
                    if has.trim().is_empty() {
                        "none"
                    } else {
                        has.trim()
                    },
                    need.needed
                ),
                (Some(accepted), None) => {
                    format!("one of the scopes `{accepted}`, or: {}", need.needed)
                }
                _ => need.needed.to_owned(),
            };
            Err(ProviderError::Forbidden {
                provider: ProviderKind::Github,
                credential: client.credential_reference().to_owned(),
                route: need.template.to_owned(),
                detail: format!("cannot {} ({message})", need.what),
                needed,
            })
        }
        404 => Err(ProviderError::NotFound {
            provider: ProviderKind::Github,
            what: format!(
                "organisation visible to {} (cannot {})",
                client.credential_reference(),
                need.what
            ),
            route: need.template.to_owned(),
        }),
        other => Err(ProviderError::Status {
            provider: ProviderKind::Github,
            route: need.template.to_owned(),
            status: other,
            detail: message,
        }),
    }
}

fn parse<T: for<'de> Deserialize<'de>>(need: &Need, body: &[u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|e| ProviderError::Malformed {
        provider: ProviderKind::Github,
        route: need.template.to_owned(),
        detail: e.to_string(),
    })
}

pub(crate) async fn check(
    client: &WorkspaceClient,
    org: &str,
    app: Option<&crate::app::GithubAppCredential>,
    needs: view::Needs,
) -> Result<Vec<String>, ProviderError> {
    // The view first, with the same proof and the same message as a fetch under the
    // workspace's policy: a credential that is not enough for it fails here as the sync would.
    let mut verified = vec![view::prove(client, org, app, needs).await?];
    let body = probe(client, &ORG, &format!("/orgs/{org}")).await?;
    let info: Org = parse(&ORG, &body)?;
    match info.default_repository_permission {
        Some(base) => verified.push(format!(
            "reads organisation {org} (base permission: {base})"
        )),
        None => verified.push(format!(
            "reads organisation {org}, but not its base permission (only owners see it); fetches \
             will assume `none` and read collaborator lists instead"
        )),
    }
    probe(
        client,
        &MEMBERS,
        &format!("/orgs/{org}/members?role=admin&per_page=1"),
    )
    .await?;
    verified.push("lists members and owners".to_owned());
    let teams = probe(client, &TEAMS, &format!("/orgs/{org}/teams?per_page=1")).await?;
    let teams: Vec<serde_json::Value> = parse(&TEAMS, &teams)?;
    verified.push(if teams.is_empty() {
        "lists teams (there are none)".to_owned()
    } else {
        "lists teams".to_owned()
    });
    let repos = probe(
        client,
        &REPOS,
        &format!("/orgs/{org}/repos?type=all&per_page=100"),
    )
    .await?;
    let repos: Vec<Repo> = parse(&REPOS, &repos)?;
    verified.push("lists repositories".to_owned());
    let private = repos.iter().find(|r| {
        r.visibility
            .as_deref()
            .map_or(r.private, |v| v == "private")
    });
    match private.or(repos.first()) {
        Some(repo) => {
            probe(
                client,
                &COLLABORATORS,
                &format!(
                    "/repos/{org}/{}/collaborators?affiliation=all&per_page=1",
                    repo.name
                ),
            )
            .await?;
            verified.push(format!("reads collaborators (tried on {})", repo.name));
        }
        None => verified
            .push("no repositories yet, so collaborator access could not be tried".to_owned()),
    }
    Ok(verified)
}
