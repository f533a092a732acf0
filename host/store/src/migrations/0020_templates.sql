-- The tenant's message templates, so that automations and campaigns can be refused
-- a template that is unknown or not approved, and their parameters checked.

-- The WhatsApp Business Account whose templates the tenant syncs, and when the last
-- sync succeeded (Unix ms).
ALTER TABLE tenants ADD COLUMN waba_id TEXT;
ALTER TABLE tenants ADD COLUMN templates_synced_at INTEGER;

-- One row per template name and language: synced from Meta (`source` 'meta'; a sync
-- replaces them all, and one deleted at Meta is deleted here) or given by the
-- operator ('operator'; kept by syncs unless Meta has the same name and language).
CREATE TABLE templates (
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    name              TEXT NOT NULL,
    language          TEXT NOT NULL,
    status            TEXT NOT NULL,      -- Meta's: APPROVED, PENDING, REJECTED, PAUSED, DISABLED, ...
    category          TEXT NOT NULL,      -- MARKETING, UTILITY, AUTHENTICATION, ...
    parameter_format  TEXT NOT NULL,      -- POSITIONAL or NAMED
    body_params       INTEGER NOT NULL,   -- how many body parameters a send gives
    parameters        TEXT NOT NULL,      -- what a send needs, JSON (scrm_wire::template::Parameters)
    components        TEXT NOT NULL,      -- the components as Meta describes them, JSON
    meta_id           TEXT,               -- Meta's template id
    source            TEXT NOT NULL CHECK (source IN ('meta', 'operator')),
    status_at         INTEGER NOT NULL,   -- when the status was last learned (sync, add, webhook), Unix ms
    synced_at         INTEGER NOT NULL,   -- when the row was last written by a sync or an add, Unix ms
    PRIMARY KEY (tenant_id, name, language)
) STRICT;
