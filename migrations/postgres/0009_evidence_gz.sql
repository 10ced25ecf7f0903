-- The evidence is kept gzip-compressed (the JSON of the snapshot, written as a stream so the
-- whole JSON text never sits in memory): at 10,000 members and 625,000 team memberships the
-- text was tens of MB held, bound and copied at the run's memory peak. A new row has
-- `snapshot_gz` and an empty `snapshot`; a row written before this migration keeps its JSON text
-- in `snapshot` and is read from there until the next full run replaces it.
ALTER TABLE evidence ADD COLUMN snapshot_gz BYTEA;
