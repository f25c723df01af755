-- The tables every message writes a row to, keyed by their primary key
-- alone (WITHOUT ROWID): a row is one entry of one B-tree instead of a row
-- and an index entry, which is a page fewer to write per table per commit.
-- PostgreSQL's tables are heaps anyway; this is SQLite's alone.

CREATE TABLE forward_extremities_new (
    room_id  TEXT NOT NULL,
    event_id TEXT NOT NULL,
    PRIMARY KEY (room_id, event_id)
) WITHOUT ROWID;
INSERT INTO forward_extremities_new SELECT room_id, event_id FROM forward_extremities;
DROP TABLE forward_extremities;
ALTER TABLE forward_extremities_new RENAME TO forward_extremities;

CREATE TABLE transaction_ids_new (
    user_id    TEXT NOT NULL,
    device_id  TEXT NOT NULL,
    txn_id     TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    created_ts INTEGER NOT NULL,
    PRIMARY KEY (user_id, device_id, txn_id)
) WITHOUT ROWID;
INSERT INTO transaction_ids_new SELECT user_id, device_id, txn_id, event_id, created_ts FROM transaction_ids;
DROP TABLE transaction_ids;
ALTER TABLE transaction_ids_new RENAME TO transaction_ids;

CREATE TABLE push_actions_new (
    user_id    TEXT NOT NULL,
    room_id    TEXT NOT NULL,
    stream_pos INTEGER NOT NULL,
    event_id   TEXT NOT NULL,
    thread_id  TEXT NOT NULL,
    highlight  INTEGER NOT NULL,
    actions    TEXT NOT NULL,
    ts         INTEGER NOT NULL,
    PRIMARY KEY (user_id, room_id, stream_pos)
) WITHOUT ROWID;
INSERT INTO push_actions_new SELECT user_id, room_id, stream_pos, event_id, thread_id, highlight, actions, ts FROM push_actions;
DROP TABLE push_actions;
ALTER TABLE push_actions_new RENAME TO push_actions;
CREATE INDEX push_actions_user ON push_actions(user_id, stream_pos);
CREATE INDEX push_actions_event ON push_actions(event_id);

CREATE TABLE read_marks_new (
    user_id   TEXT NOT NULL,
    room_id   TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    event_pos INTEGER NOT NULL,
    PRIMARY KEY (user_id, room_id, thread_id)
) WITHOUT ROWID;
INSERT INTO read_marks_new SELECT user_id, room_id, thread_id, event_pos FROM read_marks;
DROP TABLE read_marks;
ALTER TABLE read_marks_new RENAME TO read_marks;
