//! `orgsync downstream list|retry|resync|deliver [NAME]`.
// The doc comments of the arguments are the command's help text, where `[[downstream]]` is the
// configuration's TOML table, not a link.
#![allow(rustdoc::broken_intra_doc_links)]

use super::{EXIT_OK, EXIT_RUNTIME, Failure, load_config, open_store};
use crate::config::Config;
use crate::directory::Store;
use crate::directory::outbox::TargetCounts;
use crate::downstream::config::{DownstreamConfig, DownstreamKind};
use crate::downstream::{Deliverer, scim};
use clap::Subcommand;
use std::path::Path;

/// `orgsync downstream …`: the queues of the downstream targets.
#[derive(Debug, Subcommand)]
pub enum DownstreamCommand {
    /// Targets with queued, retrying and dead-lettered events (and the failures with NAME).
    List {
        /// One target, as named in [[downstream]], with its failed events.
        name: Option<String>,
        /// Print the queues as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Requeues a target's dead letters; they are delivered before newer events.
    Retry {
        /// The target, as named in [[downstream]].
        name: String,
    },
    /// Reconciles a SCIM target with the directory (drift, a lost or reset server).
    Resync {
        /// The SCIM target, as named in [[downstream]].
        name: String,
    },
    /// Delivers what is queued now, by hand (all targets without NAME).
    Deliver {
        /// One target, as named in [[downstream]]; all of them when omitted.
        name: Option<String>,
        /// Give up after this many seconds; what is left stays queued.
        #[arg(long, default_value_t = 60)]
        wait: u64,
    },
}

fn target<'a>(config: &'a Config, name: &str) -> Result<&'a DownstreamConfig, Failure> {
    config
        .downstream
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| {
            Failure::usage(format!(
                "no [[downstream]] named `{name}` in {}; configured: {}",
                config.path.display(),
                if config.downstream.is_empty() {
                    "none".to_string()
                } else {
                    config
                        .downstream
                        .iter()
                        .map(|t| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ))
        })
}

/// The queue of every configured target.
pub async fn counts(config: &Config, store: &Store) -> Result<Vec<TargetCounts>, Failure> {
    let mut out = Vec::new();
    for t in &config.downstream {
        let filter = match &t.workspaces {
            Some(names) => Some(store.workspace_ids(names).await?),
            None => None,
        };
        out.push(store.outbox_counts(&t.name, filter.as_deref()).await?);
    }
    Ok(out)
}

/// The lines `orgsync status` adds for downstream targets.
pub async fn status_lines(config: &Config, store: &Store) -> Result<String, Failure> {
    if config.downstream.is_empty() {
        return Ok(String::new());
    }
    let rows: Vec<Vec<String>> = counts(config, store)
        .await?
        .into_iter()
        .map(|c| {
            vec![
                c.target,
                c.queued.to_string(),
                c.retrying.to_string(),
                c.dead.to_string(),
                c.last_error.unwrap_or_default(),
            ]
        })
        .collect();
    Ok(format!(
        "\n{}",
        crate::term::table(
            &["DOWNSTREAM", "QUEUED", "RETRYING", "DEAD", "LAST ERROR"],
            &rows
        )
    ))
}

pub(crate) async fn run(config_path: &Path, command: DownstreamCommand) -> Result<u8, Failure> {
    let config = load_config(config_path)?;
    let store = open_store(&config).await?;
    match command {
        DownstreamCommand::List { name, json } => {
            if let Some(n) = &name {
                target(&config, n)?;
            }
            let all: Vec<TargetCounts> = counts(&config, &store)
                .await?
                .into_iter()
                .filter(|c| name.as_ref().is_none_or(|n| &c.target == n))
                .collect();
            let failures = match &name {
                Some(n) => store.outbox_failures(n).await?,
                None => Vec::new(),
            };
            if json {
                let value = serde_json::json!({"targets": all, "failures": failures});
                super::output::json(&value);
                return Ok(EXIT_OK);
            }
            super::term::block(status_lines(&config, &store).await?.trim_start());
            if !failures.is_empty() {
                let rows: Vec<Vec<String>> = failures
                    .into_iter()
                    .map(|f| {
                        vec![
                            f.event_id,
                            f.kind,
                            f.state,
                            f.attempts.to_string(),
                            f.last_error,
                        ]
                    })
                    .collect();
                super::term::block(&format!(
                    "\n{}",
                    crate::term::table(&["EVENT", "TYPE", "STATE", "ATTEMPTS", "ERROR"], &rows)
                ));
            }
            Ok(EXIT_OK)
        }
        DownstreamCommand::Retry { name } => {
            target(&config, &name)?;
            let n = store.outbox_retry(&name).await?;
            outln!("{name}: {n} dead-lettered event(s) requeued");
            Ok(EXIT_OK)
        }
        DownstreamCommand::Resync { name } => {
            let t = target(&config, &name)?;
            if t.kind == DownstreamKind::Webhook {
                return Err(Failure::usage(format!(
                    "{name} is a webhook target: webhooks carry events, not state, so there is nothing \
                     to reconcile. Use `orgsync downstream retry {name}` for dead letters, and the \
                     read API for the current state"
                )));
            }
            let d = Deliverer::new(store.clone(), None).map_err(Failure::runtime)?;
            let scope = Deliverer::scope(t, &config);
            let scim = scim::Scim::connect(&d.http, &store, t, scope)
                .await
                .map_err(Failure::runtime)?;
            let report = scim.resync().await.map_err(Failure::runtime)?;
            outln!(
                "{name}: {} user(s) and {} group(s) pushed; {} user(s) deactivated and {} group(s) deleted downstream",
                report.users,
                report.groups,
                report.users_deactivated,
                report.groups_deleted
            );
            Ok(EXIT_OK)
        }
        DownstreamCommand::Deliver { name, wait } => {
            let mut selected = config.clone();
            if let Some(n) = &name {
                selected.downstream = vec![target(&config, n)?.clone()];
            }
            let d = Deliverer::new(store.clone(), None).map_err(Failure::runtime)?;
            let left = d
                .drain_all(&selected, Some(std::time::Duration::from_secs(wait)))
                .await;
            let mut code = EXIT_OK;
            for (t, why) in &left {
                errln!("orgsync: downstream {t}: events remain queued ({why})");
                code = EXIT_RUNTIME;
            }
            super::term::block(status_lines(&selected, &store).await?.trim_start());
            Ok(code)
        }
    }
}
