package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"chappe.eu/chappe/internal/search"
)

// EventSearch is one page of a full-text search of room events on behalf
// of one user. It searches the rooms the user has a membership in and has
// not forgotten: all of a room they are joined to, and, of any other,
// the events up to their current membership event (their leave, kick or
// ban). History visibility is the caller's to apply to each hit: this is
// only a bound that keeps later events out of the results and the count.
type EventSearch struct {
	UserID string
	Query  *search.Query
	// Types are the searchable event types to match; none matches nothing.
	Types []string
	// Nil lists do not restrict; non-nil ones do (as filters do).
	Rooms, NotRooms     []string
	Senders, NotSenders []string
	// Upto excludes events after this position, so that the pages of one
	// search see the same events however many arrive meanwhile.
	Upto   int64
	ByRank bool          // rank order, else most recent first
	After  *SearchCursor // continue after this hit; nil: from the start
	Limit  int
}

// SearchCursor is where a page of search results ended: the rank (in rank
// order) and stream position of its last hit.
type SearchCursor struct {
	Rank float64
	Pos  int64
}

// SearchHit is an event that matches a search.
type SearchHit struct {
	Pos     int64
	EventID string
	RoomID  string
	Rank    float64
}

// sqlArgs numbers query parameters as they are added.
type sqlArgs []any

func (a *sqlArgs) add(v any) string {
	*a = append(*a, v)
	return fmt.Sprintf("$%d", len(*a))
}

func (a *sqlArgs) list(vs []string) string {
	ph := make([]string, len(vs))
	for i, v := range vs {
		ph[i] = a.add(v)
	}
	return strings.Join(ph, ", ")
}

// searchFrom returns the FROM and WHERE clauses of a search, and the
// engine's rank of a row's document (column s.body on SQLite, s.vector
// on PostgreSQL, named by doc).
func (db *DB) searchFrom(s *EventSearch, a *sqlArgs) (from string, rank func(doc string) string) {
	user := a.add(s.UserID)
	var b strings.Builder
	var match string
	if db.Engine == SQLite {
		q, term := a.add(s.Query.FTS5()), a.add(s.Query.Term())
		b.WriteString(`FROM event_search_fts JOIN event_search s ON s.stream_pos = event_search_fts.rowid`)
		match = "event_search_fts MATCH " + q
		rank = func(doc string) string { return "chappe_search_rank(" + doc + ", " + term + ")" }
	} else {
		q := a.add(s.Query.TSQuery())
		b.WriteString(`FROM event_search s`)
		match = "s.vector @@ to_tsquery('simple', " + q + ")"
		rank = func(doc string) string { return "ts_rank_cd(" + doc + ", to_tsquery('simple', " + q + "))::float8" }
	}
	fmt.Fprintf(&b, ` JOIN events e ON e.stream_pos = s.stream_pos
		JOIN current_state m ON m.room_id = s.room_id AND m.type = 'm.room.member' AND m.state_key = %s
		WHERE %s AND e.redacted_by IS NULL AND s.stream_pos <= %s
		AND (m.membership = 'join' OR s.stream_pos <= m.stream_pos)
		AND NOT EXISTS (SELECT 1 FROM forgotten_rooms f WHERE f.user_id = %s AND f.room_id = s.room_id)
		AND e.type IN (%s)`, user, match, a.add(s.Upto), user, a.list(s.Types))
	if s.Rooms != nil {
		fmt.Fprintf(&b, " AND s.room_id IN (%s)", a.list(s.Rooms))
	}
	if len(s.NotRooms) > 0 {
		fmt.Fprintf(&b, " AND s.room_id NOT IN (%s)", a.list(s.NotRooms))
	}
	if s.Senders != nil {
		fmt.Fprintf(&b, " AND e.sender IN (%s)", a.list(s.Senders))
	}
	if len(s.NotSenders) > 0 {
		fmt.Fprintf(&b, " AND e.sender NOT IN (%s)", a.list(s.NotSenders))
	}
	return b.String(), rank
}

// empty reports whether the search can match nothing, in which case no
// query is sent (an IN () list is a syntax error).
func (s *EventSearch) empty() bool {
	return s.Query == nil || s.Query.Empty() || len(s.Types) == 0 ||
		(s.Rooms != nil && len(s.Rooms) == 0) || (s.Senders != nil && len(s.Senders) == 0)
}

// SearchEvents returns the next s.Limit hits of a search, best first (by
// rank, then most recent) or most recent first. Paging with the last
// hit's cursor neither skips nor repeats a hit: ranks depend only on the
// event's text and the query, and s.Upto keeps newer events out.
func (db *DB) SearchEvents(ctx context.Context, s EventSearch) ([]SearchHit, error) {
	if s.empty() || s.Limit <= 0 {
		return nil, nil
	}
	var a sqlArgs
	from, rank := db.searchFrom(&s, &a)
	doc := "s.body"
	if db.Engine == Postgres {
		doc = "s.vector"
	}
	var q string
	if s.ByRank {
		keyset := ""
		if s.After != nil {
			r, p := a.add(s.After.Rank), a.add(s.After.Pos)
			keyset = fmt.Sprintf("WHERE r.rank < %s OR (r.rank = %s AND r.pos < %s)", r, r, p)
		}
		q = fmt.Sprintf(`SELECT r.pos, r.event_id, r.room_id, r.rank FROM (
			SELECT s.stream_pos AS pos, e.event_id AS event_id, s.room_id AS room_id, %s AS rank %s) r
			%s ORDER BY r.rank DESC, r.pos DESC LIMIT %s`, rank(doc), from, keyset, a.add(s.Limit))
	} else {
		keyset := ""
		if s.After != nil {
			keyset = " AND s.stream_pos < " + a.add(s.After.Pos)
		}
		// The rank is computed for the page only, not for every match.
		q = fmt.Sprintf(`SELECT r.pos, r.event_id, r.room_id, %s FROM (
			SELECT s.stream_pos AS pos, e.event_id AS event_id, s.room_id AS room_id, %s AS doc %s%s
			ORDER BY s.stream_pos DESC LIMIT %s) r ORDER BY r.pos DESC`, rank("r.doc"), doc, from, keyset, a.add(s.Limit))
	}
	rows, err := db.read.QueryContext(ctx, q, a...)
	if err != nil {
		return nil, fmt.Errorf("store: search: %w", err)
	}
	defer rows.Close()
	var out []SearchHit
	for rows.Next() {
		var h SearchHit
		if err := rows.Scan(&h.Pos, &h.EventID, &h.RoomID, &h.Rank); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// CountSearchEvents counts the hits of a search from its start, before
// history visibility: the spec's approximate count.
func (db *DB) CountSearchEvents(ctx context.Context, s EventSearch) (int, error) {
	if s.empty() {
		return 0, nil
	}
	var a sqlArgs
	from, _ := db.searchFrom(&s, &a)
	var n int
	if err := db.read.QueryRowContext(ctx, "SELECT COUNT(*) "+from, a...).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: search count: %w", err)
	}
	return n, nil
}

// MemberEventAt returns the ID of the user's membership event in the room
// as of position pos (the last at or before it), or ErrNotFound.
func (db *DB) MemberEventAt(ctx context.Context, roomID, userID string, pos int64) (string, error) {
	var id string
	err := db.read.QueryRowContext(ctx, `SELECT event_id FROM events
		WHERE room_id = $1 AND type = 'm.room.member' AND state_key = $2 AND stream_pos <= $3
		ORDER BY stream_pos DESC LIMIT 1`, roomID, userID, pos).Scan(&id)
	return id, mapErr(err)
}

// DirectoryUser is a user found in the user directory.
type DirectoryUser struct {
	UserID      string
	DisplayName string // "" if none
	AvatarURL   string // "" if none
}

// SearchUserDirectory returns up to limit users that the requester may
// find and whose terms match every prefix (see search.DirectoryPrefixes),
// and whether more matched. A user may be found who shares a room with
// the requester (both joined), or is joined to a room that has the public
// join rule or world_readable history (spec: "User directory");
// deactivated users never are. Users come in the order of the term
// matching the first prefix: exact word matches before completions.
//
// The search walks the term index in order and checks each candidate
// with indexed lookups, so a page costs about limit candidates, not the
// number of users.
func (db *DB) SearchUserDirectory(ctx context.Context, requester string, prefixes []string, limit int) ([]DirectoryUser, bool, error) {
	if len(prefixes) == 0 {
		return nil, false, nil
	}
	var found []string
	seen := map[string]bool{}
	var afterTerm, afterUser string
	const batch = 100
	for len(found) <= limit {
		var a sqlArgs
		me := a.add(requester)
		where := []string{termRange("t", prefixes[0], &a)}
		if afterTerm != "" {
			where = append(where, fmt.Sprintf("(t.term, t.user_id) > (%s, %s)", a.add(afterTerm), a.add(afterUser)))
		}
		for _, p := range prefixes[1:] {
			where = append(where, fmt.Sprintf("EXISTS (SELECT 1 FROM user_directory_terms t2 WHERE t2.user_id = t.user_id AND %s)",
				termRange("t2", p, &a)))
		}
		q := `SELECT t.term, t.user_id FROM user_directory_terms t WHERE ` + strings.Join(where, " AND ") + `
			AND NOT EXISTS (SELECT 1 FROM accounts acc WHERE acc.user_id = t.user_id AND acc.deactivated)
			AND (EXISTS (SELECT 1 FROM current_state mine JOIN current_state theirs ON theirs.room_id = mine.room_id
			             AND theirs.type = 'm.room.member' AND theirs.state_key = t.user_id AND theirs.membership = 'join'
			             WHERE mine.type = 'm.room.member' AND mine.state_key = ` + me + ` AND mine.membership = 'join')
			  OR EXISTS (SELECT 1 FROM current_state theirs JOIN user_directory_rooms r ON r.room_id = theirs.room_id
			             WHERE theirs.type = 'm.room.member' AND theirs.state_key = t.user_id AND theirs.membership = 'join'
			             AND (r.join_public OR r.world_readable)))
			ORDER BY t.term, t.user_id LIMIT ` + a.add(batch)
		rows, err := db.read.QueryContext(ctx, q, a...)
		if err != nil {
			return nil, false, fmt.Errorf("store: user directory: %w", err)
		}
		n := 0
		for rows.Next() {
			n++
			if err := rows.Scan(&afterTerm, &afterUser); err != nil {
				rows.Close()
				return nil, false, err
			}
			if !seen[afterUser] {
				seen[afterUser] = true
				found = append(found, afterUser)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, false, err
		}
		if n < batch {
			break
		}
	}
	limited := len(found) > limit
	if limited {
		found = found[:limit]
	}
	users, err := db.directoryProfiles(ctx, found)
	return users, limited, err
}

// termRange is the condition that alias.term starts with prefix.
func termRange(alias, prefix string, a *sqlArgs) string {
	cond := fmt.Sprintf("%s.term >= %s", alias, a.add(prefix))
	if end := search.PrefixEnd(prefix); end != "" {
		cond += fmt.Sprintf(" AND %s.term < %s", alias, a.add(end))
	}
	return cond
}

// directoryProfiles returns the users with their display names and
// avatars, in the order given.
func (db *DB) directoryProfiles(ctx context.Context, userIDs []string) ([]DirectoryUser, error) {
	if len(userIDs) == 0 {
		return nil, nil
	}
	var a sqlArgs
	rows, err := db.read.QueryContext(ctx, `SELECT user_id, field, value FROM profiles
		WHERE field IN ('displayname', 'avatar_url') AND user_id IN (`+a.list(userIDs)+`)`, a...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	byID := map[string]*DirectoryUser{}
	out := make([]DirectoryUser, len(userIDs))
	for i, id := range userIDs {
		out[i].UserID = id
		byID[id] = &out[i]
	}
	for rows.Next() {
		var id, field, raw string
		if err := rows.Scan(&id, &field, &raw); err != nil {
			return nil, err
		}
		var v string
		_ = json.Unmarshal([]byte(raw), &v) // null or a non-string: none
		if u := byID[id]; u != nil {
			if field == "displayname" {
				u.DisplayName = v
			} else {
				u.AvatarURL = v
			}
		}
	}
	return out, rows.Err()
}
