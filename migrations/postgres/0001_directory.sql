-- The directory: one schema, mirrored in migrations/sqlite.
CREATE TABLE workspaces (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    provider    TEXT NOT NULL,
    host        TEXT NOT NULL,
    account     TEXT NOT NULL,
    teams_status TEXT,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE users (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT,
    email       TEXT,
    kind        TEXT NOT NULL DEFAULT 'person' CHECK (kind IN ('person', 'service')),
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE memberships (
    id             BIGSERIAL PRIMARY KEY,
    workspace_id   BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    user_id        BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role           TEXT NOT NULL,
    role_pinned    BOOLEAN NOT NULL DEFAULT FALSE,
    state          TEXT NOT NULL CHECK (state IN ('active', 'offboarded', 'suspended', 'invited')),
    source         TEXT NOT NULL CHECK (source IN ('sync', 'invitation', 'manual')),
    reason         TEXT,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    offboarded_at  TIMESTAMPTZ,
    UNIQUE (workspace_id, user_id)
);

CREATE TABLE identities (
    id                BIGSERIAL PRIMARY KEY,
    user_id           BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider          TEXT NOT NULL,
    host              TEXT NOT NULL,
    provider_user_id  TEXT NOT NULL,
    login             TEXT,
    created_at        TIMESTAMPTZ NOT NULL,
    UNIQUE (provider, host, provider_user_id)
);
CREATE INDEX identities_user ON identities(user_id);

CREATE TABLE repositories (
    id                BIGSERIAL PRIMARY KEY,
    workspace_id      BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    provider_repo_id  TEXT NOT NULL,
    archived          BOOLEAN NOT NULL,
    fork              BOOLEAN NOT NULL,
    visibility        TEXT NOT NULL,
    UNIQUE (workspace_id, name)
);

CREATE TABLE teams (
    id                BIGSERIAL PRIMARY KEY,
    workspace_id      BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    slug              TEXT NOT NULL,
    name              TEXT NOT NULL,
    parent_slug       TEXT,
    provider_team_id  TEXT,
    source            TEXT NOT NULL CHECK (source IN ('sync', 'manual')),
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    UNIQUE (workspace_id, slug)
);

CREATE TABLE team_members (
    team_id  BIGINT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role     TEXT NOT NULL CHECK (role IN ('member', 'maintainer')),
    source   TEXT NOT NULL CHECK (source IN ('sync', 'invitation', 'manual')),
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members(user_id);

CREATE TABLE team_repositories (
    team_id        BIGINT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    repository_id  BIGINT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    permission     TEXT NOT NULL,
    PRIMARY KEY (team_id, repository_id)
);

CREATE TABLE invitations (
    id                BIGSERIAL PRIMARY KEY,
    workspace_id      BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    email             TEXT NOT NULL,
    role              TEXT NOT NULL,
    teams             TEXT NOT NULL DEFAULT '[]',
    admin             BOOLEAN NOT NULL DEFAULT FALSE,
    token_hash        TEXT NOT NULL UNIQUE,
    state             TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'expired', 'cancelled')),
    created_by        TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    expires_at        TIMESTAMPTZ NOT NULL,
    accepted_at       TIMESTAMPTZ,
    accepted_user_id  BIGINT REFERENCES users(id) ON DELETE SET NULL
);

CREATE TABLE sync_runs (
    id                     BIGSERIAL PRIMARY KEY,
    workspace_id           BIGINT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    trigger                TEXT NOT NULL,
    started_at             TIMESTAMPTZ NOT NULL,
    finished_at            TIMESTAMPTZ,
    outcome                TEXT NOT NULL CHECK (outcome IN ('running', 'ok', 'dry_run', 'aborted', 'failed')),
    onboarded              BIGINT NOT NULL DEFAULT 0,
    offboarded             BIGINT NOT NULL DEFAULT 0,
    reactivated            BIGINT NOT NULL DEFAULT 0,
    changes                BIGINT NOT NULL DEFAULT 0,
    requests               BIGINT NOT NULL DEFAULT 0,
    requests_not_modified  BIGINT NOT NULL DEFAULT 0,
    error                  TEXT
);
CREATE INDEX sync_runs_workspace ON sync_runs(workspace_id, started_at);

CREATE TABLE audit_events (
    id            BIGSERIAL PRIMARY KEY,
    run_id        BIGINT REFERENCES sync_runs(id) ON DELETE SET NULL,
    workspace_id  BIGINT REFERENCES workspaces(id) ON DELETE CASCADE,
    at            TIMESTAMPTZ NOT NULL,
    actor         TEXT NOT NULL,
    action        TEXT NOT NULL,
    subject       TEXT NOT NULL,
    detail        TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_events_workspace ON audit_events(workspace_id, at);

CREATE TABLE http_cache (
    key            TEXT PRIMARY KEY,
    etag           TEXT,
    last_modified  TEXT,
    headers        TEXT NOT NULL DEFAULT '[]',
    body           BYTEA NOT NULL,
    stored_at      TIMESTAMPTZ NOT NULL
);
