//! A short soak of `orgsync run`: 30 s of SIGUSR1 storms (every 50 ms) while the simulated
//! GitHub injects faults that change every 3 s (server errors, malformed and cut bodies, dropped
//! connections, slow answers, secondary rate limits, all with a probability), with the daemon's
//! resident memory sampled every 500 ms from /proc. It prints the figures (memory over time,
//! runs by outcome, signals sent); it asserts only that the daemon stayed up and healthy, that
//! runs went on, that a fault never offboarded anyone, and that memory did not keep growing
//! (the last quarter's median within 3x + 50 MB of the first quarter's). No timing is asserted.

use orgsync::directory::Store;
use orgsync_simulator::github::GithubServer;
use orgsync_simulator::scenario::{Scenario, SyntheticSize};
use orgsync_simulator::server::{FaultAction, FaultRule, FaultTimes, ServerOptions};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SOAK: Duration = Duration::from_secs(30);

fn rss_kb(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
}

fn healthz(addr: &str) -> u16 {
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(
        s,
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigusr1_storms_and_injected_faults_keep_the_daemon_up_with_flat_memory() {
    let sim = GithubServer::start(
        Scenario::synthetic(
            31,
            SyntheticSize {
                members: 150,
                repos: 10,
                teams: 6,
            },
        ),
        ServerOptions {
            rate_limit: u64::MAX / 4,
            ..ServerOptions::default()
        },
    )
    .await
    .expect("simulator");
    let org = sim.scenario().github.expect("github").orgs[0].login.clone();
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("directory.db").display());
    let config = dir.path().join("orgsync.toml");
    std::fs::write(
        &config,
        format!(
            "[directory]\nurl = \"{url}\"\n\n[daemon]\nschedule = \"0 3 1 1 *\"\ntimezone = \"UTC\"\n\
             listen = \"127.0.0.1:0\"\nrun_on_start = false\n\n[http]\nrequests_per_second = 5000\nburst = 5000\n\
             request_timeout_seconds = 5\n\n\
             [[workspace]]\nname = \"acme\"\nprovider = \"github\"\norganization = \"{org}\"\n\
             api_url = \"{}\"\ntoken_env = \"SIM_TOKEN\"\nadmit = \"all-members\"\n",
            sim.base_url()
        ),
    )
    .expect("config");

    let mut child = Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .env_remove("ORGSYNC_CONFIG")
        .env_remove("NOTIFY_SOCKET")
        .env("ORGSYNC_LOG", "info")
        .env("SIM_TOKEN", sim.token())
        .arg("--config")
        .arg(&config)
        .args(["--log-format", "json", "run"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start orgsync run");
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&lines);
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            sink.lock().expect("lines").push(line);
        }
    });
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Reap(child);
    let pid = child.0.id();
    let end = Instant::now() + Duration::from_secs(30);
    let listen = loop {
        let found = lines
            .lock()
            .expect("lines")
            .iter()
            .find(|l| l.contains("orgsync daemon started"))
            .cloned();
        if let Some(line) = found {
            let v: serde_json::Value = serde_json::from_str(&line).expect("json");
            break v["fields"]["listen"].as_str().expect("listen").to_string();
        }
        assert!(Instant::now() < end, "daemon did not start");
        std::thread::sleep(Duration::from_millis(50));
    };

    // A first clean run, so that a fault later could only ever wrongly offboard.
    let store = Store::open(&url).await.expect("store");
    Command::new("kill")
        .args(["-USR1", &pid.to_string()])
        .status()
        .expect("kill");
    let first_end = Instant::now() + Duration::from_secs(60);
    while store
        .recent_runs(Some("acme"), 10)
        .await
        .expect("runs")
        .is_empty()
    {
        assert!(Instant::now() < first_end, "no first run");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let active_before = store
        .list_users(Some("acme"), Some("active"))
        .await
        .map(|u| u.len())
        .unwrap_or(0);

    let faults: Vec<(&str, FaultAction)> = vec![
        (
            "/orgs/*/members",
            FaultAction::Status {
                status: 502,
                body: None,
            },
        ),
        ("/orgs/*/teams", FaultAction::MalformedJson),
        ("*", FaultAction::TruncatedJson),
        (
            "/orgs/*/members",
            FaultAction::Status {
                status: 404,
                body: None,
            },
        ),
        ("/orgs/*/members", FaultAction::DropConnection),
        ("*", FaultAction::Delay { ms: 300 }),
        (
            "*",
            FaultAction::SecondaryRateLimit {
                retry_after_secs: Some(1),
            },
        ),
        (
            "/orgs/*",
            FaultAction::Status {
                status: 500,
                body: None,
            },
        ),
    ];
    let started = Instant::now();
    let mut samples: Vec<(f64, u64)> = Vec::new();
    let mut signals = 0u32;
    let mut phase = usize::MAX;
    while started.elapsed() < SOAK {
        let now = started.elapsed();
        let this_phase = (now.as_secs() / 3) as usize;
        if this_phase != phase {
            phase = this_phase;
            sim.handle().clear_faults();
            // Every other phase is clean, so runs also succeed in between.
            if phase % 2 == 1 {
                let (path, action) = &faults[(phase / 2) % faults.len()];
                sim.handle().add_fault(
                    FaultRule::new(*path, action.clone()).times(FaultTimes::Probability(0.6)),
                );
            }
        }
        let ok = Command::new("kill")
            .args(["-USR1", &pid.to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "the daemon is gone after {now:?}");
        signals += 1;
        if let Some(kb) = rss_kb(pid)
            && samples
                .last()
                .is_none_or(|(t, _)| now.as_secs_f64() - t >= 0.5)
        {
            samples.push((now.as_secs_f64(), kb));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sim.handle().clear_faults();

    assert_eq!(healthz(&listen), 200, "the daemon still answers");
    let runs = store
        .recent_runs(Some("acme"), 100_000)
        .await
        .expect("runs");
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for r in &runs {
        *outcomes.entry(r.outcome.clone()).or_default() += 1;
    }
    let offboarded: i64 = runs.iter().map(|r| r.offboarded).sum();
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    let status = child.0.wait().expect("wait");
    let log = lines.lock().expect("lines").join("\n");

    let quarter = (samples.len() / 4).max(1);
    let first: Vec<u64> = samples.iter().take(quarter).map(|s| s.1).collect();
    let last: Vec<u64> = samples.iter().rev().take(quarter).map(|s| s.1).collect();
    let (first, last) = (median(first), median(last));
    let peak = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let every_5s: Vec<String> = samples
        .iter()
        .filter(|(t, _)| (*t % 5.0) < 0.5)
        .map(|(t, kb)| format!("{t:.0}s {} MB", kb / 1024))
        .collect();
    eprintln!(
        "soak: {:.0} s, {signals} SIGUSR1, {} runs {outcomes:?}, {} active members before and \
         offboarded {offboarded}; RSS first quarter median {} MB, last quarter median {} MB, \
         peak {} MB; samples {every_5s:?}",
        SOAK.as_secs_f64(),
        runs.len(),
        active_before,
        first / 1024,
        last / 1024,
        peak / 1024
    );
    assert_eq!(status.code(), Some(0), "SIGTERM after the soak exits 0");
    assert!(!log.contains("panicked"), "a panic in the log");
    assert!(runs.len() > 3, "runs went on: {outcomes:?}");
    assert_eq!(offboarded, 0, "a fault never offboards: {outcomes:?}");
    assert!(
        last <= first * 3 + 50 * 1024,
        "memory kept growing: {first} kB -> {last} kB"
    );
}
