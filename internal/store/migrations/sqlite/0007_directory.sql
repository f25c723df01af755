-- The published room directory: the rooms /publicRooms lists. A room is
-- published while it has a row here (spec: "Published room directory",
-- visibility "public"); deleting the row makes it "private" again.
CREATE TABLE room_directory (
    room_id      TEXT PRIMARY KEY REFERENCES rooms(room_id),
    published_ts INTEGER NOT NULL
);
