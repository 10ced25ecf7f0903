//! orgsync's GitHub provider: github.com, GitHub Enterprise Cloud and Enterprise Server
//! (`api_url = "https://HOST/api/v3"`), with personal access tokens (classic or fine-grained)
//! or a GitHub App installation ([`GithubAppCredential`]).
//!
//! Every request goes through the core HTTP layer ([`orgsync_core::http`]): pacing, retries,
//! conditional requests and counting happen there. This crate decides *what* to read, and reads
//! as little as the answer allows (see [`fetch`] for the order of reasoning):
//!
//! * owners (`role=admin`) read everything, and a base permission of read or more gives every
//!   member every repository: then no per-repository request is made at all;
//! * public and internal repositories are readable by every member;
//! * team grants prove access cheaply (a team's member list includes its child teams' members,
//!   who inherit the team's repositories);
//! * only a repository's collaborator list (`affiliation=all`, which includes owners, base
//!   permission, team and direct grants) may say that a member *cannot* read it; it is fetched
//!   only for in-scope repositories where some member is still undecided, and the loop stops as
//!   soon as nobody is left undecided.
//!
//! Before any of that, a fetch proves the credential sees the whole organisation for the
//! workspace's policy, and fails (nothing applied, the missing right named) when it cannot:
//!
//! | policy | the credential needs |
//! |---|---|
//! | `admit = "all-repositories"`, or any teams mode | a token whose user is an active **owner** (`read:org` + `repo`, or fine-grained on all repositories with Members: read and Metadata: read), or an App installation on **all** repositories with Members: read and Metadata: read |
//! | `admit = "all-members"`, `teams = "off"` | a token whose user is an active **member** (`read:org`, or Members: read), or an App with Members: read |
//!
//! The exact message of a member's token: `github denied /user/memberships/orgs/{org}: the
//! token's user LOGIN is a member of ORG, not an owner: GitHub shows a non-owner only the private
//! repositories it can read, no secret teams and no owner-only organisation fields, so a sync
//! would admit people on a partial view. The credential … needs a token of an organisation owner
//! (the organisation's People page: Role Owner) …`. Where GitHub shows the organisation's
//! repository counts they must match the list (read again once). Destructive verdicts are
//! confirmed per user, by id ([`Provider::confirm`]). Facts relied on (PROVIDERS.md 1.2 and
//! GitHub's REST documentation): `GET /user/{account_id}` reads a user by durable id; team
//! membership counts child teams' members; the collaborator permission is the effective one
//! (repository, teams, organisation, enterprise); `GET /user/memberships/orgs/{org}` is not in
//! the OpenAPI subset in `api/github/` (GitHub documents it under "Organization members").
//!
//! What it is not for: webhooks (the daemon receives them) and writing to GitHub.

#![warn(missing_docs)]

mod api;
mod app;
mod check;
mod confirm;
pub mod fetch;
mod graphql;
mod member;
mod view;

pub use app::{GithubAppCredential, InstallationView};

use async_trait::async_trait;
use orgsync_core::http::WorkspaceClient;
use orgsync_core::{
    Confirmation, FetchPolicy, Provider, ProviderError, ProviderKind, Snapshot, Verdict,
};
use std::sync::Arc;

/// Tuning that does not change the answer, only how it is obtained.
#[derive(Debug, Clone)]
pub struct GithubOptions {
    /// Requests in flight at once for independent reads (team members, team repositories,
    /// account checks, collaborator lists). The host's pacing limiter still applies.
    pub concurrency: usize,
    /// Look up `GET /users/{login}` for each member who would otherwise be admitted, to keep
    /// suspended accounts out (Enterprise Server lists them as members). Costs one request per
    /// such member on a cold fetch and a free `304` afterwards.
    pub check_suspended: bool,
}

impl Default for GithubOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            check_suspended: true,
        }
    }
}

/// Whether a fetch may read lists through GitHub's GraphQL API (its own budget of points,
/// apart from the REST requests; see the `graphql` module).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GraphqlUse {
    /// The cost model picks REST or GraphQL per list (the default).
    #[default]
    Auto,
    /// REST only (an Enterprise Server without GraphQL, a token GraphQL refuses).
    Never,
    /// GraphQL wherever the fetch can use it, without looking at the cache.
    Always,
}

impl GraphqlUse {
    /// The setting from `ORGSYNC_GITHUB_GRAPHQL` (`auto`, `never`, `always`), else
    /// [`GraphqlUse::Auto`]: lets an operator turn GraphQL off without a rebuild, and the
    /// ground-truth tests run every list the fetch can read through GraphQL that way.
    pub fn from_env() -> GraphqlUse {
        match std::env::var("ORGSYNC_GITHUB_GRAPHQL").as_deref() {
            Ok("never") => GraphqlUse::Never,
            Ok("always") => GraphqlUse::Always,
            _ => GraphqlUse::Auto,
        }
    }
}

/// One GitHub organisation, read with one credential.
pub struct GithubProvider {
    client: WorkspaceClient,
    graphql: GraphqlUse,
    org: String,
    host: String,
    options: GithubOptions,
    app: Option<Arc<GithubAppCredential>>,
}

impl std::fmt::Debug for GithubProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubProvider")
            .field("client", &self.client)
            .field("org", &self.org)
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl GithubProvider {
    /// `client` is a GitHub workspace client (base URL `https://api.github.com` or
    /// `https://HOST/api/v3`) with its credential, cache and observer set.
    pub fn new(client: WorkspaceClient, org: impl Into<String>) -> Self {
        let host = host_of(client.base_url());
        Self {
            client,
            org: org.into(),
            host,
            options: GithubOptions::default(),
            app: None,
            graphql: GraphqlUse::from_env(),
        }
    }

    /// The host identities belong to (default: the host of the base URL, without port).
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// Replaces the fetch options (concurrency and the like).
    pub fn with_options(mut self, options: GithubOptions) -> Self {
        self.options = options;
        self
    }

    /// Tells the provider that `client` authenticates with this App, so each fetch's request
    /// counts include the token exchanges it caused.
    pub fn with_app(mut self, app: Arc<GithubAppCredential>) -> Self {
        self.app = Some(app);
        self
    }

    /// Whether lists may be read through GraphQL ([`GraphqlUse::Auto`] unless set).
    pub fn with_graphql(mut self, graphql: GraphqlUse) -> Self {
        self.graphql = graphql;
        self
    }

    /// The organisation this provider reads.
    pub fn org(&self) -> &str {
        &self.org
    }
}

/// `scheme://host[:port]/…` → `host` (the core's one host parser; the URL itself when it is
/// not one).
fn host_of(url: &str) -> String {
    orgsync_core::http::host_of(url)
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| url.to_owned())
}

#[async_trait]
impl Provider for GithubProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Github
    }

    async fn fetch(&self, policy: &FetchPolicy) -> Result<Snapshot, ProviderError> {
        let client = self.client.for_fetch(policy);
        let exchanges_before = self.app.as_ref().map(|a| a.exchange_counts());
        let mut snapshot = fetch::Fetcher::new(&client, &self.org, &self.options)
            .with_app(self.app.as_deref())
            .with_graphql(self.graphql)
            .run(policy, &self.host)
            .await?;
        snapshot.requests = client.request_counts();
        if let (Some(app), Some(before)) = (&self.app, exchanges_before) {
            let after = app.exchange_counts();
            snapshot.requests.total += after.total.saturating_sub(before.total);
            snapshot.requests.not_modified +=
                after.not_modified.saturating_sub(before.not_modified);
        }
        Ok(snapshot)
    }

    async fn check(&self, policy: &FetchPolicy) -> Result<Vec<String>, ProviderError> {
        check::check(
            &self.client.with_fresh_counts(),
            &self.org,
            self.app.as_deref(),
            view::Needs::of(policy),
        )
        .await
    }

    async fn fetch_member(
        &self,
        policy: &FetchPolicy,
        id: &str,
        login: Option<&str>,
    ) -> Result<Option<orgsync_core::Member>, ProviderError> {
        let client = self.client.for_fetch(policy);
        member::fetch_member(&client, &self.org, policy, id, login).await
    }

    /// GitHub's per-user reads, by durable id: see the `confirm` module.
    async fn confirm(
        &self,
        policy: &FetchPolicy,
        id: &str,
        _login: &str,
        verdict: &Verdict,
    ) -> Result<Confirmation, ProviderError> {
        let client = self.client.for_fetch(policy);
        confirm::confirm(&client, &self.org, id, verdict).await
    }
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn host_of_strips_scheme_port_and_path() {
        assert_eq!(host_of("https://api.github.com"), "api.github.com");
        assert_eq!(host_of("https://ghe.example.com/api/v3"), "ghe.example.com");
        assert_eq!(host_of("http://127.0.0.1:8080/api/v3"), "127.0.0.1");
        // The same answer as the configuration's workspace host, IPv6 included.
        assert_eq!(host_of("http://[::1]:8080/api/v3"), "::1");
    }
}
