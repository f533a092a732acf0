-- Analytics: each tenant's settings (business hours, watched words, promotions,
-- thresholds), as the application validated them.
CREATE TABLE analytics_settings (
    tenant_id   TEXT PRIMARY KEY REFERENCES tenants(id),
    settings    TEXT NOT NULL,               -- JSON
    updated_at  BIGINT NOT NULL
);

-- Who sent each business message (the outbox's `source`: `inbox person:4`, `flow:…`,
-- `campaign:…`, `api`, `crm`), kept on the message itself so that response times
-- need no join; backfilled from the outbox.
ALTER TABLE messages ADD COLUMN sender TEXT;
UPDATE messages SET sender = (SELECT o.source FROM outbox o
                              WHERE o.tenant_id = messages.tenant_id AND o.wamid = messages.wamid
                                AND o.wamid IS NOT NULL
                              ORDER BY o.id LIMIT 1)
 WHERE direction = 'outbound';
