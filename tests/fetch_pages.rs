//! An unfinished fetch's kept pages in the directory (migration 0010), on both backends: kept
//! with their time per workspace, replaced when read again, counted for `status`, and dropped
//! once the fetch is complete.

#[macro_use]
mod support;

use chrono::{Duration, Utc};
use orgsync::config::Config;
use orgsync::directory::{RunOutcome, Store};
use orgsync::run::{RunOptions, sync_workspace};
use orgsync_core::cache::CachedResponse;
use orgsync_core::http::CancellationToken;
use orgsync_core::pages::{KeptPage, PageStore};
use orgsync_core::{FetchPolicy, Provider, ProviderError, ProviderKind, Snapshot};
use support::*;

fn page(body: &str, age_seconds: i64) -> KeptPage {
    KeptPage {
        response: CachedResponse {
            etag: Some("W/\"x\"".to_string()),
            last_modified: None,
            headers: vec![("content-type".to_string(), "application/json".to_string())],
            body: body.as_bytes().to_vec(),
        },
        read_at: Utc::now() - Duration::seconds(age_seconds),
    }
}

async fn kept_pages_round_trip(store: Store) {
    let big = store.fetch_pages("big");
    let other = store.fetch_pages("other");
    big.keep("k1", &page("[1]", 100)).await;
    big.keep("k2", &page("[2]", 10)).await;
    other.keep("k1", &page("[other]", 5)).await;
    let loaded = big.load("k1").await.expect("kept");
    assert_eq!(loaded.response.body, b"[1]");
    assert_eq!(loaded.response.headers, page("", 0).response.headers);
    assert!((Utc::now() - loaded.read_at).num_seconds() >= 99);
    let (n, oldest) = big.progress().await;
    assert_eq!(n, 2);
    assert!(oldest.is_some_and(|o| (Utc::now() - o).num_seconds() >= 99));
    // Read again: replaced, with its new time.
    big.keep("k1", &page("[1b]", 0)).await;
    assert_eq!(big.load("k1").await.expect("kept").response.body, b"[1b]");
    assert_eq!(big.progress().await.0, 2);
    big.clear().await;
    assert_eq!(big.progress().await, (0, None));
    assert!(big.load("k2").await.is_none());
    assert_eq!(
        other
            .load("k1")
            .await
            .expect("another workspace's pages stay")
            .response
            .body,
        b"[other]"
    );
}

on_both_backends!(kept_pages, kept_pages_round_trip);

/// A Bitbucket fetch that keeps one more page each time (or the same page again, with
/// `same_page`) and is then cut, as the run's deadline or the daemon's stop cuts one: while it
/// waits for the window, the cut reaches it as `Cancelled`.
struct CutAfterAPage {
    fetches: std::sync::atomic::AtomicUsize,
    same_page: bool,
}

#[async_trait::async_trait]
impl Provider for CutAfterAPage {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Bitbucket
    }

    async fn fetch(&self, policy: &FetchPolicy) -> Result<Snapshot, ProviderError> {
        let n = self
            .fetches
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let key = if self.same_page {
            "page".to_string()
        } else {
            format!("page-{n}")
        };
        let pages = policy
            .pages
            .as_ref()
            .expect("a Bitbucket fetch keeps its pages");
        pages.keep(&key, page("[]", 0).response).await;
        Err(ProviderError::Cancelled {
            provider: ProviderKind::Bitbucket,
            reason: "the run's deadline passed".to_string(),
        })
    }

    async fn check(&self, _policy: &FetchPolicy) -> Result<Vec<String>, ProviderError> {
        Ok(Vec::new())
    }
}

/// A fetch the run's deadline cancels while it is still keeping new pages continues at once
/// (`continue_in_seconds = 0`, so the daemon starts the next run now, not at the next
/// scheduled instant); one that kept nothing new waits for the schedule; and one cancelled
/// because the daemon is stopping is not continued. Each is `continuing`, never failed.
async fn a_fetch_the_deadline_cancels_while_keeping_pages_continues_at_once(store: Store) {
    let config = Config::parse(
        r#"
[directory]
url = "sqlite://unused.db"

[[workspace]]
name = "big"
provider = "bitbucket"
workspace = "acme"
username = "ann@example.com"
token_env = "ORGSYNC_TEST_TOKEN"
"#,
        std::path::Path::new("test.toml"),
    )
    .expect("valid test config");
    let ws = &config.workspaces[0];
    let run = |provider: &'static CutAfterAPage, cancel: CancellationToken| {
        let (store, config) = (&store, &config);
        async move {
            let mut options = RunOptions::new("continue");
            options.cancel = Some(cancel);
            sync_workspace(store, ws, &config.safety, provider, &options)
                .await
                .expect("run recorded")
        }
    };
    let growing: &'static CutAfterAPage = Box::leak(Box::new(CutAfterAPage {
        fetches: 0.into(),
        same_page: false,
    }));
    let first = run(growing, CancellationToken::new()).await;
    assert_eq!(first.outcome, RunOutcome::Continuing, "{:?}", first.error);
    assert_eq!(
        first.continue_in_seconds,
        Some(0),
        "progress: continue at once"
    );

    let stopping = CancellationToken::new();
    stopping.cancel();
    let stopped = run(growing, stopping).await;
    assert_eq!(stopped.outcome, RunOutcome::Continuing);
    assert_eq!(stopped.continue_in_seconds, None, "the daemon is stopping");

    let stuck: &'static CutAfterAPage = Box::leak(Box::new(CutAfterAPage {
        fetches: 0.into(),
        same_page: true,
    }));
    run(stuck, CancellationToken::new()).await;
    let again = run(stuck, CancellationToken::new()).await;
    assert_eq!(again.outcome, RunOutcome::Continuing);
    assert_eq!(
        again.continue_in_seconds, None,
        "no new page: the next scheduled run"
    );
}

on_both_backends!(
    a_fetch_the_deadline_cancels_while_keeping_pages_continues_at_once_,
    a_fetch_the_deadline_cancels_while_keeping_pages_continues_at_once
);
