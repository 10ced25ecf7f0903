-- Stable views for applications that read the directory directly: version 1 of a contract.
-- Columns are only ever added; a change in meaning gets new views (orgsync_v2_*) beside these.
-- Mirrored in migrations/postgres; tested on both databases.

-- One row per membership (a person in a workspace).
CREATE VIEW orgsync_v1_members AS
SELECT w.name              AS workspace,
       u.id                AS user_id,
       w.provider          AS provider,
       i.provider_user_id  AS provider_user_id,
       i.login             AS login,
       u.name              AS name,
       u.email             AS email,
       u.kind              AS kind,
       m.role              AS role,
       m.state             AS state,
       m.source            AS source,
       m.reason            AS reason,
       m.state = 'active'  AS admitted,
       m.updated_at        AS updated_at
FROM memberships m
JOIN workspaces w ON w.id = m.workspace_id
JOIN users u ON u.id = m.user_id
LEFT JOIN identities i ON i.user_id = u.id AND i.provider = w.provider AND i.host = w.host;

-- One row per team.
CREATE VIEW orgsync_v1_teams AS
SELECT w.name         AS workspace,
       t.slug         AS team,
       t.name         AS name,
       t.parent_slug  AS parent,
       t.source       AS source
FROM teams t
JOIN workspaces w ON w.id = t.workspace_id;

-- One row per team membership.
CREATE VIEW orgsync_v1_team_members AS
SELECT w.name    AS workspace,
       t.slug    AS team,
       tm.user_id AS user_id,
       tm.role   AS team_role,
       tm.source AS source
FROM team_members tm
JOIN teams t ON t.id = tm.team_id
JOIN workspaces w ON w.id = t.workspace_id;
