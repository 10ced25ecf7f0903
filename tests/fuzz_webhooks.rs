//! Fuzzing the daemon's webhook route over real HTTP: a running `orgsync run` with a GitHub, a
//! GitLab and a Bitbucket workspace gets arbitrary bytes and structure-aware mutations of the
//! providers' official webhook payloads (vendored in `providers/simulator/api/*/webhooks/`),
//! under real and random event names, correctly signed (so they reach the parser), wrongly
//! signed or unsigned. Every answer must be a deliberate one (200, 202, 400, 401, 404 or 413 with
//! a message), never a dropped connection or a 5xx, and afterwards the daemon is alive, healthy
//! and has logged no panic. Syncs are held back by a long debounce, so this measures the route
//! alone. The inputs are counted and printed. Bounded: 1,500 requests, about 10 s.

use hmac::{Hmac, Mac};
use orgsync_simulator::bitbucket::BitbucketServer;
use orgsync_simulator::github::GithubServer;
use orgsync_simulator::gitlab::GitlabServer;
use orgsync_simulator::scenario::Scenario;
use orgsync_simulator::server::ServerOptions;
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use serde_json::Value;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CASES: u32 = 1500;
const SECRET: &str = "a webhook secret for the fuzzer";

fn payloads(provider: &str) -> Vec<(String, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("providers/simulator/api")
        .join(provider)
        .join("webhooks");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("webhook examples") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Ok(v) = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string()))
        {
            out.push((name, v));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty(), "no payloads in {}", dir.display());
    out
}

/// GitHub: `member.added.json` -> `member`; GitLab: `member_hook.x.json` -> `Member Hook`.
fn event_of(provider: &str, file: &str) -> String {
    let first = file.split('.').next().unwrap_or("");
    if provider == "gitlab" {
        first
            .split('_')
            .map(|w| {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        first.to_string()
    }
}

fn hostile(i: usize) -> Value {
    let values = [
        Value::Null,
        serde_json::json!(-1),
        serde_json::json!(u64::MAX),
        serde_json::json!(i64::MIN),
        serde_json::json!(1e308),
        serde_json::json!(""),
        serde_json::json!("\u{1b}]0;owned\u{7}"),
        serde_json::json!("line\nforged"),
        serde_json::json!("x".repeat(5000)),
        serde_json::json!([]),
        serde_json::json!({}),
        serde_json::json!(true),
        serde_json::json!("18446744073709551616"),
    ];
    values[i % values.len()].clone()
}

fn pointers(v: &Value, at: &str, out: &mut Vec<String>) {
    out.push(at.to_owned());
    match v {
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, &format!("{at}/{i}"), out);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                let key = k.replace('~', "~0").replace('/', "~1");
                pointers(x, &format!("{at}/{key}"), out);
            }
        }
        _ => {}
    }
}

fn mutate(doc: &mut Value, node: usize, op: usize, arg: usize) {
    let mut all = Vec::new();
    pointers(doc, "", &mut all);
    let at = &all[node % all.len()];
    let Some(target) = doc.pointer_mut(at) else {
        return;
    };
    match op % 4 {
        0 | 1 => *target = hostile(arg),
        2 => match target {
            Value::Object(m) if !m.is_empty() => {
                let key = m.keys().nth(arg % m.len()).cloned().unwrap_or_default();
                m.remove(&key);
            }
            other => *other = Value::Null,
        },
        _ => *target = Value::Array(vec![target.take()]),
    }
}

#[derive(Debug, Clone)]
enum Body {
    Bytes(Vec<u8>),
    Mutated {
        payload: usize,
        edits: Vec<(usize, usize, usize)>,
    },
}

#[derive(Debug, Clone)]
enum Signing {
    Right,
    Wrong,
    Missing,
}

fn input() -> impl Strategy<Value = (usize, Body, Option<String>, Signing, bool)> {
    let body = prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..1500).prop_map(Body::Bytes),
        3 => (
            any::<usize>(),
            prop::collection::vec((any::<usize>(), any::<usize>(), any::<usize>()), 0..4)
        )
            .prop_map(|(payload, edits)| Body::Mutated { payload, edits }),
    ];
    let event = prop::option::weighted(0.3, "[ -~]{0,30}");
    let signing = prop_oneof![
        6 => Just(Signing::Right),
        1 => Just(Signing::Wrong),
        1 => Just(Signing::Missing),
    ];
    (0usize..3, body, event, signing, any::<bool>())
}

fn hmac_hex(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("hmac key");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One POST; the status code, or 0 when the connection broke without an answer.
fn post(addr: &str, path: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, String) {
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return (0, "connect failed".into());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    if s.write_all(req.as_bytes()).is_err() || s.write_all(body).is_err() {
        return (0, "write failed".into());
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out).into_owned();
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

fn get(addr: &str, path: &str) -> u16 {
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return 0;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    );
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzed_webhooks_get_a_deliberate_answer_and_the_daemon_stays_up() {
    let root = env!("CARGO_MANIFEST_DIR");
    let github = GithubServer::start(
        Scenario::from_file(format!(
            "{root}/providers/simulator/scenarios/github-edge-cases.toml"
        ))
        .expect("scenario"),
        ServerOptions::default(),
    )
    .await
    .expect("simulated GitHub");
    let gitlab = GitlabServer::start(
        Scenario::from_file(format!(
            "{root}/providers/simulator/scenarios/gitlab-edge-cases.toml"
        ))
        .expect("scenario"),
        ServerOptions::default(),
    )
    .await
    .expect("simulated GitLab");
    let bitbucket = BitbucketServer::start(
        Scenario::from_file(format!(
            "{root}/providers/simulator/scenarios/bitbucket-edge-cases.toml"
        ))
        .expect("scenario"),
        ServerOptions::default(),
    )
    .await
    .expect("simulated Bitbucket");
    let (bb_email, bb_token) = bitbucket.credential();
    let bb_email = bb_email.expect("an API token with its e-mail").to_string();

    let dir = tempfile::tempdir().expect("dir");
    let secret = dir.path().join("webhook-secret");
    std::fs::write(&secret, SECRET).expect("secret");
    let token = |name: &str, value: &str| {
        use std::os::unix::fs::PermissionsExt;
        let p = dir.path().join(name);
        std::fs::write(&p, value).expect("token");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        p
    };
    let config = dir.path().join("orgsync.toml");
    std::fs::write(
        &config,
        format!(
            "[directory]\nurl = \"sqlite://{db}\"\n\n[daemon]\nschedule = \"0 3 1 1 *\"\ntimezone = \"UTC\"\n\
             listen = \"127.0.0.1:0\"\nrun_on_start = false\nwebhook_debounce_ms = 3600000\n\n\
             [[workspace]]\nname = \"gh\"\nprovider = \"github\"\norganization = \"acme\"\napi_url = \"{gh}\"\n\
             token_file = \"{ght}\"\nwebhook_secret_file = \"{secret}\"\n\n\
             [[workspace]]\nname = \"gl\"\nprovider = \"gitlab\"\ngroup = \"acme\"\napi_url = \"{gl}\"\n\
             token_file = \"{glt}\"\nwebhook_secret_file = \"{secret}\"\n\n\
             [[workspace]]\nname = \"bb\"\nprovider = \"bitbucket\"\nworkspace = \"acme\"\napi_url = \"{bb}\"\n\
             username = \"{bb_email}\"\ntoken_file = \"{bbt}\"\nwebhook_secret_file = \"{secret}\"\n",
            db = dir.path().join("directory.db").display(),
            gh = github.base_url(),
            ght = token("gh-token", github.token()).display(),
            gl = gitlab.base_url(),
            glt = token("gl-token", gitlab.token()).display(),
            bb = bitbucket.base_url(),
            bbt = token("bb-token", bb_token).display(),
            secret = secret.display(),
        ),
    )
    .expect("config");

    let mut child = Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .env_remove("ORGSYNC_CONFIG")
        .env("ORGSYNC_LOG", "info")
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
    let end = Instant::now() + Duration::from_secs(30);
    let listen = loop {
        let found = lines
            .lock()
            .expect("lines")
            .iter()
            .find(|l| l.contains("orgsync daemon started"))
            .cloned();
        if let Some(line) = found {
            let v: Value = serde_json::from_str(&line).expect("json");
            break v["fields"]["listen"].as_str().expect("listen").to_string();
        }
        assert!(
            Instant::now() < end,
            "daemon did not start: {:?}",
            lines.lock().expect("lines")
        );
        std::thread::sleep(Duration::from_millis(50));
    };

    let examples = [payloads("github"), payloads("gitlab")];
    let providers = ["github", "gitlab", "bitbucket"];
    let workspaces = ["gh", "gl", "bb"];
    let sent = AtomicU32::new(0);
    let statuses = Mutex::new(BTreeMap::<u16, u32>::new());
    let mut runner = TestRunner::new(RunnerConfig {
        cases: CASES,
        failure_persistence: None,
        ..RunnerConfig::default()
    });
    let listen_ref = &listen;
    let result = tokio::task::block_in_place(|| {
        runner.run(&input(), |(p, body, event, signing, fresh_id)| {
            let n = sent.fetch_add(1, Ordering::Relaxed);
            let provider = providers[p];
            let (bytes, real_event) = match &body {
                Body::Bytes(b) => (b.clone(), None),
                Body::Mutated { payload, edits } => {
                    // Bitbucket has no official examples here: it gets GitHub's.
                    let set = &examples[if provider == "gitlab" { 1 } else { 0 }];
                    let (file, doc) = &set[payload % set.len()];
                    let mut doc = doc.clone();
                    for (node, op, arg) in edits {
                        mutate(&mut doc, *node, *op, *arg);
                    }
                    let real = event_of(
                        if provider == "gitlab" {
                            "gitlab"
                        } else {
                            "github"
                        },
                        file,
                    );
                    (serde_json::to_vec(&doc).expect("json"), Some(real))
                }
            };
            let event = event.or(real_event).unwrap_or_default();
            let id = if fresh_id {
                format!("fuzz-{n}")
            } else {
                "fuzz-repeated".to_string()
            };
            let mut headers: Vec<(&str, String)> = Vec::new();
            match provider {
                "github" => {
                    headers.push(("X-GitHub-Event", event.clone()));
                    headers.push(("X-GitHub-Delivery", id));
                    match signing {
                        Signing::Right => headers.push((
                            "X-Hub-Signature-256",
                            format!("sha256={}", hmac_hex(&bytes)),
                        )),
                        Signing::Wrong => {
                            headers.push(("X-Hub-Signature-256", "sha256=00".to_string()))
                        }
                        Signing::Missing => {}
                    }
                }
                "gitlab" => {
                    headers.push(("X-Gitlab-Event", event.clone()));
                    headers.push(("X-Gitlab-Event-UUID", id));
                    match signing {
                        Signing::Right => headers.push(("X-Gitlab-Token", SECRET.to_string())),
                        Signing::Wrong => headers.push(("X-Gitlab-Token", "guess".to_string())),
                        Signing::Missing => {}
                    }
                }
                _ => {
                    headers.push(("X-Event-Key", event.clone()));
                    headers.push(("X-Request-UUID", id));
                    match signing {
                        Signing::Right => headers
                            .push(("X-Hub-Signature", format!("sha256={}", hmac_hex(&bytes)))),
                        Signing::Wrong => {
                            headers.push(("X-Hub-Signature", "sha256=zz".to_string()))
                        }
                        Signing::Missing => {}
                    }
                }
            }
            let path = format!("/webhooks/{provider}/{}", workspaces[p]);
            let (status, answer) = post(listen_ref, &path, &headers, &bytes);
            if let Ok(mut s) = statuses.lock() {
                *s.entry(status).or_default() += 1;
            }
            if ![200, 202, 400, 401, 404, 413].contains(&status) {
                return Err(TestCaseError::fail(format!(
                    "{path} answered {status} ({answer:?}) to event {event:?}, {signing:?}"
                )));
            }
            if answer.trim().is_empty() {
                return Err(TestCaseError::fail(format!(
                    "{path}: {status} without a message"
                )));
            }
            if matches!(signing, Signing::Wrong | Signing::Missing) && status != 401 {
                return Err(TestCaseError::fail(format!(
                    "{path}: an unsigned or wrongly signed request got {status}"
                )));
            }
            Ok(())
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert_eq!(get(&listen, "/healthz"), 200, "the daemon still answers");
    assert!(
        child.0.try_wait().expect("wait").is_none(),
        "the daemon is still running"
    );
    let log = lines.lock().expect("lines").join("\n");
    assert!(!log.contains("panicked"), "a panic in the log:\n{log}");
    eprintln!(
        "webhook route: {} requests, answers {:?}, 0 panics, the daemon stayed up",
        sent.load(Ordering::Relaxed),
        statuses.lock().map(|s| s.clone()).unwrap_or_default()
    );
}
