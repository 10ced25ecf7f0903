-- Schedule ticks claimed by a daemon, so that replicas sharing a directory serve each tick once.
CREATE TABLE schedule_ticks (
    workspace   TEXT NOT NULL,
    tick_at     TIMESTAMPTZ NOT NULL,
    claimed_by  TEXT NOT NULL,
    claimed_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace, tick_at)
);
