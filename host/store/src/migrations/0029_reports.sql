-- Weekly reports as generated each Monday (kept, listed, emailed), and the
-- notices of alerts raised and cleared, delivered to each tenant's webhook and
-- email recipients (retried until delivered).

CREATE TABLE reports (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    week            TEXT NOT NULL,                 -- 2026-W48
    body            TEXT NOT NULL,                 -- the report, JSON
    generated_at    INTEGER NOT NULL,
    emailed_at      INTEGER,                       -- accepted by the SMTP server
    email_attempts  INTEGER NOT NULL DEFAULT 0,
    email_error     TEXT,                          -- the last failure
    PRIMARY KEY (tenant_id, week)
) STRICT;

CREATE TABLE alert_notices (
    id          INTEGER PRIMARY KEY,
    alert_id    INTEGER NOT NULL REFERENCES alerts(id),
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    event       TEXT NOT NULL CHECK (event IN ('raised', 'cleared')),
    created_at  INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     INTEGER NOT NULL,                  -- when to (re)try, Unix ms
    done_at     INTEGER,                           -- delivered, or nowhere to deliver
    delivered   TEXT,                              -- webhook, email, or both, comma-separated
    last_error  TEXT
) STRICT;
CREATE INDEX alert_notices_due ON alert_notices(next_at) WHERE done_at IS NULL;
CREATE INDEX alert_notices_alert ON alert_notices(alert_id);
