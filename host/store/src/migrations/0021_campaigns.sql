-- Campaigns: one approved template to an audience of the tenant's contacts, planned
-- against the sending number's daily cap and throughput, run in batches of 24-hour
-- windows when it would take more than 80 % of the cap.

CREATE TABLE campaigns (
    id               INTEGER PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    name             TEXT NOT NULL,
    template         TEXT NOT NULL,
    language         TEXT NOT NULL,
    category         TEXT NOT NULL,      -- the template's, lower case (marketing, utility, ...)
    params           TEXT NOT NULL,      -- per-contact variables, JSON (template language)
    audience         TEXT NOT NULL,      -- the audience expression as written
    phone_number_id  TEXT NOT NULL,      -- the sending number
    interactions     INTEGER NOT NULL,   -- API calls expected per recipient (the plan's estimate)
    state            TEXT NOT NULL CHECK (state IN
                       ('draft', 'scheduled', 'running', 'paused', 'done', 'cancelled')),
    scheduled_at     INTEGER,            -- a scheduled start, Unix ms
    plan             TEXT,               -- the plan it runs by, JSON, made when it first starts
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    updated_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX campaigns_tenant ON campaigns(tenant_id, id);
CREATE INDEX campaigns_active ON campaigns(state) WHERE state IN ('scheduled', 'running');

-- The audience resolved when the campaign first starts: one row per contact, with
-- the batch (24-hour window) it goes in. `pending` → `queued` (an outbox row, whose
-- outcome is read from the outbox and the stored message) or `skipped` (with why).
CREATE TABLE campaign_recipients (
    campaign_id  INTEGER NOT NULL REFERENCES campaigns(id),
    contact_id   INTEGER NOT NULL REFERENCES contacts(id),
    wa_id        TEXT NOT NULL,
    batch        INTEGER NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('pending', 'queued', 'skipped')),
    reason       TEXT,
    outbox_id    INTEGER,
    queued_at    INTEGER,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, contact_id)
) STRICT;
CREATE INDEX campaign_recipients_pending ON campaign_recipients(campaign_id, batch, contact_id)
    WHERE state = 'pending';

-- Audiences look contacts up by tag and by field.
CREATE INDEX message_tags_tag ON message_tags(tag, message_id);
CREATE INDEX crm_fields_field ON crm_fields(tenant_id, field);
