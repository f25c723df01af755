package clientapi

import (
	"net/http"
	"strconv"

	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
)

// GET /v1/rooms/{roomId}/timestamp_to_event?ts=…&dir=f|b: the event of
// the room closest to a time in one direction, by origin_server_ts. Only
// events the user may see are considered, so the answer never points into
// history they cannot read (Synapse checks the same).
func (a *API) timestampToEvent(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if q.Get("ts") == "" {
		return matrix.MissingParam("ts is required")
	}
	ts, err := strconv.ParseInt(q.Get("ts"), 10, 64)
	if err != nil {
		return matrix.InvalidParam("ts must be an integer")
	}
	var forwards bool
	switch q.Get("dir") {
	case "f":
		forwards = true
	case "b":
	case "":
		return matrix.MissingParam("dir is required")
	default:
		return matrix.InvalidParam("dir must be f or b")
	}
	vis, _, err := a.roomView(r.Context(), roomID, s.UserID)
	if err != nil {
		return err
	}
	e, err := a.rooms.EventNearTime(r.Context(), vis, roomID, ts, forwards)
	if err != nil {
		return err
	}
	if e == nil {
		dir := "backward"
		if forwards {
			dir = "forward"
		}
		return matrix.NotFound("Unable to find event from %d in %s direction", ts, dir)
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"event_id": e.EventID(), "origin_server_ts": e.OriginServerTS()})
}
