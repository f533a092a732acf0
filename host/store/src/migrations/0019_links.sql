-- Tracked links: each http(s) URL of an outbound message is rewritten to
-- {public_url}/l/{token} when the message is queued, and each click on one is kept.
CREATE TABLE links (
    token       TEXT PRIMARY KEY,                        -- 128 random bits, URL-safe base64
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    outbox_id   INTEGER NOT NULL REFERENCES outbox(id),  -- the send (its wamid once sent)
    recipient   TEXT NOT NULL,                           -- E.164 digits without '+'
    url         TEXT NOT NULL,                           -- the original URL
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX links_outbox ON links(outbox_id);
CREATE INDEX links_tenant ON links(tenant_id, created_at);

CREATE TABLE link_clicks (
    id          INTEGER PRIMARY KEY,
    token       TEXT NOT NULL REFERENCES links(token),
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    contact_id  INTEGER REFERENCES contacts(id),         -- the recipient, when known
    clicked_at  INTEGER NOT NULL,
    user_agent  TEXT
) STRICT;
CREATE INDEX link_clicks_tenant ON link_clicks(tenant_id, clicked_at);
CREATE INDEX link_clicks_contact ON link_clicks(tenant_id, contact_id, clicked_at);
CREATE INDEX link_clicks_token ON link_clicks(token);

-- Whether links in the tenant's messages are tracked (when the host has a public URL).
ALTER TABLE tenants ADD COLUMN track_links INTEGER NOT NULL DEFAULT 1;
