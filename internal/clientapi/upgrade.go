package clientapi

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"

	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/push"
	"chappe.eu/chappe/internal/room/event"
	"chappe.eu/chappe/internal/rooms"
	"chappe.eu/chappe/internal/store"
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
	a.followUpgrade(r.Context(), s.UserID, newRoomID) // the upgrader is the new room's first member
	return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"replacement_room": newRoomID})
}

// errUnchanged aborts a read-modify-write that would change nothing.
var errUnchanged = errors.New("clientapi: unchanged")

// followUpgrade brings a user's own state about an upgraded room to its
// replacement when they join it (or create it by upgrading), as Synapse
// does (copy_user_state_on_room_upgrade); the spec leaves it to servers.
// The room's tags are copied, the replacement joins the old room in
// m.direct, and the user's push rules about the old room are copied
// (push.UserRules.CopyRoomRules). Failures are logged: the join stands.
func (a *API) followUpgrade(ctx context.Context, userID, roomID string) {
	preds, err := a.predecessors(ctx, roomID)
	if err != nil || len(preds) == 0 {
		if err != nil {
			a.log.Warn("upgrade: finding the predecessor", "room", roomID, "err", err)
		}
		return
	}
	old := preds[0]
	var last int64
	note := func(what string, pos int64, err error) {
		if err != nil && !errors.Is(err, errUnchanged) {
			a.log.Warn("upgrade: carrying over "+what, "user", userID, "room", roomID, "err", err)
		}
		last = max(last, pos)
	}
	oldTagsContent, err := a.db.AccountDataOf(ctx, userID, old, "m.tag")
	if errors.Is(err, store.ErrNotFound) {
		err = nil // no tags
	}
	var pos int64
	if _, oldTags := readTags(oldTagsContent); err == nil && len(oldTags) > 0 {
		pos, err = a.db.UpdateAccountData(ctx, userID, roomID, "m.tag", func(cur json.RawMessage) (json.RawMessage, error) {
			c, tags := readTags(cur)
			maps.Copy(tags, oldTags)
			c["tags"], _ = json.Marshal(tags)
			return json.Marshal(c)
		})
	}
	note("tags", pos, err)
	pos, err = a.db.UpdateAccountData(ctx, userID, "", "m.direct", func(cur json.RawMessage) (json.RawMessage, error) {
		var direct map[string][]string
		if cur == nil || json.Unmarshal(cur, &direct) != nil {
			return nil, nil
		}
		changed := false
		for user, rooms := range direct {
			if slices.Contains(rooms, old) && !slices.Contains(rooms, roomID) {
				direct[user] = append(rooms, roomID)
				changed = true
			}
		}
		if !changed {
			return nil, nil
		}
		return json.Marshal(direct)
	})
	note("m.direct", pos, err)
	pos, err = a.db.UpdatePushRules(ctx, userID, func(doc []byte) ([]byte, error) {
		u, err := push.ParseUserRules(doc)
		if err != nil {
			return nil, err
		}
		if !u.CopyRoomRules(old, roomID) {
			return nil, errUnchanged
		}
		return u.Encode()
	})
	note("push rules", pos, err)
	if last > 0 {
		a.notify.NotifyUser(last, userID)
	}
}
