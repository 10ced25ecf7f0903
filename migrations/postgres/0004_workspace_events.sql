-- The last webhook event a daemon received per workspace, for `orgsync status`.
ALTER TABLE workspaces ADD COLUMN last_event TEXT;
