package clientapi

import (
	"net/http"
	"time"

	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
)

// Typing notifications ("Typing Notifications"), kept in memory by the
// typing tracker and served in /sync's ephemeral events.

const (
	// defaultTypingTimeout is Synapse's when the client gives none.
	defaultTypingTimeout = 30 * time.Second
	// maxTypingTimeout caps timeouts, as Synapse does ("to stop people
	// from setting silly typing timeouts"): clients renew every 20–30 s.
	maxTypingTimeout = 120 * time.Second
)

func (a *API) putTyping(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	if r.PathValue("userId") != s.UserID {
		return matrix.Forbidden("Cannot set the typing state of another user")
	}
	var req struct {
		Typing  *bool  `json:"typing"`
		Timeout *int64 `json:"timeout"`
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	if req.Typing == nil {
		return matrix.MissingParam("typing is required")
	}
	timeout := defaultTypingTimeout
	if req.Timeout != nil {
		if *req.Timeout < 0 {
			return matrix.InvalidParam("timeout must not be negative")
		}
		timeout = time.Duration(min(*req.Timeout, maxTypingTimeout.Milliseconds())) * time.Millisecond
	}
	// Only joined members may type; anyone else, in a room that exists or
	// not, gets the same answer.
	ms, err := a.db.MembershipHistory(r.Context(), roomID, s.UserID)
	if err != nil {
		return err
	}
	if len(ms) == 0 || ms[len(ms)-1].Membership != "join" {
		return errNotInRoom
	}
	a.typing.Set(roomID, s.UserID, *req.Typing, timeout)
	if *req.Typing {
		a.markActive(r, s.UserID)
	}
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}
