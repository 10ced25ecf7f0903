//! The `orgsync-sim` binary serves a synthetic organisation and prints its URLs and tokens.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Kills the child even when an assertion fails, so no server outlives the test.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn binary_prints_base_url_and_tokens_and_serves_them() {
    let child = Command::new(env!("CARGO_BIN_EXE_orgsync-sim"))
        .args(["--synthetic", "5:40:10:4", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let mut child = Child(child);
    let stdout = child.0.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut url = None;
    let mut token = None;
    for line in lines.by_ref() {
        let line = line.expect("utf-8 line");
        if let Some(rest) = line.strip_prefix("github      ") {
            url = Some(rest.trim().to_string());
        }
        if let Some(rest) = line.strip_prefix("token       ")
            && rest.contains("all scopes")
        {
            token = rest.split_whitespace().next().map(str::to_string);
        }
        if line.starts_with("control") {
            break;
        }
    }
    let (url, token) = (
        url.expect("base URL printed"),
        token.expect("token printed"),
    );
    let members: Vec<serde_json::Value> = reqwest::Client::new()
        .get(format!("{url}/orgs/acme/members?per_page=100"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    // 40 members, none pending below 50 members (2 % rounds down to 0).
    assert_eq!(members.len(), 40);
}

#[test]
fn binary_rejects_a_bad_synthetic_spec_with_usage_error() {
    let status = Command::new(env!("CARGO_BIN_EXE_orgsync-sim"))
        .args(["--synthetic", "5:forty"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("runs");
    assert_eq!(status.code(), Some(2));
}
