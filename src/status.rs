//! What `orgsync status` and the daemon's `/status` report per workspace.

use crate::config::{Config, Schedule};
use crate::directory::{DirectoryError, RunRow, Store};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One configured workspace's state, as `orgsync status` prints it and `/status` serves it (JSON).
#[derive(Debug, Clone, Serialize)]
pub struct StatusEntry {
    /// The workspace's configured name.
    pub workspace: String,
    /// `github`, `gitlab` or `bitbucket`.
    pub provider: String,
    /// The latest finished run, whatever its outcome; `None` before the first run.
    pub last_run: Option<RunRow>,
    /// When the latest applied run (outcome `ok`) finished; `None` when none ever did.
    pub last_success: Option<DateTime<Utc>>,
    /// The schedule's next fire time from now; `None` when it fires no more.
    pub next_run: Option<DateTime<Utc>>,
    /// The last webhook event a daemon received for this workspace.
    pub last_event: Option<String>,
    /// Why the provider's teams could not be read (synced teams are left as they were).
    pub teams_unavailable: Option<String>,
    /// The plan a guard refused, waiting for a human.
    pub held: Option<HeldSummary>,
    /// A fetch larger than one rate-limit window, under way: what the next run continues from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetch_progress: Option<FetchProgress>,
}

/// An unfinished fetch's kept pages (Bitbucket at 1,000 requests per hour): the next run serves
/// them without a request while they are younger than `max_page_age_seconds`.
#[derive(Debug, Clone, Serialize)]
pub struct FetchProgress {
    /// Pages read and kept so far (always more than 0: without pages there is no progress).
    pub pages_kept: u64,
    /// When the oldest kept page was read: the first to be read again once it is older than
    /// `max_page_age_seconds`.
    pub oldest_read_at: Option<DateTime<Utc>>,
    /// The workspace's `max_page_age_seconds`: how long a kept page is served, in seconds.
    pub max_page_age_seconds: u64,
}

/// A held plan, in brief: what `status` shows and how to review it.
#[derive(Debug, Clone, Serialize)]
pub struct HeldSummary {
    /// When the run that first refused this plan finished (a replaced plan starts anew).
    pub since: DateTime<Utc>,
    /// Runs that planned this same held plan.
    pub runs: i64,
    /// Guarded changes by kind (`offboard`: 12, …).
    pub counts: Vec<(String, usize)>,
    /// The guards that refused it, by metric label (`offboard_threshold`, `no_admin_left`, …).
    pub guards: Vec<String>,
    /// The command that shows the held plan (`orgsync plans show --workspace NAME`).
    pub review: String,
}

impl HeldSummary {
    /// Summarises a hold as the directory stores it; a plan or guard list that no longer
    /// parses shows as empty rather than failing the status.
    pub fn of(row: &crate::directory::HoldRow) -> HeldSummary {
        let plan: Option<crate::sync::Plan> = serde_json::from_str(&row.plan).ok();
        let trips: Vec<crate::sync::GuardTrip> =
            serde_json::from_str(&row.trips).unwrap_or_default();
        HeldSummary {
            since: row.created_at,
            runs: row.runs,
            counts: plan
                .as_ref()
                .map(|p| {
                    crate::sync::hold::counts(p)
                        .into_iter()
                        .map(|(k, n)| (k.to_string(), n))
                        .collect()
                })
                .unwrap_or_default(),
            guards: trips.iter().map(|t| t.label().to_string()).collect(),
            review: format!("orgsync plans show --workspace {}", row.workspace),
        }
    }
}

/// Seconds between the two fire times of a schedule after `at` (its period, for alerts).
pub fn period_seconds(schedule: &Schedule, at: DateTime<Utc>) -> Option<f64> {
    schedule
        .period(at)
        .map(|d| d.num_milliseconds() as f64 / 1000.0)
}

/// One entry per configured workspace, from the directory's run records.
pub async fn entries(config: &Config, store: &Store) -> Result<Vec<StatusEntry>, DirectoryError> {
    let runs = store.recent_runs(None, 1).await?;
    let holds = store.holds(None).await?;
    let now = Utc::now();
    let mut out = Vec::new();
    for ws in &config.workspaces {
        let (teams_unavailable, last_event) = store.workspace_notes(&ws.name).await?;
        let fetch_progress = if ws.provider == orgsync_core::ProviderKind::Bitbucket {
            let (pages_kept, oldest_read_at) = store.fetch_pages_progress(&ws.name).await?;
            (pages_kept > 0).then_some(FetchProgress {
                pages_kept,
                oldest_read_at,
                max_page_age_seconds: ws.max_page_age_seconds,
            })
        } else {
            None
        };
        out.push(StatusEntry {
            workspace: ws.name.clone(),
            provider: ws.provider.to_string(),
            last_run: runs.iter().find(|r| r.workspace == ws.name).cloned(),
            last_success: store.last_success(&ws.name).await?,
            next_run: ws.schedule.next_after(now),
            last_event,
            teams_unavailable,
            held: holds
                .iter()
                .find(|h| h.workspace == ws.name)
                .map(HeldSummary::of),
            fetch_progress,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn fires(
        schedule: &str,
        tz: chrono_tz::Tz,
        from: DateTime<Utc>,
        n: usize,
    ) -> Vec<DateTime<Utc>> {
        let schedule = Schedule::new(schedule, tz).expect("a schedule");
        let mut out = Vec::new();
        let mut t = from;
        for _ in 0..n {
            let next = schedule.next_after(t).expect("fires");
            out.push(next);
            t = next;
        }
        out
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .expect("valid time")
    }

    #[test]
    fn nightly_0230_berlin_fires_once_a_day_at_the_right_instants_across_both_2027_changes() {
        let berlin = chrono_tz::Europe::Berlin;
        // Spring: on 28 March 2027 clocks jump from 02:00 to 03:00 CET->CEST; 02:30 does not
        // exist that night, and the run happens once, right after the gap (03:00 CEST = 01:00 UTC).
        let spring = fires("30 2 * * *", berlin, utc(2027, 3, 26, 12, 0), 4);
        assert_eq!(
            spring,
            vec![
                utc(2027, 3, 27, 1, 30), // 02:30 CET
                utc(2027, 3, 28, 1, 0),  // the gap: 03:00 CEST
                utc(2027, 3, 29, 0, 30), // 02:30 CEST
                utc(2027, 3, 30, 0, 30),
            ]
        );
        // Autumn: on 31 October 2027 02:00-03:00 happens twice; the run happens once, at the
        // first 02:30 (CEST, 00:30 UTC), not again an hour later.
        let autumn = fires("30 2 * * *", berlin, utc(2027, 10, 29, 12, 0), 4);
        assert_eq!(
            autumn,
            vec![
                utc(2027, 10, 30, 0, 30), // 02:30 CEST
                utc(2027, 10, 31, 0, 30), // the first 02:30 (CEST)
                utc(2027, 11, 1, 1, 30),  // 02:30 CET
                utc(2027, 11, 2, 1, 30),
            ]
        );
    }

    #[test]
    fn six_field_schedules_have_seconds_and_previous_fire_is_at_or_before() {
        let t = utc(2027, 1, 1, 0, 0);
        assert_eq!(
            Schedule::new("*/2 * * * * *", chrono_tz::UTC)
                .expect("a schedule")
                .next_after(t),
            Some(t + chrono::Duration::seconds(2))
        );
        assert_eq!(
            Schedule::new("0 * * * *", chrono_tz::UTC)
                .expect("a schedule")
                .previous_at_or_before(t + chrono::Duration::minutes(30)),
            Some(t)
        );
    }
}
