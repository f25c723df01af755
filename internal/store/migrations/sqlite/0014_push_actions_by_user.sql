-- push_actions keyed by user and position alone. Every notifying event
-- wrote a row into three B-trees, (user, room, position), (user, position)
-- and (event ID), each a page of its own per notified user: 42% of the
-- pages a message wrote to the WAL. Now one B-tree per user (the reader's
-- queries bound the position from below, so a room's unread tail is a
-- short range of it) and an index on the position, where a commit's new
-- rows share the last page; a redaction finds its event's rows by the
-- event's position.
CREATE TABLE push_actions_new (
    user_id    TEXT NOT NULL,
    stream_pos INTEGER NOT NULL, -- the event's
    room_id    TEXT NOT NULL,
    event_id   TEXT NOT NULL,
    thread_id  TEXT NOT NULL,
    highlight  INTEGER NOT NULL,
    actions    TEXT NOT NULL,    -- the matched rule's actions, JSON
    ts         INTEGER NOT NULL,
    PRIMARY KEY (user_id, stream_pos)
) WITHOUT ROWID;
INSERT INTO push_actions_new (user_id, stream_pos, room_id, event_id, thread_id, highlight, actions, ts)
SELECT user_id, stream_pos, room_id, event_id, thread_id, highlight, actions, ts FROM push_actions;
DROP TABLE push_actions;
ALTER TABLE push_actions_new RENAME TO push_actions;
CREATE INDEX push_actions_pos ON push_actions(stream_pos);
