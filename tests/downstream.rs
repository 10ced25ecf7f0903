//! Downstream end to end: the real `orgsync` binary syncs the simulated GitHub organisation and
//! delivers the change events to a webhook receiver (checked by the published Standard Webhooks
//! verifier, `standardwebhooks` from PyPI) and to a real SCIM 2.0 server (`scim2-server` from
//! PyPI): cold sync, offboarding within one delivery, a server down then back, dead letters and
//! retry, drift repaired by resync, and a `kill -9` of the daemon during delivery.
//!
//! Needs `python3` with `standardwebhooks` and `scim2-server` (`.ci/run` installs them).

// Test helpers fail the test with a message (the crate denies clippy::panic elsewhere).
#![allow(clippy::panic)]

mod support;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use orgsync_simulator::github::{GithubServer, Mutation};
use orgsync_simulator::scenario::{Scenario, SyntheticSize};
use orgsync_simulator::server::ServerOptions;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SCIM_TOKEN: &str = "scim-test-token-7f3a";
/// A Standard Webhooks secret: `whsec_` and 32 bytes in base64.
const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAbCdEfGhIjk=";

fn private_file(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

async fn orgsync(config: &Path, args: &[&str]) -> Output {
    let config = config.to_path_buf();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_orgsync"))
            .env_remove("ORGSYNC_CONFIG")
            .arg("--config")
            .arg(&config)
            .args(&args)
            .output()
            .expect("orgsync runs")
    })
    .await
    .expect("join")
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr)
}

/// A world: the simulated organisation, a temp dir with the token and the directory.
struct World {
    github: GithubServer,
    dir: tempfile::TempDir,
}

impl World {
    async fn new(scenario: Scenario) -> World {
        let github = GithubServer::start(scenario, ServerOptions::default())
            .await
            .expect("simulated GitHub");
        let dir = tempfile::tempdir().expect("temp dir");
        private_file(&dir.path().join("github-token"), github.token());
        private_file(&dir.path().join("scim-token"), SCIM_TOKEN);
        private_file(&dir.path().join("webhook-secret"), WEBHOOK_SECRET);
        World { github, dir }
    }

    async fn edge_cases() -> World {
        let scenario = Scenario::from_file(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/providers/simulator/scenarios/github-edge-cases.toml"
        ))
        .expect("scenario");
        World::new(scenario).await
    }

    /// Writes the configuration with `downstream` appended; returns its path.
    fn config(&self, downstream: &str) -> PathBuf {
        let path = self.dir.path().join("orgsync.toml");
        private_file(
            &path,
            &format!(
                r#"[directory]
url = "sqlite://{db}"

[daemon]
listen = "127.0.0.1:0"
schedule = "0 0 1 1 *"

[[workspace]]
name = "acme"
provider = "github"
organization = "acme"
api_url = "{api}"
token_file = "{token}"
exclude_archived = true
exclude_repositories = ["sandbox-*"]
exclude_members = ["renovate-*"]
{downstream}
"#,
                db = self.dir.path().join("orgsync.db").display(),
                api = self.github.base_url(),
                token = self.dir.path().join("github-token").display(),
            ),
        );
        path
    }

    fn scim_target(&self, name: &str, port: u16, extra: &str) -> String {
        format!(
            r#"
[[downstream]]
name = "{name}"
type = "scim"
url = "http://127.0.0.1:{port}/v2"
token_file = "{token}"
max_backoff_seconds = 1
{extra}
"#,
            token = self.dir.path().join("scim-token").display()
        )
    }

    /// login -> (user id, state) from `users list --json`.
    async fn people(&self, config: &Path) -> BTreeMap<String, (String, String)> {
        let out = orgsync(config, &["users", "list", "--json"]).await;
        assert!(out.status.success(), "{}", text(&out));
        let list: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
        list.iter()
            .map(|u| {
                (
                    u["login"].as_str().unwrap_or_default().to_string(),
                    (
                        u["user_id"].to_string(),
                        u["state"].as_str().unwrap_or_default().to_string(),
                    ),
                )
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// A real SCIM server.

struct ScimServer {
    child: Child,
    port: u16,
    http: reqwest::Client,
}

impl Drop for ScimServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ScimServer {
    /// Starts `scim2-server` on `port` with the test's bearer token and waits until it answers.
    async fn start(port: u16) -> ScimServer {
        let child = Command::new("scim2-server")
            .args(["--hostname", "127.0.0.1", "--port", &port.to_string()])
            .args(["--bearer-token", SCIM_TOKEN])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("scim2-server runs (pip install scim2-server)");
        let server = ScimServer {
            child,
            port,
            http: reqwest::Client::new(),
        };
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = server
                .request(reqwest::Method::GET, "/ServiceProviderConfig", None)
                .await
                && r.0.is_success()
            {
                return server;
            }
            assert!(
                Instant::now() < end,
                "scim2-server did not start on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(reqwest::StatusCode, Value), reqwest::Error> {
        let mut r = self
            .http
            .request(method, format!("http://127.0.0.1:{}/v2{path}", self.port))
            .bearer_auth(SCIM_TOKEN);
        if let Some(b) = body {
            r = r
                .header("content-type", "application/scim+json")
                .body(b.to_string());
        }
        let response = r.send().await?;
        let status = response.status();
        let bytes = response.bytes().await?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    async fn list(&self, collection: &str) -> Vec<Value> {
        let (status, body) = self
            .request(
                reqwest::Method::GET,
                &format!("/{collection}?count=1000"),
                None,
            )
            .await
            .expect("list");
        assert!(status.is_success(), "{collection}: {status} {body}");
        body["Resources"].as_array().cloned().unwrap_or_default()
    }

    /// externalId -> user resource; fails on two resources with one externalId.
    async fn users(&self) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        for u in self.list("Users").await {
            let ext = u["externalId"].as_str().expect("externalId").to_string();
            assert!(
                out.insert(ext.clone(), u).is_none(),
                "user {ext} exists twice downstream"
            );
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// A webhook receiver.

#[derive(Clone, Default)]
struct Receiver {
    deliveries: Arc<Mutex<Vec<Value>>>,
    refuse: Arc<AtomicBool>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    if r.refuse.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let header = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    r.deliveries.lock().expect("lock").push(json!({
        "headers": {
            "webhook-id": header("webhook-id"),
            "webhook-timestamp": header("webhook-timestamp"),
            "webhook-signature": header("webhook-signature"),
        },
        "body": body,
    }));
    StatusCode::NO_CONTENT
}

async fn start_receiver() -> (Receiver, u16) {
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(receiver.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (receiver, port)
}

impl Receiver {
    fn events(&self) -> Vec<(String, Value)> {
        self.deliveries
            .lock()
            .expect("lock")
            .iter()
            .map(|d| {
                let body: Value =
                    serde_json::from_str(d["body"].as_str().unwrap_or("{}")).expect("body");
                (
                    d["headers"]["webhook-id"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    body,
                )
            })
            .collect()
    }
}

/// Runs the Standard Webhooks Python library's verifier over every delivery, and checks that it
/// refuses a tampered body and a wrong secret. Returns how many it verified.
fn verify_with_standardwebhooks(dir: &Path, deliveries: &[Value]) -> usize {
    let file = dir.join("deliveries.json");
    std::fs::write(&file, serde_json::to_string(deliveries).expect("json")).expect("write");
    let script = r#"
import json, sys
from standardwebhooks import Webhook
secret, path = sys.argv[1], sys.argv[2]
deliveries = json.load(open(path))
wh = Webhook(secret)
for d in deliveries:
    wh.verify(d["body"], d["headers"])
def refused(w, body, headers):
    try:
        w.verify(body, headers)
        return False
    except Exception:
        return True
d = deliveries[0]
assert refused(wh, d["body"].replace("acme", "evil"), d["headers"]), "tampered body accepted"
assert refused(Webhook("whsec_" + "A" * 44), d["body"], d["headers"]), "wrong secret accepted"
print(len(deliveries))
"#;
    let out = Command::new("python3")
        .args(["-c", script, WEBHOOK_SECRET])
        .arg(&file)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "the standardwebhooks verifier refused (pip install standardwebhooks): {}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("count")
}

// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_events_are_signed_verified_by_the_standard_webhooks_library_and_ordered() {
    let world = World::edge_cases().await;
    let (receiver, port) = start_receiver().await;
    let config = world.config(&format!(
        r#"
[[downstream]]
name = "app"
type = "webhook"
url = "http://127.0.0.1:{port}/hook"
secret_file = "{}"
"#,
        world.dir.path().join("webhook-secret").display()
    ));
    let sync = orgsync(&config, &["sync"]).await;
    assert!(sync.status.success(), "{}", text(&sync));
    assert!(!text(&sync).contains(WEBHOOK_SECRET));

    // `orgsync sync` delivered before it exited.
    let events = receiver.events();
    let onboarded: Vec<&str> = events
        .iter()
        .filter(|(_, e)| e["type"] == "member.onboarded")
        .map(|(_, e)| e["data"]["login"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(onboarded, ["alice", "gina"], "{events:?}");
    assert!(events.iter().any(|(_, e)| e["type"] == "team.created"));
    let gina = events
        .iter()
        .find(|(_, e)| e["type"] == "member.onboarded" && e["data"]["login"] == "gina")
        .expect("gina");
    assert_eq!(gina.1["data"]["workspace"], "acme");
    assert_eq!(gina.1["data"]["provider_user_id"], "8");
    assert!(gina.1["data"]["user_id"].is_i64(), "{}", gina.1);

    world
        .github
        .mutate(Mutation::RemoveMember {
            org: "acme".into(),
            login: "gina".into(),
        })
        .await
        .expect("remove gina");
    let again = orgsync(&config, &["sync"]).await;
    assert!(again.status.success(), "{}", text(&again));
    let events = receiver.events();
    // Gina's events arrive in the order they happened: onboarded first, offboarded last.
    let ginas: Vec<&str> = events
        .iter()
        .filter(|(_, e)| {
            e["data"]["provider_user_id"] == "8"
                && e["type"].as_str().is_some_and(|t| t.starts_with("member."))
        })
        .map(|(_, e)| e["type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ginas, ["member.onboarded", "member.offboarded"]);
    let off = &events.last().map(|(_, e)| e.clone()).expect("an event");
    assert!(
        events
            .iter()
            .any(|(_, e)| e["type"] == "member.offboarded"
                && e["data"]["reason"] == "left the account"),
        "{off}"
    );
    // Every delivery has its own id, and the published verifier accepts every signature.
    let ids: std::collections::BTreeSet<_> = events.iter().map(|(id, _)| id.clone()).collect();
    assert_eq!(ids.len(), events.len(), "one webhook-id per event");
    let deliveries = receiver.deliveries.lock().expect("lock").clone();
    assert_eq!(
        verify_with_standardwebhooks(world.dir.path(), &deliveries),
        events.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_deliveries_become_dead_letters_that_retry_requeues() {
    let world = World::edge_cases().await;
    let (receiver, port) = start_receiver().await;
    receiver.refuse.store(true, Ordering::SeqCst);
    let config = world.config(&format!(
        r#"
[[downstream]]
name = "app"
type = "webhook"
url = "http://127.0.0.1:{port}/hook"
secret_file = "{}"
max_attempts = 2
max_backoff_seconds = 1
sync_wait_seconds = 20
"#,
        world.dir.path().join("webhook-secret").display()
    ));
    let sync = orgsync(&config, &["sync"]).await;
    assert!(sync.status.success(), "{}", text(&sync));
    let list = orgsync(&config, &["downstream", "list", "app", "--json"]).await;
    assert!(list.status.success(), "{}", text(&list));
    let listed: Value = serde_json::from_slice(&list.stdout).expect("json");
    let dead = listed["targets"][0]["dead"].as_i64().expect("dead");
    assert!(dead >= 2, "every event was refused twice: {listed}");
    assert_eq!(listed["targets"][0]["queued"], 0, "{listed}");
    assert!(
        listed["failures"][0]["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("500"),
        "{listed}"
    );
    let status = orgsync(&config, &["status"]).await;
    assert!(text(&status).contains("DEAD"), "{}", text(&status));
    assert!(receiver.events().is_empty());

    receiver.refuse.store(false, Ordering::SeqCst);
    let retry = orgsync(&config, &["downstream", "retry", "app"]).await;
    assert!(
        text(&retry).contains(&format!("{dead} dead-lettered event(s) requeued")),
        "{}",
        text(&retry)
    );
    let deliver = orgsync(&config, &["downstream", "deliver", "app", "--wait", "30"]).await;
    assert!(deliver.status.success(), "{}", text(&deliver));
    assert_eq!(
        receiver.events().len() as i64,
        dead,
        "each requeued event delivered once"
    );
    let after: Value = serde_json::from_slice(
        &orgsync(&config, &["downstream", "list", "app", "--json"])
            .await
            .stdout,
    )
    .expect("json");
    assert_eq!(after["targets"][0]["dead"], 0, "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim_cold_sync_creates_users_and_groups_and_an_offboarding_deactivates_in_one_delivery() {
    let world = World::edge_cases().await;
    let port = free_port();
    let scim = ScimServer::start(port).await;
    let config = world.config(&world.scim_target("app", port, ""));
    let sync = orgsync(&config, &["sync"]).await;
    assert!(sync.status.success(), "{}", text(&sync));
    assert!(!text(&sync).contains(SCIM_TOKEN));

    let people = world.people(&config).await;
    let users = scim.users().await;
    let alice = &users[&people["alice"].0];
    assert_eq!(alice["userName"], "alice");
    assert_eq!(alice["active"], true);
    let gina = &users[&people["gina"].0];
    assert_eq!(gina["active"], true);
    let groups = scim.list("Groups").await;
    let backend = groups
        .iter()
        .find(|g| g["externalId"] == "acme/backend")
        .expect("the backend team is a group");
    let members: Vec<&str> = backend["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["value"].as_str())
        .collect();
    assert!(
        members.contains(&gina["id"].as_str().expect("id")),
        "{backend}"
    );

    world
        .github
        .mutate(Mutation::RemoveMember {
            org: "acme".into(),
            login: "gina".into(),
        })
        .await
        .expect("remove gina");
    let again = orgsync(&config, &["sync"]).await;
    assert!(again.status.success(), "{}", text(&again));
    // No daemon runs: the deactivation arrived with the sync's own delivery.
    let users = scim.users().await;
    assert_eq!(users[&people["gina"].0]["active"], false);
    assert_eq!(
        users[&people["gina"].0]["id"], gina["id"],
        "the same resource, patched"
    );
    assert_eq!(users[&people["alice"].0]["active"], true);

    // Drift: a user deleted downstream comes back with resync; a renamed one is reset.
    let (status, _) = scim
        .request(
            reqwest::Method::DELETE,
            &format!("/Users/{}", alice["id"].as_str().expect("id")),
            None,
        )
        .await
        .expect("delete");
    assert!(status.is_success());
    let resync = orgsync(&config, &["downstream", "resync", "app"]).await;
    assert!(resync.status.success(), "{}", text(&resync));
    let users = scim.users().await;
    assert_eq!(
        users[&people["alice"].0]["userName"], "alice",
        "alice recreated"
    );
    assert_eq!(users[&people["alice"].0]["active"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scim_server_down_then_back_receives_everything_once() {
    let world = World::edge_cases().await;
    let port = free_port();
    let config = world.config(&world.scim_target("app", port, "sync_wait_seconds = 2"));
    // Nothing listens yet: the sync succeeds, its events stay queued, status says so.
    let sync = orgsync(&config, &["sync"]).await;
    assert!(sync.status.success(), "{}", text(&sync));
    assert!(
        text(&sync).contains("events remain queued"),
        "{}",
        text(&sync)
    );
    let listed: Value = serde_json::from_slice(
        &orgsync(&config, &["downstream", "list", "--json"])
            .await
            .stdout,
    )
    .expect("json");
    assert!(
        listed["targets"][0]["queued"].as_i64().expect("queued") > 0,
        "{listed}"
    );
    assert_eq!(listed["targets"][0]["dead"], 0, "{listed}");

    let scim = ScimServer::start(port).await;
    let deliver = orgsync(&config, &["downstream", "deliver", "--wait", "60"]).await;
    assert!(deliver.status.success(), "{}", text(&deliver));
    // Delivering again finds nothing new to send and creates nothing twice.
    let twice = orgsync(&config, &["downstream", "deliver"]).await;
    assert!(twice.status.success(), "{}", text(&twice));
    let people = world.people(&config).await;
    let users = scim.users().await;
    let expected: std::collections::BTreeSet<String> =
        people.values().map(|(id, _)| id.clone()).collect();
    let got: std::collections::BTreeSet<String> = users.keys().cloned().collect();
    assert_eq!(got, expected, "every member once, nobody else");
}

struct DaemonGuard(Child);

impl Drop for DaemonGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_daemon(config: &Path) -> DaemonGuard {
    DaemonGuard(
        Command::new(env!("CARGO_BIN_EXE_orgsync"))
            .env_remove("ORGSYNC_CONFIG")
            .arg("--config")
            .arg(config)
            .arg("run")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("orgsync run"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_of_the_daemon_during_delivery_loses_nothing() {
    let world = World::new(Scenario::synthetic(
        7,
        SyntheticSize {
            members: 120,
            repos: 10,
            teams: 4,
        },
    ))
    .await;
    let port = free_port();
    let scim = ScimServer::start(port).await;
    // Every member is admitted, so the first sync onboards all 120 (the text before the first
    // table header belongs to the workspace).
    let mut config_text = format!(
        "admit = \"all-members\"\n{}",
        world.scim_target("app", port, "")
    );
    config_text.push_str("\n[safety]\nmax_offboard_percent = 100.0\n");
    let config = world.config(&config_text);
    // The generated organisation is also called acme.

    let mut daemon = start_daemon(&config);
    // Kill it once the server has some users but not all.
    let end = Instant::now() + Duration::from_secs(120);
    loop {
        let n = scim.list("Users").await.len();
        if n >= 5 {
            break;
        }
        assert!(Instant::now() < end, "the daemon delivered nothing");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    daemon.0.kill().expect("kill -9");
    let _ = daemon.0.wait();
    let at_kill = scim.list("Users").await.len();

    let _daemon = start_daemon(&config);
    let people = world.people(&config).await;
    let expected: std::collections::BTreeSet<String> =
        people.values().map(|(id, _)| id.clone()).collect();
    assert!(
        at_kill < expected.len(),
        "killed during delivery ({at_kill} of {})",
        expected.len()
    );
    let end = Instant::now() + Duration::from_secs(180);
    loop {
        let got: std::collections::BTreeSet<String> = scim.users().await.keys().cloned().collect();
        if got == expected {
            break;
        }
        assert!(
            Instant::now() < end,
            "after the restart the server has {} of {} users",
            got.len(),
            expected.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let listed: Value = serde_json::from_slice(
        &orgsync(&config, &["downstream", "list", "--json"])
            .await
            .stdout,
    )
    .expect("json");
    assert_eq!(listed["targets"][0]["dead"], 0, "{listed}");
}

// ---------------------------------------------------------------------------------------------
// The outbox and the views on both databases.

mod store {
    use super::support::{Backend, count, fresh_store};
    use chrono::Utc;
    use orgsync::directory::outbox::Next;
    use orgsync::directory::{RunOutcome, RunRecord, Store};
    use orgsync::sync::plan::{Change, Plan};
    use orgsync_core::TeamRole;

    fn run() -> RunRecord {
        RunRecord {
            trigger: "test".into(),
            started_at: Utc::now(),
            finished_at: Utc::now(),
            outcome: RunOutcome::Ok,
            requests: 0,
            requests_not_modified: 0,
            error: None,
            actor: "sync".into(),
        }
    }

    fn plan(changes: Vec<Change>) -> Plan {
        Plan {
            workspace: "acme".into(),
            changes,
            unconfirmed: Vec::new(),
        }
    }

    fn onboard(pid: &str, login: &str) -> Change {
        Change::Onboard {
            provider_user_id: pid.into(),
            existing_user_id: None,
            login: login.into(),
            name: Some(format!("{login} name")),
            email: None,
            role: "member".into(),
        }
    }

    async fn next_id(store: &Store) -> Option<(String, i32)> {
        match store
            .outbox_next("app", None, Utc::now().timestamp_millis())
            .await
            .expect("next")
        {
            Next::Deliver(e) => Some((e.kind.clone(), e.attempts)),
            Next::WaitUntil(_) | Next::Idle => None,
        }
    }

    async fn outbox_is_written_with_the_apply_and_delivered_in_order(backend: Backend) {
        let Some((store, _dir)) = fresh_store(backend).await else {
            return;
        };
        let ws = store
            .ensure_workspace("acme", "github", "api.github.com", "acme", Utc::now())
            .await
            .expect("workspace");
        store
            .apply(
                &ws,
                &plan(vec![
                    onboard("1", "ann"),
                    Change::TeamCreate {
                        slug: "eng".into(),
                        name: "Eng".into(),
                        parent: None,
                        provider_team_id: "7".into(),
                    },
                    Change::TeamMemberAdd {
                        team: "eng".into(),
                        provider_user_id: "1".into(),
                        login: "ann".into(),
                        role: TeamRole::Member,
                    },
                ]),
                &run(),
            )
            .await
            .expect("apply");
        assert_eq!(count(&store, "SELECT COUNT(*) FROM outbox").await, 3);
        let ann = count(
            &store,
            "SELECT user_id FROM identities WHERE provider_user_id = '1'",
        )
        .await;
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM outbox WHERE type = 'member.onboarded' AND user_id IS NOT NULL").await,
            1,
            "the new person's directory id is resolved in the transaction"
        );
        assert!(ann > 0);

        // A rolled-back apply writes no event: the second change conflicts (bob was never
        // offboarded), so ben's onboarding and its event vanish together.
        let failed = store
            .apply(
                &ws,
                &plan(vec![
                    onboard("2", "ben"),
                    Change::Reactivate {
                        user_id: 999_999,
                        provider_user_id: "3".into(),
                        login: "bob".into(),
                        role: "member".into(),
                    },
                ]),
                &run(),
            )
            .await;
        assert!(failed.is_err());
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM outbox").await,
            3,
            "no event of a rolled-back apply"
        );
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) FROM identities WHERE provider_user_id = '2'"
            )
            .await,
            0
        );

        // Delivery: in order; a failure holds the head until its retry time; a dead letter is
        // passed; retry requeues it ahead of newer events.
        store.outbox_ensure_target("app").await.expect("target");
        let now = Utc::now().timestamp_millis();
        let Next::Deliver(first) = store.outbox_next("app", None, now).await.expect("next") else {
            panic!("the first event is due")
        };
        assert_eq!(first.kind, "member.onboarded");
        store
            .outbox_failed("app", &first, now + 60_000, "HTTP 500", false)
            .await
            .expect("failed");
        assert!(
            matches!(store.outbox_next("app", None, now).await.expect("next"), Next::WaitUntil(t) if t == now + 60_000)
        );
        let Next::Deliver(again) = store
            .outbox_next("app", None, now + 60_000)
            .await
            .expect("next")
        else {
            panic!("due again after the backoff")
        };
        assert_eq!((again.id, again.attempts), (first.id, 1));
        store
            .outbox_failed("app", &again, now, "HTTP 500", true)
            .await
            .expect("dead");
        assert_eq!(
            next_id(&store).await,
            Some(("team.created".into(), 0)),
            "the target moved past the dead letter"
        );
        let Next::Deliver(second) = store.outbox_next("app", None, now).await.expect("next") else {
            panic!()
        };
        store
            .outbox_delivered("app", &second)
            .await
            .expect("delivered");
        let counts = store.outbox_counts("app", None).await.expect("counts");
        assert_eq!((counts.queued, counts.dead), (1, 1), "{counts:?}");
        assert_eq!(store.outbox_retry("app").await.expect("retry"), 1);
        assert_eq!(
            next_id(&store).await,
            Some(("member.onboarded".into(), 0)),
            "requeued first"
        );
        let Next::Deliver(requeued) = store.outbox_next("app", None, now).await.expect("next")
        else {
            panic!()
        };
        store
            .outbox_delivered("app", &requeued)
            .await
            .expect("delivered");
        assert_eq!(
            next_id(&store).await,
            Some(("team.member_added".into(), 0)),
            "then onwards in order"
        );
        // A target whose workspace filter excludes acme sees nothing.
        assert!(matches!(
            store
                .outbox_next("other", Some(&[ws.id + 1]), now)
                .await
                .expect("next"),
            Next::Idle
        ));

        // Leases keep a second worker off the target until the first one's lapses.
        assert!(
            store
                .outbox_claim("app", "a", now, now + 1000)
                .await
                .expect("claim")
        );
        assert!(
            !store
                .outbox_claim("app", "b", now + 10, now + 1010)
                .await
                .expect("claim")
        );
        assert!(
            store
                .outbox_claim("app", "b", now + 1001, now + 2000)
                .await
                .expect("claim")
        );

        // Pruning removes only what every target has passed, and keeps dead letters.
        let Next::Deliver(third) = store.outbox_next("app", None, now).await.expect("next") else {
            panic!("team.member_added is due")
        };
        store
            .outbox_failed("app", &third, now, "HTTP 410", true)
            .await
            .expect("dead");
        let later = Utc::now() + chrono::Duration::days(1);
        assert_eq!(
            store
                .outbox_prune(&["app".into()], later)
                .await
                .expect("prune"),
            2,
            "the two delivered events; the dead letter stays"
        );
        assert_eq!(count(&store, "SELECT COUNT(*) FROM outbox").await, 1);
        assert_eq!(
            store
                .outbox_prune(&["app".into(), "new".into()], later)
                .await
                .expect("prune"),
            0,
            "a target at 0 holds everything"
        );

        // The stable views.
        assert_eq!(count(&store, "SELECT COUNT(*) FROM orgsync_v1_members WHERE workspace = 'acme' AND login = 'ann' AND admitted AND state = 'active'").await, 1);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM orgsync_v1_teams WHERE workspace = 'acme' AND team = 'eng' AND name = 'Eng'").await, 1);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM orgsync_v1_team_members WHERE team = 'eng' AND team_role = 'member'").await, 1);
        assert_eq!(count(&store, "SELECT COUNT(*) FROM orgsync_v1_members m JOIN orgsync_v1_team_members t ON t.user_id = m.user_id WHERE m.login = 'ann'").await, 1);
    }

    /// The outbox's events as (type, team, data), oldest first.
    async fn events(store: &Store) -> Vec<(String, Option<String>, serde_json::Value)> {
        let mut out = Vec::new();
        store.outbox_ensure_target("admin").await.expect("target");
        loop {
            match store
                .outbox_next("admin", None, Utc::now().timestamp_millis())
                .await
                .expect("next")
            {
                Next::Deliver(e) => {
                    let payload: serde_json::Value =
                        serde_json::from_str(&e.payload).expect("payload is JSON");
                    out.push((e.kind.clone(), e.team_slug.clone(), payload["data"].clone()));
                    store
                        .outbox_delivered("admin", &e)
                        .await
                        .expect("delivered");
                }
                Next::WaitUntil(_) | Next::Idle => return out,
            }
        }
    }

    async fn admin_commands_write_events_in_their_transaction(backend: Backend) {
        use orgsync::directory::people::{NewInvitation, RoleOverride};
        let Some((store, _dir)) = fresh_store(backend).await else {
            return;
        };
        let now = Utc::now();
        let ws = store
            .ensure_workspace("acme", "github", "api.github.com", "acme", now)
            .await
            .expect("workspace");
        store
            .apply(
                &ws,
                &plan(vec![
                    onboard("1", "ann"),
                    Change::TeamCreate {
                        slug: "eng".into(),
                        name: "Eng".into(),
                        parent: None,
                        provider_team_id: "7".into(),
                    },
                ]),
                &run(),
            )
            .await
            .expect("apply");
        let synced = events(&store).await;
        assert_eq!(synced.len(), 2, "{synced:?}");
        let ann = count(
            &store,
            "SELECT user_id FROM identities WHERE provider_user_id = '1'",
        )
        .await;

        // A suspension ends the person's access downstream like an offboarding.
        store
            .suspend(&ws, ann, "laptop stolen", now, "admin")
            .await
            .expect("suspend");
        let suspended = events(&store).await;
        assert_eq!(suspended.len(), 1, "{suspended:?}");
        let (kind, team, data) = &suspended[0];
        assert_eq!(kind, "member.offboarded");
        assert_eq!(team, &None);
        assert_eq!(data["state"], "suspended");
        assert_eq!(data["login"], "ann", "{data}");
        assert_eq!(data["provider_user_id"], "1");
        assert_eq!(data["user_id"], ann);
        assert_eq!(data["by"], "admin");
        assert!(
            data["reason"]
                .as_str()
                .is_some_and(|r| r.contains("laptop stolen"))
        );

        // A refused command (already suspended) writes no event.
        assert!(
            store
                .suspend(&ws, ann, "again", now, "admin")
                .await
                .is_err()
        );
        assert!(
            events(&store).await.is_empty(),
            "no event for a refused command"
        );

        store
            .unsuspend(&ws, ann, now, "admin")
            .await
            .expect("unsuspend");
        store
            .set_role(&ws, ann, &RoleOverride::Pin("admin".into()), now, "admin")
            .await
            .expect("pin");
        let kinds: Vec<_> = events(&store)
            .await
            .into_iter()
            .map(|(k, _, d)| (k, d["role"].clone()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("member.reactivated".to_string(), serde_json::Value::Null),
                (
                    "member.role_changed".to_string(),
                    serde_json::json!("admin")
                ),
            ]
        );

        // An accepted invitation: the new person, then their team membership, which names the
        // team so a SCIM target pushes the group.
        let teams = vec!["eng".to_string()];
        store
            .create_invitation(&NewInvitation {
                workspace: &ws,
                email: "eve@example.com",
                role: "member",
                teams: &teams,
                admin: false,
                token_hash: "hash-of-eves-token".into(),
                now,
                expires_at: now + chrono::Duration::days(7),
                actor: "admin",
            })
            .await
            .expect("invite");
        let accepted = store
            .accept_invitation("hash-of-eves-token", "Eve", now, "eve")
            .await
            .expect("accept");
        let joined = events(&store).await;
        assert_eq!(joined.len(), 2, "{joined:?}");
        assert_eq!(joined[0].0, "member.onboarded");
        assert_eq!(joined[0].2["user_id"], accepted.user_id);
        assert_eq!(joined[0].2["email"], "eve@example.com");
        assert_eq!(joined[1].0, "team.member_added");
        assert_eq!(joined[1].1.as_deref(), Some("eng"));
    }

    #[tokio::test]
    async fn admin_commands_write_events_in_their_transaction_sqlite() {
        admin_commands_write_events_in_their_transaction(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn admin_commands_write_events_in_their_transaction_postgres() {
        admin_commands_write_events_in_their_transaction(Backend::Postgres).await;
    }

    #[tokio::test]
    async fn outbox_is_written_with_the_apply_and_delivered_in_order_sqlite() {
        outbox_is_written_with_the_apply_and_delivered_in_order(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn outbox_is_written_with_the_apply_and_delivered_in_order_postgres() {
        outbox_is_written_with_the_apply_and_delivered_in_order(Backend::Postgres).await;
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration.

fn config_errors(downstream: &str) -> Vec<String> {
    let text = format!(
        "[directory]\nurl = \"sqlite://x.db\"\n\n[[workspace]]\nname = \"acme\"\nprovider = \"github\"\norganization = \"acme\"\ntoken_env = \"T\"\n{downstream}"
    );
    match orgsync::config::Config::parse(&text, Path::new("orgsync.toml")) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn downstream_and_api_mistakes_are_located_and_explained() {
    let ok = config_errors(
        "\n[[downstream]]\nname = \"app\"\ntype = \"scim\"\nurl = \"https://app.example.com/scim/v2\"\ntoken_file = \"/t\"\nuser_name = \"email\"\nworkspaces = [\"acme\"]\n\n[api]\ntoken_file = \"/a\"\nlisten = \"127.0.0.1:9465\"\n",
    );
    assert!(ok.is_empty(), "{ok:?}");
    let cases = [
        (
            "type = \"ldap\"\nurl = \"https://a.example\"\ntoken_file = \"/t\"",
            "12:8",
            "type `ldap` is unknown",
        ),
        (
            "type = \"scim\"\nurl = \"http://app.example.com/scim\"\ntoken_file = \"/t\"",
            "13:7",
            "plain http",
        ),
        (
            "type = \"scim\"\nurl = \"https://a.example\"\nsecret_file = \"/t\"",
            "14:15",
            "takes token_file",
        ),
        (
            "type = \"webhook\"\nurl = \"https://a.example\"\ntoken_file = \"/t\"",
            "14:14",
            "takes secret_file",
        ),
        (
            "type = \"scim\"\nurl = \"https://a.example\"\ntoken_file = \"/t\"\nworkspaces = [\"nope\"]",
            "15:14",
            "`nope`, which is not a configured",
        ),
        (
            "type = \"scim\"\nurl = \"https://a.example\"\ntoken_file = \"/t\"\nmax_attempts = 0",
            "15:16",
            "max_attempts must be at least 1",
        ),
        (
            "type = \"scim\"\nurl = \"https://a.example\"\ntoken_file = \"/t\"\nuser_name = \"uid\"",
            "15:13",
            "use \"login\" or \"email\"",
        ),
    ];
    for (body, at, needle) in cases {
        let errors = config_errors(&format!("\n[[downstream]]\nname = \"app\"\n{body}\n"));
        assert_eq!(errors.len(), 1, "one mistake, one error: {errors:?}");
        assert!(
            errors
                .iter()
                .any(|e| e.contains(&format!("orgsync.toml:{at}:")) && e.contains(needle)),
            "{body}: {errors:?}"
        );
    }
    let api = config_errors("\n[api]\ntoken_file = \"/a\"\nlisten = \"everywhere\"\n");
    assert!(
        api.iter()
            .any(|e| e.contains("orgsync.toml:12:10:") && e.contains("[api] listen")),
        "{api:?}"
    );
}
