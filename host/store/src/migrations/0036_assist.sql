-- Answers flows leave for agents (WIT `scrm:plugin/assist`, `draft`): `waiting` until
-- an agent sends one (as written or edited: `sent`, with what went out) or discards
-- it; a newer draft of the same flow in the conversation marks a waiting one
-- `replaced`.
CREATE TABLE drafts (
    id               INTEGER PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    conversation_id  INTEGER NOT NULL REFERENCES conversations(id),
    flow             TEXT NOT NULL,
    flow_version     INTEGER NOT NULL,
    text             TEXT NOT NULL,
    note             TEXT,
    state            TEXT NOT NULL DEFAULT 'waiting'
                     CHECK (state IN ('waiting', 'sent', 'discarded', 'replaced')),
    created_at       INTEGER NOT NULL,
    decided_at       INTEGER,
    decided_by       TEXT,
    sent_text        TEXT,
    outbox_id        INTEGER
) STRICT;
CREATE INDEX drafts_conversation ON drafts(tenant_id, conversation_id, id);
CREATE INDEX drafts_waiting ON drafts(tenant_id, id) WHERE state = 'waiting';

-- What flows' model calls used and cost (`record-usage`), for the analytics and the
-- tenant's monthly budget (`tenants.model_budget`, in the currency of the flows'
-- prices; NULL: none).
CREATE TABLE model_usage (
    id                 INTEGER PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id),
    flow               TEXT NOT NULL,
    model              TEXT NOT NULL,
    prompt_tokens      INTEGER NOT NULL,
    completion_tokens  INTEGER NOT NULL,
    cost               REAL NOT NULL,
    latency_ms         INTEGER NOT NULL,
    conversation_id    INTEGER,
    at                 INTEGER NOT NULL
) STRICT;
CREATE INDEX model_usage_at ON model_usage(tenant_id, at);

ALTER TABLE tenants ADD COLUMN model_budget REAL;
