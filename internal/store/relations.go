package store

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Relations between events ("Forming relationships between events"): the
// events table keeps each event's m.relates_to event_id and rel_type. A
// redacted child has lost its m.relates_to (redaction strips the content),
// so every query here leaves redacted children out: the relationship is
// broken, as the spec says.

// Queries that find events by relates_to test the room as (room_id || '')
// = $N: without statistics SQLite's planner would otherwise walk the
// whole room by a room_id index instead of looking the few children up in
// events_relations. PostgreSQL plans by statistics and is unaffected.

// Relation is one child event pointing at a parent, without its PDU: what
// aggregations need to count, order and judge visibility.
type Relation struct {
	Parent         string
	EventID        string
	RelType        string
	Type           string
	Sender         string
	StreamPos      int64
	OriginServerTS int64
}

// chunkSize is how many IDs one IN (…) list takes: modernc's SQLite
// resolves $N names linearly, so a statement costs the square of its
// parameter count (see docs/benchmarks.md, push rules).
const chunkSize = 100

// inList returns "$first,$first+1,…" for n arguments.
func inList(first, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "$%d", first+i)
	}
	return b.String()
}

// ChildRelations returns the unredacted events of the room that relate to
// one of parents with one of relTypes, oldest first.
//
// Every /sync asks it of its timeline's events, so each parent's children
// are cached (all of them, whatever their type) until one is added or any
// event is redacted (changes.go).
func (db *DB) ChildRelations(ctx context.Context, roomID string, parents, relTypes []string) ([]Relation, error) {
	if len(parents) == 0 || len(relTypes) == 0 {
		return nil, nil
	}
	validFrom, redactionsSettled := db.changes.validFrom(keyRedactions)
	asOf := db.changes.committedPos()
	rc := &db.caches.relations
	cached := make(map[string]cachedResult[[]Relation], len(parents))
	rc.mu.Lock()
	for _, p := range parents {
		if r, ok := rc.m[roomID+"\x00"+p]; ok {
			cached[p] = r
		}
	}
	rc.mu.Unlock()
	children := make(map[string][]Relation, len(parents))
	var misses []string
	for _, p := range parents {
		r, ok := cached[p]
		if ok && redactionsSettled && r.asOf >= validFrom && !db.changes.changedSince(keyRelations(p), r.asOf) {
			children[p] = r.val
		} else {
			misses = append(misses, p)
		}
	}
	if len(misses) > 0 {
		read, err := db.childRelations(ctx, roomID, misses)
		if err != nil {
			return nil, err
		}
		rc.mu.Lock()
		if rc.m == nil || len(rc.m)+len(misses) > maxChangeKeys {
			rc.m = map[string]cachedResult[[]Relation]{}
		}
		for _, p := range misses {
			rc.m[roomID+"\x00"+p] = cachedResult[[]Relation]{read[p], asOf}
			children[p] = read[p]
		}
		rc.mu.Unlock()
	}
	var out []Relation
	for _, p := range parents {
		for _, r := range children[p] {
			if slices.Contains(relTypes, r.RelType) {
				out = append(out, r)
			}
		}
	}
	slices.SortFunc(out, func(a, b Relation) int { return cmp.Compare(a.StreamPos, b.StreamPos) })
	return out, nil
}

// childRelations reads every unredacted, non-state child of the parents,
// by parent.
func (db *DB) childRelations(ctx context.Context, roomID string, parents []string) (map[string][]Relation, error) {
	out := map[string][]Relation{}
	for start := 0; start < len(parents); start += chunkSize {
		chunk := parents[start:min(start+chunkSize, len(parents))]
		args := []any{roomID}
		for _, p := range chunk {
			args = append(args, p)
		}
		rows, err := db.read.QueryContext(ctx, `SELECT relates_to, event_id, rel_type, type, sender, stream_pos, origin_server_ts
			FROM events WHERE relates_to IS NOT NULL AND relates_to IN (`+inList(2, len(chunk))+`)
			AND (room_id || '') = $1 AND redacted_by IS NULL AND state_key IS NULL ORDER BY stream_pos`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var r Relation
			if err := rows.Scan(&r.Parent, &r.EventID, &r.RelType, &r.Type, &r.Sender, &r.StreamPos, &r.OriginServerTS); err != nil {
				rows.Close()
				return nil, err
			}
			out[r.Parent] = append(out[r.Parent], r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Replaced is the state event another replaced.
type Replaced struct {
	EventID  string
	Redacted bool
}

// ReplacedState returns, for each state event among ids, the state event
// it replaced: the previous event of the same room, type and state key.
// Events that replaced nothing are left out.
//
// Like StateIDsAt this is exact while a room's events form a chain; with
// federation, the replaced event must be recorded from the state at the
// event when it is stored.
func (db *DB) ReplacedState(ctx context.Context, ids []string) (map[string]Replaced, error) {
	out := map[string]Replaced{}
	for start := 0; start < len(ids); start += chunkSize {
		chunk := ids[start:min(start+chunkSize, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := db.read.QueryContext(ctx, `SELECT e.event_id, p.event_id, p.redacted_by IS NOT NULL FROM events e
			JOIN events p ON p.stream_pos = (SELECT MAX(x.stream_pos) FROM events x
				WHERE x.room_id = e.room_id AND x.type = e.type AND x.state_key = e.state_key AND x.stream_pos < e.stream_pos)
			WHERE e.event_id IN (`+inList(1, len(chunk))+`) AND e.state_key IS NOT NULL`, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id string
			var r Replaced
			if err := rows.Scan(&id, &r.EventID, &r.Redacted); err != nil {
				rows.Close()
				return nil, err
			}
			out[id] = r
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// RelationsQuery selects a page of the children of one event for GET
// /relations.
type RelationsQuery struct {
	RoomID    string
	Parent    string
	RelType   string // "" for any
	EventType string // "" for any; only with RelType
	// Depth is how many levels of relations to follow: 1 for direct
	// children only. Every event on the way must match RelType and
	// EventType too, as the spec asks of recursion.
	Depth int
	// Positions After < stream_pos <= Upto, newest first when Backwards.
	After, Upto int64
	Backwards   bool
	Limit       int
}

// RelationEvents returns the stream positions and IDs of a page of an
// event's unredacted children (and their children, to q.Depth levels).
func (db *DB) RelationEvents(ctx context.Context, q RelationsQuery) ([]Relation, error) {
	match := ""
	args := []any{q.RoomID, q.Parent, max(q.Depth, 1), q.After, q.Upto, q.Limit}
	if q.RelType != "" {
		args = append(args, q.RelType)
		match += fmt.Sprintf(" AND e.rel_type = $%d", len(args))
	}
	if q.EventType != "" {
		args = append(args, q.EventType)
		match += fmt.Sprintf(" AND e.type = $%d", len(args))
	}
	order := "ASC"
	if q.Backwards {
		order = "DESC"
	}
	// UNION (not UNION ALL) and the depth bound stop the recursion even if
	// relations formed a cycle, which event IDs (hashes of the content that
	// names the parent) make impossible from room version 3 on anyway.
	// CROSS JOIN keeps SQLite from scanning the room's events by position
	// and probing the related set: the set is small, the room may not be.
	rows, err := db.read.QueryContext(ctx, `WITH RECURSIVE related(event_id, depth) AS (
			SELECT e.event_id, 1 FROM events e
			WHERE e.relates_to = $2 AND e.relates_to IS NOT NULL AND (e.room_id || '') = $1 AND e.redacted_by IS NULL`+match+`
			UNION
			SELECT e.event_id, r.depth + 1 FROM related r CROSS JOIN events e
			WHERE e.relates_to = r.event_id AND r.depth < $3 AND e.relates_to IS NOT NULL AND (e.room_id || '') = $1
			AND e.redacted_by IS NULL`+match+`
		)
		SELECT e.relates_to, e.event_id, e.rel_type, e.type, e.sender, e.stream_pos, e.origin_server_ts
		FROM related r CROSS JOIN events e
		WHERE e.event_id = r.event_id AND e.stream_pos > $4 AND e.stream_pos <= $5
		ORDER BY e.stream_pos `+order+` LIMIT $6`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Relation
	for rows.Next() {
		var r Relation
		if err := rows.Scan(&r.Parent, &r.EventID, &r.RelType, &r.Type, &r.Sender, &r.StreamPos, &r.OriginServerTS); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ThreadLatest is a thread of a room and its latest reply.
type ThreadLatest struct {
	Root      string
	LatestPos int64
}

// ThreadsByActivity returns up to limit threads of the room, most recently
// active first, as of position upto: each thread root with the position of
// its latest unredacted reply at or before upto, where that position is at
// or before before (the page's start).
//
// Walking replies newest first and keeping each reply that no later reply
// (up to upto) follows in its thread yields every thread exactly once, at
// its latest reply, in order, so pages neither skip nor repeat.
func (db *DB) ThreadsByActivity(ctx context.Context, roomID string, before, upto int64, limit int) ([]ThreadLatest, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT e.relates_to, e.stream_pos FROM events e
		WHERE e.room_id = $1 AND e.rel_type = 'm.thread' AND e.stream_pos <= $2
		AND e.relates_to IS NOT NULL AND e.redacted_by IS NULL AND e.state_key IS NULL
		AND NOT EXISTS (SELECT 1 FROM events c WHERE c.relates_to = e.relates_to AND c.relates_to IS NOT NULL
			AND c.rel_type = e.rel_type AND c.room_id = e.room_id AND c.redacted_by IS NULL AND c.state_key IS NULL
			AND c.stream_pos > e.stream_pos AND c.stream_pos <= $3)
		ORDER BY e.stream_pos DESC LIMIT $4`, roomID, min(before, upto), upto, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ThreadLatest
	for rows.Next() {
		var t ThreadLatest
		if err := rows.Scan(&t.Root, &t.LatestPos); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// ThreadsWithReplyFrom returns those of roots (thread roots of the room)
// that have an unredacted thread reply from sender.
func (db *DB) ThreadsWithReplyFrom(ctx context.Context, roomID, sender string, roots []string) (map[string]bool, error) {
	out := map[string]bool{}
	for start := 0; start < len(roots); start += chunkSize {
		chunk := roots[start:min(start+chunkSize, len(roots))]
		args := []any{roomID, sender}
		for _, r := range chunk {
			args = append(args, r)
		}
		ids, err := db.strings(ctx, `SELECT DISTINCT relates_to FROM events
			WHERE relates_to IS NOT NULL AND relates_to IN (`+inList(3, len(chunk))+`) AND rel_type = 'm.thread'
			AND (room_id || '') = $1 AND sender = $2 AND redacted_by IS NULL`, args...)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			out[id] = true
		}
	}
	return out, nil
}

// EventsByTime returns up to limit of the room's events ordered by
// origin_server_ts (then stream position), starting at ts: at or after it
// going forwards, at or before it going backwards. To page on, pass the
// last event returned as after (nil at first).
func (db *DB) EventsByTime(ctx context.Context, roomID string, ts int64, forwards bool, after *Relation, limit int) ([]Relation, error) {
	q := `SELECT event_id, type, sender, stream_pos, origin_server_ts FROM events WHERE room_id = $1
		AND (origin_server_ts > $2 OR (origin_server_ts = $2 AND stream_pos > $3))
		ORDER BY origin_server_ts ASC, stream_pos ASC LIMIT $4`
	pos := int64(0)
	if !forwards {
		q = `SELECT event_id, type, sender, stream_pos, origin_server_ts FROM events WHERE room_id = $1
		AND (origin_server_ts < $2 OR (origin_server_ts = $2 AND stream_pos < $3))
		ORDER BY origin_server_ts DESC, stream_pos DESC LIMIT $4`
		pos = math.MaxInt64
	}
	if after != nil {
		ts, pos = after.OriginServerTS, after.StreamPos
	}
	rows, err := db.read.QueryContext(ctx, q, roomID, ts, pos, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Relation
	for rows.Next() {
		r := Relation{}
		if err := rows.Scan(&r.EventID, &r.Type, &r.Sender, &r.StreamPos, &r.OriginServerTS); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// AnnotationsBy returns the IDs of the unredacted m.annotation events of
// one type that sender sent to parent: the candidates for a duplicate
// annotation, whose keys the caller compares.
func (db *DB) AnnotationsBy(ctx context.Context, roomID, parent, sender, typ string) ([]string, error) {
	return db.strings(ctx, `SELECT event_id FROM events WHERE relates_to = $1 AND relates_to IS NOT NULL
		AND rel_type = 'm.annotation' AND (room_id || '') = $2 AND sender = $3 AND type = $4 AND redacted_by IS NULL`,
		parent, roomID, sender, typ)
}
