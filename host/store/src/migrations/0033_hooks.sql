-- A tenant's own webhooks: `relay` forwards every inbound webhook of its numbers to
-- the app it already had (re-signed with that app's secret); later kinds (outbound
-- events) share the table. The secret is a tenant secret (`secrets`), named here.
CREATE TABLE hooks (
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    kind         TEXT NOT NULL CHECK (kind IN ('relay')),
    url          TEXT NOT NULL,
    secret_name  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, kind)
) STRICT;

-- One delivery of one hook: for a relay, the stored inbox body it forwards (read
-- from the inbox when sent). Deliveries of one `ordering` key (a contact) go one at
-- a time, oldest first; after `max_attempts` failures one is `dead`, for a person.
CREATE TABLE hook_deliveries (
    id            INTEGER PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    kind          TEXT NOT NULL,
    ordering      TEXT NOT NULL,
    inbox_id      INTEGER,
    state         TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'delivered', 'dead')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       INTEGER NOT NULL,
    lease_until   INTEGER,
    last_status   INTEGER,
    last_error    TEXT,
    created_at    INTEGER NOT NULL,
    delivered_at  INTEGER,
    UNIQUE (tenant_id, kind, inbox_id)
) STRICT;
CREATE INDEX hook_deliveries_due ON hook_deliveries(next_at) WHERE state = 'queued';
CREATE INDEX hook_deliveries_order ON hook_deliveries(tenant_id, kind, ordering, id) WHERE state = 'queued';
