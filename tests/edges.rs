//! The daemon's edges under hostile and broken input, end to end: the real binary against the
//! GitHub simulator with injected faults, hostile webhooks and slow senders on loopback.
//!
//! Bounded: every test waits at most 30 s for what it expects; together they add about 40 s.

mod support;

use orgsync::directory::Store;
use orgsync_simulator::github::GithubServer;
use orgsync_simulator::scenario::{Scenario, SyntheticSize};
use orgsync_simulator::server::{FaultAction, FaultRule, FaultTimes, ServerOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "an edges webhook secret";

struct Daemon {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    listen: String,
}

impl Daemon {
    fn start(config: &std::path::Path, token: &str) -> Daemon {
        Daemon::start_with(config, &[("SIM_TOKEN", token)])
    }

    fn start_with(config: &std::path::Path, envs: &[(&str, &str)]) -> Daemon {
        let mut command = Command::new(env!("CARGO_BIN_EXE_orgsync"));
        command
            .arg("--config")
            .arg(config)
            .args(["--log-format", "json", "run"])
            .env("ORGSYNC_LOG", "info")
            .env_remove("NOTIFY_SOCKET")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in envs {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start orgsync run");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("lines").push(line);
            }
        });
        let mut d = Daemon {
            child,
            lines,
            listen: String::new(),
        };
        let line = d.wait_for_line("orgsync daemon started");
        let v: serde_json::Value = serde_json::from_str(&line).expect("json log line");
        d.listen = v["fields"]["listen"].as_str().expect("listen").to_string();
        d
    }

    fn wait_for_line(&self, needle: &str) -> String {
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(l) = self
                .lines
                .lock()
                .expect("lines")
                .iter()
                .find(|l| l.contains(needle))
            {
                return l.clone();
            }
            assert!(
                Instant::now() < end,
                "no log line with {needle:?}; got:\n{}",
                self.lines.lock().expect("lines").join("\n")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{name}");
    }

    fn get(&self, path: &str) -> (u16, String) {
        request(
            &self.listen,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            b"",
        )
    }

    fn post(&self, path: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, String) {
        let mut head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        request(&self.listen, &head, body)
    }

    /// The daemon's resident memory in KiB, from /proc.
    fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id())
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("proc status")
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

fn request(addr: &str, head: &str, body: &[u8]) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    s.write_all(head.as_bytes()).expect("write");
    let _ = s.write_all(body);
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn sign(body: &[u8]) -> String {
    format!(
        "sha256={}",
        orgsync_simulator::server::webhook::hmac_sha256_hex(SECRET.as_bytes(), body)
    )
}

async fn github_sim(seed: u64) -> GithubServer {
    let scenario = Scenario::synthetic(
        seed,
        SyntheticSize {
            members: 12,
            repos: 6,
            teams: 3,
        },
    );
    GithubServer::start(scenario, ServerOptions::default())
        .await
        .expect("simulator")
}

fn org(server: &GithubServer) -> String {
    server.scenario().github.expect("github").orgs[0]
        .login
        .clone()
}

/// A config with `[daemon]` extras and the given workspaces; webhooks signed with [`SECRET`].
fn write_config(
    dir: &std::path::Path,
    daemon: &str,
    workspaces: &str,
) -> (std::path::PathBuf, String) {
    let url = format!("sqlite://{}", dir.join("directory.db").display());
    let secret = dir.join("webhook-secret");
    std::fs::write(&secret, SECRET).expect("secret");
    let path = dir.join("orgsync.toml");
    std::fs::write(
        &path,
        format!(
            "[directory]\nurl = \"{url}\"\n\n[daemon]\ntimezone = \"UTC\"\nlisten = \"127.0.0.1:0\"\n{daemon}\n\n{}",
            workspaces.replace("@SECRET@", &secret.display().to_string())
        ),
    )
    .expect("write config");
    (path, url)
}

fn token_workspace(name: &str, server: &GithubServer) -> String {
    format!(
        "[[workspace]]\nname = \"{name}\"\nprovider = \"github\"\norganization = \"{}\"\napi_url = \"{}\"\ntoken_env = \"SIM_TOKEN\"\nadmit = \"all-members\"\nwebhook_secret_file = \"@SECRET@\"\n",
        org(server),
        server.base_url()
    )
}

async fn runs(store: &Store, workspace: &str) -> Vec<orgsync::directory::RunRow> {
    store
        .recent_runs(Some(workspace), 1000)
        .await
        .expect("runs")
}

async fn wait_for(
    store: &Store,
    workspace: &str,
    what: &str,
    done: impl Fn(&[orgsync::directory::RunRow]) -> bool,
) -> Vec<orgsync::directory::RunRow> {
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let r = runs(store, workspace).await;
        if done(&r) {
            return r;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}: {r:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_absurd_retry_after_fails_one_run_and_the_next_trigger_runs() {
    let sim = github_sim(31).await;
    let dir = tempfile::tempdir().expect("dir");
    let (config, url) = write_config(
        dir.path(),
        "schedule = \"0 3 1 1 *\"\nrun_on_start = false\nrun_deadline_seconds = 60",
        &token_workspace("acme", &sim),
    );
    sim.handle().add_fault(
        FaultRule::new(
            "/orgs/*/members",
            FaultAction::SecondaryRateLimit {
                retry_after_secs: Some(u64::MAX),
            },
        )
        .method("GET")
        .times(FaultTimes::Once),
    );
    let daemon = Daemon::start(&config, sim.token());
    let store = Store::open(&url).await.expect("store");

    daemon.signal("USR1");
    let first = wait_for(&store, "acme", "the rate-limited run", |r| !r.is_empty()).await;
    daemon.signal("USR1");
    let all = wait_for(&store, "acme", "the next run", |r| {
        r.iter().any(|r| r.outcome == "ok")
    })
    .await;

    assert_eq!(first[0].outcome, "failed", "{first:?}");
    let error = first[0].error.clone().unwrap_or_default();
    assert!(error.contains("rate limit"), "{error}");
    assert!(
        !daemon
            .lines
            .lock()
            .expect("lines")
            .iter()
            .any(|l| l.contains("panicked")),
        "no task panicked"
    );
    assert!(
        all.iter()
            .any(|r| r.trigger == "signal" && r.outcome == "ok")
    );
    assert_eq!(daemon.get("/healthz").0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_does_not_parse_is_not_replayed_and_the_next_run_succeeds() {
    let sim = github_sim(32).await;
    let dir = tempfile::tempdir().expect("dir");
    let (config, url) = write_config(
        dir.path(),
        "schedule = \"0 3 1 1 *\"\nrun_on_start = false",
        &token_workspace("acme", &sim),
    );
    sim.handle().add_fault(
        FaultRule::new("/orgs/*/members", FaultAction::MalformedJson)
            .method("GET")
            .times(FaultTimes::Once),
    );
    let daemon = Daemon::start(&config, sim.token());
    let store = Store::open(&url).await.expect("store");

    daemon.signal("USR1");
    wait_for(&store, "acme", "the broken run", |r| !r.is_empty()).await;
    daemon.signal("USR1");
    let r = wait_for(&store, "acme", "the second run", |r| r.len() >= 2).await;

    // Newest first: the second run read the members afresh instead of replaying the bad body.
    assert_eq!(r[1].outcome, "failed", "{r:?}");
    assert_eq!(r[0].outcome, "ok", "{r:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn health_turns_unhealthy_only_while_a_workspace_gets_no_runs() {
    // Two workspaces, one run at a time: while `slow` holds the only permit for 10 s, `fast`
    // (every 2 s) gets no run, and health says so; once `slow` ends both run and health recovers.
    let slow = github_sim(33).await;
    let fast = github_sim(34).await;
    let dir = tempfile::tempdir().expect("dir");
    let (config, url) = write_config(
        dir.path(),
        "schedule = \"*/2 * * * * *\"\nrun_on_start = false\nmax_concurrent_workspaces = 1\nhealth_stall_periods = 2",
        &format!(
            "{}\n{}",
            token_workspace("slow", &slow).replace("SIM_TOKEN", "SLOW_TOKEN"),
            token_workspace("fast", &fast)
        ),
    );
    let daemon = Daemon::start_with(
        &config,
        &[("SLOW_TOKEN", slow.token()), ("SIM_TOKEN", fast.token())],
    );
    let store = Store::open(&url).await.expect("store");
    wait_for(&store, "fast", "runs of fast", |r| r.len() >= 2).await;
    assert_eq!(daemon.get("/healthz").0, 200, "runs are happening");

    slow.handle().add_fault(
        FaultRule::new("/orgs/*/members", FaultAction::Delay { ms: 10_000 })
            .method("GET")
            .times(FaultTimes::Once),
    );
    let end = Instant::now() + Duration::from_secs(30);
    let unhealthy = loop {
        let (code, body) = daemon.get("/healthz");
        if code == 503 {
            break body;
        }
        assert!(
            Instant::now() < end,
            "health never noticed the starved workspace"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        unhealthy.contains("workspace fast has had no finished run"),
        "{unhealthy}"
    );
    let end = Instant::now() + Duration::from_secs(30);
    while daemon.get("/healthz").0 != 200 {
        assert!(
            Instant::now() < end,
            "health did not recover once runs resumed"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn app_workspace(name: &str, server: &GithubServer, installation: u64) -> String {
    format!(
        "[[workspace]]\nname = \"{name}\"\nprovider = \"github\"\norganization = \"{}\"\napi_url = \"{}\"\napp_id = 1\ninstallation_id = {installation}\nprivate_key_file = \"/run/credentials/orgsync.service/absent.pem\"\nwebhook_secret_file = \"@SECRET@\"\n",
        org(server),
        server.base_url()
    )
}

fn installation_event(action: &str, id: u64, account: &str) -> Vec<u8> {
    serde_json::json!({
        "action": action,
        "installation": {"id": id, "account": {"login": account, "id": 9, "type": "Organization"}},
        "sender": {"login": "someone", "id": 5}
    })
    .to_string()
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn installation_events_touch_only_their_installation_and_replays_change_nothing() {
    let sim = github_sim(35).await;
    let account = org(&sim);
    let dir = tempfile::tempdir().expect("dir");
    let (config, _url) = write_config(
        dir.path(),
        "schedule = \"0 3 1 1 *\"\nrun_on_start = false",
        &format!(
            "{}\n{}",
            app_workspace("app", &sim, 77),
            token_workspace("plain", &sim)
        ),
    );
    let daemon = Daemon::start(&config, sim.token());
    let deliver = |workspace: &str, body: &[u8], delivery: &str| {
        daemon.post(
            &format!("/webhooks/github/{workspace}"),
            &[
                ("X-GitHub-Event", "installation".to_string()),
                ("X-GitHub-Delivery", delivery.to_string()),
                ("X-Hub-Signature-256", sign(body)),
            ],
            body,
        )
    };
    let paused = |workspace: &str| {
        let (_, status) = daemon.get("/status");
        let entries: serde_json::Value = serde_json::from_str(&status).expect("status json");
        entries
            .as_array()
            .expect("entries")
            .iter()
            .find(|e| e["workspace"] == workspace)
            .map(|e| e["paused"].clone())
            .expect("entry")
    };

    // Foreign: another installation id, another account, and a workspace on a plain token.
    let foreign = [
        ("app", installation_event("suspend", 78, &account), "f-1"),
        (
            "app",
            installation_event("suspend", 77, "someone-else"),
            "f-2",
        ),
        ("plain", installation_event("suspend", 77, &account), "f-3"),
    ];
    for (workspace, body, delivery) in &foreign {
        assert_eq!(deliver(workspace, body, delivery).0, 200);
    }
    assert!(paused("app").is_null() && paused("plain").is_null());

    // Its own installation pauses it; status and metrics say so.
    let suspend = installation_event("suspend", 77, &account);
    assert_eq!(deliver("app", &suspend, "own-1").0, 200);
    assert!(
        paused("app")
            .as_str()
            .is_some_and(|p| p.contains("suspend")),
        "{:?}",
        paused("app")
    );
    let (_, metrics) = daemon.get("/metrics");
    assert!(
        metrics.contains("orgsync_workspace_paused{workspace=\"app\"} 1"),
        "{metrics}"
    );

    // An administrator resumes it; the same signed body under a new delivery id changes nothing.
    daemon.signal("USR2");
    daemon.wait_for_line("workspace resumed");
    assert!(paused("app").is_null());
    let (code, text) = deliver("app", &suspend, "own-2-new-guid");
    assert_eq!((code, text.trim()), (200, "already received"));
    assert!(
        paused("app").is_null(),
        "a replay under a new delivery id has no effect"
    );

    let (_, metrics) = daemon.get("/metrics");
    for line in [
        "orgsync_webhooks_received_total{outcome=\"not_this_installation\",provider=\"github\"} 3",
        "orgsync_webhooks_received_total{outcome=\"replayed\",provider=\"github\"} 1",
        "orgsync_workspace_paused{workspace=\"app\"} 0",
    ] {
        assert!(metrics.contains(line), "missing {line}:\n{metrics}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_senders_are_bounded_in_memory_and_cut_off_at_the_read_timeout() {
    let sim = github_sim(36).await;
    let dir = tempfile::tempdir().expect("dir");
    let (config, _url) = write_config(
        dir.path(),
        "schedule = \"0 3 1 1 *\"\nrun_on_start = false\nread_timeout_seconds = 3\nwebhook_max_in_flight = 16\nwebhook_max_in_flight_per_source = 64",
        &token_workspace("acme", &sim),
    );
    let daemon = Daemon::start(&config, sim.token());
    let before = daemon.rss_kib();

    // 200 senders, each announcing a body just under the limit, sending 600 KB of it and
    // stalling. Without bounds the daemon held every one of them, in full, indefinitely.
    let senders = 200;
    let sent = Arc::new(std::sync::Barrier::new(senders + 1));
    let threads: Vec<_> = (0..senders)
        .map(|_| {
            let addr = daemon.listen.clone();
            let sent = Arc::clone(&sent);
            std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(&addr).expect("connect");
                let head = format!(
                    "POST /webhooks/github/acme HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nX-GitHub-Event: ping\r\nX-Hub-Signature-256: sha256=00\r\n\r\n",
                    1024 * 1024 - 1
                );
                s.set_write_timeout(Some(Duration::from_secs(2)))
                    .expect("timeout");
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(&vec![b' '; 600 * 1024]);
                sent.wait();
                s.set_read_timeout(Some(Duration::from_secs(20)))
                    .expect("timeout");
                let mut answer = Vec::new();
                // Cut off: the daemon answered and closed (or reset) the connection in time.
                match s.read_to_end(&mut answer) {
                    Ok(_) => true,
                    Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
                }
            })
        })
        .collect();
    sent.wait();
    let during = daemon.rss_kib();
    let cut_off = threads
        .into_iter()
        .map(|t| t.join().expect("sender"))
        .filter(|closed| *closed)
        .count();
    let (_, metrics) = daemon.get("/metrics");

    assert!(
        during.saturating_sub(before) < 64 * 1024,
        "200 slow senders grew the daemon from {before} KiB to {during} KiB"
    );
    assert_eq!(cut_off, senders, "every slow sender was cut off");
    for outcome in ["timeout", "busy"] {
        assert!(
            metrics.contains(&format!("outcome=\"{outcome}\"")),
            "no {outcome} outcome:\n{metrics}"
        );
    }
    assert_eq!(daemon.get("/healthz").0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_first_starts_on_a_new_sqlite_file_both_migrate() {
    for round in 0..5 {
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", dir.path().join("new.db").display());
        let opens = (0..4).map(|_| {
            let url = url.clone();
            tokio::spawn(async move { Store::open(&url).await.map(|_| ()) })
        });
        for open in opens {
            let result = open.await.expect("task");
            assert!(result.is_ok(), "round {round}: {result:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_sync_is_recorded_as_failed_at_the_next_start() {
    let sim = github_sim(37).await;
    let dir = tempfile::tempdir().expect("dir");
    let (config, url) = write_config(
        dir.path(),
        "schedule = \"0 3 1 1 *\"\nrun_on_start = false",
        &token_workspace("acme", &sim),
    );
    let daemon = Daemon::start(&config, sim.token());
    let store = Store::open(&url).await.expect("store");
    daemon.signal("USR1");
    wait_for(&store, "acme", "the first run", |r| !r.is_empty()).await;
    sim.handle().add_fault(
        FaultRule::new("/orgs/*/members", FaultAction::Delay { ms: 30_000 })
            .method("GET")
            .times(FaultTimes::Once),
    );

    daemon.signal("USR1");
    let end = Instant::now() + Duration::from_secs(30);
    while support::count(
        &store,
        "SELECT COUNT(*) FROM sync_runs WHERE outcome = 'running'",
    )
    .await
        == 0
    {
        assert!(Instant::now() < end, "the run never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    daemon.signal("KILL");
    drop(daemon);
    let _restarted = Daemon::start(&config, sim.token());
    let r = wait_for(&store, "acme", "the interrupted run", |r| r.len() >= 2).await;

    assert_eq!(r[0].outcome, "failed", "{r:?}");
    assert_eq!(r[0].trigger, "signal");
    assert!(
        r[0].error
            .as_deref()
            .unwrap_or_default()
            .contains("interrupted"),
        "{r:?}"
    );
    assert_eq!(
        support::count(
            &store,
            "SELECT COUNT(*) FROM sync_runs WHERE outcome = 'running'"
        )
        .await,
        0
    );
}
