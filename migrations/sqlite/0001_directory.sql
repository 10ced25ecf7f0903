-- The directory: one schema, mirrored in migrations/postgres.
CREATE TABLE workspaces (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    provider    TEXT NOT NULL,
    host        TEXT NOT NULL,
    account     TEXT NOT NULL,
    teams_status TEXT,
    created_at  TEXT NOT NULL
);

CREATE TABLE users (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT,
    email       TEXT,
    kind        TEXT NOT NULL DEFAULT 'person' CHECK (kind IN ('person', 'service')),
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE memberships (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id   INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    user_id        INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role           TEXT NOT NULL,
    role_pinned    BOOLEAN NOT NULL DEFAULT FALSE,
    state          TEXT NOT NULL CHECK (state IN ('active', 'offboarded', 'suspended', 'invited')),
    source         TEXT NOT NULL CHECK (source IN ('sync', 'invitation', 'manual')),
    reason         TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    offboarded_at  TEXT,
    UNIQUE (workspace_id, user_id)
);

CREATE TABLE identities (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id           INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    provider          TEXT NOT NULL,
    host              TEXT NOT NULL,
    provider_user_id  TEXT NOT NULL,
    login             TEXT,
    created_at        TEXT NOT NULL,
    UNIQUE (provider, host, provider_user_id)
);
CREATE INDEX identities_user ON identities(user_id);

CREATE TABLE repositories (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id      INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name              TEXT NOT NULL,
    provider_repo_id  TEXT NOT NULL,
    archived          BOOLEAN NOT NULL,
    fork              BOOLEAN NOT NULL,
    visibility        TEXT NOT NULL,
    UNIQUE (workspace_id, name)
);

CREATE TABLE teams (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id      INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    slug              TEXT NOT NULL,
    name              TEXT NOT NULL,
    parent_slug       TEXT,
    provider_team_id  TEXT,
    source            TEXT NOT NULL CHECK (source IN ('sync', 'manual')),
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    UNIQUE (workspace_id, slug)
);

CREATE TABLE team_members (
    team_id  INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id  INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role     TEXT NOT NULL CHECK (role IN ('member', 'maintainer')),
    source   TEXT NOT NULL CHECK (source IN ('sync', 'invitation', 'manual')),
    PRIMARY KEY (team_id, user_id)
);
CREATE INDEX team_members_user ON team_members(user_id);

CREATE TABLE team_repositories (
    team_id        INTEGER NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    repository_id  INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    permission     TEXT NOT NULL,
    PRIMARY KEY (team_id, repository_id)
);

CREATE TABLE invitations (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id      INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    email             TEXT NOT NULL,
    role              TEXT NOT NULL,
    teams             TEXT NOT NULL DEFAULT '[]',
    admin             BOOLEAN NOT NULL DEFAULT FALSE,
    token_hash        TEXT NOT NULL UNIQUE,
    state             TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'expired', 'cancelled')),
    created_by        TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    expires_at        TEXT NOT NULL,
    accepted_at       TEXT,
    accepted_user_id  INTEGER REFERENCES users(id) ON DELETE SET NULL
);

CREATE TABLE sync_runs (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    workspace_id           INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    trigger                TEXT NOT NULL,
    started_at             TEXT NOT NULL,
    finished_at            TEXT,
    outcome                TEXT NOT NULL CHECK (outcome IN ('running', 'ok', 'dry_run', 'aborted', 'failed')),
    onboarded              INTEGER NOT NULL DEFAULT 0,
    offboarded             INTEGER NOT NULL DEFAULT 0,
    reactivated            INTEGER NOT NULL DEFAULT 0,
    changes                INTEGER NOT NULL DEFAULT 0,
    requests               INTEGER NOT NULL DEFAULT 0,
    requests_not_modified  INTEGER NOT NULL DEFAULT 0,
    error                  TEXT
);
CREATE INDEX sync_runs_workspace ON sync_runs(workspace_id, started_at);

CREATE TABLE audit_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id        INTEGER REFERENCES sync_runs(id) ON DELETE SET NULL,
    workspace_id  INTEGER REFERENCES workspaces(id) ON DELETE CASCADE,
    at            TEXT NOT NULL,
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
    body           BLOB NOT NULL,
    stored_at      TEXT NOT NULL
);
