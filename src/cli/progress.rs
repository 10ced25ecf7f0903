//! Progress of a CLI sync's fetch: a large account at the default pace is minutes of requests.
//! On a terminal, a spinner line per workspace on standard error ("acme: 1234 request(s), 56
//! from cache, 2m 03s"); otherwise an info log line every [`LOG_EVERY`] per workspace.

use orgsync_core::http::{HttpObserver, RequestEvent};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often a fetch that is not on a terminal logs its progress.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// The message of the progress log line.
pub const PROGRESS_MESSAGE: &str = "fetching";

struct Fetch {
    requests: u64,
    cached: u64,
    started: Instant,
    logged: Instant,
    bar: Option<indicatif::ProgressBar>,
}

/// An [`HttpObserver`] that shows how far each workspace's fetch has come.
pub struct Progress {
    terminal: bool,
    log_every: Duration,
    fetches: Mutex<BTreeMap<String, Fetch>>,
}

impl Progress {
    /// Spinners when standard error is a terminal, log lines every [`LOG_EVERY`] otherwise.
    pub fn for_stderr() -> Progress {
        use std::io::IsTerminal;
        Progress::new(std::io::stderr().is_terminal(), LOG_EVERY)
    }

    /// Spinners when `terminal`, else an info log line per workspace at most every `log_every`.
    pub fn new(terminal: bool, log_every: Duration) -> Progress {
        Progress {
            terminal,
            log_every,
            fetches: Mutex::new(BTreeMap::new()),
        }
    }

    /// The workspace's fetch is over: its spinner is cleared before the report is printed.
    pub fn finish(&self, workspace: &str) {
        let Ok(mut fetches) = self.fetches.lock() else {
            return;
        };
        if let Some(fetch) = fetches.remove(workspace)
            && let Some(bar) = fetch.bar
        {
            bar.finish_and_clear();
        }
    }

    fn spinner(workspace: &str) -> indicatif::ProgressBar {
        let bar = indicatif::ProgressBar::new_spinner()
            .with_prefix(crate::text::escape(workspace).into_owned());
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{spinner} {prefix}: {msg}, {elapsed}")
        {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

impl HttpObserver for Progress {
    fn request_finished(&self, event: &RequestEvent<'_>) {
        let Ok(mut fetches) = self.fetches.lock() else {
            return;
        };
        let now = Instant::now();
        let fetch = fetches
            .entry(event.workspace.to_string())
            .or_insert_with(|| Fetch {
                requests: 0,
                cached: 0,
                started: now,
                logged: now,
                bar: self.terminal.then(|| Progress::spinner(event.workspace)),
            });
        fetch.requests += 1;
        fetch.cached += u64::from(event.from_cache);
        if let Some(bar) = &fetch.bar {
            bar.set_message(format!(
                "{} request(s), {} from cache",
                fetch.requests, fetch.cached
            ));
        } else if now.duration_since(fetch.logged) >= self.log_every {
            fetch.logged = now;
            tracing::info!(
                workspace = %crate::text::Escaped(event.workspace),
                requests = fetch.requests,
                from_cache = fetch.cached,
                elapsed_s = now.duration_since(fetch.started).as_secs(),
                "{}",
                PROGRESS_MESSAGE
            );
        }
    }
}
