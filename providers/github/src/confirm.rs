//! [`Provider::confirm`](orgsync_core::Provider::confirm) for GitHub: each destructive verdict of
//! a plan is put to GitHub's own per-user read before it is applied.
//!
//! Every confirmation starts with `GET /user/{account_id}`: the person by their durable id, so a
//! login renamed (or taken by someone else) between the lists and the confirmation reads the
//! right account. A `404` there means the account no longer exists, which confirms every
//! verdict (a deleted account is a member of nothing and reads nothing). Then one read decides:
//!
//! | verdict | read | confirmed when |
//! |---|---|---|
//! | left the account | `GET /orgs/{org}/memberships/{login}` | `404`, or a membership that is not `active` (a pending invitee has no access) |
//! | account not active | the profile, then the membership | `suspended_at` set (Enterprise Server), or the membership is not `active` / absent |
//! | cannot read repository X | `GET /repos/{org}/{X}/collaborators/{login}/permission` | the effective role (repository, teams, base permission, organisation roles; internal visibility) grants no read |
//! | not in team T | `GET /orgs/{org}/teams/{T}/memberships/{login}` | `404` (GitHub counts child teams' members, as orgsync does) or a `pending` membership |
//!
//! Anything else is an error and the run fails with nothing applied: a `403`, a repository or
//! team that itself answers `404` (it vanished, or the credential cannot see it: the read cannot
//! tell which), an answer that is not what the API describes. So every confirmation costs two
//! requests (three for an active member whose account state is in question), each conditional:
//! a repeated read of an unchanged answer is a `304`.

use crate::api;
use orgsync_core::http::{Route, WorkspaceClient};
use orgsync_core::{Confirmation, Permission, ProviderError, ProviderKind, Verdict};
use serde::Deserialize;

/// `org-membership` and `team-membership`: only the state matters here.
#[derive(Debug, Deserialize)]
struct Membership {
    state: String,
}

/// `repository-collaborator-permission`.
#[derive(Debug, Deserialize)]
struct CollaboratorPermission {
    /// `admin`, `write`, `read` or `none` (legacy names: maintain shows as write, triage as
    /// read).
    permission: String,
    #[serde(default)]
    role_name: Option<String>,
    #[serde(default)]
    user: Option<PermissionUser>,
}

#[derive(Debug, Deserialize)]
struct PermissionUser {
    #[serde(default)]
    permissions: Option<api::Permissions>,
}

impl CollaboratorPermission {
    /// The highest role of the three ways GitHub spells it. A custom role's name parses to
    /// nothing; its base role shows in `permission`.
    fn effective(&self) -> Permission {
        let legacy = Permission::parse(&self.permission).unwrap_or(Permission::None);
        let role = self
            .role_name
            .as_deref()
            .and_then(Permission::parse)
            .unwrap_or(Permission::None);
        let flags = self
            .user
            .as_ref()
            .and_then(|u| u.permissions)
            .map_or(Permission::None, api::Permissions::highest);
        legacy.max(role).max(flags)
    }
}

/// What `GET /user/{account_id}` said of the person.
enum Account {
    /// The account no longer exists.
    Gone,
    Exists {
        login: String,
        suspended: bool,
    },
}

#[derive(Debug, Deserialize)]
struct UserById {
    login: String,
    #[serde(default)]
    suspended_at: Option<String>,
}

fn contradicted(found: impl Into<String>) -> Confirmation {
    Confirmation::Contradicted {
        found: found.into(),
    }
}

fn malformed(route: &str, detail: String) -> ProviderError {
    ProviderError::Malformed {
        provider: ProviderKind::Github,
        route: route.to_owned(),
        detail,
    }
}

/// A `404` that cannot be told apart from "the thing itself is gone or hidden" is no answer.
fn undecided(detail: String, route: &str) -> ProviderError {
    ProviderError::Status {
        provider: ProviderKind::Github,
        route: route.to_owned(),
        status: 404,
        detail,
    }
}

async fn account(client: &WorkspaceClient, id: &str) -> Result<Account, ProviderError> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed(
            "/user/{account_id}",
            format!("`{id}` is not a GitHub user id; the directory holds something else"),
        ));
    }
    match client
        .get_json::<UserById>(&Route::new("/user/{account_id}", format!("/user/{id}")))
        .await
    {
        Ok(u) => Ok(Account::Exists {
            login: u.login,
            suspended: u.suspended_at.is_some(),
        }),
        Err(ProviderError::NotFound { .. }) => Ok(Account::Gone),
        Err(e) => Err(e),
    }
}

/// The organisation membership's state, `None` when GitHub says there is none.
async fn org_membership(
    client: &WorkspaceClient,
    org: &str,
    login: &str,
) -> Result<Option<String>, ProviderError> {
    match client
        .get_json::<Membership>(&Route::new(
            "/orgs/{org}/memberships/{username}",
            format!("/orgs/{org}/memberships/{login}"),
        ))
        .await
    {
        Ok(m) => Ok(Some(m.state)),
        Err(ProviderError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

pub(crate) async fn confirm(
    client: &WorkspaceClient,
    org: &str,
    id: &str,
    verdict: &Verdict,
) -> Result<Confirmation, ProviderError> {
    let (login, suspended) = match account(client, id).await? {
        Account::Gone => return Ok(Confirmation::Confirmed),
        Account::Exists { login, suspended } => (login, suspended),
    };
    match verdict {
        Verdict::LeftAccount => Ok(match org_membership(client, org, &login).await? {
            Some(state) if state == "active" => contradicted(format!("still a member ({login})")),
            _ => Confirmation::Confirmed,
        }),
        Verdict::AccountInactive => {
            if suspended {
                return Ok(Confirmation::Confirmed);
            }
            Ok(match org_membership(client, org, &login).await? {
                Some(state) if state == "active" => {
                    contradicted(format!("an active member ({login})"))
                }
                _ => Confirmation::Confirmed,
            })
        }
        Verdict::CannotRead { repository } => {
            let template = "/repos/{owner}/{repo}/collaborators/{username}/permission";
            let answer = client
                .get_json::<CollaboratorPermission>(&Route::new(
                    template,
                    format!("/repos/{org}/{repository}/collaborators/{login}/permission"),
                ))
                .await
                .map_err(|e| match e {
                    ProviderError::NotFound { .. } => undecided(
                        format!(
                            "repository {org}/{repository} is gone or hidden from the credential, \
                             so whether {login} can read it cannot be confirmed (deleted or \
                             renamed since the fetch? the next run reads it again)"
                        ),
                        template,
                    ),
                    other => other,
                })?;
            let effective = answer.effective();
            Ok(if effective.can_read() {
                contradicted(format!(
                    "{login} reads {repository} ({})",
                    answer.role_name.as_deref().unwrap_or(&answer.permission)
                ))
            } else {
                Confirmation::Confirmed
            })
        }
        Verdict::NotInTeam { team } => {
            let template = "/orgs/{org}/teams/{team_slug}/memberships/{username}";
            match client
                .get_json::<Membership>(&Route::new(
                    template,
                    format!("/orgs/{org}/teams/{team}/memberships/{login}"),
                ))
                .await
            {
                Ok(m) if m.state == "active" => {
                    Ok(contradicted(format!("{login} is a member of team {team}")))
                }
                Ok(_) => Ok(Confirmation::Confirmed),
                Err(ProviderError::NotFound { .. }) => {
                    // 404 for "not a member" and for "no such team" alike: the team must exist.
                    let team_route = Route::new(
                        "/orgs/{org}/teams/{team_slug}",
                        format!("/orgs/{org}/teams/{team}"),
                    );
                    match client.exists(&team_route).await? {
                        true => Ok(Confirmation::Confirmed),
                        false => Err(undecided(
                            format!(
                                "team {team} is gone or hidden from the credential, so whether \
                                 {login} left it cannot be confirmed (deleted or renamed since \
                                 the fetch? the next run reads it again)"
                            ),
                            "/orgs/{org}/teams/{team_slug}",
                        )),
                    }
                }
                Err(e) => Err(e),
            }
        }
    }
}
