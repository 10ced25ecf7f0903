-- no-transaction
-- `audit_events` and `outbox` are append-only logs: they keep `workspace_id` and `run_id` as
-- plain values, without foreign keys (as GitLab's `audit_events` does), so their history
-- outlives what it names and the apply's 100,000-row inserts pay no key checks. What the keys'
-- ON DELETE actions did is done by the directory's own deletes (ARCHITECTURE.md, "Logs without
-- foreign keys"). `downstream_failures` keeps its key to `outbox`. Also: `sync_runs.outcome`
-- admits `continuing` (a run cut by the provider's rate window whose fetch the next run
-- continues). Mirrored in migrations/postgres.
--
-- SQLite cannot drop a constraint: the three tables are rebuilt by the 12 steps of "Making Other
-- Kinds Of Table Schema Changes" (lang_altertable.html). Foreign keys are off for the rebuild
-- (outside the transaction, where the pragma has effect), so `DROP TABLE sync_runs` does not
-- null the run ids of `holds` and `evidence` and `DROP TABLE outbox` does not delete
-- `downstream_failures`; hence `-- no-transaction` on the first line, which makes sqlx run this
-- file as it is. The connection opened with foreign keys on and gets them back at the end.
PRAGMA foreign_keys = OFF;
BEGIN;

-- AUTOINCREMENT's counters: a rebuilt table would restart from its highest id and hand out
-- again the ids of rows deleted at the top (a cleared run marker), which the logs may name.
CREATE TEMP TABLE migration_0011_sequence AS
    SELECT name, seq FROM sqlite_sequence WHERE name IN ('sync_runs', 'audit_events', 'outbox');

CREATE TABLE new_sync_runs (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id           INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    trigger                TEXT NOT NULL,
    started_at             TEXT NOT NULL,
    finished_at            TEXT,
    outcome                TEXT NOT NULL CHECK (outcome IN ('running', 'ok', 'dry_run', 'aborted', 'failed', 'continuing')),
    onboarded              INTEGER NOT NULL DEFAULT 0,
    offboarded             INTEGER NOT NULL DEFAULT 0,
    reactivated            INTEGER NOT NULL DEFAULT 0,
    changes                INTEGER NOT NULL DEFAULT 0,
    requests               INTEGER NOT NULL DEFAULT 0,
    requests_not_modified  INTEGER NOT NULL DEFAULT 0,
    error                  TEXT
);
INSERT INTO new_sync_runs (id, workspace_id, trigger, started_at, finished_at, outcome, onboarded,
                           offboarded, reactivated, changes, requests, requests_not_modified, error)
    SELECT id, workspace_id, trigger, started_at, finished_at, outcome, onboarded, offboarded,
           reactivated, changes, requests, requests_not_modified, error
    FROM sync_runs;
DROP TABLE sync_runs;
ALTER TABLE new_sync_runs RENAME TO sync_runs;
CREATE INDEX sync_runs_workspace ON sync_runs(workspace_id, started_at);

CREATE TABLE new_audit_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id        INTEGER,
    workspace_id  INTEGER,
    at            TEXT NOT NULL,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    detail        TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO new_audit_events (id, run_id, workspace_id, at, actor, action, subject, detail)
    SELECT id, run_id, workspace_id, at, actor, action, subject, detail FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE new_audit_events RENAME TO audit_events;
CREATE INDEX audit_events_workspace ON audit_events(workspace_id, at);

CREATE TABLE new_outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id      TEXT NOT NULL UNIQUE,
    workspace_id  INTEGER NOT NULL,
    run_id        INTEGER,
    type          TEXT NOT NULL,
    user_id       INTEGER,
    team_slug     TEXT,
    payload       TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
INSERT INTO new_outbox (id, event_id, workspace_id, run_id, type, user_id, team_slug, payload,
                        created_at)
    SELECT id, event_id, workspace_id, run_id, type, user_id, team_slug, payload, created_at
    FROM outbox;
DROP TABLE outbox;
ALTER TABLE new_outbox RENAME TO outbox;

DELETE FROM sqlite_sequence WHERE name IN ('sync_runs', 'audit_events', 'outbox');
INSERT INTO sqlite_sequence (name, seq) SELECT name, seq FROM temp.migration_0011_sequence;
DROP TABLE temp.migration_0011_sequence;

-- Step 10, made to fail the migration: `PRAGMA foreign_key_check` only lists violations, so
-- their count goes into a column that admits 0 alone ("CHECK constraint failed").
CREATE TEMP TABLE migration_0011_foreign_key_violations (violations INTEGER CHECK (violations = 0));
INSERT INTO temp.migration_0011_foreign_key_violations
    SELECT count(*) FROM pragma_foreign_key_check;
DROP TABLE temp.migration_0011_foreign_key_violations;

COMMIT;
PRAGMA foreign_keys = ON;
