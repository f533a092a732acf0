-- CRM phone numbers the host could not normalise to E.164, one row per CRM record,
-- with the reason: shown to the operator instead of silently dropped. A record's
-- row goes when a later version of it has a usable number.
CREATE TABLE crm_phone_problems (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    crm_id      TEXT NOT NULL,
    phone       TEXT NOT NULL,
    country     TEXT,
    reason      TEXT NOT NULL,
    seen_at     INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, crm_id)
) STRICT;
