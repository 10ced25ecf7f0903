-- Change events for the applications downstream (webhooks, SCIM), written in the apply's
-- transaction; delivery state per target. Mirrored in migrations/sqlite.
CREATE TABLE outbox (
    id            BIGSERIAL PRIMARY KEY,
    event_id      TEXT NOT NULL UNIQUE,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    run_id        BIGINT REFERENCES sync_runs(id) ON DELETE SET NULL,
    type          TEXT NOT NULL,
    user_id       BIGINT,
    team_slug     TEXT,
    payload       TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);

-- One row per configured target: everything up to `delivered_through` (an outbox id) is delivered or
-- dead-lettered. The lease keeps two workers (daemon replicas, `downstream deliver`) apart.
CREATE TABLE downstream_targets (
    name         TEXT PRIMARY KEY,
    delivered_through      BIGINT NOT NULL DEFAULT 0,
    lease_owner  TEXT,
    lease_until_ms  BIGINT,
    updated_at   TIMESTAMPTZ NOT NULL
);

-- Events of a target that failed: retrying (with the next attempt's time), dead (after
-- max_attempts) or requeued by `downstream retry`.
CREATE TABLE downstream_failures (
    target           TEXT NOT NULL,
    outbox_id        BIGINT NOT NULL REFERENCES outbox(id) ON DELETE CASCADE,
    state            TEXT NOT NULL CHECK (state IN ('retrying', 'dead', 'requeued')),
    attempts         INTEGER NOT NULL,
    next_attempt_ms  BIGINT NOT NULL,
    last_error       TEXT NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (target, outbox_id)
);
CREATE INDEX downstream_failures_state ON downstream_failures(target, state);

-- The ids a SCIM server gave the users and groups orgsync created there.
CREATE TABLE downstream_scim_ids (
    target       TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('user', 'group')),
    external_id  TEXT NOT NULL,
    scim_id      TEXT NOT NULL,
    PRIMARY KEY (target, kind, external_id)
);

-- The access call looks a person up by login.
CREATE INDEX identities_login ON identities(provider, host, login);
