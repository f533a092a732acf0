-- When a tenant secret (a CRM's API key, a token with a fixed lifetime) stops
-- working, when its issuer says: the host warns and alerts before it does.
ALTER TABLE tenant_secrets ADD COLUMN expires_at INTEGER;
