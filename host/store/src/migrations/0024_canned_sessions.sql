-- Canned responses (in the template language), and what people log into the web
-- inbox with: sessions, one-time login links, and failed attempts for rate limiting.
CREATE TABLE canned_responses (
    id          INTEGER PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    shortcut    TEXT NOT NULL,                 -- typed as /shortcut
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,                 -- the template language
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    UNIQUE (tenant_id, shortcut)
) STRICT;

CREATE TABLE sessions (
    id_sha256     TEXT PRIMARY KEY,            -- hex; the cookie holds the id itself
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    person_id     INTEGER NOT NULL REFERENCES people(id),
    csrf          TEXT NOT NULL,               -- sent back in X-CSRF-Token / the form
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    remote_addr   TEXT
) STRICT;
CREATE INDEX sessions_person ON sessions(person_id);

CREATE TABLE login_links (
    token_sha256  TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    person_id     INTEGER NOT NULL REFERENCES people(id),
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER
) STRICT;

CREATE TABLE login_failures (
    id          INTEGER PRIMARY KEY,
    key         TEXT NOT NULL,                 -- account:TENANT:EMAIL | addr:IP
    at          INTEGER NOT NULL
) STRICT;
CREATE INDEX login_failures_lookup ON login_failures(key, at);

-- The web inbox's live updates ask for the newest message and status of a tenant.
CREATE INDEX messages_tenant_id ON messages(tenant_id, id);
CREATE INDEX message_statuses_tenant_id ON message_statuses(tenant_id, id);
