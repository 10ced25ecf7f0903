-- The database alone: the rows of the engine benchmark's 100,000-member cold plan inserted by
-- PostgreSQL itself (no orgsync, no driver), into the migrated schema, in one transaction. What
-- the apply cannot go below on this machine; BENCHMARKS.md, "The floor".
--
--   createdb -h 127.0.0.1 -U postgres floor
--   for f in migrations/postgres/*.sql; do psql -q -h 127.0.0.1 -U postgres -d floor -f $f; done
--   psql -h 127.0.0.1 -U postgres -d floor -f benches/floor/postgres.sql
--
-- Event ids are in write order, as orgsync writes them; `'evt_' || md5(random()::text)` in the
-- outbox statement gives random ones.
INSERT INTO workspaces (id, name, provider, host, account, created_at)
    VALUES (1, 'bench', 'github', 'github.com', 'acme', now());
\timing on
BEGIN;
INSERT INTO sync_runs (id, workspace_id, trigger, started_at, finished_at, outcome)
    VALUES (1, 1, 'bench', now(), now(), 'ok');
INSERT INTO teams (id, workspace_id, slug, name, source, created_at, updated_at)
    SELECT value, 1, format('team-%s', value), 'Team ' || value, 'sync', now(), now()
    FROM generate_series(1, 500) AS value;
INSERT INTO users (id, name, email, kind, created_at, updated_at)
    SELECT value, 'User ' || value, format('user-%s@acme.example', value), 'person', now(), now()
    FROM generate_series(1, 100000) AS value;
INSERT INTO identities (user_id, provider, host, provider_user_id, login, created_at)
    SELECT value, 'github', 'github.com', 1000000 + value, format('user-%s', value), now()
    FROM generate_series(1, 100000) AS value;
INSERT INTO memberships (workspace_id, user_id, role, role_pinned, state, source, created_at, updated_at)
    SELECT 1, value, 'member', false, 'active', 'sync', now(), now()
    FROM generate_series(1, 100000) AS value;
INSERT INTO team_members (team_id, user_id, role, source)
    SELECT (value - 1) / 200 + 1, value, 'member', 'sync' FROM generate_series(1, 100000) AS value;
INSERT INTO audit_events (run_id, workspace_id, at, actor, action, subject, detail)
    SELECT 1, 1, now(), 'sync', 'team_member_add', format('user-%s', value % 100000),
           format('{"kind":"team_member_add","team":"team-%s","provider_user_id":"%s","login":"user-%s","role":"member"}',
                  value % 500, 1000000 + value, value % 100000)
    FROM generate_series(1, 204500) AS value;
INSERT INTO outbox (event_id, workspace_id, run_id, type, user_id, team_slug, payload, created_at)
    SELECT 'evt_19ad8113e000abcdef' || lpad(to_hex(value), 6, '0'), 1, 1, 'team.member_added',
           value % 100000, format('team-%s', value % 500),
           format('{"data":{"login":"user-%s","provider":"github","provider_user_id":"%s","team":"team-%s","team_role":"member","user_id":%s,"workspace":"bench"},"timestamp":"2026-12-01T04:00:00.123Z","type":"team.member_added"}',
                  value % 100000, 1000000 + value, value % 500, value % 100000),
           now()
    FROM generate_series(1, 204500) AS value;
COMMIT;
