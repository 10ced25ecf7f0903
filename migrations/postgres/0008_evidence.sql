-- What the last fetch of each workspace showed (the snapshot, as JSON): the evidence behind
-- `orgsync explain` and `users list --state refused`, read without a provider call.
CREATE TABLE evidence (
    workspace_id  BIGINT PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    run_id        BIGINT REFERENCES sync_runs(id) ON DELETE SET NULL,
    at            TIMESTAMPTZ NOT NULL,
    snapshot      TEXT NOT NULL
);
