-- PostgreSQL form of SQLite migration 0008: the same tables, columns and indexes.
-- INTEGER is BIGINT, BLOB is BYTEA, row ids are identity columns.

-- Indexes for the CRM sync's range work: the retention purge and the history backfill
-- read a tenant's messages by time; the backfill progress counts a tenant's backfill
-- jobs by state.
CREATE INDEX messages_tenant_time ON messages(tenant_id, timestamp);
CREATE INDEX crm_jobs_tenant_backfill ON crm_jobs(tenant_id, backfill, state);
