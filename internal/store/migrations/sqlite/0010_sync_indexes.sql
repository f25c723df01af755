-- Incremental /sync finds the rooms with new receipts by stream position.
CREATE INDEX receipts_stream_pos ON receipts(stream_pos);
