//! The figures as Markdown tables (pasted into BENCHMARKS.md) and as progress lines.

use crate::Row;

fn mb(kb: u64) -> String {
    format!("{:.0}", kb as f64 / 1024.0)
}

fn phase_name(p: &str) -> &str {
    match p {
        "cold" => "cold",
        "nochange" => "no change",
        "churn" => "1 % churn",
        other => other,
    }
}

pub fn line(r: &Row) -> String {
    format!(
        "{} {} {}: {} requests ({} 304, {} quota, {} GraphQL for {} points), {:.1} s, peak RSS {} MB, {} changes + {} audit + {} cache writes, outcome {}{}",
        r.provider,
        r.size,
        phase_name(&r.phase.phase),
        r.requests,
        r.not_modified,
        r.quota,
        r.graphql_requests,
        r.graphql_points,
        r.phase.wall_seconds,
        mb(r.phase.peak_rss_kb),
        r.phase.plan_changes,
        r.phase.audit_events,
        r.phase.cache_writes,
        r.phase.outcome,
        r.phase
            .error
            .as_ref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    )
}

pub fn markdown(rows: &[Row]) -> String {
    let mut out = String::new();
    let mut provider = "";
    for r in rows {
        if r.provider != provider {
            provider = r.provider;
            out.push_str(&format!(
                "\n### {provider}\n\n| size | phase | requests | 304s | quota-counted | GraphQL points | wall s | peak RSS MB | directory writes (changes + audit) | cache writes | obvious approach | lower bound | outcome |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
            ));
        }
        let churn = if r.churn_events > 0 {
            format!(" ({} events)", r.churn_events)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "| {} {} | {}{} | {} | {} | {} | {} | {:.1} | {} | {} ({} + {}) | {} | {} | {} | {} |\n",
            r.size,
            r.shape,
            phase_name(&r.phase.phase),
            churn,
            r.requests,
            r.not_modified,
            r.quota,
            r.graphql_points,
            r.phase.wall_seconds,
            mb(r.phase.peak_rss_kb),
            r.phase.plan_changes + r.phase.audit_events,
            r.phase.plan_changes,
            r.phase.audit_events,
            r.phase.cache_writes,
            r.obvious,
            r.lower_bound,
            r.phase.outcome,
        ));
    }
    out
}
