package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Presence is a user's stored presence. The rules that change it (idle and
// offline timeouts, /sync's set_presence) are in package presence; the
// store only keeps it and finds who shares rooms with whom.
type Presence struct {
	UserID    string
	State     string // "online", "unavailable" or "offline"
	StatusMsg *string
	// LastActiveTS is the last pro-active action, in ms.
	LastActiveTS int64
	// SyncUntilTS: a /sync of the user may be waiting until then (ms).
	SyncUntilTS int64
	// CurrentlyActive is the currently_active clients were last told.
	CurrentlyActive bool
	// Pos is the stream position of the last change clients must hear of.
	Pos int64
}

const presenceCols = `user_id, state, status_msg, last_active_ts, sync_until_ts, currently_active, stream_pos`

func scanPresence(sc interface{ Scan(...any) error }) (Presence, error) {
	var p Presence
	var msg sql.NullString
	err := sc.Scan(&p.UserID, &p.State, &msg, &p.LastActiveTS, &p.SyncUntilTS, &p.CurrentlyActive, &p.Pos)
	if msg.Valid {
		p.StatusMsg = &msg.String
	}
	return p, err
}

func scanPresences(rows *sql.Rows) ([]Presence, error) {
	defer rows.Close()
	var out []Presence
	for rows.Next() {
		p, err := scanPresence(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// PresenceOf returns the user's stored presence, or ErrNotFound if it was
// never set.
//
// The row is cached until it changes (changes.go): every /sync and every
// message reads it.
func (db *DB) PresenceOf(ctx context.Context, userID string) (Presence, error) {
	return cachedQuery(db, &db.caches.presence, keyPresenceOf(userID), func() (Presence, error) {
		p, err := scanPresence(db.read.QueryRowContext(ctx, `SELECT `+presenceCols+` FROM presence WHERE user_id = $1`, userID))
		return p, mapErr(err)
	})
}

// PresenceChange says what UpdatePresence should do with the new value.
type PresenceChange int

const (
	PresenceUnchanged PresenceChange = iota // write nothing
	PresenceSilent                          // write, but clients need not hear of it
	PresenceNotify                          // write with a new stream position
)

// UpdatePresence applies change to the user's presence atomically. change
// gets the stored presence (offline, all zero, if none) to modify in place
// and says whether to write it and whether clients must hear of it. It
// returns the presence as stored and the new stream position (0 unless
// PresenceNotify).
func (db *DB) UpdatePresence(ctx context.Context, userID string, change func(p *Presence) PresenceChange) (p Presence, pos int64, err error) {
	err = db.tx(ctx, func(tx *wtx) error {
		tx.touch(keyPresenceOf(userID))
		// The first write creates the row, so that FOR UPDATE below has
		// a row to lock on PostgreSQL; SQLite's single writer serialises
		// anyway.
		if _, err := tx.ExecContext(ctx, `INSERT INTO presence (`+presenceCols+`) VALUES ($1, 'offline', NULL, 0, 0, FALSE, 0)
			ON CONFLICT (user_id) DO NOTHING`, userID); err != nil {
			return err
		}
		q := `SELECT ` + presenceCols + ` FROM presence WHERE user_id = $1`
		if db.Engine == Postgres {
			q += ` FOR UPDATE`
		}
		var err error
		if p, err = scanPresence(tx.QueryRowContext(ctx, q, userID)); err != nil {
			return err
		}
		switch change(&p) {
		case PresenceUnchanged:
			return errNoChange
		case PresenceNotify:
			if pos, err = nextPosTx(ctx, tx, keyPresence); err != nil {
				return err
			}
			p.Pos = pos
		}
		_, err = tx.ExecContext(ctx, `UPDATE presence SET state = $2, status_msg = $3, last_active_ts = $4, sync_until_ts = $5,
			currently_active = $6, stream_pos = $7 WHERE user_id = $1`,
			userID, p.State, p.StatusMsg, p.LastActiveTS, p.SyncUntilTS, p.CurrentlyActive, p.Pos)
		return err
	})
	if err == errNoChange {
		err = nil
	}
	return p, pos, err
}

// PresenceTimeoutCandidates returns the users whose presence may have
// timed out at the given thresholds (ms): not offline, and either neither
// syncing nor active since offlineBefore, or online and inactive since
// idleBefore, or online, currently active and inactive since
// activeBefore.
func (db *DB) PresenceTimeoutCandidates(ctx context.Context, offlineBefore, idleBefore, activeBefore int64) ([]string, error) {
	return db.strings(ctx, `SELECT user_id FROM presence WHERE state <> 'offline' AND (
		(sync_until_ts < $1 AND last_active_ts < $1)
		OR (state = 'online' AND last_active_ts < $2)
		OR (state = 'online' AND currently_active = TRUE AND last_active_ts < $3))`, offlineBefore, idleBefore, activeBefore)
}

// sharesRoom is true when the user p.user_id is joined to a room $1 is
// joined to.
const sharesRoom = `EXISTS (SELECT 1 FROM current_state a JOIN current_state b ON b.room_id = a.room_id
	WHERE a.type = 'm.room.member' AND a.state_key = $1 AND a.membership = 'join'
	AND b.type = 'm.room.member' AND b.state_key = p.user_id AND b.membership = 'join')`

// SharesRoom reports whether two users are joined to a common room.
func (db *DB) SharesRoom(ctx context.Context, userID, otherID string) (bool, error) {
	var n int
	err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM current_state a JOIN current_state b ON b.room_id = a.room_id
		WHERE a.type = 'm.room.member' AND a.state_key = $1 AND a.membership = 'join'
		AND b.type = 'm.room.member' AND b.state_key = $2 AND b.membership = 'join'`, userID, otherID).Scan(&n)
	return n > 0, err
}

// PresenceChangedSince returns the presence of the user and of every user
// sharing a joined room with them that changed in (from, to]. With from 0
// (an initial sync) it returns everyone's current presence but offline.
func (db *DB) PresenceChangedSince(ctx context.Context, userID string, from, to int64) ([]Presence, error) {
	q := `SELECT ` + presenceCols + ` FROM presence p WHERE p.stream_pos > $2 AND p.stream_pos <= $3
		AND (p.user_id = $1 OR ` + sharesRoom + `)`
	if from == 0 {
		q += ` AND p.state <> 'offline'`
	}
	rows, err := db.read.QueryContext(ctx, q+` ORDER BY p.stream_pos`, userID, from, to)
	if err != nil {
		return nil, err
	}
	return scanPresences(rows)
}

// PresenceOfNewRoommates returns the presence, unless offline, of the
// users who came to share a room with userID in (from, to]: the members of
// rooms userID joined then, and those who joined userID's rooms then.
// Their presence may not have changed, but the user has not heard of it.
func (db *DB) PresenceOfNewRoommates(ctx context.Context, userID string, from, to int64) ([]Presence, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT `+presenceCols+` FROM presence p WHERE p.state <> 'offline' AND p.user_id IN (
		SELECT b.state_key FROM current_state a JOIN current_state b ON b.room_id = a.room_id
		WHERE a.type = 'm.room.member' AND a.state_key = $1 AND a.membership = 'join'
		AND b.type = 'm.room.member' AND b.membership = 'join'
		AND ((a.stream_pos > $2 AND a.stream_pos <= $3) OR (b.stream_pos > $2 AND b.stream_pos <= $3)))
		ORDER BY p.stream_pos`, userID, from, to)
	if err != nil {
		return nil, err
	}
	return scanPresences(rows)
}

// JoinedAmong returns which of the users are joined to the room now. It
// is for short lists (who is typing): one parameter a user.
func (db *DB) JoinedAmong(ctx context.Context, roomID string, userIDs []string) (map[string]bool, error) {
	out := map[string]bool{}
	for start := 0; start < len(userIDs); start += 500 {
		chunk := userIDs[start:min(start+500, len(userIDs))]
		ph := make([]string, len(chunk))
		args := []any{roomID}
		for i, u := range chunk {
			ph[i] = fmt.Sprintf("$%d", i+2)
			args = append(args, u)
		}
		ids, err := db.strings(ctx, `SELECT state_key FROM current_state WHERE room_id = $1 AND type = 'm.room.member'
			AND membership = 'join' AND state_key IN (`+strings.Join(ph, ",")+`)`, args...)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			out[id] = true
		}
	}
	return out, nil
}
