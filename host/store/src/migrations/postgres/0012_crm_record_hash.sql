-- PostgreSQL form of SQLite migration 0012.

-- A hash of the record the host last wrote for a link (the mapper's output), so a
-- change only the mapper sees (a new satisfaction score) is written too, and an
-- unchanged record is not written again.
ALTER TABLE crm_links ADD COLUMN record_hash TEXT;
