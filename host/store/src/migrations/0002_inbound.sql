-- Inbound completeness: delivery statuses applied to messages, edits and revokes,
-- account-level events (templates, numbers, account, user preferences).

-- Messages: what Meta attached or changed after the message was first stored.
ALTER TABLE messages ADD COLUMN errors TEXT;            -- Meta's errors, JSON array (unsupported inbound; failed outbound)
ALTER TABLE messages ADD COLUMN status_at INTEGER;      -- when the current status happened, Unix ms
ALTER TABLE messages ADD COLUMN edited_at INTEGER;      -- newest applied edit, Unix ms (WhatsApp's timestamp)
ALTER TABLE messages ADD COLUMN revoked_at INTEGER;     -- when the sender deleted it, Unix ms; content is kept
ALTER TABLE messages ADD COLUMN original_text TEXT;     -- text before the first edit (NULL until edited)
ALTER TABLE messages ADD COLUMN original_content TEXT;  -- content JSON before the first edit (NULL until edited)

-- Every status event as received, with what it says about errors and billing.
ALTER TABLE message_statuses ADD COLUMN recipient_id TEXT;
ALTER TABLE message_statuses ADD COLUMN errors TEXT;        -- JSON array, NULL when none
ALTER TABLE message_statuses ADD COLUMN pricing TEXT;       -- JSON {billable, pricing_model, category, type}
ALTER TABLE message_statuses ADD COLUMN conversation TEXT;  -- JSON {id, origin_type, expiration_timestamp}
CREATE INDEX message_statuses_wamid ON message_statuses(tenant_id, wamid);

-- Edits and revokes of a message, by the wamid of the message they change. Kept even
-- when that message has not arrived yet; applied (order-independently) when it does.
CREATE TABLE message_revisions (
    id            INTEGER PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    target_wamid  TEXT NOT NULL,                  -- the message edited or revoked
    wamid         TEXT NOT NULL,                  -- the edit / revoke notification's own id
    action        TEXT NOT NULL CHECK (action IN ('edit', 'revoke')),
    type          TEXT,                           -- the new content's WhatsApp type (edits)
    text          TEXT,                           -- the new human-readable text (edits)
    content       TEXT,                           -- the new parsed content, JSON (edits)
    raw           TEXT NOT NULL,                  -- the notification as received, JSON
    timestamp     INTEGER NOT NULL,               -- WhatsApp's timestamp, Unix ms
    inbox_id      INTEGER,
    created_at    INTEGER NOT NULL,
    UNIQUE (tenant_id, wamid)
) STRICT;
CREATE INDEX message_revisions_target ON message_revisions(tenant_id, target_wamid);

-- Which WhatsApp Business Account and display number each routed phone number id was
-- seen under: lets account-level events (which carry only a WABA id or a display
-- number) reach their tenant. Learned from routed webhooks.
CREATE TABLE waba_numbers (
    app_id                TEXT NOT NULL,
    phone_number_id       TEXT NOT NULL,
    waba_id               TEXT NOT NULL,
    display_phone_number  TEXT,
    tenant_id             TEXT NOT NULL REFERENCES tenants(id),
    PRIMARY KEY (app_id, phone_number_id)
) STRICT;
CREATE INDEX waba_numbers_waba ON waba_numbers(app_id, waba_id);

-- Notifications on fields other than messages (template status / quality / category,
-- number quality, account updates, user marketing preferences) and change-level
-- errors, one row per item. tenant_id is NULL when no tenant could be resolved.
CREATE TABLE account_events (
    id               INTEGER PRIMARY KEY,
    app_id           TEXT NOT NULL,
    tenant_id        TEXT REFERENCES tenants(id),
    waba_id          TEXT NOT NULL,
    phone_number_id  TEXT,
    field            TEXT NOT NULL,   -- changes[].field
    kind             TEXT NOT NULL,   -- the items array it came from, else the field
    event            TEXT,            -- the headline: value.event, new score, "stop", ...
    subject          TEXT,            -- what it is about: template name, wa_id, number
    occurred_at      INTEGER,         -- Meta's timestamp for it, Unix ms
    raw              TEXT NOT NULL,   -- the item exactly as received, JSON
    dedupe_key       TEXT NOT NULL,   -- sha256 of field, account, entry time and item
    inbox_id         INTEGER,
    created_at       INTEGER NOT NULL,
    UNIQUE (app_id, dedupe_key)
) STRICT;
CREATE INDEX account_events_tenant ON account_events(tenant_id, id);
CREATE INDEX account_events_app ON account_events(app_id, id) WHERE tenant_id IS NULL;
CREATE INDEX account_events_subject ON account_events(tenant_id, field, subject, occurred_at);
