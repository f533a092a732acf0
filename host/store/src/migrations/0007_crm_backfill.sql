-- CRM sync, continued: backfill jobs go after live ones; purchases (for duplicate
-- detection); merged contacts; business messages already counted as unread.

ALTER TABLE crm_jobs ADD COLUMN backfill INTEGER NOT NULL DEFAULT 0;
CREATE INDEX crm_jobs_due_live_first ON crm_jobs(state, backfill, due_at, id);

-- A contact merged into another keeps its row (its number still routes to it) and
-- points at the contact that absorbed it.
ALTER TABLE contacts ADD COLUMN merged_into INTEGER REFERENCES contacts(id);

-- What each contact bought (catalogue orders), by SKU.
CREATE TABLE contact_purchases (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    contact_id  INTEGER NOT NULL REFERENCES contacts(id),
    sku         TEXT NOT NULL,
    message_id  INTEGER NOT NULL REFERENCES messages(id),
    at          INTEGER NOT NULL,   -- Unix ms
    PRIMARY KEY (message_id, sku)
) STRICT;
CREATE INDEX contact_purchases_sku ON contact_purchases(tenant_id, sku, at);
CREATE INDEX contact_purchases_contact ON contact_purchases(contact_id);
-- Orders stored before this migration.
INSERT OR IGNORE INTO contact_purchases (tenant_id, contact_id, sku, message_id, at)
SELECT m.tenant_id, m.contact_id, json_extract(j.value, '$.product_retailer_id'), m.id, m.timestamp
FROM messages m, json_each(m.raw, '$.order.product_items') j
WHERE m.type = 'order' AND json_extract(j.value, '$.product_retailer_id') IS NOT NULL;

-- Business messages whose "unread for N hours" rule already fired.
CREATE TABLE crm_unread_flags (
    message_id  INTEGER PRIMARY KEY REFERENCES messages(id),
    flagged_at  INTEGER NOT NULL
) STRICT;

ALTER TABLE crm_settings ADD COLUMN merge_confidence REAL NOT NULL DEFAULT 0.95;
ALTER TABLE crm_settings ADD COLUMN unread_hours INTEGER NOT NULL DEFAULT 24;
ALTER TABLE crm_settings ADD COLUMN unread_priority TEXT NOT NULL DEFAULT 'low';
