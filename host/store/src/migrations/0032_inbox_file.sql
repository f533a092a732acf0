-- The webhook inbox moves to a file of its own (see inbox/file.rs), where this
-- file's tables cannot reference it: unhandled_items is rebuilt without its
-- reference to webhook_inbox (PostgreSQL keeps it).
CREATE TABLE unhandled_items_0032 (
    id          INTEGER PRIMARY KEY,
    inbox_id    INTEGER NOT NULL,
    item_index  INTEGER NOT NULL,
    tenant_id   TEXT,
    reason      TEXT NOT NULL,   -- 'unmodeled' | 'unrouted' | 'unroutable-sender'
    kind        TEXT NOT NULL,
    raw         TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    UNIQUE (inbox_id, item_index)
) STRICT;
INSERT INTO unhandled_items_0032 (id, inbox_id, item_index, tenant_id, reason, kind, raw, created_at)
    SELECT id, inbox_id, item_index, tenant_id, reason, kind, raw, created_at FROM unhandled_items;
DROP TABLE unhandled_items;
ALTER TABLE unhandled_items_0032 RENAME TO unhandled_items;
