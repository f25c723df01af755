-- Message text is indexed for search after its event commits, in batches
-- (store/searchindex.go), not in the event's own transaction: indexing a
-- message one at a time was a quarter of the cost of storing it. Every
-- searchable event at or before indexed_upto has been looked at; a
-- restart goes on from there.
CREATE TABLE search_progress (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_upto BIGINT NOT NULL
);
INSERT INTO search_progress (id, indexed_upto) SELECT 1, pos FROM stream_counter;
