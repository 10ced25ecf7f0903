-- The database alone: the rows of the engine benchmark's 100,000-member cold plan inserted by
-- SQLite itself (no orgsync, no driver), into the migrated schema, in one transaction, with the
-- directory's pragmas. What the apply cannot go below on this machine; BENCHMARKS.md, "The floor".
--
--   sqlite3 floor.db < <(cat migrations/sqlite/*.sql) && sqlite3 floor.db < benches/floor/sqlite.sql
--
-- `ORDERED` event ids are what orgsync writes since they are in write order; change the
-- outbox statement's first value to `'evt_' || lower(hex(randomblob(12)))` for random ones.
PRAGMA journal_mode = WAL;
PRAGMA foreign_keys = ON;
PRAGMA temp_store = memory;
INSERT INTO workspaces (id, name, provider, host, account, created_at)
    VALUES (1, 'bench', 'github', 'github.com', 'acme', '2026-12-01T04:00:00Z');
.timer on
BEGIN;
INSERT INTO sync_runs (id, workspace_id, trigger, started_at, finished_at, outcome)
    VALUES (1, 1, 'bench', '2026-12-01T04:00:00Z', '2026-12-01T04:00:00Z', 'ok');
INSERT INTO teams (id, workspace_id, slug, name, source, created_at, updated_at)
    SELECT value, 1, printf('team-%03d', value), 'Team ' || value, 'sync',
           '2026-12-01T04:00:00.123456Z', '2026-12-01T04:00:00.123456Z'
    FROM generate_series(1, 500);
INSERT INTO users (id, name, email, kind, created_at, updated_at)
    SELECT value, 'User ' || value, printf('user-%06d@acme.example', value), 'person',
           '2026-12-01T04:00:00.123456Z', '2026-12-01T04:00:00.123456Z'
    FROM generate_series(1, 100000);
INSERT INTO identities (user_id, provider, host, provider_user_id, login, created_at)
    SELECT value, 'github', 'github.com', 1000000 + value, printf('user-%06d', value),
           '2026-12-01T04:00:00.123456Z'
    FROM generate_series(1, 100000);
INSERT INTO memberships (workspace_id, user_id, role, role_pinned, state, source, created_at, updated_at)
    SELECT 1, value, 'member', 0, 'active', 'sync',
           '2026-12-01T04:00:00.123456Z', '2026-12-01T04:00:00.123456Z'
    FROM generate_series(1, 100000);
INSERT INTO team_members (team_id, user_id, role, source)
    SELECT (value - 1) / 200 + 1, value, 'member', 'sync' FROM generate_series(1, 100000);
INSERT INTO audit_events (run_id, workspace_id, at, actor, action, subject, detail)
    SELECT 1, 1, '2026-12-01T04:00:00.123456Z', 'sync', 'team_member_add',
           printf('user-%06d', value % 100000),
           printf('{"kind":"team_member_add","team":"team-%03d","provider_user_id":"%d","login":"user-%06d","role":"member"}',
                  value % 500, 1000000 + value, value % 100000)
    FROM generate_series(1, 204500);
INSERT INTO outbox (event_id, workspace_id, run_id, type, user_id, team_slug, payload, created_at)
    SELECT printf('evt_19ad8113e000abcdef%06x', value), 1, 1, 'team.member_added',
           value % 100000, printf('team-%03d', value % 500),
           printf('{"data":{"login":"user-%06d","provider":"github","provider_user_id":"%d","team":"team-%03d","team_role":"member","user_id":%d,"workspace":"bench"},"timestamp":"2026-12-01T04:00:00.123Z","type":"team.member_added"}',
                  value % 100000, 1000000 + value, value % 500, value % 100000),
           '2026-12-01T04:00:00.123456Z'
    FROM generate_series(1, 204500);
COMMIT;
