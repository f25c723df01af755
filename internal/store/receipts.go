package store

import (
	"context"
	"database/sql"
	"errors"
)

// Receipt is a user's latest receipt of one type in a room, per thread.
type Receipt struct {
	RoomID   string
	Type     string // m.read or m.read.private
	UserID   string
	ThreadID string // "" for an unthreaded receipt, "main", or a thread root
	EventID  string
	EventPos int64 // the acknowledged event's stream position
	TS       int64
	// StreamPos is the receipt's own position in the global stream; set
	// by SetReceipt.
	StreamPos int64
}

// errReceiptBehind rolls back a receipt that would move backwards.
var errReceiptBehind = errors.New("store: receipt behind")

// SetReceipt stores a receipt at the next stream position and moves the
// user's read mark for the thread (see UnreadCounts). A receipt for an
// event at or before the one the user's receipt of the same type and
// thread already acknowledges changes nothing: like Synapse, receipts only
// move forward. It returns the receipt's position, 0 when nothing changed.
func (db *DB) SetReceipt(ctx context.Context, r Receipt) (int64, error) {
	var pos int64
	err := db.tx(ctx, func(tx *wtx) error {
		// The position first: it locks the stream counter, so two receipts
		// of one user cannot both pass the check below.
		var err error
		if pos, err = nextPosTx(ctx, tx, keyRoom(r.RoomID), keyRoomReceipts(r.RoomID)); err != nil {
			return err
		}
		var cur int64
		err = tx.QueryRowContext(ctx, `SELECT event_pos FROM receipts
			WHERE room_id = $1 AND receipt_type = $2 AND user_id = $3 AND thread_id = $4`,
			r.RoomID, r.Type, r.UserID, r.ThreadID).Scan(&cur)
		switch {
		case err == nil && cur >= r.EventPos:
			return errReceiptBehind
		case err != nil && err != sql.ErrNoRows:
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO receipts (room_id, receipt_type, user_id, thread_id, event_id, event_pos, ts, stream_pos)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (room_id, receipt_type, user_id, thread_id)
			DO UPDATE SET event_id = excluded.event_id, event_pos = excluded.event_pos, ts = excluded.ts, stream_pos = excluded.stream_pos`,
			r.RoomID, r.Type, r.UserID, r.ThreadID, r.EventID, r.EventPos, r.TS, pos); err != nil {
			return err
		}
		return readMarkTx(ctx, tx, r.UserID, r.RoomID, r.ThreadID, r.EventPos)
	})
	if err == errReceiptBehind {
		return 0, nil
	}
	return pos, err
}

// RoomReceipts returns the room's receipts stored in (from, to] that viewer
// may see: everyone's m.read, and only their own m.read.private ("Servers
// MUST NOT send the m.read.private receipt to any other user than the one
// which originally sent it").
func (db *DB) RoomReceipts(ctx context.Context, roomID, viewer string, from, to int64) ([]Receipt, error) {
	if !db.changes.changedSince(keyRoomReceipts(roomID), from) {
		return nil, nil // changes.go
	}
	rows, err := db.read.QueryContext(ctx, `SELECT receipt_type, user_id, thread_id, event_id, event_pos, ts, stream_pos
		FROM receipts WHERE room_id = $1 AND stream_pos > $2 AND stream_pos <= $3
		AND (receipt_type = 'm.read' OR (receipt_type = 'm.read.private' AND user_id = $4))
		ORDER BY stream_pos`, roomID, from, to, viewer)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Receipt
	for rows.Next() {
		r := Receipt{RoomID: roomID}
		if err := rows.Scan(&r.Type, &r.UserID, &r.ThreadID, &r.EventID, &r.EventPos, &r.TS, &r.StreamPos); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
