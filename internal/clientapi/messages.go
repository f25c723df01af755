package clientapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"chappe.eu/chappe/internal/filter"
	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/rooms"
)

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// maxScan bounds how many stored events one /messages request reads while
// skipping invisible or filtered ones.
const maxScan = 5000

func (a *API) messages(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	dir := q.Get("dir")
	if dir != "b" && dir != "f" {
		return matrix.InvalidParam("dir must be b or f")
	}
	backwards := dir == "b"
	limit := 10
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return matrix.InvalidParam("limit must be a non-negative integer")
		}
		limit = min(n, filter.MaxLimit)
	}
	var f filter.RoomEventFilter
	if fs := q.Get("filter"); fs != "" {
		pf, err := filter.ParseRoomEventFilter([]byte(fs))
		if err != nil {
			return matrix.BadJSON("Invalid filter: %v", err)
		}
		f = *pf
		if f.Limit != nil {
			limit = min(limit, f.LimitOr(limit))
		}
	}
	vis, viewPos, err := a.roomView(r.Context(), roomID, s.UserID)
	if err != nil {
		return err
	}
	ignored, err := a.db.IgnoredUsers(r.Context(), s.UserID) // ignore.go
	if err != nil {
		return err
	}
	// from defaults to the end of the room (b) or its start (f).
	var from int64
	if ft := q.Get("from"); ft != "" {
		if from, err = rooms.ParseStreamToken(ft); err != nil {
			return err
		}
	} else if backwards {
		from = viewPos
	}
	to := int64(-1)
	if tt := q.Get("to"); tt != "" {
		if to, err = rooms.ParseStreamToken(tt); err != nil {
			return err
		}
	}
	if !backwards && (to < 0 || to > viewPos) {
		to = viewPos
	}
	if backwards && from > viewPos {
		from = viewPos
	}

	bound := to
	if backwards {
		bound = max(to, 0)
	}
	chunk, cursor, more, err := a.scanRoom(r.Context(), roomID, from, bound, limit, maxScan, backwards, func(e *rooms.Stored) bool {
		return vis.CanSee(e) && !HiddenByIgnore(ignored, e) && f.MatchEvent(roomID, e.Type(), e.Sender(), e.Content())
	})
	if err != nil {
		return err
	}
	viewer := rooms.Viewer{UserID: s.UserID, DeviceID: s.DeviceID}
	out, err := a.rooms.ClientEvents(r.Context(), chunk, viewer, true)
	if err != nil {
		return err
	}
	resp := map[string]any{"chunk": out, "start": rooms.StreamToken(from)}
	if more {
		resp["end"] = rooms.StreamToken(cursor)
	}
	if f.LazyLoadMembers && len(chunk) > 0 {
		state, err := a.memberEventsFor(r, roomID, chunk, viewPos)
		if err != nil {
			return err
		}
		if resp["state"], err = a.rooms.ClientEvents(r.Context(), state, viewer, true); err != nil {
			return err
		}
	}
	return httpapi.WriteJSON(w, http.StatusOK, resp)
}

// memberEventsFor returns the member events of the senders of evs, as of
// the newest of them, for lazy-loading clients.
func (a *API) memberEventsFor(r *http.Request, roomID string, evs []*rooms.Stored, limitPos int64) ([]*rooms.Stored, error) {
	pos := int64(0)
	senders := map[string]bool{}
	for _, e := range evs {
		senders[e.Sender()] = true
		pos = max(pos, e.StreamPos)
	}
	state, err := a.stateAt(r.Context(), roomID, min(pos, limitPos))
	if err != nil {
		return nil, err
	}
	var out []*rooms.Stored
	for _, e := range state {
		if e.Type() == "m.room.member" && senders[*e.StateKey()] {
			out = append(out, e)
		}
	}
	return out, nil
}
