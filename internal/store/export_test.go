package store

import (
	"context"
)

// MarkSchemaVersionForTest pretends a newer binary migrated the database.
func (db *DB) MarkSchemaVersionForTest(ctx context.Context, v int) error {
	return db.tx(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_ts) VALUES ($1, 0)`, v)
		return err
	})
}

// RoomEventsStoredForTest is RoomEvents read from the store, never from
// the room's tail.
func (db *DB) RoomEventsStoredForTest(ctx context.Context, roomID string, from, to int64, limit int, backwards bool) ([]StoredEvent, error) {
	return db.roomEventsStored(ctx, roomID, from, to, limit, backwards)
}

// RoomTailHoldsForTest reports whether the room's tail can answer
// RoomEvents for (from, to].
func (db *DB) RoomTailHoldsForTest(roomID string, from, to int64) bool {
	_, ok := db.caches.tails.events(roomID, from, to, 1, true)
	return ok
}

// SetPruneBatchForTest sets how many rows a pruning transaction looks at
// and returns a function that restores it.
func SetPruneBatchForTest(n int) func() {
	old := pruneBatch
	pruneBatch = n
	return func() { pruneBatch = old }
}

// ExecForTest runs a statement on the write connection, outside the
// change log, as an operator's hand-made write would.
func (db *DB) ExecForTest(ctx context.Context, query string, args ...any) error {
	_, err := db.write.ExecContext(ctx, query, args...)
	return err
}
