package store

import (
	"context"
	"database/sql"
)

// MarkSchemaVersionForTest pretends a newer binary migrated the database.
func (db *DB) MarkSchemaVersionForTest(ctx context.Context, v int) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_ts) VALUES ($1, 0)`, v)
		return err
	})
}
