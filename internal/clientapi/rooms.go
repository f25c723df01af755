package clientapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/rooms"
	"chappe.eu/chappe/internal/store"
)

// Rooms: creation, membership, sending and reading state and events.
//
// A room the caller may not see answers exactly like a room that does not
// exist (403 "You are not in this room" for room-level requests, 404 for
// events), so that nobody learns which rooms exist.

var errNotInRoom = matrix.Forbidden("You are not in this room")

// maxTxnIDLen and maxEventTypeLen cap path parameters.
const (
	maxTxnIDLen     = 255
	maxEventTypeLen = 255
	maxStateKeyLen  = 255
	maxReasonLen    = 1000
)

// pathRoomID parses {roomId}; a malformed one is answered like an unknown
// room.
func pathRoomID(r *http.Request) (string, error) {
	id, err := matrix.ParseRoomID(r.PathValue("roomId"))
	if err != nil {
		return "", errNotInRoom
	}
	return string(id), nil
}

func (a *API) createRoom(w http.ResponseWriter, r *http.Request, s *Session) error {
	if err := a.rateLimit(a.limits.message, r, s.UserID); err != nil {
		return err
	}
	var req rooms.CreateRequest
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	roomID, err := a.rooms.CreateRoom(r.Context(), s.UserID, req, rooms.Options{EncryptPrivate: a.cfg.Rooms.EncryptPrivate})
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"room_id": roomID})
}

func (a *API) joinedRooms(w http.ResponseWriter, r *http.Request, s *Session) error {
	ms, err := a.db.UserRooms(r.Context(), s.UserID)
	if err != nil {
		return err
	}
	joined := []string{}
	for _, m := range ms {
		if m.Membership == "join" {
			joined = append(joined, m.RoomID)
		}
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"joined_rooms": joined})
}

// resolveRoom resolves a room ID or a local alias.
func (a *API) resolveRoom(r *http.Request, idOrAlias string) (string, error) {
	if strings.HasPrefix(idOrAlias, "#") {
		alias, err := matrix.ParseRoomAlias(idOrAlias)
		if err != nil {
			return "", matrix.InvalidParam("Invalid room alias")
		}
		roomID, err := a.db.AliasRoom(r.Context(), string(alias))
		if err == store.ErrNotFound {
			return "", matrix.NotFound("Room alias not found")
		}
		return roomID, err
	}
	id, err := matrix.ParseRoomID(idOrAlias)
	if err != nil {
		return "", matrix.InvalidParam("Invalid room ID or alias")
	}
	return string(id), nil
}

// setMembership sends the caller's (or, for invite/kick/ban/unban, the
// target's) m.room.member event.
func (a *API) setMembership(r *http.Request, s *Session, roomID, target, membership, reason string) (string, error) {
	if len(reason) > maxReasonLen {
		return "", matrix.InvalidParam("reason is too long")
	}
	content := map[string]any{"membership": membership}
	if reason != "" {
		content["reason"] = reason
	}
	if membership == "join" || (membership == "invite" && target == s.UserID) {
		// Clients show the member's name and avatar from their member event.
		if p, err := a.db.Profile(r.Context(), target); err == nil {
			for _, k := range []string{"displayname", "avatar_url"} {
				if v, ok := p[k]; ok && string(v) != "null" {
					content[k] = v
				}
			}
		}
	}
	data, _ := json.Marshal(content)
	id, err := a.rooms.Send(r.Context(), rooms.SendRequest{RoomID: roomID, Sender: s.UserID, Type: "m.room.member", StateKey: &target, Content: data})
	if errors.Is(err, rooms.ErrUnknownRoom) {
		if membership == "join" || membership == "knock" {
			return "", matrix.NotFound("No known servers for this room")
		}
		return "", errNotInRoom
	}
	return id, err
}

func (a *API) joinRoomByID(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return matrix.NotFound("No known servers for this room")
	}
	return a.join(w, r, s, roomID)
}

func (a *API) joinRoomByIDOrAlias(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, err := a.resolveRoom(r, r.PathValue("roomIdOrAlias"))
	if err != nil {
		return err
	}
	return a.join(w, r, s, roomID)
}

func (a *API) join(w http.ResponseWriter, r *http.Request, s *Session, roomID string) error {
	if err := a.rateLimit(a.limits.message, r, s.UserID); err != nil {
		return err
	}
	var req struct {
		Reason string `json:"reason"`
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	before, err := a.membership(r.Context(), roomID, s.UserID)
	if err != nil {
		return err
	}
	if _, err := a.setMembership(r, s, roomID, s.UserID, "join", req.Reason); err != nil {
		return err
	}
	if before != "join" {
		a.followUpgrade(r.Context(), s.UserID, roomID) // upgrade.go
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"room_id": roomID})
}

func (a *API) knock(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, err := a.resolveRoom(r, r.PathValue("roomIdOrAlias"))
	if err != nil {
		return err
	}
	var req struct {
		Reason string `json:"reason"`
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	if _, err := a.setMembership(r, s, roomID, s.UserID, "knock", req.Reason); err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"room_id": roomID})
}

func (a *API) leave(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	var req struct {
		Reason string `json:"reason"`
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	if _, err := a.setMembership(r, s, roomID, s.UserID, "leave", req.Reason); err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}

// memberAction handles invite, kick, ban and unban, which name a target.
func (a *API) memberAction(membership string) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, s *Session) error {
		roomID, err := pathRoomID(r)
		if err != nil {
			return err
		}
		if err := a.rateLimit(a.limits.message, r, s.UserID); err != nil {
			return err
		}
		var req struct {
			UserID string `json:"user_id"`
			Reason string `json:"reason"`
		}
		if err := a.readJSON(r, &req); err != nil {
			return err
		}
		if req.UserID == "" {
			return matrix.MissingParam("user_id is required")
		}
		if _, err := matrix.ParseUserID(req.UserID); err != nil {
			return matrix.InvalidParam("Invalid user_id")
		}
		if _, err := a.setMembership(r, s, roomID, req.UserID, membership, req.Reason); err != nil {
			return err
		}
		return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
	}
}

func (a *API) forget(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	ms, err := a.db.MembershipHistory(r.Context(), roomID, s.UserID)
	if err != nil {
		return err
	}
	if len(ms) == 0 {
		return errNotInRoom
	}
	switch ms[len(ms)-1].Membership {
	case "join", "invite", "knock":
		return matrix.Errorf(http.StatusBadRequest, matrix.ErrUnknown, "You must leave the room before forgetting it")
	}
	if err := a.db.ForgetRoom(r.Context(), s.UserID, roomID); err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}

func (a *API) sendMessage(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	typ, txnID := r.PathValue("eventType"), r.PathValue("txnId")
	if typ == "" || len(typ) > maxEventTypeLen || txnID == "" || len(txnID) > maxTxnIDLen {
		return matrix.InvalidParam("Invalid event type or transaction ID")
	}
	if err := a.rateLimit(a.limits.message, r, s.UserID); err != nil {
		return err
	}
	content, err := a.readContent(r)
	if err != nil {
		return err
	}
	req := rooms.SendRequest{RoomID: roomID, Sender: s.UserID, DeviceID: s.DeviceID, TxnID: txnID, Type: typ, Content: content}
	if typ == "m.room.redaction" {
		var c struct {
			Redacts string `json:"redacts"`
		}
		_ = json.Unmarshal(content, &c)
		req.Redacts = c.Redacts
	}
	return a.send(w, r, req)
}

func (a *API) send(w http.ResponseWriter, r *http.Request, req rooms.SendRequest) error {
	id, err := a.rooms.Send(r.Context(), req)
	if errors.Is(err, rooms.ErrUnknownRoom) {
		return errNotInRoom
	}
	if err != nil {
		return err
	}
	a.markActive(r, req.Sender) // presence: sending is activity
	return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"event_id": id})
}

// readContent reads an event's content: a JSON object.
func (a *API) readContent(r *http.Request) (json.RawMessage, error) {
	var content json.RawMessage
	body, err := httpapi.ReadBody(r, a.cfg.Client.MaxRequestBytes)
	if err != nil {
		return nil, err
	}
	var obj map[string]json.RawMessage
	if err := httpapi.DecodeJSON(body, &obj); err != nil {
		return nil, err
	}
	content = body
	if len(strings.TrimSpace(string(body))) == 0 {
		content = json.RawMessage("{}")
	}
	return content, nil
}

func (a *API) redact(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	target, txnID := r.PathValue("eventId"), r.PathValue("txnId")
	if _, err := matrix.ParseEventID(target); err != nil {
		return matrix.NotFound("Event not found")
	}
	if txnID == "" || len(txnID) > maxTxnIDLen {
		return matrix.InvalidParam("Invalid transaction ID")
	}
	if err := a.rateLimit(a.limits.message, r, s.UserID); err != nil {
		return err
	}
	var req struct {
		Reason *string `json:"reason"`
	}
	if err := a.readJSON(r, &req); err != nil {
		return err
	}
	if req.Reason != nil && len(*req.Reason) > maxReasonLen {
		return matrix.InvalidParam("reason is too long")
	}
	content := map[string]any{}
	if req.Reason != nil {
		content["reason"] = *req.Reason
	}
	data, _ := json.Marshal(content)
	return a.send(w, r, rooms.SendRequest{RoomID: roomID, Sender: s.UserID, DeviceID: s.DeviceID, TxnID: "redact/" + txnID,
		Type: "m.room.redaction", Content: data, Redacts: target})
}

// pathStateKey returns {stateKey...}, empty when the path has none.
func pathStateKey(r *http.Request) (string, error) {
	sk := r.PathValue("stateKey")
	if len(sk) > maxStateKeyLen {
		return "", matrix.InvalidParam("state_key is too long")
	}
	return sk, nil
}

func (a *API) putState(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	typ := r.PathValue("eventType")
	if typ == "" || len(typ) > maxEventTypeLen {
		return matrix.InvalidParam("Invalid event type")
	}
	sk, err := pathStateKey(r)
	if err != nil {
		return err
	}
	if err := a.rateLimit(a.limits.message, r, s.UserID); err != nil {
		return err
	}
	content, err := a.readContent(r)
	if err != nil {
		return err
	}
	if typ == "m.room.canonical_alias" && sk == "" {
		if err := a.checkCanonicalAlias(r.Context(), s, roomID, content); err != nil {
			return err
		}
	}
	return a.send(w, r, rooms.SendRequest{RoomID: roomID, Sender: s.UserID, DeviceID: s.DeviceID, Type: typ, StateKey: &sk, Content: content})
}
