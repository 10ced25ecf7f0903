-- Pages an unfinished fetch read, with the time each was read: a fetch that needs more
-- requests than one rate-limit window allows (Bitbucket at 1,000 per hour) stops when the window
-- is spent and the next run continues from here instead of reading them again. Pages older
-- than the workspace's max_page_age_seconds are read again; the rows are deleted once a fetch
-- is complete. Keys are the conditional-request cache's (hashes of URL and credential).
CREATE TABLE fetch_pages (
    workspace  TEXT NOT NULL,
    key        TEXT NOT NULL,
    read_at    TEXT NOT NULL,
    etag       TEXT,
    headers    TEXT NOT NULL DEFAULT '[]',
    body       BLOB NOT NULL,
    PRIMARY KEY (workspace, key)
);
