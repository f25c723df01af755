package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// Send-to-device messaging (spec: "Send-to-Device messaging"). A request
// takes one position of the global stream; each recipient device gets at
// most one message per request, so (user, device, position) names a
// message, and a device's messages are delivered in position order.

// ToDeviceTarget is one recipient of a to-device message: a device, or
// every device of the user when DeviceID is "*".
type ToDeviceTarget struct {
	UserID, DeviceID string
	Content          []byte // JSON object
}

// ErrTooManyRecipients: a to-device request would reach more devices than
// its cap.
var ErrTooManyRecipients = errors.New("store: too many recipient devices")

// SendToDevice stores one to-device request of sender's device in one
// transaction. Messages to named devices come first, so a named device
// keeps its own message when "*" also covers it; devices that do not
// exist get nothing. A transaction ID the sending device used before
// stores nothing (sent is false). More than maxDevices recipient devices
// store nothing and return ErrTooManyRecipients.
//
// It returns the position and the users who got at least one message.
func (db *DB) SendToDevice(ctx context.Context, sender, senderDevice, txnID, typ string, targets []ToDeviceTarget, maxDevices int) (pos int64, recipients []string, sent bool, err error) {
	err = db.tx(ctx, func(tx *wtx) error {
		recipients = recipients[:0]
		res, err := tx.ExecContext(ctx, `INSERT INTO e2e_to_device_txns (user_id, device_id, txn_id, created_ts)
			VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, sender, senderDevice, txnID, nowMS())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // a retry: the first request sent everything
		}
		// A client retries within minutes; a day of transaction IDs is
		// plenty, and keeps the table from growing with every message.
		if _, err := tx.ExecContext(ctx, `DELETE FROM e2e_to_device_txns WHERE user_id = $1 AND device_id = $2 AND created_ts < $3`,
			sender, senderDevice, nowMS()-24*60*60*1000); err != nil {
			return err
		}
		if pos, err = nextPosTx(ctx, tx); err != nil {
			return err
		}
		sent = true
		total := 0
		reached := map[string]bool{}
		count := func(users []string) error {
			for _, u := range users {
				if !reached[u] {
					reached[u] = true
					recipients = append(recipients, u)
				}
			}
			if total += len(users); total > maxDevices {
				return ErrTooManyRecipients
			}
			return nil
		}
		// Named devices, 32 to a statement prepared once (large statements
		// cost modernc's SQLite the square of their parameters).
		var named []ToDeviceTarget
		for _, t := range targets {
			if t.DeviceID != "*" {
				named = append(named, t)
			}
		}
		var full *sql.Stmt
		defer func() {
			if full != nil {
				full.Close()
			}
		}()
		for start := 0; start < len(named); start += toDeviceBatch {
			chunk := named[start:min(start+toDeviceBatch, len(named))]
			args := make([]any, 3, 3+3*len(chunk))
			args[0], args[1], args[2] = pos, sender, typ
			for _, t := range chunk {
				args = append(args, t.UserID, t.DeviceID, string(t.Content))
			}
			var rows *sql.Rows
			var err error
			if len(chunk) == toDeviceBatch {
				if full == nil {
					if full, err = tx.PrepareContext(ctx, toDeviceInsert(toDeviceBatch)); err != nil {
						return err
					}
				}
				rows, err = full.QueryContext(ctx, args...)
			} else {
				rows, err = tx.QueryContext(ctx, toDeviceInsert(len(chunk)), args...)
			}
			if err != nil {
				return err
			}
			users, err := scanStrings(rows)
			if err != nil {
				return err
			}
			if err := count(users); err != nil {
				return err
			}
		}
		// "*": every device of the user that has no message yet.
		for _, t := range targets {
			if t.DeviceID != "*" {
				continue
			}
			users, err := queryStrings(ctx, tx, `INSERT INTO e2e_to_device (user_id, device_id, stream_pos, sender, type, content)
				SELECT user_id, device_id, CAST($1 AS BIGINT), $2, $3, $4 FROM devices WHERE user_id = $5
				ON CONFLICT DO NOTHING RETURNING user_id`, pos, sender, typ, string(t.Content), t.UserID)
			if err != nil {
				return err
			}
			if err := count(users); err != nil {
				return err
			}
		}
		for _, u := range recipients {
			tx.touch(keyToDevice(u))
		}
		return nil
	})
	if err != nil {
		return 0, nil, false, err
	}
	return pos, recipients, sent, nil
}

// ToDeviceMessage is a message waiting for a device.
type ToDeviceMessage struct {
	Pos     int64
	Sender  string
	Type    string
	Content []byte
}

// ToDeviceMessages returns the device's messages at positions in
// (after, upto], oldest first, at most limit of them, and whether more
// wait in that range.
func (db *DB) ToDeviceMessages(ctx context.Context, userID, deviceID string, after, upto int64, limit int) ([]ToDeviceMessage, bool, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT stream_pos, sender, type, content FROM e2e_to_device
		WHERE user_id = $1 AND device_id = $2 AND stream_pos > $3 AND stream_pos <= $4 ORDER BY stream_pos LIMIT $5`,
		userID, deviceID, after, upto, limit+1)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	var out []ToDeviceMessage
	for rows.Next() {
		var m ToDeviceMessage
		var content string
		if err := rows.Scan(&m.Pos, &m.Sender, &m.Type, &content); err != nil {
			return nil, false, err
		}
		m.Content = []byte(content)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// AckToDevice deletes the device's messages at positions up to upto: the
// client's since token shows it has them. It writes only when there is
// something to delete, since every /sync calls it.
func (db *DB) AckToDevice(ctx context.Context, userID, deviceID string, upto int64) error {
	// Every message up to the device's last ack is gone: if none came
	// after it, there is nothing to delete.
	if last, ok := db.changes.lastAck(userID, deviceID); ok && (upto <= last || !db.ToDeviceSentSince(userID, last)) {
		return nil
	}
	if err := db.ackToDevice(ctx, userID, deviceID, upto); err != nil {
		return err
	}
	db.changes.recordAck(userID, deviceID, upto)
	return nil
}

func (db *DB) ackToDevice(ctx context.Context, userID, deviceID string, upto int64) error {
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM e2e_to_device
		WHERE user_id = $1 AND device_id = $2 AND stream_pos <= $3 LIMIT 1) m`, userID, deviceID, upto).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	return db.tx(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM e2e_to_device WHERE user_id = $1 AND device_id = $2 AND stream_pos <= $3`,
			userID, deviceID, upto)
		return err
	})
}

const toDeviceBatch = 32

// toDeviceInsert stores messages to n named devices (that exist) and
// returns their users.
func toDeviceInsert(n int) string {
	var q strings.Builder
	q.WriteString(`INSERT INTO e2e_to_device (user_id, device_id, stream_pos, sender, type, content)
		SELECT d.user_id, d.device_id, CAST($1 AS BIGINT), $2, $3, v.column3 FROM (VALUES `)
	for i := range n {
		if i > 0 {
			q.WriteByte(',')
		}
		p := 4 + 3*i
		fmt.Fprintf(&q, "($%d, $%d, $%d)", p, p+1, p+2)
	}
	// WHERE true: SQLite needs it to read ON CONFLICT as the upsert.
	q.WriteString(`) AS v JOIN devices d ON d.user_id = v.column1 AND d.device_id = v.column2 WHERE true
		ON CONFLICT DO NOTHING RETURNING user_id`)
	return q.String()
}

// scanStrings reads and closes rows of one text column.
func scanStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
