//! One fetch of an organisation, in the order that lets later steps skip work:
//!
//! 0. prove the view (`crate::view`): the token's user is an owner, or the App installation
//!    reads all repositories; fail with the missing right otherwise;
//! 1. `GET /orgs/{org}` for the base permission (`default_repository_permission`) and the count
//!    of private repositories the repository list must match;
//! 2. `GET /orgs/{org}/members?role=admin`, then every member (`/members` lists active members
//!    only: pending invitees are never in it, and an invitation's id is not a user id, so the
//!    invitations list is not read at all);
//! 3. `GET /orgs/{org}/repos?type=all` (every repository, in scope or not), checked against the
//!    organisation's count of private and internal repositories (read again once, then fail);
//! 4. teams, when replication asks for them or when team grants can still prove access: the team
//!    list, each team's repositories, and the members of the teams that matter;
//! 5. collaborator lists (`affiliation=all`) of in-scope private repositories where some member
//!    is still undecided, a few at a time, stopping when nobody is left undecided;
//! 6. `GET /user/{account_id}` for the members who would be admitted, to keep suspended accounts
//!    out; by id, so a member renamed during the fetch keeps their place with the new login (a
//!    `404`, an account deleted during the fetch, fails this fetch only: the next member list no
//!    longer has them).
//!
//! Any request that finally fails fails the whole fetch: a decision is never made on a partial
//! list.

use crate::api;
use crate::app::GithubAppCredential;
use crate::graphql::{self, List};
use crate::view;
use crate::{GithubOptions, GraphqlUse};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use orgsync_core::http::{Route, WorkspaceClient};
use orgsync_core::snapshot::RequestCounts;
use orgsync_core::{
    AccessVerdict, Account, AdmitRule, FetchPolicy, Member, MemberState, Permission, ProviderError,
    ProviderKind, Repository, Snapshot, Team, TeamMember, TeamRepository, TeamRole, TeamsMode,
    Visibility,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// GitHub's largest page; fewer pages means fewer requests.
const PER_PAGE: u32 = 100;

/// Lists that REST reads for at most this many requests, cache included, are not worth a
/// GraphQL probe (a point, paid again on every run).
const PROBE_FACTOR: u64 = 10;

/// GitHub's documented REST budget for a user token, requests per hour.
const REST_HOURLY: u64 = 5000;

/// REST pages worth paying once to fill the conditional-request cache (after which an
/// unchanged list costs nothing): a tenth of an hour's REST budget.
const REST_FILL: u64 = REST_HOURLY / 10;

/// The complete list of team `key` from its immediate members and its children's complete
/// lists (computed on the way, into `complete`): immediate members keep their role, everyone
/// else from below is a `MEMBER`, as GitHub's REST list shows them.
fn complete_list(
    key: &str,
    tree: &HashMap<String, Vec<String>>,
    immediate: &HashMap<String, Vec<(u64, TeamRole)>>,
    complete: &mut HashMap<String, Vec<(u64, TeamRole)>>,
    depth: usize,
) {
    if complete.contains_key(key) || depth > 64 {
        return;
    }
    let mut roles: BTreeMap<u64, TeamRole> = BTreeMap::new();
    for child in tree.get(key).into_iter().flatten() {
        let child = child.to_ascii_lowercase();
        complete_list(&child, tree, immediate, complete, depth + 1);
        for (id, _) in complete.get(&child).into_iter().flatten() {
            roles.insert(*id, TeamRole::Member);
        }
    }
    for (id, role) in immediate.get(key).into_iter().flatten() {
        roles.insert(*id, *role);
    }
    complete.insert(key.to_owned(), roles.into_iter().collect());
}

/// Members and roles from a GraphQL team member list.
fn team_members_of(list: &List) -> Result<Vec<(u64, TeamRole)>, ProviderError> {
    list.edges
        .iter()
        .map(|edge| {
            let id =
                edge.node
                    .and_then(|n| n.database_id)
                    .ok_or_else(|| ProviderError::Malformed {
                        provider: ProviderKind::Github,
                        route: graphql::TEMPLATE.to_owned(),
                        detail: "a team member without databaseId".to_owned(),
                    })?;
            let role = match edge.role {
                Some(graphql::Tag::Maintainer) => TeamRole::Maintainer,
                _ => TeamRole::Member,
            };
            Ok((id, role))
        })
        .collect()
}

/// Runs `f` over `items` with at most `limit` in flight, keeping the input order; the first error
/// ends the whole batch.
pub(crate) async fn buffered<T, R, F, Fut>(
    items: Vec<T>,
    limit: usize,
    f: F,
) -> Result<Vec<R>, ProviderError>
where
    F: FnMut(T) -> Fut,
    Fut: Future<Output = Result<R, ProviderError>>,
{
    stream::iter(items.into_iter().map(f))
        .buffered(limit.max(1))
        .try_collect()
        .await
}

fn visibility_of(repo: &api::Repository) -> Visibility {
    match repo.visibility.as_deref() {
        Some("public") => Visibility::Public,
        Some("internal") => Visibility::Internal,
        Some(_) => Visibility::Private,
        None if repo.private => Visibility::Private,
        None => Visibility::Public,
    }
}

/// The first of the organisation's repository counts that the list contradicts: (what, counted,
/// listed).
fn count_mismatch(
    org: &api::Organization,
    repos: &[api::Repository],
) -> Option<(&'static str, u64, u64)> {
    let public = repos
        .iter()
        .filter(|r| visibility_of(r) == Visibility::Public)
        .count() as u64;
    let private = repos.len() as u64 - public;
    let (counted_private, counted_public) = view::counts(org);
    if let Some(c) = counted_private.filter(|c| *c != private) {
        return Some(("private and internal", c, private));
    }
    counted_public
        .filter(|c| *c != public)
        .map(|c| ("public", c, public))
}

/// A team's permission on a repository from a team repository listing.
fn team_permission(repo: &api::Repository) -> Permission {
    let from_role = repo.role_name.as_deref().and_then(Permission::parse);
    let from_flags = repo.permissions.map(api::Permissions::highest);
    match (from_role, from_flags) {
        (Some(a), Some(b)) => a.max(b),
        (Some(a), None) => a,
        (None, Some(b)) => b,
        // A repository on a team's list without permissions: GitHub's minimum team grant is read.
        (None, None) => Permission::Read,
    }
}

/// What was read about one team.
struct TeamData {
    team: api::Team,
    repositories: Option<Vec<api::Repository>>,
    /// Member id -> role; includes child-team members.
    members: Option<Vec<(u64, TeamRole)>>,
}

pub(crate) struct Fetcher<'a> {
    client: &'a WorkspaceClient,
    org: &'a str,
    options: &'a GithubOptions,
    app: Option<&'a GithubAppCredential>,
    graphql: GraphqlUse,
    /// GraphQL queries sent so far (they are in the client's request counts too).
    graphql_queries: AtomicU64,
    /// A cached list was seen to have changed (a team list's count differs).
    saw_change: AtomicBool,
}

impl<'a> Fetcher<'a> {
    pub(crate) fn new(
        client: &'a WorkspaceClient,
        org: &'a str,
        options: &'a GithubOptions,
    ) -> Self {
        Self {
            client,
            org,
            options,
            app: None,
            graphql: GraphqlUse::default(),
            graphql_queries: AtomicU64::new(0),
            saw_change: AtomicBool::new(false),
        }
    }

    /// Whether lists may be read through GraphQL ([`GraphqlUse`]).
    pub(crate) fn with_graphql(mut self, graphql: GraphqlUse) -> Self {
        self.graphql = graphql;
        self
    }

    /// The credential is this App's installation: the view is proved from its token.
    pub(crate) fn with_app(mut self, app: Option<&'a GithubAppCredential>) -> Self {
        self.app = app;
        self
    }

    async fn organization(&self) -> Result<api::Organization, ProviderError> {
        self.client
            .get_json(&Route::new("/orgs/{org}", format!("/orgs/{}", self.org)))
            .await
    }

    async fn repositories(&self) -> Result<Vec<api::Repository>, ProviderError> {
        self.client
            .get_all(
                &self
                    .list("/orgs/{org}/repos", format!("/orgs/{}/repos", self.org))
                    .query("type", "all"),
            )
            .await
    }

    /// The repository list, checked against the organisation's counts of private (and
    /// internal) and public repositories where GitHub shows them: a list that disagrees (a
    /// repository created or deleted while it was read, one skipped by an offset shift, a
    /// credential that sees only some) is read again once with the organisation, and a second
    /// disagreement fails.
    async fn counted_repositories(
        &self,
        org: api::Organization,
    ) -> Result<(api::Organization, Vec<api::Repository>), ProviderError> {
        let repos = self.repositories().await?;
        if count_mismatch(&org, &repos).is_none() {
            return Ok((org, repos));
        }
        tracing::info!(
            org = self.org,
            "the repository list disagrees with the organisation's counts; reading both again"
        );
        let org = self.organization().await?;
        let repos = self.repositories().await?;
        match count_mismatch(&org, &repos) {
            Some((kind, counted, listed)) => Err(view::count_mismatch(
                self.client,
                self.org,
                kind,
                counted,
                listed,
            )),
            None => Ok((org, repos)),
        }
    }

    fn list(&self, template: &'static str, path: String) -> Route {
        Route::new(template, path).query("per_page", PER_PAGE)
    }

    async fn team_repositories(&self, slug: &str) -> Result<Vec<api::Repository>, ProviderError> {
        self.client
            .get_all(&self.list(
                "/orgs/{org}/teams/{team_slug}/repos",
                format!("/orgs/{}/teams/{slug}/repos", self.org),
            ))
            .await
    }

    /// A team's members with their roles. The `role` field is used when GitHub sends it for
    /// every member; otherwise the maintainers come from a second, `role=maintainer` listing.
    async fn team_members(
        &self,
        slug: &str,
        need_roles: bool,
    ) -> Result<Vec<(u64, TeamRole)>, ProviderError> {
        let path = format!("/orgs/{}/teams/{slug}/members", self.org);
        let all: Vec<api::TeamMember> = self
            .client
            .get_all(&self.list("/orgs/{org}/teams/{team_slug}/members", path.clone()))
            .await?;
        let role_of = |m: &api::TeamMember| match m.role.as_deref() {
            Some("maintainer") => TeamRole::Maintainer,
            _ => TeamRole::Member,
        };
        if !need_roles || all.iter().all(|m| m.role.is_some()) {
            return Ok(all.iter().map(|m| (m.id, role_of(m))).collect());
        }
        let maintainers: HashSet<u64> = self
            .client
            .get_all::<api::TeamMember>(
                &self
                    .list("/orgs/{org}/teams/{team_slug}/members", path)
                    .query("role", "maintainer"),
            )
            .await?
            .into_iter()
            .map(|m| m.id)
            .collect();
        Ok(all
            .iter()
            .map(|m| {
                let role = if maintainers.contains(&m.id) {
                    TeamRole::Maintainer
                } else {
                    TeamRole::Member
                };
                (m.id, role)
            })
            .collect())
    }

    fn team_members_route(&self, slug: &str) -> Route {
        self.list(
            "/orgs/{org}/teams/{team_slug}/members",
            format!("/orgs/{}/teams/{slug}/members", self.org),
        )
    }

    /// The member lists of `slugs` (index, slug), each read the way the cost model finds
    /// cheaper ([`GraphqlUse::Auto`]). What each way costs:
    ///
    /// * REST: a list's pages, except that a list the conditional-request cache holds costs
    ///   nothing while it is unchanged (every page a free `304`) and its pages from the first
    ///   change on once it has changed (offset paging shifts every later page). A list read on
    ///   REST is cached, so the next unchanged run reads it for free.
    /// * GraphQL: one query carries the next page of up to 149 lists for one point, but nothing is
    ///   ever free: every run pays again, and nothing enters the REST cache.
    ///
    /// So: when every list could be read on REST for at most [`PROBE_FACTOR`] requests (their
    /// cached pages, and for the others as many pages as the member list would fill), REST
    /// (no GraphQL at all). Otherwise one GraphQL round reads the first page of every list
    /// (the probe, a point per 149 lists): a list that fits in that page is done; a cached
    /// list whose count is unchanged stays on REST (free if truly unchanged); the other lists
    /// go on REST when their pages together are at most [`REST_FILL`] (a tenth of an hour's
    /// REST budget, paid once to make the following unchanged runs free), else on GraphQL.
    async fn team_member_lists(
        &self,
        slugs: Vec<(usize, String)>,
        need_roles: bool,
        active_members: usize,
        tree: &HashMap<String, Vec<String>>,
    ) -> Result<Vec<(usize, Vec<(u64, TeamRole)>)>, ProviderError> {
        let on_rest = |rest: Vec<(usize, String)>| {
            buffered(rest, self.options.concurrency, |(i, slug)| async move {
                self.team_members(&slug, need_roles).await.map(|m| (i, m))
            })
        };
        if self.graphql == GraphqlUse::Never || slugs.is_empty() {
            return on_rest(slugs).await;
        }
        let pages_of = |n: u64| n.div_ceil(u64::from(PER_PAGE)).max(1);
        let mut cached: Vec<Option<Vec<api::TeamMember>>> = Vec::with_capacity(slugs.len());
        for (_, slug) in &slugs {
            cached.push(if self.graphql == GraphqlUse::Always {
                None
            } else {
                self.client.cached_all(&self.team_members_route(slug)).await
            });
        }
        let rest_at_most: u64 = cached
            .iter()
            .map(|c| pages_of(c.as_ref().map_or(active_members, Vec::len) as u64))
            .sum();
        if self.graphql == GraphqlUse::Auto && rest_at_most <= PROBE_FACTOR {
            return on_rest(slugs).await;
        }
        let url = graphql::endpoint(self.client.base_url());
        let client = self.client.with_rate_resource("graphql");
        let mut lists: Vec<List> = slugs
            .iter()
            .map(|(_, slug)| List::team_members(slug, "ALL"))
            .collect();
        self.graphql_read(&client, &url, &mut lists, Some(1))
            .await?;
        let mut out: Vec<(usize, Vec<(u64, TeamRole)>)> = Vec::new();
        let mut rest: Vec<(usize, String)> = Vec::new();
        // Lists with pages left: (index into slugs), and their REST cost.
        let mut open: Vec<usize> = Vec::new();
        let mut open_pages = 0;
        for (k, list) in lists.iter().enumerate() {
            let i = slugs[k].0;
            if list.is_done() {
                out.push((i, team_members_of(list)?));
            } else if self.graphql == GraphqlUse::Auto
                && cached[k]
                    .as_ref()
                    .is_some_and(|old| list.total() == Some(old.len() as u64))
            {
                rest.push((i, slugs[k].1.clone()));
            } else {
                if cached[k].is_some() {
                    self.saw_change.store(true, Ordering::Relaxed);
                }
                open_pages += pages_of(list.total().unwrap_or_default());
                open.push(k);
            }
        }
        let open_on_rest = self.graphql == GraphqlUse::Auto && open_pages <= REST_FILL;
        tracing::debug!(
            org = self.org,
            lists = slugs.len(),
            probed_complete = out.len(),
            unchanged_on_rest = rest.len(),
            open = open.len(),
            open_pages,
            open_on_rest,
            "team member lists"
        );
        if open_on_rest {
            rest.extend(open.iter().map(|&k| slugs[k].clone()));
        } else {
            let probed: HashMap<String, List> = slugs
                .iter()
                .zip(&lists)
                .map(|((_, slug), list)| (slug.to_ascii_lowercase(), list.clone()))
                .collect();
            let open_slugs: Vec<&str> = open.iter().map(|&k| slugs[k].1.as_str()).collect();
            let derived = self
                .derive_from_immediate(&client, &url, tree, &probed, &open_slugs)
                .await?;
            for &k in &open {
                let list = derived
                    .get(&slugs[k].1.to_ascii_lowercase())
                    .cloned()
                    .unwrap_or_default();
                out.push((slugs[k].0, list));
            }
        }
        out.extend(on_rest(rest).await?);
        Ok(out)
    }

    /// The complete member lists (child teams' members included, as REST lists them) of the
    /// teams `open`, read through GraphQL without reading anyone twice: a team with child
    /// teams is its immediate members (`membership: IMMEDIATE`, with their roles) and its
    /// children's complete lists (as `MEMBER`, unless immediate too); a team without children
    /// is its complete list, continued from the probe's cursor where the probe read it.
    /// `tree`: child slugs by lower-case parent slug; `probed`: the probe's lists by lower-case
    /// slug. Returns the complete lists by lower-case slug.
    async fn derive_from_immediate(
        &self,
        client: &WorkspaceClient,
        url: &str,
        tree: &HashMap<String, Vec<String>>,
        probed: &HashMap<String, List>,
        open: &[&str],
    ) -> Result<HashMap<String, Vec<(u64, TeamRole)>>, ProviderError> {
        let mut complete: HashMap<String, Vec<(u64, TeamRole)>> = HashMap::new();
        // What to read: complete lists of leaves (continued or new) and immediate lists of
        // parents, for the open teams and everything below them.
        let mut reads: Vec<(String, bool, List)> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut stack: Vec<String> = open.iter().map(|s| (*s).to_owned()).collect();
        while let Some(slug) = stack.pop() {
            let key = slug.to_ascii_lowercase();
            if !seen.insert(key.clone()) {
                continue;
            }
            let done = probed.get(&key).filter(|l| l.is_done());
            if let Some(list) = done {
                complete.insert(key, team_members_of(list)?);
                continue;
            }
            match tree.get(&key).filter(|c| !c.is_empty()) {
                Some(children) => {
                    reads.push((key, true, List::team_members(&slug, "IMMEDIATE")));
                    stack.extend(children.iter().cloned());
                }
                None => {
                    let list = probed
                        .get(&key)
                        .cloned()
                        .unwrap_or_else(|| List::team_members(&slug, "ALL"));
                    reads.push((key, false, list));
                }
            }
        }
        let mut lists: Vec<List> = reads.iter().map(|(_, _, l)| l.clone()).collect();
        self.graphql_read(client, url, &mut lists, None).await?;
        let mut immediate: HashMap<String, Vec<(u64, TeamRole)>> = HashMap::new();
        for ((key, is_parent, _), list) in reads.into_iter().zip(&lists) {
            let members = team_members_of(list)?;
            if is_parent {
                immediate.insert(key, members);
            } else {
                complete.insert(key, members);
            }
        }
        for slug in open {
            complete_list(
                &slug.to_ascii_lowercase(),
                tree,
                &immediate,
                &mut complete,
                0,
            );
        }
        Ok(complete)
    }

    /// [`graphql::read`], counted.
    async fn graphql_read(
        &self,
        client: &WorkspaceClient,
        url: &str,
        lists: &mut [List],
        max_pages: Option<usize>,
    ) -> Result<(), ProviderError> {
        let sent = graphql::read(
            client,
            url,
            self.org,
            lists,
            self.options.concurrency,
            max_pages,
        )
        .await?;
        self.graphql_queries.fetch_add(sent, Ordering::Relaxed);
        Ok(())
    }

    /// Whether this fetch has seen no change so far: every REST answer a free `304` and no
    /// cached team list with another count. Then the collaborator lists (which follow from
    /// members, teams and grants) are most likely unchanged too, and a probe would only cost.
    fn quiet_so_far(&self) -> bool {
        let counts = self.client.request_counts();
        let charged = counts.total.saturating_sub(counts.not_modified);
        charged <= self.graphql_queries.load(Ordering::Relaxed)
            && !self.saw_change.load(Ordering::Relaxed)
    }

    fn collaborators_route(&self, repo: &str) -> Route {
        self.list(
            "/repos/{owner}/{repo}/collaborators",
            format!("/repos/{}/{repo}/collaborators", self.org),
        )
        .query("affiliation", "all")
    }

    /// Collaborator lists that changed since the cache was filled, settled through GraphQL, by
    /// lower-case repository name: the cost model for the collaborator lists. A run that has
    /// cached lists for `hard` repositories (the decision reads the same lists again while the
    /// organisation is much the same) probes them in one GraphQL round (149 lists a point,
    /// when REST would cost at least [`PROBE_FACTOR`] times that had they all changed): a list
    /// whose count is unchanged stays on REST (free while unchanged). For each changed list
    /// the decision only needs the members still `open` whom no team grant proves
    /// (`unproven(repository)`), so a changed list is either read on through GraphQL (every
    /// page from the second, a round per page, up to 149 lists a point) or settled by one
    /// `collaborators(login:)` check per such member (149 checks a point), whichever the
    /// rounds favour ([`graphql::split_checks`]). For a checked list the set holds the checked
    /// members who read it, which is all the decision asks of it: the open members only
    /// shrink. Lists not cached are left to REST, which fills the cache. No probe when the
    /// fetch has seen no change so far ([`Self::quiet_so_far`]).
    async fn changed_collaborator_lists<'m>(
        &self,
        hard: &[&Repository],
        unproven: impl Fn(&Repository) -> Vec<&'m str>,
    ) -> Result<HashMap<String, HashSet<u64>>, ProviderError> {
        let mut out = HashMap::new();
        if self.graphql == GraphqlUse::Never
            || (self.graphql == GraphqlUse::Auto && self.quiet_so_far())
        {
            return Ok(out);
        }
        let mut cached: Vec<(&Repository, usize)> = Vec::new();
        for repo in hard {
            if let Some(list) = self
                .client
                .cached_all::<api::Collaborator>(&self.collaborators_route(&repo.name))
                .await
            {
                cached.push((repo, list.len()));
            }
        }
        let pages: u64 = cached
            .iter()
            .map(|(_, n)| (*n as u64).div_ceil(u64::from(PER_PAGE)).max(1))
            .sum();
        let probe_points = (cached.len() as u64).div_ceil(graphql::LISTS_PER_QUERY as u64);
        if cached.is_empty() || pages < PROBE_FACTOR * probe_points {
            return Ok(out);
        }
        let url = graphql::endpoint(self.client.base_url());
        let client = self.client.with_rate_resource("graphql");
        let mut lists: Vec<List> = cached
            .iter()
            .map(|(repo, _)| List::collaborators(&repo.name))
            .collect();
        self.graphql_read(&client, &url, &mut lists, Some(1))
            .await?;
        // The changed lists, the longest still to read first, each with whom it must settle.
        let mut changed: Vec<(&Repository, List, Vec<&'m str>)> = cached
            .iter()
            .zip(lists)
            .filter(|((_, n), list)| list.total() != Some(*n as u64))
            .map(|((repo, _), list)| (*repo, list, unproven(repo)))
            .collect();
        changed.sort_by_key(|(_, list, _)| std::cmp::Reverse(list.pages_left()));
        let remaining: Vec<u64> = changed.iter().map(|(_, l, _)| l.pages_left()).collect();
        let asks: Vec<u64> = changed.iter().map(|(_, _, who)| who.len() as u64).collect();
        let checked = graphql::split_checks(&remaining, &asks);
        // The first `checked` lists by one check per unproven member, the rest read on.
        let mut reads: Vec<List> = Vec::new();
        let mut owner: Vec<usize> = Vec::new();
        for (index, (repo, list, who)) in changed.iter().enumerate() {
            if index < checked {
                for login in who {
                    reads.push(List::collaborator(&repo.name, login));
                    owner.push(index);
                }
            } else if !list.is_done() {
                reads.push(list.clone());
                owner.push(index);
            }
        }
        self.graphql_read(&client, &url, &mut reads, None).await?;
        // A list the probe read whole has its readers already; a list read on carries the
        // probe's page too; a checked list is what its checks found.
        let mut readers: Vec<HashSet<u64>> = changed
            .iter()
            .enumerate()
            .map(|(index, (_, list, _))| {
                if index >= checked && list.is_done() {
                    list.reader_ids().collect()
                } else {
                    HashSet::new()
                }
            })
            .collect();
        for (index, read) in owner.into_iter().zip(&reads) {
            readers[index].extend(read.reader_ids());
        }
        for ((repo, _, _), set) in changed.iter().zip(readers) {
            out.insert(repo.name.to_ascii_lowercase(), set);
        }
        tracing::debug!(
            org = self.org,
            cached = cached.len(),
            changed = out.len(),
            checked,
            checks = asks.iter().take(checked).sum::<u64>(),
            "collaborator lists probed"
        );
        Ok(out)
    }

    /// Ids of everyone on a repository's collaborator list who can read it.
    async fn readers(&self, repo: &str) -> Result<HashSet<u64>, ProviderError> {
        let collaborators: Vec<api::Collaborator> =
            self.client.get_all(&self.collaborators_route(repo)).await?;
        Ok(collaborators
            .into_iter()
            .filter(|c| c.permissions.is_none_or(|p| p.highest().can_read()))
            .map(|c| c.id)
            .collect())
    }

    pub(crate) async fn run(
        &self,
        policy: &FetchPolicy,
        host: &str,
    ) -> Result<Snapshot, ProviderError> {
        view::prove(self.client, self.org, self.app, view::Needs::of(policy)).await?;
        let org = self.organization().await?;
        let base_permission = org
            .default_repository_permission
            .as_deref()
            .and_then(Permission::parse)
            .unwrap_or(Permission::None);

        let owners: HashSet<u64> = self
            .client
            .get_all::<api::SimpleUser>(
                &self
                    .list("/orgs/{org}/members", format!("/orgs/{}/members", self.org))
                    .query("role", "admin"),
            )
            .await?
            .into_iter()
            .map(|u| u.id)
            .collect();
        let listed: Vec<api::SimpleUser> = self
            .client
            .get_all(&self.list("/orgs/{org}/members", format!("/orgs/{}/members", self.org)))
            .await?;
        let mut members: Vec<Member> = listed
            .into_iter()
            .map(|u| {
                let is_owner = owners.contains(&u.id);
                Member {
                    id: u.id.to_string(),
                    is_owner,
                    role: if is_owner { "admin" } else { "member" }.to_string(),
                    bot: u.kind.as_deref() == Some("Bot"),
                    login: u.login,
                    name: u.name,
                    email: u.email,
                    state: MemberState::Active,
                    access: AccessVerdict::NotEvaluated,
                }
            })
            .collect();

        let (org, listed_repos) = self.counted_repositories(org).await?;
        let base_permission = org
            .default_repository_permission
            .as_deref()
            .and_then(Permission::parse)
            .unwrap_or(base_permission);
        let repositories: Vec<Repository> = listed_repos
            .iter()
            .map(|r| Repository {
                id: r.id.to_string(),
                name: r.name.clone(),
                archived: r.archived,
                fork: r.fork,
                visibility: visibility_of(r),
            })
            .collect();

        // Who still needs a verdict, and which repositories could deny one.
        let evaluates = policy.admit == AdmitRule::AllRepositories;
        let mut undecided: Vec<usize> = Vec::new();
        for (index, m) in members.iter_mut().enumerate() {
            if !policy.needs_access_verdict(&m.login) {
                continue;
            }
            if m.is_owner || base_permission.can_read() {
                m.access = AccessVerdict::ReadsAll;
            } else {
                undecided.push(index);
            }
        }
        // Public and internal repositories are readable by every member.
        let hard: Vec<&Repository> = if evaluates {
            repositories
                .iter()
                .filter(|r| r.visibility == Visibility::Private && policy.scope.includes(r))
                .collect()
        } else {
            Vec::new()
        };
        let access_needs_teams = !undecided.is_empty() && !hard.is_empty();

        // Teams: for replication, and as cheap proof of access.
        let want_teams = policy.teams != TeamsMode::Off;
        let mut teams: Vec<TeamData> = Vec::new();
        if want_teams || access_needs_teams {
            let listed: Vec<api::Team> = self
                .client
                .get_all(&self.list("/orgs/{org}/teams", format!("/orgs/{}/teams", self.org)))
                .await?;
            let want_repos = policy.teams == TeamsMode::Full || access_needs_teams;
            let repos = if want_repos {
                let slugs: Vec<String> = listed.iter().map(|t| t.slug.clone()).collect();
                buffered(slugs, self.options.concurrency, |slug| async move {
                    self.team_repositories(&slug).await
                })
                .await?
                .into_iter()
                .map(Some)
                .collect()
            } else {
                listed.iter().map(|_| None).collect::<Vec<_>>()
            };
            teams = listed
                .into_iter()
                .zip(repos)
                .map(|(team, repositories)| TeamData {
                    team,
                    repositories,
                    members: None,
                })
                .collect();
            // For access alone, only teams granting an undecided repository need their members.
            let hard_names: HashSet<String> =
                hard.iter().map(|r| r.name.to_ascii_lowercase()).collect();
            let wanted: Vec<usize> = (0..teams.len())
                .filter(|&i| {
                    want_teams
                        || teams[i].repositories.as_ref().is_some_and(|rs| {
                            rs.iter().any(|r| {
                                team_permission(r).can_read()
                                    && hard_names.contains(&r.name.to_ascii_lowercase())
                            })
                        })
                })
                .collect();
            let slugs: Vec<(usize, String)> = wanted
                .iter()
                .map(|&i| (i, teams[i].team.slug.clone()))
                .collect();
            let mut tree: HashMap<String, Vec<String>> = HashMap::new();
            for t in &teams {
                if let Some(parent) = &t.team.parent {
                    tree.entry(parent.slug.to_ascii_lowercase())
                        .or_default()
                        .push(t.team.slug.clone());
                }
            }
            let fetched = self
                .team_member_lists(slugs, want_teams, members.len(), &tree)
                .await?;
            for (i, list) in fetched {
                teams[i].members = Some(list);
            }
        }

        if !undecided.is_empty() && !hard.is_empty() {
            let by_role = self.all_repository_readers(&teams).await?;
            undecided.retain(|&i| {
                let reads_all = members[i]
                    .id
                    .parse::<u64>()
                    .is_ok_and(|id| by_role.contains(&id));
                if reads_all {
                    members[i].access = AccessVerdict::ReadsAll;
                }
                !reads_all
            });
        }
        if !undecided.is_empty() {
            self.decide_access(&mut members, undecided, &hard, &teams)
                .await?;
        }

        if self.options.check_suspended {
            self.mark_suspended(&mut members, policy).await?;
        }

        let snapshot_teams = want_teams.then(|| replicate(&teams, &members, policy.teams));
        Ok(Snapshot {
            provider: ProviderKind::Github,
            host: host.to_owned(),
            account: Account {
                id: org.id.to_string(),
                login: org.login,
                name: org.name,
                base_permission,
            },
            members,
            repositories,
            teams: snapshot_teams,
            teams_unavailable: None,
            requests: RequestCounts::default(),
        })
    }

    /// Members who read every repository through an organisation role: the predefined
    /// `all_repo_*` roles and custom roles with a base role of read or more, and security
    /// managers (GitHub's documentation: they read every repository), assigned to the member or
    /// to a team the member is in (the team's member list, child teams included). Only proves
    /// access, never denies it, so a credential that cannot read the roles (classic tokens need
    /// `admin:org`; older Enterprise Servers lack the endpoint) just skips the shortcut and the
    /// collaborator lists decide.
    async fn all_repository_readers(
        &self,
        teams: &[TeamData],
    ) -> Result<HashSet<u64>, ProviderError> {
        let route = Route::new(
            "/orgs/{org}/organization-roles",
            format!("/orgs/{}/organization-roles", self.org),
        );
        let roles: api::OrganizationRoles = match self.client.get_json(&route).await {
            Ok(r) => r,
            Err(
                ProviderError::Forbidden { .. }
                | ProviderError::NotFound { .. }
                | ProviderError::Status { .. },
            ) => {
                tracing::debug!(
                    org = self.org,
                    "organisation roles not readable; skipping them"
                );
                return Ok(HashSet::new());
            }
            Err(e) => return Err(e),
        };
        let mut readers = HashSet::new();
        for role in roles.roles.iter().filter(|r| r.reads_every_repository()) {
            let base = format!("/orgs/{}/organization-roles/{}", self.org, role.id);
            let users: Vec<api::SimpleUser> = self
                .client
                .get_all(&self.list(
                    "/orgs/{org}/organization-roles/{role_id}/users",
                    format!("{base}/users"),
                ))
                .await?;
            readers.extend(users.iter().map(|u| u.id));
            let assigned: Vec<api::TeamSimple> = self
                .client
                .get_all(&self.list(
                    "/orgs/{org}/organization-roles/{role_id}/teams",
                    format!("{base}/teams"),
                ))
                .await?;
            for team in assigned {
                let known = teams
                    .iter()
                    .find(|t| t.team.slug.eq_ignore_ascii_case(&team.slug))
                    .and_then(|t| t.members.as_ref());
                match known {
                    Some(list) => readers.extend(list.iter().map(|(id, _)| *id)),
                    None => readers.extend(
                        self.team_members(&team.slug, false)
                            .await?
                            .into_iter()
                            .map(|(id, _)| id),
                    ),
                }
            }
        }
        Ok(readers)
    }

    /// Settles every undecided member: team grants prove reads; a collaborator list that lacks
    /// a member proves the opposite. Lists are read only where someone is still unproven.
    async fn decide_access(
        &self,
        members: &mut [Member],
        undecided: Vec<usize>,
        hard: &[&Repository],
        teams: &[TeamData],
    ) -> Result<(), ProviderError> {
        let ids: Vec<u64> = members
            .iter()
            .map(|m| m.id.parse::<u64>().unwrap_or(u64::MAX))
            .collect();
        // Repository (lower case) -> members a team grant proves can read it.
        let mut proven: HashMap<String, HashSet<u64>> = HashMap::new();
        for t in teams {
            let (Some(repos), Some(list)) = (&t.repositories, &t.members) else {
                continue;
            };
            for r in repos.iter().filter(|r| team_permission(r).can_read()) {
                proven
                    .entry(r.name.to_ascii_lowercase())
                    .or_default()
                    .extend(list.iter().map(|(id, _)| *id));
            }
        }
        let empty = HashSet::new();
        let proven_for = |repo: &Repository| {
            proven
                .get(&repo.name.to_ascii_lowercase())
                .unwrap_or(&empty)
        };

        let mut open: Vec<usize> = undecided;
        let prefetched = {
            let members: &[Member] = members;
            self.changed_collaborator_lists(hard, |repo| {
                let by_team = proven_for(repo);
                open.iter()
                    .filter(|&&i| !by_team.contains(&ids[i]))
                    .map(|&i| members[i].login.as_str())
                    .collect()
            })
            .await?
        };
        let mut next = 0;
        // One list at a time while lists keep deciding members (a decided member may make the
        // next list unnecessary); when lists stop deciding anyone, read more at once, up to
        // the concurrency, since they must be read anyway.
        let mut width = 1;
        while !open.is_empty() && next < hard.len() {
            // The next few repositories that still have an unproven member.
            let mut batch: Vec<&Repository> = Vec::new();
            while next < hard.len() && batch.len() < width {
                let repo = hard[next];
                next += 1;
                let by_team = proven_for(repo);
                if open.iter().any(|&i| !by_team.contains(&ids[i])) {
                    batch.push(repo);
                }
            }
            if batch.is_empty() {
                break;
            }
            let names: Vec<String> = batch.iter().map(|r| r.name.clone()).collect();
            let prefetched = &prefetched;
            let lists = buffered(names, self.options.concurrency, |name| async move {
                match prefetched.get(&name.to_ascii_lowercase()) {
                    Some(readers) => Ok(readers.clone()),
                    None => self.readers(&name).await,
                }
            })
            .await?;
            let before = open.len();
            for (repo, readers) in batch.iter().zip(lists) {
                let by_team = proven_for(repo);
                open.retain(|&i| {
                    let id = ids[i];
                    if by_team.contains(&id) || readers.contains(&id) {
                        true
                    } else {
                        members[i].access = AccessVerdict::CannotRead {
                            repository: repo.name.clone(),
                        };
                        false
                    }
                });
            }
            width = if open.len() < before {
                1
            } else {
                (width * 2).min(self.options.concurrency.max(1))
            };
        }
        for i in open {
            members[i].access = AccessVerdict::ReadsAll;
        }
        Ok(())
    }

    /// Marks suspended accounts among the members who would otherwise be admitted, and fills
    /// in their names and e-mails (member lists carry neither).
    async fn mark_suspended(
        &self,
        members: &mut [Member],
        policy: &FetchPolicy,
    ) -> Result<(), ProviderError> {
        let candidates: Vec<(usize, String)> = members
            .iter()
            .enumerate()
            .filter(|(_, m)| {
                policy.exclude_members.matching(&m.login).is_none()
                    && match policy.admit {
                        AdmitRule::AllMembers => true,
                        AdmitRule::AllRepositories => m.access == AccessVerdict::ReadsAll,
                    }
            })
            .map(|(i, m)| (i, m.id.clone()))
            .collect();
        let users = buffered(candidates, self.options.concurrency, |(i, id)| async move {
            self.client
                .get_json::<api::PublicUser>(&Route::new(
                    "/user/{account_id}",
                    format!("/user/{id}"),
                ))
                .await
                .map(|u| (i, u))
        })
        .await?;
        for (i, user) in users {
            let member = &mut members[i];
            if user.id.to_string() != member.id {
                return Err(ProviderError::Malformed {
                    provider: ProviderKind::Github,
                    route: "/user/{account_id}".to_owned(),
                    detail: format!("asked for user {} and got user {}", member.id, user.id),
                });
            }
            if let Some(login) = user.login.filter(|l| *l != member.login) {
                // Renamed while the fetch ran: the id is the person, the new login is current.
                member.login = login;
            }
            member.name = member.name.take().or(user.name);
            member.email = member.email.take().or(user.email);
            if user.suspended_at.is_some() {
                member.state = MemberState::Suspended;
                member.access = AccessVerdict::NotEvaluated;
            }
        }
        Ok(())
    }
}

/// Teams for replication: members restricted to active organisation members; repositories
/// with the team's own and its ancestors' grants (a child team inherits its parent's).
fn replicate(teams: &[TeamData], members: &[Member], mode: TeamsMode) -> Vec<Team> {
    let active: HashSet<&str> = members
        .iter()
        .filter(|m| m.state == MemberState::Active)
        .map(|m| m.id.as_str())
        .collect();
    let by_slug: HashMap<String, &TeamData> = teams
        .iter()
        .map(|t| (t.team.slug.to_ascii_lowercase(), t))
        .collect();
    teams
        .iter()
        .map(|t| {
            let mut roles: BTreeMap<String, TeamRole> = BTreeMap::new();
            for (id, role) in t.members.iter().flatten() {
                let id = id.to_string();
                if active.contains(id.as_str()) {
                    let entry = roles.entry(id).or_insert(*role);
                    *entry = (*entry).max(*role);
                }
            }
            let mut repositories: BTreeMap<String, Permission> = BTreeMap::new();
            if mode == TeamsMode::Full {
                let mut cursor = Some(t);
                let mut seen = HashSet::new();
                while let Some(team) = cursor {
                    if !seen.insert(team.team.slug.to_ascii_lowercase()) {
                        break;
                    }
                    for r in team.repositories.iter().flatten() {
                        let p = team_permission(r);
                        let entry = repositories.entry(r.name.clone()).or_insert(p);
                        *entry = (*entry).max(p);
                    }
                    cursor = team
                        .team
                        .parent
                        .as_ref()
                        .and_then(|p| by_slug.get(&p.slug.to_ascii_lowercase()).copied());
                }
            }
            Team {
                id: t.team.id.to_string(),
                slug: t.team.slug.clone(),
                name: t.team.name.clone(),
                parent: t.team.parent.as_ref().map(|p| p.slug.clone()),
                members: roles
                    .into_iter()
                    .map(|(member_id, role)| TeamMember { member_id, role })
                    .collect(),
                repositories: repositories
                    .into_iter()
                    .map(|(repository, permission)| TeamRepository {
                        repository,
                        permission,
                    })
                    .collect(),
            }
        })
        .collect()
}
