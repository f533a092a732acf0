-- Alerts: a condition a tenant's managers must act on (an agent answering slowly, a
-- promotion not attracting, a plugin quarantined), raised once when it starts and
-- cleared when it ends.
CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    kind        TEXT NOT NULL,               -- agent_slow | promotion_below | plugin_quarantined
    subject     TEXT NOT NULL,               -- person:4 | the promotion's name | the slot
    message     TEXT NOT NULL,
    details     TEXT NOT NULL,               -- JSON
    raised_at   INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    cleared_at  INTEGER
) STRICT;
CREATE UNIQUE INDEX alerts_open ON alerts(tenant_id, kind, subject) WHERE cleared_at IS NULL;
CREATE INDEX alerts_tenant ON alerts(tenant_id, id);
