-- Cloud API health per app: which base URL the outbox uses (the app's primary
-- `graph_url` or its `backup_graph_url`), the probes that decided it, and every switch.

-- One row per app once it has been probed; no row means "primary, never probed".
CREATE TABLE graph_health (
    app_id              TEXT PRIMARY KEY REFERENCES meta_apps(id),
    active              TEXT NOT NULL CHECK (active IN ('primary', 'backup')),
    primary_unhealthy   INTEGER NOT NULL DEFAULT 0,  -- consecutive slow or failed probes of the primary
    primary_healthy     INTEGER NOT NULL DEFAULT 0,  -- consecutive healthy probes of the primary
    updated_at          INTEGER NOT NULL
) STRICT;

-- Recent probes (the newest few hundred per app are kept).
CREATE TABLE graph_probes (
    id          INTEGER PRIMARY KEY,
    app_id      TEXT NOT NULL REFERENCES meta_apps(id),
    target      TEXT NOT NULL CHECK (target IN ('primary', 'backup')),
    url         TEXT NOT NULL,
    at          INTEGER NOT NULL,                -- Unix ms
    latency_ms  INTEGER NOT NULL,
    outcome     TEXT NOT NULL CHECK (outcome IN ('ok', 'slow', 'failed', 'rejected')),
    error       TEXT
) STRICT;
CREATE INDEX graph_probes_app ON graph_probes(app_id, target, id);

-- Every switch between primary and backup, kept.
CREATE TABLE graph_switches (
    id          INTEGER PRIMARY KEY,
    app_id      TEXT NOT NULL REFERENCES meta_apps(id),
    at          INTEGER NOT NULL,
    from_target TEXT NOT NULL CHECK (from_target IN ('primary', 'backup')),
    to_target   TEXT NOT NULL CHECK (to_target IN ('primary', 'backup')),
    from_url    TEXT NOT NULL,
    to_url      TEXT NOT NULL,
    reason      TEXT NOT NULL                    -- primary_unhealthy, primary_recovered, backup_removed
) STRICT;
CREATE INDEX graph_switches_app ON graph_switches(app_id, id);
