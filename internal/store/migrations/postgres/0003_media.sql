-- The media repository. Content lives in a blob store addressed by its
-- SHA-256 (deduplicated); these tables hold what the content is and who
-- uploaded it.

-- One row per stored content. refs counts the media and thumbnail rows
-- that point at it; the blob is deleted with the last of them. Updating
-- refs locks the row, which orders an upload of some content against the
-- deletion of the same content.
CREATE TABLE media_blobs (
    sha256     TEXT PRIMARY KEY,            -- hex
    size       BIGINT NOT NULL,
    refs       INTEGER NOT NULL,
    created_ts BIGINT NOT NULL,
    scanned_ts BIGINT NOT NULL DEFAULT 0,   -- 0: never scanned
    infected   TEXT NOT NULL DEFAULT ''     -- the scanner's finding; '': clean
);

-- Local media, by the media ID of mxc://<server_name>/<media_id>.
CREATE TABLE media (
    media_id          TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL,        -- uploader; '' for what the server fetched (URL previews)
    content_type      TEXT NOT NULL DEFAULT '',
    upload_name       TEXT,                 -- NULL: uploaded without a file name
    size              BIGINT NOT NULL DEFAULT 0,
    sha256            TEXT REFERENCES media_blobs(sha256), -- NULL until uploaded
    created_ts        BIGINT NOT NULL,
    uploaded_ts       BIGINT,               -- NULL: created by /create, content not uploaded yet
    unused_expires_ts BIGINT,               -- for a created ID: when it expires unused
    -- TRUE: served only by the authenticated endpoints (uploaded while the
    -- legacy unauthenticated ones were frozen), as Synapse's column.
    authenticated     BOOLEAN NOT NULL,
    url_cache         BOOLEAN NOT NULL DEFAULT FALSE,
    quarantined_by    TEXT,                 -- NULL: not quarantined
    quarantined_ts    BIGINT
);
CREATE INDEX media_user ON media(user_id);
CREATE INDEX media_sha256 ON media(sha256);
CREATE INDEX media_pending ON media(unused_expires_ts) WHERE uploaded_ts IS NULL;
CREATE INDEX media_url_cache ON media(created_ts) WHERE url_cache;

-- Thumbnails, made on demand once per configured size and kept.
CREATE TABLE media_thumbnails (
    media_id     TEXT NOT NULL REFERENCES media(media_id),
    width        INTEGER NOT NULL,          -- the configured size asked for
    height       INTEGER NOT NULL,
    method       TEXT NOT NULL,             -- crop or scale
    animated     BOOLEAN NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT NOT NULL REFERENCES media_blobs(sha256),
    created_ts   BIGINT NOT NULL,
    PRIMARY KEY (media_id, width, height, method, animated)
);
CREATE INDEX media_thumbnails_sha256 ON media_thumbnails(sha256);

-- URL previews, per URL and time bucket (ts rounded down to cache_for).
CREATE TABLE media_url_previews (
    url        TEXT NOT NULL,
    bucket     BIGINT NOT NULL,
    response   TEXT NOT NULL,               -- the JSON answered
    fetched_ts BIGINT NOT NULL,
    PRIMARY KEY (url, bucket)
);
CREATE INDEX media_url_previews_fetched ON media_url_previews(fetched_ts);
