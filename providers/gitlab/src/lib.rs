//! orgsync's GitLab provider: one GitLab group (with all its subgroups and projects) as a
//! [`Snapshot`].
//!
//! # What it reads (fewest requests first)
//!
//! 1. `GET /groups/:id?with_projects=false`: the group's id and full path; then the proof that
//!    the token sees the whole group (below): `GET /user`, and for a non-administrator
//!    `GET /groups/:id/members/all/:user_id`.
//!    Then `GET /version` (once per provider): below 17.0, or when it cannot be read, GitLab's
//!    `members/all` lists an invited private group's members only to its own members, so the
//!    invited groups are resolved by orgsync (`shares`: `shared_with_groups` of the group and its
//!    ancestors, then each invited group's direct members, capped at the share's level).
//! 2. `GET /groups/:id/members/all`: the workspace's members, one row per user at the highest of
//!    direct, inherited and invited-group levels. Blocked, deactivated (and banned) accounts
//!    become [`MemberState::Blocked`]/[`MemberState::Deactivated`], memberships awaiting approval
//!    [`MemberState::Awaiting`]; expired memberships are already gone from GitLab's answer. Bots
//!    (GitLab's group and project access-token users, `group_<id>_bot_<hex>` /
//!    `project_<id>_bot_<hex>`) get `bot = true` and no verdict unless
//!    [`FetchPolicy::include_bots`].
//! 3. `GET /groups/:id/projects?include_subgroups=true&with_shared=…`: every project of the tree;
//!    projects merely shared into the tree only with [`FetchPolicy::include_shared_projects`].
//!    A repository's name is its path relative to the group (`backend/api`); shared projects
//!    from outside keep their full path. The list is bracketed by its `x-total` (two
//!    `per_page=1` reads) and read once more when it moved while it was read (GitLab pages by
//!    offset: a project deleted after page 1 hides the first project of page 2, which would
//!    admit people who cannot read it); a list that moves again fails the fetch.
//! 4. Teams (unless off): `GET /groups/:id/descendant_groups`, then `GET /groups/:sub/members`
//!    per subgroup (direct members, as ARCHITECTURE.md asks for GitLab).
//! 5. Per-project checks, only for members still undecided, only while some are left:
//!    `GET /projects/:id/members/all?user_ids[]=…` restricted to those members.
//!
//! # What the credential must see (checked by every fetch and by `check-config --online`)
//!
//! GitLab answers with what the token's user may see, with a `200`: a user who is not a member
//! of an internal group is shown the group, its members and only its internal and public
//! projects (private ones are missing from lists and answer `404` one by one); Minimal Access
//! shows no project at all. So before deciding anything the fetch proves the view, and fails
//! (nothing is applied) otherwise:
//!
//! | policy | the token's user needs |
//! |---|---|
//! | `admit = "all-repositories"` (default) | at least Reporter (20) in the group (or inherited from a parent group), or an instance administrator |
//! | `admit = "all-members"` | at least Guest (10) in the group, or an instance administrator |
//!
//! and the `read_api` (or `api`) scope. The message names what is missing, for example:
//! `gitlab denied /groups/:id/members/all/:user_id: the token's user gina is only
//! minimal_access (5) in acme, so GitLab shows it only part of the group (private projects are
//! left out of lists and answer 404 one by one); nothing was decided. The credential
//! token_file = … needs a user with at least Reporter (20) in acme for admit =
//! "all-repositories" (add it under the group's Manage > Members), or an instance
//! administrator's token`. Group access tokens qualify by their bot user's role.
//!
//! # Confirming destructive verdicts ([`Provider::confirm`])
//!
//! Lists are evidence, not proof. Before a plan is applied every offboard and team removal is
//! put back to GitLab's per-user reads by the user's immutable id (one or two requests each):
//! `GET /groups/:id/members/all/:user_id` (left, not active), `GET /projects/:path` then
//! `GET /projects/:id/members/all/:user_id` (cannot read; an internal project also needs
//! `GET /users/:id`, whose `external` flag only administrators see, so a non-administrator's
//! token cannot confirm "cannot read an internal project": the person is kept as undecided,
//! never removed on a guess), `GET /groups/:path/members/:user_id` (not in a team). A `404` is taken as "not a
//! member" only when the group, project or subgroup itself still answers.
//!
//! # How "reads every repository" is decided
//!
//! The floor is [`FetchPolicy::min_access_level`] (20, Reporter, when unset). A member at or
//! above the floor on the group itself reads every project of the tree: GitLab memberships are
//! inherited by every subgroup and project and can only be raised below. Everyone else (Guests,
//! Planners under the default floor, Minimal access, invited-group members capped below the
//! floor) is undecided and checked against the `members/all` list of each in-scope private
//! project, where being absent, below the floor or awaiting approval is a "cannot read" from an
//! authoritative list. Projects shared in from outside the tree are checked for everyone, since
//! a level on the group says nothing about them.
//!
//! A custom role whose `member_role` grants `read_code` reads at Reporter's level
//! ([`MemberRow::code_level`]).
//!
//! Public projects count as readable by every member and are never checked. Internal projects
//! are read through their visibility by every signed-in user who is not an external user
//! (PROVIDERS.md 2.2); external users need an explicit membership at the floor. Only
//! administrators are shown the `external` flag, so with an administrator's token members below
//! the floor are looked up (`GET /users/:id`, only when an internal project is in scope) and
//! internal projects are checked like private ones for the external ones; with any other token
//! they are checked like private ones for every member below the floor (not admitted unless an
//! explicit membership proves them). A workspace that must not count internal projects can
//! exclude them by name.
//!
//! Checks run on projects at the top of the tree first (they are the ones Guests of a subgroup
//! cannot read) and stop as soon as no undecided member is left.
//!
//! # Teams
//!
//! Every subgroup is a team: slug = its path relative to the group (`backend/api`), parent = the
//! parent subgroup's slug, members = its direct members who are active workspace members
//! (Maintainer and Owner are team maintainers), repositories (mode `full`) = the projects of the
//! subgroup and of every subgroup below it, at `read`: a team's members are guaranteed nothing
//! more than what each individual's level gives, and the directory records team access, not
//! personal levels.
//!
//! # Why lists do not use the `gitlab` crate's `api::paged`
//!
//! Single objects go through the crate's `query_async` on our [`AsyncClient`] adapter
//! ([`api::Adapter`]). Lists are built with the crate's endpoint builders but read by our
//! layer's pager, because the crate's offset pagination fights the layer: it decides the last
//! page by a short page (one extra request whenever a list is an exact multiple of 100, which
//! shows in the request counts), ignores `x-next-page` and `Link` for offset lists, and has no
//! page cap; our pager follows `Link`/`x-next-page`, caps pages and bytes, and fails the fetch
//! on any bad page.
//!
//! [`AsyncClient`]: gitlab::api::AsyncClient

#![warn(missing_docs)]

pub mod api;
pub mod model;
mod shares;

use api::{DescendantGroups, GroupDetails, InvitedGroups};
use async_trait::async_trait;
use gitlab::api::common::NameOrId;
use gitlab::api::groups::members::{AllGroupMembers, GroupMembers};
use gitlab::api::groups::projects::GroupProjects;
use gitlab::api::projects::members::AllProjectMembers;
use model::{
    CurrentUser, Group, MemberRow, ProjectRow, SharedWithGroup, TokenSelf, UserDetail, Version,
};
use orgsync_core::http::{Route, WorkspaceClient};
use orgsync_core::{
    AccessVerdict, Account, AdmitRule, Confirmation, FetchPolicy, Member, MemberState, Permission,
    Provider, ProviderError, ProviderKind, Repository, Snapshot, Team, TeamMember, TeamRepository,
    TeamRole, TeamsMode, Verdict, Visibility,
};
use shares::Shares;
use std::collections::{BTreeMap, BTreeSet};

/// The default floor: Reporter reads code in private projects.
pub const DEFAULT_MIN_ACCESS_LEVEL: u8 = 20;

/// Most user ids per `user_ids[]` filtered request, so a URL stays well under 8 KiB.
const USER_IDS_PER_REQUEST: usize = 100;

/// One GitLab group as a provider account.
pub struct GitlabProvider {
    client: WorkspaceClient,
    group: String,
    host: String,
    /// The group's immutable id and full path, from the last fetch (or read by a confirmation
    /// that comes first), so a confirmation costs one or two requests.
    root: std::sync::Mutex<Option<(u64, String)>>,
    /// What `GET /version` said (`Some(None)`: it could not be read), read once.
    version: std::sync::Mutex<Option<Option<String>>>,
}

impl GitlabProvider {
    /// `client` must have the REST root as base URL (`https://gitlab.example.com/api/v4`);
    /// `group` is the group's full path (`acme/platform`) or numeric id; `host` is what
    /// identities are recorded under.
    pub fn new(client: WorkspaceClient, group: impl Into<String>, host: impl Into<String>) -> Self {
        GitlabProvider {
            client,
            group: group.into(),
            host: host.into(),
            root: std::sync::Mutex::new(None),
            version: std::sync::Mutex::new(None),
        }
    }

    fn group_ref(&self) -> NameOrId<'_> {
        match self.group.parse::<u64>() {
            Ok(id) => NameOrId::Id(id),
            Err(_) => NameOrId::Name(self.group.as_str().into()),
        }
    }
}

/// GitLab's role names for access levels.
pub fn role_name(access_level: u8) -> &'static str {
    match access_level {
        50.. => "owner",
        40..=49 => "maintainer",
        30..=39 => "developer",
        20..=29 => "reporter",
        15..=19 => "planner",
        10..=14 => "guest",
        _ => "minimal_access",
    }
}

/// GitLab names the bot users of group and project access tokens `group_<id>_bot_<hex>` and
/// `project_<id>_bot_<hex>` (older ones without the suffix); member rows carry no bot flag.
pub fn is_bot_username(username: &str) -> bool {
    let rest = username
        .strip_prefix("group_")
        .or_else(|| username.strip_prefix("project_"));
    let Some(rest) = rest else { return false };
    let Some((id, tail)) = rest.split_once("_bot") else {
        return false;
    };
    !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_digit())
        && (tail.is_empty()
            || tail
                .strip_prefix('_')
                .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_alphanumeric())))
}

fn member_state(row: &MemberRow) -> MemberState {
    match row.state.as_str() {
        "active" if row.awaiting() => MemberState::Awaiting,
        "active" => MemberState::Active,
        "deactivated" => MemberState::Deactivated,
        // blocked, ldap_blocked, banned, blocked_pending_approval: none may be admitted.
        _ => MemberState::Blocked,
    }
}

fn visibility(text: &str) -> Visibility {
    match text {
        "public" => Visibility::Public,
        "internal" => Visibility::Internal,
        _ => Visibility::Private,
    }
}

/// The floor a policy asks for.
pub fn floor(policy: &FetchPolicy) -> u8 {
    if policy.min_access_level == 0 {
        DEFAULT_MIN_ACCESS_LEVEL
    } else {
        policy.min_access_level
    }
}

/// A project with what the decision needs.
struct Project {
    repository: Repository,
    /// Inside the configured group's tree (covered by a group-level membership).
    in_tree: bool,
    /// Depth of its namespace below the group (0: the group itself), for the check order.
    depth: usize,
    namespace_path: String,
    /// Groups the project itself is shared with.
    shares: Vec<SharedWithGroup>,
}

#[async_trait]
impl Provider for GitlabProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Gitlab
    }

    async fn fetch(&self, policy: &FetchPolicy) -> Result<Snapshot, ProviderError> {
        let client = self.client.for_fetch(policy);
        let group: Group = api::get(
            &client,
            &GroupDetails {
                group: self.group_ref(),
            },
        )
        .await?;
        let admin = self
            .prove_view(&client, policy.admit, &group)
            .await?
            .is_none();
        let version = self.version(&client).await?;
        // Before 17.0 `members/all` hides the members of invited private groups from callers
        // outside them: resolve the shares ourselves (see `shares`).
        let mut shares =
            (!trusts_invited(version.as_deref())).then(|| Shares::new(&client, version.as_deref()));
        let root_path = group.full_path.clone();
        if let Ok(mut root) = self.root.lock() {
            *root = Some((group.id, root_path.clone()));
        }
        let prefix = format!("{root_path}/");

        let mut rows: Vec<MemberRow> = api::list(
            &client,
            &builder_error(AllGroupMembers::builder().group(group.id).build())?,
        )
        .await?;
        if let Some(shares) = shares.as_mut() {
            shares.seed(&root_path, &group.shared_with_groups);
            for share in shares.of_chain(&root_path).await? {
                let invited = shares.capped(&share).await?;
                shares::merge(&mut rows, invited);
            }
        }
        let projects = self.projects(&client, policy, group.id).await?;
        let projects: Vec<Project> = projects
            .into_iter()
            .map(|p| {
                let ns = p.namespace.full_path.clone().unwrap_or_else(|| {
                    p.path_with_namespace
                        .rsplit_once('/')
                        .map_or(String::new(), |(n, _)| n.to_string())
                });
                let in_tree = ns == root_path || ns.starts_with(&prefix);
                let name = p
                    .path_with_namespace
                    .strip_prefix(&prefix)
                    .map_or_else(|| p.path_with_namespace.clone(), str::to_string);
                let shares = p.shared_with_groups.clone();
                let depth = if in_tree {
                    ns.strip_prefix(&root_path)
                        .map_or(0, |r| r.matches('/').count())
                } else {
                    0
                };
                Project {
                    repository: Repository {
                        id: p.id.to_string(),
                        name,
                        archived: p.archived,
                        fork: p.forked_from_project.as_ref().is_some_and(|v| !v.is_null()),
                        visibility: visibility(&p.visibility),
                    },
                    in_tree,
                    depth,
                    namespace_path: ns,
                    shares,
                }
            })
            .collect();

        let mut members: Vec<Member> = rows
            .iter()
            .map(|row| {
                let state = member_state(row);
                let bot = is_bot_username(&row.username);
                let evaluate = state == MemberState::Active
                    && (!bot || policy.include_bots)
                    && policy.needs_access_verdict(&row.username);
                Member {
                    id: row.id.to_string(),
                    login: row.username.clone(),
                    name: row.name.clone(),
                    email: row.email.clone(),
                    role: role_name(row.access_level).to_string(),
                    is_owner: row.access_level >= 50,
                    state,
                    bot,
                    // Decided below for the members that need it.
                    access: if evaluate {
                        AccessVerdict::ReadsAll
                    } else {
                        AccessVerdict::NotEvaluated
                    },
                }
            })
            .collect();

        let view = View {
            admin,
            root_path: &root_path,
            shares: shares.as_mut(),
        };
        self.decide(&client, policy, view, &rows, &projects, &mut members)
            .await?;

        let teams = match policy.teams {
            TeamsMode::Off => None,
            mode => Some(
                self.teams(&client, group.id, &root_path, mode, &projects, &members)
                    .await?,
            ),
        };

        Ok(Snapshot {
            provider: ProviderKind::Gitlab,
            host: self.host.clone(),
            account: Account {
                id: group.id.to_string(),
                login: root_path,
                name: Some(group.name),
                base_permission: Permission::None,
            },
            members,
            repositories: projects.into_iter().map(|p| p.repository).collect(),
            teams,
            teams_unavailable: None,
            requests: client.request_counts(),
        })
    }

    /// A webhook's targeted re-read: `GET /groups/:id/members/all/:user_id` after confirming
    /// the group itself is visible (so a token that lost the group cannot turn into "nobody is
    /// a member"). 404 on the member is GitLab saying the person has no membership in the tree
    /// any more (expired memberships included). A member below the floor would need every
    /// project checked: that is a full fetch's work, so it answers `Unsupported`.
    async fn fetch_member(
        &self,
        policy: &FetchPolicy,
        id: &str,
        _login: Option<&str>,
    ) -> Result<Option<Member>, ProviderError> {
        let client = self.client.for_fetch(policy);
        let group: Group = api::get(
            &client,
            &GroupDetails {
                group: self.group_ref(),
            },
        )
        .await?;
        let route = orgsync_core::http::Route::new(
            "/groups/:id/members/all/:user_id",
            format!("/groups/{}/members/all/{id}", group.id),
        );
        let row: MemberRow = match client.get_json(&route).await {
            Ok(row) => row,
            Err(ProviderError::NotFound { .. }) => {
                let user: u64 = id.parse().map_err(|_| {
                    ProviderError::Other(format!("the GitLab user id {id:?} is not numeric"))
                })?;
                // Before 17.0 a member through an invited private group answers 404 too: a full
                // fetch resolves the shares.
                if self
                    .through_shares(&client, user, &[group.full_path.as_str()], &[])
                    .await?
                    .is_some()
                {
                    return Err(ProviderError::Unsupported {
                        provider: ProviderKind::Gitlab,
                        what: "a member reached through an invited group before GitLab 17.0"
                            .to_string(),
                    });
                }
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let state = member_state(&row);
        let bot = is_bot_username(&row.username);
        let evaluate = state == MemberState::Active
            && (!bot || policy.include_bots)
            && policy.needs_access_verdict(&row.username);
        let access = if !evaluate {
            AccessVerdict::NotEvaluated
        } else if policy.include_shared_projects {
            // Projects shared into the tree from outside it are in scope, and a level on the
            // group says nothing about them: only a full fetch reads their members.
            return Err(ProviderError::Unsupported {
                provider: ProviderKind::Gitlab,
                what: "the access of a member to projects shared into the group".to_string(),
            });
        } else if row.code_level() >= floor(policy) {
            AccessVerdict::ReadsAll
        } else {
            return Err(ProviderError::Unsupported {
                provider: ProviderKind::Gitlab,
                what: "the project access of a member below the floor".to_string(),
            });
        };
        Ok(Some(Member {
            id: row.id.to_string(),
            login: row.username.clone(),
            name: row.name.clone(),
            email: row.email.clone(),
            role: role_name(row.access_level).to_string(),
            is_owner: row.access_level >= 50,
            state,
            bot,
            access,
        }))
    }

    /// Confirms a destructive verdict with GitLab's per-user reads, by the user's immutable id
    /// (a login renamed since the list was read changes nothing):
    ///
    /// * left / not active: `GET /groups/:id/members/all/:user_id`. A `404` means "no
    ///   membership in the tree" only if the group itself still answers, so it is followed by
    ///   `GET /groups/:id` (2 requests; 1 when the person is still there).
    /// * cannot read `name`: `GET /projects/:path` (the visibility decides first: public is read
    ///   by everyone), then `GET /projects/:id/members/all/:user_id` against the floor; on an
    ///   internal project someone below the floor reads it unless they are an external user,
    ///   which only `GET /users/:id` as an administrator tells (without it the confirmation
    ///   fails rather than guess).
    /// * not in team `slug`: `GET /groups/:path/members/:user_id` on the subgroup (teams are
    ///   subgroups with their direct members); a `404` counts only if the subgroup answers.
    async fn confirm(
        &self,
        policy: &FetchPolicy,
        id: &str,
        login: &str,
        verdict: &Verdict,
    ) -> Result<Confirmation, ProviderError> {
        let client = self.client.for_fetch(policy);
        let user: u64 = id.parse().map_err(|_| {
            ProviderError::Other(format!(
                "the GitLab user id {id:?} recorded for {login} is not numeric, so GitLab cannot be asked about it; check the workspace's identities"
            ))
        })?;
        let (group, root_path) = self.root(&client).await?;
        let contradicted = |found: String| Confirmation::Contradicted { found };
        match verdict {
            Verdict::LeftAccount | Verdict::AccountInactive => {
                let row = member_row(
                    &client,
                    "/groups/:id/members/all/:user_id",
                    format!("/groups/{group}/members/all/{user}"),
                )
                .await?;
                let row = match row {
                    Some(row) => Some(row),
                    // Before 17.0 a member through an invited private group answers 404 too.
                    None => self
                        .through_shares(&client, user, &[root_path.as_str()], &[])
                        .await?
                        .map(|(row, _)| row),
                };
                let Some(row) = row else {
                    // The 404 is about the member only if the group itself still answers.
                    let _: Group = api::get(
                        &client,
                        &GroupDetails {
                            group: NameOrId::Id(group),
                        },
                    )
                    .await?;
                    return Ok(Confirmation::Confirmed);
                };
                let state = member_state(&row);
                Ok(match (verdict, state) {
                    (Verdict::AccountInactive, MemberState::Active) => {
                        contradicted(format!("an active {}", role_name(row.access_level)))
                    }
                    (Verdict::AccountInactive, _) => Confirmation::Confirmed,
                    _ => contradicted(format!(
                        "still a member ({}, {})",
                        role_name(row.access_level),
                        state.as_str()
                    )),
                })
            }
            Verdict::CannotRead { repository } => {
                let project = self.project(&client, &root_path, repository).await?;
                if project.visibility == "public" {
                    return Ok(contradicted(format!("{repository} is public")));
                }
                let row = member_row(
                    &client,
                    "/projects/:id/members/all/:user_id",
                    format!("/projects/{}/members/all/{user}", project.id),
                )
                .await?;
                if let Some(row) = row.filter(|r| reads_code(r, floor(policy))) {
                    return Ok(contradicted(format!(
                        "{} ({}) in {repository}",
                        role_name(row.access_level),
                        row.access_level
                    )));
                }
                // Before 17.0 what a user reads through an invited private group is not shown.
                let namespace = project
                    .namespace
                    .full_path
                    .clone()
                    .or_else(|| {
                        project
                            .path_with_namespace
                            .rsplit_once('/')
                            .map(|(n, _)| n.to_string())
                    })
                    .unwrap_or_default();
                if let Some((row, via)) = self
                    .through_shares(
                        &client,
                        user,
                        &[namespace.as_str()],
                        &project.shared_with_groups,
                    )
                    .await?
                    && reads_code(&row, floor(policy))
                {
                    return Ok(contradicted(format!(
                        "{} ({}) in {repository} through the invited group {via}",
                        role_name(row.access_level),
                        row.access_level
                    )));
                }
                if project.visibility != "internal" {
                    return Ok(Confirmation::Confirmed);
                }
                let detail: UserDetail = client
                    .get_json(&Route::new("/users/:id", format!("/users/{user}")))
                    .await?;
                match detail.external {
                    Some(true) => Ok(Confirmation::Confirmed),
                    Some(false) => Ok(contradicted(format!(
                        "{repository} is internal and {login} is not an external user"
                    ))),
                    // Undecidable with this token: the person is kept (never removed on what the
                    // API could not say) and the run goes on, so one such member does not stop
                    // every other offboarding; the audit trail and the plan say what would decide.
                    None => Ok(contradicted(format!(
                        "undecided: GitLab shows only administrators whether {login} is an external user, which decides whether they read the internal project {repository}; kept. An instance administrator's token, or an explicit Reporter membership of {repository}, decides it"
                    ))),
                }
            }
            Verdict::NotInTeam { team } => {
                let path = format!("{root_path}/{team}");
                let row = member_row(
                    &client,
                    "/groups/:id/members/:user_id",
                    format!("/groups/{}/members/{user}", escaped(&path)),
                )
                .await?;
                match row {
                    Some(r) if r.state == "active" && !r.awaiting() => Ok(contradicted(format!(
                        "a direct member of {team} ({})",
                        role_name(r.access_level)
                    ))),
                    Some(_) => Ok(Confirmation::Confirmed),
                    None => {
                        let _: Group = api::get(
                            &client,
                            &GroupDetails {
                                group: NameOrId::Name(path.as_str().into()),
                            },
                        )
                        .await?;
                        Ok(Confirmation::Confirmed)
                    }
                }
            }
        }
    }

    /// The same proof as a fetch under `policy` (the level `admit` needs), then what the
    /// policy's decisions will rest on.
    async fn check(&self, policy: &FetchPolicy) -> Result<Vec<String>, ProviderError> {
        let client = self.client.with_fresh_counts();
        let mut report = Vec::new();
        let token: TokenSelf = api::get(
            &client,
            &gitlab::api::personal_access_tokens::PersonalAccessTokenSelf::builder()
                .build()
                .map_err(|e| ProviderError::Other(e.to_string()))?,
        )
        .await?;
        let reads_api = token.scopes.iter().any(|s| s == "api" || s == "read_api");
        if !reads_api {
            return Err(ProviderError::Forbidden {
                provider: ProviderKind::Gitlab,
                credential: client.credential_reference().to_string(),
                route: "/personal_access_tokens/self".to_string(),
                detail: format!("the token has the scopes [{}]", token.scopes.join(", ")),
                needed: "the read_api scope (or api)".to_string(),
            });
        }
        if token.active == Some(false) {
            return Err(ProviderError::Unauthorized {
                provider: ProviderKind::Gitlab,
                credential: client.credential_reference().to_string(),
                detail: "the token is revoked or expired".to_string(),
            });
        }
        report.push(format!(
            "token scopes: {}{}",
            token.scopes.join(", "),
            token
                .expires_at
                .map(|d| format!(" (expires {d})"))
                .unwrap_or_default()
        ));
        let user: CurrentUser = api::get(
            &client,
            &gitlab::api::users::CurrentUser::builder()
                .build()
                .map_err(|e| ProviderError::Other(e.to_string()))?,
        )
        .await?;
        let admin = user.is_admin.unwrap_or(false);
        report.push(format!(
            "acts as user {} (id {}){}",
            user.username,
            user.id,
            if admin {
                ", an instance administrator"
            } else if user.bot.unwrap_or(false) {
                ", a group/project access-token bot"
            } else {
                ""
            }
        ));
        let group: Group = api::get(
            &client,
            &GroupDetails {
                group: self.group_ref(),
            },
        )
        .await?;
        report.push(format!(
            "group {} (id {}) is visible",
            group.full_path, group.id
        ));
        let level = self.prove_view(&client, policy.admit, &group).await?;
        let policy_name = admit_name(policy.admit);
        report.push(match level {
            Some(level) => format!(
                "the token's user is {} ({level}) in the group: enough for admit = \"{policy_name}\"",
                role_name(level)
            ),
            None => format!(
                "the token's user is an instance administrator: enough for admit = \"{policy_name}\""
            ),
        });
        let invited: Vec<Group> = api::list(&client, &InvitedGroups { group: group.id }).await?;
        report.push(format!(
            "members list readable; {} invited group(s) contribute members",
            invited.len()
        ));
        let version = self.version(&client).await?;
        let shown = version.as_deref().unwrap_or("of an unknown version");
        if trusts_invited(version.as_deref()) {
            report.push(format!(
                "GitLab {shown}: members/all lists the members of invited groups"
            ));
        } else {
            // The same resolution a fetch makes: an invited group it cannot read fails here.
            let mut shares = Shares::new(&client, version.as_deref());
            shares.seed(&group.full_path, &group.shared_with_groups);
            let grants = shares.of_chain(&group.full_path).await?;
            for share in &grants {
                shares.capped(share).await?;
            }
            report.push(format!(
                "GitLab {shown} (before 17.0): members of invited private groups are read from the {} invited group(s) directly, and each is readable",
                grants.len()
            ));
        }
        if policy.admit == AdmitRule::AllRepositories && level.is_some() {
            report.push(
                "not an instance administrator: GitLab does not show who is an external user, so a member below the floor is admitted only where an explicit membership proves each internal project in scope"
                    .to_string(),
            );
        }
        Ok(report)
    }
}

fn builder_error<T, E: std::fmt::Display>(built: Result<T, E>) -> Result<T, ProviderError> {
    built.map_err(|e| ProviderError::Other(format!("could not build a GitLab request: {e}")))
}

/// A path as one URL segment (`acme/platform` -> `acme%2Fplatform`).
fn escaped(path: &str) -> String {
    gitlab::api::common::path_escaped(path).to_string()
}

/// Whether a membership row gives read access to a private project's code (a custom role with
/// `read_code` reads like Reporter).
fn reads_code(row: &MemberRow, floor: u8) -> bool {
    row.code_level() >= floor && !row.awaiting() && row.state == "active"
}

/// Whether GitLab's `members/all` can be trusted to list the members of invited private groups
/// to this token: from 17.0 (see `shares`); an unreadable version counts as older.
fn trusts_invited(version: Option<&str>) -> bool {
    version
        .and_then(|v| {
            Version {
                version: v.to_string(),
            }
            .major_minor()
        })
        .is_some_and(|v| v >= (17, 0))
}

/// What a fetch knows about its own view when it decides.
struct View<'v, 'c> {
    /// The token's user is an instance administrator (sees the `external` flag).
    admin: bool,
    root_path: &'v str,
    /// Invited groups resolved by orgsync (GitLab before 17.0).
    shares: Option<&'v mut Shares<'c>>,
}

/// One member row; `None` on `404` (the caller decides what the 404 means).
async fn member_row(
    client: &WorkspaceClient,
    template: &'static str,
    path: String,
) -> Result<Option<MemberRow>, ProviderError> {
    match client.get_json(&Route::new(template, path)).await {
        Ok(row) => Ok(Some(row)),
        Err(ProviderError::NotFound { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn admit_name(admit: AdmitRule) -> &'static str {
    match admit {
        AdmitRule::AllRepositories => "all-repositories",
        AdmitRule::AllMembers => "all-members",
    }
}

/// The level the token's user needs in the group for a policy: Reporter to be shown every
/// private project (and read code), Guest to be shown the member list.
pub fn level_needed(admit: AdmitRule) -> u8 {
    match admit {
        AdmitRule::AllRepositories => DEFAULT_MIN_ACCESS_LEVEL,
        AdmitRule::AllMembers => 10,
    }
}

impl GitlabProvider {
    /// `GET /version`, once per provider: `None` when the instance does not say (then invited
    /// groups are resolved by orgsync, as for a version before 17.0).
    async fn version(&self, client: &WorkspaceClient) -> Result<Option<String>, ProviderError> {
        if let Some(known) = self.version.lock().ok().and_then(|v| v.clone()) {
            return Ok(known);
        }
        let version = match client
            .get_json::<Version>(&Route::new("/version", "/version"))
            .await
        {
            Ok(v) => Some(v.version),
            Err(
                ProviderError::NotFound { .. }
                | ProviderError::Forbidden { .. }
                | ProviderError::Malformed { .. }
                | ProviderError::Status { .. },
            ) => None,
            Err(e) => return Err(e),
        };
        if let Ok(mut slot) = self.version.lock() {
            *slot = Some(version.clone());
        }
        Ok(version)
    }

    /// On an instance whose `members/all` hides invited private groups' members (before 17.0,
    /// or an unknown version), the best row `user` gets through the shares of the groups at
    /// `paths` (each with its ancestors) and through `extra` shares, with the invited group's
    /// path; `None` on a newer instance, where the per-user reads already include them.
    async fn through_shares(
        &self,
        client: &WorkspaceClient,
        user: u64,
        paths: &[&str],
        extra: &[SharedWithGroup],
    ) -> Result<Option<(MemberRow, String)>, ProviderError> {
        let version = self.version(client).await?;
        if trusts_invited(version.as_deref()) {
            return Ok(None);
        }
        let mut shares = Shares::new(client, version.as_deref());
        let mut grants = extra.to_vec();
        for path in paths {
            grants.extend(shares.of_chain(path).await?);
        }
        let mut best: Option<(MemberRow, String)> = None;
        for share in &grants {
            for row in shares.capped(share).await? {
                if row.id == user && best.as_ref().is_none_or(|(b, _)| shares::better(b, &row)) {
                    let via = share
                        .group_full_path
                        .clone()
                        .unwrap_or_else(|| share.group_id.to_string());
                    best = Some((row, via));
                }
            }
        }
        Ok(best)
    }

    /// Proves that the token sees the whole group for `admit` before anything is decided: its
    /// user is an instance administrator, or has at least [`level_needed`] in the group
    /// (`GET /user`, then `GET /groups/:id/members/all/:user_id`). A non-member of an internal
    /// group is shown the group, its members and only its internal and public projects, with a
    /// `200`: without this proof a sync would admit people who read none of the private ones.
    /// `Ok(Some(level))` for a member, `Ok(None)` for an administrator.
    async fn prove_view(
        &self,
        client: &WorkspaceClient,
        admit: AdmitRule,
        group: &Group,
    ) -> Result<Option<u8>, ProviderError> {
        let user: CurrentUser = api::get(
            client,
            &gitlab::api::users::CurrentUser::builder()
                .build()
                .map_err(|e| ProviderError::Other(e.to_string()))?,
        )
        .await?;
        if user.is_admin == Some(true) {
            return Ok(None);
        }
        let needed = level_needed(admit);
        let row = member_row(
            client,
            "/groups/:id/members/all/:user_id",
            format!("/groups/{}/members/all/{}", group.id, user.id),
        )
        .await?;
        let what = match &row {
            Some(r) if r.access_level >= needed && !r.awaiting() && r.state == "active" => {
                return Ok(Some(r.access_level));
            }
            Some(r) if r.awaiting() => format!(
                "{} ({}) awaiting approval",
                role_name(r.access_level),
                r.access_level
            ),
            Some(r) if r.state != "active" => {
                format!("{} (account {})", role_name(r.access_level), r.state)
            }
            Some(r) => format!("only {} ({})", role_name(r.access_level), r.access_level),
            None => "not a member".to_string(),
        };
        Err(ProviderError::Forbidden {
            provider: ProviderKind::Gitlab,
            credential: client.credential_reference().to_string(),
            route: "/groups/:id/members/all/:user_id".to_string(),
            detail: format!(
                "the token's user {} is {what} in {}, so GitLab shows it only part of the group (private projects are left out of lists and answer 404 one by one); nothing was decided",
                user.username, group.full_path
            ),
            needed: format!(
                "a user with at least {} ({needed}) in {} for admit = \"{}\" (add it under the group's Manage > Members), or an instance administrator's token",
                if needed >= DEFAULT_MIN_ACCESS_LEVEL {
                    "Reporter"
                } else {
                    "Guest"
                },
                group.full_path,
                admit_name(admit)
            ),
        })
    }

    /// Every project of the tree, read so that a list that moved while it was read is noticed:
    /// GitLab pages by offset, so a project deleted after page 1 was read hides the first
    /// project of page 2 (and a created one repeats one). The list is bracketed by its
    /// `x-total` read before and after, and the rows (de-duplicated by id) are counted against
    /// it; when the totals differ or the count does not match, the list is read once more, and
    /// a second difference fails the fetch (nothing is decided on a list that keeps moving).
    /// Costs two requests more than the list; lists over 10,000 projects, where GitLab sends no
    /// total, are not checked.
    async fn projects(
        &self,
        client: &WorkspaceClient,
        policy: &FetchPolicy,
        group: u64,
    ) -> Result<Vec<ProjectRow>, ProviderError> {
        let endpoint = builder_error(
            GroupProjects::builder()
                .group(group)
                .include_subgroups(true)
                .with_shared(policy.include_shared_projects)
                .build(),
        )?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let before = api::total(client, &endpoint).await?;
            let rows: Vec<ProjectRow> = api::list(client, &endpoint).await?;
            let mut seen = BTreeSet::new();
            let rows: Vec<ProjectRow> = rows.into_iter().filter(|p| seen.insert(p.id)).collect();
            let total = api::total(client, &endpoint).await?;
            let moved = match (before, total) {
                (Some(b), Some(t)) => b != t || t != rows.len(),
                _ => false,
            };
            match total {
                Some(total) if moved => {
                    if attempt >= 2 {
                        return Err(ProviderError::Malformed {
                            provider: ProviderKind::Gitlab,
                            route: "/groups/:id/projects".to_string(),
                            detail: format!(
                                "the project list changed while it was read, twice (GitLab counts {total}, {} were listed); nothing was decided, the next run reads it again",
                                rows.len()
                            ),
                        });
                    }
                    tracing::warn!(
                        listed = rows.len(),
                        total,
                        "the GitLab project list changed while it was read; reading it again"
                    );
                }
                _ => return Ok(rows),
            }
        }
    }

    /// The group's id and full path: from the last fetch, else read now.
    async fn root(&self, client: &WorkspaceClient) -> Result<(u64, String), ProviderError> {
        if let Some(root) = self.root.lock().ok().and_then(|r| r.clone()) {
            return Ok(root);
        }
        let group: Group = api::get(
            client,
            &GroupDetails {
                group: self.group_ref(),
            },
        )
        .await?;
        let root = (group.id, group.full_path);
        if let Ok(mut slot) = self.root.lock() {
            *slot = Some(root.clone());
        }
        Ok(root)
    }

    /// The project a repository name stands for: `root/name` inside the tree, else `name`
    /// itself when it is a project shared into the tree from outside (the fetch names those by
    /// their full path). Anything else (the project vanished, or is hidden from the token) is
    /// an error: the confirmation cannot decide.
    async fn project(
        &self,
        client: &WorkspaceClient,
        root_path: &str,
        name: &str,
    ) -> Result<ProjectRow, ProviderError> {
        let route =
            |path: &str| Route::new("/projects/:id", format!("/projects/{}", escaped(path)));
        let inside = format!("{root_path}/{name}");
        match client.get_json::<ProjectRow>(&route(&inside)).await {
            Ok(p) => return Ok(p),
            Err(ProviderError::NotFound { .. }) if name.contains('/') => {}
            Err(e) => return Err(e),
        }
        let outside: ProjectRow = client.get_json(&route(name)).await?;
        let prefix = format!("{}/", root_path.to_ascii_lowercase());
        let shared_in = outside.shared_with_groups.iter().any(|s| {
            s.group_full_path.as_deref().is_some_and(|p| {
                let p = p.to_ascii_lowercase();
                p == root_path.to_ascii_lowercase() || p.starts_with(&prefix)
            })
        });
        if shared_in {
            Ok(outside)
        } else {
            Err(ProviderError::NotFound {
                provider: ProviderKind::Gitlab,
                what: format!(
                    "project {inside} visible to this token (nor a project {name} shared into the group)"
                ),
                route: "/projects/:id".to_string(),
            })
        }
    }

    /// Sets `CannotRead` for every evaluated member who misses an in-scope project, checking only
    /// undecided members and only while some are left.
    ///
    /// A member at the floor on the group reads every project of the tree (memberships are
    /// inherited), internal ones included; below it, every private project is checked. Internal
    /// projects are read through their visibility by everyone who is not an external user, so
    /// they are checked like private ones for members below the floor who are, or may be,
    /// external: with an administrator's token, those whose `external` flag is set
    /// (`GET /users/:id`, one request per member below the floor, only when an internal
    /// project is in scope); with any other token, every one of them, since GitLab shows the
    /// flag to administrators only (an explicit membership at the floor still proves access).
    async fn decide(
        &self,
        client: &WorkspaceClient,
        policy: &FetchPolicy,
        mut view: View<'_, '_>,
        rows: &[MemberRow],
        projects: &[Project],
        members: &mut [Member],
    ) -> Result<(), ProviderError> {
        let floor = floor(policy);
        let evaluated: Vec<usize> = members
            .iter()
            .enumerate()
            .filter(|(_, m)| m.access == AccessVerdict::ReadsAll)
            .map(|(i, _)| i)
            .collect();
        // Below the floor on the group: undecided for every project.
        let mut low: BTreeSet<u64> = evaluated
            .iter()
            .filter(|i| rows[**i].code_level() < floor)
            .map(|i| rows[*i].id)
            .collect();
        // At the floor: undecided only for projects from outside the tree.
        let mut high: BTreeSet<u64> = evaluated
            .iter()
            .filter(|i| rows[**i].code_level() >= floor)
            .map(|i| rows[*i].id)
            .collect();
        let in_scope: Vec<&Project> = projects
            .iter()
            .filter(|p| policy.scope.includes(&p.repository))
            .collect();
        let internal = in_scope
            .iter()
            .any(|p| p.repository.visibility == Visibility::Internal);
        let outside_internal = in_scope
            .iter()
            .any(|p| p.repository.visibility == Visibility::Internal && !p.in_tree);
        // Members who may be external users, for whom internal projects count as private.
        let mut external: BTreeSet<u64> = BTreeSet::new();
        if internal {
            let candidates: Vec<u64> = low
                .iter()
                .chain(high.iter().filter(|_| outside_internal))
                .copied()
                .collect();
            if view.admin {
                for user in candidates {
                    let detail: UserDetail = client
                        .get_json(&Route::new("/users/:id", format!("/users/{user}")))
                        .await?;
                    if detail.external != Some(false) {
                        external.insert(user);
                    }
                }
            } else {
                external.extend(candidates);
            }
        }
        let mut order: Vec<&Project> = in_scope
            .into_iter()
            .filter(|p| match p.repository.visibility {
                Visibility::Private => true,
                Visibility::Internal => !external.is_empty(),
                Visibility::Public => false,
            })
            .collect();
        // Outside projects concern everyone; then the top of the tree, where subgroup-only
        // members fail first.
        order.sort_by_key(|p| {
            (
                p.in_tree,
                p.depth,
                p.namespace_path.clone(),
                p.repository.name.clone(),
            )
        });
        let mut verdicts: BTreeMap<u64, String> = BTreeMap::new();
        for project in order {
            let mut asked: BTreeSet<u64> = low.clone();
            if !project.in_tree {
                asked.extend(high.iter().copied());
            }
            if project.repository.visibility == Visibility::Internal {
                asked.retain(|u| external.contains(u));
            }
            if asked.is_empty() {
                // Only members at the floor are left, and this project is covered for them.
                continue;
            }
            let id: u64 = project
                .repository
                .id
                .parse()
                .map_err(|_| ProviderError::Other("project id is not numeric".to_string()))?;
            let mut readers = BTreeSet::new();
            let asked_list: Vec<u64> = asked.iter().copied().collect();
            for chunk in asked_list.chunks(USER_IDS_PER_REQUEST) {
                let endpoint = builder_error(
                    AllProjectMembers::builder()
                        .project(id)
                        .user_ids(chunk.iter().copied())
                        .build(),
                )?;
                let found: Vec<MemberRow> = api::list(client, &endpoint).await?;
                readers.extend(found.iter().filter(|r| reads_code(r, floor)).map(|r| r.id));
            }
            if let Some(shares) = view.shares.as_deref_mut() {
                // What the project's members/all may have hidden: its own shares and those of
                // the groups it lives in (below the configured group, whose shares are already
                // in every member's group level).
                let mut grants = project.shares.clone();
                for path in shares::chain(&project.namespace_path) {
                    if project.in_tree
                        && (path.eq_ignore_ascii_case(view.root_path)
                            || !path
                                .to_ascii_lowercase()
                                .starts_with(&format!("{}/", view.root_path.to_ascii_lowercase())))
                    {
                        continue;
                    }
                    grants.extend(shares.of_group(&path).await?);
                }
                for share in &grants {
                    for row in shares.capped(share).await? {
                        if asked.contains(&row.id) && reads_code(&row, floor) {
                            readers.insert(row.id);
                        }
                    }
                }
            }
            for user in asked {
                if !readers.contains(&user) {
                    verdicts.insert(user, project.repository.name.clone());
                    low.remove(&user);
                    high.remove(&user);
                }
            }
            if low.is_empty() && high.is_empty() {
                break;
            }
        }
        for m in members.iter_mut() {
            if let Ok(id) = m.id.parse::<u64>()
                && let Some(repository) = verdicts.remove(&id)
            {
                m.access = AccessVerdict::CannotRead { repository };
            }
        }
        Ok(())
    }

    /// Subgroups as teams.
    async fn teams(
        &self,
        client: &WorkspaceClient,
        group: u64,
        root_path: &str,
        mode: TeamsMode,
        projects: &[Project],
        members: &[Member],
    ) -> Result<Vec<Team>, ProviderError> {
        let prefix = format!("{root_path}/");
        let subgroups: Vec<Group> = api::list(client, &DescendantGroups { group }).await?;
        let slug_of: BTreeMap<u64, String> = subgroups
            .iter()
            .map(|g| {
                (
                    g.id,
                    g.full_path
                        .strip_prefix(&prefix)
                        .map_or_else(|| g.full_path.clone(), str::to_string),
                )
            })
            .collect();
        let active: BTreeSet<&str> = members
            .iter()
            .filter(|m| m.state == MemberState::Active)
            .map(|m| m.id.as_str())
            .collect();
        let mut teams = Vec::new();
        for sub in &subgroups {
            let direct: Vec<MemberRow> = api::list(
                client,
                &builder_error(GroupMembers::builder().group(sub.id).build())?,
            )
            .await?;
            let team_members = direct
                .iter()
                .filter(|r| !r.awaiting() && r.state == "active")
                .filter(|r| active.contains(r.id.to_string().as_str()))
                .map(|r| TeamMember {
                    member_id: r.id.to_string(),
                    role: if r.access_level >= 40 {
                        TeamRole::Maintainer
                    } else {
                        TeamRole::Member
                    },
                })
                .collect();
            let repositories = if mode == TeamsMode::Full {
                let sub_prefix = format!("{}/", sub.full_path);
                projects
                    .iter()
                    .filter(|p| {
                        p.namespace_path == sub.full_path
                            || p.namespace_path.starts_with(&sub_prefix)
                    })
                    .map(|p| TeamRepository {
                        repository: p.repository.name.clone(),
                        permission: Permission::Read,
                    })
                    .collect()
            } else {
                Vec::new()
            };
            teams.push(Team {
                id: sub.id.to_string(),
                slug: slug_of.get(&sub.id).cloned().unwrap_or_default(),
                name: sub.name.clone(),
                parent: sub
                    .parent_id
                    .filter(|p| *p != group)
                    .and_then(|p| slug_of.get(&p).cloned()),
                members: team_members,
                repositories,
            });
        }
        Ok(teams)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bot_usernames_follow_gitlabs_access_token_pattern() {
        assert!(is_bot_username("group_1000_bot_a1b2c3d4"));
        assert!(is_bot_username("project_42_bot"));
        assert!(!is_bot_username("group_admin"));
        assert!(!is_bot_username("alice"));
        assert!(!is_bot_username("project_x_bot_1"));
    }

    #[test]
    fn roles_follow_access_levels() {
        assert_eq!(role_name(50), "owner");
        assert_eq!(role_name(15), "planner");
        assert_eq!(role_name(5), "minimal_access");
    }

    #[test]
    fn default_policy_floor_is_reporter() {
        assert_eq!(floor(&FetchPolicy::default()), 20);
    }
}
