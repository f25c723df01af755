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
