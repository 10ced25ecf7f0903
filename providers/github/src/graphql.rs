//! Reading many GitHub lists through GraphQL, packed into few queries.
//!
//! GraphQL has its own budget (points, resource `graphql`) and charges a query the number of
//! connection requests it needs divided by 100, rounded, at least 1: one query that asks for
//! the next page of up to 100 different lists (aliases, one per list) costs one point, where
//! REST charges one request per page. It has no conditional requests, so a list that has not
//! changed since the last run is cheaper on REST (a `304` is free); the fetch's cost model
//! ([`crate::fetch`]) decides which lists come here.
//!
//! [`read`] pages every list forward with its own cursor, each query carrying the next page of
//! up to [`LISTS_PER_QUERY`] lists, the longest first so that the number of rounds stays near
//! the longest list's page count.

use futures_util::stream::{self, StreamExt, TryStreamExt};
use orgsync_core::http::{Route, WorkspaceClient};
use orgsync_core::{ProviderError, ProviderKind};
use serde::Deserialize;
use serde_json::Value as Json;
use std::fmt::Write as _;

/// Lists per query. GitHub's documented cost is the connection requests divided by 100 and
/// rounded (at least 1): 149 connection requests of `first: 100` round to one point (150 to
/// two) and return at most 14,900 nodes, far below the 500,000-node limit.
pub(crate) const LISTS_PER_QUERY: usize = 149;

/// Items per page (GitHub's largest `first`).
const PAGE: u32 = 100;

/// The route template GraphQL requests are reported under.
pub(crate) const TEMPLATE: &str = "/graphql";

/// The GraphQL endpoint for a REST base URL: `https://api.github.com` → `…/graphql`;
/// Enterprise Server `https://HOST/api/v3` → `https://HOST/api/graphql`.
pub(crate) fn endpoint(rest_base: &str) -> String {
    let base = rest_base.trim_end_matches('/');
    match base.strip_suffix("/v3") {
        Some(api) if api.ends_with("/api") => format!("{api}/graphql"),
        _ => format!("{base}/graphql"),
    }
}

/// A GraphQL string literal (JSON's escaping is valid GraphQL).
pub(crate) fn literal(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned())
}

/// One list to read: where its connection is below `organization(login:)` and which fields of
/// each edge to ask for.
#[derive(Debug, Clone)]
pub(crate) struct List {
    /// Fields between the organisation and the connection, each with its arguments, e.g.
    /// `[("team", "slug: \"core\"")]`; the connection itself is last.
    path: Vec<(&'static str, String)>,
    /// The connection's field name and arguments other than `first`/`after`.
    connection: (&'static str, String),
    /// The selection of each edge (`role node { databaseId login }`).
    edge: &'static str,
    after: Option<String>,
    done: bool,
    pages: usize,
    total: Option<u64>,
    /// The edges read so far (only what orgsync uses of each: a few bytes, even for the
    /// hundreds of thousands of team memberships of a large organisation).
    pub edges: Vec<Edge>,
}

impl List {
    /// A list at `path` → `connection(args)`, each edge selecting `edge`.
    pub(crate) fn new(
        path: Vec<(&'static str, String)>,
        connection: &'static str,
        args: impl Into<String>,
        edge: &'static str,
    ) -> List {
        List {
            path,
            connection: (connection, args.into()),
            edge,
            after: None,
            done: false,
            pages: 0,
            total: None,
            edges: Vec::new(),
        }
    }

    /// A team's members (`membership`: `ALL` lists child teams' members too, as REST does).
    pub(crate) fn team_members(slug: &str, membership: &str) -> List {
        List::new(
            vec![("team", format!("slug: {}", literal(slug)))],
            "members",
            format!("membership: {membership}"),
            "role node { databaseId login }",
        )
    }

    /// A repository's collaborators with their permission (`affiliation: ALL`: everyone who
    /// can access it, the same list as REST's `affiliation=all`).
    pub(crate) fn collaborators(repository: &str) -> List {
        List::new(
            vec![("repository", format!("name: {}", literal(repository)))],
            "collaborators",
            "affiliation: ALL",
            "permission node { databaseId }",
        )
    }

    /// One account's row of a repository's collaborator list (`login`: "the login of one
    /// specific collaborator", GitHub's schema): no edge when that account cannot access the
    /// repository (or no longer has that login: a verdict drawn from it is confirmed by
    /// account id before it is applied), one connection request however long the list.
    pub(crate) fn collaborator(repository: &str, login: &str) -> List {
        List::new(
            vec![("repository", format!("name: {}", literal(repository)))],
            "collaborators",
            format!("affiliation: ALL, login: {}", literal(login)),
            "permission node { databaseId }",
        )
    }

    /// The database ids of the accounts on this (collaborator) list whose permission reads.
    pub(crate) fn reader_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.edges
            .iter()
            .filter(|e| {
                matches!(
                    e.permission,
                    Some(Tag::Read | Tag::Triage | Tag::Write | Tag::Maintain | Tag::Admin)
                )
            })
            .filter_map(|e| e.node.and_then(|n| n.database_id))
    }

    /// Pages still to read, as far as the total count tells (unknown: at least one).
    pub(crate) fn pages_left(&self) -> u64 {
        if self.done {
            return 0;
        }
        self.remaining()
    }

    /// Pages still to read, as far as the total count tells (unknown: at least one).
    fn remaining(&self) -> u64 {
        match self.total {
            Some(total) => {
                let read = self.edges.len() as u64;
                total.saturating_sub(read).div_ceil(u64::from(PAGE))
            }
            None => 1,
        }
    }

    /// Whether every page has been read.
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// The `totalCount` of the connection, once a page was read.
    pub(crate) fn total(&self) -> Option<u64> {
        self.total
    }

    fn selection(&self, alias: &str, org: &str, first: u32) -> String {
        let mut text = format!("{alias}: organization(login: {}) {{ ", literal(org));
        for (field, args) in &self.path {
            let _ = write!(text, "{field}({args}) {{ ");
        }
        let (name, args) = &self.connection;
        let _ = write!(text, "{name}(first: {first}");
        if !args.is_empty() {
            let _ = write!(text, ", {args}");
        }
        if let Some(after) = &self.after {
            let _ = write!(text, ", after: {}", literal(after));
        }
        let _ = write!(
            text,
            ") {{ totalCount pageInfo {{ hasNextPage endCursor }} edges {{ {} }} }}",
            self.edge
        );
        for _ in &self.path {
            text.push_str(" }");
        }
        text.push_str(" }");
        text
    }

    /// Takes one page from the value under this list's alias.
    fn absorb(&mut self, value: &Json) -> Result<(), String> {
        let mut cursor = value;
        for (field, args) in &self.path {
            cursor = cursor.get(*field).filter(|v| !v.is_null()).ok_or_else(|| {
                format!("{field}({args}) is not there (deleted, or not visible to this token)")
            })?;
        }
        let connection = cursor
            .get(self.connection.0)
            .filter(|v| !v.is_null())
            .ok_or_else(|| format!("{} is null", self.connection.0))?;
        let page: Connection = serde_json::from_value(connection.clone())
            .map_err(|e| format!("{}: {e}", self.connection.0))?;
        self.total = Some(page.total_count);
        self.pages += 1;
        self.edges.extend(page.edges.into_iter().flatten());
        match (page.page_info.has_next_page, page.page_info.end_cursor) {
            (true, Some(end)) => {
                if self.after.as_deref() == Some(end.as_str()) {
                    return Err("the cursor did not move".to_owned());
                }
                self.after = Some(end);
            }
            (true, None) => return Err("hasNextPage without an endCursor".to_owned()),
            (false, _) => self.done = true,
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Connection {
    total_count: u64,
    page_info: PageInfo,
    #[serde(default)]
    edges: Vec<Option<Edge>>,
}

/// One edge of a connection: its node's database id and the edge's `role` or `permission`.
#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct Edge {
    /// The node (a user or a repository).
    pub node: Option<Node>,
    /// `TeamMemberEdge.role`, `OrganizationMemberEdge.role`.
    #[serde(default)]
    pub role: Option<Tag>,
    /// `RepositoryCollaboratorEdge.permission`, `TeamRepositoryEdge.permission`.
    #[serde(default)]
    pub permission: Option<Tag>,
}

/// A node's durable id.
#[derive(Debug, Clone, Copy, Deserialize)]
pub(crate) struct Node {
    #[serde(rename = "databaseId")]
    pub database_id: Option<u64>,
}

/// The enum values of the edges' `role` and `permission` fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum Tag {
    Admin,
    Maintain,
    Write,
    Triage,
    Read,
    Maintainer,
    Member,
    /// A value this version does not know.
    #[serde(other)]
    Other,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    data: Option<serde_json::Map<String, Json>>,
    #[serde(default)]
    errors: Vec<GraphqlError>,
}

#[derive(Deserialize)]
struct GraphqlError {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    message: String,
}

/// How many of the longest changed lists (`remaining` pages each, longest first) to settle by
/// `asks[i]` one-member checks instead of reading them on, for the fewest points. Checks and
/// pages share queries (149 connection requests a point), but a list read on needs a round per
/// page, so the cost of checking the `j` longest is about the larger of the longest list left
/// to read and the requests left over 149. Ties go to reading (fewer checks).
pub(crate) fn split_checks(remaining: &[u64], asks: &[u64]) -> usize {
    let per_query = LISTS_PER_QUERY as u64;
    let mut best = (u64::MAX, 0);
    let mut checks = 0u64;
    let mut rest: u64 = remaining.iter().sum();
    for j in 0..=remaining.len() {
        let rounds = remaining.get(j).copied().unwrap_or(0);
        let cost = rounds.max((checks + rest).div_ceil(per_query));
        if cost < best.0 {
            best = (cost, j);
        }
        if let (Some(r), Some(a)) = (remaining.get(j), asks.get(j)) {
            checks += a;
            rest -= r;
        }
    }
    best.1
}

/// The query text for the next page of `lists` (aliases `l0`, `l1`, …).
pub(crate) fn query_for<'l>(org: &str, lists: impl Iterator<Item = &'l List>) -> String {
    let mut text = String::from("query {");
    for (i, list) in lists.enumerate() {
        text.push(' ');
        text.push_str(&list.selection(&format!("l{i}"), org, PAGE));
    }
    text.push_str(" }");
    text
}

fn malformed(detail: String) -> ProviderError {
    ProviderError::Malformed {
        provider: ProviderKind::Github,
        route: TEMPLATE.to_owned(),
        detail,
    }
}

/// One query: the next page of each of `lists`.
async fn one_query(
    client: &WorkspaceClient,
    url: &str,
    org: &str,
    mut lists: Vec<(usize, List)>,
) -> Result<Vec<(usize, List)>, ProviderError> {
    let query = query_for(org, lists.iter().map(|(_, l)| l));
    let answer: Answer = client
        .post_json(
            &Route::new(TEMPLATE, url.to_owned()),
            &serde_json::json!({ "query": query }),
        )
        .await?;
    if !answer.errors.is_empty() {
        let not_found = answer
            .errors
            .iter()
            .any(|e| e.kind.as_deref() == Some("NOT_FOUND"));
        let detail = answer
            .errors
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        return Err(if not_found {
            ProviderError::NotFound {
                provider: ProviderKind::Github,
                what: format!("such object ({detail})"),
                route: TEMPLATE.to_owned(),
            }
        } else {
            malformed(format!("GraphQL errors: {detail}"))
        });
    }
    let data = answer
        .data
        .ok_or_else(|| malformed("an answer without data".to_owned()))?;
    for (i, (_, list)) in lists.iter_mut().enumerate() {
        let value = data
            .get(&format!("l{i}"))
            .filter(|v| !v.is_null())
            .ok_or_else(|| malformed(format!("no organization {org:?} in the answer")))?;
        list.absorb(value).map_err(|e| {
            // A team or repository that vanished is what REST reports as a 404.
            if e.contains("not there") {
                ProviderError::NotFound {
                    provider: ProviderKind::Github,
                    what: e.clone(),
                    route: TEMPLATE.to_owned(),
                }
            } else {
                malformed(e)
            }
        })?;
    }
    Ok(lists)
}

/// Reads every page of every list in `lists`, `concurrency` queries at a time; the first
/// error fails the whole read (a decision is never made on a partial list).
/// `max_pages`: stop each list after this many pages in this call (`None`: to the end).
/// Returns the number of queries sent.
pub(crate) async fn read(
    client: &WorkspaceClient,
    url: &str,
    org: &str,
    lists: &mut [List],
    concurrency: usize,
    max_pages: Option<usize>,
) -> Result<u64, ProviderError> {
    let start: Vec<usize> = lists.iter().map(|l| l.pages).collect();
    let mut sent = 0;
    loop {
        let mut pending: Vec<usize> = (0..lists.len())
            .filter(|&i| !lists[i].done && max_pages.is_none_or(|m| lists[i].pages - start[i] < m))
            .collect();
        if pending.is_empty() {
            return Ok(sent);
        }
        // The longest first: the rounds then number about the longest list's pages. Only full
        // queries while there are enough lists (a point buys 100 pages; the lists left over
        // wait a round), so the partial queries are the tail's alone.
        pending.sort_by_key(|&i| std::cmp::Reverse(lists[i].remaining()));
        let queries = (pending.len() / LISTS_PER_QUERY).clamp(1, concurrency.max(1));
        pending.truncate(queries * LISTS_PER_QUERY);
        let batches: Vec<Vec<(usize, List)>> = pending
            .chunks(LISTS_PER_QUERY)
            .map(|chunk| chunk.iter().map(|&i| (i, lists[i].clone())).collect())
            .collect();
        sent += batches.len() as u64;
        let answered: Vec<Vec<(usize, List)>> = stream::iter(
            batches
                .into_iter()
                .map(|batch| one_query(client, url, org, batch)),
        )
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
        for (i, list) in answered.into_iter().flatten() {
            lists[i] = list;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_of_github_com_and_of_enterprise_server() {
        assert_eq!(
            endpoint("https://api.github.com"),
            "https://api.github.com/graphql"
        );
        assert_eq!(
            endpoint("https://ghe.example.com/api/v3/"),
            "https://ghe.example.com/api/graphql"
        );
        assert_eq!(
            endpoint("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080/graphql"
        );
    }

    /// Every query the client sends is valid against the schema subset the simulator serves
    /// (copied from GitHub's published schema): field names, arguments, enum values, types of
    /// selections, `first` on every connection; 149 lists cost one point, 150 two.
    #[test]
    fn the_queries_validate_against_githubs_schema_and_cost_a_point_per_149_lists() {
        use orgsync_simulator::github::graphql::validate_query;
        let mut lists: Vec<List> = (0..LISTS_PER_QUERY)
            .map(|i| {
                List::team_members(
                    &format!("team-{i}"),
                    if i % 2 == 0 { "ALL" } else { "IMMEDIATE" },
                )
            })
            .collect();
        lists[3].after = Some("Y3Vyc29yOnYyOjE=".to_owned());
        let query = query_for("acme", lists.iter());
        assert_eq!(
            validate_query(&query, &serde_json::json!({})),
            Ok(1),
            "{query}"
        );
        let query = query_for("acme", lists.iter().chain(lists.iter().take(1)));
        assert_eq!(validate_query(&query, &serde_json::json!({})), Ok(2));
    }

    #[test]
    fn long_changed_lists_with_few_undecided_members_are_checked_not_read() {
        // 80 pages left on the longest list, 5 undecided members on each: checking all three
        // costs one point (15 checks) where reading costs 80 rounds.
        assert_eq!(split_checks(&[80, 40, 2], &[5, 5, 5]), 3);
        // Many undecided members on a short list: cheaper to read it (2 rounds) than to check
        // 1,000 members (7 points); the long one is still checked.
        assert_eq!(split_checks(&[80, 2], &[5, 1000]), 1);
        // Nothing worth checking: every list is one page from done.
        assert_eq!(split_checks(&[1, 1], &[400, 400]), 0);
        // No changed list at all.
        assert_eq!(split_checks(&[], &[]), 0);
        // Ties go to reading: 149 checks cost the one round the list costs.
        assert_eq!(split_checks(&[1], &[149]), 0);
    }

    #[test]
    fn a_collaborator_check_names_one_login_and_validates() {
        use orgsync_simulator::github::graphql::validate_query;
        let check = List::collaborator("api", "octo-cat");
        let query = query_for("acme", std::iter::once(&check));
        assert!(
            query.contains(r#"collaborators(first: 100, affiliation: ALL, login: "octo-cat")"#),
            "{query}"
        );
        assert_eq!(validate_query(&query, &serde_json::json!({})), Ok(1));
    }

    #[test]
    fn a_query_pages_each_list_with_its_own_cursor() {
        let mut a = List::team_members("core \"x\"", "ALL");
        a.after = Some("Y3Vy".to_owned());
        let b = List::team_members("web", "IMMEDIATE");
        let q = query_for("acme", [&a, &b].into_iter());
        assert!(q.contains(r#"l0: organization(login: "acme") { team(slug: "core \"x\"") { members(first: 100, membership: ALL, after: "Y3Vy")"#), "{q}");
        assert!(q.contains(r#"l1: organization(login: "acme") { team(slug: "web") { members(first: 100, membership: IMMEDIATE)"#), "{q}");
    }
}
