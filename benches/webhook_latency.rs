//! Webhook latency: how long after GitHub delivers `organization.member_removed` the member is
//! offboarded in the directory, p50 and p99 over 200 events, for the default debounce (2000 ms)
//! and for 200 ms.
//!
//! The real `orgsync run` daemon (this package's binary, built by `cargo bench` with the release
//! settings) serves a GitHub workspace on the simulator (20 ms per request); the simulator's
//! mutation API removes one member at a time and delivers the signed webhook; the benchmark
//! polls the SQLite directory until that membership is `offboarded`. Events are sent one after
//! the other, each after the previous one landed, so each figure is one event's latency and not
//! a queue's.
//!
//! `cargo bench --bench webhook_latency [-- EVENTS]`

use orgsync::directory::Store;
use orgsync_simulator::github::{GithubServer, Mutation};
use orgsync_simulator::scenario::{MembershipState, OrgRole, Scenario, SyntheticSize};
use orgsync_simulator::server::{ServerOptions, WebhookTarget};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "a webhook secret for the benchmark";

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

fn start_daemon(config: &std::path::Path, token: &str) -> Result<Daemon, String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .arg("--config")
        .arg(config)
        .args(["--log-format", "json", "run"])
        .env("SIM_TOKEN", token)
        .env("ORGSYNC_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start orgsync run: {e}"))?;
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&lines);
    let stderr = child.stderr.take().expect("piped stderr");
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
            let v: serde_json::Value = serde_json::from_str(&line).map_err(|e| e.to_string())?;
            let listen = v["fields"]["listen"]
                .as_str()
                .ok_or("no listen address in the start line")?
                .to_string();
            return Ok(Daemon { child, listen });
        }
        if Instant::now() > end {
            return Err("the daemon did not start within 30 s".to_string());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Latencies in seconds for `events` removals with the given debounce.
async fn measure(debounce_ms: u64, events: usize) -> Result<Vec<f64>, String> {
    // Every active member is admitted (`all-members`), so every removal is an offboarding.
    let scenario = Scenario::synthetic(
        7,
        SyntheticSize {
            members: 1_000,
            repos: 100,
            teams: 20,
        },
    );
    let sim = GithubServer::start(
        scenario,
        ServerOptions {
            latency: Duration::from_millis(20),
            rate_limit: 100_000_000,
            ..ServerOptions::default()
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    let github = sim.scenario().github.ok_or("no github section")?;
    let org = github.orgs.first().ok_or("no organisation")?.clone();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let url = format!("sqlite://{}", dir.path().join("directory.db").display());
    let secret_file = dir.path().join("webhook-secret");
    std::fs::write(&secret_file, SECRET).map_err(|e| e.to_string())?;
    let config = dir.path().join("orgsync.toml");
    std::fs::write(
        &config,
        format!(
            "[directory]\nurl = \"{url}\"\n\n[daemon]\nschedule = \"0 3 1 1 *\"\nlisten = \"127.0.0.1:0\"\nrun_on_start = true\nwebhook_debounce_ms = {debounce_ms}\n\n\
             [[workspace]]\nname = \"acme\"\nprovider = \"github\"\norganization = \"{}\"\napi_url = \"{}\"\ntoken_env = \"SIM_TOKEN\"\nadmit = \"all-members\"\nwebhook_secret_file = \"{}\"\n",
            org.login,
            sim.base_url(),
            secret_file.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let daemon = start_daemon(&config, sim.token())?;
    sim.handle().set_webhook(Some(WebhookTarget {
        url: format!("http://{}/webhooks/github/acme", daemon.listen),
        secret: SECRET.to_string(),
    }));
    let store = Store::open(&url).await.map_err(|e| e.to_string())?;
    // The start-up run is a full sync; wait for it.
    let end = Instant::now() + Duration::from_secs(300);
    loop {
        let runs = store
            .recent_runs(Some("acme"), 10)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(run) = runs.iter().find(|r| r.trigger == "start") {
            if run.outcome == "ok" {
                break;
            }
            return Err(format!(
                "the start-up sync ended {}: {}",
                run.outcome,
                run.error.clone().unwrap_or_default()
            ));
        }
        if Instant::now() > end {
            return Err("the start-up sync did not finish within 300 s".to_string());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let victims: Vec<String> = org
        .members
        .iter()
        .filter(|m| m.state == MembershipState::Active && m.role == OrgRole::Member)
        .filter_map(|m| github.user(m.user))
        .filter(|u| !u.suspended && !u.bot)
        .map(|u| u.login.clone())
        .take(events)
        .collect();
    if victims.len() < events {
        return Err(format!("only {} members to remove", victims.len()));
    }
    let mut latencies = Vec::with_capacity(events);
    for victim in victims {
        let started = Instant::now();
        let delivery = sim
            .mutate(Mutation::RemoveMember {
                org: org.login.clone(),
                login: victim.clone(),
            })
            .await
            .map_err(|e| e.to_string())?
            .ok_or("no webhook was delivered")?;
        if delivery.status != Some(200) {
            return Err(format!(
                "the daemon answered the delivery {:?}",
                delivery.status
            ));
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let users = store
                .list_users(Some("acme"), Some("offboarded"))
                .await
                .map_err(|e| e.to_string())?;
            if users
                .iter()
                .any(|u| u.login.as_deref() == Some(victim.as_str()))
            {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("{victim} was not offboarded within 60 s"));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        latencies.push(started.elapsed().as_secs_f64());
    }
    drop(daemon);
    sim.shutdown().await;
    Ok(latencies)
}

/// The value below which `p` of the sorted samples fall (nearest rank).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() {
    let events: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(200);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    println!(
        "| webhook_debounce_ms | events | p50 s | p99 s | max s |\n|---:|---:|---:|---:|---:|"
    );
    for debounce in [2000, 200] {
        match runtime.block_on(measure(debounce, events)) {
            Ok(mut l) => {
                l.sort_by(f64::total_cmp);
                println!(
                    "| {debounce} | {} | {:.3} | {:.3} | {:.3} |",
                    l.len(),
                    percentile(&l, 50.0),
                    percentile(&l, 99.0),
                    l.last().copied().unwrap_or(0.0)
                );
            }
            Err(e) => println!("| {debounce} | 0 | skipped: {e} | | |"),
        }
    }
}
