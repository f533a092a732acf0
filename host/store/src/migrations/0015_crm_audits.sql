-- Sync accuracy: each audit read a random sample of synced contacts back from the
-- CRM and compared the key fields.
CREATE TABLE crm_audits (
    id          INTEGER PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    at          INTEGER NOT NULL,   -- Unix ms
    sampled     INTEGER NOT NULL,   -- links read
    compared    INTEGER NOT NULL,   -- records compared (not changed in the CRM since)
    fields      TEXT NOT NULL,      -- JSON {"name": {"matched": n, "compared": m}, …}
    accuracy    REAL,               -- matched / compared over all fields; NULL: nothing compared
    mismatches  TEXT NOT NULL       -- JSON, the first differences, for people to look at
) STRICT;
CREATE INDEX crm_audits_tenant ON crm_audits(tenant_id, at);
