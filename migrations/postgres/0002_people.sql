-- At most one pending invitation per address and workspace, enforced by the database so that two
-- admins inviting the same person at the same moment cannot both succeed.
CREATE UNIQUE INDEX invitations_pending_email ON invitations(workspace_id, email) WHERE state = 'pending';
CREATE INDEX invitations_state_expiry ON invitations(state, expires_at);
