-- WhatsApp calls (the Calling API's `calls` webhook field), one row per call on the
-- customer's conversation: the furthest state its events reached, its times and
-- Meta's errors, and every event as received (`events`, a JSON array, in arrival
-- order; a redelivered event is kept once).
CREATE TABLE calls (
    id               INTEGER PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    call_id          TEXT NOT NULL,
    conversation_id  INTEGER NOT NULL REFERENCES conversations(id),
    contact_id       INTEGER NOT NULL REFERENCES contacts(id),
    phone_number_id  TEXT NOT NULL,
    direction        TEXT,
    state            TEXT NOT NULL,
    started_at       INTEGER,
    ended_at         INTEGER,
    duration_s       INTEGER,
    errors           TEXT NOT NULL DEFAULT '[]',
    events           TEXT NOT NULL DEFAULT '[]',
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (tenant_id, call_id)
) STRICT;
CREATE INDEX calls_conversation ON calls(conversation_id, created_at);
CREATE INDEX calls_tenant ON calls(tenant_id, id);
-- The web inbox's live updates read the newest call update per tenant on every poll.
CREATE INDEX calls_updated ON calls(tenant_id, updated_at);
