package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
)

// Account data ("Client Config"): JSON objects a user keeps on the server,
// global (roomID "") or per room, by type. Every change takes a position
// from the global stream, so /sync can return exactly what changed since a
// token. The store does not check who may write what: the API does.

// AccountData is one account data entry.
type AccountData struct {
	RoomID  string // "" for global account data
	Type    string
	Content json.RawMessage
	Pos     int64
}

// SetAccountData sets the user's account data of a type, global when
// roomID is "", and returns its new stream position. content must be a
// JSON object; it is stored compact. Other parts of the server (read
// markers' m.fully_read, push rules) write their account data through it
// too; the caller wakes the user's /syncs (Notifier.NotifyUser(pos, userID)).
func (db *DB) SetAccountData(ctx context.Context, userID, roomID, typ string, content json.RawMessage) (pos int64, err error) {
	err = db.tx(ctx, func(tx *wtx) error {
		pos, err = setAccountDataTx(ctx, tx, userID, roomID, typ, content)
		return err
	})
	return pos, err
}

// UpdateAccountData replaces the user's account data of a type with
// update(old), atomically: old is nil when there is none. When update
// returns nil content, nothing changes and pos is 0. Tags use it to add
// and remove one tag of m.tag without losing a concurrent change to
// another.
func (db *DB) UpdateAccountData(ctx context.Context, userID, roomID, typ string, update func(old json.RawMessage) (json.RawMessage, error)) (pos int64, err error) {
	err = db.tx(ctx, func(tx *wtx) error {
		// Taking the stream position first locks the counter row until
		// commit (nextPosTx), which serialises this read-modify-write with
		// every other writer on both engines; SQLite has no SELECT … FOR
		// UPDATE, and on PostgreSQL a row lock would miss the first insert.
		next, err := nextPosTx(ctx, tx, keyAccountData(userID))
		if err != nil {
			return err
		}
		var old sql.NullString
		err = tx.QueryRowContext(ctx, `SELECT content FROM account_data WHERE user_id = $1 AND room_id = $2 AND type = $3`,
			userID, roomID, typ).Scan(&old)
		if err != nil && err != sql.ErrNoRows {
			return err
		}
		var prev json.RawMessage
		if old.Valid {
			prev = json.RawMessage(old.String)
		}
		content, err := update(prev)
		if err != nil {
			return err
		}
		if content == nil {
			return errNoChange
		}
		pos = next
		return upsertAccountDataTx(ctx, tx, userID, roomID, typ, content, pos)
	})
	if err == errNoChange {
		return 0, nil
	}
	return pos, err
}

// errNoChange rolls back a transaction that has nothing to write.
var errNoChange = errorString("store: no change")

func setAccountDataTx(ctx context.Context, tx *wtx, userID, roomID, typ string, content json.RawMessage) (int64, error) {
	pos, err := nextPosTx(ctx, tx, keyAccountData(userID))
	if err != nil {
		return 0, err
	}
	return pos, upsertAccountDataTx(ctx, tx, userID, roomID, typ, content, pos)
}

func upsertAccountDataTx(ctx context.Context, tx *wtx, userID, roomID, typ string, content json.RawMessage, pos int64) error {
	var buf bytes.Buffer
	if err := json.Compact(&buf, content); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO account_data (user_id, room_id, type, content, stream_pos) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id, room_id, type) DO UPDATE SET content = excluded.content, stream_pos = excluded.stream_pos`,
		userID, roomID, typ, buf.String(), pos)
	return err
}

// AccountDataOf returns the content of the user's account data of a type
// (global when roomID is ""), or ErrNotFound.
func (db *DB) AccountDataOf(ctx context.Context, userID, roomID, typ string) (json.RawMessage, error) {
	var c string
	err := db.read.QueryRowContext(ctx, `SELECT content FROM account_data WHERE user_id = $1 AND room_id = $2 AND type = $3`,
		userID, roomID, typ).Scan(&c)
	if err != nil {
		return nil, mapErr(err)
	}
	return json.RawMessage(c), nil
}

// AccountDataSince returns the user's account data entries, global and of
// every room, changed in (from, to], in stream order: all of them when
// from is 0.
func (db *DB) AccountDataSince(ctx context.Context, userID string, from, to int64) ([]AccountData, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT room_id, type, content, stream_pos FROM account_data
		WHERE user_id = $1 AND stream_pos > $2 AND stream_pos <= $3 ORDER BY stream_pos`, userID, from, to)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AccountData
	for rows.Next() {
		var d AccountData
		var c string
		if err := rows.Scan(&d.RoomID, &d.Type, &c, &d.Pos); err != nil {
			return nil, err
		}
		d.Content = json.RawMessage(c)
		out = append(out, d)
	}
	return out, rows.Err()
}

// IgnoredUsersType is the global account data listing the users someone
// ignores ("Ignoring Users").
const IgnoredUsersType = "m.ignored_user_list"

// IgnoredUsers returns the users userID ignores, from their
// m.ignored_user_list account data (empty if none). Like Synapse it reads
// what it can: a malformed list ignores nobody, and a user never ignores
// themselves (their own events would vanish from their timeline).
//
// The result is cached until the user's account data changes
// (changes.go); it is shared, and callers must not modify it.
func (db *DB) IgnoredUsers(ctx context.Context, userID string) (map[string]bool, error) {
	return cachedQuery(db, &db.caches.ignored, userID, func() (map[string]bool, error) {
		c, err := db.AccountDataOf(ctx, userID, "", IgnoredUsersType)
		if err == ErrNotFound {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return ParseIgnoredUsers(c, userID), nil
	}, keyAccountData(userID))
}

// ParseIgnoredUsers reads the content of an m.ignored_user_list of
// userID; see IgnoredUsers.
func ParseIgnoredUsers(content json.RawMessage, userID string) map[string]bool {
	var c struct {
		IgnoredUsers map[string]json.RawMessage `json:"ignored_users"`
	}
	if json.Unmarshal(content, &c) != nil || len(c.IgnoredUsers) == 0 {
		return nil
	}
	out := make(map[string]bool, len(c.IgnoredUsers))
	for u := range c.IgnoredUsers {
		if u != userID {
			out[u] = true
		}
	}
	return out
}
