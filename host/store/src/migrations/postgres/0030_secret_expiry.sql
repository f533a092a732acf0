-- PostgreSQL form of SQLite migration 0030.
ALTER TABLE tenant_secrets ADD COLUMN expires_at BIGINT;
