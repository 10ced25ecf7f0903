//! The layer against a local HTTP server (wiremock): each test pins one behaviour through the
//! requests the server received and the outcome, never through an upper bound on time.

use super::*;
use crate::ProviderError;
use crate::cache::MemoryCache;
use crate::snapshot::{ProviderKind, RequestCounts};
use secrecy::SecretString;
use serde::Deserialize;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TOKEN: &str = "s3cr3t-token-value";
const REFERENCE: &str = "token_env = GITHUB_TOKEN";

#[derive(Debug, Deserialize, PartialEq, Eq)]
struct Item {
    id: u64,
}

fn fast_config() -> HttpConfig {
    HttpConfig {
        min_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        secondary_limit_wait: Duration::from_millis(100),
        requests_per_second: NonZeroU32::new(1000).expect("not zero"),
        burst: NonZeroU32::new(1000).expect("not zero"),
        rate_limit_reserve: 0,
        ..HttpConfig::default()
    }
}

fn client_with(server: &MockServer, kind: ProviderKind, config: HttpConfig) -> WorkspaceClient {
    let credential = Arc::new(BearerToken::new(REFERENCE, SecretString::from(TOKEN)));
    HttpClient::new(config)
        .expect("client builds")
        .workspace(kind, "acme", &server.uri(), credential)
        .expect("loopback http is accepted")
}

/// Keeps a mock server (and so its port) for the rest of the test process. Pacing state is
/// process-wide per `host:port` and credential, as in the daemon; a test that leaves a quota
/// paused for minutes or days must not free a port that a later test could be given, or that
/// test would wait on the pause.
fn keep_paused_port(server: MockServer) {
    std::mem::forget(server);
}

fn github(server: &MockServer) -> WorkspaceClient {
    client_with(server, ProviderKind::Github, fast_config())
}

async fn received(server: &MockServer) -> usize {
    server
        .received_requests()
        .await
        .expect("request recording is on")
        .len()
}

fn epoch_in(seconds: u64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    (now + seconds).to_string()
}

fn ok_json(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.as_bytes().to_vec(), "application/json")
}

#[derive(Default)]
struct Recorder {
    requests: Mutex<Vec<(Option<u16>, bool, u32)>>,
    remaining: Mutex<Vec<u64>>,
}

impl HttpObserver for Recorder {
    fn request_finished(&self, event: &RequestEvent<'_>) {
        assert_eq!(event.workspace, "acme");
        self.requests.lock().expect("not poisoned").push((
            event.status,
            event.from_cache,
            event.attempt,
        ));
    }

    fn rate_limit_observed(&self, event: &RateLimitEvent<'_>) {
        self.remaining
            .lock()
            .expect("not poisoned")
            .push(event.remaining);
    }
}

#[tokio::test]
async fn waits_for_retry_after_on_429_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/orgs/acme"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "2"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/orgs/acme"))
        .respond_with(ok_json(r#"{"id": 7}"#))
        .mount(&server)
        .await;

    let started = Instant::now();
    let item: Item = github(&server)
        .get_json(&Route::new("/orgs/{org}", "/orgs/acme"))
        .await
        .expect("succeeds after the wait");

    assert_eq!(item, Item { id: 7 });
    assert_eq!(received(&server).await, 2);
    assert!(started.elapsed() >= Duration::from_millis(1500));
}

#[tokio::test]
async fn github_primary_exhaustion_pauses_until_reset_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/orgs/acme/members"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-limit", "5000")
                .insert_header("x-ratelimit-reset", epoch_in(3).as_str())
                .set_body_string(r#"{"message":"API rate limit exceeded"}"#),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/orgs/acme/members"))
        .respond_with(ok_json(r#"[{"id": 1}]"#))
        .mount(&server)
        .await;

    let started = Instant::now();
    let items: Vec<Item> = github(&server)
        .get_all(&Route::new("/orgs/{org}/members", "/orgs/acme/members"))
        .await
        .expect("succeeds after the reset");

    assert_eq!(items, vec![Item { id: 1 }]);
    assert_eq!(received(&server).await, 2);
    assert!(started.elapsed() >= Duration::from_millis(1500));
}

#[tokio::test]
async fn five_503s_then_a_200_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(5)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ok_json(r#"{"id": 3}"#))
        .mount(&server)
        .await;
    let recorder = Arc::new(Recorder::default());
    let client = github(&server).with_observer(recorder.clone());

    let item: Item = client
        .get_json(&Route::new("/orgs/{org}", "/orgs/acme"))
        .await
        .expect("the sixth attempt succeeds");

    assert_eq!(item, Item { id: 3 });
    assert_eq!(received(&server).await, 6);
    assert_eq!(client.request_counts().total, 6);
    let attempts: Vec<u32> = recorder
        .requests
        .lock()
        .expect("not poisoned")
        .iter()
        .map(|r| r.2)
        .collect();
    assert_eq!(attempts, vec![1, 2, 3, 4, 5, 6]);
}

#[tokio::test]
async fn persistent_5xx_gives_up_after_the_attempt_cap() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    let config = HttpConfig {
        max_attempts: 3,
        ..fast_config()
    };

    let result: Result<Item, _> = client_with(&server, ProviderKind::Gitlab, config)
        .get_json(&Route::new("/groups/{id}", "/groups/1"))
        .await;

    assert!(
        matches!(result, Err(ProviderError::Unavailable { attempts: 3, .. })),
        "{result:?}"
    );
    assert_eq!(received(&server).await, 3);
}

#[tokio::test]
async fn unauthorized_fails_at_once_naming_the_credential_not_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_string(format!(r#"{{"message":"Bad credentials for {TOKEN}"}}"#)),
        )
        .mount(&server)
        .await;

    let result: Result<Item, _> = github(&server)
        .get_json(&Route::new("/orgs/{org}", "/orgs/acme"))
        .await;

    let error = result.expect_err("401 is final");
    assert!(
        matches!(error, ProviderError::Unauthorized { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains(REFERENCE), "{message}");
    assert!(!message.contains(TOKEN), "{message}");
    assert!(!format!("{error:?}").contains(TOKEN));
    assert_eq!(received(&server).await, 1);
}

#[tokio::test]
async fn sends_each_credential_kind_in_its_own_header() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/bearer"))
        .and(header("authorization", "Bearer tok1"))
        .respond_with(ok_json(r#"{"id": 1}"#))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/private"))
        .and(header("private-token", "tok2"))
        .respond_with(ok_json(r#"{"id": 2}"#))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/basic"))
        // base64("me@x:tok3")
        .and(header("authorization", "Basic bWVAeDp0b2sz"))
        .respond_with(ok_json(r#"{"id": 3}"#))
        .mount(&server)
        .await;
    let http = HttpClient::new(fast_config()).expect("client builds");
    let credentials: Vec<(&'static str, Arc<dyn Credential>)> = vec![
        (
            "/bearer",
            Arc::new(BearerToken::new("r", SecretString::from("tok1"))),
        ),
        (
            "/private",
            Arc::new(GitlabPrivateToken::new("r", SecretString::from("tok2"))),
        ),
        (
            "/basic",
            Arc::new(BasicAuth::new("r", "me@x", SecretString::from("tok3"))),
        ),
    ];

    for (index, (route, credential)) in credentials.into_iter().enumerate() {
        let client = http
            .workspace(ProviderKind::Bitbucket, "acme", &server.uri(), credential)
            .expect("loopback");
        let item: Item = client
            .get_json(&Route::new("/x", route))
            .await
            .expect("the mock only answers with the right header");
        assert_eq!(item.id, index as u64 + 1);
    }
}

#[tokio::test]
async fn not_modified_is_served_from_cache_and_counted_apart() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/orgs/acme/teams"))
        .and(header("if-none-match", "W/\"v1\""))
        .respond_with(ResponseTemplate::new(304).insert_header("etag", "W/\"v1\""))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/orgs/acme/teams"))
        .respond_with(ok_json(r#"[{"id": 5}, {"id": 6}]"#).insert_header("etag", "W/\"v1\""))
        .with_priority(2)
        .mount(&server)
        .await;
    let recorder = Arc::new(Recorder::default());
    let client = github(&server)
        .with_cache(Arc::new(MemoryCache::default()))
        .with_observer(recorder.clone());
    let route = Route::new("/orgs/{org}/teams", "/orgs/acme/teams");

    let first: Vec<Item> = client.get_all(&route).await.expect("fresh answer");
    let second: Vec<Item> = client.get_all(&route).await.expect("cached answer");

    assert_eq!(first, second);
    assert_eq!(second.len(), 2);
    assert_eq!(
        client.request_counts(),
        RequestCounts {
            total: 2,
            not_modified: 1
        }
    );
    let seen = recorder.requests.lock().expect("not poisoned").clone();
    assert_eq!(seen, vec![(Some(200), false, 1), (Some(304), true, 1)]);
}

#[tokio::test]
async fn cached_answers_are_not_shared_between_credentials() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header("if-none-match", "\"v1\""))
        .respond_with(ResponseTemplate::new(304))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ok_json(r#"{"id": 1}"#).insert_header("etag", "\"v1\""))
        .with_priority(2)
        .mount(&server)
        .await;
    let cache = Arc::new(MemoryCache::default());
    let first = github(&server).with_cache(cache.clone());
    let other = first.with_credential(Arc::new(BearerToken::new(
        "token_env = OTHER",
        SecretString::from("another-token"),
    )));
    let route = Route::new("/orgs/{org}", "/orgs/acme");

    let _: Item = first.get_json(&route).await.expect("fresh");
    let _: Item = other
        .get_json(&route)
        .await
        .expect("fresh for the other token");

    assert_eq!(first.request_counts().not_modified, 0);
}

#[tokio::test]
async fn github_link_pagination_reads_every_page() {
    let server = MockServer::start().await;
    let next = format!("{}/orgs/acme/members?per_page=2&page=2", server.uri());
    Mock::given(method("GET"))
        .and(path("/orgs/acme/members"))
        .and(query_param("page", "2"))
        .respond_with(ok_json(r#"[{"id": 3}]"#))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/orgs/acme/members"))
        .respond_with(ok_json(r#"[{"id": 1}, {"id": 2}]"#).insert_header(
            "link",
            format!(r#"<{next}>; rel="next", <{next}>; rel="last""#).as_str(),
        ))
        .with_priority(2)
        .mount(&server)
        .await;

    let items: Vec<Item> = github(&server)
        .get_all(&Route::new("/orgs/{org}/members", "/orgs/acme/members").query("per_page", 2))
        .await
        .expect("two pages");

    assert_eq!(
        items.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
}

/// GitLab page N answers `x-next-page: N+1` up to `last`, and never sends `x-total`.
struct GitlabPages {
    last: u64,
}

impl Respond for GitlabPages {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let page: u64 = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "page")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(1);
        let next = if page < self.last {
            (page + 1).to_string()
        } else {
            String::new()
        };
        ok_json(&format!(r#"[{{"id": {page}}}]"#))
            .insert_header("x-next-page", next.as_str())
            .insert_header("x-page", page.to_string().as_str())
    }
}

#[tokio::test]
async fn gitlab_pagination_follows_x_next_page_without_x_total() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/groups/acme/members/all"))
        .respond_with(GitlabPages { last: 3 })
        .mount(&server)
        .await;

    let items: Vec<Item> = client_with(&server, ProviderKind::Gitlab, fast_config())
        .get_all(
            &Route::new("/groups/{id}/members/all", "/groups/acme/members/all")
                .query("per_page", 100),
        )
        .await
        .expect("three pages");

    assert_eq!(
        items.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    let requests = server.received_requests().await.expect("recorded");
    assert!(
        requests.iter().all(|r| r
            .url
            .query_pairs()
            .any(|(k, v)| k == "per_page" && v == "100")),
        "other query parameters survive page changes"
    );
}

#[tokio::test]
async fn bitbucket_envelope_pagination_reads_every_page() {
    let server = MockServer::start().await;
    let next = format!("{}/workspaces/acme/members?page=2", server.uri());
    Mock::given(method("GET"))
        .and(path("/workspaces/acme/members"))
        .and(query_param("page", "2"))
        .respond_with(ok_json(
            r#"{"pagelen": 1, "page": 2, "values": [{"id": 2}]}"#,
        ))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/workspaces/acme/members"))
        .respond_with(ok_json(&format!(
            r#"{{"pagelen": 1, "page": 1, "values": [{{"id": 1}}], "next": "{next}"}}"#
        )))
        .with_priority(2)
        .mount(&server)
        .await;

    let items: Vec<Item> = client_with(&server, ProviderKind::Bitbucket, fast_config())
        .get_all(&Route::new(
            "/workspaces/{w}/members",
            "/workspaces/acme/members",
        ))
        .await
        .expect("two pages");

    assert_eq!(items.iter().map(|i| i.id).collect::<Vec<_>>(), vec![1, 2]);
}

#[tokio::test]
async fn a_truncated_json_page_fails_the_fetch() {
    let server = MockServer::start().await;
    let next = format!("{}/orgs/acme/repos?page=2", server.uri());
    Mock::given(method("GET"))
        .and(path("/orgs/acme/repos"))
        .and(query_param("page", "2"))
        .respond_with(ok_json(r#"[{"id": 3}, {"id""#))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/orgs/acme/repos"))
        .respond_with(
            ok_json(r#"[{"id": 1}, {"id": 2}]"#)
                .insert_header("link", format!(r#"<{next}>; rel="next""#).as_str()),
        )
        .with_priority(2)
        .mount(&server)
        .await;

    let result: Result<Vec<Item>, _> = github(&server)
        .get_all(&Route::new("/orgs/{org}/repos", "/orgs/acme/repos"))
        .await;

    assert!(
        matches!(result, Err(ProviderError::Malformed { .. })),
        "a bad page must fail the list, not shorten it: {result:?}"
    );
}

#[tokio::test]
async fn a_bitbucket_page_without_values_fails_the_fetch() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ok_json(r#"{"pagelen": 10, "size": 40}"#))
        .mount(&server)
        .await;

    let result: Result<Vec<Item>, _> = client_with(&server, ProviderKind::Bitbucket, fast_config())
        .get_all(&Route::new("/repositories/{w}", "/repositories/acme"))
        .await;

    assert!(
        matches!(result, Err(ProviderError::Malformed { .. })),
        "{result:?}"
    );
}

/// Answers every page with a link to the following one, for ever.
struct EndlessPages {
    base: String,
}

impl Respond for EndlessPages {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let page: u64 = request
            .url
            .query_pairs()
            .find(|(k, _)| k == "page")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(1);
        let next = format!("{}{}?page={}", self.base, request.url.path(), page + 1);
        ok_json(r#"[{"id": 1}]"#).insert_header("link", format!(r#"<{next}>; rel="next""#).as_str())
    }
}

#[tokio::test]
async fn an_endless_next_link_stops_at_the_page_cap_with_an_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(EndlessPages { base: server.uri() })
        .mount(&server)
        .await;
    let config = HttpConfig {
        max_pages: 5,
        ..fast_config()
    };

    let result: Result<Vec<Item>, _> = client_with(&server, ProviderKind::Github, config)
        .get_all(&Route::new("/orgs/{org}/members", "/orgs/acme/members"))
        .await;

    match result {
        Err(ProviderError::Malformed { detail, .. }) => {
            assert!(detail.contains("more than 5 pages"), "{detail}");
        }
        other => panic!("expected the page cap to fail the list, got {other:?}"),
    }
    assert_eq!(received(&server).await, 5);
}

#[tokio::test]
async fn a_next_link_to_another_host_is_refused() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ok_json(r#"[{"id": 1}]"#)
                .insert_header("link", r#"<https://evil.example/steal?page=2>; rel="next""#),
        )
        .mount(&server)
        .await;

    let result: Result<Vec<Item>, _> = github(&server)
        .get_all(&Route::new("/orgs/{org}/members", "/orgs/acme/members"))
        .await;

    assert!(
        matches!(result, Err(ProviderError::Malformed { .. })),
        "{result:?}"
    );
    assert_eq!(received(&server).await, 1);
}

#[tokio::test]
async fn a_wait_beyond_the_deadline_fails_at_once_with_rate_limited() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "120"))
        .mount(&server)
        .await;
    let client = client_with(&server, ProviderKind::Bitbucket, fast_config())
        .with_deadline(Instant::now() + Duration::from_secs(30));

    let result: Result<Item, _> = client
        .get_json(&Route::new("/repositories/{w}", "/repositories/acme"))
        .await;

    match result {
        Err(ProviderError::RateLimited { wait_seconds, .. }) => assert!(wait_seconds >= 120),
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert_eq!(received(&server).await, 1);
    keep_paused_port(server);
}

#[tokio::test]
async fn github_secondary_limit_403_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(403).set_body_string(
            r#"{"message":"You have exceeded a secondary rate limit. Please wait a few minutes."}"#,
        ))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ok_json(r#"{"id": 9}"#))
        .mount(&server)
        .await;

    let item: Item = github(&server)
        .get_json(&Route::new("/orgs/{org}", "/orgs/acme"))
        .await
        .expect("retried after the secondary wait");

    assert_eq!(item.id, 9);
    assert_eq!(received(&server).await, 2);
}

#[tokio::test]
async fn a_plain_403_and_a_404_are_final() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/forbidden"))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("x-accepted-oauth-scopes", "read:org")
                .set_body_string(r#"{"message":"Must have admin rights"}"#),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/missing"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    let client = github(&server);

    let forbidden: Result<Item, _> = client
        .get_json(&Route::new("/forbidden", "/forbidden"))
        .await;
    let missing: Result<Item, _> = client.get_json(&Route::new("/missing", "/missing")).await;

    match forbidden {
        Err(ProviderError::Forbidden {
            needed, credential, ..
        }) => {
            assert!(needed.contains("read:org"), "{needed}");
            assert_eq!(credential, REFERENCE);
        }
        other => panic!("expected Forbidden, got {other:?}"),
    }
    assert!(
        matches!(missing, Err(ProviderError::NotFound { .. })),
        "{missing:?}"
    );
    assert_eq!(received(&server).await, 2);
    assert!(
        !client
            .exists(&Route::new("/missing", "/missing"))
            .await
            .expect("404 is no")
    );
}

#[tokio::test]
async fn low_reserve_spaces_requests_until_the_reset() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ok_json(r#"{"id": 1}"#)
                .insert_header("x-ratelimit-remaining", "2")
                .insert_header("x-ratelimit-limit", "5000")
                .insert_header("x-ratelimit-reset", epoch_in(4).as_str()),
        )
        .mount(&server)
        .await;
    let config = HttpConfig {
        rate_limit_reserve: 100,
        ..fast_config()
    };
    let recorder = Arc::new(Recorder::default());
    let client = client_with(&server, ProviderKind::Github, config).with_observer(recorder.clone());
    let route = Route::new("/orgs/{org}", "/orgs/acme");

    let started = Instant::now();
    for _ in 0..3 {
        let _: Item = client.get_json(&route).await.expect("paced, not refused");
    }

    // Two requests left over about four seconds: the third waits for its slot (~1.5-2 s).
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(received(&server).await, 3);
    assert_eq!(
        *recorder.remaining.lock().expect("not poisoned"),
        vec![2, 2, 2]
    );
}

#[tokio::test]
async fn a_cancelled_run_sends_nothing() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ok_json(r#"{"id": 1}"#))
        .mount(&server)
        .await;
    let token = CancellationToken::new();
    token.cancel();

    let result: Result<Item, _> = github(&server)
        .with_cancellation(token)
        .get_json(&Route::new("/orgs/{org}", "/orgs/acme"))
        .await;

    assert!(
        matches!(result, Err(ProviderError::Cancelled { .. })),
        "{result:?}"
    );
    assert_eq!(received(&server).await, 0);
}

#[tokio::test]
async fn an_oversized_answer_is_refused() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ok_json(&format!(
            "[{}]",
            vec!["{\"id\":1}"; 1000].join(",")
        )))
        .mount(&server)
        .await;
    let config = HttpConfig {
        max_response_bytes: 1024,
        ..fast_config()
    };

    let result: Result<Vec<Item>, _> = client_with(&server, ProviderKind::Github, config)
        .get_all(&Route::new("/orgs/{org}/members", "/orgs/acme/members"))
        .await;

    assert!(
        matches!(result, Err(ProviderError::Malformed { .. })),
        "{result:?}"
    );
}

#[tokio::test]
async fn raw_send_returns_final_statuses_and_replays_cached_bodies() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v4/groups/9"))
        .respond_with(
            ResponseTemplate::new(404).set_body_string(r#"{"message":"404 Group Not Found"}"#),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v4/groups/1"))
        .and(header("if-none-match", "\"g1\""))
        .respond_with(ResponseTemplate::new(304))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v4/groups/1"))
        .respond_with(
            ok_json(r#"{"id": 1}"#)
                .insert_header("etag", "\"g1\"")
                .insert_header("x-next-page", ""),
        )
        .with_priority(2)
        .mount(&server)
        .await;
    let base = format!("{}/api/v4", server.uri());
    let client = HttpClient::new(fast_config())
        .expect("client builds")
        .workspace(
            ProviderKind::Gitlab,
            "acme",
            &base,
            Arc::new(GitlabPrivateToken::new(
                "token_env = GITLAB_TOKEN",
                SecretString::from(TOKEN),
            )),
        )
        .expect("loopback")
        .with_cache(Arc::new(MemoryCache::default()));
    let request = |id: u32| {
        http::Request::get(format!("{base}/groups/{id}"))
            .body(Vec::new())
            .expect("valid request")
    };

    let missing = client
        .send("/groups/{id}", request(9))
        .await
        .expect("a 404 is an answer");
    let fresh = client
        .send("/groups/{id}", request(1))
        .await
        .expect("fresh");
    let replayed = client
        .send("/groups/{id}", request(1))
        .await
        .expect("from cache");

    assert_eq!(missing.status(), 404);
    assert_eq!(fresh.status(), 200);
    assert_eq!(replayed.status(), 200);
    assert_eq!(replayed.body(), fresh.body());
    assert!(replayed.headers().contains_key("x-next-page"));
    assert_eq!(client.request_counts().not_modified, 1);
}

#[tokio::test]
async fn plain_http_is_refused_outside_loopback() {
    let http = HttpClient::new(fast_config()).expect("client builds");
    let credential = Arc::new(BearerToken::new(REFERENCE, SecretString::from(TOKEN)));

    let result = http.workspace(
        ProviderKind::Github,
        "acme",
        "http://github.example.com/api/v3",
        credential,
    );

    assert!(matches!(result, Err(ProviderError::Other(_))), "{result:?}");
}

/// A token that the server refuses until it is refreshed once, like an expired App token.
struct RefreshingToken {
    refreshed: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl Credential for RefreshingToken {
    fn reference(&self) -> &str {
        "GitHub App 12345"
    }

    fn scope_fingerprint(&self) -> &str {
        "app:12345:installation:678"
    }

    async fn authorize(&self) -> Result<AuthHeader, CredentialError> {
        let token = if self.refreshed.load(std::sync::atomic::Ordering::SeqCst) {
            "fresh"
        } else {
            "stale"
        };
        AuthHeader::bearer(&SecretString::from(token))
    }

    async fn refresh_after_rejection(&self) -> bool {
        !self
            .refreshed
            .swap(true, std::sync::atomic::Ordering::SeqCst)
    }
}

#[tokio::test]
async fn a_refreshable_credential_gets_one_more_attempt_after_401() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header("authorization", "Bearer fresh"))
        .respond_with(ok_json(r#"{"id": 4}"#))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401))
        .with_priority(10)
        .mount(&server)
        .await;
    let client = HttpClient::new(fast_config())
        .expect("client builds")
        .workspace(
            ProviderKind::Github,
            "acme",
            &server.uri(),
            Arc::new(RefreshingToken {
                refreshed: std::sync::atomic::AtomicBool::new(false),
            }),
        )
        .expect("loopback");

    let item: Item = client
        .get_json(&Route::new("/orgs/{org}", "/orgs/acme"))
        .await
        .expect("the refreshed token is accepted");

    assert_eq!(item.id, 4);
    assert_eq!(received(&server).await, 2);
}

#[tokio::test]
async fn a_redirect_to_another_host_is_not_followed() {
    let server = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ok_json(r#"{"id": 1}"#))
        .mount(&elsewhere)
        .await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(302)
                .insert_header("location", format!("{}/steal", elsewhere.uri()).as_str()),
        )
        .mount(&server)
        .await;

    let result: Result<Item, _> = client_with(&server, ProviderKind::Gitlab, fast_config())
        .get_json(&Route::new("/groups/{id}", "/groups/1"))
        .await;

    assert!(
        matches!(result, Err(ProviderError::Status { status: 302, .. })),
        "{result:?}"
    );
    assert_eq!(
        received(&elsewhere).await,
        0,
        "the token must not leave the host"
    );
}

#[tokio::test]
async fn fresh_counts_start_at_zero_and_clones_share_them() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ok_json(r#"{"id": 1}"#))
        .mount(&server)
        .await;
    let client = github(&server);
    let route = Route::new("/orgs/{org}", "/orgs/acme");
    let _: Item = client.get_json(&route).await.expect("ok");

    let next_fetch = client.with_fresh_counts();
    let clone = next_fetch.clone();
    let _: Item = clone.get_json(&route).await.expect("ok");

    assert_eq!(client.request_counts().total, 1);
    assert_eq!(next_fetch.request_counts().total, 1);
}

#[tokio::test]
async fn for_fetch_applies_the_policys_cancellation_and_deadline() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "60"))
        .mount(&server)
        .await;
    let cancel = CancellationToken::new();
    let policy = crate::FetchPolicy {
        deadline: Some(std::time::Instant::now() + Duration::from_secs(10)),
        cancel: Some(cancel.clone()),
        ..crate::FetchPolicy::default()
    };
    let client = github(&server).for_fetch(&policy);
    let route = Route::new("/orgs/{org}", "/orgs/acme");

    let limited: Result<Item, _> = client.get_json(&route).await;
    cancel.cancel();
    let cancelled: Result<Item, _> = client.get_json(&route).await;

    assert!(
        matches!(limited, Err(ProviderError::RateLimited { .. })),
        "{limited:?}"
    );
    assert!(
        matches!(cancelled, Err(ProviderError::Cancelled { .. })),
        "{cancelled:?}"
    );
    assert_eq!(received(&server).await, 1);
    keep_paused_port(server);
}

/// Headers from the fault matrix: each once panicked a task ("overflow when adding duration to
/// instant") or would have stalled it past any deadline.
#[tokio::test]
async fn absurd_retry_after_and_reset_headers_fail_as_rate_limited_without_panicking() {
    let absurd: &[&[(&str, &str)]] = &[
        &[("retry-after", "18446744073709551615")],
        &[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "18446744073709551615"),
        ],
        &[
            ("ratelimit-remaining", "0"),
            ("ratelimit-reset", "9223372036854775807"),
        ],
        &[
            ("date", "Tue, 24 Nov 2026 12:00:00 GMT"),
            ("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT"),
        ],
    ];
    for headers in absurd {
        let server = MockServer::start().await;
        let mut answer = ResponseTemplate::new(429);
        for (name, value) in *headers {
            answer = answer.insert_header(*name, *value);
        }
        Mock::given(method("GET"))
            .respond_with(answer)
            .mount(&server)
            .await;
        let client = github(&server).with_deadline(Instant::now() + Duration::from_secs(30));

        let result: Result<Item, _> = client
            .get_json(&Route::new("/orgs/{org}", "/orgs/acme"))
            .await;

        match result {
            Err(ProviderError::RateLimited { wait_seconds, .. }) => {
                assert!(wait_seconds > 30, "{headers:?}: {wait_seconds}");
            }
            other => panic!("{headers:?}: expected RateLimited, got {other:?}"),
        }
        assert_eq!(received(&server).await, 1, "{headers:?}");
        keep_paused_port(server);
    }
}

#[tokio::test]
async fn negative_and_garbage_retry_after_fall_back_to_backoff() {
    for value in ["-5", "soon", "99999999999999999999999999", ""] {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", value))
            .up_to_n_times(1)
            .with_priority(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .respond_with(ok_json(r#"{"id": 3}"#))
            .mount(&server)
            .await;
        let client = github(&server).with_deadline(Instant::now() + Duration::from_secs(30));

        let item: Item = client
            .get_json(&Route::new("/orgs/{org}", "/orgs/acme"))
            .await
            .unwrap_or_else(|e| panic!("retry-after {value:?}: {e}"));

        assert_eq!(item, Item { id: 3 });
        assert_eq!(received(&server).await, 2, "retry-after {value:?}");
    }
}

fn if_none_match_of(request: &Request) -> Option<String> {
    request
        .headers
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[tokio::test]
async fn a_200_whose_body_does_not_parse_is_not_cached() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header("if-none-match", "\"v1\""))
        .respond_with(ResponseTemplate::new(304).insert_header("etag", "\"v1\""))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ok_json(r#"[{"id": 5}, {"id""#).insert_header("etag", "\"v1\""))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ok_json(r#"[{"id": 5}]"#).insert_header("etag", "\"v1\""))
        .with_priority(3)
        .mount(&server)
        .await;
    let client = github(&server).with_cache(Arc::new(MemoryCache::default()));
    let route = Route::new("/orgs/{org}/teams", "/orgs/acme/teams");

    let broken: Result<Vec<Item>, _> = client.get_all(&route).await;
    let next: Vec<Item> = client.get_all(&route).await.expect("the next run succeeds");

    assert!(
        matches!(broken, Err(ProviderError::Malformed { .. })),
        "{broken:?}"
    );
    assert_eq!(next, vec![Item { id: 5 }]);
    let requests = server.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 2);
    assert_eq!(
        if_none_match_of(&requests[1]),
        None,
        "the broken body must not have been cached"
    );
}

#[tokio::test]
async fn a_cached_body_that_no_longer_parses_is_evicted_and_fetched_afresh() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header("if-none-match", "\"v1\""))
        .respond_with(ResponseTemplate::new(304).insert_header("etag", "\"v1\""))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ok_json(r#"{"id": 7}"#).insert_header("etag", "\"v1\""))
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ok_json(r#"[{"id": 8}]"#).insert_header("etag", "\"v2\""))
        .with_priority(3)
        .mount(&server)
        .await;
    let client = github(&server).with_cache(Arc::new(MemoryCache::default()));
    let route = Route::new("/orgs/{org}", "/orgs/acme");
    // Cached by a reader that accepted it; a stricter reader cannot use it.
    let _: serde_json::Value = client.get_json(&route).await.expect("first answer");

    let strict: Vec<Item> = client.get_json(&route).await.expect("fetched afresh");
    let again: Vec<Item> = client.get_json(&route).await.expect("the fresh answer");

    assert_eq!(strict, vec![Item { id: 8 }]);
    assert_eq!(again, strict);
    let requests = server.received_requests().await.expect("recorded");
    let validators: Vec<Option<String>> = requests.iter().map(if_none_match_of).collect();
    assert_eq!(
        validators,
        vec![
            None,
            Some("\"v1\"".to_owned()),
            None,
            Some("\"v2\"".to_owned()),
        ],
        "the replayed body that did not parse is evicted and asked for again unconditionally"
    );
}

#[tokio::test]
async fn raw_send_does_not_cache_a_body_that_is_not_json() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(header("if-none-match", "\"v1\""))
        .respond_with(ResponseTemplate::new(304).insert_header("etag", "\"v1\""))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .respond_with(ok_json("<html>maintenance</html>").insert_header("etag", "\"v1\""))
        .mount(&server)
        .await;
    let client = client_with(&server, ProviderKind::Gitlab, fast_config())
        .with_cache(Arc::new(MemoryCache::default()));
    let request = || {
        http::Request::get(format!("{}/groups/1", server.uri()))
            .body(Vec::new())
            .expect("request builds")
    };

    for _ in 0..2 {
        let answer = client.send("/groups/:id", request()).await.expect("answer");
        assert_eq!(answer.status(), 200);
    }

    let requests = server.received_requests().await.expect("recorded");
    assert!(requests.iter().all(|r| if_none_match_of(r).is_none()));
}

#[tokio::test]
async fn messages_say_what_actually_happened() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/orgs/acme/teams/gone/members"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/orgs/nope"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/orgs/busy"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .mount(&server)
        .await;
    let client = client_with(
        &server,
        ProviderKind::Github,
        HttpConfig {
            max_attempts: 1,
            ..fast_config()
        },
    )
    .with_deadline(Instant::now() + Duration::from_secs(30));

    let team: Result<Vec<Item>, _> = client
        .get_all(&Route::new(
            "/orgs/{org}/teams/{team_slug}/members",
            "/orgs/acme/teams/gone/members",
        ))
        .await;
    let account: Result<Item, _> = client
        .get_json(&Route::new("/orgs/{org}", "/orgs/nope"))
        .await;
    let limited: Result<Item, _> = client
        .get_json(&Route::new("/orgs/{org}", "/orgs/busy"))
        .await;

    let team = team.expect_err("404").to_string();
    assert!(
        team.contains("deleted or renamed") && !team.contains("account name"),
        "{team}"
    );
    let account = account.expect_err("404").to_string();
    assert!(account.contains("account name"), "{account}");
    let limited = limited.expect_err("429").to_string();
    assert!(
        limited.contains("attempts are used up") && !limited.contains("deadline"),
        "{limited}"
    );
}

#[tokio::test]
async fn cached_all_reads_a_list_from_the_cache_without_a_request() {
    let server = MockServer::start().await;
    let next = format!("{}/orgs/acme/members?per_page=2&page=2", server.uri());
    Mock::given(method("GET"))
        .and(path("/orgs/acme/members"))
        .and(query_param("page", "2"))
        .respond_with(ok_json(r#"[{"id": 3}]"#).insert_header("etag", "\"p2\""))
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/orgs/acme/members"))
        .respond_with(
            ok_json(r#"[{"id": 1}, {"id": 2}]"#)
                .insert_header("etag", "\"p1\"")
                .insert_header("link", format!(r#"<{next}>; rel="next""#).as_str()),
        )
        .with_priority(2)
        .mount(&server)
        .await;
    let client = github(&server).with_cache(Arc::new(MemoryCache::default()));
    let route = Route::new("/orgs/{org}/members", "/orgs/acme/members").query("per_page", 2);
    let other = Route::new("/orgs/{org}/teams", "/orgs/acme/teams");

    assert_eq!(
        client.cached_all::<Item>(&route).await,
        None,
        "nothing cached yet"
    );
    let read: Vec<Item> = client.get_all(&route).await.expect("two pages");
    let before = received(&server).await;

    let cached = client.cached_all::<Item>(&route).await;
    assert_eq!(cached, Some(read));
    assert_eq!(client.cached_all::<Item>(&other).await, None);
    assert_eq!(received(&server).await, before, "no request was made");
}

#[tokio::test]
async fn another_rate_resource_is_paced_apart() {
    let server = MockServer::start().await;
    // The REST budget is spent until far in the future; GraphQL's is not.
    Mock::given(method("GET"))
        .and(path("/orgs/acme"))
        .respond_with(
            ok_json(r#"{"id": 1}"#)
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", epoch_in(3600).as_str())
                .insert_header("x-ratelimit-resource", "core"),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/graphql"))
        .respond_with(
            ok_json(r#"{"id": 2}"#)
                .insert_header("x-ratelimit-remaining", "4999")
                .insert_header("x-ratelimit-reset", epoch_in(3600).as_str())
                .insert_header("x-ratelimit-resource", "graphql"),
        )
        .mount(&server)
        .await;
    let rest = github(&server).with_deadline(Instant::now() + Duration::from_secs(5));
    let graphql = rest.with_rate_resource("graphql");
    let _: Item = rest
        .get_json(&Route::new("/orgs/{org}", "/orgs/acme"))
        .await
        .expect("the last REST request");

    let answer: Item = graphql
        .post_json(&Route::new("/graphql", "/graphql"), &serde_json::json!({}))
        .await
        .expect("GraphQL is not held by the spent REST budget");
    assert_eq!(answer, Item { id: 2 });
    let held = rest
        .get_json::<Item>(&Route::new("/orgs/{org}", "/orgs/acme"))
        .await;
    assert!(
        matches!(held, Err(ProviderError::RateLimited { .. })),
        "REST waits for its own reset: {held:?}"
    );
    keep_paused_port(server);
}
