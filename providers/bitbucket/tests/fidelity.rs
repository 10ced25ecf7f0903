//! Fidelity: every route the simulator serves validates against the official Bitbucket Cloud
//! swagger (its 2.0 definitions resolved from the document, `x-` extensions ignored), error
//! answers validate against its `error` definition, and the official example payloads parse
//! with this crate's serde types.

// Test helpers fail the test with a message (the crate denies clippy::panic elsewhere).
#![allow(clippy::panic)]

mod support;

use orgsync_bitbucket::model::{
    FirstPage, GroupPermission, RepositoryPermission, UserPermission, V1Group, Workspace,
    WorkspaceMembership,
};
use orgsync_core::ProviderKind;
use orgsync_core::http::{HttpClient, Route, WorkspaceClient};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::path::PathBuf;
use support::*;

fn api_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../simulator/api/bitbucket")
}

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(api_dir().join(name)).expect("api file is readable");
    serde_json::from_str(&text).expect("api file is JSON")
}

/// Drops `x-` extensions and Swagger's `discriminator` (not JSON Schema), keeping property
/// names (which are data) untouched.
fn clean(node: &Value) -> Value {
    match node {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with("x-") && k.as_str() != "discriminator")
                .map(|(k, v)| {
                    if k == "properties" {
                        let props: Map<String, Value> = v
                            .as_object()
                            .map(|p| p.iter().map(|(n, s)| (n.clone(), clean(s))).collect())
                            .unwrap_or_default();
                        (k.clone(), Value::Object(props))
                    } else {
                        (k.clone(), clean(v))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(clean).collect()),
        other => other.clone(),
    }
}

/// A draft-4 schema for `schema` (a swagger response schema, usually a `$ref`), with every
/// definition of the document next to it so local `$ref`s (recursive ones included) resolve.
fn schema_for(swagger: &Value, schema: &Value) -> Value {
    let mut root = clean(schema);
    if let Value::Object(map) = &mut root {
        map.insert("definitions".into(), clean(&swagger["definitions"]));
    }
    root
}

fn response_schema(swagger: &Value, path: &str, status: &str) -> Value {
    let schema = &swagger["paths"][path]["get"]["responses"][status]["schema"];
    assert!(
        !schema.is_null(),
        "swagger has no {status} schema for {path}"
    );
    schema_for(swagger, schema)
}

fn assert_valid(schema: &Value, body: &Value, what: &str) {
    let validator = jsonschema::draft4::new(schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .take(5)
        .collect();
    assert!(errors.is_empty(), "{what}: {errors:#?}\n{body:#}");
}

async fn get(client: &WorkspaceClient, path: &str, query: &[(&str, &str)]) -> Value {
    let mut route = Route::new("/fidelity", path.to_string());
    for (k, v) in query {
        route = route.query(k, v);
    }
    client
        .get_json(&route)
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// Swagger path, concrete path, query.
type Case = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

#[tokio::test]
async fn every_route_validates_against_the_official_swagger() {
    let swagger = load("bitbucket-cloud-2.0.swagger.json");
    let server = start(edge()).await;
    let http = HttpClient::new(test_config()).expect("client");
    let client = http
        .workspace(
            ProviderKind::Bitbucket,
            WORKSPACE,
            &server.base_url(),
            credential(&server),
        )
        .expect("workspace client");
    let cases: &[Case] = &[
        ("/workspaces/{workspace}", "/2.0/workspaces/acme", &[]),
        (
            "/workspaces/{workspace}/members",
            "/2.0/workspaces/acme/members",
            &[("pagelen", "3"), ("page", "2")],
        ),
        (
            "/workspaces/{workspace}/permissions",
            "/2.0/workspaces/acme/permissions",
            &[("pagelen", "100")],
        ),
        (
            "/workspaces/{workspace}/permissions",
            "/2.0/workspaces/acme/permissions",
            &[("q", "permission=\"owner\"")],
        ),
        (
            "/repositories/{workspace}",
            "/2.0/repositories/acme",
            &[("pagelen", "2"), ("page", "2")],
        ),
        (
            "/workspaces/{workspace}/permissions/repositories",
            "/2.0/workspaces/acme/permissions/repositories",
            &[("pagelen", "100")],
        ),
        (
            "/workspaces/{workspace}/permissions/repositories",
            "/2.0/workspaces/acme/permissions/repositories",
            &[("q", "repository.name=\"App Web\" AND permission>=\"read\"")],
        ),
        (
            "/workspaces/{workspace}/permissions/repositories/{repo_slug}",
            "/2.0/workspaces/acme/permissions/repositories/sec-vault",
            &[],
        ),
        (
            "/repositories/{workspace}/{repo_slug}/permissions-config/users",
            "/2.0/repositories/acme/app-web/permissions-config/users",
            &[],
        ),
        (
            "/repositories/{workspace}/{repo_slug}/permissions-config/groups",
            "/2.0/repositories/acme/sec-vault/permissions-config/groups",
            &[],
        ),
        (
            "/workspaces/{workspace}/projects",
            "/2.0/workspaces/acme/projects",
            &[],
        ),
        (
            "/workspaces/{workspace}/projects/{project_key}/permissions-config/users",
            "/2.0/workspaces/acme/projects/APP/permissions-config/users",
            &[],
        ),
        (
            "/workspaces/{workspace}/projects/{project_key}/permissions-config/groups",
            "/2.0/workspaces/acme/projects/OPS/permissions-config/groups",
            &[],
        ),
        ("/user", "/2.0/user", &[]),
    ];
    for (template, path, query) in cases {
        let body = get(&client, path, query).await;
        if let Some(values) = body.get("values").and_then(Value::as_array) {
            assert!(!values.is_empty(), "{path} {query:?} lists something");
        }
        assert_valid(
            &response_schema(&swagger, template, "200"),
            &body,
            &format!("GET {path} {query:?}"),
        );
    }

    // The simulator's errors have Bitbucket's shape.
    let error_schema = schema_for(&swagger, &json!({"$ref": "#/definitions/error"}));
    let missing = client
        .send(
            "/fidelity",
            http::Request::get(format!("{}/2.0/workspaces/nope", server.base_url()))
                .body(Vec::new())
                .expect("request"),
        )
        .await
        .expect("an answer");
    assert_eq!(missing.status(), 404);
    let body: Value = serde_json::from_slice(missing.body()).expect("JSON error");
    assert_valid(&error_schema, &body, "404");
    let bad_query = client
        .send(
            "/fidelity",
            http::Request::get(format!(
                "{}/2.0/workspaces/acme/permissions/repositories?q=nonsense",
                server.base_url()
            ))
            .body(Vec::new())
            .expect("request"),
        )
        .await
        .expect("an answer");
    assert_eq!(bad_query.status(), 400);
    let body: Value = serde_json::from_slice(bad_query.body()).expect("JSON error");
    assert_valid(&error_schema, &body, "400");

    // The 1.0 groups route has no swagger; it parses with the client's type.
    let groups: Vec<V1Group> = serde_json::from_value(get(&client, "/1.0/groups/acme", &[]).await)
        .expect("1.0 groups parse");
    assert_eq!(groups.len(), 3);
}

#[test]
fn the_validator_rejects_what_the_swagger_forbids() {
    let swagger = load("bitbucket-cloud-2.0.swagger.json");
    let schema = response_schema(&swagger, "/workspaces/{workspace}/members", "200");
    let validator = jsonschema::draft4::new(&schema).expect("schema compiles");
    // The envelope allows no other fields, `pagelen` is at least 1, and `type` is required.
    assert!(!validator.is_valid(&json!({"pagelen": 10, "values": [], "total": 1})));
    assert!(!validator.is_valid(&json!({"pagelen": 0, "values": []})));
    assert!(!validator.is_valid(&json!({"pagelen": 10, "values": [{"user": {}}]})));
    assert!(validator.is_valid(&json!({"pagelen": 10, "values": []})));
}

fn parses<T: DeserializeOwned>(name: &str) -> T {
    serde_json::from_value(load(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn official_examples_parse_with_the_client_types() {
    let roles: FirstPage<WorkspaceMembership> =
        parses("GET_workspaces_workspace_permissions.200.json");
    assert!(
        roles
            .values
            .iter()
            .any(|m| m.permission.as_deref() == Some("owner"))
    );
    for name in [
        "GET_workspaces_workspace_permissions_repositories.200.json",
        "GET_workspaces_workspace_permissions_repositories_repo_slug.200.json",
        "GET_user_permissions_repositories.200.json",
    ] {
        let page: FirstPage<RepositoryPermission> = parses(name);
        assert!(!page.values.is_empty(), "{name}");
        assert!(
            page.values
                .iter()
                .all(|r| r.user.uuid.starts_with('{') && r.repository.slug().is_some()),
            "{name}"
        );
    }
    let geordi: FirstPage<RepositoryPermission> =
        parses("GET_workspaces_workspace_permissions_repositories.200.json");
    assert_eq!(geordi.values[0].repository.slug(), Some("geordi"));
    assert_eq!(geordi.size, Some(3));
    for name in [
        "GET_repositories_workspace_repo_slug_permissions-config_groups.200.json",
        "GET_workspaces_workspace_projects_project_key_permissions-config_groups.200.json",
    ] {
        let page: FirstPage<GroupPermission> = parses(name);
        assert!(!page.values.is_empty(), "{name}");
    }
    for name in [
        "GET_repositories_workspace_repo_slug_permissions-config_users.200.json",
        "GET_workspaces_workspace_projects_project_key_permissions-config_users.200.json",
    ] {
        let page: FirstPage<UserPermission> = parses(name);
        assert!(!page.values.is_empty(), "{name}");
    }
    let one_group: GroupPermission = parses(
        "GET_repositories_workspace_repo_slug_permissions-config_groups_group_slug.200.json",
    );
    assert!(!one_group.group.slug.is_empty());
    let one_user: UserPermission = parses(
        "GET_repositories_workspace_repo_slug_permissions-config_users_selected_user_id.200.json",
    );
    assert!(one_user.user.uuid.starts_with('{'));
    let workspaces: FirstPage<Workspace> = parses("GET_workspaces.200.json");
    assert_eq!(workspaces.values[0].slug, "bbworkspace1");
}

#[test]
fn official_examples_validate_against_the_swagger_too() {
    // The converter is not vacuous: Bitbucket's own examples pass it.
    let swagger = load("bitbucket-cloud-2.0.swagger.json");
    for (name, path) in [
        (
            "GET_workspaces_workspace_permissions.200.json",
            "/workspaces/{workspace}/permissions",
        ),
        (
            "GET_workspaces_workspace_permissions_repositories.200.json",
            "/workspaces/{workspace}/permissions/repositories",
        ),
        (
            "GET_repositories_workspace_repo_slug_permissions-config_groups.200.json",
            "/repositories/{workspace}/{repo_slug}/permissions-config/groups",
        ),
        (
            "GET_workspaces_workspace_projects_project_key_permissions-config_users.200.json",
            "/workspaces/{workspace}/projects/{project_key}/permissions-config/users",
        ),
    ] {
        assert_valid(&response_schema(&swagger, path, "200"), &load(name), name);
    }
}
