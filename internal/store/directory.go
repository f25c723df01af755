package store

import (
	"context"
	"fmt"
	"strings"
)

// The room directory: local aliases beyond CreateAlias and AliasRoom
// (aliases.go), the published room directory, and the one transaction of
// a room upgrade.

// RoomAlias is a local alias, the room it points to and the user who made
// it (who may delete it again).
type RoomAlias struct {
	Alias   string
	RoomID  string
	Creator string
}

// Alias returns a local alias, or ErrNotFound.
func (db *DB) Alias(ctx context.Context, alias string) (RoomAlias, error) {
	a := RoomAlias{Alias: alias}
	err := db.read.QueryRowContext(ctx, `SELECT room_id, creator FROM room_aliases WHERE alias = $1`, alias).Scan(&a.RoomID, &a.Creator)
	return a, mapErr(err)
}

// RoomAliases returns the local aliases that point to a room, sorted.
func (db *DB) RoomAliases(ctx context.Context, roomID string) ([]string, error) {
	return db.strings(ctx, `SELECT alias FROM room_aliases WHERE room_id = $1 ORDER BY alias`, roomID)
}

// DeleteAlias removes a local alias and returns what it was, or
// ErrNotFound.
func (db *DB) DeleteAlias(ctx context.Context, alias string) (RoomAlias, error) {
	a := RoomAlias{Alias: alias}
	err := db.tx(ctx, func(tx *wtx) error {
		return mapErr(tx.QueryRowContext(ctx, `DELETE FROM room_aliases WHERE alias = $1 RETURNING room_id, creator`, alias).
			Scan(&a.RoomID, &a.Creator))
	})
	return a, err
}

// SetPublished lists the room in the published room directory (public) or
// takes it out. Either is a no-op when the room is already so.
func (db *DB) SetPublished(ctx context.Context, roomID string, public bool) error {
	return db.tx(ctx, func(tx *wtx) error { return setPublishedTx(ctx, tx, roomID, public) })
}

func setPublishedTx(ctx context.Context, tx *wtx, roomID string, public bool) error {
	if !public {
		_, err := tx.ExecContext(ctx, `DELETE FROM room_directory WHERE room_id = $1`, roomID)
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO room_directory (room_id, published_ts) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
		roomID, nowMS())
	return mapErr(err)
}

// Published reports whether the room is in the published room directory.
func (db *DB) Published(ctx context.Context, roomID string) (bool, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM room_directory WHERE room_id = $1`, roomID).Scan(&n)
	return n > 0, err
}

// DirectoryRoom is a published room as the directory lists it.
type DirectoryRoom struct {
	RoomID string
	// Joined is the number of joined members as of the position asked for.
	Joined int64
	// State maps each state type asked for (with an empty state key) that
	// the room has now to the event ID that set it.
	State map[string]string
	// Redacted holds the types in State whose event is redacted.
	Redacted map[string]bool
}

// DirectoryRooms returns every published room, with its joined members as
// of stream position pos and the IDs of its current state events of the
// given types (state key ""), and which of those are redacted.
//
// Counting members as of a fixed position gives a paginated listing one
// order that does not change under it: the caller sorts by the count, and
// a later page asked with the same pos neither skips nor repeats a room
// whose members came or went meanwhile. The count is the current one,
// corrected by the members whose membership changed after pos (each
// compared with their last membership at or before pos), so the cost grows
// with the rooms and the recent changes, not with the history.
func (db *DB) DirectoryRooms(ctx context.Context, pos int64, types []string) ([]DirectoryRoom, error) {
	// One statement, so both counts come from one snapshot on both engines.
	rows, err := db.read.QueryContext(ctx, `SELECT d.room_id,
		(SELECT COUNT(*) FROM current_state c WHERE c.room_id = d.room_id AND c.type = 'm.room.member'
			AND c.membership = 'join' AND c.stream_pos <= $1)
		+ (SELECT COUNT(*) FROM current_state c WHERE c.room_id = d.room_id AND c.type = 'm.room.member'
			AND c.stream_pos > $1
			AND (SELECT e.membership FROM events e WHERE e.room_id = c.room_id AND e.type = 'm.room.member'
				AND e.state_key = c.state_key AND e.stream_pos <= $1 ORDER BY e.stream_pos DESC LIMIT 1) = 'join')
		FROM room_directory d`, pos)
	if err != nil {
		return nil, err
	}
	var out []DirectoryRoom
	index := map[string]int{}
	for rows.Next() {
		var r DirectoryRoom
		if err := rows.Scan(&r.RoomID, &r.Joined); err != nil {
			rows.Close()
			return nil, err
		}
		r.State, r.Redacted = map[string]string{}, map[string]bool{}
		index[r.RoomID] = len(out)
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 || len(types) == 0 {
		return out, nil
	}
	ph := make([]string, len(types))
	args := make([]any, len(types))
	for i, t := range types {
		ph[i] = fmt.Sprintf("$%d", i+1)
		args[i] = t
	}
	// CROSS JOIN makes SQLite start from the directory and look each
	// room's state up by key, rather than scan current_state (every
	// member of every room); PostgreSQL plans it as an inner join.
	rows, err = db.read.QueryContext(ctx, `SELECT c.room_id, c.type, c.event_id,
		CASE WHEN e.redacted_by IS NULL THEN 0 ELSE 1 END
		FROM room_directory d CROSS JOIN current_state c CROSS JOIN events e
		WHERE c.room_id = d.room_id AND c.state_key = '' AND c.type IN (`+strings.Join(ph, ",")+`)
		AND e.event_id = c.event_id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var roomID, typ, eventID string
		var redacted int
		if err := rows.Scan(&roomID, &typ, &eventID, &redacted); err != nil {
			return nil, err
		}
		if i, ok := index[roomID]; ok { // published since the first query: listed next time
			out[i].State[typ] = eventID
			out[i].Redacted[typ] = redacted == 1
		}
	}
	return out, rows.Err()
}

// RoomUpgrade is everything a room upgrade writes.
type RoomUpgrade struct {
	New       NewRoom    // the replacement room (its Alias and Public are ignored)
	NewEvents []NewEvent // its first events
	OldRoomID string
	OldEvents []NewEvent // the tombstone and what follows it in the old room
}

// UpgradeRoom stores a room upgrade in one transaction, so that a room is
// upgraded whole or not at all: it creates the replacement room with its
// events, appends the old room's events, moves every local alias of the
// old room to the new one, and moves the old room's place in the
// published room directory, if it had one, to the new room. It returns
// the stream position of the last event.
func (db *DB) UpgradeRoom(ctx context.Context, u RoomUpgrade) (pos int64, err error) {
	err = db.tx(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO rooms (room_id, version, creator, created_ts) VALUES ($1, $2, $3, $4)`,
			u.New.RoomID, u.New.Version, u.New.Creator, nowMS()); err != nil {
			return mapErr(err)
		}
		for _, evs := range [][]NewEvent{u.NewEvents, u.OldEvents} {
			for i := range evs {
				var err error
				if pos, err = appendEventTx(ctx, tx, &evs[i]); err != nil {
					return err
				}
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE room_aliases SET room_id = $1 WHERE room_id = $2`, u.New.RoomID, u.OldRoomID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM room_directory WHERE room_id = $1`, u.OldRoomID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return setPublishedTx(ctx, tx, u.New.RoomID, true)
		}
		return nil
	})
	return pos, err
}
