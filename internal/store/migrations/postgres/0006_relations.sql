-- Relations, threads and timestamp lookups (migration 0002 has the
-- relates_to and rel_type columns and the index from parent to children).

-- GET /threads walks a room's thread replies newest first. Queries must
-- spell rel_type = 'm.thread' literally for the planner to use it.
CREATE INDEX events_room_threads ON events(room_id, stream_pos) WHERE rel_type = 'm.thread';

-- GET /timestamp_to_event finds a room's event closest to a time.
CREATE INDEX events_room_ts ON events(room_id, origin_server_ts, stream_pos);
