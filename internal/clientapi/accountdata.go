package clientapi

import (
	"bytes"
	"encoding/json"
	"net/http"

	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/store"
)

// Account data ("Client Config") and room tags ("Room Tagging"): JSON
// objects only their owner can read or write, global or per room, served
// to the owner's /syncs. Tags are the room account data m.tag.

// registerUserData adds the routes of account data, tags, presence and
// typing.
func (a *API) registerUserData(rt *httpapi.Router) {
	const c = "/_matrix/client/v3"
	rt.Handle("PUT", c+"/user/{userId}/account_data/{type}", a.authed(a.putAccountData))
	rt.Handle("GET", c+"/user/{userId}/account_data/{type}", a.authed(a.getAccountData))
	rt.Handle("PUT", c+"/user/{userId}/rooms/{roomId}/account_data/{type}", a.authed(a.putAccountData))
	rt.Handle("GET", c+"/user/{userId}/rooms/{roomId}/account_data/{type}", a.authed(a.getAccountData))
	rt.Handle("GET", c+"/user/{userId}/rooms/{roomId}/tags", a.authed(a.getTags))
	rt.Handle("PUT", c+"/user/{userId}/rooms/{roomId}/tags/{tag}", a.authed(a.putTag))
	rt.Handle("DELETE", c+"/user/{userId}/rooms/{roomId}/tags/{tag}", a.authed(a.deleteTag))
	rt.Handle("PUT", c+"/presence/{userId}/status", a.authed(a.putPresence))
	rt.Handle("GET", c+"/presence/{userId}/status", a.authed(a.getPresence))
	rt.Handle("PUT", c+"/rooms/{roomId}/typing/{userId}", a.authed(a.putTyping))
}

// Caps on account data names.
const (
	maxAccountDataTypeLen = 255
	maxTagLen             = 255 // spec: a tag's name MUST NOT exceed 255 bytes
)

// serverManagedTypes are the account data types only the server writes
// (spec, "Client Config", server behaviour): m.fully_read through
// /read_markers and receipts, m.push_rules through /pushrules.
var serverManagedTypes = map[string]bool{"m.fully_read": true, "m.push_rules": true}

// ownAccountData checks that {userId} is the caller and parses {roomId}
// when the path has one; it returns the room ("" for global data). A
// malformed room ID is M_INVALID_PARAM, as the spec's account data API
// says; the room is not otherwise checked (as in Synapse): the answer is
// the same whether it exists or not.
func ownAccountData(r *http.Request, s *Session, verb string) (string, error) {
	if r.PathValue("userId") != s.UserID {
		return "", matrix.Forbidden("Cannot %s account data of other users", verb)
	}
	raw := r.PathValue("roomId")
	if raw == "" {
		return "", nil
	}
	id, err := matrix.ParseRoomID(raw)
	if err != nil {
		return "", matrix.InvalidParam("Invalid room ID")
	}
	return string(id), nil
}

// pathAccountDataType parses {type}.
func pathAccountDataType(r *http.Request) (string, error) {
	typ := r.PathValue("type")
	if typ == "" || len(typ) > maxAccountDataTypeLen || !storable(typ) {
		return "", matrix.InvalidParam("Invalid account data type")
	}
	return typ, nil
}

// readObject reads a request body that must be a JSON object and returns
// it compact.
func (a *API) readObject(r *http.Request) (json.RawMessage, error) {
	body, err := httpapi.ReadBody(r, a.cfg.Client.MaxRequestBytes)
	if err != nil {
		return nil, err
	}
	var obj map[string]json.RawMessage
	if err := httpapi.DecodeJSON(body, &obj); err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return json.RawMessage("{}"), nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, body); err != nil {
		return nil, matrix.BadJSON("Malformed JSON")
	}
	return buf.Bytes(), nil
}

func (a *API) putAccountData(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, err := ownAccountData(r, s, "set")
	if err != nil {
		return err
	}
	typ, err := pathAccountDataType(r)
	if err != nil {
		return err
	}
	if serverManagedTypes[typ] {
		return matrix.Errorf(http.StatusMethodNotAllowed, matrix.ErrBadJSON, "Cannot set %s through this API", typ)
	}
	content, err := a.readObject(r)
	if err != nil {
		return err
	}
	pos, err := a.db.SetAccountData(r.Context(), s.UserID, roomID, typ, content)
	if err != nil {
		return err
	}
	a.notify.NotifyUser(pos, s.UserID)
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}

func (a *API) getAccountData(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, err := ownAccountData(r, s, "read")
	if err != nil {
		return err
	}
	typ, err := pathAccountDataType(r)
	if err != nil {
		return err
	}
	if roomID == "" && typ == "m.push_rules" {
		// The rules live in their own store; /sync shows them as this
		// account data, and Synapse serves them here as well.
		return a.getPushRules(w, r, s)
	}
	content, err := a.db.AccountDataOf(r.Context(), s.UserID, roomID, typ)
	if err == store.ErrNotFound {
		return matrix.NotFound("Account data not found")
	}
	if err != nil {
		return err
	}
	return writeRawJSON(w, content)
}

func writeRawJSON(w http.ResponseWriter, data json.RawMessage) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(data)
	return err
}

// tagsContent is the content of m.tag. Other keys a client stored in it
// through the account data API are kept.
type tagsContent map[string]json.RawMessage

// readTags parses m.tag's content; anything unreadable counts as no tags.
func readTags(content json.RawMessage) (tagsContent, map[string]json.RawMessage) {
	c := tagsContent{}
	tags := map[string]json.RawMessage{}
	if content != nil && json.Unmarshal(content, &c) == nil && c != nil {
		if json.Unmarshal(c["tags"], &tags) != nil || tags == nil {
			tags = map[string]json.RawMessage{}
		}
	} else {
		c = tagsContent{}
	}
	return c, tags
}

func (a *API) getTags(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, err := ownAccountData(r, s, "read")
	if err != nil {
		return err
	}
	content, err := a.db.AccountDataOf(r.Context(), s.UserID, roomID, "m.tag")
	if err != nil && err != store.ErrNotFound {
		return err
	}
	_, tags := readTags(content)
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"tags": tags})
}

// pathTag parses {tag}.
func pathTag(r *http.Request) (string, error) {
	tag := r.PathValue("tag")
	if tag == "" || len(tag) > maxTagLen || !storable(tag) {
		return "", matrix.InvalidParam("A tag is 1 to %d bytes of text", maxTagLen)
	}
	return tag, nil
}

func (a *API) putTag(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, err := ownAccountData(r, s, "set")
	if err != nil {
		return err
	}
	tag, err := pathTag(r)
	if err != nil {
		return err
	}
	body, err := a.readObject(r)
	if err != nil {
		return err
	}
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(body, &fields)
	if order, ok := fields["order"]; ok {
		var f float64
		if json.Unmarshal(order, &f) != nil {
			return matrix.BadJSON("order must be a number")
		}
		if f < 0 || f > 1 {
			return matrix.InvalidParam("order must be between 0 and 1")
		}
	}
	return a.updateTags(w, r, s, roomID, func(tags map[string]json.RawMessage) bool {
		tags[tag] = body
		return true
	})
}

func (a *API) deleteTag(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, err := ownAccountData(r, s, "set")
	if err != nil {
		return err
	}
	tag, err := pathTag(r)
	if err != nil {
		return err
	}
	// Removing a tag the room does not have succeeds, as in Synapse.
	return a.updateTags(w, r, s, roomID, func(tags map[string]json.RawMessage) bool {
		_, ok := tags[tag]
		delete(tags, tag)
		return ok
	})
}

// updateTags changes the room's m.tag with change, which reports whether
// it changed anything, and wakes the user's /syncs if so.
func (a *API) updateTags(w http.ResponseWriter, r *http.Request, s *Session, roomID string, change func(map[string]json.RawMessage) bool) error {
	limit := a.cfg.Client.MaxRequestBytes
	pos, err := a.db.UpdateAccountData(r.Context(), s.UserID, roomID, "m.tag", func(old json.RawMessage) (json.RawMessage, error) {
		c, tags := readTags(old)
		if !change(tags) {
			return nil, nil
		}
		c["tags"], _ = json.Marshal(tags)
		data, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		// The same cap as for setting m.tag whole through the account
		// data API.
		if int64(len(data)) > limit {
			return nil, matrix.Errorf(http.StatusRequestEntityTooLarge, matrix.ErrTooLarge, "Too many tags on this room")
		}
		return data, nil
	})
	if err != nil {
		return err
	}
	if pos > 0 {
		a.notify.NotifyUser(pos, s.UserID)
	}
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}
