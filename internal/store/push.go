package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// PushOutcome is what push rule evaluation decided for a new event; it is
// stored in the event's own transaction, so the notification counts of an
// event are visible exactly when the event is.
type PushOutcome struct {
	// ThreadID is "main", or the root of the thread the event is in.
	ThreadID string
	// Actions has one entry per local user the event notifies.
	Actions []PushAction
	// SenderRead marks the thread as read by the (local) sender up to their
	// own event, clearing their notifications as a receipt would: the spec
	// says to ("by using the API or by sending an event"), and Synapse does.
	SenderRead bool
}

// PushAction is one user's notification for an event.
type PushAction struct {
	UserID    string
	Highlight bool
	Actions   []byte // the matched rule's actions, a JSON array
}

// pushBatch is how many push_actions rows one INSERT writes. Each row has
// three parameters of its own and shares the event's five: SQLite looks
// $N names up linearly, so a statement's cost grows with the square of its
// parameters, and small batches are cheaper than big ones.
const pushBatch = 32

// storeTx stores the push outcome of event e at pos; appendEventTx calls
// it. A nil outcome (an event nobody evaluated) stores nothing. A
// redaction removes the notifications of the event it redacts, as Synapse
// does: what was redacted no longer counts as unread.
func (p *PushOutcome) storeTx(ctx context.Context, tx *wtx, e *NewEvent, pos int64) error {
	if e.Redacts != "" {
		if err := forgetPushActionsTx(ctx, tx, e.Redacts, e.RoomID); err != nil {
			return fmt.Errorf("store: push actions of a redacted event: %w", err)
		}
	}
	if p == nil {
		return nil
	}
	if err := p.countTx(ctx, tx, e.RoomID); err != nil {
		return fmt.Errorf("store: unread summary: %w", err)
	}
	shared := []any{e.RoomID, pos, e.EventID, p.ThreadID, nowMS()}
	var stmt *sql.Stmt // for full batches, prepared once
	defer func() {
		if stmt != nil {
			stmt.Close()
		}
	}()
	for start := 0; start < len(p.Actions); start += pushBatch {
		chunk := p.Actions[start:min(start+pushBatch, len(p.Actions))]
		args := make([]any, len(shared), len(shared)+3*len(chunk))
		copy(args, shared)
		for _, a := range chunk {
			args = append(args, a.UserID, a.Highlight, string(a.Actions))
		}
		var err error
		if len(chunk) == pushBatch && len(p.Actions) > pushBatch {
			if stmt == nil {
				if stmt, err = tx.PrepareContext(ctx, pushInsert(pushBatch)); err != nil {
					return fmt.Errorf("store: push actions: %w", err)
				}
			}
			_, err = stmt.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, pushInsert(len(chunk)), args...)
		}
		if err != nil {
			return fmt.Errorf("store: push actions: %w", err)
		}
	}
	if p.SenderRead {
		// With nothing unread in the thread, moving the mark changes no
		// count and no notification's read flag: every notification of
		// the thread is behind it already, and later ones come after the
		// event. Skipping it spares a row write per message.
		var unread int
		err := tx.QueryRowContext(ctx, `SELECT notifs FROM unread_summary WHERE user_id = $1 AND room_id = $2 AND thread_id = $3`,
			e.Sender, e.RoomID, p.ThreadID).Scan(&unread)
		if err == sql.ErrNoRows || (err == nil && unread == 0) {
			return nil
		}
		if err != nil {
			return err
		}
		return readMarkTx(ctx, tx, e.Sender, e.RoomID, p.ThreadID, pos)
	}
	return nil
}

// pushInsert is the INSERT of n push_actions rows of one event: $1–$5 are
// the room, position, event, thread and time; each row adds user, highlight
// and actions.
func pushInsert(n int) string {
	var q strings.Builder
	q.WriteString(`INSERT INTO push_actions (user_id, room_id, stream_pos, event_id, thread_id, highlight, actions, ts) VALUES `)
	for i := range n {
		if i > 0 {
			q.WriteByte(',')
		}
		k := 6 + 3*i
		fmt.Fprintf(&q, "($%d,$1,$2,$3,$4,$%d,$%d,$5)", k, k+1, k+2)
	}
	return q.String()
}

// countTx adds the outcome's notifications to the users' unread summaries
// (see UnreadCounts). The event is the newest of its room, so it is after
// every read mark and always counts.
func (p *PushOutcome) countTx(ctx context.Context, tx *wtx, roomID string) error {
	for _, a := range p.Actions {
		k := keyUnread(a.UserID, roomID)
		tx.touch(k)
		tx.notes.unreadAdds = append(tx.notes.unreadAdds, unreadAdd{k, p.ThreadID, a.Highlight})
	}
	for start := 0; start < len(p.Actions); start += pushBatch {
		chunk := p.Actions[start:min(start+pushBatch, len(p.Actions))]
		var q strings.Builder
		q.WriteString(`INSERT INTO unread_summary (user_id, room_id, thread_id, notifs, highlights) VALUES `)
		args := make([]any, 2, 2+2*len(chunk))
		args[0], args[1] = roomID, p.ThreadID
		for i, a := range chunk {
			if i > 0 {
				q.WriteByte(',')
			}
			fmt.Fprintf(&q, "($%d,$1,$2,1,$%d)", 3+2*i, 4+2*i)
			h := 0
			if a.Highlight {
				h = 1
			}
			args = append(args, a.UserID, h)
		}
		q.WriteString(` ON CONFLICT (user_id, room_id, thread_id) DO UPDATE SET notifs = unread_summary.notifs + 1,
			highlights = unread_summary.highlights + excluded.highlights`)
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// forgetPushActionsTx removes the notifications of a redacted event and
// recounts the unread summaries they were in. Its rows are found by the
// event's position (push_actions_pos).
func forgetPushActionsTx(ctx context.Context, tx *wtx, eventID, roomID string) error {
	type userThread struct{ user, thread string }
	var pos int64
	err := tx.QueryRowContext(ctx, `SELECT stream_pos FROM events WHERE event_id = $1 AND room_id = $2`, eventID, roomID).Scan(&pos)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT user_id, thread_id FROM push_actions WHERE stream_pos = $1`, pos)
	if err != nil {
		return err
	}
	var affected []userThread
	for rows.Next() {
		var ut userThread
		if err := rows.Scan(&ut.user, &ut.thread); err != nil {
			rows.Close()
			return err
		}
		affected = append(affected, ut)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(affected) == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM push_actions WHERE stream_pos = $1`, pos); err != nil {
		return err
	}
	for _, ut := range affected {
		tx.touch(keyUnread(ut.user, roomID))
		if err := recountTx(ctx, tx, ut.user, roomID, ut.thread); err != nil {
			return err
		}
	}
	return nil
}

// readMarkTx moves a user's read mark in a room's thread forward to pos;
// it never moves back. A mark that moves recounts the unread summaries it
// covers: its thread's, or every thread's for the unthreaded mark.
func readMarkTx(ctx context.Context, tx *wtx, userID, roomID, threadID string, pos int64) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO read_marks (user_id, room_id, thread_id, event_pos) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, room_id, thread_id) DO UPDATE SET event_pos = excluded.event_pos
		WHERE excluded.event_pos > read_marks.event_pos`, userID, roomID, threadID, pos)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return err
	}
	tx.touch(keyUnread(userID, roomID))
	return recountTx(ctx, tx, userID, roomID, threadID)
}

// unreadAfterMarks is the condition on push_actions a that it is after
// both the user's unthreaded read mark and their mark for a's thread;
// $1 and $2 are the user and the room. Its subquery depends on a, so it
// filters rows and does not bound the scan: callers add a bound on
// a.stream_pos.
const unreadAfterMarks = `a.user_id = $1 AND a.room_id = $2
	AND a.stream_pos > COALESCE((SELECT MAX(m.event_pos) FROM read_marks m
		WHERE m.user_id = $1 AND m.room_id = $2 AND m.thread_id IN ('', a.thread_id)), 0)`

// recountTx counts again the user's unread notifications in the room's
// thread, or in all its threads if thread is "" (the unthreaded mark).
// The thread's marks bound the scan of the user's notifications from
// below: after a receipt for the latest event it reads none.
func recountTx(ctx context.Context, tx *wtx, userID, roomID, thread string) error {
	tx.notes.unreadRecounts = append(tx.notes.unreadRecounts, keyUnread(userID, roomID))
	q := `UPDATE unread_summary SET (notifs, highlights) = (
		SELECT COUNT(*), COUNT(*) FILTER (WHERE a.highlight) FROM push_actions a
		WHERE a.user_id = $1 AND a.stream_pos > COALESCE((SELECT MAX(m.event_pos) FROM read_marks m
			WHERE m.user_id = $1 AND m.room_id = $2 AND m.thread_id IN ('', unread_summary.thread_id)), 0)
		AND a.room_id = $2 AND a.thread_id = unread_summary.thread_id)
		WHERE user_id = $1 AND room_id = $2 AND notifs > 0`
	args := []any{userID, roomID}
	if thread != "" {
		q += ` AND thread_id = $3`
		args = append(args, thread)
	}
	_, err := tx.ExecContext(ctx, q, args...)
	return err
}

// PushRules returns the user's push rules document (push.UserRules) and
// the stream position of its last change; nil and 0 if they never changed
// their rules.
func (db *DB) PushRules(ctx context.Context, userID string) ([]byte, int64, error) {
	var doc string
	var pos int64
	err := db.read.QueryRowContext(ctx, `SELECT rules, stream_pos FROM push_rules WHERE user_id = $1`, userID).Scan(&doc, &pos)
	if err == sql.ErrNoRows {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	return []byte(doc), pos, nil
}

// UpdatePushRules rewrites the user's push rules document with change,
// which gets the current document (nil if none) and returns the new one,
// and gives the change the next stream position, which it returns. An
// error from change is returned as is and nothing is written.
//
// Taking the position first locks the stream counter, which serialises
// concurrent changes of the same document on both engines.
func (db *DB) UpdatePushRules(ctx context.Context, userID string, change func(doc []byte) ([]byte, error)) (pos int64, err error) {
	err = db.tx(ctx, func(tx *wtx) error {
		if pos, err = nextPosTx(ctx, tx, keyPushRules(userID)); err != nil {
			return err
		}
		var cur sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT rules FROM push_rules WHERE user_id = $1`, userID).Scan(&cur)
		if err != nil && err != sql.ErrNoRows {
			return err
		}
		var old []byte
		if cur.Valid {
			old = []byte(cur.String)
		}
		doc, err := change(old)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO push_rules (user_id, rules, stream_pos) VALUES ($1, $2, $3)
			ON CONFLICT (user_id) DO UPDATE SET rules = excluded.rules, stream_pos = excluded.stream_pos`,
			userID, string(doc), pos)
		return err
	})
	return pos, err
}

// MemberRules is a joined member, the stream position of their push rules
// (0: the server defaults) and their m.ignored_user_list, if they have one.
type MemberRules struct {
	UserID      string
	RulesPos    int64
	IgnoredList []byte // the account data's content, nil if none
}

// JoinedMembersRules returns the room's joined members with the version of
// their push rules and their ignore lists, in one query however big the
// room.
//
// Every event a local user sends reads it: the result is cached until the
// room's members, or a member's push rules or account data, change
// (changes.go). It is shared, and callers must not modify it.
func (db *DB) JoinedMembersRules(ctx context.Context, roomID string) ([]MemberRules, error) {
	if r, ok := db.caches.members.get(roomID); ok &&
		!db.changes.changedSince(keyRoomMembers(roomID), r.asOf) && !db.changes.anyChangedSince(r.val.keys, r.asOf) {
		return slices.Clip(r.val.members), nil
	}
	asOf := db.changes.committedPos()
	val, err := db.joinedMembersRules(ctx, roomID)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, 2*len(val))
	for _, m := range val {
		keys = append(keys, keyPushRules(m.UserID), keyAccountData(m.UserID))
	}
	db.caches.members.put(roomID, roomMembersRules{val, keys}, asOf)
	return slices.Clip(val), nil
}

func (db *DB) joinedMembersRules(ctx context.Context, roomID string) ([]MemberRules, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT m.state_key, COALESCE(p.stream_pos, 0), i.content FROM current_state m
		LEFT JOIN push_rules p ON p.user_id = m.state_key
		LEFT JOIN account_data i ON i.user_id = m.state_key AND i.room_id = '' AND i.type = $2
		WHERE m.room_id = $1 AND m.type = 'm.room.member' AND m.membership = 'join'`, roomID, IgnoredUsersType)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []MemberRules
	for rows.Next() {
		var m MemberRules
		var ignored sql.NullString
		if err := rows.Scan(&m.UserID, &m.RulesPos, &ignored); err != nil {
			return nil, err
		}
		if ignored.Valid {
			m.IgnoredList = []byte(ignored.String)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// StoredPushRules is a user's push rules document and its position.
type StoredPushRules struct {
	Doc []byte
	Pos int64
}

// PushRulesOf returns the push rules documents of those of the users who
// have one.
func (db *DB) PushRulesOf(ctx context.Context, userIDs []string) (map[string]StoredPushRules, error) {
	out := make(map[string]StoredPushRules, len(userIDs))
	for start := 0; start < len(userIDs); start += 500 {
		chunk := userIDs[start:min(start+500, len(userIDs))]
		ph := make([]string, len(chunk))
		args := make([]any, len(chunk))
		for i, id := range chunk {
			ph[i] = fmt.Sprintf("$%d", i+1)
			args[i] = id
		}
		rows, err := db.read.QueryContext(ctx, `SELECT user_id, rules, stream_pos FROM push_rules
			WHERE user_id IN (`+strings.Join(ph, ",")+`)`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, doc string
			var pos int64
			if err := rows.Scan(&id, &doc, &pos); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = StoredPushRules{Doc: []byte(doc), Pos: pos}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// EventRelation returns the rel_type and target of an event's
// m.relates_to; ErrNotFound if the event is not stored.
func (db *DB) EventRelation(ctx context.Context, eventID string) (relType, relatesTo string, err error) {
	var rt, to sql.NullString
	err = db.read.QueryRowContext(ctx, `SELECT rel_type, relates_to FROM events WHERE event_id = $1`, eventID).Scan(&rt, &to)
	return rt.String, to.String, mapErr(err)
}

// UnreadCount is a user's unread notifications in one thread of a room.
type UnreadCount struct {
	ThreadID      string // "main" or a thread root
	Notifications int
	Highlights    int
}

// UnreadCounts returns the user's unread notifications in the room per
// thread: those after both their unthreaded read mark and their mark for
// the notification's thread ("Receiving notifications": the more recent of
// m.read and m.read.private counts; a threaded receipt clears its thread).
//
// Only events up to position upto count, so that a /sync's counts match
// the events it returns ("The updated notification count from a new event
// MUST appear in the same /sync response as the event itself"): the
// summaries count every stored event, and the unread notifications after
// upto (a few, those committed while the /sync was being built) are taken
// off again, in the same statement so that both parts see one snapshot.
//
// Counts are cached (changes.go): a cached result read at or before upto,
// with no change since, is the answer at upto too. A new notification
// updates the cached result as it commits (settleUnread), so that the
// reader's next /sync needs no query.
func (db *DB) UnreadCounts(ctx context.Context, userID, roomID string, upto int64) ([]UnreadCount, error) {
	key := keyUnread(userID, roomID)
	if r, ok := db.caches.unread.get(key); ok && r.asOf <= upto && !db.changes.changedSince(key, r.asOf) {
		return slices.Clip(r.val), nil
	}
	asOf := db.changes.committedPos()
	if asOf != upto {
		return db.unreadCounts(ctx, userID, roomID, upto) // a result for another position: not cached
	}
	val, err := db.unreadCounts(ctx, userID, roomID, upto)
	if err != nil {
		return nil, err
	}
	if !db.changes.inFlight(key) { // its transaction may have committed: settleUnread follows it
		db.caches.unread.put(key, val, asOf)
	}
	return slices.Clip(val), nil
}

func (db *DB) unreadCounts(ctx context.Context, userID, roomID string, upto int64) ([]UnreadCount, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT thread_id, SUM(n), SUM(h) FROM (
			SELECT thread_id, notifs AS n, highlights AS h FROM unread_summary
			WHERE user_id = $1 AND room_id = $2 AND notifs > 0
			UNION ALL
			SELECT a.thread_id, -1, CASE WHEN a.highlight THEN -1 ELSE 0 END FROM push_actions a
			WHERE `+unreadAfterMarks+` AND a.stream_pos > $3
		) u GROUP BY thread_id HAVING SUM(n) > 0`, userID, roomID, upto)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []UnreadCount
	for rows.Next() {
		var c UnreadCount
		if err := rows.Scan(&c.ThreadID, &c.Notifications, &c.Highlights); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Notification is one row of GET /notifications.
type Notification struct {
	RoomID    string
	EventID   string
	Pos       int64
	Highlight bool
	Actions   []byte
	TS        int64
	Read      bool // the user's read marks cover it
}

// Notifications returns up to limit of the user's notifications before
// position before (0: from the newest), newest first; only highlighted ones
// with onlyHighlight.
func (db *DB) Notifications(ctx context.Context, userID string, before int64, limit int, onlyHighlight bool) ([]Notification, error) {
	q := `SELECT a.room_id, a.event_id, a.stream_pos, a.highlight, a.actions, a.ts,
		CASE WHEN a.stream_pos <= COALESCE((SELECT MAX(m.event_pos) FROM read_marks m
			WHERE m.user_id = a.user_id AND m.room_id = a.room_id AND m.thread_id IN ('', a.thread_id)), 0) THEN 1 ELSE 0 END
		FROM push_actions a WHERE a.user_id = $1 AND a.stream_pos < $2`
	if onlyHighlight {
		q += ` AND a.highlight`
	}
	q += ` ORDER BY a.stream_pos DESC LIMIT $3`
	if before <= 0 {
		before = 1 << 62
	}
	rows, err := db.read.QueryContext(ctx, q, userID, before, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Notification
	for rows.Next() {
		var n Notification
		var actions string
		var read int
		if err := rows.Scan(&n.RoomID, &n.EventID, &n.Pos, &n.Highlight, &actions, &n.TS, &read); err != nil {
			return nil, err
		}
		n.Actions, n.Read = []byte(actions), read == 1
		out = append(out, n)
	}
	return out, rows.Err()
}
