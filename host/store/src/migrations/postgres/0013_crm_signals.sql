-- PostgreSQL form of SQLite migration 0013.

-- The open deal, opportunity or case of each contact and key (e.g. a product's
-- code): a further signal with the same key updates it instead of opening another.
CREATE TABLE crm_deals (
    tenant_id   TEXT NOT NULL,
    contact_id  BIGINT NOT NULL,
    kind        TEXT NOT NULL,      -- 'deal' (sales) or 'case' (service)
    key         TEXT NOT NULL,
    crm_id      TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, contact_id, kind, key)
);

-- When an unread business message was read after the unread rule fired: the
-- contact's priority is then restored, once.
ALTER TABLE crm_unread_flags ADD COLUMN cleared_at BIGINT;

-- The unread rule used to keep a raw `priority` field of its own; the mapper maps
-- the rule's priority to the CRM's field now.
DELETE FROM crm_fields WHERE field = 'priority' AND source = 'whatsapp';

-- Service requests are written as cases: jobs and links of kind 'case' join 'deal'.
ALTER TABLE crm_jobs DROP CONSTRAINT crm_jobs_kind_check,
    ADD CONSTRAINT crm_jobs_kind_check CHECK (kind IN ('contact', 'message', 'deal', 'case'));
ALTER TABLE crm_links DROP CONSTRAINT crm_links_object_check,
    ADD CONSTRAINT crm_links_object_check CHECK (object IN ('contact', 'note', 'deal', 'case'));
