package rooms

import (
	"context"
	"encoding/json"
	"net/http"

	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/store"
)

// Relations between events: the queries behind GET /relations, /threads
// and /timestamp_to_event, and the checks a local event with
// m.relates_to must pass before it is sent.

// ErrDuplicateAnnotation is the errcode for a second identical annotation
// (event_annotations.md, "Avoiding duplicate annotations").
const ErrDuplicateAnnotation = "M_DUPLICATE_ANNOTATION"

// maxAnnotationKey caps m.relates_to.key, as Synapse does (500 bytes).
const maxAnnotationKey = 500

// MaxRelationsScan bounds how many stored events one paginated request
// reads while skipping those the viewer may not see; the page then ends
// early with a token to go on from.
const MaxRelationsScan = 2000

// RelationsDepth is how deep GET /relations?recurse=true follows
// relations: the spec asks for at least 3 levels.
const RelationsDepth = 3

// Page is a page of events and where the next one starts.
type Page struct {
	Events []*Stored
	// Next is the token position to continue from; More is false when the
	// range has been read to its end.
	Next int64
	More bool
}

// RelationsPage returns the children of q.Parent that vis allows, at most
// q.Limit of them, reading from q.After/q.Upto in q.Backwards order; the
// caller sets q.Limit > 0.
func (s *Service) RelationsPage(ctx context.Context, vis *Visibility, q store.RelationsQuery) (*Page, error) {
	limit := q.Limit
	p := &Page{}
	if q.Backwards {
		p.Next = q.Upto
	} else {
		p.Next = q.After
	}
	scanned := 0
	for len(p.Events) < limit && scanned < MaxRelationsScan {
		if q.After >= q.Upto {
			return p, nil
		}
		q.Limit = limit - len(p.Events)
		batch, err := s.db.RelationEvents(ctx, q)
		if err != nil {
			return nil, err
		}
		evs, err := s.Events(ctx, relationIDs(batch))
		if err != nil {
			return nil, err
		}
		for _, b := range batch {
			scanned++
			if q.Backwards {
				q.Upto, p.Next = b.StreamPos-1, b.StreamPos-1
			} else {
				q.After, p.Next = b.StreamPos, b.StreamPos
			}
			if e := evs[b.EventID]; e != nil && vis.CanSee(e) {
				p.Events = append(p.Events, e)
			}
		}
		if len(batch) < q.Limit {
			return p, nil
		}
	}
	p.More = true
	return p, nil
}

func relationIDs(rs []store.Relation) []string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.EventID
	}
	return ids
}

// ThreadsQuery selects a page of a room's threads for GET /threads.
type ThreadsQuery struct {
	RoomID string
	UserID string
	// OnlyParticipated keeps the threads the user started or replied to.
	OnlyParticipated bool
	// Threads whose latest reply is at or before Before, counting replies
	// up to Upto (the end of the user's view of the room).
	Before, Upto int64
	Limit        int
}

// ThreadsPage returns thread roots the user may see, the most recently
// active thread first. Next is one before the latest reply of the last
// thread returned, so the next page starts with the thread after it.
func (s *Service) ThreadsPage(ctx context.Context, vis *Visibility, q ThreadsQuery) (*Page, error) {
	p := &Page{Next: q.Before}
	cursor, scanned := min(q.Before, q.Upto), 0
	for len(p.Events) < q.Limit && scanned < MaxRelationsScan {
		want := q.Limit - len(p.Events)
		batch, err := s.db.ThreadsByActivity(ctx, q.RoomID, cursor, q.Upto, want)
		if err != nil {
			return nil, err
		}
		ids := make([]string, len(batch))
		for i, b := range batch {
			ids[i] = b.Root
		}
		roots, err := s.Events(ctx, ids)
		if err != nil {
			return nil, err
		}
		var replied map[string]bool
		if q.OnlyParticipated {
			if replied, err = s.db.ThreadsWithReplyFrom(ctx, q.RoomID, q.UserID, ids); err != nil {
				return nil, err
			}
		}
		for _, b := range batch {
			scanned++
			cursor, p.Next = b.LatestPos-1, b.LatestPos-1
			root := roots[b.Root]
			if root == nil || RoomIDOf(root.Event) != q.RoomID || root.IsState() || !vis.CanSee(root) {
				continue
			}
			if q.OnlyParticipated && root.Sender() != q.UserID && !replied[b.Root] {
				continue
			}
			p.Events = append(p.Events, root)
		}
		if len(batch) < want {
			return p, nil
		}
	}
	p.More = true
	return p, nil
}

// maxTimeScan bounds how many events GET /timestamp_to_event reads while
// skipping those the user may not see.
const maxTimeScan = 1000

// EventNearTime returns the first event the user may see at or after ts
// (forwards) or at or before it (backwards), by origin_server_ts, or nil.
func (s *Service) EventNearTime(ctx context.Context, vis *Visibility, roomID string, ts int64, forwards bool) (*Stored, error) {
	var after *store.Relation
	for scanned := 0; scanned < maxTimeScan; {
		batch, err := s.db.EventsByTime(ctx, roomID, ts, forwards, after, 100)
		if err != nil {
			return nil, err
		}
		evs, err := s.Events(ctx, relationIDs(batch))
		if err != nil {
			return nil, err
		}
		for i, b := range batch {
			scanned++
			if e := evs[b.EventID]; e != nil && vis.CanSee(e) {
				return e, nil
			}
			after = &batch[i]
		}
		if len(batch) < 100 {
			break
		}
	}
	return nil, nil
}

// relatesTo is the m.relates_to of an event's content, as far as the
// server reads it.
type relatesTo struct {
	EventID string `json:"event_id"`
	RelType string `json:"rel_type"`
	Key     *string
}

func parseRelatesTo(content json.RawMessage) (relatesTo, bool) {
	var c struct {
		RelatesTo *struct {
			EventID any `json:"event_id"`
			RelType any `json:"rel_type"`
			Key     any `json:"key"`
		} `json:"m.relates_to"`
	}
	if json.Unmarshal(content, &c) != nil || c.RelatesTo == nil {
		return relatesTo{}, false
	}
	var r relatesTo
	r.EventID, _ = c.RelatesTo.EventID.(string)
	r.RelType, _ = c.RelatesTo.RelType.(string)
	if k, ok := c.RelatesTo.Key.(string); ok {
		r.Key = &k
	}
	return r, r.EventID != "" && r.RelType != ""
}

// checkRelation applies the server behaviour the relation types ask of a
// local event before it is sent, as Synapse does: the parent must be an
// event of the room; a thread may not start from an event that is itself
// a relation (threading.md: 400 M_UNKNOWN); an annotation needs a key and
// may not repeat the sender's own (event_annotations.md).
// Relations without rel_type (rich replies) are not checked. It runs with
// the room locked, so two identical annotations cannot both pass.
func (s *Service) checkRelation(ctx context.Context, req SendRequest) error {
	rel, ok := parseRelatesTo(req.Content)
	if !ok || req.StateKey != nil {
		return nil
	}
	evs, err := s.Events(ctx, []string{rel.EventID})
	if err != nil {
		return err
	}
	parent := evs[rel.EventID]
	if parent == nil || RoomIDOf(parent.Event) != req.RoomID {
		// The same answer for an event of another room as for none at all.
		return matrix.Errorf(http.StatusBadRequest, matrix.ErrUnknown, "Can't send relation to unknown event")
	}
	switch rel.RelType {
	case "m.thread":
		redacted, err := s.db.RedactionsOf(ctx, []string{rel.EventID})
		if err != nil {
			return err
		}
		if _, gone := redacted[rel.EventID]; gone {
			return nil // redaction removed the parent's own relation
		}
		if _, isRel := parseRelatesTo(parent.Content()); isRel {
			return matrix.Errorf(http.StatusBadRequest, matrix.ErrUnknown, "Cannot start threads from an event with a relation")
		}
	case "m.annotation":
		if rel.Key == nil {
			return matrix.Errorf(http.StatusBadRequest, matrix.ErrUnknown, "Missing aggregation key")
		}
		if len(*rel.Key) > maxAnnotationKey {
			return matrix.Errorf(http.StatusBadRequest, matrix.ErrUnknown, "Aggregation key is too long")
		}
		ids, err := s.db.AnnotationsBy(ctx, req.RoomID, rel.EventID, req.Sender, req.Type)
		if err != nil {
			return err
		}
		mine, err := s.Events(ctx, ids)
		if err != nil {
			return err
		}
		for _, e := range mine {
			if r, _ := parseRelatesTo(e.Content()); r.Key != nil && *r.Key == *rel.Key {
				return matrix.Errorf(http.StatusBadRequest, ErrDuplicateAnnotation, "Can't send same reaction twice")
			}
		}
	}
	return nil
}
