//! The read API on the real daemon: bearer tokens from a file (several, rotated without a
//! restart), the access call, members and teams, answers checked against
//! `docs/api/openapi.json`, and `[api] listen` moving the API and the metrics off the public
//! webhook listener.

use orgsync_simulator::github::GithubServer;
use orgsync_simulator::scenario::Scenario;
use orgsync_simulator::server::ServerOptions;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "api-token-one-4c1d";
const SECOND: &str = "api-token-two-9e2b";

fn private_file(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

struct Daemon {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn start(config: &Path) -> Daemon {
        let mut child = Command::new(env!("CARGO_BIN_EXE_orgsync"))
            .env_remove("ORGSYNC_CONFIG")
            .env("ORGSYNC_LOG", "info")
            .arg("--config")
            .arg(config)
            .args(["--log-format", "json", "run"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("orgsync run");
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("lines").push(line);
            }
        });
        Daemon { child, lines }
    }

    /// The address a log line with `message` names in its `listen` field.
    fn address(&self, message: &str) -> String {
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            let found = self
                .lines
                .lock()
                .expect("lines")
                .iter()
                .find(|l| l.contains(message))
                .cloned();
            if let Some(line) = found {
                let v: Value = serde_json::from_str(&line).expect("json log");
                return v["fields"]["listen"].as_str().expect("listen").to_string();
            }
            assert!(Instant::now() < end, "no log line `{message}`");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

struct World {
    _github: GithubServer,
    dir: tempfile::TempDir,
}

/// The simulated organisation synced once by `orgsync sync`; the config has `api`.
async fn world(api: &str) -> (World, std::path::PathBuf) {
    let scenario = Scenario::from_file(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/providers/simulator/scenarios/github-edge-cases.toml"
    ))
    .expect("scenario");
    let github = GithubServer::start(scenario, ServerOptions::default())
        .await
        .expect("simulated GitHub");
    let dir = tempfile::tempdir().expect("temp dir");
    private_file(&dir.path().join("github-token"), github.token());
    private_file(&dir.path().join("api-tokens"), &format!("{TOKEN}\n"));
    let config = dir.path().join("orgsync.toml");
    private_file(
        &config,
        &format!(
            r#"[directory]
url = "sqlite://{db}"

[daemon]
listen = "127.0.0.1:0"
schedule = "0 0 1 1 *"
run_on_start = false

[[workspace]]
name = "acme"
provider = "github"
organization = "acme"
api_url = "{api_url}"
token_file = "{token}"
exclude_archived = true
exclude_repositories = ["sandbox-*"]
exclude_members = ["renovate-*"]

[api]
token_file = "{tokens}"
{api}
"#,
            db = dir.path().join("orgsync.db").display(),
            api_url = github.base_url(),
            token = dir.path().join("github-token").display(),
            tokens = dir.path().join("api-tokens").display(),
        ),
    );
    let c = config.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_orgsync"))
            .env_remove("ORGSYNC_CONFIG")
            .arg("--config")
            .arg(&c)
            .arg("sync")
            .output()
            .expect("sync")
    })
    .await
    .expect("join");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        World {
            _github: github,
            dir,
        },
        config,
    )
}

async fn get(
    base: &str,
    path: &str,
    token: Option<&str>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut r = reqwest::Client::new().get(format!("http://{base}{path}"));
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let response = r.send().await.expect("request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        headers,
    )
}

/// Checks an answer against the OpenAPI description of `path` (as templated) and `status`.
fn conforms(openapi: &Value, template: &str, status: u16, body: &Value) {
    let response = &openapi["paths"][template]["get"]["responses"][status.to_string()];
    assert!(
        response.is_object(),
        "{template} answered {status}, which docs/api/openapi.json does not describe"
    );
    let schema = &response["content"]["application/json"]["schema"];
    let document = json!({"$ref": schema["$ref"], "components": openapi["components"]});
    let validator = jsonschema::validator_for(&document).expect("schema compiles");
    let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{template} {status}: {errors:?}\n{body}");
}

fn openapi() -> Value {
    serde_json::from_str(include_str!("../docs/api/openapi.json")).expect("openapi.json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_call_members_and_teams_answer_as_the_openapi_description_says() {
    let (w, config) = world("").await;
    let daemon = Daemon::start(&config);
    let base = daemon.address("orgsync daemon started");
    let spec = openapi();
    let access = "/api/v1/access";

    // Without a token, with a wrong one: 401 and a Bearer challenge, nothing else.
    let (status, body, headers) =
        get(&base, &format!("{access}?workspace=acme&login=alice"), None).await;
    assert_eq!(status, 401);
    assert!(headers.get("www-authenticate").is_some());
    conforms(&spec, access, 401, &body);
    let (status, _, _) = get(
        &base,
        &format!("{access}?workspace=acme&login=alice"),
        Some("wrong"),
    )
    .await;
    assert_eq!(status, 401);

    // Admitted, with role and teams; by login (any case) and by provider id.
    let (status, alice, _) = get(
        &base,
        &format!("{access}?workspace=acme&provider=github&login=alice"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{alice}");
    conforms(&spec, access, 200, &alice);
    assert_eq!(alice["admitted"], true);
    assert_eq!(alice["role"], "admin");
    assert_eq!(alice["state"], "active");
    assert_eq!(alice["reason"], Value::Null);
    let (_, gina, _) = get(&base, &format!("{access}?workspace=acme&id=8"), Some(TOKEN)).await;
    assert_eq!(gina["login"], "gina");
    assert!(
        gina["teams"]
            .as_array()
            .expect("teams")
            .contains(&json!("backend")),
        "{gina}"
    );
    let (_, upper, _) = get(
        &base,
        &format!("{access}?workspace=acme&login=GINA"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(upper["user_id"], gina["user_id"]);

    // Known but not admitted (bob lacks a repository), and unknown: 200 with the reason.
    let (status, bob, _) = get(
        &base,
        &format!("{access}?workspace=acme&login=bob"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 200);
    conforms(&spec, access, 200, &bob);
    assert_eq!(bob["admitted"], false, "{bob}");
    let (_, nobody, _) = get(
        &base,
        &format!("{access}?workspace=acme&login=nobody"),
        Some(TOKEN),
    )
    .await;
    conforms(&spec, access, 200, &nobody);
    assert_eq!(nobody["admitted"], false);
    assert_eq!(nobody["state"], Value::Null);
    assert!(
        nobody["reason"]
            .as_str()
            .expect("reason")
            .contains("not a member")
    );

    // Bad requests name what is wrong.
    for (query, status, needle) in [
        (
            "?workspace=nope&login=alice",
            404,
            "no workspace named `nope`",
        ),
        (
            "?workspace=acme&provider=gitlab&login=alice",
            400,
            "is a github workspace",
        ),
        ("?workspace=acme", 400, "exactly one of login"),
        ("?workspace=acme&login=a&id=1", 400, "exactly one of login"),
        ("?login=alice", 400, "workspace is required"),
    ] {
        let (s, body, _) = get(&base, &format!("{access}{query}"), Some(TOKEN)).await;
        assert_eq!(s, status, "{query}: {body}");
        conforms(&spec, access, s, &body);
        assert!(
            body["error"].as_str().expect("error").contains(needle),
            "{body}"
        );
    }

    // Members, one member, teams.
    let members = "/api/v1/workspaces/{ws}/members";
    let (status, list, _) = get(&base, "/api/v1/workspaces/acme/members", Some(TOKEN)).await;
    assert_eq!(status, 200);
    conforms(&spec, members, 200, &list);
    let (_, active, _) = get(
        &base,
        "/api/v1/workspaces/acme/members?state=active",
        Some(TOKEN),
    )
    .await;
    let logins: Vec<&str> = active["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["login"].as_str())
        .collect();
    assert_eq!(logins.len(), 2, "{active}");
    assert!(logins.contains(&"alice") && logins.contains(&"gina"));
    let (s, body, _) = get(
        &base,
        "/api/v1/workspaces/acme/members?state=gone",
        Some(TOKEN),
    )
    .await;
    assert_eq!(s, 400);
    conforms(&spec, members, 400, &body);

    let member = "/api/v1/workspaces/{ws}/members/{id}";
    let (status, one, _) = get(
        &base,
        &format!("/api/v1/workspaces/acme/members/{}", gina["user_id"]),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{one}");
    conforms(&spec, member, 200, &one);
    assert_eq!(one["login"], "gina");
    for (path, status) in [
        ("/api/v1/workspaces/acme/members/999999", 404),
        ("/api/v1/workspaces/acme/members/x", 400),
        ("/api/v1/workspaces/nope/members/1", 404),
    ] {
        let (s, body, _) = get(&base, path, Some(TOKEN)).await;
        assert_eq!(s, status, "{path}: {body}");
        conforms(&spec, member, s, &body);
    }

    let teams = "/api/v1/workspaces/{ws}/teams";
    let (status, list, _) = get(&base, "/api/v1/workspaces/acme/teams", Some(TOKEN)).await;
    assert_eq!(status, 200);
    conforms(&spec, teams, 200, &list);
    assert!(
        list["teams"]
            .as_array()
            .expect("teams")
            .iter()
            .any(|t| t["slug"] == "backend")
    );
    let (s, body, _) = get(&base, "/api/v1/workspaces/nope/teams", Some(TOKEN)).await;
    assert_eq!(s, 404);
    conforms(&spec, teams, 404, &body);

    // Every documented path is served.
    for path in spec["paths"].as_object().expect("paths").keys() {
        let concrete = path.replace("{ws}", "acme").replace("{id}", "1");
        let (s, _, _) = get(&base, &concrete, None).await;
        assert_eq!(s, 401, "{path} is routed (behind the token check)");
    }

    // Tokens: a second line is accepted at once, and a removed token stops working, without a
    // restart; no token appears in the daemon's log.
    let tokens = w.dir.path().join("api-tokens");
    std::thread::sleep(Duration::from_millis(20));
    private_file(&tokens, &format!("# rotated\n{SECOND}\n"));
    let (s, _, _) = get(
        &base,
        &format!("{access}?workspace=acme&login=alice"),
        Some(SECOND),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, _) = get(
        &base,
        &format!("{access}?workspace=acme&login=alice"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(s, 401, "the removed token is refused");
    let log = daemon.lines.lock().expect("lines").join("\n");
    assert!(!log.contains(TOKEN) && !log.contains(SECOND), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_listen_serves_the_api_and_metrics_apart_from_the_public_webhook_listener() {
    let (_w, config) = world("listen = \"127.0.0.1:0\"").await;
    let daemon = Daemon::start(&config);
    let public = daemon.address("orgsync daemon started");
    let private = daemon.address("read API and metrics listening");
    assert_ne!(public, private);

    let access = "/api/v1/access?workspace=acme&login=alice";
    let (s, body, _) = get(&private, access, Some(TOKEN)).await;
    assert_eq!(s, 200);
    assert_eq!(body["admitted"], true);
    let (s, _, _) = get(&public, access, Some(TOKEN)).await;
    assert_eq!(s, 404, "the API is not on the public listener");

    let metrics = |base: String| async move {
        let r = reqwest::get(format!("http://{base}/metrics"))
            .await
            .expect("metrics");
        (r.status().as_u16(), r.text().await.unwrap_or_default())
    };
    let (s, text) = metrics(private.clone()).await;
    assert_eq!(s, 200);
    assert!(text.contains("orgsync_build_info"), "{text}");
    let (s, _) = metrics(public.clone()).await;
    assert_eq!(s, 404, "metrics moved off the public listener");
    // The public listener still takes webhooks and health checks.
    let r = reqwest::get(format!("http://{public}/healthz"))
        .await
        .expect("healthz");
    assert_eq!(r.status().as_u16(), 200);
}
