package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"chappe.eu/chappe/internal/search"
)

// SearchRoom is a room a user may search, and up to where.
type SearchRoom struct {
	RoomID string
	Upto   int64 // only events at or before this position; 0: no bound
}

// SearchScope returns the rooms a user may search: those they have a
// membership in and have not forgotten; all of a room they are joined to,
// and of any other the events up to their current membership event
// (their leave, kick or ban). History visibility is the caller's to
// apply to each hit: the scope only keeps later events out of the results
// and the count.
func (db *DB) SearchScope(ctx context.Context, userID string) ([]SearchRoom, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT m.room_id, m.membership, m.stream_pos FROM current_state m
		WHERE m.type = 'm.room.member' AND m.state_key = $1
		AND NOT EXISTS (SELECT 1 FROM forgotten_rooms f WHERE f.user_id = $1 AND f.room_id = m.room_id)`, userID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SearchRoom
	for rows.Next() {
		var r SearchRoom
		var membership sql.NullString
		if err := rows.Scan(&r.RoomID, &membership, &r.Upto); err != nil {
			return nil, err
		}
		if membership.String == "join" {
			r.Upto = 0
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// EventSearch is one page of a full-text search of room events.
type EventSearch struct {
	Query *search.Query
	// Scope is the rooms to search (see SearchScope); none matches nothing.
	Scope []SearchRoom
	// Types are the searchable event types to match; none matches nothing.
	Types []string
	// Senders, if not nil, is the only senders to match.
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

// allSearchTypes is every type the index holds: a search of all of them
// needs no type condition.
var allSearchTypes = []string{"m.room.message", "m.room.name", "m.room.topic"}

// searchFrom returns the FROM and WHERE clauses that select the matching
// rows of event_search (as s), and the engine's rank of a row. The scan
// touches event_search alone where it can: the rooms and their bounds are
// a list in the query rather than a join per row, and events is joined
// only to filter by type or sender (redacted events have no row).
func (db *DB) searchFrom(s *EventSearch, a *sqlArgs) (from string, rank func() string) {
	var b strings.Builder
	var match string
	pos := "s.stream_pos"
	if db.Engine == SQLite {
		pos = "event_search_fts.rowid" // lets FTS5 skip what is out of range
		q, term := a.add(s.Query.FTS5()), a.add(s.Query.Term())
		b.WriteString(`FROM event_search_fts JOIN event_search s ON s.stream_pos = event_search_fts.rowid`)
		match = "event_search_fts MATCH " + q
		rank = func() string { return "chappe_search_rank(s.body, " + term + ")" }
	} else {
		q := a.add(s.Query.TSQuery())
		b.WriteString(`FROM event_search s`)
		match = "s.vector @@ to_tsquery('simple', " + q + ")"
		rank = func() string { return "ts_rank_cd(s.vector, to_tsquery('simple', " + q + "))::float8" }
	}
	filterTypes := !sameSet(s.Types, allSearchTypes)
	if filterTypes || s.Senders != nil || len(s.NotSenders) > 0 {
		b.WriteString(` JOIN events e ON e.stream_pos = s.stream_pos`)
	}
	fmt.Fprintf(&b, " WHERE %s AND %s <= %s AND (", match, pos, a.add(s.Upto))
	var unbounded []string
	or := ""
	for _, r := range s.Scope {
		if r.Upto == 0 {
			unbounded = append(unbounded, r.RoomID)
			continue
		}
		fmt.Fprintf(&b, "%s(s.room_id = %s AND s.stream_pos <= %s)", or, a.add(r.RoomID), a.add(r.Upto))
		or = " OR "
	}
	if len(unbounded) > 0 {
		fmt.Fprintf(&b, "%ss.room_id IN (%s)", or, a.list(unbounded))
	}
	b.WriteString(")")
	if filterTypes {
		fmt.Fprintf(&b, " AND e.type IN (%s)", a.list(s.Types))
	}
	if s.Senders != nil {
		fmt.Fprintf(&b, " AND e.sender IN (%s)", a.list(s.Senders))
	}
	if len(s.NotSenders) > 0 {
		fmt.Fprintf(&b, " AND e.sender NOT IN (%s)", a.list(s.NotSenders))
	}
	return b.String(), rank
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// empty reports whether the search can match nothing, in which case no
// query is sent (an IN () list is a syntax error).
func (s *EventSearch) empty() bool {
	return s.Query == nil || s.Query.Empty() || len(s.Types) == 0 || len(s.Scope) == 0 ||
		(s.Senders != nil && len(s.Senders) == 0)
}

// SearchEvents returns the next s.Limit hits of a search, best first (by
// rank, then most recent) or most recent first. Paging with the last
// hit's cursor neither skips nor repeats a hit: ranks depend only on the
// event's text and the query, and s.Upto keeps newer events out.
//
// In recent order SQLite walks the full-text index newest first and stops
// at the page's end, so the cost is the page's, however common the word;
// rank order must rank every match.
func (db *DB) SearchEvents(ctx context.Context, s EventSearch) ([]SearchHit, error) {
	if s.empty() || s.Limit <= 0 {
		return nil, nil
	}
	if err := db.flushTextIndex(ctx); err != nil { // searchindex.go
		return nil, fmt.Errorf("store: search: %w", err)
	}
	var a sqlArgs
	from, rank := db.searchFrom(&s, &a)
	var inner string
	if s.ByRank {
		keyset := ""
		if s.After != nil {
			r, p := a.add(s.After.Rank), a.add(s.After.Pos)
			keyset = fmt.Sprintf("WHERE r.rank < %s OR (r.rank = %s AND r.pos < %s)", r, r, p)
		}
		inner = fmt.Sprintf(`SELECT r.pos, r.room_id, r.rank FROM (
			SELECT s.stream_pos AS pos, s.room_id AS room_id, %s AS rank %s) r
			%s ORDER BY r.rank DESC, r.pos DESC LIMIT %s`, rank(), from, keyset, a.add(s.Limit))
	} else {
		pos := "s.stream_pos"
		if db.Engine == SQLite {
			pos = "event_search_fts.rowid" // ordered by the index itself
		}
		keyset := ""
		if s.After != nil {
			keyset = fmt.Sprintf(" AND %s < %s", pos, a.add(s.After.Pos))
		}
		inner = fmt.Sprintf(`SELECT s.stream_pos AS pos, s.room_id AS room_id, %s AS rank %s%s ORDER BY %s DESC LIMIT %s`,
			rank(), from, keyset, pos, a.add(s.Limit))
	}
	// The event IDs for the page only; a redacted event that somehow kept
	// its row is still left out.
	q := `SELECT h.pos, e.event_id, h.room_id, h.rank FROM (` + inner + `) h
		JOIN events e ON e.stream_pos = h.pos WHERE e.redacted_by IS NULL`
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
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// The join may have lost the inner order.
	slices.SortFunc(out, func(x, y SearchHit) int {
		if s.ByRank && x.Rank != y.Rank {
			return cmp.Compare(y.Rank, x.Rank)
		}
		return cmp.Compare(y.Pos, x.Pos)
	})
	return out, nil
}

// CountSearchEvents counts the hits of a search from its start, before
// history visibility: the spec's approximate count.
func (db *DB) CountSearchEvents(ctx context.Context, s EventSearch) (int, error) {
	if s.empty() {
		return 0, nil
	}
	if err := db.flushTextIndex(ctx); err != nil { // searchindex.go
		return 0, fmt.Errorf("store: search count: %w", err)
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
// Two plans, chosen by the number of users the requester may find: when
// they are few (at most directoryVisibleCap), the search starts from them
// and looks up their terms; when they are many, it walks the term index
// in order and checks each candidate with indexed lookups, stopping after
// limit hits, which, since most candidates are then visible, is soon.
func (db *DB) SearchUserDirectory(ctx context.Context, requester string, prefixes []string, limit int) ([]DirectoryUser, bool, error) {
	if len(prefixes) == 0 {
		return nil, false, nil
	}
	var a sqlArgs
	me := a.add(requester)
	var n int
	if err := db.read.QueryRowContext(ctx, `SELECT COUNT(*) FROM (`+directoryVisible(me, "UNION ALL")+` LIMIT `+
		a.add(directoryVisibleCap+1)+`) v`, a...).Scan(&n); err != nil {
		return nil, false, fmt.Errorf("store: user directory: %w", err)
	}
	fewVisible := n <= directoryVisibleCap

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
		where = append(where, `NOT EXISTS (SELECT 1 FROM accounts acc WHERE acc.user_id = t.user_id AND acc.deactivated)`)
		var q string
		if fewVisible {
			// SQLite's CROSS JOIN keeps this join order: from the few
			// visible users to their terms, never the other way round.
			join := "JOIN"
			if db.Engine == SQLite {
				join = "CROSS JOIN"
			}
			q = `WITH visible (user_id) AS (` + directoryVisible(me, "UNION") + `)
				SELECT t.term, t.user_id FROM visible v ` + join + ` user_directory_terms t ON t.user_id = v.user_id`
		} else {
			q = `SELECT t.term, t.user_id FROM user_directory_terms t`
			where = append(where, `(EXISTS (SELECT 1 FROM current_state mine JOIN current_state theirs ON theirs.room_id = mine.room_id
			             AND theirs.type = 'm.room.member' AND theirs.state_key = t.user_id AND theirs.membership = 'join'
			             WHERE mine.type = 'm.room.member' AND mine.state_key = `+me+` AND mine.membership = 'join')
			  OR EXISTS (SELECT 1 FROM current_state theirs JOIN user_directory_rooms r ON r.room_id = theirs.room_id
			             WHERE theirs.type = 'm.room.member' AND theirs.state_key = t.user_id AND theirs.membership = 'join'
			             AND (r.join_public OR r.world_readable)))`)
		}
		q += ` WHERE ` + strings.Join(where, " AND ") + ` ORDER BY t.term, t.user_id LIMIT ` + a.add(batch)
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

// directoryVisibleCap is the number of findable users up to which a
// directory search starts from them rather than from the term index. (A
// variable for the tests of both plans.)
var directoryVisibleCap = 2_000

// directoryVisible is a query of the users the requester (parameter me)
// may find: those joined to a room the requester is joined to, and those
// joined to a public or world-readable room. union is UNION or UNION ALL.
func directoryVisible(me, union string) string {
	return `SELECT theirs.state_key AS user_id FROM current_state mine JOIN current_state theirs
			ON theirs.room_id = mine.room_id AND theirs.type = 'm.room.member' AND theirs.membership = 'join'
			WHERE mine.type = 'm.room.member' AND mine.state_key = ` + me + ` AND mine.membership = 'join'
		` + union + `
		SELECT m.state_key FROM current_state m
			WHERE m.room_id IN (SELECT room_id FROM user_directory_rooms WHERE join_public OR world_readable)
			AND m.type = 'm.room.member' AND m.membership = 'join'`
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
