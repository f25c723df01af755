-- Server-side search (POST /search) and the user directory
-- (POST /user_directory/search). The text handling is in internal/search;
-- store/search.go keeps these tables in step with events and profiles.

-- The searchable text of each searchable event (m.room.message body,
-- m.room.name, m.room.topic), normalised by internal/search, keyed by the
-- event's stream position. Events of encrypted rooms and redacted events
-- have no row. Both engines write this table with the same SQL; each
-- indexes it its own way.
--
-- PostgreSQL: a generated tsvector with the 'simple' configuration (no
-- stemming, no stop words: the text is in many languages, see
-- internal/search) and a GIN index over it.
CREATE TABLE event_search (
    stream_pos BIGINT PRIMARY KEY, -- events.stream_pos
    room_id    TEXT NOT NULL,
    body       TEXT NOT NULL,
    vector     TSVECTOR GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, body)) STORED
);
CREATE INDEX event_search_room ON event_search(room_id);
CREATE INDEX event_search_vector ON event_search USING GIN (vector);

-- The user directory: each word under which a user is found (tokens of the
-- localpart and of the display name, and the whole user ID). The "C"
-- collation compares code points, so that a prefix is a range of this
-- primary key.
CREATE TABLE user_directory_terms (
    term    TEXT COLLATE "C" NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (term, user_id)
);
CREATE INDEX user_directory_terms_user ON user_directory_terms(user_id);

-- Rooms whose joined members everyone may find in the user directory
-- (spec: join rule public, or history visibility world_readable).
CREATE TABLE user_directory_rooms (
    room_id        TEXT PRIMARY KEY,
    join_public    BOOLEAN NOT NULL DEFAULT FALSE,
    world_readable BOOLEAN NOT NULL DEFAULT FALSE
);

-- Events and users that existed before this migration are indexed once,
-- in Go, by the store when it opens (store/search.go, backfillSearch):
-- this row says up to which stream position events remain to be indexed
-- and whether users do. The row is deleted when the backfill is done.
CREATE TABLE search_backfill (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    events_upto BIGINT NOT NULL,
    users_done  BOOLEAN NOT NULL DEFAULT FALSE
);
INSERT INTO search_backfill (id, events_upto) SELECT 1, pos FROM stream_counter;
