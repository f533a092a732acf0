-- PostgreSQL form of SQLite migration 0031.

-- What became of each send, kept on its outbox row as statuses and clicks arrive, so
-- that open rate, click-through and cost read one range of the outbox (by
-- `outbox_sent`) instead of joining every status and click of the range.
ALTER TABLE outbox ADD COLUMN delivered_at BIGINT;   -- first delivered (or read) status, Unix ms
ALTER TABLE outbox ADD COLUMN read_at BIGINT;        -- read status, Unix ms
ALTER TABLE outbox ADD COLUMN link_count BIGINT NOT NULL DEFAULT 0;  -- tracked links in it
ALTER TABLE outbox ADD COLUMN first_click_at BIGINT; -- first click on any of them, Unix ms
ALTER TABLE outbox ADD COLUMN pricing TEXT;           -- the latest status's pricing object, JSON
ALTER TABLE outbox ADD COLUMN conversation TEXT;      -- the latest status's conversation object, JSON
ALTER TABLE outbox ADD COLUMN country TEXT;           -- the recipient's country (ISO 3166), set when queued; Meta prices by it

UPDATE outbox SET
    delivered_at = (SELECT MIN(s.timestamp) FROM message_statuses s
                     WHERE s.tenant_id = outbox.tenant_id AND s.wamid = outbox.wamid
                       AND s.status IN ('delivered', 'read')),
    read_at = (SELECT MIN(s.timestamp) FROM message_statuses s
                WHERE s.tenant_id = outbox.tenant_id AND s.wamid = outbox.wamid AND s.status = 'read'),
    pricing = (SELECT s.pricing FROM message_statuses s
                WHERE s.tenant_id = outbox.tenant_id AND s.wamid = outbox.wamid AND s.pricing IS NOT NULL
                ORDER BY s.id DESC LIMIT 1),
    conversation = (SELECT s.conversation FROM message_statuses s
                     WHERE s.tenant_id = outbox.tenant_id AND s.wamid = outbox.wamid
                       AND s.conversation IS NOT NULL ORDER BY s.id DESC LIMIT 1)
WHERE wamid IS NOT NULL;
UPDATE outbox SET
    link_count = (SELECT COUNT(*) FROM links l WHERE l.outbox_id = outbox.id),
    first_click_at = (SELECT MIN(k.clicked_at) FROM links l JOIN link_clicks k ON k.token = l.token
                       WHERE l.outbox_id = outbox.id)
WHERE id IN (SELECT outbox_id FROM links);
