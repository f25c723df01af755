package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"modernc.org/sqlite"

	"chappe.eu/chappe/internal/search"
)

// Full-text search of room events and the user directory (migration
// 0008). Both engines write the same tables with the same SQL; only the
// queries differ: SQLite matches with FTS5, PostgreSQL with a tsvector and
// its GIN index. The user directory and everything that removes text
// (redactions, encryption) change in the transaction of the event or
// profile change; message text is added after the commit, in batches
// (searchindex.go), and a search waits for it.

// indexEventTx keeps the search tables in step with an event appended at
// pos; appendEventTx calls it in the event's transaction, after the
// event's state and redaction are stored.
//
// The searchable text is read from the PDU's content (here and by the
// indexer) rather than passed in by the caller, so that every writer of
// events (local sends, room creation and upgrades, later federation) is
// indexed alike.
func indexEventTx(ctx context.Context, tx *wtx, e *NewEvent, pos int64) error {
	if e.Redacts != "" {
		// A redacted event drops out of search at once: its text is gone.
		if _, err := tx.ExecContext(ctx, `DELETE FROM event_search WHERE stream_pos =
			(SELECT stream_pos FROM events WHERE event_id = $1 AND room_id = $2)`, e.Redacts, e.RoomID); err != nil {
			return fmt.Errorf("store: search index: %w", err)
		}
	}
	roomState := e.StateKey != nil && *e.StateKey == ""
	var err error
	switch {
	case e.Type == "m.room.message" || e.Type == "m.room.name" || e.Type == "m.room.topic":
		// Indexed after the commit, in batches (searchindex.go).
	case e.Type == "m.room.encryption" && roomState:
		// Spec: encrypted rooms are not searched. What was said before
		// encryption was turned on goes too: members now expect privacy.
		_, err = tx.ExecContext(ctx, `DELETE FROM event_search WHERE room_id = $1`, e.RoomID)
	case e.Type == "m.room.join_rules" && roomState:
		public := contentString(e.PDU, "join_rule") == "public"
		_, err = tx.ExecContext(ctx, `INSERT INTO user_directory_rooms (room_id, join_public) VALUES ($1, $2)
			ON CONFLICT (room_id) DO UPDATE SET join_public = excluded.join_public`, e.RoomID, public)
	case e.Type == "m.room.history_visibility" && roomState:
		wr := contentString(e.PDU, "history_visibility") == "world_readable"
		_, err = tx.ExecContext(ctx, `INSERT INTO user_directory_rooms (room_id, world_readable) VALUES ($1, $2)
			ON CONFLICT (room_id) DO UPDATE SET world_readable = excluded.world_readable`, e.RoomID, wr)
	case e.Type == "m.room.member" && e.StateKey != nil && e.Membership == "join":
		err = ensureUserIndexedTx(ctx, tx, *e.StateKey)
	}
	if err != nil {
		return fmt.Errorf("store: search index: %w", err)
	}
	return nil
}

func pduContent(pdu []byte) json.RawMessage {
	var p struct {
		Content json.RawMessage `json:"content"`
	}
	_ = json.Unmarshal(pdu, &p)
	return p.Content
}

// contentString returns a string field of the PDU's content, or "".
func contentString(pdu []byte, key string) string {
	var c map[string]any
	_ = json.Unmarshal(pduContent(pdu), &c)
	s, _ := c[key].(string)
	return s
}

// ensureUserIndexedTx indexes a user in the directory unless they are
// already: a user becomes findable by joining a room.
func ensureUserIndexedTx(ctx context.Context, tx *wtx, userID string) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM user_directory_terms WHERE user_id = $1`, userID).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	return indexUserTx(ctx, tx, userID)
}

// profileChangedTx reindexes a user in the directory after a change of
// their profile field; SetProfileField calls it in its transaction.
func profileChangedTx(ctx context.Context, tx *wtx, userID, field string) error {
	if field != "displayname" {
		return nil
	}
	return indexUserTx(ctx, tx, userID)
}

// indexUserTx replaces the directory terms of a user with those of their
// user ID and current display name.
func indexUserTx(ctx context.Context, tx *wtx, userID string) error {
	var raw string
	err := tx.QueryRowContext(ctx, `SELECT value FROM profiles WHERE user_id = $1 AND field = 'displayname'`, userID).Scan(&raw)
	if err != nil && err != sql.ErrNoRows {
		return err
	}
	var displayName string
	_ = json.Unmarshal([]byte(raw), &displayName)
	if _, err := tx.ExecContext(ctx, `DELETE FROM user_directory_terms WHERE user_id = $1`, userID); err != nil {
		return err
	}
	terms := search.UserTerms(userID, displayName)
	if len(terms) == 0 {
		return nil
	}
	args := []any{userID}
	values := make([]string, len(terms))
	for i, t := range terms {
		args = append(args, t)
		values[i] = fmt.Sprintf("($%d, $1)", i+2)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO user_directory_terms (term, user_id) VALUES `+strings.Join(values, ", ")+`
		ON CONFLICT DO NOTHING`, args...)
	return err
}

// backfillSearch indexes, once, what existed before migration 0008:
// events up to the position the migration recorded, newest first, a batch
// per transaction, and every user; then it deletes its bookkeeping row.
// Open calls it after migrating. Several processes opening one database
// at once do the same work twice, harmlessly.
func (db *DB) backfillSearch(ctx context.Context) error {
	var upto int64
	var usersDone bool
	err := db.write.QueryRowContext(ctx, `SELECT events_upto, users_done FROM search_backfill WHERE id = 1`).Scan(&upto, &usersDone)
	if err == sql.ErrNoRows {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: search backfill: %w", err)
	}
	for upto > 0 {
		if err := db.tx(ctx, func(tx *wtx) error {
			var err error
			upto, err = backfillEventsTx(ctx, tx, upto, 1000)
			return err
		}); err != nil {
			return fmt.Errorf("store: search backfill: %w", err)
		}
	}
	if !usersDone {
		if err := db.tx(ctx, backfillUsersTx(ctx)); err != nil {
			return fmt.Errorf("store: search backfill: %w", err)
		}
	}
	return db.tx(ctx, func(tx *wtx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM search_backfill WHERE id = 1`)
		return err
	})
}

// backfillEventsTx indexes up to n searchable events at or before
// position upto and returns the position at or below which events remain
// (0 when none do).
func backfillEventsTx(ctx context.Context, tx *wtx, upto int64, n int) (int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT stream_pos, room_id, type, state_key, pdu FROM events
		WHERE stream_pos <= $1 AND type IN ('m.room.message', 'm.room.name', 'm.room.topic') AND redacted_by IS NULL
		ORDER BY stream_pos DESC LIMIT $2`, upto, n)
	if err != nil {
		return 0, err
	}
	evs, pos, err := scanIndexable(rows)
	if err != nil {
		return 0, err
	}
	if err := indexTextsTx(ctx, tx, evs, pos); err != nil { // searchindex.go
		return 0, err
	}
	next := int64(0)
	if len(evs) == n {
		next = pos[len(pos)-1] - 1
	}
	_, err = tx.ExecContext(ctx, `UPDATE search_backfill SET events_upto = $1 WHERE id = 1`, next)
	return next, err
}

// scanIndexable reads rows of (stream_pos, room_id, type, state_key, pdu)
// of events to index.
func scanIndexable(rows *sql.Rows) ([]NewEvent, []int64, error) {
	defer rows.Close()
	var evs []NewEvent
	var pos []int64
	for rows.Next() {
		var e NewEvent
		var p int64
		var sk sql.NullString
		var pdu string
		if err := rows.Scan(&p, &e.RoomID, &e.Type, &sk, &pdu); err != nil {
			return nil, nil, err
		}
		if sk.Valid {
			e.StateKey = &sk.String
		}
		e.PDU = []byte(pdu)
		evs, pos = append(evs, e), append(pos, p)
	}
	return evs, pos, rows.Err()
}

// backfillUsersTx indexes every account and every joined member, and the
// directory flags of every room from its current state.
func backfillUsersTx(ctx context.Context) func(*wtx) error {
	return func(tx *wtx) error {
		users, err := queryStrings(ctx, tx, `SELECT user_id FROM accounts UNION
			SELECT state_key FROM current_state WHERE type = 'm.room.member' AND membership = 'join'`)
		if err != nil {
			return err
		}
		for _, u := range users {
			if err := indexUserTx(ctx, tx, u); err != nil {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, `SELECT c.room_id, c.type, e.pdu FROM current_state c JOIN events e ON e.event_id = c.event_id
			WHERE c.type IN ('m.room.join_rules', 'm.room.history_visibility') AND c.state_key = ''`)
		if err != nil {
			return err
		}
		var evs []NewEvent
		for rows.Next() {
			var e NewEvent
			var pdu string
			if err := rows.Scan(&e.RoomID, &e.Type, &pdu); err != nil {
				rows.Close()
				return err
			}
			e.PDU, e.StateKey = []byte(pdu), new(string)
			evs = append(evs, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for i := range evs {
			if err := indexEventTx(ctx, tx, &evs[i], 0); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE search_backfill SET users_done = TRUE WHERE id = 1`)
		return err
	}
}

// rankFunc is SQLite's chappe_search_rank(body, term): search.Query.Rank,
// which, unlike FTS5's bm25, depends only on the row, so that ranks stay
// put while a client pages through results. Parsed terms are cached: the
// function runs once per matching row.
func init() {
	sqlite.MustRegisterDeterministicScalarFunction("chappe_search_rank", 2,
		func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			body, _ := args[0].(string)
			term, _ := args[1].(string)
			q, err := parsedTerms.get(term)
			if err != nil {
				return nil, err
			}
			return q.Rank(body), nil
		})
}

var parsedTerms = &termCache{m: map[string]*search.Query{}}

type termCache struct {
	mu sync.Mutex // guards m
	m  map[string]*search.Query
}

func (c *termCache) get(term string) (*search.Query, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if q := c.m[term]; q != nil {
		return q, nil
	}
	q, err := search.Parse(term)
	if err != nil {
		return nil, err
	}
	if len(c.m) >= 256 {
		clear(c.m)
	}
	c.m[term] = q
	return q, nil
}
