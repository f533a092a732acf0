-- PostgreSQL form of SQLite migration 0007: the same tables, columns and indexes.
-- INTEGER is BIGINT, BLOB is BYTEA, row ids are identity columns.

-- CRM sync, continued: backfill jobs go after live ones; purchases (for duplicate
-- detection); merged contacts; business messages already counted as unread.

ALTER TABLE crm_jobs ADD COLUMN backfill BIGINT NOT NULL DEFAULT 0;
CREATE INDEX crm_jobs_due_live_first ON crm_jobs(state, backfill, due_at, id);

-- A contact merged into another keeps its row (its number still routes to it) and
-- points at the contact that absorbed it.
ALTER TABLE contacts ADD COLUMN merged_into BIGINT REFERENCES contacts(id);

-- What each contact bought (catalogue orders), by SKU.
CREATE TABLE contact_purchases (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    contact_id  BIGINT NOT NULL REFERENCES contacts(id),
    sku         TEXT NOT NULL,
    message_id  BIGINT NOT NULL REFERENCES messages(id),
    at          BIGINT NOT NULL,   -- Unix ms
    PRIMARY KEY (message_id, sku)
);
CREATE INDEX contact_purchases_sku ON contact_purchases(tenant_id, sku, at);
CREATE INDEX contact_purchases_contact ON contact_purchases(contact_id);
-- Orders stored before this migration.
INSERT INTO contact_purchases (tenant_id, contact_id, sku, message_id, at)
SELECT m.tenant_id, m.contact_id, j.value ->> 'product_retailer_id', m.id, m.timestamp
FROM messages m, jsonb_array_elements(m.raw::jsonb -> 'order' -> 'product_items') j
WHERE m.type = 'order' AND j.value ->> 'product_retailer_id' IS NOT NULL
ON CONFLICT DO NOTHING;

-- Business messages whose "unread for N hours" rule already fired.
CREATE TABLE crm_unread_flags (
    message_id  BIGINT PRIMARY KEY REFERENCES messages(id),
    flagged_at  BIGINT NOT NULL
);

ALTER TABLE crm_settings ADD COLUMN merge_confidence DOUBLE PRECISION NOT NULL DEFAULT 0.95;
ALTER TABLE crm_settings ADD COLUMN unread_hours BIGINT NOT NULL DEFAULT 24;
ALTER TABLE crm_settings ADD COLUMN unread_priority TEXT NOT NULL DEFAULT 'low';
