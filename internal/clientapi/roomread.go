package clientapi

import (
	"context"
	"errors"
	"net/http"
	"sort"

	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/rooms"
)

// roomView is what a user may see of a room: the position up to which they
// see its state (now if they are joined, else their leave), or an error
// answering like an unknown room.
func (a *API) roomView(ctx context.Context, roomID, userID string) (*rooms.Visibility, int64, error) {
	if _, err := a.rooms.Version(ctx, roomID); errors.Is(err, rooms.ErrUnknownRoom) {
		return nil, 0, errNotInRoom
	} else if err != nil {
		return nil, 0, err
	}
	vis, err := a.rooms.Visibility(ctx, roomID, userID)
	if err != nil {
		return nil, 0, err
	}
	now, err := a.db.StreamPos(ctx)
	if err != nil {
		return nil, 0, err
	}
	membership, since := vis.Membership()
	switch {
	case membership == "join":
		return vis, now, nil
	case vis.CanSeeRoomAt(now): // world_readable
		return vis, now, nil
	case since > 0 && vis.CanSeeRoomAt(since-1):
		// They could see the room until their leave, kick or ban: they
		// see it as of that event, and nothing after.
		return vis, since, nil
	}
	return nil, 0, errNotInRoom
}

// pathRoomView parses {roomId} and returns the position up to which the
// caller may see the room (see roomView).
func (a *API) pathRoomView(r *http.Request, s *Session) (roomID string, pos int64, err error) {
	if roomID, err = pathRoomID(r); err != nil {
		return "", 0, err
	}
	_, pos, err = a.roomView(r.Context(), roomID, s.UserID)
	return roomID, pos, err
}

// stateAt returns the room's state events as of pos.
func (a *API) stateAt(ctx context.Context, roomID string, pos int64) ([]*rooms.Stored, error) {
	ids, err := a.db.StateIDsAt(ctx, roomID, pos)
	if err != nil {
		return nil, err
	}
	list := make([]string, 0, len(ids))
	for _, id := range ids {
		list = append(list, id)
	}
	evs, err := a.rooms.Events(ctx, list)
	if err != nil {
		return nil, err
	}
	out := make([]*rooms.Stored, 0, len(evs))
	for _, e := range evs {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StreamPos < out[j].StreamPos })
	return out, nil
}

func (a *API) getRoomState(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, pos, err := a.pathRoomView(r, s)
	if err != nil {
		return err
	}
	state, err := a.stateAt(r.Context(), roomID, pos)
	if err != nil {
		return err
	}
	evs, err := a.rooms.ClientEvents(r.Context(), state, rooms.Viewer{UserID: s.UserID, DeviceID: s.DeviceID}, true)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, evs)
}

func (a *API) getStateEvent(w http.ResponseWriter, r *http.Request, s *Session) error {
	typ := r.PathValue("eventType")
	sk, err := pathStateKey(r)
	if err != nil {
		return err
	}
	roomID, pos, err := a.pathRoomView(r, s)
	if err != nil {
		return err
	}
	ids, err := a.db.StateIDsAt(r.Context(), roomID, pos)
	if err != nil {
		return err
	}
	id, ok := ids[[2]string{typ, sk}]
	if !ok {
		return matrix.NotFound("Event not found")
	}
	evs, err := a.rooms.Events(r.Context(), []string{id})
	if err != nil {
		return err
	}
	e := evs[id]
	if e == nil {
		return matrix.NotFound("Event not found")
	}
	out, err := a.rooms.ClientEvents(r.Context(), []*rooms.Stored{e}, rooms.Viewer{UserID: s.UserID, DeviceID: s.DeviceID}, true)
	if err != nil {
		return err
	}
	if r.URL.Query().Get("format") == "event" {
		return httpapi.WriteJSON(w, http.StatusOK, out[0])
	}
	return httpapi.WriteJSON(w, http.StatusOK, out[0].Content)
}

func (a *API) getEvent(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	notFound := matrix.NotFound("Event not found")
	eventID := r.PathValue("eventId")
	if _, err := matrix.ParseEventID(eventID); err != nil {
		return notFound
	}
	evs, err := a.rooms.Events(r.Context(), []string{eventID})
	if err != nil {
		return err
	}
	e := evs[eventID]
	if e == nil || rooms.RoomIDOf(e.Event) != roomID {
		return notFound
	}
	vis, err := a.rooms.Visibility(r.Context(), roomID, s.UserID)
	if err != nil {
		return err
	}
	if !vis.CanSee(e) {
		return notFound
	}
	ignored, err := a.db.IgnoredUsers(r.Context(), s.UserID)
	if err != nil {
		return err
	}
	if HiddenByIgnore(ignored, e) {
		return notFound // as Synapse: an ignored user's message is not served
	}
	out, err := a.rooms.ClientEvents(r.Context(), []*rooms.Stored{e}, rooms.Viewer{UserID: s.UserID, DeviceID: s.DeviceID}, true)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, out[0])
}

func (a *API) getMembers(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, pos, err := a.pathRoomView(r, s)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	if at := q.Get("at"); at != "" {
		tok, err := rooms.ParseStreamToken(at)
		if err != nil {
			return matrix.InvalidParam("Invalid at token")
		}
		pos = min(pos, tok)
	}
	state, err := a.stateAt(r.Context(), roomID, pos)
	if err != nil {
		return err
	}
	want, notWant := q.Get("membership"), q.Get("not_membership")
	var members []*rooms.Stored
	for _, e := range state {
		if e.Type() != "m.room.member" {
			continue
		}
		m := membershipOf(e)
		if (want != "" && m != want) || (notWant != "" && m == notWant) {
			continue
		}
		members = append(members, e)
	}
	evs, err := a.rooms.ClientEvents(r.Context(), members, rooms.Viewer{UserID: s.UserID, DeviceID: s.DeviceID}, true)
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"chunk": evs})
}

func (a *API) getJoinedMembers(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, pos, err := a.pathRoomView(r, s)
	if err != nil {
		return err
	}
	state, err := a.stateAt(r.Context(), roomID, pos)
	if err != nil {
		return err
	}
	joined := map[string]any{}
	for _, e := range state {
		if e.Type() != "m.room.member" || membershipOf(e) != "join" {
			continue
		}
		var c struct {
			DisplayName *string `json:"displayname"`
			AvatarURL   *string `json:"avatar_url"`
		}
		_ = jsonUnmarshal(e.Content(), &c)
		joined[*e.StateKey()] = map[string]any{"display_name": c.DisplayName, "avatar_url": c.AvatarURL}
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"joined": joined})
}

func membershipOf(e *rooms.Stored) string {
	var c struct {
		Membership string `json:"membership"`
	}
	_ = jsonUnmarshal(e.Content(), &c)
	return c.Membership
}
