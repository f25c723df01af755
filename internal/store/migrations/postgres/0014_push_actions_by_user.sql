-- push_actions keyed by user and position alone (as on SQLite, where it
-- saves the most): a notifying event wrote into three indexes, (user,
-- room, position), (user, position) and (event ID), each a page of its
-- own per notified user. Now the primary key (user, position) — the
-- reader's queries bound the position from below — and an index on the
-- position, where new rows share the last page; a redaction finds its
-- event's rows by the event's position.
DROP INDEX push_actions_user;
DROP INDEX push_actions_event;
ALTER TABLE push_actions DROP CONSTRAINT push_actions_pkey;
ALTER TABLE push_actions ADD PRIMARY KEY (user_id, stream_pos);
CREATE INDEX push_actions_pos ON push_actions(stream_pos);
