package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// StoredEvent is an event as the store keeps it.
type StoredEvent struct {
	StreamPos    int64
	EventID      string
	RoomID       string
	Version      string // the room version, to parse PDU
	PDU          []byte
	RedactedBy   string
	SenderDevice string
	TxnID        string
}

// NewEvent is an event to append to a room.
type NewEvent struct {
	EventID        string
	RoomID         string
	Type           string
	StateKey       *string
	Sender         string
	Depth          int64
	OriginServerTS int64
	PDU            []byte
	PrevEvents     []string // become non-extremities
	Membership     string   // content.membership of an m.room.member event
	Redacts        string   // for m.room.redaction
	RelatesTo      string
	RelType        string
	// The sending device and its transaction ID, if the event came from
	// PUT /send or /state with one.
	SenderDevice string
	TxnID        string
	// Push is who the event notifies, stored in the event's transaction.
	Push *PushOutcome
}

// NewRoom is a room to create.
type NewRoom struct {
	RoomID  string
	Version string
	Creator string
	Alias   string // a local alias to map to the room, if any
	Public  bool   // list the room in the published room directory
}

// CreateRoom records a new room, its alias, its place in the published
// room directory and its first events in one transaction: a room exists
// whole or not at all. ErrConflict means the alias is taken.
func (db *DB) CreateRoom(ctx context.Context, r NewRoom, evs []NewEvent) (pos int64, err error) {
	err = db.tx(ctx, func(tx *wtx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO rooms (room_id, version, creator, created_ts) VALUES ($1, $2, $3, $4)`,
			r.RoomID, r.Version, r.Creator, nowMS()); err != nil {
			return mapErr(err)
		}
		if r.Alias != "" {
			if _, err := tx.ExecContext(ctx, `INSERT INTO room_aliases (alias, room_id, creator, created_ts) VALUES ($1, $2, $3, $4)`,
				r.Alias, r.RoomID, r.Creator, nowMS()); err != nil {
				return mapErr(err)
			}
		}
		if r.Public {
			if err := setPublishedTx(ctx, tx, r.RoomID, true); err != nil {
				return err
			}
		}
		for i := range evs {
			var err error
			if pos, err = appendEventTx(ctx, tx, &evs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	return pos, err
}

// RoomVersion returns a room's version, or ErrNotFound.
//
// A room's version never changes, so it is read once.
func (db *DB) RoomVersion(ctx context.Context, roomID string) (string, error) {
	if v, ok := db.caches.versions.Load(roomID); ok {
		return v.(string), nil
	}
	var v string
	if err := db.read.QueryRowContext(ctx, `SELECT version FROM rooms WHERE room_id = $1`, roomID).Scan(&v); err != nil {
		return "", mapErr(err)
	}
	db.caches.versions.Store(roomID, v)
	return v, nil
}

// nextPosTx takes the next global stream position. The UPDATE locks the
// counter row until the transaction ends, so positions commit in order.
//
// The keys name what the position changes in the change log (changes.go).
//
// Only a transaction's first position is taken from the counter row, which
// it then holds until it commits; the next ones are counted in memory and
// written once, by flushPos before the commit.
func nextPosTx(ctx context.Context, tx *wtx, keys ...string) (int64, error) {
	var pos int64
	if tx.pos == 0 {
		if err := tx.QueryRowContext(ctx, `UPDATE stream_counter SET pos = pos + 1 WHERE id = 1 RETURNING pos`).Scan(&pos); err != nil {
			return 0, err
		}
		if tx.firstPos == 0 { // a rolled back savepoint retakes the same one
			tx.firstPos = pos
			tx.changes.tookFirstPos(pos)
		}
	} else {
		pos = tx.pos + 1
		tx.posDirty = true
	}
	tx.pos = pos
	for _, k := range keys {
		tx.touch(k)
	}
	return pos, nil
}

func appendEventTx(ctx context.Context, tx *wtx, e *NewEvent) (int64, error) {
	if e.TxnID != "" {
		res, err := tx.ExecContext(ctx, `INSERT INTO transaction_ids (user_id, device_id, txn_id, event_id, created_ts)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, e.Sender, e.SenderDevice, e.TxnID, e.EventID, nowMS())
		if err != nil {
			return 0, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return 0, ErrConflict
		}
	}
	keys := []string{keyRoom(e.RoomID)}
	if e.Redacts != "" {
		keys = append(keys, keyRedactions)
	}
	if e.RelatesTo != "" {
		keys = append(keys, keyRelations(e.RelatesTo))
	}
	if e.StateKey != nil {
		keys = append(keys, keyState(e.RoomID, e.Type, *e.StateKey))
	}
	if e.Type == "m.room.member" && e.StateKey != nil {
		keys = append(keys, keyMembers, keyRooms(*e.StateKey), keyRoomMembers(e.RoomID))
	}
	pos, err := nextPosTx(ctx, tx, keys...)
	if err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO events (stream_pos, event_id, room_id, type, state_key, sender, depth,
		origin_server_ts, pdu, membership, sender_device, txn_id, relates_to, rel_type)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		pos, e.EventID, e.RoomID, e.Type, e.StateKey, e.Sender, e.Depth, e.OriginServerTS, string(e.PDU), nullIfEmpty(e.Membership),
		nullIfEmpty(e.SenderDevice), nullIfEmpty(e.TxnID), nullIfEmpty(e.RelatesTo), nullIfEmpty(e.RelType)); err != nil {
		return 0, fmt.Errorf("store: insert event: %w", mapErr(err))
	}
	version, _ := tx.caches.versions.Load(e.RoomID) // "" if not known yet: the tail then drops the room
	v, _ := version.(string)
	tx.notes.appended = append(tx.notes.appended, StoredEvent{StreamPos: pos, EventID: e.EventID, RoomID: e.RoomID, Version: v,
		PDU: e.PDU, SenderDevice: e.SenderDevice, TxnID: e.TxnID})
	if e.StateKey != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO current_state (room_id, type, state_key, event_id, stream_pos, membership)
			VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (room_id, type, state_key)
			DO UPDATE SET event_id = excluded.event_id, stream_pos = excluded.stream_pos, membership = excluded.membership`,
			e.RoomID, e.Type, *e.StateKey, e.EventID, pos, nullIfEmpty(e.Membership)); err != nil {
			return 0, err
		}
	}
	if e.Type == "m.room.member" && e.StateKey != nil && e.Membership != "leave" && e.Membership != "ban" {
		if _, err := tx.ExecContext(ctx, `DELETE FROM forgotten_rooms WHERE user_id = $1 AND room_id = $2`, *e.StateKey, e.RoomID); err != nil {
			return 0, err
		}
	}
	if err := advanceExtremitiesTx(ctx, tx, e); err != nil {
		return 0, err
	}
	if e.Redacts != "" {
		// Only an event of the same room can be redacted; the first
		// redaction wins.
		if _, err := tx.ExecContext(ctx, `UPDATE events SET redacted_by = $1 WHERE event_id = $2 AND room_id = $3 AND redacted_by IS NULL`,
			e.EventID, e.Redacts, e.RoomID); err != nil {
			return 0, err
		}
		tx.notes.redactions = append(tx.notes.redactions, tailRedaction{roomID: e.RoomID, target: e.Redacts, by: e.EventID})
	}
	if err := e.Push.storeTx(ctx, tx, e, pos); err != nil {
		return 0, err
	}
	if err := indexEventTx(ctx, tx, e, pos); err != nil { // search and user directory (store/search.go)
		return 0, err
	}
	return pos, nil
}

// advanceExtremitiesTx makes the event a forward extremity of its room in
// place of its prev events. The usual case, one prev event that was the
// extremity, is one statement.
func advanceExtremitiesTx(ctx context.Context, tx *wtx, e *NewEvent) error {
	if len(e.PrevEvents) == 1 {
		res, err := tx.ExecContext(ctx, `UPDATE forward_extremities SET event_id = $3 WHERE room_id = $1 AND event_id = $2`,
			e.RoomID, e.PrevEvents[0], e.EventID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
	}
	for _, prev := range e.PrevEvents {
		if _, err := tx.ExecContext(ctx, `DELETE FROM forward_extremities WHERE room_id = $1 AND event_id = $2`, e.RoomID, prev); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO forward_extremities (room_id, event_id) VALUES ($1, $2)`, e.RoomID, e.EventID)
	return err
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ForwardExtremities returns the room's latest events.
func (db *DB) ForwardExtremities(ctx context.Context, roomID string) ([]string, error) {
	return db.strings(ctx, `SELECT event_id FROM forward_extremities WHERE room_id = $1 ORDER BY event_id`, roomID)
}

func (db *DB) strings(ctx context.Context, q string, args ...any) ([]string, error) {
	return queryStrings(ctx, db.read, q, args...)
}

// queryStrings runs a query of one text column on a pool or in a
// transaction and returns the column's values.
func queryStrings(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) ([]string, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return scanStrings(rows)
}

const eventCols = `e.stream_pos, e.event_id, e.room_id, r.version, e.pdu, COALESCE(e.redacted_by, ''), COALESCE(e.sender_device, ''), COALESCE(e.txn_id, '')`

func scanEvents(rows *sql.Rows) ([]StoredEvent, error) {
	defer rows.Close()
	var out []StoredEvent
	for rows.Next() {
		var e StoredEvent
		var pdu string
		if err := rows.Scan(&e.StreamPos, &e.EventID, &e.RoomID, &e.Version, &pdu, &e.RedactedBy, &e.SenderDevice, &e.TxnID); err != nil {
			return nil, err
		}
		e.PDU = []byte(pdu)
		out = append(out, e)
	}
	return out, rows.Err()
}

// EventsByID returns the stored events with the given IDs (absent IDs are
// left out), in stream order.
func (db *DB) EventsByID(ctx context.Context, ids []string) ([]StoredEvent, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var out []StoredEvent
	// Chunks keep the parameter count under SQLite's limit.
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		ph := make([]string, len(chunk))
		args := make([]any, len(chunk))
		for i, id := range chunk {
			ph[i] = fmt.Sprintf("$%d", i+1)
			args[i] = id
		}
		rows, err := db.read.QueryContext(ctx, `SELECT `+eventCols+` FROM events e JOIN rooms r ON r.room_id = e.room_id
			WHERE e.event_id IN (`+strings.Join(ph, ",")+`) ORDER BY e.stream_pos`, args...)
		if err != nil {
			return nil, err
		}
		evs, err := scanEvents(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, evs...)
	}
	return out, nil
}

// CurrentStateIDs returns the event IDs of the room's current state: all
// of it when keys is nil, else only the given (type, state_key) pairs
// that are set.
func (db *DB) CurrentStateIDs(ctx context.Context, roomID string, keys [][2]string) (map[[2]string]string, error) {
	out := map[[2]string]string{}
	if keys == nil {
		rows, err := db.read.QueryContext(ctx, `SELECT type, state_key, event_id FROM current_state WHERE room_id = $1`, roomID)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var t, sk, id string
			if err := rows.Scan(&t, &sk, &id); err != nil {
				return nil, err
			}
			out[[2]string{t, sk}] = id
		}
		return out, rows.Err()
	}
	for _, k := range keys {
		var id string
		err := db.read.QueryRowContext(ctx, `SELECT event_id FROM current_state WHERE room_id = $1 AND type = $2 AND state_key = $3`,
			roomID, k[0], k[1]).Scan(&id)
		if err == sql.ErrNoRows {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[k] = id
	}
	return out, nil
}

// MaxDepth returns the greatest depth among the given events.
func (db *DB) MaxDepth(ctx context.Context, eventIDs []string) (int64, error) {
	var max int64
	for _, id := range eventIDs {
		var d int64
		if err := db.read.QueryRowContext(ctx, `SELECT depth FROM events WHERE event_id = $1`, id).Scan(&d); err != nil {
			return 0, mapErr(err)
		}
		if d > max {
			max = d
		}
	}
	return max, nil
}

// EventIDForTxn returns the event a device already sent with txnID, or
// ErrNotFound.
func (db *DB) EventIDForTxn(ctx context.Context, userID, deviceID, txnID string) (string, error) {
	var id string
	err := db.read.QueryRowContext(ctx, `SELECT event_id FROM transaction_ids WHERE user_id = $1 AND device_id = $2 AND txn_id = $3`,
		userID, deviceID, txnID).Scan(&id)
	return id, mapErr(err)
}

// StreamPos returns the latest stream position.
//
// It is kept in memory (changes.go): every write goes through this
// process.
func (db *DB) StreamPos(ctx context.Context) (int64, error) {
	return db.changes.committedPos(), nil
}

// RedactionsOf returns, for those of the events that are redacted, the ID
// of the redaction event.
//
// What it read is cached per event until the next redaction anywhere
// (changes.go): a /sync asks it of every timeline it returns.
func (db *DB) RedactionsOf(ctx context.Context, ids []string) (map[string]string, error) {
	out := map[string]string{}
	rc := &db.caches.redactions
	validFrom, anyValid := db.changes.validFrom(keyRedactions)
	asOf := db.changes.committedPos()
	var misses []string
	rc.mu.Lock()
	for _, id := range ids {
		r, ok := rc.m[id]
		switch {
		case !ok || !anyValid || r.asOf < validFrom:
			misses = append(misses, id)
		case r.by != "":
			out[id] = r.by
		}
	}
	rc.mu.Unlock()
	if len(misses) == 0 {
		return out, nil
	}
	read, err := db.redactionsOf(ctx, misses)
	if err != nil {
		return nil, err
	}
	rc.mu.Lock()
	if rc.m == nil || len(rc.m)+len(misses) > maxChangeKeys {
		rc.m = map[string]redactionEntry{}
	}
	for _, id := range misses {
		rc.m[id] = redactionEntry{by: read[id], asOf: asOf}
		if by := read[id]; by != "" {
			out[id] = by
		}
	}
	rc.mu.Unlock()
	return out, nil
}

func (db *DB) redactionsOf(ctx context.Context, ids []string) (map[string]string, error) {
	out := map[string]string{}
	for start := 0; start < len(ids); start += 500 {
		chunk := ids[start:min(start+500, len(ids))]
		ph := make([]string, len(chunk))
		args := make([]any, len(chunk))
		for i, id := range chunk {
			ph[i] = fmt.Sprintf("$%d", i+1)
			args[i] = id
		}
		rows, err := db.read.QueryContext(ctx, `SELECT event_id, redacted_by FROM events
			WHERE event_id IN (`+strings.Join(ph, ",")+`) AND redacted_by IS NOT NULL`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, by string
			if err := rows.Scan(&id, &by); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = by
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}
