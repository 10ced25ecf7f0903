//! orgsync's Bitbucket Cloud provider: one Bitbucket workspace as a [`Snapshot`].
//!
//! Every request goes through orgsync's resilient HTTP layer ([`WorkspaceClient`]: pacing,
//! retries with backoff on Bitbucket's bare `429`, conditional requests, pagination of the
//! `{values, next}` envelope with page and size caps). No other HTTP client is used.
//!
//! # What it reads
//!
//! 1. `GET /2.0/workspaces/{w}`: the workspace's uuid and name.
//! 2. `GET /2.0/workspaces/{w}/members`: the members, keyed by their immutable `uuid` (never the
//!    nickname, which is neither unique nor stable; it is only the recorded login).
//! 3. `GET /2.0/workspaces/{w}/permissions`: each member's workspace role (`owner`,
//!    `collaborator`, `member`); owners get `is_owner` and read everything.
//! 4. `GET /2.0/repositories/{w}`: every repository (`is_private`, `parent` for forks); the
//!    repository name orgsync records (and scope globs match) is the slug.
//! 5. "Reads every repository", for members the rule needs: Bitbucket's *effective*
//!    permissions (the highest of direct, group and project grants), where a member absent from
//!    a repository's complete list (or listed with `none`) cannot read it. Every (admitted
//!    member, private repository) pair must be seen once and everyone else must be missing from
//!    one complete list, so the reads go cheapest first ([`BitbucketProvider`]'s `decide`):
//!    * the first page of the workspace-wide `GET /2.0/workspaces/{w}/permissions/repositories`
//!      (owners left out with `q=user.uuid!="{owner}" AND …`): when it is the whole list,
//!      everything is decided from it; else its `size` gives the rows per member;
//!    * the first page of one private in-scope repository per project
//!      (`GET /2.0/workspaces/{w}/permissions/repositories/{slug}`); smallest first, a list is
//!      read to its end when the members it leaves out would cost more rows later than its
//!      remaining pages (a restricted project's repository leaves out most of the workspace);
//!    * the still undecided members' own rows: the workspace-wide list restricted with
//!      `q=user.uuid="…" OR …`, 40 members a query, or each repository's list restricted the
//!      same way when that is fewer requests (a narrow scope).
//!
//!    Public repositories are readable by every member and never checked.
//! 6. Teams (unless off): `GET /1.0/groups/{w}` with members (the only API that lists groups and
//!    their members; 2.0 has none). If it answers 404, 410 or 403, teams are reported
//!    unavailable (`Snapshot::teams = None` with the reason) and members still sync. In mode
//!    `full`, each group's repositories come from `GET /2.0/repositories/{w}/{slug}/permissions-config/groups`
//!    per repository and `GET /2.0/workspaces/{w}/projects/{key}/permissions-config/groups` per
//!    project (a project grant applies to each of its repositories; the best grant wins).
//!
//! Every list is read with `pagelen=100`, the maximum.
//!
//! # Budget: 1,000 requests in any rolling hour
//!
//! Bitbucket counts requests in a rolling hour per credential, sends no remaining count (only
//! access tokens' scaled `/2.0/repositories/*` answers carry `X-RateLimit-Limit` and
//! `X-RateLimit-NearLimit`) and no `Retry-After` with its `429`, and says nothing about
//! conditional requests being free, so a no-change run costs as much as a cold one. The HTTP
//! layer paces on its own count ([`WorkspaceClient::with_rolling_limit`]); a fetch that needs
//! more than the allowance waits for the window, or, past the run's deadline, stops with its
//! pages kept ([`orgsync_core::pages`]) and the next run continues from them. With `M` members,
//! `R` repositories, `P` projects, one fetch costs about
//!
//! * `3 + 2·⌈M/100⌉ + ⌈R/100⌉` for the workspace, members, roles and repositories (whose
//!   `size` is read before and after the list, to notice a list that moved);
//! * for `all-repositories`: 1 + `P` probes + the few lists read to the end + about one page
//!   per 100 (admitted member, private repository) pairs + one partly filled page per 40
//!   undecided members;
//! * for teams: 1 (`/1.0/groups`), plus `R + P` in mode `full`.
//!
//! Measured against the simulator (the scale benchmark, BENCHMARKS.md): 1,000 members, 600
//! repositories, 30 projects, teams `full`: 1,389 requests (lower bound 1,295), two windows of
//! a 1,000-per-hour credential; 400 members and 250 repositories: 446.
//!
//! # What the credential must see (checked by every fetch and by `check-config --online`)
//!
//! Bitbucket shows every member's workspace role (`/workspaces/{w}/permissions`) and the
//! effective repository permissions (`/workspaces/{w}/permissions/repositories[/{slug}]`) to
//! workspace administrators only; everyone else gets a `403`. Effective permissions include
//! direct, group and project-level grants, so nothing is missed by reading them. Both
//! admission policies read the roles, so both need a workspace administrator's credential (an
//! API token or OAuth consumer of an administrator, or a workspace access token) with the
//! `account` and `repository` scopes (`team` for groups). `admit = "all-members"` needs no
//! repository permissions, but still the roles. A member's credential fails the run, nothing
//! applied, with: `bitbucket denied /2.0/workspaces/{workspace}/permissions: … (only workspace
//! administrators are shown every member's role and repository permissions; nothing was
//! decided). The credential … needs to be a workspace administrator's: …` ([`ADMIN_NEEDED`]).
//!
//! # Confirming destructive verdicts ([`Provider::confirm`])
//!
//! Before a plan is applied every offboard and group removal is put back to Bitbucket's
//! per-user reads, by uuid (with or without braces) or account id: the workspace membership
//! (`/workspaces/{w}/permissions?q=user.uuid="{…}"`), the user's effective permission on the
//! repository (`/workspaces/{w}/permissions/repositories/{slug}?q=…`, then the repository
//! itself: a public one is read by everyone), the 1.0 group list for groups. One or two
//! requests each; a repository that vanished fails the run instead of confirming.
//!
//! # Credentials
//!
//! API tokens (Basic `email:token`, [`orgsync_core::http::BasicAuth`]), workspace, project or
//! repository access tokens (Bearer), and OAuth consumers ([`oauth::OauthClientCredentials`]).

#![warn(missing_docs)]

pub mod model;
pub mod oauth;

use async_trait::async_trait;
use model::{
    FirstPage, GroupPermission, Repository as BbRepository, RepositoryPermission, V1Group,
    Workspace, WorkspaceMembership, repository_permission,
};
use orgsync_core::http::{Route, WorkspaceClient};
use orgsync_core::{
    AccessVerdict, Account, AdmitRule, Confirmation, FetchPolicy, Member, MemberState, Permission,
    Provider, ProviderError, ProviderKind, Repository, Snapshot, Team, TeamMember, TeamRepository,
    TeamRole, TeamsMode, Verdict, Visibility,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Bitbucket's largest page.
const PAGELEN: u32 = 100;
/// Owners excluded by uuid from the workspace-wide permission listing at most; more would make
/// the query string long for little gain.
const MAX_EXCLUDED_OWNERS: usize = 20;
/// Candidates named in one `q=user.uuid="…" OR …` filter: about 2.7 KB of query string at
/// most, well within what servers and proxies accept in a URL; a query more costs one partly
/// filled page, so larger groups would save little.
const UNDECIDED_PER_QUERY: usize = 40;

/// A Bitbucket Cloud workspace.
pub struct BitbucketProvider {
    client: WorkspaceClient,
    workspace: String,
    host: String,
}

impl BitbucketProvider {
    /// `client` must have the API host as base URL (`https://api.bitbucket.org`; routes add
    /// `/2.0` and `/1.0`); `workspace` is the workspace slug; `host` is what identities are
    /// recorded under.
    pub fn new(
        client: WorkspaceClient,
        workspace: impl Into<String>,
        host: impl Into<String>,
    ) -> Self {
        BitbucketProvider {
            client,
            workspace: workspace.into(),
            host: host.into(),
        }
    }

    fn path(&self, rest: &str) -> String {
        format!("/2.0/{rest}")
    }
}

/// What a route needs, for messages that name the missing scope.
fn scope_hint(scope: &str) -> String {
    format!(
        "the OAuth scope `{scope}` (or the matching API-token / access-token scope) and \
         workspace admin rights for permission routes"
    )
}

/// What a credential needs to be shown the whole workspace: Bitbucket answers the permission
/// routes (workspace roles, effective repository permissions) to workspace administrators only,
/// and without them nobody's access can be decided.
pub const ADMIN_NEEDED: &str = "to be a workspace administrator's: an API token (or OAuth consumer) of a user who is an administrator of the workspace (Workspace settings > User groups: Administrators, or the user's workspace role), or a workspace access token; with the `account` and `repository` scopes (`team` for groups)";

/// Replaces the layer's generic "needed" text of a 403 with what the route needs: workspace
/// administration for the permission routes, else the scope.
fn name_scope(error: ProviderError, scope: &str) -> ProviderError {
    match error {
        ProviderError::Forbidden {
            provider,
            credential,
            route,
            detail,
            ..
        } => {
            let admin_route =
                route.contains("/permissions") && !route.contains("permissions-config");
            ProviderError::Forbidden {
                provider,
                credential,
                needed: if admin_route {
                    ADMIN_NEEDED.to_string()
                } else {
                    scope_hint(scope)
                },
                route,
                detail: if admin_route {
                    format!(
                        "{detail} (only workspace administrators are shown every member's role and repository permissions; nothing was decided)"
                    )
                } else {
                    detail
                },
            }
        }
        other => other,
    }
}

fn visibility(repo: &BbRepository) -> Visibility {
    if repo.is_private.unwrap_or(true) {
        Visibility::Private
    } else {
        Visibility::Public
    }
}

/// Bitbucket's uuid in the form its API writes it (`{…}`), for an id recorded with or without
/// braces; `None` for anything that is not a uuid (an Atlassian account id such as
/// `557058:…` or a 24-digit hex id).
pub fn braced_uuid(id: &str) -> Option<String> {
    let bare = id.trim().trim_start_matches('{').trim_end_matches('}');
    let is_uuid = bare.len() == 36
        && bare.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    is_uuid.then(|| format!("{{{bare}}}"))
}

/// Whether two recorded identities name the same Bitbucket user: uuids compare without braces
/// and case, anything else (account ids) exactly.
pub fn same_user(a: &str, b: &str) -> bool {
    match (braced_uuid(a), braced_uuid(b)) {
        (Some(x), Some(y)) => x.eq_ignore_ascii_case(&y),
        _ => a.trim() == b.trim(),
    }
}

/// The BBQL comparison that selects one user by uuid or account id.
fn user_query(id: &str) -> String {
    match braced_uuid(id) {
        Some(uuid) => format!("user.uuid=\"{uuid}\""),
        None => format!("user.account_id=\"{}\"", id.trim().replace('"', "")),
    }
}

/// `q=` that leaves out the owners' rows: they read everything and are decided already.
fn owners_filter(owners: &BTreeSet<String>) -> Option<String> {
    if owners.is_empty() || owners.len() > MAX_EXCLUDED_OWNERS {
        return None;
    }
    Some(
        owners
            .iter()
            .map(|uuid| format!("user.uuid!=\"{uuid}\""))
            .collect::<Vec<_>>()
            .join(" AND "),
    )
}

impl BitbucketProvider {
    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        client: &WorkspaceClient,
        template: &'static str,
        path: String,
        scope: &str,
    ) -> Result<Vec<T>, ProviderError> {
        client
            .get_all(&Route::new(template, path).query("pagelen", PAGELEN))
            .await
            .map_err(|e| name_scope(e, scope))
    }

    /// The `size` Bitbucket reports for the repository list (one request for one row).
    async fn repository_count(
        &self,
        client: &WorkspaceClient,
    ) -> Result<Option<u64>, ProviderError> {
        let w = &self.workspace;
        let first: FirstPage<BbRepository> = client
            .get_json(
                &Route::new(
                    "/2.0/repositories/{workspace}",
                    self.path(&format!("repositories/{w}")),
                )
                .query("pagelen", 1),
            )
            .await
            .map_err(|e| name_scope(e, "repository"))?;
        Ok(first.size)
    }

    /// Every repository, read so that a list that moved while it was read is noticed: pages are
    /// offsets, so a repository deleted after page 1 hides the first one of page 2 (whose
    /// readers would then not be checked). The list is bracketed by its `size` before and
    /// after, rows are de-duplicated by uuid and counted; on a difference the list is read once
    /// more, and a second difference fails the fetch. Two requests more than the list.
    async fn repositories(
        &self,
        client: &WorkspaceClient,
    ) -> Result<Vec<BbRepository>, ProviderError> {
        let w = &self.workspace;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let before = self.repository_count(client).await?;
            let rows: Vec<BbRepository> = self
                .list(
                    client,
                    "/2.0/repositories/{workspace}",
                    self.path(&format!("repositories/{w}")),
                    "repository",
                )
                .await?;
            let mut seen = BTreeSet::new();
            let rows: Vec<BbRepository> = rows
                .into_iter()
                .filter(|r| seen.insert(r.uuid.clone()))
                .collect();
            let after = self.repository_count(client).await?;
            let moved = match (before, after) {
                (Some(b), Some(a)) => b != a || a != rows.len() as u64,
                _ => false,
            };
            if !moved {
                return Ok(rows);
            }
            if attempt >= 2 {
                return Err(ProviderError::Malformed {
                    provider: ProviderKind::Bitbucket,
                    route: "/2.0/repositories/{workspace}".to_string(),
                    detail: format!(
                        "the repository list changed while it was read, twice (Bitbucket counts {}, {} were listed); nothing was decided, the next run reads it again",
                        after.unwrap_or_default(),
                        rows.len()
                    ),
                });
            }
            tracing::warn!(
                listed = rows.len(),
                "the Bitbucket repository list changed while it was read; reading it again"
            );
        }
    }

    /// One page of a permission list (the workspace-wide one or a repository's), `q=` applied.
    async fn permission_page(
        &self,
        client: &WorkspaceClient,
        template: &'static str,
        path: String,
        q: Option<String>,
    ) -> Result<FirstPage<RepositoryPermission>, ProviderError> {
        let mut route = Route::new(template, path).query("pagelen", PAGELEN);
        if let Some(q) = q {
            route = route.query("q", q);
        }
        client
            .get_json(&route)
            .await
            .map_err(|e| name_scope(e, "account"))
    }

    /// The rest of a list whose first page is `first`.
    async fn rest_of(
        &self,
        client: &WorkspaceClient,
        template: &'static str,
        first: FirstPage<RepositoryPermission>,
    ) -> Result<Vec<RepositoryPermission>, ProviderError> {
        let mut rows = first.values;
        if let Some(next) = first.next.filter(|n| !n.is_empty()) {
            let rest: Vec<RepositoryPermission> = client
                .get_all(&Route::new(template, next))
                .await
                .map_err(|e| name_scope(e, "account"))?;
            rows.extend(rest);
        }
        Ok(rows)
    }

    /// Decides [`AccessVerdict`]s for `candidates` (uuids) against the private in-scope
    /// repositories `checked` (slug and project key, in listing order).
    ///
    /// A candidate is admitted only when every checked repository's complete list shows them,
    /// so every (admitted candidate, repository) pair must be read once; everyone else needs one
    /// complete list without them. The reads, cheapest first:
    ///
    /// 1. the workspace-wide list's first page (owners left out with `q=`): its `size` says how
    ///    many rows a candidate has on average; when it is the whole list, everything is
    ///    decided from it;
    /// 2. exclusion: the first page of one repository per project (projects carry most grants,
    ///    so their repositories' lists look alike); smallest first, a repository's list is read
    ///    to the end when the candidates it leaves out would cost more rows later than its
    ///    remaining pages, and everyone absent from it is decided;
    /// 3. the remaining candidates' own rows: the workspace-wide list restricted with
    ///    `q=user.uuid="…" OR …` to [`UNDECIDED_PER_QUERY`] of them at a time, so only their
    ///    rows are paid for; or, when fewer requests, each checked repository's list restricted
    ///    the same way.
    ///
    /// A member left out names the first checked repository (listing order) among those whose
    /// complete list was read without them.
    async fn decide(
        &self,
        client: &WorkspaceClient,
        owners: &BTreeSet<String>,
        candidates: &BTreeSet<String>,
        checked: &[(String, Option<String>)],
    ) -> Result<HashMap<String, AccessVerdict>, ProviderError> {
        let mut verdicts = HashMap::new();
        if candidates.is_empty() {
            return Ok(verdicts);
        }
        if checked.is_empty() {
            for c in candidates {
                verdicts.insert(c.clone(), AccessVerdict::ReadsAll);
            }
            return Ok(verdicts);
        }
        let w = &self.workspace;
        let order: HashMap<String, usize> = checked
            .iter()
            .enumerate()
            .map(|(i, (slug, _))| (slug.to_ascii_lowercase(), i))
            .collect();
        // Candidates' readable checked repositories, by listing index.
        let readable_of = |rows: &[RepositoryPermission], who: &BTreeSet<String>| {
            let mut map: HashMap<String, BTreeSet<usize>> = HashMap::new();
            for row in rows {
                if !repository_permission(&row.permission).can_read()
                    || !who.contains(&row.user.uuid)
                {
                    continue;
                }
                if let Some(i) = row
                    .repository
                    .slug()
                    .and_then(|s| order.get(&s.to_ascii_lowercase()))
                {
                    map.entry(row.user.uuid.clone()).or_default().insert(*i);
                }
            }
            map
        };
        let verdict_from = |readable: Option<&BTreeSet<usize>>| match (0..checked.len())
            .find(|i| !readable.is_some_and(|r| r.contains(i)))
        {
            Some(i) => AccessVerdict::CannotRead {
                repository: checked[i].0.clone(),
            },
            None => AccessVerdict::ReadsAll,
        };

        const WIDE: &str = "/2.0/workspaces/{workspace}/permissions/repositories";
        const ONE: &str = "/2.0/workspaces/{workspace}/permissions/repositories/{repo_slug}";
        let wide_path = self.path(&format!("workspaces/{w}/permissions/repositories"));
        let first = self
            .permission_page(client, WIDE, wide_path.clone(), owners_filter(owners))
            .await?;
        if first.next.is_none() {
            let readable = readable_of(&first.values, candidates);
            for c in candidates {
                verdicts.insert(c.clone(), verdict_from(readable.get(c)));
            }
            return Ok(verdicts);
        }
        // Rows a candidate has in the workspace-wide list, on average (at least one page's
        // worth of a repository each would be read otherwise).
        let total_rows = first
            .size
            .unwrap_or(u64::from(PAGELEN) * checked.len() as u64);
        let rows_per_candidate = total_rows as f64 / candidates.len().max(1) as f64;

        // 2. Exclusion by the repositories that leave most candidates out.
        let mut undecided: BTreeSet<String> = candidates.clone();
        let mut left_out: HashMap<String, usize> = HashMap::new();
        let mut probed: BTreeSet<String> = BTreeSet::new();
        let mut probes = Vec::new();
        for (i, (slug, project)) in checked.iter().enumerate() {
            let project = project.clone().unwrap_or_default().to_ascii_lowercase();
            if !probed.insert(project) {
                continue;
            }
            let page = self
                .permission_page(
                    client,
                    ONE,
                    self.path(&format!("workspaces/{w}/permissions/repositories/{slug}")),
                    owners_filter(owners),
                )
                .await?;
            probes.push((i, page));
        }
        probes.sort_by_key(|(i, page)| (page.size.unwrap_or(u64::MAX), *i));
        for (i, page) in probes {
            let size = page.size.unwrap_or(u64::MAX);
            let pages_left = size
                .div_ceil(u64::from(PAGELEN))
                .saturating_sub(1)
                .min(u64::from(u32::MAX));
            let may_leave_out = (undecided.len() as u64).saturating_sub(size);
            let saved = may_leave_out as f64 * rows_per_candidate / f64::from(PAGELEN);
            if page.next.is_some() && saved <= pages_left as f64 {
                continue;
            }
            let rows = self.rest_of(client, ONE, page).await?;
            let readers: BTreeSet<&str> = rows
                .iter()
                .filter(|r| repository_permission(&r.permission).can_read())
                .map(|r| r.user.uuid.as_str())
                .collect();
            for c in &undecided {
                if !readers.contains(c.as_str()) {
                    let e = left_out.entry(c.clone()).or_insert(i);
                    *e = (*e).min(i);
                }
            }
            undecided.retain(|c| readers.contains(c.as_str()));
        }
        for (c, i) in &left_out {
            verdicts.insert(
                c.clone(),
                AccessVerdict::CannotRead {
                    repository: checked[*i].0.clone(),
                },
            );
        }
        if undecided.is_empty() {
            return Ok(verdicts);
        }

        // 3. The undecided candidates' own rows, a few candidates per query.
        let chunks: Vec<BTreeSet<String>> = undecided
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .chunks(UNDECIDED_PER_QUERY)
            .map(|c| c.iter().cloned().collect())
            .collect();
        let wide_estimate =
            undecided.len() as f64 * rows_per_candidate / f64::from(PAGELEN) + chunks.len() as f64;
        let per_repository_estimate = (checked.len() * chunks.len()) as f64;
        for chunk in chunks {
            let q = chunk
                .iter()
                .map(|uuid| user_query(uuid))
                .collect::<Vec<_>>()
                .join(" OR ");
            let rows = if wide_estimate <= per_repository_estimate {
                tracing::debug!(workspace = %w, candidates = chunk.len(), "reading candidates' rows of the workspace-wide permission list");
                let page = self
                    .permission_page(client, WIDE, wide_path.clone(), Some(q))
                    .await?;
                self.rest_of(client, WIDE, page).await?
            } else {
                let mut rows = Vec::new();
                let mut still: BTreeSet<String> = chunk.clone();
                for (slug, _) in checked {
                    if still.is_empty() {
                        break;
                    }
                    let q = still
                        .iter()
                        .map(|uuid| user_query(uuid))
                        .collect::<Vec<_>>()
                        .join(" OR ");
                    let page = self
                        .permission_page(
                            client,
                            ONE,
                            self.path(&format!("workspaces/{w}/permissions/repositories/{slug}")),
                            Some(q),
                        )
                        .await?;
                    let these = self.rest_of(client, ONE, page).await?;
                    let readers: BTreeSet<String> = these
                        .iter()
                        .filter(|r| repository_permission(&r.permission).can_read())
                        .map(|r| r.user.uuid.clone())
                        .collect();
                    still.retain(|c| readers.contains(c));
                    rows.extend(these);
                }
                rows
            };
            let readable = readable_of(&rows, &chunk);
            for c in &chunk {
                verdicts.insert(c.clone(), verdict_from(readable.get(c)));
            }
        }
        Ok(verdicts)
    }

    /// Groups with members, and in mode `full` their repository grants. `Ok(Err(reason))` when
    /// the 1.0 groups route is gone or refused.
    async fn teams(
        &self,
        client: &WorkspaceClient,
        mode: TeamsMode,
        members: &[Member],
        repositories: &[BbRepository],
    ) -> Result<Result<Vec<Team>, String>, ProviderError> {
        let w = &self.workspace;
        let groups: Vec<V1Group> = match client
            .get_json(&Route::new(
                "/1.0/groups/{workspace}",
                format!("/1.0/groups/{w}"),
            ))
            .await
        {
            Ok(groups) => groups,
            Err(ProviderError::NotFound { .. }) => {
                return Ok(Err(
                    "Bitbucket's 1.0 groups API answered 404 (removed); groups cannot be listed"
                        .to_string(),
                ));
            }
            Err(ProviderError::Status { status: 410, .. }) => {
                return Ok(Err(
                    "Bitbucket's 1.0 groups API answered 410 Gone; groups cannot be listed"
                        .to_string(),
                ));
            }
            Err(ProviderError::Forbidden { detail, .. }) => {
                return Ok(Err(format!(
                    "Bitbucket refused the 1.0 groups API ({detail}); it needs the `team` scope"
                )));
            }
            Err(other) => return Err(other),
        };
        let member_ids: BTreeSet<&str> = members.iter().map(|m| m.id.as_str()).collect();
        let mut grants: BTreeMap<String, BTreeMap<String, Permission>> = BTreeMap::new();
        if mode == TeamsMode::Full {
            let mut raise = |group: &str, repo: &str, p: Permission| {
                if p > Permission::None {
                    let e = grants
                        .entry(group.to_ascii_lowercase())
                        .or_default()
                        .entry(repo.to_string())
                        .or_insert(p);
                    *e = (*e).max(p);
                }
            };
            let mut by_project: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for r in repositories {
                let slug = r.slug().to_string();
                if let Some(key) = r.project.as_ref().and_then(|p| p.key.clone()) {
                    by_project.entry(key).or_default().push(slug.clone());
                }
                let rows: Vec<GroupPermission> = self
                    .list(
                        client,
                        "/2.0/repositories/{workspace}/{repo_slug}/permissions-config/groups",
                        self.path(&format!(
                            "repositories/{w}/{slug}/permissions-config/groups"
                        )),
                        "repository:admin",
                    )
                    .await?;
                for row in rows {
                    raise(
                        &row.group.slug,
                        &slug,
                        repository_permission(&row.permission),
                    );
                }
            }
            for (key, slugs) in &by_project {
                let rows: Vec<GroupPermission> = self
                    .list(
                        client,
                        "/2.0/workspaces/{workspace}/projects/{project_key}/permissions-config/groups",
                        self.path(&format!(
                            "workspaces/{w}/projects/{key}/permissions-config/groups"
                        )),
                        "project:admin",
                    )
                    .await?;
                for row in rows {
                    for slug in slugs {
                        raise(
                            &row.group.slug,
                            slug,
                            repository_permission(&row.permission),
                        );
                    }
                }
            }
        }
        let teams = groups
            .into_iter()
            .map(|g| {
                let mut team_members: Vec<TeamMember> = g
                    .members
                    .iter()
                    .filter_map(|m| m.uuid.as_deref())
                    .filter(|uuid| member_ids.contains(uuid))
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .map(|uuid| TeamMember {
                        member_id: uuid.to_string(),
                        role: TeamRole::Member,
                    })
                    .collect();
                team_members.sort_by(|a, b| a.member_id.cmp(&b.member_id));
                let repositories = grants
                    .get(&g.slug.to_ascii_lowercase())
                    .map(|repos| {
                        repos
                            .iter()
                            .map(|(repository, permission)| TeamRepository {
                                repository: repository.clone(),
                                permission: *permission,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Team {
                    id: format!("{w}:{}", g.slug),
                    slug: g.slug,
                    name: g.name,
                    parent: None,
                    members: team_members,
                    repositories,
                }
            })
            .collect();
        Ok(Ok(teams))
    }
}

#[async_trait]
impl Provider for BitbucketProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Bitbucket
    }

    async fn fetch(&self, policy: &FetchPolicy) -> Result<Snapshot, ProviderError> {
        let client = self.client.for_fetch(policy);
        let w = &self.workspace;
        let workspace: Workspace = client
            .get_json(&Route::new(
                "/2.0/workspaces/{workspace}",
                self.path(&format!("workspaces/{w}")),
            ))
            .await?;
        let (memberships, roles, repos) = tokio::try_join!(
            self.list::<WorkspaceMembership>(
                &client,
                "/2.0/workspaces/{workspace}/members",
                self.path(&format!("workspaces/{w}/members")),
                "account",
            ),
            self.list::<WorkspaceMembership>(
                &client,
                "/2.0/workspaces/{workspace}/permissions",
                self.path(&format!("workspaces/{w}/permissions")),
                "account",
            ),
            self.repositories(&client),
        )?;
        let role_of: HashMap<&str, &str> = roles
            .iter()
            .filter_map(|m| m.permission.as_deref().map(|p| (m.user.uuid.as_str(), p)))
            .collect();

        let repositories: Vec<Repository> = repos
            .iter()
            .map(|r| Repository {
                id: r.uuid.clone(),
                name: r.slug().to_string(),
                archived: false,
                fork: r.parent.is_some(),
                visibility: visibility(r),
            })
            .collect();
        let checked: Vec<(String, Option<String>)> = repositories
            .iter()
            .zip(&repos)
            .filter(|(r, _)| r.visibility == Visibility::Private && policy.scope.includes(r))
            .map(|(r, bb)| {
                (
                    r.name.clone(),
                    bb.project.as_ref().and_then(|p| p.key.clone()),
                )
            })
            .collect();

        let mut seen = BTreeSet::new();
        let mut members: Vec<Member> = Vec::new();
        for m in memberships {
            if !seen.insert(m.user.uuid.clone()) {
                continue;
            }
            let role = role_of
                .get(m.user.uuid.as_str())
                .copied()
                .unwrap_or("member")
                .to_string();
            let login = m.user.login();
            members.push(Member {
                id: m.user.uuid.clone(),
                is_owner: role == "owner",
                role,
                name: m.user.display_name.clone(),
                email: None,
                state: MemberState::Active,
                bot: false,
                access: AccessVerdict::NotEvaluated,
                login,
            });
        }

        if policy.admit == AdmitRule::AllRepositories {
            let owners: BTreeSet<String> = members
                .iter()
                .filter(|m| m.is_owner)
                .map(|m| m.id.clone())
                .collect();
            let candidates: BTreeSet<String> = members
                .iter()
                .filter(|m| !m.is_owner && policy.needs_access_verdict(&m.login))
                .map(|m| m.id.clone())
                .collect();
            let mut verdicts = self.decide(&client, &owners, &candidates, &checked).await?;
            for m in &mut members {
                if m.is_owner && policy.needs_access_verdict(&m.login) {
                    m.access = AccessVerdict::ReadsAll;
                } else if let Some(v) = verdicts.remove(&m.id) {
                    m.access = v;
                }
            }
        }

        let (teams, teams_unavailable) = match policy.teams {
            TeamsMode::Off => (None, None),
            mode => match self.teams(&client, mode, &members, &repos).await? {
                Ok(teams) => (Some(teams), None),
                Err(reason) => (None, Some(reason)),
            },
        };

        Ok(Snapshot {
            provider: ProviderKind::Bitbucket,
            host: self.host.clone(),
            account: Account {
                id: workspace.uuid,
                login: workspace.slug,
                name: workspace.name,
                base_permission: Permission::None,
            },
            members,
            repositories,
            teams,
            teams_unavailable,
            requests: client.request_counts(),
        })
    }

    /// Confirms a destructive verdict with Bitbucket's per-user reads (by uuid, with or without
    /// braces, or by account id):
    ///
    /// * left: `GET /2.0/workspaces/{w}/permissions?q=user.uuid="{…}"`, an empty answer from
    ///   a workspace that exists (Bitbucket has no inactive members) — 1 request;
    /// * cannot read `slug`: `GET /2.0/workspaces/{w}/permissions/repositories/{slug}` with the
    ///   same `q=` (the user's effective permission, direct, group and project grants), then
    ///   `GET /2.0/repositories/{w}/{slug}` when there is no row (a public repository is read by
    ///   everyone) — 2 requests; a repository that vanished answers 404 and fails the run;
    /// * not in team `slug`: `GET /1.0/groups/{w}` (the complete, unpaged list with members).
    async fn confirm(
        &self,
        policy: &FetchPolicy,
        id: &str,
        login: &str,
        verdict: &Verdict,
    ) -> Result<Confirmation, ProviderError> {
        let client = self.client.for_fetch(policy);
        let w = &self.workspace;
        let contradicted = |found: String| Confirmation::Contradicted { found };
        match verdict {
            Verdict::LeftAccount | Verdict::AccountInactive => {
                let page: FirstPage<WorkspaceMembership> = client
                    .get_json(
                        &Route::new(
                            "/2.0/workspaces/{workspace}/permissions",
                            self.path(&format!("workspaces/{w}/permissions")),
                        )
                        .query("q", user_query(id)),
                    )
                    .await
                    .map_err(|e| name_scope(e, "account"))?;
                Ok(match page.values.first() {
                    None => Confirmation::Confirmed,
                    Some(m) => contradicted(format!(
                        "still a member ({})",
                        m.permission.as_deref().unwrap_or("member")
                    )),
                })
            }
            Verdict::CannotRead { repository } => {
                let rows: FirstPage<RepositoryPermission> = client
                    .get_json(
                        &Route::new(
                            "/2.0/workspaces/{workspace}/permissions/repositories/{repo_slug}",
                            self.path(&format!(
                                "workspaces/{w}/permissions/repositories/{repository}"
                            )),
                        )
                        .query("q", user_query(id)),
                    )
                    .await
                    .map_err(|e| name_scope(e, "repository"))?;
                if let Some(row) = rows
                    .values
                    .iter()
                    .find(|r| repository_permission(&r.permission).can_read())
                {
                    return Ok(contradicted(format!("{} on {repository}", row.permission)));
                }
                let repo: BbRepository = client
                    .get_json(&Route::new(
                        "/2.0/repositories/{workspace}/{repo_slug}",
                        self.path(&format!("repositories/{w}/{repository}")),
                    ))
                    .await
                    .map_err(|e| name_scope(e, "repository"))?;
                Ok(if visibility(&repo) == Visibility::Public {
                    contradicted(format!("{repository} is public"))
                } else {
                    Confirmation::Confirmed
                })
            }
            Verdict::NotInTeam { team } => {
                let groups: Vec<V1Group> = client
                    .get_json(&Route::new(
                        "/1.0/groups/{workspace}",
                        format!("/1.0/groups/{w}"),
                    ))
                    .await
                    .map_err(|e| name_scope(e, "team"))?;
                let member = groups
                    .iter()
                    .filter(|g| g.slug.eq_ignore_ascii_case(team))
                    .flat_map(|g| g.members.iter())
                    .any(|m| {
                        m.uuid.as_deref().is_some_and(|u| same_user(u, id))
                            || m.account_id.as_deref().is_some_and(|a| same_user(a, id))
                    });
                Ok(if member {
                    contradicted(format!("{login} is in group {team}"))
                } else {
                    Confirmation::Confirmed
                })
            }
        }
    }

    /// What a sync under `policy` reads, one probe each: the workspace, its members and their
    /// roles (every policy: roles are shown to workspace administrators only, and owners are
    /// told apart by them), the repositories and, for `admit = "all-repositories"`, the
    /// effective repository permissions; groups only when teams are replicated.
    async fn check(&self, policy: &FetchPolicy) -> Result<Vec<String>, ProviderError> {
        let client = self.client.with_fresh_counts();
        let w = &self.workspace;
        let mut report = Vec::new();
        let workspace: Workspace = client
            .get_json(&Route::new(
                "/2.0/workspaces/{workspace}",
                self.path(&format!("workspaces/{w}")),
            ))
            .await?;
        report.push(format!(
            "workspace {} ({}) is readable",
            workspace.slug, workspace.uuid
        ));
        let one =
            |template: &'static str, path: String| Route::new(template, path).query("pagelen", 1);
        let _: FirstPage<WorkspaceMembership> = client
            .get_json(&one(
                "/2.0/workspaces/{workspace}/members",
                self.path(&format!("workspaces/{w}/members")),
            ))
            .await
            .map_err(|e| name_scope(e, "account"))?;
        report.push("members: readable (scope `account`)".to_string());
        let _: FirstPage<WorkspaceMembership> = client
            .get_json(&one(
                "/2.0/workspaces/{workspace}/permissions",
                self.path(&format!("workspaces/{w}/permissions")),
            ))
            .await
            .map_err(|e| name_scope(e, "account"))?;
        report.push("workspace roles: readable (scope `account`)".to_string());
        let _: FirstPage<BbRepository> = client
            .get_json(&one(
                "/2.0/repositories/{workspace}",
                self.path(&format!("repositories/{w}")),
            ))
            .await
            .map_err(|e| name_scope(e, "repository"))?;
        report.push("repositories: readable (scope `repository`)".to_string());
        if policy.admit == AdmitRule::AllRepositories {
            let _: FirstPage<RepositoryPermission> = client
                .get_json(&one(
                    "/2.0/workspaces/{workspace}/permissions/repositories",
                    self.path(&format!("workspaces/{w}/permissions/repositories")),
                ))
                .await
                .map_err(|e| name_scope(e, "account"))?;
            report.push(
                "effective repository permissions: readable (scope `account`, workspace admin): enough for admit = \"all-repositories\""
                    .to_string(),
            );
        } else {
            report.push(
                "effective repository permissions: not read (admit = \"all-members\" does not need them)"
                    .to_string(),
            );
        }
        if policy.teams == TeamsMode::Off {
            report.push("groups: not read (teams = \"off\")".to_string());
            return Ok(report);
        }
        match client
            .get_json::<Vec<V1Group>>(&Route::new(
                "/1.0/groups/{workspace}",
                format!("/1.0/groups/{w}"),
            ))
            .await
        {
            Ok(groups) => report.push(format!(
                "groups (1.0 API): {} readable (scope `team`)",
                groups.len()
            )),
            Err(
                e @ (ProviderError::NotFound { .. }
                | ProviderError::Status { status: 410, .. }
                | ProviderError::Forbidden { .. }),
            ) => report.push(format!(
                "groups (1.0 API) unavailable, teams will not sync: {e}"
            )),
            Err(e) => return Err(e),
        }
        Ok(report)
    }
}
