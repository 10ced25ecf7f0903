//! The simulated GitLab against GitLab's documented behaviour and the official examples in
//! `api/gitlab/`: the examples parse with the simulator's serde types; every route's answer has
//! the example's fields with the same JSON types; pagination, rate-limit, auth, scope, ETag and
//! webhook headers and bodies are GitLab's.

// Test helpers fail the test with a message (the crate denies clippy::panic elsewhere).
#![allow(clippy::panic)]

use axum::http::HeaderMap;
use orgsync_simulator::gitlab::json::*;
use orgsync_simulator::gitlab::synthetic::GitlabSize;
use orgsync_simulator::gitlab::{GitlabMutation, GitlabServer};
use orgsync_simulator::scenario::{GitlabUser, Scenario, UserState};
use orgsync_simulator::server::{ServerOptions, WebhookTarget};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn edge() -> Scenario {
    Scenario::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/gitlab-edge-cases.toml"
    ))
    .expect("edge-case scenario loads")
}

fn example(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("api/gitlab")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("example is readable");
    serde_json::from_str(&text).expect("example is JSON")
}

fn parses<T: DeserializeOwned>(name: &str) {
    if let Err(e) = serde_json::from_value::<T>(example(name)) {
        panic!(
            "{name} does not parse as {}: {e}",
            std::any::type_name::<T>()
        );
    }
}

#[test]
fn official_examples_parse_with_the_simulators_types() {
    parses::<GroupDetail>("GET_groups_id.json");
    parses::<Vec<Group>>("GET_groups_id_subgroups.json");
    parses::<Vec<Group>>("GET_groups_id_descendant_groups.json");
    parses::<Vec<Group>>("GET_groups_id_invited_groups.json");
    parses::<Vec<Member>>("GET_groups_id_members.json");
    parses::<Vec<Member>>("GET_groups_id_members_all.json");
    parses::<Member>("GET_groups_id_members_user_id.json");
    parses::<Member>("GET_groups_id_members_all_user_id.json");
    parses::<Vec<Project>>("GET_groups_id_projects.json");
    for event in [
        "user_add_to_group",
        "user_update_for_group",
        "user_remove_from_group",
        "user_access_request_to_group",
        "user_access_request_denied_for_group",
    ] {
        parses::<MemberHook>(&format!("webhooks/member_hook.{event}.json"));
    }
    parses::<SubgroupHook>("webhooks/subgroup_hook.subgroup_create.json");
    parses::<SubgroupHook>("webhooks/subgroup_hook.subgroup_destroy.json");
    parses::<ProjectHook>("webhooks/project_hook.project_create.json");
    parses::<ProjectHook>("webhooks/project_hook.project_destroy.json");
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every field of `example` is in `actual` with the same JSON type (null matches anything,
/// since the examples and the simulator fill optional fields differently), recursively.
fn same_shape(example: &Value, actual: &Value, at: &str, problems: &mut Vec<String>) {
    match (example, actual) {
        (Value::Null, _) | (_, Value::Null) => {}
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                match a.get(k) {
                    None => problems.push(format!("{at}.{k} missing")),
                    Some(av) => same_shape(ev, av, &format!("{at}.{k}"), problems),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if let (Some(ef), Some(af)) = (e.first(), a.first()) {
                same_shape(ef, af, &format!("{at}[0]"), problems);
            }
        }
        (e, a) if kind(e) != kind(a) => problems.push(format!(
            "{at}: example {} but simulator {}",
            kind(e),
            kind(a)
        )),
        _ => {}
    }
}

struct Api {
    server: GitlabServer,
    http: reqwest::Client,
}

impl Api {
    async fn start(scenario: Scenario) -> Api {
        Api {
            server: GitlabServer::start(scenario, ServerOptions::default())
                .await
                .expect("server"),
            http: reqwest::Client::new(),
        }
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.server.api_url()))
            .header("PRIVATE-TOKEN", self.server.token())
            .send()
            .await
            .expect("request")
    }

    async fn json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        response.json().await.expect("JSON")
    }
}

#[tokio::test]
async fn every_route_answers_with_the_fields_and_types_of_the_official_examples() {
    let api = Api::start(edge()).await;
    let cases = [
        ("GET_groups_id.json", "/groups/acme"),
        ("GET_groups_id_subgroups.json", "/groups/acme/subgroups"),
        (
            "GET_groups_id_descendant_groups.json",
            "/groups/1/descendant_groups",
        ),
        (
            "GET_groups_id_invited_groups.json",
            "/groups/1/invited_groups",
        ),
        ("GET_groups_id_members.json", "/groups/1/members"),
        ("GET_groups_id_members_all.json", "/groups/acme/members/all"),
        ("GET_groups_id_members_user_id.json", "/groups/1/members/1"),
        (
            "GET_groups_id_members_all_user_id.json",
            "/groups/1/members/all/1",
        ),
        (
            "GET_groups_id_projects.json",
            "/groups/1/projects?include_subgroups=true",
        ),
    ];
    let mut problems = Vec::new();
    for (file, path) in cases {
        let actual = api.json(path).await;
        same_shape(&example(file), &actual, file, &mut problems);
    }
    assert!(problems.is_empty(), "{problems:#?}");
    // Project members use the same row shape as group members.
    let rows = api.json("/projects/101/members/all").await;
    let mut problems = Vec::new();
    same_shape(
        &example("GET_groups_id_members_all.json"),
        &rows,
        "project members",
        &mut problems,
    );
    assert!(problems.is_empty(), "{problems:#?}");
}

#[tokio::test]
async fn members_all_resolves_inheritance_invited_groups_expiry_and_approval() {
    let api = Api::start(edge()).await;
    let rows = api
        .json("/groups/acme%2Fbackend/members/all?per_page=100")
        .await;
    let level = |user: u64| {
        rows.as_array()
            .expect("array")
            .iter()
            .find(|r| r["id"] == user)
            .map(|r| {
                (
                    r["access_level"].as_u64().expect("level"),
                    r["membership_state"].clone(),
                )
            })
    };
    assert_eq!(
        level(2).map(|l| l.0),
        Some(40),
        "highest of inherited 30 and direct 40"
    );
    assert_eq!(level(4).map(|l| l.0), Some(20));
    assert_eq!(
        level(13).map(|l| l.0),
        Some(20),
        "partners capped at the share's Reporter"
    );
    assert_eq!(
        level(14).map(|l| l.0),
        Some(10),
        "contractors capped at Guest"
    );
    assert_eq!(level(11), None, "expired memberships are gone");
    assert_eq!(level(10).map(|l| l.1), Some(Value::from("awaiting")));
    let direct = api.json("/groups/2/members").await;
    assert_eq!(
        direct.as_array().expect("array").len(),
        3,
        "direct members only"
    );
    let filtered = api
        .json("/projects/101/members/all?user_ids[]=4&user_ids[]=5")
        .await;
    let ids: Vec<u64> = filtered
        .as_array()
        .expect("array")
        .iter()
        .map(|r| r["id"].as_u64().expect("id"))
        .collect();
    assert_eq!(ids, vec![4, 5], "user_ids[] filters the rows");
    let projects = api
        .json("/groups/1/projects?include_subgroups=true&with_shared=false")
        .await;
    assert_eq!(projects.as_array().expect("array").len(), 8);
    let with_shared = api.json("/groups/1/projects?include_subgroups=true").await;
    assert_eq!(
        with_shared.as_array().expect("array").len(),
        9,
        "with_shared defaults to true"
    );
    let archived = api
        .json("/groups/1/projects?include_subgroups=true&archived=true")
        .await;
    assert_eq!(archived.as_array().expect("array").len(), 1);
    let own = api.json("/groups/1/projects").await;
    assert_eq!(
        own.as_array().expect("array").len(),
        4,
        "without include_subgroups: the group's own projects (shared-lib is shared with backend)"
    );
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("{name} is present"))
        .to_str()
        .expect("ASCII header")
}

#[tokio::test]
async fn offset_pagination_headers_follow_gitlab() {
    let scenario = Scenario::synthetic_gitlab(
        1,
        GitlabSize {
            members: 45,
            projects: 3,
            subgroups: 1,
        },
    );
    let api = Api::start(scenario).await;
    let first = api.get("/groups/1000/members/all").await;
    let h = first.headers().clone();
    assert_eq!(header(&h, "x-per-page"), "20", "default page size");
    assert_eq!(header(&h, "x-page"), "1");
    assert_eq!(header(&h, "x-next-page"), "2");
    assert_eq!(header(&h, "x-prev-page"), "");
    let total: usize = header(&h, "x-total").parse().expect("number");
    assert_eq!(header(&h, "x-total-pages"), total.div_ceil(20).to_string());
    assert!(header(&h, "link").contains("rel=\"next\""));
    assert!(header(&h, "link").contains("rel=\"last\""));
    assert!(header(&h, "etag").starts_with("W/\""));
    assert_eq!(header(&h, "ratelimit-name"), "throttle_authenticated_api");
    for name in [
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-observed",
        "ratelimit-reset",
        "ratelimit-resettime",
    ] {
        header(&h, name);
    }
    let last = api
        .get(&format!(
            "/groups/1000/members/all?page={}&per_page=20",
            total.div_ceil(20)
        ))
        .await;
    assert_eq!(
        header(last.headers(), "x-next-page"),
        "",
        "empty on the last page"
    );
    assert!(!header(last.headers(), "link").contains("rel=\"next\""));
    let big = api.get("/groups/1000/members/all?per_page=500").await;
    assert_eq!(
        header(big.headers(), "x-per-page"),
        "100",
        "per_page is capped at 100"
    );
}

#[tokio::test]
async fn lists_over_ten_thousand_rows_omit_totals_and_the_last_link() {
    let scenario = Scenario::synthetic_gitlab(
        2,
        GitlabSize {
            members: 10_050,
            projects: 1,
            subgroups: 1,
        },
    );
    let api = Api::start(scenario).await;
    let page = api
        .get("/groups/1000/members/all?page=2&per_page=100")
        .await;
    let h = page.headers();
    assert!(h.get("x-total").is_none() && h.get("x-total-pages").is_none());
    assert!(!header(h, "link").contains("rel=\"last\""));
    assert_eq!(header(h, "x-next-page"), "3");
    assert_eq!(header(h, "x-prev-page"), "1");
}

#[tokio::test]
async fn auth_accepts_private_token_and_bearer_and_refuses_others_like_gitlab() {
    let api = Api::start(edge()).await;
    let url = format!("{}/groups/1", api.server.api_url());
    let bearer = api
        .http
        .get(&url)
        .bearer_auth(api.server.token())
        .send()
        .await
        .expect("request");
    assert_eq!(bearer.status(), 200);
    let none = api.http.get(&url).send().await.expect("request");
    assert_eq!(none.status(), 401);
    assert_eq!(
        none.json::<Value>().await.expect("json"),
        serde_json::json!({"message": "401 Unauthorized"})
    );
    let scoped = api
        .http
        .get(&url)
        .header("PRIVATE-TOKEN", "carol-read-user")
        .send()
        .await
        .expect("request");
    assert_eq!(scoped.status(), 403);
    assert_eq!(
        scoped.json::<Value>().await.expect("json")["error"],
        "insufficient_scope"
    );
    let missing = api.get("/groups/nope").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<Value>().await.expect("json")["message"],
        "404 Group Not Found"
    );
    // A private group is invisible to a token whose user has no membership in it.
    let hidden = api
        .http
        .get(format!("{}/groups/partners", api.server.api_url()))
        .header("PRIVATE-TOKEN", "carol-read-api")
        .send()
        .await
        .expect("request");
    assert_eq!(hidden.status(), 404);
}

#[tokio::test]
async fn a_spent_budget_answers_429_retry_later_as_plain_text() {
    let api = Api::start(edge()).await;
    api.server
        .handle()
        .set_rate_limit(2, Duration::from_secs(60));
    assert_eq!(api.get("/groups/1").await.status(), 200);
    assert_eq!(api.get("/groups/1").await.status(), 200);
    let limited = api.get("/groups/1").await;
    assert_eq!(limited.status(), 429);
    let h = limited.headers().clone();
    assert!(header(&h, "content-type").starts_with("text/plain"));
    assert_eq!(header(&h, "ratelimit-remaining"), "0");
    let wait: u64 = header(&h, "retry-after").parse().expect("seconds");
    assert!(wait >= 1);
    assert_eq!(limited.text().await.expect("text").trim(), "Retry later");
}

#[tokio::test]
async fn a_matching_if_none_match_is_a_free_304() {
    let api = Api::start(edge()).await;
    let first = api.get("/groups/1/members/all").await;
    let etag = header(first.headers(), "etag").to_string();
    let used = api
        .server
        .handle()
        .budget(api.server.token())
        .expect("budget")
        .used;
    let second = api
        .http
        .get(format!("{}/groups/1/members/all", api.server.api_url()))
        .header("PRIVATE-TOKEN", api.server.token())
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("request");
    assert_eq!(second.status(), 304);
    assert_eq!(
        api.server
            .handle()
            .budget(api.server.token())
            .expect("budget")
            .used,
        used
    );
}

type Received = Arc<Mutex<Vec<(HeaderMap, Value)>>>;

async fn receiver() -> (String, Received) {
    let received: Received = Arc::default();
    let sink = Arc::clone(&received);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let sink = Arc::clone(&sink);
            async move {
                let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
                sink.lock().expect("lock").push((headers, json));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, received)
}

#[tokio::test]
async fn mutations_deliver_gitlab_hooks_with_gitlabs_headers_and_bodies() {
    let api = Api::start(edge()).await;
    let (url, received) = receiver().await;
    api.server.handle().set_webhook(Some(WebhookTarget {
        url,
        secret: "hook-secret".to_string(),
    }));
    api.server
        .mutate(GitlabMutation::AddGroupMember {
            group: 1,
            user: GitlabUser {
                id: 99,
                username: "zoe".to_string(),
                name: Some("Zoe".to_string()),
                email: None,
                state: UserState::Active,
                bot: false,
                admin: false,
                external: false,
            },
            access_level: 30,
            expires_at: None,
        })
        .await
        .expect("add");
    api.server
        .mutate(GitlabMutation::CreateSubgroup {
            id: 5,
            parent: 2,
            path: "data".to_string(),
            name: "Data".to_string(),
        })
        .await
        .expect("subgroup");
    api.server
        .mutate(GitlabMutation::DestroyProject { project: 108 })
        .await
        .expect("destroy");
    let got = received.lock().expect("lock").clone();
    assert_eq!(got.len(), 3);
    let (h, body) = &got[0];
    assert_eq!(header(h, "x-gitlab-event"), "Member Hook");
    assert_eq!(header(h, "x-gitlab-token"), "hook-secret");
    for name in [
        "x-gitlab-event-uuid",
        "x-gitlab-webhook-uuid",
        "x-gitlab-instance",
        "idempotency-key",
    ] {
        header(h, name);
    }
    let hook: MemberHook = serde_json::from_value(body.clone()).expect("member hook");
    assert_eq!(
        (
            hook.event_name.as_str(),
            hook.group_access.as_str(),
            hook.user_id
        ),
        ("user_add_to_group", "Developer", 99)
    );
    let mut problems = Vec::new();
    same_shape(
        &example("webhooks/member_hook.user_add_to_group.json"),
        body,
        "member hook",
        &mut problems,
    );
    same_shape(
        &example("webhooks/subgroup_hook.subgroup_create.json"),
        &got[1].1,
        "subgroup hook",
        &mut problems,
    );
    same_shape(
        &example("webhooks/project_hook.project_destroy.json"),
        &got[2].1,
        "project hook",
        &mut problems,
    );
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(header(&got[1].0, "x-gitlab-event"), "Subgroup Hook");
    assert_eq!(got[1].1["full_path"], "acme/backend/data");
    assert_eq!(header(&got[2].0, "x-gitlab-event"), "Project Hook");
    assert!(
        api.server
            .scenario()
            .gitlab
            .expect("gitlab")
            .project(108)
            .is_none()
    );
    let members = api.json("/groups/1/members/all?per_page=100").await;
    assert!(
        members
            .as_array()
            .expect("array")
            .iter()
            .any(|m| m["username"] == "zoe")
    );
}
