-- Analytics: each tenant's settings (business hours, watched words, promotions,
-- thresholds), as the application validated them.
CREATE TABLE analytics_settings (
    tenant_id   TEXT PRIMARY KEY REFERENCES tenants(id),
    settings    TEXT NOT NULL,               -- JSON
    updated_at  BIGINT NOT NULL
);
