-- The people of a tenant (agents, managers, admins), its teams, the API tokens scoped
-- to the tenant, and the audit log of admin actions.
CREATE TABLE people (
    id            INTEGER PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    email         TEXT NOT NULL,                 -- lowercased; unique per tenant
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,                 -- admin | manager | agent
    password_hash TEXT,                          -- argon2id PHC string; NULL: no password yet
    created_at    INTEGER NOT NULL,
    disabled_at   INTEGER,
    UNIQUE (tenant_id, email)
) STRICT;

CREATE TABLE teams (
    id          INTEGER PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (tenant_id, name)
) STRICT;

CREATE TABLE team_members (
    team_id     INTEGER NOT NULL REFERENCES teams(id),
    person_id   INTEGER NOT NULL REFERENCES people(id),
    PRIMARY KEY (team_id, person_id)
) STRICT;
CREATE INDEX team_members_person ON team_members(person_id);

CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    role          TEXT NOT NULL,                 -- admin | manager | agent
    person_id     INTEGER REFERENCES people(id), -- set: the person's role applies
    name          TEXT NOT NULL,
    token_sha256  TEXT NOT NULL UNIQUE,          -- hex; the token itself is shown once
    prefix        TEXT NOT NULL,                 -- its first characters, to recognise it
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    revoked_at    INTEGER
) STRICT;
CREATE INDEX api_tokens_tenant ON api_tokens(tenant_id, id);

CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY,
    tenant_id    TEXT,                           -- NULL: an action outside any tenant
    actor        TEXT NOT NULL,                  -- operator | token:ID | person:ID
    action       TEXT NOT NULL,                  -- secret.set, plugin.install, …
    target       TEXT NOT NULL,                  -- the request's path
    status       INTEGER NOT NULL,               -- the HTTP status answered
    remote_addr  TEXT,
    at           INTEGER NOT NULL
) STRICT;
CREATE INDEX audit_log_tenant ON audit_log(tenant_id, id);
