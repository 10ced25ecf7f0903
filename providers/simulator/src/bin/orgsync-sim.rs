//! `orgsync-sim`: serves a simulated GitHub on loopback until Ctrl-C.
//!
//! ```text
//! orgsync-sim --scenario scenarios/github-edge-cases.toml
//! orgsync-sim --synthetic 7:500:200:40 --port 8080 --latency-ms 20
//! orgsync-sim --gitlab --synthetic 7:1500:400:60     # SEED:MEMBERS:PROJECTS:SUBGROUPS
//! orgsync-sim --bitbucket --synthetic 7:400:250:12   # SEED:MEMBERS:REPOS:GROUPS
//! ```

use clap::Parser;
use orgsync_simulator::bitbucket::BitbucketServer;
use orgsync_simulator::bitbucket::synthetic::BitbucketSize;
use orgsync_simulator::github::GithubServer;
use orgsync_simulator::gitlab::GitlabServer;
use orgsync_simulator::gitlab::synthetic::GitlabSize;
use orgsync_simulator::scenario::{Scenario, SyntheticSize};
use orgsync_simulator::server::ServerOptions;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "orgsync-sim",
    about = "Simulated Git provider APIs for orgsync tests and demos"
)]
struct Options {
    /// Scenario file (.json or .toml).
    #[arg(
        long,
        conflicts_with = "synthetic",
        required_unless_present = "synthetic"
    )]
    scenario: Option<PathBuf>,
    /// A generated organisation: SEED:MEMBERS:REPOS:TEAMS.
    #[arg(long, value_parser = parse_synthetic)]
    synthetic: Option<(u64, SyntheticSize)>,
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Latency added to every API answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Serve the scenario's GitLab section (REST v4 under /api/v4) instead of GitHub; with
    /// --synthetic the numbers are SEED:MEMBERS:PROJECTS:SUBGROUPS.
    #[arg(long, conflicts_with = "bitbucket")]
    gitlab: bool,
    /// Serve the scenario's Bitbucket section (REST 2.0 under /2.0, /1.0/groups, OAuth token
    /// endpoint) instead of GitHub; with --synthetic the numbers are SEED:MEMBERS:REPOS:GROUPS.
    #[arg(long)]
    bitbucket: bool,
}

fn parse_synthetic(text: &str) -> Result<(u64, SyntheticSize), String> {
    let parts: Vec<&str> = text.split(':').collect();
    let [seed, members, repos, teams] = parts.as_slice() else {
        return Err("expected SEED:MEMBERS:REPOS:TEAMS, e.g. 7:500:200:40".to_string());
    };
    let num = |s: &str, what: &str| {
        s.parse::<u64>()
            .map_err(|_| format!("{what} `{s}` is not a non-negative integer"))
    };
    Ok((
        num(seed, "SEED")?,
        SyntheticSize {
            members: num(members, "MEMBERS")? as usize,
            repos: num(repos, "REPOS")? as usize,
            teams: num(teams, "TEAMS")? as usize,
        },
    ))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let options = Options::parse();
    let scenario = match (&options.scenario, options.synthetic) {
        (Some(path), _) => match Scenario::from_file(path) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        (None, Some((seed, size))) if options.gitlab => Scenario::synthetic_gitlab(
            seed,
            GitlabSize {
                members: size.members,
                projects: size.repos,
                subgroups: size.teams,
            },
        ),
        (None, Some((seed, size))) if options.bitbucket => Scenario::synthetic_bitbucket(
            seed,
            BitbucketSize {
                members: size.members,
                repos: size.repos,
                groups: size.teams,
            },
        ),
        (None, Some((seed, size))) => Scenario::synthetic(seed, size),
        (None, None) => {
            eprintln!("error: give --scenario FILE or --synthetic SEED:MEMBERS:REPOS:TEAMS");
            return ExitCode::from(2);
        }
    };
    let server_options = ServerOptions {
        port: options.port,
        latency: Duration::from_millis(options.latency_ms),
        ..ServerOptions::default()
    };
    if options.gitlab {
        return serve_gitlab(scenario, server_options).await;
    }
    if options.bitbucket {
        return serve_bitbucket(scenario, server_options).await;
    }
    let server = match GithubServer::start(scenario, server_options).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    println!("github      {}", server.base_url());
    println!("github-ghes {}", server.ghes_base_url());
    for t in server.tokens() {
        let scopes = t
            .scopes
            .as_ref()
            .map_or_else(|| "all scopes".to_string(), |s| s.join(","));
        // The simulator's tokens are test fixtures, printed so a developer can use them.
        println!("token       {} ({scopes})", t.token);
    }
    println!("control     {}/_sim/stats", server.base_url());
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("error: cannot wait for Ctrl-C: {e}");
    }
    server.shutdown().await;
    ExitCode::SUCCESS
}

async fn serve_gitlab(scenario: Scenario, server_options: ServerOptions) -> ExitCode {
    let server = match GitlabServer::start(scenario, server_options).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    println!(
        "gitlab      {} (api_url; REST under {})",
        server.base_url(),
        server.api_url()
    );
    for t in server.tokens() {
        let scopes = t
            .scopes
            .as_ref()
            .map_or_else(|| "all scopes".to_string(), |s| s.join(","));
        // The simulator's tokens are test fixtures, printed so a developer can use them.
        println!("token       {} ({scopes})", t.token);
    }
    println!("control     {}/_sim/stats", server.base_url());
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("error: cannot wait for Ctrl-C: {e}");
    }
    server.shutdown().await;
    ExitCode::SUCCESS
}

async fn serve_bitbucket(scenario: Scenario, server_options: ServerOptions) -> ExitCode {
    let server = match BitbucketServer::start(scenario, server_options).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    println!(
        "bitbucket   {} (api_url; REST under /2.0)",
        server.base_url()
    );
    for t in server.tokens() {
        let scopes = t
            .scopes
            .as_ref()
            .map_or_else(|| "all scopes".to_string(), |s| s.join(","));
        // The simulator's tokens are test fixtures, printed so a developer can use them.
        match &t.email {
            Some(email) => println!("api token   {email} {} ({scopes})", t.token),
            None => println!("access tok  {} ({scopes})", t.token),
        }
    }
    println!("control     {}/_sim/stats", server.base_url());
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("error: cannot wait for Ctrl-C: {e}");
    }
    server.shutdown().await;
    ExitCode::SUCCESS
}
