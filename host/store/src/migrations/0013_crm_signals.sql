-- The open deal, opportunity or case of each contact and key (e.g. a product's
-- code): a further signal with the same key updates it instead of opening another.
CREATE TABLE crm_deals (
    tenant_id   TEXT NOT NULL,
    contact_id  INTEGER NOT NULL,
    kind        TEXT NOT NULL,      -- 'deal' (sales) or 'case' (service)
    key         TEXT NOT NULL,
    crm_id      TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, contact_id, kind, key)
);

-- When an unread business message was read after the unread rule fired: the
-- contact's priority is then restored, once.
ALTER TABLE crm_unread_flags ADD COLUMN cleared_at INTEGER;

-- The unread rule used to keep a raw `priority` field of its own; the mapper maps
-- the rule's priority to the CRM's field now.
DELETE FROM crm_fields WHERE field = 'priority' AND source = 'whatsapp';

-- Service requests are written as cases: the jobs and links of kind 'case' join
-- 'deal' (SQLite changes a CHECK constraint by rebuilding the table).
CREATE TABLE crm_jobs_new (
    id          INTEGER PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    kind        TEXT NOT NULL CHECK (kind IN ('contact', 'message', 'deal', 'case')),
    contact_id  INTEGER NOT NULL REFERENCES contacts(id),
    message_id  INTEGER REFERENCES messages(id),
    key         TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('queued', 'done', 'dead')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    due_at      INTEGER NOT NULL,
    last_error  TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    backfill    INTEGER NOT NULL DEFAULT 0,
    claimed_by  TEXT,
    lease_until INTEGER,
    UNIQUE (tenant_id, key)
) STRICT;
INSERT INTO crm_jobs_new (id, tenant_id, kind, contact_id, message_id, key, state, attempts,
                          due_at, last_error, created_at, updated_at, backfill, claimed_by,
                          lease_until)
    SELECT id, tenant_id, kind, contact_id, message_id, key, state, attempts, due_at,
           last_error, created_at, updated_at, backfill, claimed_by, lease_until
    FROM crm_jobs;
DROP TABLE crm_jobs;
ALTER TABLE crm_jobs_new RENAME TO crm_jobs;
CREATE INDEX crm_jobs_due ON crm_jobs(state, due_at, id);
CREATE INDEX crm_jobs_tenant ON crm_jobs(tenant_id, state, id);
CREATE INDEX crm_jobs_due_live_first ON crm_jobs(state, backfill, due_at, id);
CREATE INDEX crm_jobs_tenant_backfill ON crm_jobs(tenant_id, backfill, state);

CREATE TABLE crm_links_new (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    object          TEXT NOT NULL CHECK (object IN ('contact', 'note', 'deal', 'case')),
    local_id        INTEGER NOT NULL,
    crm_id          TEXT NOT NULL,
    crm_updated_at  INTEGER,
    synced_at       INTEGER NOT NULL,
    record_hash     TEXT,
    PRIMARY KEY (tenant_id, object, local_id)
) STRICT;
INSERT INTO crm_links_new (tenant_id, object, local_id, crm_id, crm_updated_at, synced_at,
                           record_hash)
    SELECT tenant_id, object, local_id, crm_id, crm_updated_at, synced_at, record_hash
    FROM crm_links;
DROP TABLE crm_links;
ALTER TABLE crm_links_new RENAME TO crm_links;
CREATE INDEX crm_links_crm ON crm_links(tenant_id, object, crm_id);
