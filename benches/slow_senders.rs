//! Slow senders: the daemon's resident memory while N clients each announce a webhook body just
//! under the limit, send 900 KB of it and stall, for N = 100 and 1,000, with the default limits
//! (all senders come from 127.0.0.1, so the per-source limit of 8 bounds them) and with the
//! per-source limit lifted (as if every sender had its own address, so only the global
//! `webhook_max_in_flight` of 64 bounds them).
//!
//! The real `orgsync run` daemon (this package's binary, built with the release settings) listens
//! on loopback; the figures are VmRSS before the senders connect, once all of them have sent
//! what they will, VmHWM (the peak), and VmRSS after the read timeout cut them off.
//!
//! `cargo bench --bench slow_senders`

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

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

fn start_daemon(config: &std::path::Path) -> Result<Daemon, String> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_orgsync"))
        .arg("--config")
        .arg(config)
        .args(["--log-format", "json", "run"])
        .env("SIM_TOKEN", "unused")
        .env("ORGSYNC_LOG", "info")
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start orgsync run: {e}"))?;
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&lines);
    let stderr = child.stderr.take().ok_or("no stderr")?;
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Ok(mut lines) = sink.lock() {
                lines.push(line);
            }
        }
    });
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let found = lines
            .lock()
            .map_err(|_| "lines")?
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

fn proc_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

struct Figures {
    before: u64,
    during: u64,
    peak: u64,
    after: u64,
    answered: usize,
}

fn measure(senders: usize, per_source: usize) -> Result<Figures, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let secret = dir.path().join("webhook-secret");
    std::fs::write(&secret, "a secret").map_err(|e| e.to_string())?;
    let config = dir.path().join("orgsync.toml");
    std::fs::write(
        &config,
        format!(
            "[directory]\nurl = \"sqlite://{}\"\n[daemon]\nschedule = \"0 3 1 1 *\"\nlisten = \"127.0.0.1:0\"\nrun_on_start = false\nwebhook_max_in_flight_per_source = {per_source}\n\
             [[workspace]]\nname = \"acme\"\nprovider = \"github\"\norganization = \"acme\"\napi_url = \"http://127.0.0.1:9\"\ntoken_env = \"SIM_TOKEN\"\nwebhook_secret_file = \"{}\"\n",
            dir.path().join("d.db").display(),
            secret.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let daemon = start_daemon(&config)?;
    let pid = daemon.child.id();
    std::thread::sleep(Duration::from_millis(500));
    let before = proc_kib(pid, "VmRSS:");

    let sent = Arc::new(Barrier::new(senders + 1));
    let threads: Vec<_> = (0..senders)
        .map(|_| {
            let addr = daemon.listen.clone();
            let sent = Arc::clone(&sent);
            std::thread::Builder::new()
                .stack_size(128 * 1024)
                .spawn(move || {
                    let stream = std::net::TcpStream::connect(&addr);
                    let mut stream = match stream {
                        Ok(s) => s,
                        Err(_) => {
                            sent.wait();
                            return false;
                        }
                    };
                    let head = format!(
                        "POST /webhooks/github/acme HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nX-GitHub-Event: ping\r\nX-Hub-Signature-256: sha256=00\r\n\r\n",
                        1024 * 1024 - 1
                    );
                    let _ = stream.set_write_timeout(Some(Duration::from_secs(3)));
                    let _ = stream.write_all(head.as_bytes());
                    let _ = stream.write_all(&vec![b' '; 900 * 1024]);
                    sent.wait();
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    let mut answer = Vec::new();
                    stream.read_to_end(&mut answer).is_ok() || !answer.is_empty()
                })
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    sent.wait();
    let during = proc_kib(pid, "VmRSS:");
    let answered = threads
        .into_iter()
        .filter_map(|t| t.join().ok())
        .filter(|answered| *answered)
        .count();
    let peak = proc_kib(pid, "VmHWM:");
    std::thread::sleep(Duration::from_secs(1));
    let after = proc_kib(pid, "VmRSS:");
    Ok(Figures {
        before,
        during,
        peak,
        after,
        answered,
    })
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    println!(
        "{:>8} {:>12} {:>12} {:>12} {:>12} {:>12} {:>10}",
        "senders", "per-source", "before MiB", "during MiB", "peak MiB", "after MiB", "answered"
    );
    for per_source in [8, 100_000] {
        for senders in [100, 1000] {
            match measure(senders, per_source) {
                Ok(f) => println!(
                    "{senders:>8} {per_source:>12} {:>12.1} {:>12.1} {:>12.1} {:>12.1} {:>10}",
                    f.before as f64 / 1024.0,
                    f.during as f64 / 1024.0,
                    f.peak as f64 / 1024.0,
                    f.after as f64 / 1024.0,
                    f.answered
                ),
                Err(e) => println!("{senders:>8} {per_source:>12} failed: {e}"),
            }
        }
    }
}
