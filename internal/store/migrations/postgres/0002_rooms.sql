-- Rooms and their events.

-- The server's ed25519 signing keys; the newest is used to sign.
CREATE TABLE server_keys (
    key_id     TEXT PRIMARY KEY,
    seed       BYTEA NOT NULL,
    created_ts BIGINT NOT NULL
);

-- One global, gap-free position counter orders every stream (events now;
-- receipts, account data, to-device and device lists later). Taking the
-- next position locks this row until commit, so positions become visible
-- in order even with several processes writing to one PostgreSQL.
CREATE TABLE stream_counter (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    pos BIGINT NOT NULL
);
INSERT INTO stream_counter (id, pos) VALUES (1, 0);

CREATE TABLE rooms (
    room_id    TEXT PRIMARY KEY,
    version    TEXT NOT NULL,
    creator    TEXT NOT NULL,
    created_ts BIGINT NOT NULL
);

-- Every event accepted into a room, in the order this server accepted it.
-- Rejected events are never stored here.
CREATE TABLE events (
    stream_pos       BIGINT PRIMARY KEY,
    event_id         TEXT NOT NULL UNIQUE,
    room_id          TEXT NOT NULL REFERENCES rooms(room_id),
    type             TEXT NOT NULL,
    state_key        TEXT,
    sender           TEXT NOT NULL,
    depth            BIGINT NOT NULL,
    origin_server_ts BIGINT NOT NULL,
    pdu              TEXT NOT NULL, -- as received or built; redaction is applied when served
    membership       TEXT,          -- content.membership of m.room.member
    redacted_by      TEXT,          -- the redaction event that redacts this one
    -- The sender's device and transaction ID, for unsigned.transaction_id.
    sender_device    TEXT,
    txn_id           TEXT,
    -- m.relates_to, for /relations, aggregations and threads.
    relates_to       TEXT,
    rel_type         TEXT
);
CREATE INDEX events_room_pos ON events(room_id, stream_pos);
CREATE INDEX events_room_state ON events(room_id, type, state_key, stream_pos) WHERE state_key IS NOT NULL;
CREATE INDEX events_relations ON events(relates_to, rel_type, stream_pos) WHERE relates_to IS NOT NULL;

-- The state of each room now.
CREATE TABLE current_state (
    room_id    TEXT NOT NULL,
    type       TEXT NOT NULL,
    state_key  TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    stream_pos BIGINT NOT NULL,
    membership TEXT, -- for m.room.member
    PRIMARY KEY (room_id, type, state_key)
);
CREATE INDEX current_state_members ON current_state(state_key, membership) WHERE type = 'm.room.member';

-- The latest events of each room: the next event's prev_events.
CREATE TABLE forward_extremities (
    room_id  TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (room_id, event_id)
);

-- Client transaction IDs, so a retried PUT /send returns the same event.
CREATE TABLE transaction_ids (
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    txn_id     TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    created_ts BIGINT NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
);

-- Local room aliases (#alias:server) and the rooms they point to.
CREATE TABLE room_aliases (
    alias      TEXT PRIMARY KEY,
    room_id    TEXT NOT NULL REFERENCES rooms(room_id),
    creator    TEXT NOT NULL,
    created_ts BIGINT NOT NULL
);
CREATE INDEX room_aliases_room ON room_aliases(room_id);

-- Rooms a user has forgotten after leaving; a new membership un-forgets.
CREATE TABLE forgotten_rooms (
    user_id TEXT NOT NULL,
    room_id TEXT NOT NULL,
    PRIMARY KEY (user_id, room_id)
);

-- Filters uploaded with POST /user/{userId}/filter.
CREATE TABLE filters (
    user_id   TEXT NOT NULL,
    filter_id BIGINT NOT NULL,
    filter    TEXT NOT NULL,
    PRIMARY KEY (user_id, filter_id)
);
