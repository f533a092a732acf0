-- Indexes for the CRM sync's range work: the retention purge and the history backfill
-- read a tenant's messages by time; the backfill progress counts a tenant's backfill
-- jobs by state.
CREATE INDEX messages_tenant_time ON messages(tenant_id, timestamp);
CREATE INDEX crm_jobs_tenant_backfill ON crm_jobs(tenant_id, backfill, state);
