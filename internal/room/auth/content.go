package auth

import (
	"encoding/json"

	"chappe.eu/chappe/internal/room/canonicaljson"
)

// The rules read content with canonicaljson's helpers, which scan canonical
// JSON in place instead of decoding it: every *event.Event's content is
// canonical (event.Parse guarantees it), and so is every value inside it.

// field returns the value of key in the canonical JSON object obj, or nil
// when obj is not an object or has no such key.
func field(obj []byte, key string) json.RawMessage {
	v, _ := canonicaljson.Get(obj, key)
	return v
}

// stringValue returns raw as a string if it is a canonical JSON string.
func stringValue(raw []byte) (string, bool) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	s, err := canonicaljson.Unquote(raw)
	return s, err == nil
}

// hasField reports whether the canonical JSON object obj has key.
func hasField(obj []byte, key string) bool {
	_, ok := canonicaljson.Get(obj, key)
	return ok
}

// memberContent is what the rules read from m.room.member content.
type memberContent struct {
	Membership        json.RawMessage
	ThirdPartyInvite  json.RawMessage
	JoinAuthorisedVia json.RawMessage
}

func parseMemberContent(content []byte) memberContent {
	return memberContent{
		Membership:        field(content, "membership"),
		ThirdPartyInvite:  field(content, "third_party_invite"),
		JoinAuthorisedVia: field(content, "join_authorised_via_users_server"),
	}
}

// canonical returns content in canonical form, for callers (such as
// AuthEventsNeeded's) whose JSON did not come from an event.
func canonical(content []byte) []byte {
	if canonicaljson.IsCanonical(content) {
		return content
	}
	c, err := canonicaljson.Encode(content, false)
	if err != nil {
		return nil
	}
	return c
}
