package clientapi

import (
	"context"
	"net/http"

	"chappe.eu/chappe/internal/filter"
	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/rooms"
)

// GET /v3/rooms/{roomId}/context/{eventId} ("Event Context"): the events
// around one event, and the room's state. The event itself answers 404
// unless the user may see it; every event around it passes history
// visibility too.

// defaultContextLimit is the spec's default for limit.
const defaultContextLimit = 10

func (a *API) eventContext(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	limit, err := parseLimit(q, defaultContextLimit, 0)
	if err != nil {
		return err
	}
	var f filter.RoomEventFilter
	if fs := q.Get("filter"); fs != "" {
		pf, err := filter.ParseRoomEventFilter([]byte(fs))
		if err != nil {
			return matrix.BadJSON("Invalid filter: %v", err)
		}
		f = *pf
	}
	ctx := r.Context()
	notFound := matrix.NotFound("Event not found")
	if _, err := a.rooms.Version(ctx, roomID); err != nil {
		if err == rooms.ErrUnknownRoom {
			return notFound
		}
		return err
	}
	vis, err := a.rooms.Visibility(ctx, roomID, s.UserID)
	if err != nil {
		return err
	}
	ev, err := a.visibleEvent(ctx, vis, roomID, r.PathValue("eventId"))
	if err != nil {
		return err
	}
	// Ignored users' events are hidden here as in /messages, the event
	// itself included (Synapse's filter_events_for_client does the same).
	ignored, err := a.db.IgnoredUsers(ctx, s.UserID)
	if err != nil {
		return err
	}
	if HiddenByIgnore(ignored, ev) {
		return notFound
	}
	now, err := a.db.StreamPos(ctx)
	if err != nil {
		return err
	}
	// As Synapse does: half the limit before (rounded down), the rest after.
	before, start, err := a.scanVisible(ctx, vis, ignored, &f, roomID, ev.StreamPos-1, 0, limit/2, true)
	if err != nil {
		return err
	}
	after, end, err := a.scanVisible(ctx, vis, ignored, &f, roomID, ev.StreamPos, now, limit-limit/2, false)
	if err != nil {
		return err
	}

	// The state at the last event returned, as the spec says (and Synapse
	// does): the state clients need to show events_after.
	last := ev
	if len(after) > 0 {
		last = after[len(after)-1]
	}
	stateEvs, err := a.stateAt(ctx, roomID, last.StreamPos)
	if err != nil {
		return err
	}
	senders := map[string]bool{ev.Sender(): true}
	for _, e := range append(before, after...) {
		senders[e.Sender()] = true
	}
	var state []*rooms.Stored
	for _, e := range stateEvs {
		if f.LazyLoadMembers && e.Type() == "m.room.member" && !senders[*e.StateKey()] {
			continue
		}
		if f.MatchEvent(roomID, e.Type(), e.Sender(), e.Content()) {
			state = append(state, e)
		}
	}

	viewer := rooms.Viewer{UserID: s.UserID, DeviceID: s.DeviceID}
	resp := map[string]any{"start": rooms.StreamToken(start), "end": rooms.StreamToken(end)}
	for key, evs := range map[string][]*rooms.Stored{"events_before": before, "event": {ev}, "events_after": after, "state": state} {
		out, err := a.rooms.ClientEvents(ctx, evs, viewer, true)
		if err != nil {
			return err
		}
		if out == nil {
			out = []rooms.ClientEvent{}
		}
		if key == "event" {
			resp[key] = out[0]
		} else {
			resp[key] = out
		}
	}
	return httpapi.WriteJSON(w, http.StatusOK, resp)
}

// scanVisible reads up to limit events of the room that the user may see,
// sent by nobody they ignore, that the filter matches (see scanRoom).
func (a *API) scanVisible(ctx context.Context, vis *rooms.Visibility, ignored map[string]bool, f *filter.RoomEventFilter, roomID string,
	from, bound int64, limit int, backwards bool) ([]*rooms.Stored, int64, error) {
	out, cursor, _, err := a.scanRoom(ctx, roomID, from, bound, limit, maxScan, backwards, func(e *rooms.Stored) bool {
		return vis.CanSee(e) && !HiddenByIgnore(ignored, e) && f.MatchEvent(roomID, e.Type(), e.Sender(), e.Content())
	})
	return out, cursor, err
}
