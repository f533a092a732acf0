//! Versioned schema migrations. A released migration is never edited: add a new one.

use rusqlite_migration::{M, Migrations};

pub(crate) const MIGRATIONS: &[M<'static>] = &[
    // 0001: released with the foundation.
    M::up(
        r#"
-- Host-wide settings (operator token hash, ...).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

-- Meta apps: each has an app secret (webhook signatures) and a verify token.
CREATE TABLE meta_apps (
    id            TEXT PRIMARY KEY,
    app_secret    TEXT NOT NULL,
    verify_token  TEXT NOT NULL,
    created_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE tenants (
    id              TEXT PRIMARY KEY,
    app_id          TEXT NOT NULL REFERENCES meta_apps(id),
    default_region  TEXT NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;

-- Business phone numbers route webhooks to tenants.
CREATE TABLE phone_numbers (
    phone_number_id  TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id)
) STRICT;
CREATE INDEX phone_numbers_tenant ON phone_numbers(tenant_id);

-- Plugin components, content-addressed. The bytes live in the data directory.
CREATE TABLE components (
    sha256      TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    world       TEXT NOT NULL,
    size        INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

-- Every binding ever installed, per tenant and slot, numbered 1, 2, 3, ...
CREATE TABLE plugin_bindings (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    slot        TEXT NOT NULL,
    version     INTEGER NOT NULL,
    sha256      TEXT NOT NULL REFERENCES components(sha256),
    config      BLOB NOT NULL,
    limits      TEXT NOT NULL DEFAULT '{}',   -- per-binding limit overrides, JSON
    http        TEXT NOT NULL DEFAULT '{}',   -- outbound HTTP policy, JSON
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, slot, version)
) STRICT;

-- Which binding version of each tenant's slot is active, and whether it is quarantined.
CREATE TABLE plugin_slots (
    tenant_id          TEXT NOT NULL REFERENCES tenants(id),
    slot               TEXT NOT NULL,
    active_version     INTEGER NOT NULL,
    quarantined_at     INTEGER,
    quarantine_reason  TEXT,
    updated_at         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, slot)
) STRICT;

CREATE TABLE contacts (
    id          INTEGER PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    wa_id       TEXT,
    user_id     TEXT,
    phone_e164  TEXT,
    name        TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX contacts_wa_id ON contacts(tenant_id, wa_id) WHERE wa_id IS NOT NULL;
CREATE UNIQUE INDEX contacts_user_id ON contacts(tenant_id, user_id) WHERE user_id IS NOT NULL;

-- A conversation is the thread between one contact and one business number.
CREATE TABLE conversations (
    id                INTEGER PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    contact_id        INTEGER NOT NULL REFERENCES contacts(id),
    phone_number_id   TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    last_message_at   INTEGER NOT NULL,
    last_inbound_at   INTEGER,
    UNIQUE (tenant_id, contact_id, phone_number_id)
) STRICT;

CREATE TABLE messages (
    id                INTEGER PRIMARY KEY,
    tenant_id         TEXT NOT NULL REFERENCES tenants(id),
    conversation_id   INTEGER NOT NULL REFERENCES conversations(id),
    contact_id        INTEGER NOT NULL REFERENCES contacts(id),
    wamid             TEXT NOT NULL,
    direction         TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    type              TEXT NOT NULL,
    timestamp         INTEGER NOT NULL,
    text              TEXT,
    content           TEXT NOT NULL,   -- parsed content, JSON
    context           TEXT NOT NULL,   -- replied-to message, referred product, ad referral, JSON
    raw               TEXT NOT NULL,   -- the message object as received, JSON
    status            TEXT NOT NULL,
    inbox_id          INTEGER,
    -- Classification: null until the classifier ran (or none is installed).
    classified_at     INTEGER,
    classification    TEXT,            -- JSON: intent, entities, sentiment, priority
    classifier        TEXT,            -- "name@version sha256" that produced it
    classify_error    TEXT,            -- why classification failed, if it did
    actions           TEXT,            -- the responder's actions, JSON, when one ran
    responder         TEXT,            -- "name@version sha256" of the responder
    respond_error     TEXT,            -- why the responder failed, if it did
    created_at        INTEGER NOT NULL,
    UNIQUE (tenant_id, wamid)
) STRICT;
CREATE INDEX messages_conversation ON messages(conversation_id, id);

CREATE TABLE message_tags (
    message_id  INTEGER NOT NULL REFERENCES messages(id),
    tag         TEXT NOT NULL,
    PRIMARY KEY (message_id, tag)
) STRICT;

-- Delivery statuses as received, newest last; applied to messages once sending exists.
CREATE TABLE message_statuses (
    id          INTEGER PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    wamid       TEXT NOT NULL,
    status      TEXT NOT NULL,
    timestamp   INTEGER NOT NULL,
    raw         TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (tenant_id, wamid, status)
) STRICT;

-- Every webhook body exactly as received, stored before the 200.
CREATE TABLE webhook_inbox (
    id            INTEGER PRIMARY KEY,
    app_id        TEXT NOT NULL,
    received_at   INTEGER NOT NULL,
    body          BLOB NOT NULL,
    state         TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'rejected')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    processed_at  INTEGER
) STRICT;
CREATE INDEX webhook_inbox_pending ON webhook_inbox(id) WHERE state = 'pending';

-- Tenant secrets (CRM tokens, ...): added by the host to plugins' HTTP requests,
-- never shown to plugins or served by the API.
CREATE TABLE tenant_secrets (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    name        TEXT NOT NULL,
    value       TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name)
) STRICT;

-- The plugins' key-value store, one namespace per tenant and plugin name.
CREATE TABLE plugin_kv (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    plugin      TEXT NOT NULL,
    key         TEXT NOT NULL,
    value       BLOB NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, plugin, key)
) STRICT;

-- Items the host does not model yet (or could not route), kept raw and counted.
CREATE TABLE unhandled_items (
    id          INTEGER PRIMARY KEY,
    inbox_id    INTEGER NOT NULL REFERENCES webhook_inbox(id),
    item_index  INTEGER NOT NULL,
    tenant_id   TEXT,
    reason      TEXT NOT NULL,   -- 'unmodeled' | 'unrouted'
    kind        TEXT NOT NULL,
    raw         TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (inbox_id, item_index)
) STRICT;
"#,
    ),
    // 0002: inbound completeness (statuses, edits, revokes, account events).
    M::up(include_str!("migrations/0002_inbound.sql")),
    // 0003: sending (outbox, limits, opt-in, dead letters).
    M::up(include_str!("migrations/0003_outbox.sql")),
    // 0004: media (inbound downloads, outbound uploads), content-addressed.
    M::up(include_str!("migrations/0004_media.sql")),
    // 0005: Cloud API health probes and failover per app.
    M::up(include_str!("migrations/0005_health.sql")),
    // 0006: two-way CRM sync (queue, links, field clocks, reviews, cursors).
    M::up(include_str!("migrations/0006_crm.sql")),
    // 0007: CRM backfill order, purchases and merges (duplicates), unread-message rule.
    M::up(include_str!("migrations/0007_crm_backfill.sql")),
    // 0008: indexes for the purge, the backfill and its progress.
    M::up(include_str!("migrations/0008_sync_indexes.sql")),
    // 0009: several hosts on one database (leases, shared pacing, singletons, blobs).
    M::up(include_str!("migrations/0009_hosts.sql")),
    // 0010: CRM phone numbers that could not be normalised, with the reason.
    M::up(include_str!("migrations/0010_crm_phones.sql")),
    // 0011: how old a tenant's secrets may get before a rotation warning.
    M::up(include_str!("migrations/0011_secret_rotation.sql")),
    // 0012: a hash of the CRM record last written per link.
    M::up(include_str!("migrations/0012_crm_record_hash.sql")),
    // 0013: one open deal or case per contact and key; unread flags cleared on read.
    M::up(include_str!("migrations/0013_crm_signals.sql")),
    // 0014: the template CRM replies go out as outside the 24-hour window.
    M::up(include_str!("migrations/0014_crm_replies.sql")),
    // 0015: sync accuracy audits.
    M::up(include_str!("migrations/0015_crm_audits.sql")),
    // 0016: the mapping log (fields defaulted or skipped per week).
    M::up(include_str!("migrations/0016_crm_mapping_log.sql")),
    // 0017: what the host last wrote to each open deal (the audit compares it).
    M::up(include_str!("migrations/0017_crm_deals_written.sql")),
    // 0018: flows (catalog, jobs and timers, the per-contact send guard).
    M::up(include_str!("migrations/0018_flows.sql")),
    // 0019: tracked links and their clicks; the tenant's tracking switch.
    M::up(include_str!("migrations/0019_links.sql")),
    // 0020: the tenant's message templates and its WhatsApp Business Account id.
    M::up(include_str!("migrations/0020_templates.sql")),
    // 0021: campaigns and their recipients; indexes audiences look contacts up by.
    M::up(include_str!("migrations/0021_campaigns.sql")),
    // 0022: people, teams, tenant-scoped API tokens and the audit log.
    M::up(include_str!("migrations/0022_people.sql")),
    // 0023: conversation state, assignee and private notes; round-robin per team.
    M::up(include_str!("migrations/0023_conversation_work.sql")),
    // 0024: canned responses; web inbox sessions, login links, failed logins.
    M::up(include_str!("migrations/0024_canned_sessions.sql")),
    // 0025: the CRM record URL the web inbox links a contact to.
    M::up(include_str!("migrations/0025_crm_record_url.sql")),
    // 0026: analytics settings per tenant.
    M::up(include_str!("migrations/0026_analytics.sql")),
    // 0027: alerts, raised once and cleared.
    M::up(include_str!("migrations/0027_alerts.sql")),
    // 0028: orders, conversations' first message, send indexes (sales analytics).
    M::up(include_str!("migrations/0028_orders.sql")),
    // 0029: stored weekly reports, alert notices.
    M::up(include_str!("migrations/0029_reports.sql")),
    // 0030: when tenant secrets expire.
    M::up(include_str!("migrations/0030_secret_expiry.sql")),
    // 0031: what became of each send, on its outbox row.
    M::up(include_str!("migrations/0031_send_rollup.sql")),
    // 0032: unhandled_items without its reference to the inbox, which moves to a
    // file of its own (inbox/file.rs).
    M::up(include_str!("migrations/0032_inbox_file.sql")),
    // 0033: a tenant's own webhooks (the relay) and their deliveries.
    M::up(include_str!("migrations/0033_hooks.sql")),
    // 0034: outbound event webhooks in the same tables (a kind, the event types a
    // hook wants, a delivery's own payload).
    M::up(include_str!("migrations/0034_event_hooks.sql")),
    // 0035: WhatsApp calls on their conversations.
    M::up(include_str!("migrations/0035_calls.sql")),
    // 0036: flows' drafts for agents, their model usage, the tenant's model budget.
    M::up(include_str!("migrations/0036_assist.sql")),
];

/// The schema's migrations, oldest first.
pub fn migrations() -> Migrations<'static> {
    Migrations::from_slice(MIGRATIONS)
}

/// The same migrations in PostgreSQL's dialect, numbered alike: version N on one
/// backend is version N on the other.
pub(crate) const POSTGRES: &[&str] = &[
    include_str!("migrations/postgres/0001_foundation.sql"),
    include_str!("migrations/postgres/0002_inbound.sql"),
    include_str!("migrations/postgres/0003_outbox.sql"),
    include_str!("migrations/postgres/0004_media.sql"),
    include_str!("migrations/postgres/0005_health.sql"),
    include_str!("migrations/postgres/0006_crm.sql"),
    include_str!("migrations/postgres/0007_crm_backfill.sql"),
    include_str!("migrations/postgres/0008_sync_indexes.sql"),
    include_str!("migrations/postgres/0009_hosts.sql"),
    include_str!("migrations/postgres/0010_crm_phones.sql"),
    include_str!("migrations/postgres/0011_secret_rotation.sql"),
    include_str!("migrations/postgres/0012_crm_record_hash.sql"),
    include_str!("migrations/postgres/0013_crm_signals.sql"),
    include_str!("migrations/postgres/0014_crm_replies.sql"),
    include_str!("migrations/postgres/0015_crm_audits.sql"),
    include_str!("migrations/postgres/0016_crm_mapping_log.sql"),
    include_str!("migrations/postgres/0017_crm_deals_written.sql"),
    include_str!("migrations/postgres/0018_flows.sql"),
    include_str!("migrations/postgres/0019_links.sql"),
    include_str!("migrations/postgres/0020_templates.sql"),
    include_str!("migrations/postgres/0021_campaigns.sql"),
    include_str!("migrations/postgres/0022_people.sql"),
    include_str!("migrations/postgres/0023_conversation_work.sql"),
    include_str!("migrations/postgres/0024_canned_sessions.sql"),
    include_str!("migrations/postgres/0025_crm_record_url.sql"),
    include_str!("migrations/postgres/0026_analytics.sql"),
    include_str!("migrations/postgres/0027_alerts.sql"),
    include_str!("migrations/postgres/0028_orders.sql"),
    include_str!("migrations/postgres/0029_reports.sql"),
    include_str!("migrations/postgres/0030_secret_expiry.sql"),
    include_str!("migrations/postgres/0031_send_rollup.sql"),
    include_str!("migrations/postgres/0032_inbox_file.sql"),
    include_str!("migrations/postgres/0033_hooks.sql"),
    include_str!("migrations/postgres/0034_event_hooks.sql"),
    include_str!("migrations/postgres/0035_calls.sql"),
    include_str!("migrations/postgres/0036_assist.sql"),
];

#[cfg(test)]
mod tests {
    #[test]
    fn migrations_are_valid() {
        super::migrations().validate().unwrap();
    }

    #[test]
    fn both_backends_know_the_same_versions() {
        assert_eq!(super::POSTGRES.len(), super::MIGRATIONS.len());
    }

    /// Every table, column and named index of the SQLite schema exists on
    /// PostgreSQL, and nothing else: the two migration lists describe one schema.
    #[test]
    fn both_backends_end_with_the_same_schema() {
        use crate::params;
        use std::collections::BTreeSet;
        let mut schemas = Vec::new();
        for t in crate::testing::backends() {
            let (columns, indexes) = t
                .db
                .with_conn(|c| {
                    let (columns, indexes) = c.pick(
                        "SELECT m.name || '.' || p.name
                         FROM (SELECT name, type FROM main.sqlite_master
                               UNION ALL SELECT name, type FROM inbox.sqlite_master) m,
                              pragma_table_info(m.name) p
                         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'
                         ---SELECT name FROM main.sqlite_master WHERE type = 'index' AND sql IS NOT NULL
                         UNION ALL SELECT name FROM inbox.sqlite_master WHERE type = 'index' AND sql IS NOT NULL",
                        "SELECT table_name || '.' || column_name FROM information_schema.columns
                         WHERE table_schema = 'public' AND table_name != 'scrm_schema'
                         ---SELECT indexname FROM pg_indexes WHERE schemaname = 'public'
                           AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_key'",
                    )
                    .split_once("---")
                    .expect("two queries");
                    let columns: BTreeSet<String> =
                        c.query(columns, params![], |r| r.get(0))?.into_iter().collect();
                    let indexes: BTreeSet<String> =
                        c.query(indexes, params![], |r| r.get(0))?.into_iter().collect();
                    Ok((columns, indexes))
                })
                .unwrap();
            schemas.push((t.backend, columns, indexes));
        }
        if let [(_, sc, si), (_, pc, pi)] = schemas.as_slice() {
            assert_eq!(
                sc.symmetric_difference(pc).collect::<Vec<_>>(),
                Vec::<&String>::new()
            );
            assert_eq!(
                si.symmetric_difference(pi).collect::<Vec<_>>(),
                Vec::<&String>::new()
            );
            assert!(sc.len() > 100, "{} columns", sc.len());
        }
    }
}
