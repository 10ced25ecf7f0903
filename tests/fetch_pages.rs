//! An unfinished fetch's kept pages in the directory (migration 0010), on both backends: kept
//! with their time per workspace, replaced when read again, counted for `status`, and dropped
//! once the fetch is complete.

#[macro_use]
mod support;

use chrono::{Duration, Utc};
use orgsync::directory::Store;
use orgsync_core::cache::CachedResponse;
use orgsync_core::pages::{KeptPage, PageStore};
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
