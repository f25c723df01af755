package store

import (
	"context"
)

// CreateAlias maps a local alias to a room; ErrConflict if it is taken.
func (db *DB) CreateAlias(ctx context.Context, alias, roomID, creator string) error {
	return db.tx(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO room_aliases (alias, room_id, creator, created_ts) VALUES ($1, $2, $3, $4)`,
			alias, roomID, creator, nowMS())
		return mapErr(err)
	})
}

// AliasRoom returns the room an alias points to, or ErrNotFound.
func (db *DB) AliasRoom(ctx context.Context, alias string) (roomID string, err error) {
	err = db.read.QueryRowContext(ctx, `SELECT room_id FROM room_aliases WHERE alias = $1`, alias).Scan(&roomID)
	return roomID, mapErr(err)
}
