-- Sales analytics: the orders of each tenant (placed on WhatsApp, reported by the
-- CRM's connector or written through the API), when each conversation's first
-- message was, and indexes for the metrics that read sends and first contacts.

CREATE TABLE orders (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    order_id        TEXT NOT NULL,               -- the WhatsApp message id, the CRM's or the shop's id
    source          TEXT NOT NULL,               -- whatsapp | crm | api
    contact_id      INTEGER NOT NULL REFERENCES contacts(id),
    placed_at       INTEGER NOT NULL,            -- Unix ms
    total           REAL,                        -- in `currency`, when known
    currency        TEXT,                        -- ISO 4217
    payment_method  TEXT,                        -- card | cash_on_delivery | bank_transfer | …
    state           TEXT NOT NULL CHECK (state IN ('placed', 'paid', 'cancelled')),
    paid_at         INTEGER,                     -- when it was first known paid, Unix ms
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, order_id)
) STRICT;
CREATE INDEX orders_placed ON orders(tenant_id, placed_at);
CREATE INDEX orders_contact ON orders(tenant_id, contact_id, placed_at);

-- WhatsApp orders stored before this migration.
INSERT OR IGNORE INTO orders (tenant_id, order_id, source, contact_id, placed_at, total, currency,
                              state, updated_at)
SELECT m.tenant_id, m.wamid, 'whatsapp', m.contact_id, m.timestamp,
       (SELECT SUM(json_extract(j.value, '$.item_price') * json_extract(j.value, '$.quantity'))
          FROM json_each(m.raw, '$.order.product_items') j),
       json_extract(m.raw, '$.order.product_items[0].currency'), 'placed', m.created_at
FROM messages m WHERE m.type = 'order' AND m.direction = 'inbound';

-- A conversation's first message (either way), Unix ms: a contact's first contact
-- on that number, for the sales funnel.
ALTER TABLE conversations ADD COLUMN first_message_at INTEGER;
UPDATE conversations SET first_message_at = coalesce(
    (SELECT MIN(m.timestamp) FROM messages m WHERE m.conversation_id = conversations.id),
    created_at);
CREATE INDEX conversations_first_message ON conversations(tenant_id, first_message_at);

-- Sends by time, for click-through, open rate and cost.
CREATE INDEX outbox_sent ON outbox(tenant_id, sent_at) WHERE state = 'sent';
