-- Outbound event webhooks share the relay's tables: `hooks` admits the kind
-- `events` (rebuilt: SQLite cannot change a CHECK), and a delivery may carry its
-- own payload (an event's JSON) instead of naming an inbox body.
CREATE TABLE hooks_0034 (
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    kind         TEXT NOT NULL CHECK (kind IN ('relay', 'events')),
    url          TEXT NOT NULL,
    secret_name  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, kind)
) STRICT;
INSERT INTO hooks_0034 SELECT tenant_id, kind, url, secret_name, created_at, updated_at FROM hooks;
DROP TABLE hooks;
ALTER TABLE hooks_0034 RENAME TO hooks;
ALTER TABLE hooks ADD COLUMN types TEXT NOT NULL DEFAULT '*';
ALTER TABLE hook_deliveries ADD COLUMN payload TEXT;
