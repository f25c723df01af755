package store

import (
	"context"
)

// ForgetSearchIndexForTest empties the search tables and asks for a
// backfill up to the current position, as migration 0008 does on a
// database that already holds events and users.
func (db *DB) ForgetSearchIndexForTest(ctx context.Context) error {
	return db.tx(ctx, func(tx *wtx) error {
		for _, q := range []string{
			`DELETE FROM event_search`,
			`DELETE FROM user_directory_terms`,
			`DELETE FROM user_directory_rooms`,
			`INSERT INTO search_backfill (id, events_upto) SELECT 1, pos FROM stream_counter`,
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		return nil
	})
}

// SearchIndexedForTest reports whether an event has a row in the search
// index.
func (db *DB) SearchIndexedForTest(ctx context.Context, eventID string) (bool, error) {
	if err := db.flushTextIndex(ctx); err != nil {
		return false, err
	}
	return db.SearchIndexedWithoutFlushForTest(ctx, eventID), nil
}

// SearchIndexedWithoutFlushForTest reports whether an event has a row in
// the search index, without indexing what is pending first.
func (db *DB) SearchIndexedWithoutFlushForTest(ctx context.Context, eventID string) bool {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM event_search s JOIN events e ON e.stream_pos = s.stream_pos
		WHERE e.event_id = $1`, eventID).Scan(&n)
	return err == nil && n > 0
}

// SetDirectoryVisibleCapForTest sets the number of findable users up to
// which directory searches start from them, and returns the old one.
func SetDirectoryVisibleCapForTest(n int) int {
	old := directoryVisibleCap
	directoryVisibleCap = n
	return old
}
