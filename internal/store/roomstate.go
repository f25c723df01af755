package store

import (
	"context"
	"database/sql"
	"slices"
)

// Membership is one membership of a user in a room at a stream position.
type Membership struct {
	Pos        int64
	Membership string
	EventID    string
}

// MembershipHistory returns every membership event of the user in the
// room, oldest first.
func (db *DB) MembershipHistory(ctx context.Context, roomID, userID string) ([]Membership, error) {
	return db.StateHistory(ctx, roomID, "m.room.member", userID)
}

// StateHistory returns every event that set one piece of a room's state,
// oldest first, with its position (and membership, for member events).
//
// The result is cached until the piece of state changes (changes.go); it
// is shared, and callers must not modify it.
func (db *DB) StateHistory(ctx context.Context, roomID, typ, stateKey string) ([]Membership, error) {
	h, err := cachedQuery(db, &db.caches.history, keyState(roomID, typ, stateKey), func() ([]Membership, error) {
		return db.stateHistory(ctx, roomID, typ, stateKey)
	})
	return slices.Clip(h), err
}

func (db *DB) stateHistory(ctx context.Context, roomID, typ, stateKey string) ([]Membership, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT stream_pos, COALESCE(membership, ''), event_id FROM events
		WHERE room_id = $1 AND type = $2 AND state_key = $3 ORDER BY stream_pos`, roomID, typ, stateKey)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Membership
	for rows.Next() {
		var m Membership
		if err := rows.Scan(&m.Pos, &m.Membership, &m.EventID); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// StateIDsAt returns the room's state as of stream position pos (after the
// event at pos): for each (type, state_key), the last event at or before
// pos that set it.
//
// This is exact while a room's events form a chain, as they do for rooms
// only this server writes to. With federation, forks are merged by state
// resolution and the state at an event must be stored with it instead.
func (db *DB) StateIDsAt(ctx context.Context, roomID string, pos int64) (map[[2]string]string, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT e.type, e.state_key, e.event_id FROM events e
		JOIN (SELECT type, state_key, MAX(stream_pos) AS pos FROM events
		      WHERE room_id = $1 AND state_key IS NOT NULL AND stream_pos <= $2 GROUP BY type, state_key) last
		ON e.stream_pos = last.pos`, roomID, pos)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[[2]string]string{}
	for rows.Next() {
		var t, sk, id string
		if err := rows.Scan(&t, &sk, &id); err != nil {
			return nil, err
		}
		out[[2]string{t, sk}] = id
	}
	return out, rows.Err()
}

// RoomMembers returns the users whose current membership in the room is
// one of memberships.
func (db *DB) RoomMembers(ctx context.Context, roomID string, memberships ...string) ([]string, error) {
	var out []string
	for _, m := range memberships {
		ids, err := db.strings(ctx, `SELECT state_key FROM current_state WHERE room_id = $1 AND type = 'm.room.member' AND membership = $2`, roomID, m)
		if err != nil {
			return nil, err
		}
		out = append(out, ids...)
	}
	return out, nil
}

// RoomMembership is a user's current membership in one room.
type RoomMembership struct {
	RoomID     string
	Membership string
	Pos        int64
	EventID    string
}

// UserRooms returns the user's current membership in every room they have
// one in.
//
// The result is cached until the user's memberships change (changes.go);
// it is shared, and callers must not modify it.
func (db *DB) UserRooms(ctx context.Context, userID string) ([]RoomMembership, error) {
	ms, err := cachedQuery(db, &db.caches.userRooms, keyRooms(userID), func() ([]RoomMembership, error) {
		return db.userRooms(ctx, userID)
	})
	return slices.Clip(ms), err
}

func (db *DB) userRooms(ctx context.Context, userID string) ([]RoomMembership, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT room_id, membership, stream_pos, event_id FROM current_state
		WHERE type = 'm.room.member' AND state_key = $1`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RoomMembership
	for rows.Next() {
		var m RoomMembership
		var membership sql.NullString
		if err := rows.Scan(&m.RoomID, &membership, &m.Pos, &m.EventID); err != nil {
			return nil, err
		}
		m.Membership = membership.String
		out = append(out, m)
	}
	return out, rows.Err()
}

// RoomEvents returns up to limit events of a room with from < stream_pos
// <= to, newest first when backwards, else oldest first. The room's tail
// in memory answers when it holds them all (roomtails.go).
func (db *DB) RoomEvents(ctx context.Context, roomID string, from, to int64, limit int, backwards bool) ([]StoredEvent, error) {
	// Events of a transaction in flight are not in the tail yet: none at
	// or before to if every position up to it has settled, none of the
	// room's if no transaction adding to it is in flight.
	if db.changes.settledUpTo(to) || !db.changes.inFlight(keyRoom(roomID)) {
		if evs, ok := db.caches.tails.events(roomID, from, to, limit, backwards); ok {
			return evs, nil
		}
	}
	return db.roomEventsStored(ctx, roomID, from, to, limit, backwards)
}

// roomEventsStored is RoomEvents read from the store.
func (db *DB) roomEventsStored(ctx context.Context, roomID string, from, to int64, limit int, backwards bool) ([]StoredEvent, error) {
	order := "ASC"
	if backwards {
		order = "DESC"
	}
	rows, err := db.read.QueryContext(ctx, `SELECT `+eventCols+` FROM events e JOIN rooms r ON r.room_id = e.room_id
		WHERE e.room_id = $1 AND e.stream_pos > $2 AND e.stream_pos <= $3 ORDER BY e.stream_pos `+order+` LIMIT $4`,
		roomID, from, to, limit)
	if err != nil {
		return nil, err
	}
	return scanEvents(rows)
}

// RoomsChangedSince returns the rooms among roomIDs with events in
// (from, to].
func (db *DB) RoomsChangedSince(ctx context.Context, userID string, from, to int64) ([]string, error) {
	return db.strings(ctx, `SELECT DISTINCT e.room_id FROM events e JOIN current_state m
		ON m.room_id = e.room_id AND m.type = 'm.room.member' AND m.state_key = $1
		WHERE e.stream_pos > $2 AND e.stream_pos <= $3`, userID, from, to)
}

// ForgetRoom records that the user forgot a room they left.
func (db *DB) ForgetRoom(ctx context.Context, userID, roomID string) error {
	return db.tx(ctx, func(tx *wtx) error {
		tx.touch(keyRooms(userID))
		_, err := tx.ExecContext(ctx, `INSERT INTO forgotten_rooms (user_id, room_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, userID, roomID)
		return err
	})
}

// ForgottenRooms returns the rooms the user has forgotten.
//
// The result is cached until the user's memberships change (changes.go);
// it is shared, and callers must not modify it.
func (db *DB) ForgottenRooms(ctx context.Context, userID string) (map[string]bool, error) {
	return cachedQuery(db, &db.caches.forgotten, keyRooms(userID), func() (map[string]bool, error) {
		ids, err := db.strings(ctx, `SELECT room_id FROM forgotten_rooms WHERE user_id = $1`, userID)
		out := make(map[string]bool, len(ids))
		for _, id := range ids {
			out[id] = true
		}
		return out, err
	})
}

// Member is a user's current membership in a room.
type Member struct {
	UserID     string
	Membership string
}

// RoomMemberships returns every member event's user and membership in the
// room's current state.
func (db *DB) RoomMemberships(ctx context.Context, roomID string) ([]Member, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT state_key, COALESCE(membership, '') FROM current_state
		WHERE room_id = $1 AND type = 'm.room.member'`, roomID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		var m Member
		if err := rows.Scan(&m.UserID, &m.Membership); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// RoomsWithNews returns the rooms the user has a membership in that have
// events, receipts, or room account data of the user's in (from, to]: the
// rooms an incremental /sync must look at. One query, instead of one per
// room the user is in.
//
// When the change log (changes.go) knows every change after from, the
// rooms come from it and only the user's room account data is read: the
// answer may then hold a room whose news came after to, which only costs
// the caller a look.
func (db *DB) RoomsWithNews(ctx context.Context, userID string, from, to int64) (map[string]bool, error) {
	if db.changes.knows(from) {
		ms, err := db.UserRooms(ctx, userID)
		if err != nil {
			return nil, err
		}
		out := map[string]bool{}
		for _, m := range ms {
			if db.changes.changedSince(keyRoom(m.RoomID), from) {
				out[m.RoomID] = true
			}
		}
		if !db.AccountDataChangedSince(userID, from) {
			return out, nil
		}
		ids, err := db.strings(ctx, `SELECT room_id FROM account_data
			WHERE user_id = $1 AND room_id <> '' AND stream_pos > $2 AND stream_pos <= $3`, userID, from, to)
		for _, id := range ids {
			out[id] = true
		}
		return out, err
	}
	ids, err := db.strings(ctx, `
		SELECT e.room_id FROM events e JOIN current_state m
			ON m.room_id = e.room_id AND m.type = 'm.room.member' AND m.state_key = $1
			WHERE e.stream_pos > $2 AND e.stream_pos <= $3
		UNION
		SELECT r.room_id FROM receipts r JOIN current_state m
			ON m.room_id = r.room_id AND m.type = 'm.room.member' AND m.state_key = $1
			WHERE r.stream_pos > $2 AND r.stream_pos <= $3
		UNION
		SELECT room_id FROM account_data
			WHERE user_id = $1 AND room_id <> '' AND stream_pos > $2 AND stream_pos <= $3`, userID, from, to)
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, err
}
