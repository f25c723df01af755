-- Push rules, notifications, receipts and read marks.

-- Each user's changes to the push rules as one JSON document (push.UserRules:
-- the rules they added, in priority order, and their changes to the
-- server-default rules). stream_pos, from the global counter, orders
-- m.push_rules in /sync and tells a cached compiled ruleset it is stale.
-- A user without a row has the server-default rules.
CREATE TABLE push_rules (
    user_id    TEXT PRIMARY KEY,
    rules      TEXT NOT NULL,
    stream_pos BIGINT NOT NULL
);

-- The notifications events raised: one row per event and local user whose
-- push rules said notify, written in the event's own transaction.
-- thread_id is 'main' or the thread root's event ID.
CREATE TABLE push_actions (
    user_id    TEXT NOT NULL,
    room_id    TEXT NOT NULL,
    stream_pos BIGINT NOT NULL, -- the event's
    event_id   TEXT NOT NULL,
    thread_id  TEXT NOT NULL,
    highlight  BOOLEAN NOT NULL,
    actions    TEXT NOT NULL,    -- the matched rule's actions, JSON
    ts         BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, stream_pos)
);
CREATE INDEX push_actions_user ON push_actions(user_id, stream_pos);
CREATE INDEX push_actions_event ON push_actions(event_id); -- redactions remove them

-- The latest receipt of each type per user and thread ('' for unthreaded
-- receipts). stream_pos is the receipt's own position, for /sync;
-- event_pos is the position of the event it acknowledges.
CREATE TABLE receipts (
    room_id      TEXT NOT NULL,
    receipt_type TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    thread_id    TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    event_pos    BIGINT NOT NULL,
    ts           BIGINT NOT NULL,
    stream_pos   BIGINT NOT NULL,
    PRIMARY KEY (room_id, receipt_type, user_id, thread_id)
);
CREATE INDEX receipts_room_pos ON receipts(room_id, stream_pos);

-- How far each user has read each room, per thread ('' unthreaded, 'main',
-- or a thread root): the furthest of their m.read and m.read.private
-- receipts and their own events. Notifications after it are unread.
CREATE TABLE read_marks (
    user_id   TEXT NOT NULL,
    room_id   TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    event_pos BIGINT NOT NULL,
    PRIMARY KEY (user_id, room_id, thread_id)
);
