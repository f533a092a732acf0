-- Sending: the durable outbox, consent, limits per tenant and number, suppressions.

-- Per-app Cloud API endpoints; NULL means the host-wide default.
ALTER TABLE meta_apps ADD COLUMN graph_url TEXT;
ALTER TABLE meta_apps ADD COLUMN graph_version TEXT;
ALTER TABLE meta_apps ADD COLUMN backup_graph_url TEXT;

-- Limit overrides as JSON ({"daily_cap": 2000, "mps": 200, ...}); '{}' means defaults.
ALTER TABLE tenants ADD COLUMN limits TEXT NOT NULL DEFAULT '{}';
ALTER TABLE phone_numbers ADD COLUMN limits TEXT NOT NULL DEFAULT '{}';

-- Consent per tenant and WhatsApp id: opt-in, opt-out (STOP), marketing preference,
-- and what Meta told us about the recipient.
CREATE TABLE consent (
    tenant_id              TEXT NOT NULL REFERENCES tenants(id),
    wa_id                  TEXT NOT NULL,
    opted_in_at            INTEGER,
    opt_in_source          TEXT,
    opted_out_at           INTEGER,      -- STOP keyword: no business-initiated messages
    opt_out_source         TEXT,
    marketing_stopped_at   INTEGER,      -- user stopped marketing (preferences webhook, 131050)
    marketing_paused_until INTEGER,      -- 131049: Meta's per-user marketing limit
    undeliverable_at       INTEGER,      -- 131026
    updated_at             INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, wa_id)
) STRICT;

-- Number-wide pauses (368 blocks marketing from a number for a while).
CREATE TABLE number_pauses (
    phone_number_id  TEXT NOT NULL,
    scope            TEXT NOT NULL,       -- 'marketing'
    until            INTEGER NOT NULL,
    reason           TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (phone_number_id, scope)
) STRICT;

-- Every send, from request to outcome. Rows are kept (history, daily-cap accounting).
CREATE TABLE outbox (
    id                  INTEGER PRIMARY KEY,
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    phone_number_id     TEXT NOT NULL,
    to_wa               TEXT NOT NULL,           -- recipient, E.164 digits without '+'
    kind                TEXT NOT NULL,           -- text, template, image, ..., read
    category            TEXT NOT NULL,           -- service, marketing, utility, authentication
    body                TEXT NOT NULL,           -- the Cloud API message object, JSON
    idempotency_key     TEXT,
    source              TEXT NOT NULL,           -- api, responder, cli
    state               TEXT NOT NULL CHECK (state IN
                          ('queued', 'sending', 'sent', 'needs_template', 'undeliverable',
                           'suppressed', 'dead', 'cancelled')),
    wait_reason         TEXT,                    -- why a queued row is not sent yet
    not_before          INTEGER NOT NULL,        -- Unix ms
    attempts            INTEGER NOT NULL DEFAULT 0,
    error_code          INTEGER,                 -- Meta's error code of the last failure
    last_error          TEXT,
    business_initiated  INTEGER NOT NULL DEFAULT 0,
    wamid               TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    sent_at             INTEGER
) STRICT;
CREATE UNIQUE INDEX outbox_idempotency ON outbox(tenant_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX outbox_due ON outbox(not_before, id) WHERE state = 'queued';
CREATE INDEX outbox_lane ON outbox(phone_number_id, to_wa, id) WHERE state IN ('queued', 'sending');
CREATE INDEX outbox_business_initiated ON outbox(phone_number_id, sent_at)
    WHERE business_initiated = 1;
CREATE INDEX outbox_tenant_state ON outbox(tenant_id, state, id);
CREATE INDEX outbox_recipient_business_initiated ON outbox(tenant_id, to_wa, sent_at)
    WHERE business_initiated = 1;
-- The outbox finds a recipient's conversation by E.164 phone as well as by wa_id.
CREATE INDEX contacts_phone ON contacts(tenant_id, phone_e164) WHERE phone_e164 IS NOT NULL;
CREATE INDEX outbox_wamid ON outbox(tenant_id, wamid) WHERE wamid IS NOT NULL;
