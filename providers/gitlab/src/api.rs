//! The `gitlab` crate's endpoints over orgsync's HTTP layer.
//!
//! * [`Adapter`] implements the crate's [`AsyncClient`] on a [`WorkspaceClient`], so single
//!   objects (`GET /groups/:id`, `/user`, `/personal_access_tokens/self`) are queried with the
//!   crate's own `query_async` while every request still goes through our pacing, retries, ETag
//!   cache and counters.
//! * [`list`] reads paginated endpoints built with the crate's builders through our layer's
//!   [`Pager`](orgsync_core::http::Pager) instead of the crate's `api::paged`; see the crate docs
//!   for why.
//! * [`GroupDetails`], [`DescendantGroups`] and [`InvitedGroups`] are endpoints the crate does
//!   not have, written against its [`Endpoint`] trait.

use bytes::Bytes;
use gitlab::api::common::NameOrId;
use gitlab::api::endpoint_prelude::*;
use gitlab::api::{ApiError, AsyncClient, AsyncQuery, RestClient};
use orgsync_core::ProviderError;
use orgsync_core::http::{Route, WorkspaceClient};
use serde::de::DeserializeOwned;
use url::Url;

/// Most rows GitLab returns per page.
pub const PER_PAGE: u32 = 100;

/// The crate's client traits on top of one fetch's [`WorkspaceClient`].
pub struct Adapter<'c> {
    /// The fetch's client; every request goes through it.
    pub client: &'c WorkspaceClient,
}

impl RestClient for Adapter<'_> {
    type Error = ProviderError;

    fn rest_endpoint(&self, endpoint: &str) -> Result<Url, ApiError<Self::Error>> {
        Ok(Url::parse(&format!(
            "{}/{endpoint}",
            self.client.base_url()
        ))?)
    }
}

#[async_trait::async_trait]
impl AsyncClient for Adapter<'_> {
    async fn rest_async(
        &self,
        request: http::request::Builder,
        body: Vec<u8>,
    ) -> Result<http::Response<Bytes>, ApiError<Self::Error>> {
        let request = request.body(body).map_err(|e| {
            ApiError::client(ProviderError::Other(format!(
                "could not build a GitLab request: {e}"
            )))
        })?;
        let template = template_for(request.uri().path());
        self.client
            .send(template, request)
            .await
            .map_err(ApiError::client)
    }
}

/// The route template logs and metrics show for a concrete path: ids and paths of groups and
/// projects are replaced by `:id`, so no account data ends up in metric labels.
pub fn template_for(path: &str) -> &'static str {
    let rest = path.split("/api/v4/").nth(1).unwrap_or(path);
    let rest = rest.trim_start_matches('/');
    let mut segments = rest.split('/');
    let first = segments.next().unwrap_or_default();
    let _id = segments.next();
    let tail: Vec<&str> = segments.collect();
    match (first, tail.as_slice()) {
        ("groups", []) => "/groups/:id",
        ("groups", ["members", "all"]) => "/groups/:id/members/all",
        ("groups", ["members"]) => "/groups/:id/members",
        ("groups", ["members", "all", _]) => "/groups/:id/members/all/:user_id",
        ("groups", ["members", _]) => "/groups/:id/members/:user_id",
        ("groups", ["projects"]) => "/groups/:id/projects",
        ("groups", ["subgroups"]) => "/groups/:id/subgroups",
        ("groups", ["descendant_groups"]) => "/groups/:id/descendant_groups",
        ("groups", ["invited_groups"]) => "/groups/:id/invited_groups",
        ("projects", ["members", "all"]) => "/projects/:id/members/all",
        ("projects", ["members", "all", _]) => "/projects/:id/members/all/:user_id",
        ("projects", []) => "/projects/:id",
        ("users", []) => "/users/:id",
        ("version", _) => "/version",
        ("user", _) => "/user",
        ("personal_access_tokens", _) => "/personal_access_tokens/self",
        _ => "/api/v4/other",
    }
}

/// Turns the crate's error back into ours: our layer's errors come back as they were; GitLab's
/// own answers are classified by status.
pub fn provider_error(
    client: &WorkspaceClient,
    route: &str,
    error: ApiError<ProviderError>,
) -> ProviderError {
    let provider = client.provider();
    let credential = client.credential_reference().to_string();
    let status = |status: http::StatusCode, detail: String| match status.as_u16() {
        401 => ProviderError::Unauthorized {
            provider,
            credential: credential.clone(),
            detail,
        },
        403 => ProviderError::Forbidden {
            provider,
            credential: credential.clone(),
            route: route.to_string(),
            detail,
            needed: "the read_api scope and at least Reporter (20) in the group".to_string(),
        },
        404 => ProviderError::NotFound {
            provider,
            what: "such group or project visible to this token".to_string(),
            route: route.to_string(),
        },
        code => ProviderError::Status {
            provider,
            route: route.to_string(),
            status: code,
            detail,
        },
    };
    match error {
        ApiError::Client { source } => source,
        ApiError::GitlabWithStatus { status: s, msg } => status(s, msg),
        ApiError::GitlabObjectWithStatus { status: s, obj }
        | ApiError::GitlabUnrecognizedWithStatus { status: s, obj } => status(s, obj.to_string()),
        ApiError::GitlabService { status: s, .. } if !s.is_success() => {
            status(s, "the answer was not JSON".to_string())
        }
        other => ProviderError::Malformed {
            provider,
            route: route.to_string(),
            detail: other.to_string(),
        },
    }
}

/// One object through the crate's `query_async` over [`Adapter`].
pub async fn get<E, T>(client: &WorkspaceClient, endpoint: &E) -> Result<T, ProviderError>
where
    E: Endpoint + Sync,
    T: DeserializeOwned + Send + 'static,
{
    let adapter = Adapter { client };
    let path = endpoint.endpoint();
    endpoint
        .query_async(&adapter)
        .await
        .map_err(|e| provider_error(client, template_for(&path), e))
}

/// The absolute URL of an endpoint (path and query parameters as the crate builds them).
fn endpoint_url<E: Endpoint>(client: &WorkspaceClient, endpoint: &E) -> Result<Url, ProviderError> {
    let mut url = Url::parse(&format!("{}/{}", client.base_url(), endpoint.endpoint()))
        .map_err(|e| ProviderError::Other(format!("could not build a GitLab URL: {e}")))?;
    endpoint.parameters().add_to_url(&mut url);
    Ok(url)
}

/// Every row of a paginated endpoint, 100 per page, through our layer's pager (which follows
/// `Link rel="next"` / `x-next-page`, caps pages and fails on any bad page).
pub async fn list<E, T>(client: &WorkspaceClient, endpoint: &E) -> Result<Vec<T>, ProviderError>
where
    E: Endpoint,
    T: DeserializeOwned,
{
    let url = endpoint_url(client, endpoint)?;
    let route = Route::new(template_for(url.path()), url.to_string()).query("per_page", PER_PAGE);
    client.get_all(&route).await
}

/// GitLab's `x-total` for a list: one request for its first row (`per_page=1`). `None` when
/// GitLab leaves the header out (lists over 10,000 rows, some GitLab.com lists).
pub async fn total<E: Endpoint>(
    client: &WorkspaceClient,
    endpoint: &E,
) -> Result<Option<usize>, ProviderError> {
    let mut url = endpoint_url(client, endpoint)?;
    url.query_pairs_mut().append_pair("per_page", "1");
    let template = template_for(url.path());
    let request = http::Request::get(url.as_str())
        .body(Vec::new())
        .map_err(|e| ProviderError::Other(format!("could not build a GitLab request: {e}")))?;
    let response = client.send(template, request).await?;
    if !response.status().is_success() {
        return Err(ProviderError::Status {
            provider: client.provider(),
            route: template.to_string(),
            status: response.status().as_u16(),
            detail: "reading the list's total".to_string(),
        });
    }
    Ok(response
        .headers()
        .get("x-total")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok()))
}

/// `GET /groups/:id?with_projects=false`: the crate's `Group` cannot leave out the deprecated
/// embedded project list, which would make the answer (and its ETag) depend on up to 100
/// projects.
pub struct GroupDetails<'a> {
    /// The group, by path or id.
    pub group: NameOrId<'a>,
}

impl Endpoint for GroupDetails<'_> {
    fn method(&self) -> Method {
        Method::GET
    }

    fn endpoint(&self) -> Cow<'static, str> {
        format!("groups/{}", self.group).into()
    }

    fn parameters(&self) -> QueryParams<'_> {
        let mut params = QueryParams::default();
        params.push("with_projects", false);
        params
    }
}

/// `GET /groups/:id/descendant_groups`: the whole subtree in one list (missing from the crate).
pub struct DescendantGroups {
    /// The group's id.
    pub group: u64,
}

impl Endpoint for DescendantGroups {
    fn method(&self) -> Method {
        Method::GET
    }

    fn endpoint(&self) -> Cow<'static, str> {
        format!("groups/{}/descendant_groups", self.group).into()
    }

    fn parameters(&self) -> QueryParams<'_> {
        let mut params = QueryParams::default();
        params.push("all_available", true);
        params
    }
}

impl Pageable for DescendantGroups {}

/// `GET /groups/:id/invited_groups`: groups whose members reach this group through a share
/// (missing from the crate).
pub struct InvitedGroups {
    /// The group's id.
    pub group: u64,
}

impl Endpoint for InvitedGroups {
    fn method(&self) -> Method {
        Method::GET
    }

    fn endpoint(&self) -> Cow<'static, str> {
        format!("groups/{}/invited_groups", self.group).into()
    }
}

impl Pageable for InvitedGroups {}

#[cfg(test)]
mod tests {
    use super::template_for;

    #[test]
    fn templates_hide_group_paths_and_ids() {
        assert_eq!(
            template_for("/api/v4/groups/acme%2Fplatform/members/all"),
            "/groups/:id/members/all"
        );
        assert_eq!(template_for("/api/v4/groups/7"), "/groups/:id");
        assert_eq!(
            template_for("/gitlab/api/v4/projects/12/members/all"),
            "/projects/:id/members/all"
        );
        assert_eq!(template_for("/api/v4/user"), "/user");
    }
}
