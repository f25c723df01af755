package clientapi

import (
	"encoding/json"
	"net/http"
	"strconv"

	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/rooms"
)

// GET /notifications ("Listing Notifications"): the events the user's push
// rules notified them of, newest first. next_token is the position of the
// last notification read; it is absent once there are no more.

const (
	// defaultNotificationsLimit is Synapse's default.
	defaultNotificationsLimit = 50
	// maxNotificationsLimit bounds one page. NOTSPEC: the spec sets no
	// maximum; a larger limit gets this many.
	maxNotificationsLimit = 1000
)

type notification struct {
	Actions []json.RawMessage `json:"actions"`
	Event   rooms.ClientEvent `json:"event"`
	Read    bool              `json:"read"`
	RoomID  string            `json:"room_id"`
	TS      int64             `json:"ts"`
}

func (a *API) notifications(w http.ResponseWriter, r *http.Request, s *Session) error {
	q := r.URL.Query()
	var from int64
	if f := q.Get("from"); f != "" {
		var err error
		if from, err = strconv.ParseInt(f, 10, 64); err != nil || from <= 0 {
			return matrix.InvalidParam("Invalid from token")
		}
	}
	limit := defaultNotificationsLimit
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return matrix.InvalidParam("limit must be a non-negative integer")
		}
		limit = min(n, maxNotificationsLimit)
	}
	// Synapse ignores other values of only; so does this.
	onlyHighlight := q.Get("only") == "highlight"

	ctx := r.Context()
	rows, err := a.db.Notifications(ctx, s.UserID, from, limit, onlyHighlight)
	if err != nil {
		return err
	}
	ids := make([]string, len(rows))
	for i, n := range rows {
		ids[i] = n.EventID
	}
	evs, err := a.rooms.Events(ctx, ids)
	if err != nil {
		return err
	}
	// History visibility still applies: the user was a member when the
	// event notified them, but the rules are the server's to apply.
	vis := map[string]*rooms.Visibility{}
	var shown []*rooms.Stored
	var kept []int
	for i, n := range rows {
		e := evs[n.EventID]
		if e == nil {
			continue
		}
		v, ok := vis[n.RoomID]
		if !ok {
			if v, err = a.rooms.Visibility(ctx, n.RoomID, s.UserID); err != nil {
				return err
			}
			vis[n.RoomID] = v
		}
		if !v.CanSee(e) {
			continue
		}
		shown = append(shown, e)
		kept = append(kept, i)
	}
	clientEvs, err := a.rooms.ClientEvents(ctx, shown, rooms.Viewer{UserID: s.UserID, DeviceID: s.DeviceID}, false)
	if err != nil {
		return err
	}
	out := make([]notification, len(kept))
	for j, i := range kept {
		n := rows[i]
		var actions []json.RawMessage
		if json.Unmarshal(n.Actions, &actions) != nil || actions == nil {
			actions = []json.RawMessage{}
		}
		out[j] = notification{Actions: actions, Event: clientEvs[j], Read: n.Read, RoomID: n.RoomID, TS: n.TS}
	}
	resp := map[string]any{"notifications": out}
	if len(rows) == limit && limit > 0 {
		resp["next_token"] = strconv.FormatInt(rows[len(rows)-1].Pos, 10)
	}
	return httpapi.WriteJSON(w, http.StatusOK, resp)
}
