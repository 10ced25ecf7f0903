-- What the last fetch of each workspace showed (the snapshot, as JSON): the evidence behind
-- `orgsync explain` and `users list --state refused`, read without a provider call.
CREATE TABLE evidence (
    workspace_id  INTEGER PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    run_id        INTEGER REFERENCES sync_runs(id) ON DELETE SET NULL,
    at            TEXT NOT NULL,
    snapshot      TEXT NOT NULL
);
