package store

import (
	"context"
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
// maxTotal caps the size in bytes of the whole profile as a JSON object
// ({"field":value,...}); ok is false (and nothing changes) when the change
// would make it maxTotal or more.
func (db *DB) SetProfileField(ctx context.Context, userID, field string, value json.RawMessage, maxTotal int) (ok bool, err error) {
	err = db.tx(ctx, func(tx *wtx) error {
		if value == nil {
			_, err := tx.ExecContext(ctx, `DELETE FROM profiles WHERE user_id = $1 AND field = $2`, userID, field)
			if ok = err == nil; ok {
				err = profileChangedTx(ctx, tx, userID, field) // the user directory (store/search.go)
			}
			return err
		}
		// The size is measured here rather than with SQL's LENGTH, which
		// counts characters, not bytes, on both engines.
		rows, err := tx.QueryContext(ctx, `SELECT field, value FROM profiles WHERE user_id = $1 AND field <> $2`, userID, field)
		if err != nil {
			return err
		}
		size := 1 + jsonMemberSize(field, value) + 1 // {"field":value}
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				rows.Close()
				return err
			}
			size += 1 + jsonMemberSize(k, json.RawMessage(v)) // ,"k":v
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if size >= maxTotal {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO profiles (user_id, field, value) VALUES ($1, $2, $3)
			ON CONFLICT (user_id, field) DO UPDATE SET value = excluded.value`, userID, field, string(value))
		if ok = err == nil; ok {
			err = profileChangedTx(ctx, tx, userID, field)
		}
		return err
	})
	return ok, err
}

// jsonMemberSize is the size of "key":value in a JSON object.
func jsonMemberSize(key string, value json.RawMessage) int {
	k, _ := json.Marshal(key)
	return len(k) + 1 + len(value)
}
