package store

import (
	"context"
	"database/sql"
	"encoding/json"
)

// Profile returns every profile field of the user as raw JSON values.
func (db *DB) Profile(ctx context.Context, userID string) (map[string]json.RawMessage, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT field, value FROM profiles WHERE user_id = $1`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	p := map[string]json.RawMessage{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		p[k] = json.RawMessage(v)
	}
	return p, rows.Err()
}

// SetProfileField sets one field to a JSON value; a nil value removes it.
// maxTotal caps the size of the whole profile in bytes; ok is false (and
// nothing changes) when the change would exceed it.
func (db *DB) SetProfileField(ctx context.Context, userID, field string, value json.RawMessage, maxTotal int) (ok bool, err error) {
	err = db.tx(ctx, func(tx *sql.Tx) error {
		if value == nil {
			_, err := tx.ExecContext(ctx, `DELETE FROM profiles WHERE user_id = $1 AND field = $2`, userID, field)
			ok = err == nil
			return err
		}
		var total int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(LENGTH(field) + LENGTH(value)), 0) FROM profiles WHERE user_id = $1 AND field <> $2`,
			userID, field).Scan(&total); err != nil {
			return err
		}
		if total+len(field)+len(value) > maxTotal {
			return nil
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO profiles (user_id, field, value) VALUES ($1, $2, $3)
			ON CONFLICT (user_id, field) DO UPDATE SET value = excluded.value`, userID, field, string(value))
		ok = err == nil
		return err
	})
	return ok, err
}
