package clientapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"chappe.eu/chappe/internal/filter"
	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/rooms"
	"chappe.eu/chappe/internal/store"
)

// Event relationships: GET /v1/rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]]
// and GET /v1/rooms/{roomId}/threads. The bundled aggregations every
// endpoint serves are added by rooms.ClientEvents.
//
// Tokens are stream tokens ("s<pos>"), so /messages and /sync tokens work
// as from and to, as the spec allows.

// Defaults as in Synapse: 5 relations or threads a page unless asked.
const (
	defaultRelationsLimit = 5
	defaultThreadsLimit   = 5
)

// parseLimit reads the limit parameter: def when absent, capped at
// filter.MaxLimit; below minimum (or not an integer) is M_INVALID_PARAM.
func parseLimit(q url.Values, def, minimum int) (int, error) {
	l := q.Get("limit")
	if l == "" {
		return def, nil
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < minimum {
		return 0, matrix.InvalidParam("limit must be an integer of at least %d", minimum)
	}
	return min(n, filter.MaxLimit), nil
}

// parseToken reads an optional stream token parameter; ok is false when
// it is absent.
func parseToken(q url.Values, name string) (pos int64, ok bool, err error) {
	t := q.Get(name)
	if t == "" {
		return 0, false, nil
	}
	pos, err = rooms.ParseStreamToken(t)
	if err != nil {
		return 0, false, matrix.InvalidParam("Invalid %s token", name)
	}
	return pos, true, nil
}

// visibleEvent returns the event eventID of roomID if the viewer may see
// it. Anything else (a malformed ID, an unknown event, an event of
// another room, one hidden by history visibility) is the same 404.
func (a *API) visibleEvent(ctx context.Context, vis *rooms.Visibility, roomID, eventID string) (*rooms.Stored, error) {
	notFound := matrix.NotFound("Event not found")
	if _, err := matrix.ParseEventID(eventID); err != nil || !storable(eventID) {
		return nil, notFound
	}
	evs, err := a.rooms.Events(ctx, []string{eventID})
	if err != nil {
		return nil, err
	}
	e := evs[eventID]
	if e == nil || rooms.RoomIDOf(e.Event) != roomID || !vis.CanSee(e) {
		return nil, notFound
	}
	return e, nil
}

func (a *API) relations(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	rq := store.RelationsQuery{RoomID: roomID, Parent: r.PathValue("eventId"), RelType: r.PathValue("relType"),
		EventType: r.PathValue("eventType"), Depth: 1, Backwards: true}
	if len(rq.RelType) > maxEventTypeLen || len(rq.EventType) > maxEventTypeLen || !storable(rq.RelType) || !storable(rq.EventType) {
		return matrix.InvalidParam("Invalid relation or event type")
	}
	q := r.URL.Query()
	switch q.Get("dir") {
	case "", "b":
	case "f":
		rq.Backwards = false
	default:
		return matrix.InvalidParam("dir must be b or f")
	}
	limit, err := parseLimit(q, defaultRelationsLimit, 0)
	if err != nil {
		return err
	}
	recurse := q.Get("recurse")
	switch recurse {
	case "", "false":
	case "true":
		rq.Depth = rooms.RelationsDepth
	default:
		return matrix.InvalidParam("recurse must be true or false")
	}
	from, hasFrom, err := parseToken(q, "from")
	if err != nil {
		return err
	}
	to, hasTo, err := parseToken(q, "to")
	if err != nil {
		return err
	}
	vis, viewPos, err := a.roomView(r.Context(), roomID, s.UserID)
	if err != nil {
		return err
	}
	if _, err := a.visibleEvent(r.Context(), vis, roomID, rq.Parent); err != nil {
		return err
	}
	// The range (After, Upto]: from one end, to the other, never past the
	// end of the user's view of the room.
	rq.Upto = viewPos
	if rq.Backwards {
		if hasFrom {
			rq.Upto = min(from, viewPos)
		}
		if hasTo {
			rq.After = to
		}
	} else {
		if hasFrom {
			rq.After = from
		}
		if hasTo {
			rq.Upto = min(to, viewPos)
		}
	}
	resp := map[string]any{}
	page := &rooms.Page{}
	if limit > 0 {
		rq.Limit = limit
		if page, err = a.rooms.RelationsPage(r.Context(), vis, rq); err != nil {
			return err
		}
	}
	chunk, err := a.rooms.ClientEvents(r.Context(), page.Events, rooms.Viewer{UserID: s.UserID, DeviceID: s.DeviceID}, true)
	if err != nil {
		return err
	}
	if chunk == nil {
		chunk = []rooms.ClientEvent{}
	}
	resp["chunk"] = chunk
	if page.More {
		resp["next_batch"] = rooms.StreamToken(page.Next)
	}
	if hasFrom {
		resp["prev_batch"] = q.Get("from")
	}
	if recurse != "" {
		resp["recursion_depth"] = rq.Depth
	}
	return httpapi.WriteJSON(w, http.StatusOK, resp)
}

func (a *API) threads(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	tq := rooms.ThreadsQuery{RoomID: roomID, UserID: s.UserID}
	switch q.Get("include") {
	case "", "all":
	case "participated":
		tq.OnlyParticipated = true
	default:
		return matrix.InvalidParam("include must be all or participated")
	}
	if tq.Limit, err = parseLimit(q, defaultThreadsLimit, 1); err != nil {
		return err
	}
	from, hasFrom, err := parseToken(q, "from")
	if err != nil {
		return err
	}
	vis, viewPos, err := a.roomView(r.Context(), roomID, s.UserID)
	if err != nil {
		return err
	}
	tq.Upto, tq.Before = viewPos, viewPos
	if hasFrom {
		tq.Before = min(from, viewPos)
	}
	page, err := a.rooms.ThreadsPage(r.Context(), vis, tq)
	if err != nil {
		return err
	}
	chunk, err := a.rooms.ClientEvents(r.Context(), page.Events, rooms.Viewer{UserID: s.UserID, DeviceID: s.DeviceID}, true)
	if err != nil {
		return err
	}
	if chunk == nil {
		chunk = []rooms.ClientEvent{}
	}
	// A root sent by an ignored user is served redacted, "to simulate the
	// same behaviour of a client doing aggregation locally on the thread".
	ignored, err := a.db.IgnoredUsers(r.Context(), s.UserID)
	if err != nil {
		return err
	}
	for i, e := range page.Events {
		if ignored[e.Sender()] {
			chunk[i].Content = e.Redact().Content()
			if rel, ok := chunk[i].Unsigned["m.relations"].(map[string]any); ok {
				delete(rel, "m.replace") // its content would undo the redaction
			}
		}
	}
	resp := map[string]any{"chunk": chunk}
	if page.More {
		resp["next_batch"] = rooms.StreamToken(page.Next)
	}
	return httpapi.WriteJSON(w, http.StatusOK, resp)
}
