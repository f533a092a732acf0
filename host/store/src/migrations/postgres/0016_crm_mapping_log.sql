-- The mapping log: per tenant, week (its Monday 00:00 UTC, Unix ms) and CRM field,
-- how many records the mapper filled with the field's default or could not write
-- because the (required) field was empty.
CREATE TABLE crm_mapping_log (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    week        BIGINT NOT NULL,
    field       TEXT NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('defaulted', 'skipped')),
    count       BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, week, field, outcome)
);
