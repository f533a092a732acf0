-- PostgreSQL form of SQLite migration 0034.
ALTER TABLE hooks DROP CONSTRAINT hooks_kind_check;
ALTER TABLE hooks ADD CONSTRAINT hooks_kind_check CHECK (kind IN ('relay', 'events'));
ALTER TABLE hooks ADD COLUMN types TEXT NOT NULL DEFAULT '*';
ALTER TABLE hook_deliveries ADD COLUMN payload TEXT;
