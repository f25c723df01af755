package clientapi

import (
	"errors"
	"net/http"
	"slices"

	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/room/event"
	"chappe.eu/chappe/internal/rooms"
)

// maxAdditionalCreators caps the additional_creators of an upgrade, like
// createRoom's invite list.
const maxAdditionalCreators = 100

// upgradeRoom is POST /rooms/{roomId}/upgrade (spec: "Room Upgrades"); the
// work is rooms.Service.UpgradeRoom's.
func (a *API) upgradeRoom(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	if err := a.rateLimit(a.limits.message, r, s.UserID); err != nil {
		return err
	}
	var req struct {
		NewVersion         *string  `json:"new_version"`
		AdditionalCreators []string `json:"additional_creators"`
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	if req.NewVersion == nil {
		return matrix.MissingParam("new_version is required")
	}
	if len(req.AdditionalCreators) > maxAdditionalCreators {
		return matrix.InvalidParam("At most %d additional_creators", maxAdditionalCreators)
	}
	var creators []string
	for _, u := range req.AdditionalCreators {
		if _, err := matrix.ParseUserID(u); err != nil {
			return matrix.InvalidParam("Invalid user ID in additional_creators: %q", u)
		}
		if u != s.UserID && !slices.Contains(creators, u) {
			creators = append(creators, u)
		}
	}
	// Synapse checks the version first, then the room.
	if _, ok := event.Version(*req.NewVersion); !ok {
		return matrix.Errorf(http.StatusBadRequest, matrix.ErrUnsupportedRoomVer, "This server does not support room version %q", *req.NewVersion)
	}
	// Only a joined member can send the tombstone; anyone else is told
	// what an unknown room would answer, not the rule that refused them.
	if m, err := a.membership(r.Context(), roomID, s.UserID); err != nil {
		return err
	} else if m != "join" {
		return errNotInRoom
	}
	newRoomID, err := a.rooms.UpgradeRoom(r.Context(), rooms.UpgradeRequest{
		RoomID: roomID, Sender: s.UserID, NewVersion: *req.NewVersion, AdditionalCreators: creators,
	})
	if errors.Is(err, rooms.ErrUnknownRoom) {
		return errNotInRoom
	}
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"replacement_room": newRoomID})
}
