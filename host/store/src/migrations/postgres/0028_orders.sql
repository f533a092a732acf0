-- PostgreSQL form of SQLite migration 0028: the same tables, columns and indexes.

CREATE TABLE orders (
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    order_id        TEXT NOT NULL,               -- the WhatsApp message id, the CRM's or the shop's id
    source          TEXT NOT NULL,               -- whatsapp | crm | api
    contact_id      BIGINT NOT NULL REFERENCES contacts(id),
    placed_at       BIGINT NOT NULL,             -- Unix ms
    total           DOUBLE PRECISION,            -- in `currency`, when known
    currency        TEXT,                        -- ISO 4217
    payment_method  TEXT,                        -- card | cash_on_delivery | bank_transfer | …
    state           TEXT NOT NULL CHECK (state IN ('placed', 'paid', 'cancelled')),
    paid_at         BIGINT,                      -- when it was first known paid, Unix ms
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, order_id)
);
CREATE INDEX orders_placed ON orders(tenant_id, placed_at);
CREATE INDEX orders_contact ON orders(tenant_id, contact_id, placed_at);

INSERT INTO orders (tenant_id, order_id, source, contact_id, placed_at, total, currency,
                    state, updated_at)
SELECT m.tenant_id, m.wamid, 'whatsapp', m.contact_id, m.timestamp,
       (SELECT SUM((j.value ->> 'item_price')::double precision * (j.value ->> 'quantity')::double precision)
          FROM jsonb_array_elements(m.raw::jsonb -> 'order' -> 'product_items') j),
       m.raw::jsonb -> 'order' -> 'product_items' -> 0 ->> 'currency', 'placed', m.created_at
FROM messages m WHERE m.type = 'order' AND m.direction = 'inbound'
ON CONFLICT DO NOTHING;

ALTER TABLE conversations ADD COLUMN first_message_at BIGINT;
UPDATE conversations SET first_message_at = coalesce(
    (SELECT MIN(m.timestamp) FROM messages m WHERE m.conversation_id = conversations.id),
    created_at);
CREATE INDEX conversations_first_message ON conversations(tenant_id, first_message_at);

CREATE INDEX outbox_sent ON outbox(tenant_id, sent_at) WHERE state = 'sent';
