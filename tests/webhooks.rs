//! Webhooks end to end: the simulated GitHub delivers signed events to a running `orgsync run`.

mod support;

use orgsync::directory::Store;
use orgsync_simulator::github::{GithubServer, Mutation};
use orgsync_simulator::scenario::{Scenario, SyntheticSize};
use orgsync_simulator::server::{ServerOptions, WebhookTarget};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "a webhook secret for tests";

struct Daemon {
    child: Child,
    listen: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_daemon(config: &std::path::Path, token: &str) -> Daemon {
    let mut child = Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .arg("--config")
        .arg(config)
        .args(["--log-format", "json", "run"])
        .env("SIM_TOKEN", token)
        .env("ORGSYNC_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start orgsync run");
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&lines);
    let stderr = child.stderr.take().expect("stderr");
    // Owned by the guard from here on, so a failed start still reaps the process.
    let mut daemon = Daemon {
        child,
        listen: String::new(),
    };
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().expect("lines").push(line);
        }
    });
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let found = lines
            .lock()
            .expect("lines")
            .iter()
            .find(|l| l.contains("orgsync daemon started"))
            .cloned();
        if let Some(line) = found {
            let v: serde_json::Value = serde_json::from_str(&line).expect("json");
            daemon.listen = v["fields"]["listen"].as_str().expect("listen").to_string();
            return daemon;
        }
        assert!(Instant::now() < end, "daemon did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn post(addr: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> u16 {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).expect("write");
    let _ = s.write_all(body);
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

struct World {
    sim: GithubServer,
    org: String,
    _dir: tempfile::TempDir,
    url: String,
    daemon: Daemon,
    store: Store,
}

async fn world() -> World {
    let scenario = Scenario::synthetic(
        23,
        SyntheticSize {
            members: 40,
            repos: 12,
            teams: 5,
        },
    );
    let sim = GithubServer::start(scenario, ServerOptions::default())
        .await
        .expect("simulator");
    let org = sim.scenario().github.expect("github").orgs[0].login.clone();
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("d.db").display());
    let secret_file = dir.path().join("webhook-secret");
    std::fs::write(&secret_file, SECRET).expect("secret");
    let config = dir.path().join("orgsync.toml");
    std::fs::write(
        &config,
        format!(
            "[directory]\nurl = \"{url}\"\n[daemon]\nschedule = \"0 3 1 1 *\"\nlisten = \"127.0.0.1:0\"\nrun_on_start = true\nwebhook_debounce_ms = 300\n\
             [safety]\nmax_offboard_count = 50\n\
             [[workspace]]\nname = \"acme\"\nprovider = \"github\"\norganization = \"{org}\"\napi_url = \"{}\"\ntoken_env = \"SIM_TOKEN\"\nwebhook_secret_file = \"{}\"\n",
            sim.base_url(),
            secret_file.display()
        ),
    )
    .expect("config");
    let daemon = start_daemon(&config, sim.token());
    sim.handle().set_webhook(Some(WebhookTarget {
        url: format!("http://{}/webhooks/github/acme", daemon.listen),
        secret: SECRET.to_string(),
    }));
    let store = Store::open(&url).await.expect("store");
    // The start-up catch-up run: a full sync.
    wait(
        &store,
        |runs| {
            runs.iter()
                .any(|r| r.trigger == "start" && r.outcome == "ok")
        },
        "the first full sync",
    )
    .await;
    World {
        sim,
        org,
        _dir: dir,
        url,
        daemon,
        store,
    }
}

async fn wait(store: &Store, done: impl Fn(&[orgsync::directory::RunRow]) -> bool, what: &str) {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let runs = store.recent_runs(Some("acme"), 1000).await.expect("runs");
        if done(&runs) {
            return;
        }
        assert!(
            Instant::now() < end,
            "timed out waiting for {what}: {runs:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Active members who are not admins (removing the last admin would trip a guard).
async fn active_logins(store: &Store) -> Vec<String> {
    store
        .list_users(Some("acme"), Some("active"))
        .await
        .expect("users")
        .into_iter()
        .filter(|u| u.role != "admin")
        .filter_map(|u| u.login)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_member_is_offboarded_within_five_seconds_without_a_full_sync() {
    let w = world().await;
    let active = active_logins(&w.store).await;
    let victim = active.first().expect("someone to remove").clone();
    w.sim.handle().reset_stats();
    let t = Instant::now();
    let delivery = w
        .sim
        .mutate(Mutation::RemoveMember {
            org: w.org.clone(),
            login: victim.clone(),
        })
        .await
        .expect("mutation")
        .expect("a webhook");
    assert_eq!(delivery.status, Some(200), "{delivery:?}");
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let users = w.store.list_users(Some("acme"), None).await.expect("users");
        let u = users
            .iter()
            .find(|u| u.login.as_deref() == Some(victim.as_str()))
            .expect("victim");
        if u.state == "offboarded" {
            assert_eq!(u.reason.as_deref(), Some("left the account"));
            break;
        }
        if Instant::now() >= end {
            let runs = w.store.recent_runs(Some("acme"), 1000).await.expect("runs");
            panic!("{victim} not offboarded within 5 s: {u:?}\nruns: {runs:#?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "offboarded {:.2} s after the delivery",
        t.elapsed().as_secs_f64()
    );
    let runs = w.store.recent_runs(Some("acme"), 1).await.expect("runs");
    assert_eq!(runs[0].trigger, "webhook");
    let stats = w.sim.handle().stats();
    let stats_json = serde_json::to_string(&stats).expect("stats");
    eprintln!("requests for the targeted re-read: {stats_json}");
    assert!(
        !stats_json.contains("/orgs/{org}/members\""),
        "no full member listing: {stats_json}"
    );
    assert!(
        !stats_json.contains("/orgs/{org}/repos\""),
        "no repository listing: {stats_json}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn team_changes_and_new_repositories_are_reflected() {
    let w = world().await;
    let teams = w.store.list_teams(Some("acme")).await.expect("teams");
    let smallest = teams
        .iter()
        .min_by_key(|t| t.members.len())
        .expect("a team");
    let team = smallest.slug.clone();
    let outsider = active_logins(&w.store)
        .await
        .into_iter()
        .find(|l| !smallest.members.iter().any(|(m, _)| m == l))
        .expect("someone outside the team");
    let before = w
        .store
        .recent_runs(Some("acme"), 1000)
        .await
        .expect("runs")
        .len();
    w.sim
        .mutate(Mutation::AddTeamMember {
            org: w.org.clone(),
            team: team.clone(),
            login: outsider.clone(),
            role: orgsync_core::TeamRole::Member,
        })
        .await
        .expect("mutation");
    wait(
        &w.store,
        |r| r.len() > before && r[0].trigger == "webhook" && r[0].outcome == "ok",
        "a webhook run",
    )
    .await;
    let t = w
        .store
        .list_teams(Some("acme"))
        .await
        .expect("teams")
        .into_iter()
        .find(|t| t.slug == team)
        .expect("team");
    assert!(
        t.members.iter().any(|(m, _)| *m == outsider),
        "{outsider} joined {team}: {t:?}"
    );

    // A new repository changes everyone's "every repository" verdict: a full sync follows,
    // and the repository is in the directory.
    let before = w
        .store
        .recent_runs(Some("acme"), 1000)
        .await
        .expect("runs")
        .len();
    let repo: orgsync_simulator::scenario::GithubRepo =
        serde_json::from_value(serde_json::json!({"id": 99001, "name": "brand-new"}))
            .expect("repo");
    w.sim
        .mutate(Mutation::AddRepository {
            org: w.org.clone(),
            repo,
        })
        .await
        .expect("mutation");
    wait(
        &w.store,
        |r| r.len() > before && r[0].trigger == "webhook",
        "a webhook run",
    )
    .await;
    let mut conn = support::sqlite_conn(&w.store).await.expect("sqlite");
    let found: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM repositories WHERE name = 'brand-new'")
            .fetch_one(&mut conn)
            .await
            .expect("query");
    assert_eq!(found, 1, "the new repository was synced");
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_replayed_oversized_and_misaddressed_deliveries_change_nothing() {
    let w = world().await;
    let runs_before = w
        .store
        .recent_runs(Some("acme"), 1000)
        .await
        .expect("runs")
        .len();
    let body = br#"{"action":"member_removed","membership":{"user":{"id":1,"login":"x"}}}"#;
    let sign = |b: &[u8]| {
        format!(
            "sha256={}",
            orgsync_simulator::server::webhook::hmac_sha256_hex(SECRET.as_bytes(), b)
        )
    };
    let headers = |sig: String, id: &str| {
        vec![
            ("X-GitHub-Event", "organization".to_string()),
            ("X-GitHub-Delivery", id.to_string()),
            ("X-Hub-Signature-256", sig),
        ]
    };
    // Forged: signed with another secret.
    let forged = format!(
        "sha256={}",
        orgsync_simulator::server::webhook::hmac_sha256_hex(b"guess", body)
    );
    assert_eq!(
        post(
            &w.daemon.listen,
            "/webhooks/github/acme",
            &headers(forged, "d-1"),
            body
        ),
        401
    );
    // Missing signature.
    assert_eq!(
        post(
            &w.daemon.listen,
            "/webhooks/github/acme",
            &[("X-GitHub-Event", "ping".to_string())],
            b"{}"
        ),
        401
    );
    // Unknown workspace, and a provider that does not match it.
    assert_eq!(
        post(
            &w.daemon.listen,
            "/webhooks/github/nope",
            &headers(sign(body), "d-2"),
            body
        ),
        404
    );
    assert_eq!(
        post(
            &w.daemon.listen,
            "/webhooks/gitlab/acme",
            &headers(sign(body), "d-3"),
            body
        ),
        404
    );
    // Oversized.
    let big = vec![b' '; 6 * 1024 * 1024];
    let code = post(
        &w.daemon.listen,
        "/webhooks/github/acme",
        &headers(sign(&big), "d-4"),
        &big,
    );
    assert_eq!(code, 413);
    // A ping answers 200 and runs nothing.
    let ping = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    let ping_headers = vec![
        ("X-GitHub-Event", "ping".to_string()),
        ("X-GitHub-Delivery", "d-5".to_string()),
        ("X-Hub-Signature-256", sign(ping)),
    ];
    assert_eq!(
        post(
            &w.daemon.listen,
            "/webhooks/github/acme",
            &ping_headers,
            ping
        ),
        200
    );
    // A real delivery, then its redelivery.
    let victim = active_logins(&w.store)
        .await
        .into_iter()
        .next()
        .expect("a member");
    let delivery = w
        .sim
        .mutate(Mutation::RemoveMember {
            org: w.org.clone(),
            login: victim,
        })
        .await
        .expect("mutation")
        .expect("delivery");
    wait(&w.store, |r| r.len() == runs_before + 1, "the webhook run").await;
    let replay = vec![
        ("X-GitHub-Event", delivery.event.clone()),
        ("X-GitHub-Delivery", delivery.id.clone()),
        ("X-Hub-Signature-256", sign(delivery.body.as_bytes())),
    ];
    assert_eq!(
        post(
            &w.daemon.listen,
            "/webhooks/github/acme",
            &replay,
            delivery.body.as_bytes()
        ),
        200
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        w.store
            .recent_runs(Some("acme"), 1000)
            .await
            .expect("runs")
            .len(),
        runs_before + 1,
        "the replay ran nothing"
    );
    let (_, metrics) = {
        let mut s = std::net::TcpStream::connect(&w.daemon.listen).expect("connect");
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        (0, out)
    };
    let status = {
        let mut s = std::net::TcpStream::connect(&w.daemon.listen).expect("connect");
        write!(
            s,
            "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out
    };
    assert!(
        status.contains("github organization (re-read 1 member(s))"),
        "{status}"
    );
    for line in [
        "orgsync_webhooks_received_total{outcome=\"bad_signature\",provider=\"github\"} 2",
        "orgsync_webhooks_received_total{outcome=\"duplicate\",provider=\"github\"} 1",
        "orgsync_webhooks_received_total{outcome=\"too_large\",provider=\"github\"} 1",
        "orgsync_webhooks_received_total{outcome=\"ping\",provider=\"github\"} 1",
    ] {
        assert!(metrics.contains(line), "missing {line}:\n{metrics}");
    }
    let _ = &w.url;
}
