-- Unread notification counts kept up to date, so that /sync reads one row
-- per thread instead of counting every notification since the read mark
-- (a user who never sends receipts made each /sync count more). A row
-- holds the user's notifications in a room's thread that are after both
-- their unthreaded read mark and their mark for the thread; the event's
-- transaction adds to it, and a read mark that moves recounts it.
CREATE TABLE unread_summary (
    user_id    TEXT NOT NULL,
    room_id    TEXT NOT NULL,
    thread_id  TEXT NOT NULL,
    notifs     INTEGER NOT NULL,
    highlights INTEGER NOT NULL,
    PRIMARY KEY (user_id, room_id, thread_id)
) WITHOUT ROWID;

INSERT INTO unread_summary (user_id, room_id, thread_id, notifs, highlights)
SELECT a.user_id, a.room_id, a.thread_id, COUNT(*), SUM(CASE WHEN a.highlight THEN 1 ELSE 0 END)
FROM push_actions a
WHERE a.stream_pos > COALESCE((SELECT MAX(m.event_pos) FROM read_marks m
    WHERE m.user_id = a.user_id AND m.room_id = a.room_id AND m.thread_id IN ('', a.thread_id)), 0)
GROUP BY a.user_id, a.room_id, a.thread_id;
