//! sd_notify: READY, STATUS, RELOADING + MONOTONIC_USEC, STOPPING and the watchdog. Every call
//! is a no-op without `NOTIFY_SOCKET`, so the daemon runs the same outside systemd.

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;

fn send(states: &[NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "sd_notify failed");
    }
}

/// `READY=1`: startup is complete (the listener is bound), or a reload ended, applied or not.
pub(crate) fn ready() {
    send(&[NotifyState::Ready]);
}

/// `STATUS=`: the line `systemctl status` shows (each workspace's latest run).
pub(crate) fn status(text: &str) {
    send(&[NotifyState::Status(text)]);
}

/// `RELOADING=1` with `MONOTONIC_USEC`: a configuration reload has begun; [`ready`] ends it.
pub(crate) fn reloading() {
    send(&[
        NotifyState::Reloading,
        NotifyState::monotonic_usec_now().unwrap_or(NotifyState::MonotonicUsec(0)),
    ]);
}

/// `STOPPING=1`: shutdown has begun; runs in flight are finishing or being cancelled.
pub(crate) fn stopping() {
    send(&[NotifyState::Stopping]);
}

/// Pings the watchdog at half of `WATCHDOG_USEC` from a task on the runtime, so a stalled
/// runtime stops the pings and systemd restarts the service. A ping is also skipped while
/// `health` reports a problem (a workspace whose runs stopped, a run far past its deadline):
/// a daemon that is alive but wedged gets restarted too.
pub fn spawn_watchdog(
    stop: CancellationToken,
    health: impl Fn() -> Result<(), String> + Send + 'static,
) {
    let Some(interval) = sd_notify::watchdog_enabled() else {
        return;
    };
    let half = interval / 2;
    tokio::spawn(async move {
        loop {
            match health() {
                Ok(()) => send(&[NotifyState::Watchdog]),
                Err(problem) => {
                    tracing::error!(problem = %problem, "unhealthy: the watchdog is not fed");
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(half) => {}
                _ = stop.cancelled() => return,
            }
        }
    });
}
