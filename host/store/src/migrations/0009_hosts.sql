-- Several hosts on one database: leases on claimed work, shared pacing state,
-- singleton jobs, and component bytes every host can load.

-- A claimed row belongs to one host until its lease ends; a host that dies loses
-- its claims when their leases expire, and another host takes the work.
ALTER TABLE webhook_inbox ADD COLUMN claimed_by TEXT;
ALTER TABLE webhook_inbox ADD COLUMN lease_until INTEGER;
ALTER TABLE outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE outbox ADD COLUMN lease_until INTEGER;
ALTER TABLE crm_jobs ADD COLUMN claimed_by TEXT;
ALTER TABLE crm_jobs ADD COLUMN lease_until INTEGER;

-- Per-number send schedule (messages per second), shared by every host: the next
-- free slot, in microseconds since the epoch.
CREATE TABLE number_pace (
    phone_number_id  TEXT PRIMARY KEY,
    next_slot_us     INTEGER NOT NULL
) STRICT;

-- Per-recipient pace (burst, then one per interval): GCRA's theoretical arrival time.
CREATE TABLE recipient_pace (
    phone_number_id  TEXT NOT NULL,
    to_wa            TEXT NOT NULL,
    tat_ms           INTEGER NOT NULL,
    PRIMARY KEY (phone_number_id, to_wa)
) STRICT;
CREATE INDEX recipient_pace_tat ON recipient_pace(tat_ms);

-- Jobs that run on one host at a time (CRM pulls, retention, health probes): the
-- holder renews its lease while it lives.
CREATE TABLE singleton_leases (
    name         TEXT PRIMARY KEY,
    holder       TEXT NOT NULL,
    lease_until  INTEGER NOT NULL
) STRICT;

-- Plugin components' bytes, so every host can load what any host installed.
CREATE TABLE component_blobs (
    sha256  TEXT PRIMARY KEY REFERENCES components(sha256),
    bytes   BLOB NOT NULL
) STRICT;
