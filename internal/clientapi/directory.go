package clientapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/rooms"
	"chappe.eu/chappe/internal/store"
)

// Room aliases (spec: "Room aliases"), the visibility of rooms in the
// published room directory, and the validation of m.room.canonical_alias.
// The routes of publicrooms.go and upgrade.go are registered here too.

// errBadAlias is the spec's M_BAD_ALIAS (PUT /state): an alias in
// m.room.canonical_alias does not point to the room.
const errBadAlias = "M_BAD_ALIAS"

// registerDirectory adds the routes of directory.go, publicrooms.go and
// upgrade.go; c is the client API's prefix.
func (a *API) registerDirectory(rt *httpapi.Router, c string) {
	rt.Handle("GET", c+"/v3/directory/room/{roomAlias}", a.getAlias)
	rt.Handle("PUT", c+"/v3/directory/room/{roomAlias}", a.authed(a.putAlias))
	rt.Handle("DELETE", c+"/v3/directory/room/{roomAlias}", a.authed(a.deleteAlias))
	rt.Handle("GET", c+"/v3/rooms/{roomId}/aliases", a.authed(a.roomAliases))
	rt.Handle("GET", c+"/v3/directory/list/room/{roomId}", a.getDirectoryVisibility)
	rt.Handle("PUT", c+"/v3/directory/list/room/{roomId}", a.authed(a.putDirectoryVisibility))
	rt.Handle("GET", c+"/v3/publicRooms", a.getPublicRooms)
	rt.Handle("POST", c+"/v3/publicRooms", a.authed(a.postPublicRooms))
	rt.Handle("POST", c+"/v3/rooms/{roomId}/upgrade", a.authed(a.upgradeRoom))
}

// pathAlias parses {roomAlias}: 400 M_INVALID_PARAM if it is no alias.
func pathAlias(r *http.Request) (matrix.RoomAlias, error) {
	alias, err := matrix.ParseRoomAlias(r.PathValue("roomAlias"))
	if err != nil {
		return "", matrix.InvalidParam("Room alias invalid")
	}
	return alias, nil
}

// getAlias resolves an alias. Only this server's aliases can be resolved
// until federation comes: another server's alias is not found.
func (a *API) getAlias(w http.ResponseWriter, r *http.Request) error {
	alias, err := pathAlias(r)
	if err != nil {
		return err
	}
	notFound := matrix.NotFound("Room alias %s not found", alias)
	if alias.Server() != matrix.ServerName(a.cfg.ServerName) {
		return notFound
	}
	roomID, err := a.db.AliasRoom(r.Context(), string(alias))
	if err == store.ErrNotFound {
		return notFound
	}
	if err != nil {
		return err
	}
	servers, err := a.roomServers(r.Context(), roomID)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"room_id": roomID, "servers": servers})
}

// roomServers returns the servers a client can join a room through: this
// server first, then the servers of its joined members, as Synapse does.
func (a *API) roomServers(ctx context.Context, roomID string) ([]string, error) {
	servers := []string{a.cfg.ServerName}
	joined, err := a.db.RoomMembers(ctx, roomID, "join")
	if err != nil {
		return nil, err
	}
	for _, u := range joined {
		if s := string(matrix.UserID(u).Server()); s != "" && !slices.Contains(servers, s) {
			servers = append(servers, s)
		}
	}
	return servers, nil
}

// putAlias maps a new local alias to a room. Like Synapse (with its
// default require_membership_for_aliases), the caller must be in the room
// unless they are a server admin. A taken alias is 409 M_UNKNOWN, as the
// spec's example says (createRoom's M_ROOM_IN_USE is for room_alias_name).
func (a *API) putAlias(w http.ResponseWriter, r *http.Request, s *Session) error {
	alias, err := pathAlias(r)
	if err != nil {
		return err
	}
	var req struct {
		RoomID *string `json:"room_id"`
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	if req.RoomID == nil {
		return matrix.MissingParam("room_id is required")
	}
	roomID, err := matrix.ParseRoomID(*req.RoomID)
	if err != nil {
		return matrix.InvalidParam("Invalid room_id")
	}
	if alias.Server() != matrix.ServerName(a.cfg.ServerName) {
		return matrix.InvalidParam("Room alias must be local")
	}
	if !storable(string(alias)) {
		return matrix.InvalidParam("Room alias invalid")
	}
	if !s.IsAdmin {
		if m, err := a.membership(r.Context(), string(roomID), s.UserID); err != nil {
			return err
		} else if m != "join" {
			return errNotInRoom
		}
	} else if _, err := a.rooms.Version(r.Context(), string(roomID)); errors.Is(err, rooms.ErrUnknownRoom) {
		return matrix.NotFound("Room not found")
	} else if err != nil {
		return err
	}
	err = a.db.CreateAlias(r.Context(), string(alias), string(roomID), s.UserID)
	if err == store.ErrConflict {
		return matrix.Errorf(http.StatusConflict, matrix.ErrUnknown, "Room alias %s already exists", alias)
	}
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}

// membership is the user's current membership in the room ("leave" when
// none, and for an unknown room).
func (a *API) membership(ctx context.Context, roomID, userID string) (string, error) {
	ms, err := a.db.MembershipHistory(ctx, roomID, userID)
	if err != nil || len(ms) == 0 {
		return "leave", err
	}
	return ms[len(ms)-1].Membership, nil
}

// mayEditDirectory reports whether the user may change how the room is
// found: delete aliases of others and publish it. As Synapse's
// check_can_change_room_list: a server admin, or a joined member with the
// power to send m.room.canonical_alias.
func (a *API) mayEditDirectory(ctx context.Context, s *Session, roomID string) (bool, error) {
	if s.IsAdmin {
		return true, nil
	}
	if m, err := a.membership(ctx, roomID, s.UserID); err != nil || m != "join" {
		return false, err
	}
	pl, err := a.rooms.PowerLevels(ctx, roomID)
	if errors.Is(err, rooms.ErrUnknownRoom) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return pl.UserLevel(s.UserID) >= pl.EventLevel("m.room.canonical_alias", true), nil
}

// deleteAlias removes a local alias: its creator, or whoever may edit the
// room's directory entries, may. Like Synapse, it then takes the alias out
// of the room's m.room.canonical_alias as the caller, and still succeeds
// if the caller may not send that event (the spec recommends both).
func (a *API) deleteAlias(w http.ResponseWriter, r *http.Request, s *Session) error {
	alias, err := pathAlias(r)
	if err != nil {
		return err
	}
	notFound := matrix.NotFound("Room alias %s not found", alias)
	if !storable(string(alias)) {
		return notFound
	}
	info, err := a.db.Alias(r.Context(), string(alias))
	if err == store.ErrNotFound {
		return notFound
	}
	if err != nil {
		return err
	}
	if info.Creator != s.UserID {
		ok, err := a.mayEditDirectory(r.Context(), s, info.RoomID)
		if err != nil {
			return err
		}
		if !ok {
			return matrix.Forbidden("You don't have permission to delete the alias")
		}
	}
	if _, err := a.db.DeleteAlias(r.Context(), string(alias)); err == store.ErrNotFound {
		return notFound // deleted by someone else meanwhile
	} else if err != nil {
		return err
	}
	a.dropFromCanonicalAlias(r, s, info.RoomID, string(alias))
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}

// dropFromCanonicalAlias sends a new m.room.canonical_alias without alias
// if the current one names it; a failure is only logged.
func (a *API) dropFromCanonicalAlias(r *http.Request, s *Session, roomID, alias string) {
	ctx := r.Context()
	content, err := a.currentContent(ctx, roomID, "m.room.canonical_alias")
	if err != nil || content == nil {
		return
	}
	var c map[string]any
	if json.Unmarshal(content, &c) != nil {
		return
	}
	changed := false
	if c["alias"] == alias {
		delete(c, "alias")
		changed = true
	}
	if alts, ok := c["alt_aliases"].([]any); ok {
		kept := []any{}
		for _, x := range alts {
			if x != alias {
				kept = append(kept, x)
			}
		}
		if len(kept) != len(alts) {
			c["alt_aliases"] = kept
			changed = true
		}
	}
	if !changed {
		return
	}
	newContent, _ := json.Marshal(c)
	empty := ""
	if _, err := a.rooms.Send(ctx, rooms.SendRequest{RoomID: roomID, Sender: s.UserID, Type: "m.room.canonical_alias",
		StateKey: &empty, Content: newContent}); err != nil {
		a.log.Debug("alias deleted but not removed from m.room.canonical_alias", "room", roomID, "err", err)
	}
}

// roomAliases lists the room's local aliases to its joined members, to
// anyone when its history is world_readable, and to server admins (as
// Synapse allows).
func (a *API) roomAliases(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	if !s.IsAdmin {
		if err := a.mayReadRoomNow(r.Context(), roomID, s.UserID); err != nil {
			return err
		}
	} else if _, err := a.rooms.Version(r.Context(), roomID); errors.Is(err, rooms.ErrUnknownRoom) {
		return errNotInRoom
	} else if err != nil {
		return err
	}
	aliases, err := a.db.RoomAliases(r.Context(), roomID)
	if err != nil {
		return err
	}
	if aliases == nil {
		aliases = []string{}
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"aliases": aliases})
}

// mayReadRoomNow answers errNotInRoom unless the room exists and the user
// is joined to it or its history is world_readable now (Synapse's
// check_user_in_room_or_world_readable, without departed users).
func (a *API) mayReadRoomNow(ctx context.Context, roomID, userID string) error {
	if _, err := a.rooms.Version(ctx, roomID); errors.Is(err, rooms.ErrUnknownRoom) {
		return errNotInRoom
	} else if err != nil {
		return err
	}
	if m, err := a.membership(ctx, roomID, userID); err != nil || m == "join" {
		return err
	}
	c, err := a.currentContent(ctx, roomID, "m.room.history_visibility")
	if err != nil {
		return err
	}
	var hv struct {
		HistoryVisibility string `json:"history_visibility"`
	}
	if json.Unmarshal(c, &hv) == nil && hv.HistoryVisibility == "world_readable" {
		return nil
	}
	return errNotInRoom
}

// currentContent returns the content of the room's current state event of
// type typ with an empty state key, nil if it has none.
func (a *API) currentContent(ctx context.Context, roomID, typ string) (json.RawMessage, error) {
	key := [2]string{typ, ""}
	ids, err := a.db.CurrentStateIDs(ctx, roomID, [][2]string{key})
	if err != nil || ids[key] == "" {
		return nil, err
	}
	evs, err := a.rooms.Events(ctx, []string{ids[key]})
	if err != nil || evs[ids[key]] == nil {
		return nil, err
	}
	return evs[ids[key]].Content(), nil
}

// optionalSession authenticates the request if it carries an access
// token, for endpoints the spec leaves open to anonymous clients.
func (a *API) optionalSession(r *http.Request) (*Session, error) {
	if _, ok := accessToken(r); !ok {
		return nil, nil
	}
	return a.authenticate(r)
}

// getDirectoryVisibility answers whether a room is published. A room that
// is not published answers 404 like an unknown room unless the caller may
// see it (joined, world_readable, or a server admin): "private" would tell
// anyone that the room exists.
func (a *API) getDirectoryVisibility(w http.ResponseWriter, r *http.Request) error {
	notFound := matrix.NotFound("Room not found")
	id, err := matrix.ParseRoomID(r.PathValue("roomId"))
	if err != nil {
		return notFound
	}
	roomID := string(id)
	s, err := a.optionalSession(r)
	if err != nil {
		return err
	}
	published, err := a.db.Published(r.Context(), roomID)
	if err != nil {
		return err
	}
	if published {
		return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"visibility": "public"})
	}
	if s == nil {
		return notFound
	}
	if s.IsAdmin {
		if _, err := a.rooms.Version(r.Context(), roomID); errors.Is(err, rooms.ErrUnknownRoom) {
			return notFound
		} else if err != nil {
			return err
		}
	} else if _, _, err := a.roomView(r.Context(), roomID, s.UserID); err == errNotInRoom {
		return notFound
	} else if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"visibility": "private"})
}

// putDirectoryVisibility publishes a room or takes it out of the
// directory: server admins and members who may send
// m.room.canonical_alias may (Synapse's check_can_change_room_list).
func (a *API) putDirectoryVisibility(w http.ResponseWriter, r *http.Request, s *Session) error {
	notFound := matrix.NotFound("Room not found")
	id, err := matrix.ParseRoomID(r.PathValue("roomId"))
	if err != nil {
		return notFound
	}
	roomID := string(id)
	var req struct {
		Visibility *string `json:"visibility"`
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	visibility := "public" // the spec's default
	if req.Visibility != nil {
		visibility = *req.Visibility
	}
	if visibility != "public" && visibility != "private" {
		return matrix.InvalidParam("visibility must be public or private")
	}
	if _, err := a.rooms.Version(r.Context(), roomID); errors.Is(err, rooms.ErrUnknownRoom) {
		return notFound
	} else if err != nil {
		return err
	}
	if !s.IsAdmin {
		if _, _, err := a.roomView(r.Context(), roomID, s.UserID); err == errNotInRoom {
			return notFound
		} else if err != nil {
			return err
		}
	}
	ok, err := a.mayEditDirectory(r.Context(), s, roomID)
	if err != nil {
		return err
	}
	if !ok {
		return matrix.Forbidden("You don't have permission to change this room's visibility in the directory")
	}
	if err := a.db.SetPublished(r.Context(), roomID, visibility == "public"); err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}

// checkCanonicalAlias validates an m.room.canonical_alias content sent
// through PUT /state, as the spec asks: every alias it adds (alias when it
// changes, alt_aliases not in the current event) must be valid
// (M_INVALID_PARAM) and point to this room (M_BAD_ALIAS). Aliases
// removed or kept are not checked.
//
// Only this server's aliases can be checked until federation comes;
// another server's new alias is refused with M_BAD_ALIAS rather than
// published unchecked. A caller who is not joined is not checked here:
// the authorization rules refuse the event anyway, and the answer must
// not depend on the aliases.
func (a *API) checkCanonicalAlias(ctx context.Context, s *Session, roomID string, content json.RawMessage) error {
	if m, err := a.membership(ctx, roomID, s.UserID); err != nil || m != "join" {
		return err
	}
	alias, alts, err := parseCanonicalAlias(content)
	if err != nil {
		return err
	}
	current, err := a.currentContent(ctx, roomID, "m.room.canonical_alias")
	if err != nil {
		return err
	}
	var oldAlias string
	var oldAlts []string
	if current != nil {
		oldAlias, oldAlts, _ = parseCanonicalAlias(current) // a malformed current event counts as empty
	}
	var added []string
	if alias != "" && alias != oldAlias {
		added = append(added, alias)
	}
	for _, x := range alts {
		if !slices.Contains(oldAlts, x) && !slices.Contains(added, x) {
			added = append(added, x)
		}
	}
	for _, x := range added {
		parsed, err := matrix.ParseRoomAlias(x)
		if err != nil || !storable(x) {
			return matrix.InvalidParam("Invalid alias: %q", x)
		}
		badAlias := matrix.Errorf(http.StatusBadRequest, errBadAlias, "The alias '%s' does not point to this room", x)
		if parsed.Server() != matrix.ServerName(a.cfg.ServerName) {
			return badAlias
		}
		target, err := a.db.AliasRoom(ctx, x)
		if err == store.ErrNotFound || (err == nil && target != roomID) {
			return badAlias
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// parseCanonicalAlias reads alias and alt_aliases. Absent, null or empty
// alias means none; alt_aliases, when present and not null, must be a list
// of strings, as Synapse requires.
func parseCanonicalAlias(content json.RawMessage) (alias string, alts []string, err error) {
	var c struct {
		Alias      json.RawMessage `json:"alias"`
		AltAliases json.RawMessage `json:"alt_aliases"`
	}
	if json.Unmarshal(content, &c) != nil {
		return "", nil, matrix.BadJSON("Content must be an object")
	}
	if len(c.Alias) > 0 && string(c.Alias) != "null" {
		if json.Unmarshal(c.Alias, &alias) != nil {
			return "", nil, matrix.InvalidParam("alias must be a string")
		}
	}
	if len(c.AltAliases) > 0 && string(c.AltAliases) != "null" {
		if json.Unmarshal(c.AltAliases, &alts) != nil {
			return "", nil, matrix.InvalidParam("The alt_aliases property must be a list of strings")
		}
	}
	return alias, alts, nil
}
