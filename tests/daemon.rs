//! `orgsync run` end to end: the real binary against the GitHub simulator, driven by signals.

// Test helpers fail the test with a message (the crate denies clippy::panic elsewhere).
#![allow(clippy::panic)]

mod support;

use orgsync::directory::Store;
use orgsync_simulator::github::GithubServer;
use orgsync_simulator::scenario::{Scenario, SyntheticSize};
use orgsync_simulator::server::ServerOptions;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Daemon {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    pub listen: String,
}

impl Daemon {
    fn start(config: &std::path::Path, envs: &[(&str, String)]) -> Daemon {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_orgsync"));
        cmd.arg("--config")
            .arg(config)
            .args(["--log-format", "json", "run"])
            .env("ORGSYNC_LOG", "info")
            .env_remove("NOTIFY_SOCKET")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start orgsync run");
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
        let line = d.wait_for_line("orgsync daemon started", Duration::from_secs(30));
        let v: serde_json::Value = serde_json::from_str(&line).expect("json log line");
        d.listen = v["fields"]["listen"]
            .as_str()
            .expect("listen field")
            .to_string();
        d
    }

    fn wait_for_line(&self, needle: &str, within: Duration) -> String {
        let end = Instant::now() + within;
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
        http_get(&self.listen, path)
    }

    /// SIGTERM, then the exit code and how long the exit took.
    fn stop(mut self) -> (Option<i32>, Duration) {
        let t = Instant::now();
        self.signal("TERM");
        let end = t + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return (status.code(), t.elapsed());
            }
            if Instant::now() > end {
                let _ = self.child.kill();
                return (None, t.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 GET over loopback (no client library needed for three endpoints).
fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
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

async fn github_sim(latency: Duration) -> GithubServer {
    let scenario = Scenario::synthetic(
        11,
        SyntheticSize {
            members: 12,
            repos: 6,
            teams: 3,
        },
    );
    GithubServer::start(
        scenario,
        ServerOptions {
            latency,
            ..ServerOptions::default()
        },
    )
    .await
    .expect("simulator")
}

fn org(server: &GithubServer) -> String {
    server.scenario().github.expect("github").orgs[0]
        .login
        .clone()
}

fn workspace_toml(name: &str, server: &GithubServer, extra: &str) -> String {
    format!(
        "[[workspace]]\nname = \"{name}\"\nprovider = \"github\"\norganization = \"{}\"\napi_url = \"{}\"\ntoken_env = \"SIM_TOKEN\"\nadmit = \"all-members\"\n{extra}\n",
        org(server),
        server.base_url()
    )
}

fn write_config(
    dir: &std::path::Path,
    db_url: &str,
    schedule: &str,
    workspaces: &str,
) -> std::path::PathBuf {
    let path = dir.join("orgsync.toml");
    std::fs::write(
        &path,
        format!(
            "[directory]\nurl = \"{db_url}\"\n\n[daemon]\nschedule = \"{schedule}\"\ntimezone = \"UTC\"\nlisten = \"127.0.0.1:0\"\nrun_on_start = false\n\n{workspaces}"
        ),
    )
    .expect("write config");
    path
}

async fn runs(store: &Store, workspace: &str) -> Vec<orgsync::directory::RunRow> {
    store
        .recent_runs(Some(workspace), 1000)
        .await
        .expect("runs")
}

async fn wait_for_runs(
    store: &Store,
    workspace: &str,
    at_least: usize,
    within: Duration,
) -> Vec<orgsync::directory::RunRow> {
    let end = Instant::now() + within;
    loop {
        let r = runs(store, workspace).await;
        if r.len() >= at_least {
            return r;
        }
        assert!(
            Instant::now() < end,
            "{workspace}: {} run(s) after {within:?}, wanted {at_least}",
            r.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn sqlite_url(dir: &std::path::Path) -> String {
    format!("sqlite://{}", dir.join("directory.db").display())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_two_second_schedule_produces_runs_and_sigterm_exits_zero() {
    let sim = github_sim(Duration::ZERO).await;
    let dir = tempfile::tempdir().expect("dir");
    let url = sqlite_url(dir.path());
    let config = write_config(
        dir.path(),
        &url,
        "*/2 * * * * *",
        &workspace_toml("acme", &sim, ""),
    );
    let daemon = Daemon::start(&config, &[("SIM_TOKEN", sim.token().to_string())]);
    let store = Store::open(&url).await.expect("store");
    let r = wait_for_runs(&store, "acme", 2, Duration::from_secs(20)).await;
    assert!(r.iter().all(|r| r.trigger == "schedule"), "{r:?}");
    assert_eq!(r[0].outcome, "ok", "{:?}", r[0].error);
    let (code, took) = daemon.stop();
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(10), "stopped in {took:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigusr1_runs_every_workspace_at_once() {
    let sim = github_sim(Duration::ZERO).await;
    let dir = tempfile::tempdir().expect("dir");
    let url = sqlite_url(dir.path());
    let ws = format!(
        "{}{}",
        workspace_toml("one", &sim, ""),
        workspace_toml("two", &sim, "")
    );
    let config = write_config(dir.path(), &url, "0 3 1 1 *", &ws);
    let daemon = Daemon::start(&config, &[("SIM_TOKEN", sim.token().to_string())]);
    let store = Store::open(&url).await.expect("store");
    assert!(
        runs(&store, "one").await.is_empty(),
        "no run before the signal"
    );
    daemon.signal("USR1");
    for name in ["one", "two"] {
        let r = wait_for_runs(&store, name, 1, Duration::from_secs(15)).await;
        assert_eq!(r[0].trigger, "signal");
    }
    assert_eq!(daemon.stop().0, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn sighup_keeps_the_old_config_when_the_new_one_is_broken_and_applies_a_valid_one() {
    let sim = github_sim(Duration::ZERO).await;
    let dir = tempfile::tempdir().expect("dir");
    let url = sqlite_url(dir.path());
    let config = write_config(
        dir.path(),
        &url,
        "0 3 1 1 *",
        &workspace_toml("one", &sim, ""),
    );
    let daemon = Daemon::start(&config, &[("SIM_TOKEN", sim.token().to_string())]);
    let store = Store::open(&url).await.expect("store");

    std::fs::write(&config, "[directory\nbroken").expect("break the file");
    daemon.signal("HUP");
    daemon.wait_for_line("configuration reload refused", Duration::from_secs(10));
    let (code, metrics) = daemon.get("/metrics");
    assert_eq!(code, 200);
    assert!(
        metrics.contains("orgsync_config_reload_failures_total 1"),
        "{metrics}"
    );
    assert_eq!(daemon.get("/healthz").0, 200);
    daemon.signal("USR1");
    wait_for_runs(&store, "one", 1, Duration::from_secs(15)).await;

    // A valid file adding a workspace with its own fast schedule: it starts syncing.
    write_config(
        dir.path(),
        &url,
        "0 3 1 1 *",
        &format!(
            "{}{}",
            workspace_toml("one", &sim, ""),
            workspace_toml("two", &sim, "schedule = \"*/1 * * * * *\"")
        ),
    );
    daemon.signal("HUP");
    daemon.wait_for_line("configuration reloaded", Duration::from_secs(10));
    let r = wait_for_runs(&store, "two", 1, Duration::from_secs(15)).await;
    assert_eq!(r[0].trigger, "schedule");
    assert_eq!(daemon.stop().0, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_during_a_slow_fetch_exits_zero_within_ten_seconds_and_changes_nothing() {
    let sim = github_sim(Duration::from_secs(3)).await;
    let dir = tempfile::tempdir().expect("dir");
    let url = sqlite_url(dir.path());
    let config = write_config(
        dir.path(),
        &url,
        "0 3 1 1 *",
        &workspace_toml("acme", &sim, ""),
    );
    let daemon = Daemon::start(&config, &[("SIM_TOKEN", sim.token().to_string())]);
    daemon.signal("USR1");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (code, took) = daemon.stop();
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(10), "stopped in {took:?}");
    let store = Store::open(&url).await.expect("store");
    assert!(
        store
            .list_users(None, None)
            .await
            .expect("users")
            .is_empty(),
        "no partial run"
    );
    for r in runs(&store, "acme").await {
        assert_ne!(r.outcome, "ok", "the cancelled run did not apply: {r:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_daemon_on_the_same_sqlite_file_refuses_to_start() {
    let sim = github_sim(Duration::ZERO).await;
    let dir = tempfile::tempdir().expect("dir");
    let url = sqlite_url(dir.path());
    let config = write_config(
        dir.path(),
        &url,
        "0 3 1 1 *",
        &workspace_toml("acme", &sim, ""),
    );
    let first = Daemon::start(&config, &[("SIM_TOKEN", sim.token().to_string())]);
    let out = Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .arg("--config")
        .arg(&config)
        .arg("run")
        .env("SIM_TOKEN", sim.token())
        .output()
        .expect("second daemon");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("another orgsync daemon is already running"),
        "{stderr}"
    );
    assert_eq!(first.stop().0, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn notify_socket_receives_ready_status_reloading_and_stopping_in_order() {
    use std::os::unix::net::UnixDatagram;
    let sim = github_sim(Duration::ZERO).await;
    let dir = tempfile::tempdir().expect("dir");
    let url = sqlite_url(dir.path());
    let config = write_config(
        dir.path(),
        &url,
        "0 3 1 1 *",
        &workspace_toml("acme", &sim, ""),
    );
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).expect("bind notify socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let messages = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&messages);
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let end = Instant::now() + Duration::from_secs(40);
        while Instant::now() < end {
            if let Ok(n) = socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                let stop = text.contains("STOPPING=1");
                sink.lock().expect("messages").push(text);
                if stop {
                    return;
                }
            }
        }
    });
    let daemon = Daemon::start(
        &config,
        &[
            ("SIM_TOKEN", sim.token().to_string()),
            ("NOTIFY_SOCKET", socket_path.display().to_string()),
        ],
    );
    let store = Store::open(&url).await.expect("store");
    daemon.signal("USR1");
    wait_for_runs(&store, "acme", 1, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    daemon.signal("HUP");
    daemon.wait_for_line("configuration reloaded", Duration::from_secs(10));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(daemon.stop().0, Some(0));
    reader.join().expect("reader");
    let all = messages.lock().expect("messages").join("\n");
    let at = |needle: &str| {
        all.find(needle)
            .unwrap_or_else(|| panic!("{needle} missing from:\n{all}"))
    };
    let ready = at("READY=1");
    let status = at("STATUS=acme: ok");
    let reloading = at("RELOADING=1");
    let stopping = at("STOPPING=1");
    assert!(
        ready < status && status < reloading && reloading < stopping,
        "order:\n{all}"
    );
    assert!(all[reloading..].contains("MONOTONIC_USEC="), "{all}");
    assert!(
        all[reloading..stopping].contains("READY=1"),
        "READY=1 after the reload:\n{all}"
    );
}

#[test]
fn systemd_analyze_verify_prints_nothing_for_the_unit() {
    let Ok(probe) = Command::new("systemd-analyze").arg("--version").output() else {
        panic!("systemd-analyze is missing: apt-get install systemd (.ci/run installs it)");
    };
    assert!(probe.status.success());
    let dir = tempfile::tempdir().expect("dir");
    // The unit as shipped, with ExecStart at the binary this test built (verify needs it to exist).
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/orgsync.service"
    ))
    .expect("unit");
    assert!(unit.contains("ExecStart=/usr/bin/orgsync "));
    // Credentials by directory, so a GitLab-only or Bitbucket-only installation starts too:
    // one LoadCredential= of the whole folder, no per-provider file that must exist.
    let credentials: Vec<&str> = unit
        .lines()
        .filter(|l| l.starts_with("LoadCredential"))
        .collect();
    assert_eq!(
        credentials,
        ["LoadCredential=orgsync:/etc/orgsync/credentials"],
        "the unit loads the credentials folder, nothing else"
    );
    // A reload validates the file before the daemon is told to re-read it.
    let reload: Vec<&str> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("ExecReload="))
        .collect();
    assert_eq!(reload.len(), 2, "{reload:?}");
    assert!(
        reload[0].starts_with("/usr/bin/orgsync ") && reload[0].ends_with(" check-config"),
        "{reload:?}"
    );
    assert_eq!(reload[1], "/bin/kill -HUP $MAINPID");
    let unit = unit.replace("/usr/bin/orgsync", env!("CARGO_BIN_EXE_orgsync"));
    let path = dir.path().join("orgsync.service");
    std::fs::write(&path, unit).expect("write unit");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("verify");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && printed.trim().is_empty(),
        "systemd-analyze verify said:\n{printed}"
    );
    let security = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(&path)
        .output()
        .expect("security");
    let text = String::from_utf8_lossy(&security.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or("");
    eprintln!("{line}");
    let score: f64 = line
        .split_whitespace()
        .find_map(|w| w.parse().ok())
        .expect("an exposure score");
    assert!(score <= 1.2, "exposure {score} above 1.2");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A real Prometheus scraping `target` every second (evaluating `rules` every second too), on
/// a free port; returns the process and its address.
fn start_prometheus(
    dir: &std::path::Path,
    target: &str,
    rules: Option<&str>,
) -> (std::process::Child, String) {
    let Ok(_) = Command::new("prometheus").arg("--version").output() else {
        panic!("prometheus is missing: apt-get install prometheus (.ci/run installs it)");
    };
    let prom_config = dir.join("prometheus.yml");
    let rule_files = rules
        .map(|r| format!("rule_files:\n  - '{r}'\n"))
        .unwrap_or_default();
    std::fs::write(
        &prom_config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n{rule_files}scrape_configs:\n  - job_name: orgsync\n    static_configs:\n      - targets: ['{target}']\n"
        ),
    )
    .expect("prometheus config");
    let port = free_port();
    let prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", prom_config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    (prometheus, format!("127.0.0.1:{port}"))
}

/// The shipped alert rules in a real Prometheus: the very first run of a daemon fails (a
/// refused token), before Prometheus ever scraped it, and the alert fires all the same.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_first_run_raises_the_shipped_alert_in_a_real_prometheus() {
    let sim = github_sim(Duration::ZERO).await;
    let dir = tempfile::tempdir().expect("dir");
    let url = sqlite_url(dir.path());
    let config = write_config(
        dir.path(),
        &url,
        "0 3 1 1 *",
        &workspace_toml("acme", &sim, ""),
    );
    let daemon = Daemon::start(&config, &[("SIM_TOKEN", "not-the-token".to_string())]);
    let store = Store::open(&url).await.expect("store");
    daemon.signal("USR1");
    let runs = wait_for_runs(&store, "acme", 1, Duration::from_secs(15)).await;
    assert_eq!(runs[0].outcome, "failed");
    let rules = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/contrib/prometheus/orgsync-rules.yml"
    );
    let (mut prometheus, addr) = start_prometheus(dir.path(), &daemon.listen, Some(rules));
    let end = Instant::now() + Duration::from_secs(60);
    let firing = loop {
        let alerts = std::panic::catch_unwind(|| http_get(&addr, "/api/v1/alerts"))
            .ok()
            .filter(|(code, _)| *code == 200)
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok());
        let found = alerts.and_then(|v| {
            v["data"]["alerts"].as_array()?.iter().find_map(|a| {
                (a["labels"]["alertname"] == "OrgsyncSyncFailed" && a["state"] == "firing")
                    .then(|| a.clone())
            })
        });
        if let Some(a) = found {
            break a;
        }
        if Instant::now() > end {
            let _ = prometheus.kill();
            panic!("OrgsyncSyncFailed never fired");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    assert_eq!(firing["labels"]["workspace"], "acme");
    assert_eq!(firing["labels"]["trigger"], "signal");
    assert_eq!(daemon.stop().0, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_prometheus_scrapes_the_metrics_endpoint() {
    let sim = github_sim(Duration::ZERO).await;
    let dir = tempfile::tempdir().expect("dir");
    let url = sqlite_url(dir.path());
    let config = write_config(
        dir.path(),
        &url,
        "0 3 1 1 *",
        &workspace_toml("acme", &sim, ""),
    );
    let daemon = Daemon::start(&config, &[("SIM_TOKEN", sim.token().to_string())]);
    let store = Store::open(&url).await.expect("store");
    daemon.signal("USR1");
    wait_for_runs(&store, "acme", 1, Duration::from_secs(15)).await;

    let (mut prometheus, addr) = start_prometheus(dir.path(), &daemon.listen, None);
    let query = |q: &str| -> Option<serde_json::Value> {
        let (code, body) =
            std::panic::catch_unwind(|| http_get(&addr, &format!("/api/v1/query?query={q}")))
                .ok()?;
        if code != 200 {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let result = v["data"]["result"].as_array()?.first()?.clone();
        Some(result)
    };
    let end = Instant::now() + Duration::from_secs(60);
    let (runs_total, last_success) = loop {
        if let (Some(a), Some(b)) = (
            query("orgsync_sync_runs_total{outcome=\"ok\",trigger=\"signal\"}"),
            query("orgsync_last_success_timestamp_seconds"),
        ) {
            break (a, b);
        }
        if Instant::now() > end {
            let _ = prometheus.kill();
            panic!("Prometheus never returned the metrics");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let _ = prometheus.kill();
    let _ = prometheus.wait();
    assert_eq!(runs_total["metric"]["workspace"], "acme");
    assert_eq!(runs_total["metric"]["outcome"], "ok");
    assert_eq!(runs_total["value"][1], "1");
    let ts: f64 = last_success["value"][1]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("a timestamp");
    assert!(
        (ts - chrono::Utc::now().timestamp() as f64).abs() < 120.0,
        "last success {ts}"
    );
    assert_eq!(daemon.stop().0, Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn three_replicas_on_postgres_serve_each_tick_once_and_survive_a_kill() {
    let Ok(base) = std::env::var("ORGSYNC_TEST_POSTGRES_URL") else {
        eprintln!("ORGSYNC_TEST_POSTGRES_URL is unset: skipping the replica test");
        return;
    };
    let url = support::fresh_pg_database(&base).await;
    // Each run takes a few requests of 20 ms; the pacing limit is lifted because all ten
    // workspaces share one simulated host (real ones rarely do).
    let sim = github_sim(Duration::from_millis(20)).await;
    let dir = tempfile::tempdir().expect("dir");
    let names: Vec<String> = (0..10).map(|i| format!("ws{i}")).collect();
    let mut workspaces: String = names.iter().map(|n| workspace_toml(n, &sim, "")).collect();
    workspaces.push_str("\n[http]\nrequests_per_second = 1000\nburst = 1000\n");
    let config = write_config(dir.path(), &url, "*/2 * * * * *", &workspaces);
    let env = [("SIM_TOKEN", sim.token().to_string())];
    let mut replicas: Vec<Daemon> = (0..3).map(|_| Daemon::start(&config, &env)).collect();
    let store = Store::open(&url).await.expect("store");
    let mut conn = support::postgres_conn(&store).await.expect("postgres");

    tokio::time::sleep(Duration::from_secs(7)).await;
    // Kill one replica hard, probably in the middle of a run (each run takes several requests
    // of 100 ms), then let the others serve the next ticks.
    let victim = replicas.remove(0);
    let killed_at = chrono::Utc::now();
    let mut victim = victim;
    victim.child.kill().expect("kill -9");
    let _ = victim.child.wait();
    tokio::time::sleep(Duration::from_secs(7)).await;
    for r in replicas {
        assert_eq!(r.stop().0, Some(0));
    }

    for name in &names {
        let ticks: Vec<(chrono::DateTime<chrono::Utc>, String)> = sqlx::query_as(
            "SELECT tick_at, claimed_by FROM schedule_ticks WHERE workspace = $1 ORDER BY tick_at",
        )
        .bind(name)
        .fetch_all(&mut conn)
        .await
        .expect("ticks");
        let runs: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sync_runs r JOIN workspaces w ON w.id = r.workspace_id
             WHERE w.name = $1 AND r.trigger = 'schedule'",
        )
        .bind(name)
        .fetch_one(&mut conn)
        .await
        .expect("runs");
        assert!(
            ticks.len() >= 5,
            "{name}: only {} ticks served",
            ticks.len()
        );
        // Each claimed tick is one run, except a tick whose replica was killed mid-run.
        let killed_mid_run = ticks
            .iter()
            .filter(|(t, _)| (*t - killed_at).num_seconds().abs() <= 2)
            .count() as i64;
        assert!(
            runs <= ticks.len() as i64 && runs >= ticks.len() as i64 - killed_mid_run,
            "{name}: {runs} runs for {} ticks",
            ticks.len()
        );
        // Ticks after the kill were served by the survivors, with no gap.
        let after: Vec<_> = ticks
            .iter()
            .filter(|(t, _)| *t > killed_at + chrono::Duration::seconds(2))
            .collect();
        assert!(after.len() >= 2, "{name}: ticks after the kill: {after:?}");
        for pair in after.windows(2) {
            assert_eq!(
                (pair[1].0 - pair[0].0).num_seconds(),
                2,
                "{name}: a tick was skipped: {after:?}"
            );
        }
    }
}

/// A local HTTP endpoint that answers 200 and keeps every request body it receives.
fn notification_listener() -> (String, Arc<Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&bodies);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Headers, then as many body bytes as Content-Length says.
            let body = loop {
                let Ok(n) = s.read(&mut chunk) else {
                    break None;
                };
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        break Some(body.to_string());
                    }
                }
            };
            if let Some(b) = body {
                sink.lock().expect("bodies").push(b);
            }
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (addr, bodies)
}

fn cli(config: &std::path::Path, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("SIM_TOKEN", "sim-github-token")
        .stdin(Stdio::null())
        .output()
        .expect("run orgsync");
    (
        out.status.code(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Holds, end to end: a mass removal is held (status, gauge, one notification), `plans show`
/// prints it, the world changes so the plan grows and `approve` refuses with the difference,
/// the world settles and `approve --yes` applies exactly the held offboards.
#[tokio::test(flavor = "multi_thread")]
async fn a_held_mass_removal_is_shown_refused_when_it_grows_and_approved_as_read() {
    use orgsync_simulator::github::Mutation;
    let sim = github_sim(Duration::ZERO).await;
    let org_login = org(&sim);
    let scenario = sim.scenario().github.expect("github");
    let dir = tempfile::tempdir().expect("dir");
    let url = sqlite_url(dir.path());
    let (notify_addr, bodies) = notification_listener();
    let config = write_config(
        dir.path(),
        &url,
        "0 3 1 1 *",
        &format!(
            "[[notify]]\nurl = \"http://{notify_addr}/hook\"\n\n{}",
            workspace_toml("acme", &sim, "")
        ),
    );
    let token = sim.token().to_string();
    let store = Store::open(&url).await.expect("store");
    let (code, out) = cli(&config, &["sync"]);
    assert_eq!(code, Some(0), "{out}");
    let members = &scenario.orgs[0].members;
    let login_of = |id: u64| {
        scenario
            .users
            .iter()
            .find(|u| u.id == id)
            .map(|u| u.login.clone())
            .expect("user")
    };
    // Seven non-admins leave: more than 10 % and more than 5.
    let leaving: Vec<u64> = members
        .iter()
        .filter(|m| m.role == orgsync_simulator::scenario::OrgRole::Member)
        .map(|m| m.user)
        .take(8)
        .collect();
    assert_eq!(leaving.len(), 8, "the scenario has 8 plain members");
    for id in &leaving[..7] {
        sim.mutate(Mutation::RemoveMember {
            org: org_login.clone(),
            login: login_of(*id),
        })
        .await
        .expect("mutation");
    }

    let daemon = Daemon::start(&config, &[("SIM_TOKEN", token.clone())]);
    daemon.signal("USR1");
    wait_for_runs(&store, "acme", 2, Duration::from_secs(15)).await;
    daemon.signal("USR1");
    let runs = wait_for_runs(&store, "acme", 3, Duration::from_secs(15)).await;
    assert!(
        runs.iter().take(2).all(|r| r.outcome == "aborted"),
        "{runs:?}"
    );
    let (_, metrics) = daemon.get("/metrics");
    assert!(
        metrics.contains("orgsync_workspace_held{workspace=\"acme\"} 1"),
        "{metrics}"
    );
    assert_eq!(daemon.stop().0, Some(0));
    let sent = bodies.lock().expect("bodies").clone();
    assert_eq!(sent.len(), 1, "one notification for one hold: {sent:?}");
    let note: serde_json::Value = serde_json::from_str(&sent[0]).expect("json");
    assert_eq!(note["event"], "hold_started");
    assert_eq!(note["counts"]["offboard"], 7);
    assert!(
        note["text"]
            .as_str()
            .is_some_and(|t| t.contains("orgsync plans show --workspace acme")),
        "{note}"
    );
    let holds = store.holds(Some("acme")).await.expect("holds");
    assert_eq!(holds.len(), 1);
    assert_eq!(holds[0].runs, 2, "the second run noted `still held`");

    let (code, status) = cli(&config, &["status"]);
    assert_eq!(code, Some(0), "{status}");
    assert!(status.contains("HELD"), "{status}");
    assert!(status.contains("7 offboard"), "{status}");
    let (code, shown) = cli(&config, &["plans", "show", "--workspace", "acme"]);
    assert_eq!(code, Some(0), "{shown}");
    for id in &leaving[..7] {
        assert!(
            shown.contains(&format!("- offboard {}", login_of(*id))),
            "{shown}"
        );
    }
    let (_, json) = cli(&config, &["plans", "show", "--workspace", "acme", "--json"]);
    let held: serde_json::Value = serde_json::from_str(&json).expect("structured JSON");
    assert_eq!(held["counts"]["offboard"], 7);
    assert!(
        held["plan"]["changes"].is_array(),
        "the plan is JSON, not a string"
    );

    // The world moves on: an eighth member leaves. Approving now would apply what nobody read.
    let eighth = login_of(leaving[7]);
    sim.mutate(Mutation::RemoveMember {
        org: org_login.clone(),
        login: eighth.clone(),
    })
    .await
    .expect("mutation");
    let (code, refused) = cli(&config, &["approve", "--workspace", "acme", "--yes"]);
    assert_eq!(code, Some(3), "{refused}");
    assert!(refused.contains("NOT approved"), "{refused}");
    assert!(
        refused.contains(&format!("- offboard {eighth}")),
        "{refused}"
    );
    assert_eq!(store.holds(Some("acme")).await.expect("holds").len(), 1);
    let (code, no_tty) = cli(&config, &["approve", "--workspace", "acme"]);
    assert_eq!(code, Some(2), "no terminal and no --yes: {no_tty}");

    // The world settles (the eighth comes back): approve applies exactly the held offboards.
    let user = scenario
        .users
        .iter()
        .find(|u| u.id == leaving[7])
        .expect("user")
        .clone();
    sim.mutate(Mutation::AddMember {
        org: org_login.clone(),
        user,
        role: orgsync_simulator::scenario::OrgRole::Member,
    })
    .await
    .expect("mutation");
    let (code, applied) = cli(&config, &["approve", "--workspace", "acme", "--yes"]);
    assert_eq!(code, Some(0), "{applied}");
    let offboarded: std::collections::BTreeSet<String> = store
        .list_users(Some("acme"), Some("offboarded"))
        .await
        .expect("users")
        .into_iter()
        .filter_map(|u| u.login)
        .collect();
    let expected: std::collections::BTreeSet<String> =
        leaving[..7].iter().map(|id| login_of(*id)).collect();
    assert_eq!(offboarded, expected);
    assert!(store.holds(Some("acme")).await.expect("holds").is_empty());
    let audit = store.audit(Some("acme"), None, None).await.expect("audit");
    assert!(audit.iter().any(|e| e.action == "hold_released"));
}
