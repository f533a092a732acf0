-- Media: inbound downloads and outbound uploads. The bytes live content-addressed in
-- the data directory (`<data_dir>/media/<sha256 hex>`), once however many rows name
-- them; these rows say which tenant may see which file and where it came from.

CREATE TABLE media (
    id               INTEGER PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id),
    direction        TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    kind             TEXT NOT NULL,      -- image, audio, voice, video, document, sticker
    meta_media_id    TEXT,               -- inbound: Meta's id, to download by
    message_id       INTEGER REFERENCES messages(id),   -- inbound: the message it came with
    phone_number_id  TEXT,               -- inbound: the number that received it
    expected_sha256  TEXT,               -- inbound: the webhook's hash, as hex
    sha256           TEXT,               -- hex of the stored bytes; NULL until stored
    mime_type        TEXT,
    size             INTEGER,
    file_name        TEXT,
    animated         INTEGER NOT NULL DEFAULT 0,   -- 1 for an animated WebP (stickers)
    state            TEXT NOT NULL CHECK (state IN ('pending', 'stored', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    original_size    INTEGER,            -- outbound: the upload's size before re-encoding
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;
-- A redelivered webhook records its media once.
CREATE UNIQUE INDEX media_inbound_once ON media(message_id, meta_media_id)
    WHERE direction = 'inbound';
-- One outbound row per tenant and content (`scrm:<sha256>` ids).
CREATE UNIQUE INDEX media_outbound_once ON media(tenant_id, sha256)
    WHERE direction = 'outbound';
CREATE INDEX media_due ON media(next_attempt_at) WHERE state = 'pending';
CREATE INDEX media_tenant_sha ON media(tenant_id, sha256);
CREATE INDEX media_message ON media(message_id) WHERE message_id IS NOT NULL;

-- Meta's media ids for content uploaded from a number (Meta keeps uploads 30 days).
CREATE TABLE media_uploads (
    phone_number_id  TEXT NOT NULL,
    sha256           TEXT NOT NULL,
    meta_media_id    TEXT NOT NULL,
    uploaded_at      INTEGER NOT NULL,
    PRIMARY KEY (phone_number_id, sha256)
) STRICT;
