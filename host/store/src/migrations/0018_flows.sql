-- Flows (durable automation). A flow's binding is a plugin binding under the slot
-- `flow:NAME` (versions, rollback and quarantine as for any slot); a flow can also be
-- disabled without losing its versions.
-- The tenant's time zone (IANA name): flows' schedules run in it.
ALTER TABLE tenants ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
-- When the conversation was last resolved (flows get a `resolved` event).
ALTER TABLE conversations ADD COLUMN resolved_at INTEGER;
ALTER TABLE plugin_slots ADD COLUMN disabled_at INTEGER;

-- The flows the operator added to the host, by component: what each says about
-- itself (`describe`), and the triggers it wants.
CREATE TABLE flow_catalog (
    sha256    TEXT PRIMARY KEY REFERENCES components(sha256),
    name      TEXT NOT NULL,
    info      TEXT NOT NULL,     -- JSON: name, description, triggers, params
    added_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX flow_catalog_name ON flow_catalog(name, added_at);

CREATE TABLE flow_triggers (
    sha256   TEXT NOT NULL REFERENCES flow_catalog(sha256),
    kind     TEXT NOT NULL,
    PRIMARY KEY (sha256, kind)
) STRICT;

-- Events for flows and their timers: one row per flow and event (or timer), claimed
-- by one host, retried with back-off, kept afterwards as the flow's log.
-- `contact_id` 0: no contact (schedules). `fire_at` is when it may run (a timer's
-- due time plus the settle delay, or the next retry).
CREATE TABLE flow_jobs (
    id            INTEGER PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    flow          TEXT NOT NULL,
    contact_id    INTEGER NOT NULL DEFAULT 0,
    kind          TEXT NOT NULL,
    timer_key     TEXT,
    event         TEXT NOT NULL,
    payload       BLOB,
    due_at        INTEGER NOT NULL,
    fire_at       INTEGER NOT NULL,
    state         TEXT NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'done', 'skipped', 'failed', 'cancelled')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    claimed_by    TEXT,
    lease_until   INTEGER,
    fired_at      INTEGER,
    late_ms       INTEGER,
    flow_version  INTEGER,
    outcome       TEXT,
    created_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX flow_jobs_fire ON flow_jobs(fire_at) WHERE state = 'pending';
CREATE UNIQUE INDEX flow_jobs_timer ON flow_jobs(tenant_id, flow, contact_id, timer_key)
    WHERE state = 'pending' AND timer_key IS NOT NULL;
CREATE INDEX flow_jobs_log ON flow_jobs(tenant_id, flow, id);

-- The last automated send of each flow to each contact (the per-period guard).
CREATE TABLE flow_sends (
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    flow          TEXT NOT NULL,
    contact_id    INTEGER NOT NULL,
    last_sent_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, flow, contact_id)
) STRICT;
