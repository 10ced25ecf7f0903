-- `audit_events` and `outbox` are append-only logs: they keep `workspace_id` and `run_id` as
-- plain values, without foreign keys (as GitLab's `audit_events` does), so their history
-- outlives what it names and the apply's 100,000-row inserts pay no key checks. What the keys'
-- ON DELETE actions did is done by the directory's own deletes (ARCHITECTURE.md, "Logs without
-- foreign keys"). `downstream_failures` keeps its key to `outbox`. Mirrored in migrations/sqlite.
ALTER TABLE audit_events
    DROP CONSTRAINT audit_events_run_id_fkey,
    DROP CONSTRAINT audit_events_workspace_id_fkey;
ALTER TABLE outbox
    DROP CONSTRAINT outbox_run_id_fkey,
    DROP CONSTRAINT outbox_workspace_id_fkey;

-- `continuing`: a run cut by the provider's rate window whose fetch the next run continues.
ALTER TABLE sync_runs
    DROP CONSTRAINT sync_runs_outcome_check,
    ADD CONSTRAINT sync_runs_outcome_check
        CHECK (outcome IN ('running', 'ok', 'dry_run', 'aborted', 'failed', 'continuing'));
