//! Every mutation delivers the event GitHub would send, signed, with a payload that validates
//! against the official webhook schema of that event and action.

use orgsync_core::{Permission, TeamRole, Visibility};
use orgsync_simulator::github::{GithubServer, Mutation};
use orgsync_simulator::scenario::{GithubRepo, GithubUser, OrgRole, Scenario};
use orgsync_simulator::server::{ServerOptions, WebhookTarget, hmac_sha256_hex};
use serde_json::{Map, Value};

fn translate_nullable(node: &Value) -> Value {
    match node {
        Value::Object(map) => {
            let mut out: Map<String, Value> = map
                .iter()
                .filter(|(k, _)| k.as_str() != "nullable")
                .map(|(k, v)| {
                    if k == "properties" {
                        let props = v
                            .as_object()
                            .map(|p| {
                                p.iter()
                                    .map(|(n, s)| (n.clone(), translate_nullable(s)))
                                    .collect::<Map<_, _>>()
                            })
                            .unwrap_or_default();
                        (k.clone(), Value::Object(props))
                    } else {
                        (k.clone(), translate_nullable(v))
                    }
                })
                .collect();
            if map.get("nullable") == Some(&Value::Bool(true)) {
                if let Some(Value::Array(values)) = out.get_mut("enum")
                    && !values.contains(&Value::Null)
                {
                    values.push(Value::Null);
                }
                match out.get("type").cloned() {
                    Some(Value::String(t)) => {
                        out.insert("type".into(), serde_json::json!([t, "null"]));
                    }
                    Some(_) => {}
                    None => {
                        return serde_json::json!({"anyOf": [Value::Object(out), {"type": "null"}]});
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(translate_nullable).collect()),
        other => other.clone(),
    }
}

#[tokio::test]
async fn every_mutation_delivers_a_signed_event_that_validates_against_its_schema() {
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/api/github/openapi-subset.api.github.com.json"
        ))
        .expect("spec"),
    )
    .expect("json");
    let scenario = Scenario::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/github-edge-cases.toml"
    ))
    .expect("scenario");
    // Deliveries go to the simulator's own stats endpoint's host: any HTTP answer will do, the
    // test checks what was sent, which the delivery log keeps byte for byte.
    let server = GithubServer::start(scenario, ServerOptions::default())
        .await
        .expect("server");
    server.handle().set_webhook(Some(WebhookTarget {
        url: format!("{}/_sim/stats", server.base_url()),
        secret: "s".into(),
    }));
    let acme = || "acme".to_string();
    let cases: Vec<(Mutation, &str, &str)> = vec![
        (
            Mutation::AddMember {
                org: acme(),
                user: GithubUser {
                    id: 77,
                    login: "newbie".into(),
                    name: None,
                    email: None,
                    suspended: false,
                    bot: false,
                    site_admin: false,
                },
                role: OrgRole::Member,
            },
            "organization",
            "organization-member-added",
        ),
        (
            Mutation::AddTeamMember {
                org: acme(),
                team: "docs".into(),
                login: "newbie".into(),
                role: TeamRole::Member,
            },
            "membership",
            "membership-added",
        ),
        (
            Mutation::RemoveTeamMember {
                org: acme(),
                team: "docs".into(),
                login: "newbie".into(),
            },
            "membership",
            "membership-removed",
        ),
        (
            Mutation::SetTeamRepoPermission {
                org: acme(),
                team: "docs".into(),
                repo: "api".into(),
                permission: Some(Permission::Read),
            },
            "team",
            "team-added-to-repository",
        ),
        (
            Mutation::SetTeamRepoPermission {
                org: acme(),
                team: "docs".into(),
                repo: "api".into(),
                permission: Some(Permission::Write),
            },
            "team",
            "team-edited",
        ),
        (
            Mutation::SetTeamRepoPermission {
                org: acme(),
                team: "docs".into(),
                repo: "api".into(),
                permission: None,
            },
            "team",
            "team-removed-from-repository",
        ),
        (
            Mutation::AddRepository {
                org: acme(),
                repo: GithubRepo {
                    id: 99,
                    name: "fresh".into(),
                    visibility: Visibility::Private,
                    archived: false,
                    fork: false,
                    description: None,
                    collaborators: vec![],
                },
            },
            "repository",
            "repository-created",
        ),
        (
            Mutation::ArchiveRepository {
                org: acme(),
                repo: "fresh".into(),
            },
            "repository",
            "repository-archived",
        ),
        (
            Mutation::RemoveCollaborator {
                org: acme(),
                repo: "api".into(),
                login: "frank".into(),
            },
            "member",
            "member-removed",
        ),
        (
            Mutation::RemoveMember {
                org: acme(),
                login: "newbie".into(),
            },
            "organization",
            "organization-member-removed",
        ),
    ];
    let mut failures = Vec::new();
    for (mutation, event, schema_name) in cases {
        let delivery = server
            .mutate(mutation)
            .await
            .expect("mutation applies")
            .expect("an event is delivered");
        assert_eq!(delivery.event, event);
        assert!(delivery.status.is_some(), "the receiver answered");
        let schema = translate_nullable(
            &doc["x-webhooks"][schema_name]["post"]["requestBody"]["content"]["application/json"]["schema"],
        );
        assert!(!schema.is_null(), "no schema {schema_name}");
        let validator = jsonschema::draft4::new(&schema).expect("schema compiles");
        let payload: Value = serde_json::from_str(&delivery.body).expect("payload is JSON");
        assert!(
            !validator.is_valid(&serde_json::json!({})),
            "{schema_name} accepts anything"
        );
        for error in validator.iter_errors(&payload) {
            failures.push(format!(
                "{schema_name}: {error} at {}",
                error.instance_path()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "webhook schema violations:\n{}",
        failures.join("\n")
    );
    // Role changes and renames send nothing, as on GitHub.
    let none = server
        .mutate(Mutation::ChangeRole {
            org: "acme".into(),
            login: "bob".into(),
            role: OrgRole::Admin,
        })
        .await
        .expect("applies");
    assert!(none.is_none());
    assert_eq!(server.handle().deliveries().len(), 10);
}

#[test]
fn signature_helper_matches_githubs_published_test_vector() {
    let vector: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/api/github/_headers_and_errors.json"
        ))
        .expect("file"),
    )
    .expect("json");
    let v = &vector["signature_test_vector"];
    let secret = v["secret"].as_str().expect("secret");
    let payload = v["payload"].as_str().expect("payload");
    assert_eq!(
        format!(
            "sha256={}",
            hmac_sha256_hex(secret.as_bytes(), payload.as_bytes())
        ),
        v["X-Hub-Signature-256"].as_str().expect("signature")
    );
}

#[tokio::test]
async fn mutations_work_over_http_too() {
    let scenario = Scenario::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/github-edge-cases.toml"
    ))
    .expect("scenario");
    let server = GithubServer::start(scenario, ServerOptions::default())
        .await
        .expect("server");
    let client = reqwest::Client::new();
    let url = format!("{}/_sim/github/mutations", server.base_url());
    let ok = client
        .post(&url)
        .json(&serde_json::json!({"op": "archive_repository", "org": "acme", "repo": "web"}))
        .send()
        .await
        .expect("request");
    assert_eq!(ok.status(), reqwest::StatusCode::OK);
    let scenario = server.scenario();
    let org = &scenario.github.as_ref().expect("github").orgs[0];
    assert!(org.repo("web").expect("web").archived);
    let rejected = client
        .post(&url)
        .json(&serde_json::json!({"op": "remove_member", "org": "acme", "login": "nobody"}))
        .send()
        .await
        .expect("request");
    assert_eq!(rejected.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
}
