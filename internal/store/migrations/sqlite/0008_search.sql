-- Server-side search (POST /search) and the user directory
-- (POST /user_directory/search). The text handling is in internal/search;
-- store/search.go keeps these tables in step with events and profiles.

-- The searchable text of each searchable event (m.room.message body,
-- m.room.name, m.room.topic), normalised by internal/search, keyed by the
-- event's stream position. Events of encrypted rooms and redacted events
-- have no row. Both engines write this table with the same SQL; each
-- indexes it its own way.
CREATE TABLE event_search (
    stream_pos INTEGER PRIMARY KEY, -- events.stream_pos
    room_id    TEXT NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX event_search_room ON event_search(room_id);

-- SQLite: an FTS5 index over event_search (external content, kept in
-- step by triggers). The text is normalised already; unicode61 only cuts
-- it at the spaces. The prefix indexes make the 2- and 3-character
-- prefix queries of search-as-you-type cheap.
CREATE VIRTUAL TABLE event_search_fts USING fts5(
    body, content = 'event_search', content_rowid = 'stream_pos',
    tokenize = 'unicode61 remove_diacritics 0', prefix = '2 3'
);
CREATE TRIGGER event_search_insert AFTER INSERT ON event_search BEGIN
    INSERT INTO event_search_fts (rowid, body) VALUES (new.stream_pos, new.body);
END;
CREATE TRIGGER event_search_delete AFTER DELETE ON event_search BEGIN
    INSERT INTO event_search_fts (event_search_fts, rowid, body) VALUES ('delete', old.stream_pos, old.body);
END;

-- The user directory: each word under which a user is found (tokens of the
-- localpart and of the display name, and the whole user ID), compared in
-- code-point order so that a prefix is a range of this primary key.
CREATE TABLE user_directory_terms (
    term    TEXT NOT NULL,
    user_id TEXT NOT NULL,
    PRIMARY KEY (term, user_id)
);
CREATE INDEX user_directory_terms_user ON user_directory_terms(user_id);

-- Rooms whose joined members everyone may find in the user directory
-- (spec: join rule public, or history visibility world_readable).
CREATE TABLE user_directory_rooms (
    room_id        TEXT PRIMARY KEY,
    join_public    INTEGER NOT NULL DEFAULT 0,
    world_readable INTEGER NOT NULL DEFAULT 0
);

-- Events and users that existed before this migration are indexed once,
-- in Go, by the store when it opens (store/search.go, backfillSearch):
-- this row says up to which stream position events remain to be indexed
-- and whether users do. The row is deleted when the backfill is done.
CREATE TABLE search_backfill (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    events_upto INTEGER NOT NULL,
    users_done  INTEGER NOT NULL DEFAULT 0
);
INSERT INTO search_backfill (id, events_upto) SELECT 1, pos FROM stream_counter;
