-- PostgreSQL form of SQLite migration 0020: the tenant's message templates.

ALTER TABLE tenants ADD COLUMN waba_id TEXT;
ALTER TABLE tenants ADD COLUMN templates_synced_at BIGINT;

CREATE TABLE templates (
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    name              TEXT NOT NULL,
    language          TEXT NOT NULL,
    status            TEXT NOT NULL,
    category          TEXT NOT NULL,
    parameter_format  TEXT NOT NULL,
    body_params       BIGINT NOT NULL,
    parameters        TEXT NOT NULL,
    components        TEXT NOT NULL,
    meta_id           TEXT,
    source            TEXT NOT NULL CHECK (source IN ('meta', 'operator')),
    status_at         BIGINT NOT NULL,
    synced_at         BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, name, language)
);
