-- Two-way CRM sync: per-tenant settings, a durable queue of CRM writes, links between
-- host records and CRM records, field-level clocks for last-writer-wins, the review
-- queue of overwrites and duplicate proposals, and the pull cursor.

-- The WhatsApp profile name as last received, kept apart from `name`: the contact's
-- name changes only when the customer changes their profile name, so a name set in the
-- CRM is not undone by the next message.
ALTER TABLE contacts ADD COLUMN profile_name TEXT;
UPDATE contacts SET profile_name = name;

CREATE TABLE crm_settings (
    tenant_id       TEXT PRIMARY KEY REFERENCES tenants(id),
    mode            TEXT NOT NULL CHECK (mode IN ('realtime', 'batch', 'off')),
    batch_minutes   INTEGER NOT NULL,
    pull_seconds    INTEGER NOT NULL,   -- 0: no scheduled pull
    rate_requests   INTEGER NOT NULL,   -- the CRM's rate limit: requests …
    rate_seconds    INTEGER NOT NULL,   -- … per this many seconds
    retention_days  INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT;

-- One job per thing to write: a contact, a message as a note, a sales signal as a deal.
CREATE TABLE crm_jobs (
    id          INTEGER PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    kind        TEXT NOT NULL CHECK (kind IN ('contact', 'message', 'deal')),
    contact_id  INTEGER NOT NULL REFERENCES contacts(id),
    message_id  INTEGER REFERENCES messages(id),
    key         TEXT NOT NULL,                  -- one job per key and tenant
    state       TEXT NOT NULL CHECK (state IN ('queued', 'done', 'dead')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    due_at      INTEGER NOT NULL,               -- Unix ms
    last_error  TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (tenant_id, key)
) STRICT;
CREATE INDEX crm_jobs_due ON crm_jobs(state, due_at, id);
CREATE INDEX crm_jobs_tenant ON crm_jobs(tenant_id, state, id);

-- A host record and the CRM record it was written to.
CREATE TABLE crm_links (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    object          TEXT NOT NULL CHECK (object IN ('contact', 'note', 'deal')),
    local_id        INTEGER NOT NULL,   -- contact id, or the message id
    crm_id          TEXT NOT NULL,
    crm_updated_at  INTEGER,            -- the CRM's time of the host's last write (echoes)
    synced_at       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, object, local_id)
) STRICT;
CREATE INDEX crm_links_crm ON crm_links(tenant_id, object, crm_id);

-- The agreed value of each synced contact field, when and by which side it was set.
CREATE TABLE crm_fields (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    contact_id  INTEGER NOT NULL REFERENCES contacts(id),
    field       TEXT NOT NULL,
    value       TEXT NOT NULL,      -- JSON
    changed_at  INTEGER NOT NULL,   -- Unix ms
    source      TEXT NOT NULL CHECK (source IN ('whatsapp', 'crm', 'review')),
    PRIMARY KEY (tenant_id, contact_id, field)
) STRICT;

-- Overwrites of differing values (conflicts) and proposed merges, for people to review.
CREATE TABLE crm_reviews (
    id           INTEGER PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    kind         TEXT NOT NULL CHECK (kind IN ('conflict', 'duplicate')),
    contact_id   INTEGER NOT NULL REFERENCES contacts(id),
    field        TEXT,
    kept         TEXT,              -- JSON: the value that won
    kept_source  TEXT,
    kept_at      INTEGER,
    lost         TEXT,              -- JSON: the value it replaced or that was refused
    lost_source  TEXT,
    lost_at      INTEGER,
    detail       TEXT NOT NULL,     -- JSON
    state        TEXT NOT NULL CHECK (state IN ('open', 'accepted', 'reverted')),
    created_at   INTEGER NOT NULL,
    resolved_at  INTEGER
) STRICT;
CREATE INDEX crm_reviews_tenant ON crm_reviews(tenant_id, state, id);

CREATE TABLE crm_cursors (
    tenant_id  TEXT PRIMARY KEY REFERENCES tenants(id),
    cursor     TEXT NOT NULL,
    pulled_at  INTEGER NOT NULL
) STRICT;
