package clientapi

import (
	"net/http"
	"time"

	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/presence"
)

// Presence ("Presence"): the rules live in package presence; here are its
// endpoints.

func (a *API) putPresence(w http.ResponseWriter, r *http.Request, s *Session) error {
	if r.PathValue("userId") != s.UserID {
		return matrix.Forbidden("Cannot set the presence of another user")
	}
	if err := a.rateLimit(a.limits.message, r, s.UserID); err != nil {
		return err
	}
	var req struct {
		Presence  *string `json:"presence"`
		StatusMsg *string `json:"status_msg"`
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	if req.Presence == nil {
		return matrix.MissingParam("presence is required")
	}
	switch *req.Presence {
	case presence.Online, presence.Unavailable, presence.Offline:
	default:
		return matrix.InvalidParam("presence must be online, unavailable or offline")
	}
	if m := req.StatusMsg; m != nil && (len(*m) > presence.MaxStatusMsgLen || !storable(*m)) {
		return matrix.InvalidParam("status_msg must be text of at most %d bytes", presence.MaxStatusMsgLen)
	}
	if err := a.presence.Set(r.Context(), s.UserID, *req.Presence, req.StatusMsg); err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}

// getPresence answers for the caller and for users who share a joined
// room with them; for anyone else, existing or not, it is 403 as in
// Synapse ("You are not allowed to see their presence").
func (a *API) getPresence(w http.ResponseWriter, r *http.Request, s *Session) error {
	target, err := matrix.ParseUserID(r.PathValue("userId"))
	if err != nil {
		return matrix.InvalidParam("Invalid user ID")
	}
	if string(target) != s.UserID {
		ok, err := a.db.SharesRoom(r.Context(), s.UserID, string(target))
		if err != nil {
			return err
		}
		if !ok {
			return matrix.Forbidden("You are not allowed to see their presence")
		}
	}
	p, err := a.presence.Get(r.Context(), string(target))
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, presence.Content(p, time.Now().UnixMilli()))
}

// markActive records a pro-active action of the user (sending an event,
// typing) for presence. Presence is not worth failing the request for: an
// error is logged.
func (a *API) markActive(r *http.Request, userID string) {
	if err := a.presence.Active(r.Context(), userID); err != nil {
		a.log.Warn("presence: recording activity", "user", userID, "err", err)
	}
}
