package store

import (
	"context"
	"database/sql"
)

// maxFiltersPerUser bounds what one user can store.
const maxFiltersPerUser = 1000

// ErrTooMany: the user has stored too many of something.
var ErrTooMany = errorString("store: too many")

type errorString string

func (e errorString) Error() string { return string(e) }

// AddFilter stores a filter and returns its ID; an identical filter of the
// same user gets its existing ID back.
func (db *DB) AddFilter(ctx context.Context, userID, filterJSON string) (id int64, err error) {
	err = db.tx(ctx, func(tx *wtx) error {
		err := tx.QueryRowContext(ctx, `SELECT filter_id FROM filters WHERE user_id = $1 AND filter = $2`, userID, filterJSON).Scan(&id)
		if err != sql.ErrNoRows {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MAX(filter_id), -1) + 1 FROM filters WHERE user_id = $1`, userID).Scan(&n, &id); err != nil {
			return err
		}
		if n >= maxFiltersPerUser {
			return ErrTooMany
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO filters (user_id, filter_id, filter) VALUES ($1, $2, $3)`, userID, id, filterJSON)
		return err
	})
	return id, err
}

// Filter returns a stored filter, or ErrNotFound.
func (db *DB) Filter(ctx context.Context, userID string, id int64) (string, error) {
	var f string
	err := db.read.QueryRowContext(ctx, `SELECT filter FROM filters WHERE user_id = $1 AND filter_id = $2`, userID, id).Scan(&f)
	return f, mapErr(err)
}
