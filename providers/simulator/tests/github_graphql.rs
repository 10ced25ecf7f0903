//! The simulated GitHub GraphQL endpoint: the documented point cost, node limit, `rateLimit`
//! object and headers, validation against the published schema subset, and the caller's view.

use orgsync_simulator::github::GithubServer;
use orgsync_simulator::github::graphql::validate_query;
use orgsync_simulator::scenario::{Scenario, TokenSpec};
use orgsync_simulator::server::ServerOptions;
use serde_json::{Value, json};

fn edge() -> Scenario {
    let mut scenario = Scenario::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/github-edge-cases.toml"
    ))
    .expect("edge-case scenario loads");
    let github = scenario.github.as_mut().expect("github");
    github.tokens.push(TokenSpec {
        user: Some("gina".into()),
        ..TokenSpec::full("gina-token")
    });
    scenario
}

async fn start() -> GithubServer {
    GithubServer::start(edge(), ServerOptions::default())
        .await
        .expect("server starts")
}

async fn post_at(
    url: &str,
    token: &str,
    query: &str,
    variables: Value,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = reqwest::Client::new()
        .post(url)
        .header("Authorization", format!("Bearer {token}"))
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .expect("request completes");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.json().await.expect("json"))
}

async fn post(server: &GithubServer, query: &str, variables: Value) -> (u16, Value) {
    let (status, _, body) = post_at(&server.graphql_url(), "edge-token", query, variables).await;
    (status, body)
}

fn logins(connection: &Value) -> Vec<(String, String)> {
    connection["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            (
                e["node"]["login"].as_str().expect("login").to_owned(),
                e["role"]
                    .as_str()
                    .or(e["permission"].as_str())
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[tokio::test]
async fn aliased_team_member_lists_cost_one_point_and_report_it() {
    let server = start().await;
    let query = r#"query($org: String!) {
      a: organization(login: $org) { team(slug: "engineering") {
        members(first: 100, membership: IMMEDIATE) { totalCount edges { role node { login databaseId } } } } }
      b: organization(login: $org) { team(slug: "engineering") {
        members(first: 100) { edges { role node { login } } } } }
      c: organization(login: $org) { team(slug: "backend") {
        members(first: 100, membership: IMMEDIATE) { edges { role node { login } } } } }
      rateLimit { cost limit remaining used nodeCount resetAt }
    }"#;
    let (status, headers, body) = post_at(
        &server.graphql_url(),
        "edge-token",
        query,
        json!({"org": "acme"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    // Immediate members only, with their own role; ALL adds the child team's members as MEMBER
    // (what REST's team member list shows).
    assert_eq!(
        logins(&data["a"]["team"]["members"]),
        pairs(&[("erin", "MEMBER"), ("renovate-bot", "MEMBER")])
    );
    assert_eq!(data["a"]["team"]["members"]["totalCount"], 2);
    assert_eq!(
        logins(&data["b"]["team"]["members"]),
        pairs(&[
            ("bob", "MEMBER"),
            ("erin", "MEMBER"),
            ("renovate-bot", "MEMBER"),
            ("gina", "MEMBER")
        ])
    );
    assert_eq!(
        logins(&data["c"]["team"]["members"]),
        pairs(&[("bob", "MAINTAINER"), ("gina", "MEMBER")])
    );
    // Three connection requests: 3 / 100 rounds to 0, and the minimum is 1.
    let rate = &data["rateLimit"];
    assert_eq!(rate["cost"], 1);
    assert_eq!(rate["limit"], 5000);
    assert_eq!(rate["remaining"], 4999);
    assert_eq!(rate["used"], 1);
    assert_eq!(rate["nodeCount"], 300);
    assert!(rate["resetAt"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert_eq!(headers["x-ratelimit-resource"], "graphql");
    assert_eq!(headers["x-ratelimit-remaining"], "4999");
    assert_eq!(headers["x-ratelimit-used"], "1");
    // The REST budget is another one: untouched.
    let rest = server.handle().budget("edge-token").expect("known token");
    assert_eq!(rest.used, 0);
    let stats = server.handle().stats();
    assert_eq!(stats.points, 1);
    assert_eq!(stats.requests("POST /graphql"), 1);
}

#[tokio::test]
async fn nested_connections_cost_one_request_per_parent_node() {
    let server = start().await;
    // 1 (teams) + 50 (members, once per team) + 1 (repositories) + 100 (collaborators) = 152
    // requests: 1.52 rounds to 2 points; nodes 50 + 50 x 100 + 100 + 100 x 100.
    let query = r#"{ organization(login: "acme") {
        teams(first: 50) { nodes { slug members(first: 100) { nodes { login } } } }
        repositories(first: 100) { nodes { name collaborators(first: 100) { nodes { login } } } }
      }
      rateLimit { cost nodeCount } }"#;
    assert_eq!(validate_query(query, &json!({})), Ok(2));
    let (status, body) = post(&server, query, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["rateLimit"]["cost"], 2);
    assert_eq!(
        body["data"]["rateLimit"]["nodeCount"],
        50 + 5000 + 100 + 10_000
    );
    assert_eq!(server.handle().stats().points, 2);
}

#[tokio::test]
async fn invalid_queries_are_refused_and_cost_nothing() {
    let server = start().await;
    let cases = [
        (
            r#"{ organization(login: "acme") { membersWithRole { nodes { login } } } }"#,
            "MISSING_PAGINATION_BOUNDARIES",
        ),
        (
            r#"{ organization(login: "acme") { membersWithRole(first: 101) { nodes { login } } } }"#,
            "MISSING_PAGINATION_BOUNDARIES",
        ),
        (
            r#"{ organization(login: "acme") { members(first: 10) { nodes { login } } } }"#,
            "undefinedField",
        ),
        (
            r#"{ organization(login: "acme") { team(slug: "docs") { members(first: 10, membership: NESTED) { totalCount } } } }"#,
            "argumentLiteralsIncompatible",
        ),
        (r#"{ organization { login } }"#, "missingRequiredArguments"),
        // 100 teams x 100 repositories x 100 collaborators: over the 500,000-node limit.
        (
            r#"{ organization(login: "acme") { teams(first: 100) { nodes {
                repositories(first: 100) { nodes { collaborators(first: 100) { nodes { login } } } } } } } }"#,
            "MAX_NODE_LIMIT_EXCEEDED",
        ),
        ("{ organization(login: \"acme\") { login ", "parseError"),
    ];
    for (query, kind) in cases {
        let (status, body) = post(&server, query, json!({})).await;
        assert_eq!(status, 200, "{query}");
        assert!(body.get("data").is_none(), "{query}: {body}");
        assert_eq!(body["errors"][0]["type"], kind, "{query}: {body}");
    }
    assert_eq!(server.handle().stats().points, 0);
    assert_eq!(server.handle().points_budget("edge-token").used, 0);
}

#[tokio::test]
async fn cursors_page_forward_and_fragments_and_variables_resolve() {
    let server = start().await;
    let query = r#"query Page($org: String!, $after: String, $size: Int = 2) {
      organization(login: $org) { membersWithRole(first: $size, after: $after) { ...page } }
    }
    fragment page on OrganizationMemberConnection {
      pageInfo { hasNextPage endCursor } edges { role node { ...who } }
    }
    fragment who on User { login }"#;
    let mut after = Value::Null;
    let mut seen = Vec::new();
    loop {
        let (status, body) = post(&server, query, json!({"org": "acme", "after": after})).await;
        assert_eq!(status, 200, "{body}");
        let conn = &body["data"]["organization"]["membersWithRole"];
        seen.extend(logins(conn));
        if conn["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = conn["pageInfo"]["endCursor"].clone();
    }
    // Active members only (dave is pending), owners as ADMIN.
    assert_eq!(
        seen,
        pairs(&[
            ("alice", "ADMIN"),
            ("bob", "MEMBER"),
            ("carol", "MEMBER"),
            ("erin", "MEMBER"),
            ("renovate-bot", "MEMBER"),
            ("gina", "MEMBER")
        ])
    );
    assert_eq!(server.handle().stats().points, 3);
}

#[tokio::test]
async fn a_member_sees_in_graphql_what_rest_shows_it() {
    let server = start().await;
    let query = r#"{ organization(login: "acme") {
        docs: team(slug: "docs") { slug }
        backend: team(slug: "backend") { slug }
        secret: repository(name: "secret") { name }
        teams(first: 100) { nodes { slug } }
    } }"#;
    let (_, _, owner) = post_at(&server.graphql_url(), "edge-token", query, json!({})).await;
    let (_, _, member) = post_at(&server.graphql_url(), "gina-token", query, json!({})).await;
    let org = &owner["data"]["organization"];
    assert_eq!(org["docs"]["slug"], "docs");
    assert_eq!(org["secret"]["name"], "secret");
    let org = &member["data"]["organization"];
    // Gina is not in the secret team `docs`: it is hidden, as REST answers 404.
    assert_eq!(org["docs"], Value::Null);
    assert_eq!(org["backend"]["slug"], "backend");
    assert!(
        !org["teams"]["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .any(|t| t["slug"] == "docs")
    );
    let rest = reqwest::Client::new()
        .get(format!(
            "{}/orgs/acme/teams/docs/members",
            server.base_url()
        ))
        .header("Authorization", "Bearer gina-token")
        .send()
        .await
        .expect("request completes");
    assert_eq!(rest.status().as_u16(), 404);
}

#[tokio::test]
async fn enterprise_server_path_and_a_spent_budget() {
    let server = start().await;
    server.handle().set_points_limit(2);
    let url = format!("{}/api/graphql", server.base_url());
    let query = r#"{ organization(login: "acme") { login } }"#;
    for remaining in ["1", "0"] {
        let (status, headers, body) = post_at(&url, "edge-token", query, json!({})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"]["organization"]["login"], "acme");
        assert_eq!(headers["x-ratelimit-remaining"], remaining);
    }
    let (status, headers, body) = post_at(&url, "edge-token", query, json!({})).await;
    assert_eq!(status, 403);
    assert_eq!(body["errors"][0]["type"], "RATE_LIMITED");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    assert_eq!(headers["x-ratelimit-resource"], "graphql");
    // `/api/v3/graphql` is not where Enterprise Server serves it.
    let (status, _, _) = post_at(
        &format!("{}/api/v3/graphql", server.base_url()),
        "edge-token",
        query,
        json!({}),
    )
    .await;
    assert_eq!(status, 404);
    let stats = server.handle().stats();
    assert_eq!(stats.requests("POST /graphql"), 3);
    assert_eq!(stats.points, 2);
}

#[tokio::test]
async fn graphql_needs_a_token() {
    let server = start().await;
    let response = reqwest::Client::new()
        .post(server.graphql_url())
        .json(&json!({"query": "{ rateLimit { cost } }"}))
        .send()
        .await
        .expect("request completes");
    assert_eq!(response.status().as_u16(), 401);
}

/// `collaborators(login:)` narrows a repository's list to that one account (GitHub matches
/// logins without regard to case): its edge with its permission when it can access the
/// repository, no edge when it cannot; one connection request each, so 149 checks cost a point.
#[tokio::test]
async fn a_collaborator_check_by_login_answers_for_that_account_only() {
    let server = start().await;
    let query = r#"{ organization(login: "acme") { repository(name: "secret") {
        gina: collaborators(first: 1, affiliation: ALL, login: "GINA") { totalCount edges { permission node { login databaseId } } }
        bob: collaborators(first: 1, affiliation: ALL, login: "bob") { totalCount edges { permission node { login } } }
        all: collaborators(first: 100, affiliation: ALL) { totalCount edges { permission node { login } } }
    } } }"#;
    let (status, body) = post(&server, query, json!({})).await;
    assert_eq!(status, 200, "{body}");
    let repo = &body["data"]["organization"]["repository"];
    assert_eq!(logins(&repo["gina"]), pairs(&[("gina", "WRITE")]), "{body}");
    assert_eq!(repo["gina"]["edges"][0]["node"]["databaseId"], 8);
    assert_eq!(repo["gina"]["totalCount"], 1);
    // Bob reads `secret` through no team and no grant: he is not on its list.
    assert!(
        !logins(&repo["all"]).iter().any(|(l, _)| l == "bob"),
        "{body}"
    );
    assert_eq!(logins(&repo["bob"]), pairs(&[]));
    assert_eq!(repo["bob"]["totalCount"], 0);
    let at = |n: usize| {
        let checks: String = (0..n)
            .map(|i| format!(r#" c{i}: repository(name: "secret") {{ collaborators(first: 1, login: "gina") {{ totalCount }} }}"#))
            .collect();
        format!(r#"{{ organization(login: "acme") {{{checks} }} }}"#)
    };
    assert_eq!(validate_query(&at(149), &json!({})), Ok(1));
    assert_eq!(validate_query(&at(150), &json!({})), Ok(2));
}
