-- A plan a guard refused, held for a human: one per workspace, stored once (digest), replaced
-- when a later run plans something else, released when a plan is applied.
CREATE TABLE holds (
    workspace_id  INTEGER PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    digest        TEXT NOT NULL,
    plan          TEXT NOT NULL,
    trips         TEXT NOT NULL,
    first_run_id  INTEGER REFERENCES sync_runs(id) ON DELETE SET NULL,
    last_run_id   INTEGER REFERENCES sync_runs(id) ON DELETE SET NULL,
    runs          INTEGER NOT NULL DEFAULT 1,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);
