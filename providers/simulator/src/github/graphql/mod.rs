//! GitHub's GraphQL API, the subset orgsync reads: `POST /graphql` (github.com) and
//! `POST /api/graphql` (Enterprise Server, not under `/api/v3`).
//!
//! What GitHub documents ("Rate limits and query limits for the GraphQL API") and this serves:
//!
//! * every query is validated against the schema subset in `schema.graphql` (copied from
//!   GitHub's published schema): an unknown field, argument or enum value is an error and
//!   nothing is charged;
//! * every connection needs `first` (1..=100; `last` is not served); a query may ask for at
//!   most 500,000 nodes (the sum over connections of the product of the `first`s down the path);
//! * the cost in points is the number of connection requests the query needs, assuming each
//!   reaches its `first` (a connection below another one is requested once per parent node),
//!   divided by 100 and rounded, at least 1; it is charged to the token's points budget (5,000
//!   an hour by default, apart from the REST budget), and answered in the `rateLimit { cost limit
//!   remaining resetAt used nodeCount }` object and the `x-ratelimit-*` headers with
//!   `x-ratelimit-resource: graphql`; more than 2,000 points in a minute is a secondary limit;
//! * a caller sees what the REST routes show it (`super::view`): a secret team it is not in
//!   is `null` with a `NOT_FOUND` error, as is a repository it cannot see.
//!
//! GraphQL has no conditional requests: every query is charged.

mod exec;
mod schema;

pub use schema::{SchemaError, validate_query};

use super::GithubState;
use super::routes::{CallerExt, caller_of};
use crate::server::{PointsCharge, read};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value as Json, json};

/// GitHub's limit on the nodes one query may ask for.
pub const NODE_LIMIT: u64 = 500_000;

#[derive(Deserialize)]
struct Request {
    query: String,
    #[serde(default)]
    variables: Option<serde_json::Map<String, Json>>,
    #[serde(default, rename = "operationName")]
    operation_name: Option<String>,
}

fn headers_for(budget: &crate::server::BudgetView, headers: &mut HeaderMap) {
    headers.insert("x-ratelimit-limit", HeaderValue::from(budget.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(budget.remaining));
    headers.insert("x-ratelimit-used", HeaderValue::from(budget.used));
    headers.insert("x-ratelimit-reset", HeaderValue::from(budget.reset));
    headers.insert("x-ratelimit-resource", HeaderValue::from_static("graphql"));
}

fn errors_only(status: StatusCode, errors: &[Json]) -> Response {
    (status, axum::Json(json!({ "errors": errors }))).into_response()
}

/// `POST /graphql`.
pub(crate) async fn serve(
    State(state): State<GithubState>,
    caller: CallerExt,
    body: Bytes,
) -> Response {
    let Some(caller) = caller_of(&caller).cloned() else {
        return super::GithubFlavor.unauthorized_response();
    };
    let request: Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({
                    "message": "Problems parsing JSON",
                    "documentation_url": "https://docs.github.com/graphql"
                })),
            )
                .into_response();
        }
    };
    let variables = request.variables.unwrap_or_default();
    let plan = match schema::plan(
        &request.query,
        request.operation_name.as_deref(),
        &variables,
    ) {
        Ok(plan) => plan,
        Err(errors) => {
            let errors: Vec<Json> = errors.iter().map(SchemaError::to_json).collect();
            let mut response = errors_only(StatusCode::OK, &errors);
            headers_for(
                &state.infra.points_budget(&caller.token),
                response.headers_mut(),
            );
            return response;
        }
    };
    let budget = match state.infra.charge_points(&caller.token, plan.cost) {
        PointsCharge::Charged(budget) => budget,
        PointsCharge::Exhausted(budget) => {
            let mut response = errors_only(
                StatusCode::FORBIDDEN,
                &[json!({
                    "type": "RATE_LIMITED",
                    "message": "API rate limit exceeded for user ID 1."
                })],
            );
            headers_for(&budget, response.headers_mut());
            return response;
        }
        PointsCharge::Secondary(wait) => {
            let mut response = errors_only(
                StatusCode::FORBIDDEN,
                &[json!({
                    "message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
                })],
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(wait));
            return response;
        }
    };
    let world = read(&state.world);
    let (data, errors) = exec::run(&world, &caller, &plan, &budget);
    drop(world);
    let mut body = json!({ "data": data });
    if !errors.is_empty()
        && let Some(map) = body.as_object_mut()
    {
        map.insert("errors".into(), Json::Array(errors));
    }
    let mut response = (StatusCode::OK, axum::Json(body)).into_response();
    headers_for(&budget, response.headers_mut());
    response
}
